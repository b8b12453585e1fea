/**
 * TensorFlow Lite model files (.tflite): a reader that treats its input as
 * hostile.
 *
 * A .tflite file is a FlatBuffer of the `tflite.Model` table (schema.fbs,
 * file identifier "TFL3", schema version 3). FlatBuffers are built for
 * zero-copy access by trusted readers: every reference is an offset, and the
 * runtime follows them without looking. Here every access goes through a small
 * bounds-checked layer instead, so that any byte string either reads as a
 * model or throws WeightFileError.
 *
 * FlatBuffers in brief (all little-endian):
 *
 *   bytes 0..4   uoffset of the root table (relative to byte 0)
 *   bytes 4..8   the file identifier, "TFL3"
 *   table at t   int32 soffset s; its vtable is at t − s
 *   vtable at v  uint16 vtable length, uint16 object length, then one uint16
 *                per field: the field's offset from t, or 0 when absent
 *                (absent scalar fields take the schema default)
 *   reference    a uint32 uoffset stored at p points to p + uoffset
 *   vector at p  uint32 element count n, then n elements (references for
 *                vectors of tables and strings)
 *   string at p  uint32 byte count n, n bytes of UTF-8, then a 0 byte
 *
 * Reading is bounded by the file: every vector and string is checked to fit in
 * the file before anything is allocated for it, references only point forward
 * (a uoffset is unsigned), so no traversal can loop, and the total number of
 * bytes decoded into strings, integer vectors and float data is capped at a
 * small multiple of the file size, so that tables which share or overlap their
 * data cannot multiply the work.
 *
 * Only the first subgraph (the main model) is read. Tensor data is decoded for
 * FLOAT32 tensors; constants of the other fixed-size types (UINT8, INT8, INT32,
 * FLOAT16, …) keep their bytes, which `constantValues` decodes, and every tensor
 * reports its quantization parameters (scale, zero point, quantized dimension).
 * Constant data may be inside the FlatBuffer (Buffer.data) or, in files written
 * for the "large model" layout (schema 3c), after it (Buffer.offset and
 * Buffer.size, relative to the start of the file).
 *
 * A custom operator ("CUSTOM:<name>") keeps its custom_options bytes as
 * stored (inline, or after the FlatBuffer in the large-model layout); what they
 * mean is the operator's own business (source.ts reads those it knows).
 */
import { WeightFileError } from "./errors.js";

/** A tensor of the main subgraph. */
export interface TfliteTensor {
  /** Index in the subgraph's tensor list (what operators refer to). */
  readonly index: number;
  readonly name: string;
  /** Dimensions as stored, e.g. NHWC activations, OHWI CONV_2D weights, 1HWC depthwise weights. */
  readonly shape: readonly number[];
  /** The TensorType name: "FLOAT32", "INT32", "UINT8", "INT8", … */
  readonly type: string;
  /** Index in the model's buffer list; 0 is the empty sentinel buffer. */
  readonly buffer: number;
  /** float32 data when type is FLOAT32 and the buffer holds data (a fresh copy). */
  readonly data?: Float32Array;
  /**
   * The constant's bytes (a fresh copy, little-endian as stored) when the type is not FLOAT32 but has
   * a fixed element size (UINT8, INT8, INT16, INT32, INT64, FLOAT16, …) and the buffer holds data.
   * `constantValues` decodes them.
   */
  readonly raw?: Uint8Array;
  /** Quantization parameters, when the tensor has at least one scale. */
  readonly quantization?: TfliteQuantization;
}

/**
 * Affine quantization: real = scale · (q − zeroPoint). One scale and zero point
 * for the whole tensor, or one per index of dimension `dimension` (per-channel).
 */
export interface TfliteQuantization {
  readonly scale: readonly number[];
  /** As many as scales (zeros when the file gives none). */
  readonly zeroPoint: readonly number[];
  /** The quantized dimension; its size equals the number of scales when there is more than one. */
  readonly dimension: number;
}

/** An operator of the main subgraph, in execution order. */
export interface TfliteOperator {
  /** Position in the subgraph's operator list. */
  readonly index: number;
  /** The builtin operator name ("CONV_2D", "SOFTMAX", …), "CUSTOM:<name>" for a custom operator, or "BUILTIN_<n>" for a code newer than this reader. */
  readonly opcode: string;
  /** Tensor indices; -1 marks an omitted optional input. */
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly options: TfliteOptions;
  /**
   * A custom operator's options, as stored (a fresh copy): the bytes of
   * custom_options, or of the large-model layout's custom options after the
   * FlatBuffer. Their meaning is the operator's own (source.ts reads those of
   * the custom operators mnc knows).
   */
  readonly customOptions?: Uint8Array;
}

/** The builtin options mnc uses; only the fields the operator's options table defines are set. */
export interface TfliteOptions {
  readonly padding?: "SAME" | "VALID";
  readonly strideH?: number;
  readonly strideW?: number;
  readonly filterH?: number;
  readonly filterW?: number;
  readonly dilationH?: number;
  readonly dilationW?: number;
  readonly depthMultiplier?: number;
  readonly activation?: "NONE" | "RELU" | "RELU_N1_TO_1" | "RELU6" | "TANH" | "SIGN_BIT";
  /** SOFTMAX. */
  readonly beta?: number;
  /** SQUEEZE: the dimensions removed (empty: every dimension of size 1). */
  readonly squeezeDims?: readonly number[];
  /** RESHAPE: the target shape, when given as an option rather than as an input tensor. */
  readonly newShape?: readonly number[];
  /** CONCATENATION. */
  readonly axis?: number;
  /** MEAN, SUM and the other reducers. */
  readonly keepDims?: boolean;
  /** FULLY_CONNECTED. */
  readonly keepNumDims?: boolean;
  /** RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR: the sampling convention (both false: asymmetric). */
  readonly alignCorners?: boolean;
  readonly halfPixelCenters?: boolean;
}

