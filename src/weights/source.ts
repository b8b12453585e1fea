/**
 * A weight file, read and put in mnc's terms, ready to be matched to layers:
 *
 * - `named`: tensors under mnc's layer names (safetensors), matched by name;
 * - `dataflow`: a TFLite model's operators and the tensors that connect them,
 *   matched to the network by following those tensors from the input
 *   (weights/match-tflite.ts).
 *
 * Here the file's constants become float32 once: FLOAT32 data as stored,
 * FLOAT16 decoded, UINT8 / INT8 weights dequantized (per tensor or per
 * channel), INT32 biases dequantized with scale = input scale × weight scale
 * (the scale TFLite's integer kernels use), and weights that reach an
 * operator through a DEQUANTIZE (FLOAT16 or int8 storage) read through it.
 * Layouts are converted here too: OHWI → OIHW, 1HWC → C1HW, and a transposed
 * convolution's OHWI → [in, out, kh, kw].
 *
 * Custom operators mnc knows are read here as well: MediaPipe's
 * `Convolution2DTransposeBias` (a transposed convolution with a bias) keeps
 * its geometry in custom_options, three little-endian int32 — TfLitePadding
 * (1 = SAME, 2 = VALID), stride_w, stride_h, as TfLiteTransposeConvParams
 * begins — which become the operator's options like a builtin's.
 */
import type { TfliteOptions, TfliteQuantization } from "./tflite.js";
import { WeightFileError } from "./errors.js";
import { dequantize, perTensor, type TensorQuantization } from "./quantization.js";
import { readSafetensors, isSafetensors } from "./safetensors.js";
import { constantValues, isTflite, readTflite, type TfliteModel, type TfliteTensor } from "./tflite.js";
import type { RawTensor } from "./types.js";

/** A tensor of the file's main subgraph. */
export interface FileTensor {
  readonly index: number;
  readonly name: string;
  /** As stored (NHWC activations); may hold −1 for dimensions the converter left open. */
  readonly shape: readonly number[];
  readonly type: string;
  /** Per-tensor quantization of a quantized tensor (activations: its range is a clamp). */
  readonly quant?: TensorQuantization;
  /** The quantization parameters as stored, unchecked (for `quantized` imports). */
  readonly quantization?: TfliteQuantization;
}

/** The tensors of a CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED or transposed convolution, float32, in mnc's layouts. */
export interface OperatorWeights {
  readonly kind: "conv" | "depthwise" | "fc" | "deconv";
  /**
   * OIHW, C1HW, [out, in] (FULLY_CONNECTED weights flatten their input in HWC order: reordered once the
   * input shape is known) or, for a transposed convolution, [in, out, kh, kw].
   */
  readonly kernel: RawTensor;
  readonly bias?: RawTensor;
  /** The stored integers of a quantized operator, in the same layouts (absent for float files). */
  readonly stored?: StoredWeights;
}

/**
 * A quantized operator's weights as stored: the kernel's integers (in mnc's
 * layout, exact in float32), their quantization (per-channel along axis 0 of
 * mnc's layout), and the INT32 bias.
 */
export interface StoredWeights {
  readonly kernel: Float32Array;
  readonly type: string;
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  readonly bias?: Int32Array;
}

/** The output channels of an operator's weights (the axis its bias runs along). */
export function outputChannels(w: OperatorWeights): number {
  return w.kernel.shape[w.kind === "deconv" ? 1 : 0]!;
}

/** An operator of the file's main subgraph. */
export interface FileOperator {
  readonly index: number;
  readonly opcode: string;
  /** `CONV_2D #3 (its weights' name)` for weighted operators, `ADD #9` for the others. */
  readonly label: string;
  readonly options: TfliteOptions;
  /** The activation tensors it reads (its inputs that are not constants), in input order. */
  readonly reads: readonly number[];
  readonly outputs: readonly number[];
  /** Small constant inputs (shapes, paddings, axes, scalars), decoded to float, by input position. */
  readonly constants: ReadonlyMap<number, Float32Array>;
  readonly weights?: OperatorWeights;
  /** DEQUANTIZE operators whose only role is to turn this operator's constant inputs into float. */
  readonly absorbs: readonly number[];
}

/** The main subgraph of a TFLite model, with constants decoded. */
export interface FileGraph {
  readonly tensors: readonly FileTensor[];
  readonly operators: readonly FileOperator[];
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  /** For each tensor, the operators that read it as an activation, in operator order. */
  readonly consumers: readonly (readonly number[])[];
}

