/** The compiler's version, written into every output that records its producer. */
export const VERSION = "0.1.0";