/** The main subgraph of a .tflite model. */
export interface TfliteModel {
  /** Schema version (always 3: the only one this reader, like TFLite itself, accepts). */
  readonly version: number;
  readonly description: string;
  readonly tensors: readonly TfliteTensor[];
  readonly operators: readonly TfliteOperator[];
  /** Tensor indices of the subgraph's inputs and outputs. */
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
}

// ---------------------------------------------------------------------------
// Schema constants (tensorflow/compiler/mlir/lite/schema/schema.fbs)
// ---------------------------------------------------------------------------

const FILE_IDENTIFIER = "TFL3";
const SCHEMA_VERSION = 3;

/** TensorType, by value, and the size in bytes of one element (0: not fixed). */
const TENSOR_TYPES: readonly (readonly [string, number])[] = [
  ["FLOAT32", 4],
  ["FLOAT16", 2],
  ["INT32", 4],
  ["UINT8", 1],
  ["INT64", 8],
  ["STRING", 0],
  ["BOOL", 1],
  ["INT16", 2],
  ["COMPLEX64", 8],
  ["INT8", 1],
  ["FLOAT64", 8],
  ["COMPLEX128", 16],
  ["UINT64", 8],
  ["RESOURCE", 0],
  ["VARIANT", 0],
  ["UINT32", 4],
  ["UINT16", 2],
  ["INT4", 0],
  ["BFLOAT16", 2],
];

/** BuiltinOperator, by value (0..207). */
const BUILTIN_OPERATORS: readonly string[] = (
  "ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE EMBEDDING_LOOKUP FLOOR " +
  "FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION " +
  "LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH " +
  "CONCAT_EMBEDDINGS SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER " +
  "BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE " +
  "BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM " +
  "ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE " +
  "TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK " +
  "LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL " +
  "FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL " +
  "REVERSE_V2 ADD_N GATHER_ND COS WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND " +
  "HARD_SWISH IF WHILE NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM " +
  "BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D IMAG REAL " +
  "COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL CONV_3D_TRANSPOSE VAR_HANDLE " +
  "READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU " +
  "DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 " +
  "UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR RIGHT_SHIFT STABLEHLO_LOGISTIC STABLEHLO_ADD STABLEHLO_DIVIDE " +
  "STABLEHLO_MULTIPLY STABLEHLO_MAXIMUM STABLEHLO_RESHAPE STABLEHLO_CLAMP STABLEHLO_CONCATENATE " +
  "STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONVOLUTION STABLEHLO_SLICE STABLEHLO_CUSTOM_CALL STABLEHLO_REDUCE " +
  "STABLEHLO_ABS STABLEHLO_AND STABLEHLO_COSINE STABLEHLO_EXPONENTIAL STABLEHLO_FLOOR STABLEHLO_LOG " +
  "STABLEHLO_MINIMUM STABLEHLO_NEGATE STABLEHLO_OR STABLEHLO_POWER STABLEHLO_REMAINDER STABLEHLO_RSQRT " +
  "STABLEHLO_SELECT STABLEHLO_SUBTRACT STABLEHLO_TANH STABLEHLO_SCATTER STABLEHLO_COMPARE STABLEHLO_CONVERT " +
  "STABLEHLO_DYNAMIC_SLICE STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_PAD STABLEHLO_IOTA STABLEHLO_DOT_GENERAL " +
  "STABLEHLO_REDUCE_WINDOW STABLEHLO_SORT STABLEHLO_WHILE STABLEHLO_GATHER STABLEHLO_TRANSPOSE DILATE " +
  "STABLEHLO_RNG_BIT_GENERATOR REDUCE_WINDOW STABLEHLO_COMPOSITE COMPLEX"
).split(" ");

const OP_CUSTOM = 32;
const OP_PLACEHOLDER_FOR_GREATER_OP_CODES = 127;

/** The BuiltinOptions union members this reader decodes, by union type value. */
const Opt = {
  None: 0,
  Conv2D: 1,
  DepthwiseConv2D: 2,
  Pool2D: 5,
  FullyConnected: 8,
  Softmax: 9,
  Concatenation: 10,
  Add: 11,
  ResizeBilinear: 15,
  Reshape: 17,
  Mul: 21,
  Reducer: 27,
  Sub: 28,
  Div: 29,
  Squeeze: 30,
  ArgMax: 40,
  ResizeNearestNeighbor: 74,
} as const;

const OPTION_NAMES: ReadonlyMap<number, string> = new Map([
  [Opt.Conv2D, "Conv2DOptions"],
  [Opt.DepthwiseConv2D, "DepthwiseConv2DOptions"],
  [Opt.Pool2D, "Pool2DOptions"],
  [Opt.FullyConnected, "FullyConnectedOptions"],
  [Opt.Softmax, "SoftmaxOptions"],
  [Opt.Concatenation, "ConcatenationOptions"],
  [Opt.Add, "AddOptions"],
  [Opt.Reshape, "ReshapeOptions"],
  [Opt.Mul, "MulOptions"],
  [Opt.Reducer, "ReducerOptions"],
  [Opt.Sub, "SubOptions"],
  [Opt.Div, "DivOptions"],
  [Opt.Squeeze, "SqueezeOptions"],
  [Opt.ResizeBilinear, "ResizeBilinearOptions"],
  [Opt.ArgMax, "ArgMaxOptions"],
  [Opt.ResizeNearestNeighbor, "ResizeNearestNeighborOptions"],
]);