export type WeightSource =
  | { readonly kind: "named"; readonly format: "safetensors"; readonly tensors: ReadonlyMap<string, RawTensor>; readonly metadata: Readonly<Record<string, string>> }
  | { readonly kind: "dataflow"; readonly format: "tflite"; readonly graph: FileGraph };

/** Read a weight file, choosing the format from its contents. Throws WeightFileError. */
export function readWeightFile(bytes: Uint8Array): WeightSource {
  if (isTflite(bytes)) return { kind: "dataflow", format: "tflite", graph: fileGraph(readTflite(bytes)) };
  if (isSafetensors(bytes)) {
    // Integer tensors are a quantized file's (weights/quantized-safetensors.ts); the importer refuses them in a float one.
    const f = readSafetensors(bytes, { integers: true });
    return { kind: "named", format: "safetensors", tensors: new Map(f.tensors.map((t) => [t.name, t])), metadata: f.metadata };
  }
  throw new WeightFileError("not a weight file mnc reads: expected TensorFlow Lite (.tflite, identifier 'TFL3') or safetensors", 0);
}

const WEIGHTED: Readonly<Record<string, OperatorWeights["kind"]>> = {
  CONV_2D: "conv",
  DEPTHWISE_CONV_2D: "depthwise",
  FULLY_CONNECTED: "fc",
  "CUSTOM:Convolution2DTransposeBias": "deconv",
};

/** The options of the custom operators mnc reads, from their custom_options bytes. */
const CUSTOM_OPTIONS: Readonly<Record<string, (bytes: Uint8Array | undefined, what: string) => TfliteOptions>> = {
  "CUSTOM:Convolution2DTransposeBias": transposeConvBiasOptions,
};

/** TfLitePadding, by value (0 is kTfLitePaddingUnknown). */
const TFLITE_PADDING: Readonly<Record<number, "SAME" | "VALID">> = { 1: "SAME", 2: "VALID" };

