/** A tensor read from a weight file, before it is matched to a layer. */
export interface RawTensor {
  readonly name: string;
  /** Dimensions as stored in the file (e.g. OHWI for TFLite convolutions). */
  readonly shape: readonly number[];
  /** float32 values, copied out of the file (little-endian decoded). */
  readonly data: Float32Array;
}
