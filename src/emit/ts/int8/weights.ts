/**
 * The weights file of a quantized module: the float module's header with
 * its own format version, then the canonical int8 blob (src/weights/int8.ts).
 *
 *   offset  size  field
 *   0       4     magic "MNCW"
 *   4       4     format version, u32 LE: 3 (int8; a float module's file is 2)
 *   8       4     layout fingerprint, u32 LE: FNV-1a of the blob's layout
 *   12      4     blob bytes B, u32 LE
 *   16      B     int8Blob(graph).bytes: per weighted layer its stored kernel
 *                 bytes then its int32 LE biases, each 16-byte aligned
 *
 * A float module refuses this file (version 3, not 2) and a quantized module
 * a float one (version 2, not 3), each saying so.
 */
import { HEADER_BYTES, MAGIC } from "../weights-file.js";

export const INT8_FORMAT_VERSION = 3;

/** Header + the blob's bytes. */
export function encodeInt8Weights(blob: Uint8Array, fingerprint: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + blob.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, INT8_FORMAT_VERSION, true);
  view.setUint32(8, fingerprint, true);
  view.setUint32(12, blob.length, true);
  bytes.set(blob, HEADER_BYTES);
  return bytes;
}
