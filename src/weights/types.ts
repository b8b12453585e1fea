/** A tensor read from a weight file, before it is matched to a layer. */
export interface RawTensor {
  readonly name: string;
  /** Dimensions as stored in the file (e.g. OHWI for TFLite convolutions). */
  readonly shape: readonly number[];
  /** float32 values, copied out of the file (little-endian decoded); an integer tensor's values converted. */
  readonly data: Float32Array;
  /** An integer tensor's values exactly as stored (a quantized file's kernels, biases and zero points). */
  readonly integers?: IntegerData;
}

/** The integer dtypes mnc reads and writes (a quantized file's). */
export type IntegerDtype = "I8" | "U8" | "I32";

export interface IntegerData {
  readonly dtype: IntegerDtype;
  readonly data: Int32Array;
}

/** A tensor of integers to write. */
export interface IntegerTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly integers: IntegerData;
}