/** Builtin operator → the options table it must carry (if any options at all). */
const EXPECTED_OPTIONS: ReadonlyMap<string, number> = new Map([
  ["CONV_2D", Opt.Conv2D],
  ["DEPTHWISE_CONV_2D", Opt.DepthwiseConv2D],
  ["AVERAGE_POOL_2D", Opt.Pool2D],
  ["MAX_POOL_2D", Opt.Pool2D],
  ["L2_POOL_2D", Opt.Pool2D],
  ["FULLY_CONNECTED", Opt.FullyConnected],
  ["SOFTMAX", Opt.Softmax],
  ["CONCATENATION", Opt.Concatenation],
  ["ADD", Opt.Add],
  ["RESHAPE", Opt.Reshape],
  ["MUL", Opt.Mul],
  ["MEAN", Opt.Reducer],
  ["SUM", Opt.Reducer],
  ["REDUCE_PROD", Opt.Reducer],
  ["REDUCE_MAX", Opt.Reducer],
  ["REDUCE_MIN", Opt.Reducer],
  ["REDUCE_ANY", Opt.Reducer],
  ["REDUCE_ALL", Opt.Reducer],
  ["SUB", Opt.Sub],
  ["DIV", Opt.Div],
  ["SQUEEZE", Opt.Squeeze],
  ["RESIZE_BILINEAR", Opt.ResizeBilinear],
  ["RESIZE_NEAREST_NEIGHBOR", Opt.ResizeNearestNeighbor],
  ["ARG_MAX", Opt.ArgMax],
]);

/** Operators whose geometry lives only in their options: they must have them. */
const OPTIONS_REQUIRED: ReadonlySet<string> = new Set(["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"]);

const PADDINGS = ["SAME", "VALID"] as const;
const ACTIVATIONS = ["NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"] as const;

/** Field numbers (declaration order in schema.fbs; a union takes two: type, then value). */
const F = {
  model: { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4 },
  operatorCode: { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 },
  subgraph: { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 },
  tensor: { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, isVariable: 5, sparsity: 6 },
  quantization: { min: 0, max: 1, scale: 2, zeroPoint: 3, detailsType: 4, details: 5, quantizedDimension: 6 },
  buffer: { data: 0, offset: 1, size: 2 },
  operator: { opcodeIndex: 0, inputs: 1, outputs: 2, optionsType: 3, options: 4, customOptions: 5, largeCustomOptionsOffset: 9, largeCustomOptionsSize: 10 },
  conv2d: { padding: 0, strideW: 1, strideH: 2, activation: 3, dilationW: 4, dilationH: 5 },
  depthwise: { padding: 0, strideW: 1, strideH: 2, depthMultiplier: 3, activation: 4, dilationW: 5, dilationH: 6 },
  pool2d: { padding: 0, strideW: 1, strideH: 2, filterW: 3, filterH: 4, activation: 5 },
  fullyConnected: { activation: 0, weightsFormat: 1, keepNumDims: 2 },
  softmax: { beta: 0 },
  concatenation: { axis: 0, activation: 1 },
  activationOnly: { activation: 0 },
  reshape: { newShape: 0 },
  reducer: { keepDims: 0 },
  squeeze: { squeezeDims: 0 },
  resizeBilinear: { alignCorners: 2, halfPixelCenters: 3 },
  resizeNearest: { alignCorners: 0, halfPixelCenters: 1 },
} as const;

/** A tensor rank beyond this is not a model anyone writes: the file is damaged. */
const MAX_RANK = 32;

// ---------------------------------------------------------------------------
// Sniffing
// ---------------------------------------------------------------------------

/** Whether `bytes` carries the TFLite file identifier "TFL3" at bytes 4..8. Does not parse anything else. */
export function isTflite(bytes: Uint8Array): boolean {
  return bytes instanceof Uint8Array && bytes.length >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33;
}

// ---------------------------------------------------------------------------
// Bounds-checked FlatBuffer access
// ---------------------------------------------------------------------------

/** A validated table: its position, and its vtable's position and length. */
interface Table {
  readonly pos: number;
  readonly vtable: number;
  readonly vtableLength: number;
  /** Length of the table's inline data (from its vtable), starting at pos. */
  readonly size: number;
  /** What the table is, for messages ("tensor 3"). */
  readonly what: string;
}

/** A validated vector: element count and the position of element 0. */
interface Vec {
  readonly length: number;
  readonly start: number;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

class FlatReader {
  private readonly view: DataView;
  readonly length: number;
  /** Bytes that may still be decoded into strings, integer lists and float data. */
  private budget: number;
  private readonly utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.length;
    // A well-formed file decodes each of its bytes at most once; allow some sharing.
    this.budget = 4 * bytes.length + 4096;
  }

  fail(message: string, offset: number): never {
    throw new WeightFileError(message, offset);
  }

  /** Insist that bytes [pos, pos + size) are inside the file. */
  need(pos: number, size: number, what: string): void {
    if (!(pos >= 0 && size >= 0 && pos <= this.length - size)) {
      this.fail(`${what}: bytes ${pos}..${pos + size} lie outside the ${this.length}-byte file (truncated or damaged)`, Math.min(Math.max(pos, 0), this.length));
    }
  }

  /** Count `n` bytes against the decoding budget. */
  charge(n: number, what: string, pos: number): void {
    this.budget -= n;
    if (this.budget < 0) this.fail(`${what}: the file's tables decode to more data than a ${this.length}-byte file can hold (shared or overlapping vectors)`, pos);
  }

