/**
 * A weight file that cannot be read: wrong magic, truncated, sizes beyond the
 * file, a structure the format does not allow. Readers throw it; the compiler
 * turns it into a located MN4xxx diagnostic. Anything else a reader throws is
 * a bug in mnc.
 */
export class WeightFileError extends Error {
  constructor(
    message: string,
    /** Byte offset in the file where the problem is, when known. */
    readonly offset?: number,
  ) {
    super(message);
    this.name = "WeightFileError";
  }
}