/** MediaPipe's Convolution2DTransposeBias: int32 padding, stride_w, stride_h (TfLiteTransposeConvParams' first fields). */
function transposeConvBiasOptions(bytes: Uint8Array | undefined, what: string): TfliteOptions {
  if (bytes === undefined || bytes.length < 12) throw new WeightFileError(`${what}: custom options of ${bytes?.length ?? 0} bytes, expected three int32 (padding, stride_w, stride_h)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const code = view.getInt32(0, true);
  const strideW = view.getInt32(4, true);
  const strideH = view.getInt32(8, true);
  const padding = TFLITE_PADDING[code];
  if (padding === undefined) throw new WeightFileError(`${what}: padding ${code} in its custom options, expected 1 (SAME) or 2 (VALID)`);
  if (!(strideW >= 1 && strideH >= 1)) throw new WeightFileError(`${what}: strides ${strideH}x${strideW} in its custom options must be at least 1`);
  return { padding, strideW, strideH, activation: "NONE" };
}

/** Constant inputs larger than this are not decoded for operators without weights (nothing mnc reads is that large). */
const SMALL_CONSTANT = 1 << 16;

/** Index of the output-channel dimension of each weighted operator's kernel as stored (OHWI, 1HWC, [out, in]). */
const OUTPUT_DIMENSION: Readonly<Record<OperatorWeights["kind"], number>> = { conv: 0, depthwise: 3, fc: 0, deconv: 0 };

export function fileGraph(model: TfliteModel): FileGraph {
  const tensors = model.tensors;
  const producer = new Map<number, number>();
  for (const op of model.operators) for (const o of op.outputs) if (!producer.has(o)) producer.set(o, op.index);

  /** The DEQUANTIZE that makes tensor `i` from a constant, if any. */
  const dequantizeOf = (i: number): number | undefined => {
    const p = producer.get(i);
    if (p === undefined) return undefined;
    const op = model.operators[p]!;
    if (op.opcode !== "DEQUANTIZE") return undefined;
    const source = op.inputs[0];
    return source !== undefined && source >= 0 && stored(tensors[source]!) ? p : undefined;
  };
  const isConstant = (i: number): boolean => stored(tensors[i]!) || dequantizeOf(i) !== undefined;

  /**
   * Tensor `i`'s value as float32, dequantized, read through the DEQUANTIZE
   * that makes it when there is one. `real`: the value is a weight or a bias,
   * so integers must come with a quantization scale.
   */
  const constant = (i: number, what: string, real: boolean): { values: Float32Array; tensor: TfliteTensor; via?: number } => {
    const via = stored(tensors[i]!) ? undefined : dequantizeOf(i);
    const t = tensors[via === undefined ? i : model.operators[via]!.inputs[0]!]!;
    if (!stored(t)) throw new WeightFileError(`${what}: '${t.name}' is not a constant`);
    const values = constantValues(t);
    if (values === undefined) throw new WeightFileError(`${what}: '${t.name}' holds data of type ${t.type}, which mnc does not read`);
    if (t.quantization !== undefined && t.type !== "FLOAT32" && t.type !== "FLOAT16") {
      const d = dequantize(values, t.shape, t.quantization);
      if (typeof d === "string") throw new WeightFileError(`${what}: '${t.name}': ${d}`);
      return { values: d, tensor: t, ...(via === undefined ? {} : { via }) };
    }
    if (real && t.type !== "FLOAT32" && t.type !== "FLOAT16") throw new WeightFileError(`${what}: '${t.name}' holds ${t.type} values without a quantization scale`);
    return { values: Float32Array.from(values), tensor: t, ...(via === undefined ? {} : { via }) };
  };

  const operators = model.operators.map((op): FileOperator => {
    const reads: number[] = [];
    const constants = new Map<number, Float32Array>();
    const absorbs: number[] = [];
    const kind = WEIGHTED[op.opcode];
    op.inputs.forEach((i, position) => {
      if (i < 0) return;
      if (!isConstant(i)) {
        reads.push(i);
        return;
      }
      if (kind !== undefined && position > 0) return; // weights and bias: below
      const t = tensors[i]!;
      if (t.shape.reduce((a, b) => a * Math.max(b, 0), 1) > SMALL_CONSTANT) return;
      try {
        const c = constant(i, `${op.opcode} #${op.index}`, false);
        constants.set(position, c.values);
        if (c.via !== undefined) absorbs.push(c.via);
      } catch (e) {
        // A constant nothing in mnc reads may be of any type: only the operators that use one decode it.
        if (!(e instanceof WeightFileError)) throw e;
      }
    });
    const custom = CUSTOM_OPTIONS[op.opcode];
    const options = custom === undefined ? op.options : custom(op.customOptions, `${op.opcode} #${op.index}`);
    const base = { index: op.index, opcode: op.opcode, options, reads, outputs: op.outputs, constants, absorbs };
    if (kind === undefined) return { ...base, label: `${op.opcode} #${op.index}` };
    const weights = operatorWeights(model, op.index, kind, options, constant, absorbs);
    return { ...base, label: weights.label, weights: weights.weights };
  });

  const consumers: number[][] = tensors.map(() => []);
  for (const op of operators) for (const i of new Set(op.reads)) consumers[i]!.push(op.index);

  return {
    tensors: tensors.map((t) => {
      const quant = perTensor(t.type, t.quantization);
      return { index: t.index, name: t.name, shape: t.shape, type: t.type, ...(quant === undefined ? {} : { quant }), ...(t.quantization === undefined ? {} : { quantization: t.quantization }) };
    }),
    operators,
    inputs: model.inputs,
    outputs: model.outputs,
    consumers,
  };
}

/** Whether a tensor's own buffer holds data. */
function stored(t: TfliteTensor): boolean {
  return t.data !== undefined || t.raw !== undefined;
}