  u8(pos: number): number {
    return this.view.getUint8(pos);
  }
  i8(pos: number): number {
    return this.view.getInt8(pos);
  }
  u16(pos: number): number {
    return this.view.getUint16(pos, true);
  }
  i32(pos: number): number {
    return this.view.getInt32(pos, true);
  }
  u32(pos: number): number {
    return this.view.getUint32(pos, true);
  }
  f32(pos: number): number {
    return this.view.getFloat32(pos, true);
  }

  /** Follow the uoffset stored at `pos` (checked to be in the file), to a position in the file. */
  deref(pos: number, what: string): number {
    this.need(pos, 4, what);
    const target = pos + this.u32(pos);
    if (target >= this.length) this.fail(`${what}: reference at byte ${pos} points to byte ${target}, past the end of the ${this.length}-byte file`, pos);
    return target;
  }

  /** The table at `pos`, with its vtable checked. */
  table(pos: number, what: string): Table {
    this.need(pos, 4, what);
    const vtable = pos - this.i32(pos);
    if (vtable < 0 || vtable > this.length - 4) this.fail(`${what}: table at byte ${pos} has its vtable at byte ${vtable}, outside the file`, pos);
    const vtableLength = this.u16(vtable);
    const size = this.u16(vtable + 2);
    if (vtableLength < 4 || vtableLength % 2 !== 0) this.fail(`${what}: vtable at byte ${vtable} has invalid length ${vtableLength}`, vtable);
    this.need(vtable, vtableLength, `${what}: vtable`);
    if (size < 4) this.fail(`${what}: vtable at byte ${vtable} gives the table an invalid size ${size}`, vtable);
    this.need(pos, size, `${what}: table`);
    return { pos, vtable, vtableLength, size, what };
  }

  /** Position of field `field` (`width` bytes) of table `t`, or undefined when absent. */
  field(t: Table, field: number, width: number): number | undefined {
    const slot = 4 + 2 * field;
    if (slot + 2 > t.vtableLength) return undefined;
    const offset = this.u16(t.vtable + slot);
    if (offset === 0) return undefined;
    if (offset < 4 || offset + width > t.size) this.fail(`${t.what}: field ${field} at offset ${offset} lies outside its ${t.size}-byte table`, t.pos);
    return t.pos + offset;
  }

  fieldU8(t: Table, field: number, def: number): number {
    const p = this.field(t, field, 1);
    return p === undefined ? def : this.u8(p);
  }
  fieldI8(t: Table, field: number, def: number): number {
    const p = this.field(t, field, 1);
    return p === undefined ? def : this.i8(p);
  }
  fieldBool(t: Table, field: number, def: boolean): boolean {
    const p = this.field(t, field, 1);
    return p === undefined ? def : this.u8(p) !== 0;
  }
  fieldI32(t: Table, field: number, def: number): number {
    const p = this.field(t, field, 4);
    return p === undefined ? def : this.i32(p);
  }
  fieldU32(t: Table, field: number, def: number): number {
    const p = this.field(t, field, 4);
    return p === undefined ? def : this.u32(p);
  }
  fieldF32(t: Table, field: number, def: number): number {
    const p = this.field(t, field, 4);
    return p === undefined ? def : this.f32(p);
  }
  /** A uint64 field as a number; values beyond 2^53 are rejected (no file is that large). */
  fieldU64(t: Table, field: number, name: string): number {
    const p = this.field(t, field, 8);
    if (p === undefined) return 0;
    const lo = this.u32(p);
    const hi = this.u32(p + 4);
    if (hi >= 0x200000) this.fail(`${t.what}: ${name} ${(BigInt(hi) << 32n) | BigInt(lo)} is absurdly large`, p);
    return hi * 2 ** 32 + lo;
  }

  /** The sub-table referenced by field `field`, or undefined when absent. */
  subTable(t: Table, field: number, what: string): Table | undefined {
    const p = this.field(t, field, 4);
    return p === undefined ? undefined : this.table(this.deref(p, what), what);
  }

  /** The vector of `elementSize`-byte elements at `pos`, checked to fit in the file. */
  vectorAt(pos: number, elementSize: number, what: string): Vec {
    this.need(pos, 4, what);
    const length = this.u32(pos);
    const start = pos + 4;
    if (length > (this.length - start) / elementSize) {
      this.fail(`${what}: vector at byte ${pos} claims ${length} elements of ${elementSize} bytes, more than the ${this.length - start} bytes left in the file`, pos);
    }
    return { length, start };
  }

  /** The vector referenced by field `field`, or undefined when absent. */
  vector(t: Table, field: number, elementSize: number, what: string): Vec | undefined {
    const p = this.field(t, field, 4);
    return p === undefined ? undefined : this.vectorAt(this.deref(p, what), elementSize, what);
  }

  /** Element `i` of a vector of tables. */
  tableAt(v: Vec, i: number, what: string): Table {
    return this.table(this.deref(v.start + 4 * i, what), what);
  }

  /** The string referenced by field `field`, or undefined when absent. */
  string(t: Table, field: number, what: string): string | undefined {
    const p = this.field(t, field, 4);
    if (p === undefined) return undefined;
    const v = this.vectorAt(this.deref(p, what), 1, what);
    // The terminating 0 byte must be there too.
    this.need(v.start, v.length + 1, what);
    if (this.u8(v.start + v.length) !== 0) this.fail(`${what}: string at byte ${v.start - 4} is not terminated by a 0 byte`, v.start + v.length);
    this.charge(v.length + 4, what, v.start - 4);
    try {
      return this.utf8.decode(this.bytes.subarray(v.start, v.start + v.length));
    } catch {
      return this.fail(`${what}: string at byte ${v.start - 4} is not valid UTF-8`, v.start - 4);
    }
  }