function operatorWeights(
  model: TfliteModel,
  index: number,
  kind: OperatorWeights["kind"],
  o: TfliteOptions,
  constant: (i: number, what: string, real: boolean) => { values: Float32Array; tensor: TfliteTensor; via?: number },
  absorbs: number[],
): { label: string; weights: OperatorWeights } {
  const op = model.operators[index]!;
  const name = `${op.opcode} #${op.index}`;
  const wIndex = op.inputs[1];
  if (wIndex === undefined || wIndex < 0) throw new WeightFileError(`${name} has no weights`);
  const wTensor = model.tensors[wIndex]!;
  const label = `${name} (${wTensor.name})`;
  const w = constant(wIndex, `${label} weights`, true);
  if (w.via !== undefined) absorbs.push(w.via);
  const shape = w.tensor.shape;

  // The bias: float as stored, or INT32 in units of input scale × weight scale.
  let bias: RawTensor | undefined;
  let storedBias: Int32Array | undefined;
  const bIndex = op.inputs[2];
  if (bIndex !== undefined && bIndex >= 0) {
    const bTensor = model.tensors[bIndex]!;
    const input = model.tensors[op.inputs[0] ?? -1];
    const inputQuant = input === undefined ? undefined : perTensor(input.type, input.quantization);
    const wq = w.tensor.quantization;
    if (bTensor.type === "INT32" && bTensor.raw !== undefined && inputQuant !== undefined && wq !== undefined && w.tensor.type !== "FLOAT16") {
      const q = constantValues(bTensor)!;
      const perChannel = wq.scale.length > 1;
      if (perChannel && wq.dimension !== OUTPUT_DIMENSION[kind]) throw new WeightFileError(`${label}: weights quantized along dimension ${wq.dimension}, not their output channels`);
      if (perChannel && wq.scale.length !== q.length) throw new WeightFileError(`${label}: ${q.length} biases for ${wq.scale.length} weight scales`);
      const data = new Float32Array(q.length);
      for (let c = 0; c < q.length; c++) data[c] = q[c]! * inputQuant.scale * wq.scale[perChannel ? c : 0]!;
      bias = { name: bTensor.name, shape: bTensor.shape, data };
      storedBias = Int32Array.from(q);
    } else {
      const b = constant(bIndex, `${label} bias`, true);
      if (b.via !== undefined) absorbs.push(b.via);
      bias = { name: bTensor.name, shape: b.tensor.shape, data: b.values };
    }
  }

  // The stored integers, when the kernel is UINT8 / INT8 with a quantization of its own (not read through a DEQUANTIZE).
  const wq = w.tensor.quantization;
  const raw = wq !== undefined && w.via === undefined && (w.tensor.type === "UINT8" || w.tensor.type === "INT8") ? Float32Array.from(constantValues(w.tensor)!) : undefined;
  const stored = (kernel: Float32Array | undefined): { stored?: StoredWeights } =>
    kernel === undefined || wq === undefined ? {} : { stored: { kernel, type: w.tensor.type, scale: wq.scale, zeroPoint: wq.zeroPoint, ...(storedBias === undefined ? {} : { bias: storedBias }) } };

  if (kind === "fc") {
    if (shape.length !== 2) throw new WeightFileError(`${label}: weights of rank ${shape.length}, expected 2`);
    return { label, weights: { kind, kernel: { name: wTensor.name, shape, data: w.values }, ...(bias === undefined ? {} : { bias }), ...stored(raw) } };
  }
  if (shape.length !== 4) throw new WeightFileError(`${label}: weights of rank ${shape.length}, expected 4`);
  const [d0, kh, kw, d3] = shape as [number, number, number, number];
  if (kind === "deconv") {
    // OHWI → [in, out, kh, kw] (ONNX ConvTranspose)
    const kernel = { name: wTensor.name, shape: [d3, d0, kh, kw], data: transpose(w.values, [d0, kh, kw, d3], [3, 0, 1, 2]) };
    return { label, weights: { kind, kernel, ...(bias === undefined ? {} : { bias }), ...stored(raw && transpose(raw, [d0, kh, kw, d3], [3, 0, 1, 2])) } };
  }
  if (kind === "conv") {
    // OHWI → OIHW
    const kernel = { name: wTensor.name, shape: [d0, d3, kh, kw], data: transpose(w.values, [d0, kh, kw, d3], [0, 3, 1, 2]) };
    return { label, weights: { kind, kernel, ...(bias === undefined ? {} : { bias }), ...stored(raw && transpose(raw, [d0, kh, kw, d3], [0, 3, 1, 2])) } };
  }
  // Files leave depth_multiplier 0 (unset) or 1; the kernel's shape says the rest.
  if (d0 !== 1 || (o.depthMultiplier ?? 1) > 1) throw new WeightFileError(`${label}: depth multipliers other than 1 are not supported`);
  // 1HWC → C1HW
  const kernel = { name: wTensor.name, shape: [d3, 1, kh, kw], data: transpose(w.values, [1, kh, kw, d3], [3, 0, 1, 2]) };
  return { label, weights: { kind, kernel, ...(bias === undefined ? {} : { bias }), ...stored(raw && transpose(raw, [1, kh, kw, d3], [3, 0, 1, 2])) } };
}

/** Permute a row-major tensor: output axis i is input axis perm[i]. */
export function transpose(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const outShape = perm.map((p) => shape[p]!);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += index[i]! * strides[perm[i]!]!;
    out[o] = data[src]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++index[i]! < outShape[i]!) break;
      index[i] = 0;
    }
  }
  return out;
}