  /** The [int] vector referenced by field `field`, or undefined when absent. */
  int32s(t: Table, field: number, what: string): number[] | undefined {
    const v = this.vector(t, field, 4, what);
    if (v === undefined) return undefined;
    this.charge(4 + 4 * v.length, what, v.start - 4);
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.i32(v.start + 4 * i);
    return out;
  }

  /** A fresh copy of bytes [start, start + count). */
  bytesCopy(start: number, count: number, what: string): Uint8Array {
    this.need(start, count, what);
    this.charge(count, what, start);
    return this.bytes.slice(start, start + count);
  }

  /** The [long] vector referenced by field `field` as numbers, or undefined when absent; values beyond ±2^31 are rejected. */
  int64s(t: Table, field: number, what: string): number[] | undefined {
    const v = this.vector(t, field, 8, what);
    if (v === undefined) return undefined;
    this.charge(4 + 8 * v.length, what, v.start - 4);
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) {
      const lo = this.u32(v.start + 8 * i);
      const hi = this.i32(v.start + 8 * i + 4);
      const x = hi * 2 ** 32 + lo;
      if (x < -(2 ** 31) || x >= 2 ** 31) this.fail(`${what}: ${x} is out of range`, v.start + 8 * i);
      out[i] = x;
    }
    return out;
  }

  /** The [float] vector referenced by field `field`, or undefined when absent. */
  float32List(t: Table, field: number, what: string): number[] | undefined {
    const v = this.vector(t, field, 4, what);
    if (v === undefined) return undefined;
    return Array.from(this.float32s(v.start, v.length, what));
  }

  /** `count` float32 values at `start` (checked by the caller), as a fresh array; bit patterns are kept. */
  float32s(start: number, count: number, what: string): Float32Array {
    this.need(start, 4 * count, what);
    this.charge(4 * count, what, start);
    const out = new Float32Array(count);
    if (littleEndianHost) {
      new Uint8Array(out.buffer).set(this.bytes.subarray(start, start + 4 * count));
    } else {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = this.u32(start + 4 * i);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

/** Where a buffer's bytes are in the file. */
interface BufferRange {
  readonly start: number;
  readonly length: number;
}

/**
 * Reads the main (first) subgraph of a .tflite file. Throws WeightFileError,
 * and nothing else, for a file that is not a well-formed TFLite schema-3
 * model: wrong identifier or version, truncation, a reference, vector or
 * string outside the file, an index out of range, an unknown tensor type or
 * enum value, a FLOAT32 constant whose byte length disagrees with its shape,
 * or options that contradict the operator. Allocates no more than a small
 * multiple of the file's size.
 */
export function readTflite(bytes: Uint8Array): TfliteModel {
  if (!(bytes instanceof Uint8Array)) throw new WeightFileError("not a TFLite file: input is not a byte array");
  if (bytes.length < 8) throw new WeightFileError(`not a TFLite file: ${bytes.length} bytes, too short for the 8-byte FlatBuffer header`, 0);
  if (!isTflite(bytes)) {
    const id = Array.from(bytes.subarray(4, 8), (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
    throw new WeightFileError(`not a TFLite file: file identifier is "${id}", expected "${FILE_IDENTIFIER}" at bytes 4..8`, 4);
  }
  const r: FlatReader = new FlatReader(bytes);

  const model = r.table(r.deref(0, "root table"), "model");
  const version = r.fieldU32(model, F.model.version, 0);
  if (version !== SCHEMA_VERSION) r.fail(`unsupported TFLite schema version ${version} (only version ${SCHEMA_VERSION} exists)`, model.pos);
  const description = r.string(model, F.model.description, "model description") ?? "";

  const opcodes = readOperatorCodes(r, model);

  const subgraphs = r.vector(model, F.model.subgraphs, 4, "model subgraphs");
  if (subgraphs === undefined || subgraphs.length === 0) r.fail("model has no subgraphs", model.pos);
  const subgraph = r.tableAt(subgraphs, 0, "subgraph 0");

  // Every buffer is checked, used or not (buffer 0 is the empty sentinel).
  const buffers = r.vector(model, F.model.buffers, 4, "model buffers") ?? { length: 0, start: 0 };
  const bufferRanges: (BufferRange | undefined)[] = [];
  for (let i = 0; i < buffers.length; i++) bufferRanges.push(readBuffer(r, buffers, i));

  // Tensors.
  const tensorVec = r.vector(subgraph, F.subgraph.tensors, 4, "subgraph 0 tensors") ?? { length: 0, start: 0 };
  const tensors: TfliteTensor[] = [];
  for (let i = 0; i < tensorVec.length; i++) {
    const t = r.tableAt(tensorVec, i, `tensor ${i}`);
    tensors.push(readTensor(r, t, i, bufferRanges));
  }
  const tensorCount = tensors.length;

  const indexList = (t: Table, field: number, what: string, allowOmitted: boolean): readonly number[] => {
    const list = r.int32s(t, field, what) ?? [];
    for (const x of list) {
      if (!(x < tensorCount && (x >= 0 || (allowOmitted && x === -1)))) {
        r.fail(`${what}: tensor index ${x} is out of range (the subgraph has ${tensorCount} tensors)`, t.pos);
      }
    }
    return Object.freeze(list);
  };
  const inputs = indexList(subgraph, F.subgraph.inputs, "subgraph 0 inputs", false);
  const outputs = indexList(subgraph, F.subgraph.outputs, "subgraph 0 outputs", false);

  // Operators.
  const operatorVec = r.vector(subgraph, F.subgraph.operators, 4, "subgraph 0 operators") ?? { length: 0, start: 0 };
  const operators: TfliteOperator[] = [];
  for (let i = 0; i < operatorVec.length; i++) {
    const what = `operator ${i}`;
    const op = r.tableAt(operatorVec, i, what);
    const opcodeIndex = r.fieldU32(op, F.operator.opcodeIndex, 0);
    const opcode = opcodes[opcodeIndex];
    if (opcode === undefined) r.fail(`${what}: opcode index ${opcodeIndex} is out of range (the model has ${opcodes.length} operator codes)`, op.pos);
    const opInputs = indexList(op, F.operator.inputs, `${what} (${opcode}) inputs`, true);
    const opOutputs = indexList(op, F.operator.outputs, `${what} (${opcode}) outputs`, false);
    const options = readOptions(r, op, opcode, `${what} (${opcode})`);
    const customOptions = opcode.startsWith("CUSTOM:") ? readCustomOptions(r, op, `${what} (${opcode}) custom options`) : undefined;
    operators.push(Object.freeze({ index: i, opcode, inputs: opInputs, outputs: opOutputs, options, ...(customOptions === undefined ? {} : { customOptions }) }));
  }

  return Object.freeze({
    version,
    description,
    tensors: Object.freeze(tensors),
    operators: Object.freeze(operators),
    inputs,
    outputs,
  });
}

/** The operator names of Model.operator_codes, in order. */
function readOperatorCodes(r: FlatReader, model: Table): string[] {
  const vec = r.vector(model, F.model.operatorCodes, 4, "model operator codes") ?? { length: 0, start: 0 };
  const names: string[] = [];
  for (let i = 0; i < vec.length; i++) {
    const what = `operator code ${i}`;
    const t = r.tableAt(vec, i, what);
    // Old files have only the byte-sized deprecated code; newer ones put codes
    // ≥ 127 in builtin_code and 127 (the placeholder) in the old field. TFLite
    // takes the larger of the two.
    const deprecated = r.fieldI8(t, F.operatorCode.deprecatedBuiltinCode, 0);
    const extended = r.fieldI32(t, F.operatorCode.builtinCode, 0);
    if (deprecated < 0) r.fail(`${what}: invalid builtin operator code ${deprecated}`, t.pos);
    if (extended < 0) r.fail(`${what}: invalid builtin operator code ${extended}`, t.pos);
    const code = Math.max(deprecated, extended);
    if (code === OP_PLACEHOLDER_FOR_GREATER_OP_CODES) r.fail(`${what}: builtin operator code is the placeholder ${code}, with no extended code`, t.pos);
    if (code === OP_CUSTOM) {
      const custom = r.string(t, F.operatorCode.customCode, `${what} custom code`);
      if (custom === undefined || custom === "") r.fail(`${what}: custom operator without a name`, t.pos);
      names.push(`CUSTOM:${custom}`);
    } else {
      names.push(BUILTIN_OPERATORS[code] ?? `BUILTIN_${code}`);
    }
  }
  return names;
}

/**
 * A custom operator's option bytes: the custom_options vector, or (large-model
 * layout) large_custom_options_size bytes at large_custom_options_offset from
 * the start of the file. Undefined when it has none.
 */
function readCustomOptions(r: FlatReader, op: Table, what: string): Uint8Array | undefined {
  const f = F.operator;
  const inline = r.vector(op, f.customOptions, 1, what);
  const offset = r.fieldU64(op, f.largeCustomOptionsOffset, "large_custom_options_offset");
  const size = r.fieldU64(op, f.largeCustomOptionsSize, "large_custom_options_size");
  if (offset > 1 && size > 0) {
    if (inline !== undefined && inline.length > 0) r.fail(`${what}: both inline and external custom options`, op.pos);
    if (offset + size > r.length) r.fail(`${what}: external custom options at bytes ${offset}..${offset + size} lie outside the ${r.length}-byte file`, op.pos);
    return r.bytesCopy(offset, size, what);
  }
  if (inline === undefined || inline.length === 0) return undefined;
  return r.bytesCopy(inline.start, inline.length, what);
}

/** Where buffer `index`'s data is, or undefined when it holds none. */
function readBuffer(r: FlatReader, buffers: Vec, index: number): BufferRange | undefined {
  const t = r.tableAt(buffers, index, `buffer ${index}`);
  const data = r.vector(t, F.buffer.data, 1, `buffer ${index} data`);
  // offset and size locate data outside the FlatBuffer; an offset of 0 or 1 means unused.
  const offset = r.fieldU64(t, F.buffer.offset, `buffer ${index} offset`);
  const size = r.fieldU64(t, F.buffer.size, `buffer ${index} size`);
  if (offset > 1) {
    if (data !== undefined && data.length > 0) r.fail(`buffer ${index} has both inline data and an external offset`, t.pos);
    if (offset + size > r.length) r.fail(`buffer ${index}: external data at bytes ${offset}..${offset + size} lies outside the ${r.length}-byte file`, t.pos);
    return size === 0 ? undefined : { start: offset, length: size };
  }
  if (data === undefined || data.length === 0) return undefined;
  return { start: data.start, length: data.length };
}

function readTensor(r: FlatReader, t: Table, index: number, bufferRanges: readonly (BufferRange | undefined)[]): TfliteTensor {
  const what = `tensor ${index}`;
  const name = r.string(t, F.tensor.name, `${what} name`) ?? "";
  const shape = r.int32s(t, F.tensor.shape, `${what} shape`) ?? [];
  if (shape.length > MAX_RANK) r.fail(`${what} (${quote(name)}): rank ${shape.length} is beyond ${MAX_RANK}`, t.pos);
  for (const d of shape) {
    // Dimensions the converter could not fix are -1 in some files.
    if (d < -1) r.fail(`${what} (${quote(name)}): invalid dimension ${d} in shape [${shape.join(", ")}]`, t.pos);
  }
  const typeCode = r.fieldI8(t, F.tensor.type, 0);
  const typeInfo = TENSOR_TYPES[typeCode];
  if (typeInfo === undefined) r.fail(`${what} (${quote(name)}): unknown tensor type ${typeCode}`, t.pos);
  const [type, elementSize] = typeInfo;
  const buffer = r.fieldU32(t, F.tensor.buffer, 0);
  // A model without a buffer list is tolerated when no tensor refers past the sentinel.
  if (buffer >= Math.max(bufferRanges.length, 1)) {
    r.fail(`${what} (${quote(name)}): buffer index ${buffer} is out of range (the model has ${bufferRanges.length} buffers)`, t.pos);
  }
  const range = bufferRanges[buffer];

  const quantization = readQuantization(r, t, `${what} (${quote(name)}) quantization`, shape);
  const base = { index, name, shape: Object.freeze(shape), type, buffer, ...(quantization === undefined ? {} : { quantization }) };
  if (range === undefined) return Object.freeze(base);

  if (r.field(t, F.tensor.sparsity, 4) !== undefined) {
    if (type === "FLOAT32") r.fail(`${what} (${quote(name)}): sparse constant tensors are not supported`, t.pos);
    return Object.freeze(base);
  }
  // The element count, stopping before it can exceed what the buffer holds.
  let count = 1;
  for (const d of shape) {
    if (d < 0) r.fail(`${what} (${quote(name)}): a constant tensor cannot have an unknown dimension (shape [${shape.join(", ")}])`, t.pos);
    count *= d;
    if (count > range.length) break;
  }
  if (elementSize > 0 && count * elementSize !== range.length) {
    r.fail(`${what} (${quote(name)}): ${type} shape [${shape.join(", ")}] needs ${count * elementSize} bytes, but buffer ${buffer} holds ${range.length}`, t.pos);
  }
  if (type !== "FLOAT32") return elementSize === 0 ? Object.freeze(base) : Object.freeze({ ...base, raw: r.bytesCopy(range.start, range.length, `${what} data`) });
  return Object.freeze({ ...base, data: r.float32s(range.start, count, `${what} data`) });
}

/** A tensor's QuantizationParameters, or undefined when it has no scale. */
function readQuantization(r: FlatReader, tensor: Table, what: string, shape: readonly number[]): TfliteQuantization | undefined {
  const t = r.subTable(tensor, F.tensor.quantization, what);
  if (t === undefined) return undefined;
  const f = F.quantization;
  const scale = r.float32List(t, f.scale, `${what} scale`) ?? [];
  const zeroPoint = r.int64s(t, f.zeroPoint, `${what} zero_point`) ?? [];
  if (scale.length === 0) {
    if (zeroPoint.length > 0) r.fail(`${what}: ${zeroPoint.length} zero points without a scale`, t.pos);
    return undefined;
  }
  if (zeroPoint.length !== 0 && zeroPoint.length !== scale.length) r.fail(`${what}: ${scale.length} scales but ${zeroPoint.length} zero points`, t.pos);
  const dimension = r.fieldI32(t, f.quantizedDimension, 0);
  if (scale.length > 1 && !(dimension >= 0 && dimension < shape.length && shape[dimension] === scale.length)) {
    r.fail(`${what}: ${scale.length} scales along dimension ${dimension} of shape [${shape.join(", ")}]`, t.pos);
  }
  return Object.freeze({
    scale: Object.freeze(scale),
    zeroPoint: Object.freeze(zeroPoint.length === 0 ? scale.map(() => 0) : zeroPoint),
    dimension,
  });
}

/** Integer and half-precision element readers, by TensorType name. */
const ELEMENT_READERS: Readonly<Record<string, (v: DataView, at: number) => number>> = {
  FLOAT32: (v, at) => v.getFloat32(at, true),
  FLOAT16: (v, at) => halfToFloat(v.getUint16(at, true)),
  FLOAT64: (v, at) => v.getFloat64(at, true),
  UINT8: (v, at) => v.getUint8(at),
  INT8: (v, at) => v.getInt8(at),
  INT16: (v, at) => v.getInt16(at, true),
  UINT16: (v, at) => v.getUint16(at, true),
  INT32: (v, at) => v.getInt32(at, true),
  UINT32: (v, at) => v.getUint32(at, true),
  INT64: (v, at) => Number(v.getBigInt64(at, true)),
  UINT64: (v, at) => Number(v.getBigUint64(at, true)),
  BOOL: (v, at) => (v.getUint8(at) === 0 ? 0 : 1),
};

/**
 * The stored values of a constant tensor, as numbers and not dequantized:
 * FLOAT32 data, or `raw` decoded by its type. Undefined for a tensor without
 * data or of a type with no numeric reading (STRING, COMPLEX64, INT4, …).
 */
export function constantValues(t: TfliteTensor): Float64Array | undefined {
  if (t.data !== undefined) return Float64Array.from(t.data);
  if (t.raw === undefined) return undefined;
  const read = ELEMENT_READERS[t.type];
  const info = TENSOR_TYPES.find(([name]) => name === t.type);
  if (read === undefined || info === undefined || info[1] === 0) return undefined;
  const size = info[1];
  const view = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
  const out = new Float64Array(Math.floor(t.raw.length / size));
  for (let i = 0; i < out.length; i++) out[i] = read(view, i * size);
  return out;
}

/** IEEE 754 binary16 → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** A tensor name for a message, shortened when a damaged file makes it huge. */
function quote(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
}

function readOptions(r: FlatReader, op: Table, opcode: string, what: string): TfliteOptions {
  const type = r.fieldU8(op, F.operator.optionsType, Opt.None);
  const expected = EXPECTED_OPTIONS.get(opcode);
  if (type === Opt.None) {
    if (r.field(op, F.operator.options, 4) !== undefined) r.fail(`${what}: builtin options without a type`, op.pos);
    if (OPTIONS_REQUIRED.has(opcode)) r.fail(`${what}: missing ${OPTION_NAMES.get(expected ?? Opt.None) ?? "options"}`, op.pos);
    return Object.freeze({});
  }
  if (expected !== undefined && type !== expected) {
    r.fail(`${what}: has builtin options of union type ${type}, expected ${OPTION_NAMES.get(expected)} (${expected})`, op.pos);
  }
  const t = r.subTable(op, F.operator.options, `${what} options`);
  if (t === undefined) {
    if (OPTIONS_REQUIRED.has(opcode)) r.fail(`${what}: missing ${OPTION_NAMES.get(type) ?? "options"}`, op.pos);
    return Object.freeze({});
  }

  const padding = (field: number): "SAME" | "VALID" => {
    const v = r.fieldI8(t, field, 0);
    const p = PADDINGS[v];
    if (p === undefined) r.fail(`${what}: invalid padding ${v}`, t.pos);
    return p;
  };
  const activation = (field: number): TfliteOptions["activation"] => {
    const v = r.fieldI8(t, field, 0);
    const a = ACTIVATIONS[v];
    if (a === undefined) r.fail(`${what}: invalid fused activation ${v}`, t.pos);
    return a;
  };
  const positive = (field: number, def: number, name: string): number => {
    const v = r.fieldI32(t, field, def);
    if (v < 1) r.fail(`${what}: ${name} ${v} must be at least 1`, t.pos);
    return v;
  };
  const ints = (field: number, name: string): readonly number[] => Object.freeze(r.int32s(t, field, `${what} ${name}`) ?? []);

  switch (type) {
    case Opt.Conv2D: {
      const f = F.conv2d;
      return Object.freeze({
        padding: padding(f.padding),
        strideH: positive(f.strideH, 0, "stride_h"),
        strideW: positive(f.strideW, 0, "stride_w"),
        dilationH: positive(f.dilationH, 1, "dilation_h_factor"),
        dilationW: positive(f.dilationW, 1, "dilation_w_factor"),
        activation: activation(f.activation),
      });
    }
    case Opt.DepthwiseConv2D: {
      const f = F.depthwise;
      const depthMultiplier = r.fieldI32(t, f.depthMultiplier, 0);
      if (depthMultiplier < 0) r.fail(`${what}: depth_multiplier ${depthMultiplier} is negative`, t.pos);
      return Object.freeze({
        padding: padding(f.padding),
        strideH: positive(f.strideH, 0, "stride_h"),
        strideW: positive(f.strideW, 0, "stride_w"),
        dilationH: positive(f.dilationH, 1, "dilation_h_factor"),
        dilationW: positive(f.dilationW, 1, "dilation_w_factor"),
        depthMultiplier,
        activation: activation(f.activation),
      });
    }
    case Opt.Pool2D: {
      const f = F.pool2d;
      return Object.freeze({
        padding: padding(f.padding),
        strideH: positive(f.strideH, 0, "stride_h"),
        strideW: positive(f.strideW, 0, "stride_w"),
        filterH: positive(f.filterH, 0, "filter_height"),
        filterW: positive(f.filterW, 0, "filter_width"),
        activation: activation(f.activation),
      });
    }
    case Opt.FullyConnected: {
      const f = F.fullyConnected;
      return Object.freeze({ activation: activation(f.activation), keepNumDims: r.fieldBool(t, f.keepNumDims, false) });
    }
    case Opt.Softmax: {
      const beta = r.fieldF32(t, F.softmax.beta, 0);
      if (!Number.isFinite(beta)) r.fail(`${what}: softmax beta ${beta} is not finite`, t.pos);
      return Object.freeze({ beta });
    }
    case Opt.Concatenation:
      return Object.freeze({ axis: r.fieldI32(t, F.concatenation.axis, 0), activation: activation(F.concatenation.activation) });
    case Opt.Add:
    case Opt.Mul:
    case Opt.Sub:
    case Opt.Div:
      return Object.freeze({ activation: activation(F.activationOnly.activation) });
    case Opt.Reshape:
      return r.field(t, F.reshape.newShape, 4) === undefined ? Object.freeze({}) : Object.freeze({ newShape: ints(F.reshape.newShape, "new_shape") });
    case Opt.Reducer:
      return Object.freeze({ keepDims: r.fieldBool(t, F.reducer.keepDims, false) });
    case Opt.Squeeze:
      return Object.freeze({ squeezeDims: ints(F.squeeze.squeezeDims, "squeeze_dims") });
    case Opt.ResizeBilinear:
    case Opt.ResizeNearestNeighbor: {
      const f = type === Opt.ResizeBilinear ? F.resizeBilinear : F.resizeNearest;
      return Object.freeze({ alignCorners: r.fieldBool(t, f.alignCorners, false), halfPixelCenters: r.fieldBool(t, f.halfPixelCenters, false) });
    }
    default:
      // Options of operators mnc does not interpret: checked to be a table, not decoded.
      return Object.freeze({});
  }
}
