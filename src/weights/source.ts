/**
 * A weight file, read and put in mnc's terms, ready to be matched to layers:
 *
 * - `named`: tensors under mnc's layer names (safetensors), matched by name;
 * - `ordered`: one entry per convolution / FC operator of the file, in the
 *   file's order (TFLite), matched to the network's weighted layers in order
 *   and checked by shape, stride and activation.
 *
 * Layout conversion (OHWI → OIHW, 1HWC → C1HW) happens here, once.
 */
import type { Activation } from "../ir/graph.js";
import { WeightFileError } from "./errors.js";
import { readSafetensors, isSafetensors } from "./safetensors.js";
import { isTflite, readTflite, type TfliteModel, type TfliteTensor } from "./tflite.js";
import type { RawTensor } from "./types.js";

export interface OrderedLayer {
  readonly kind: "conv" | "depthwise" | "fc";
  /** The operator, for messages: `CONV_2D #3 (MobilenetV1/Conv2d_1_pointwise/Conv2D)`. */
  readonly label: string;
  /** Already in mnc's layout: OIHW, C1HW or [out, in]. */
  readonly kernel: RawTensor;
  readonly bias?: RawTensor;
  readonly stride?: readonly [number, number];
  readonly padding?: "same" | "valid";
  readonly act?: Activation | "other";
  /** FULLY_CONNECTED weights flatten the input in HWC order; they are reordered once the input shape is known. */
  readonly flattenHwc?: boolean;
}

export type WeightSource =
  | { readonly kind: "named"; readonly format: "safetensors"; readonly tensors: ReadonlyMap<string, RawTensor>; readonly metadata: Readonly<Record<string, string>> }
  | { readonly kind: "ordered"; readonly format: "tflite"; readonly layers: readonly OrderedLayer[] };

/** Read a weight file, choosing the format from its contents. Throws WeightFileError. */
export function readWeightFile(bytes: Uint8Array): WeightSource {
  if (isTflite(bytes)) return { kind: "ordered", format: "tflite", layers: tfliteLayers(readTflite(bytes)) };
  if (isSafetensors(bytes)) {
    const f = readSafetensors(bytes);
    return { kind: "named", format: "safetensors", tensors: new Map(f.tensors.map((t) => [t.name, t])), metadata: f.metadata };
  }
  throw new WeightFileError("not a weight file mnc reads: expected TensorFlow Lite (.tflite, identifier 'TFL3') or safetensors", 0);
}

function tfliteLayers(model: TfliteModel): OrderedLayer[] {
  const layers: OrderedLayer[] = [];
  const tensorAt = (op: { index: number; opcode: string }, i: number | undefined, role: string): TfliteTensor | undefined => {
    if (i === undefined || i < 0) return undefined;
    const t = model.tensors[i];
    if (t === undefined) throw new WeightFileError(`${op.opcode} #${op.index}: its ${role} is tensor ${i}, which does not exist`);
    if (t.data === undefined) throw new WeightFileError(`${op.opcode} #${op.index}: its ${role} '${t.name}' holds no float32 data (type ${t.type})`);
    return t;
  };
  for (const op of model.operators) {
    if (op.opcode !== "CONV_2D" && op.opcode !== "DEPTHWISE_CONV_2D" && op.opcode !== "FULLY_CONNECTED") continue;
    const w = tensorAt(op, op.inputs[1], "weights")!;
    if (w === undefined) throw new WeightFileError(`${op.opcode} #${op.index} has no weights`);
    const b = tensorAt(op, op.inputs[2], "bias");
    const label = `${op.opcode} #${op.index} (${w.name})`;
    const o = op.options;
    const act: Activation | "other" = o.activation === undefined || o.activation === "NONE" ? "linear" : o.activation === "RELU" ? "relu" : o.activation === "RELU6" ? "relu6" : "other";
    const common = {
      label,
      ...(b === undefined ? {} : { bias: { name: b.name, shape: b.shape, data: b.data! } }),
      act,
      ...(o.strideH === undefined ? {} : { stride: [o.strideH, o.strideW ?? o.strideH] as const }),
      ...(o.padding === undefined ? {} : { padding: o.padding === "SAME" ? ("same" as const) : ("valid" as const) }),
    };
    if (op.opcode === "FULLY_CONNECTED") {
      if (w.shape.length !== 2) throw new WeightFileError(`${label}: weights of rank ${w.shape.length}, expected 2`);
      layers.push({ kind: "fc", kernel: { name: w.name, shape: w.shape, data: w.data! }, flattenHwc: true, ...common });
      continue;
    }
    if (w.shape.length !== 4) throw new WeightFileError(`${label}: weights of rank ${w.shape.length}, expected 4`);
    if ((o.dilationH ?? 1) !== 1 || (o.dilationW ?? 1) !== 1) throw new WeightFileError(`${label}: dilated convolutions are not supported`);
    const [d0, kh, kw, d3] = w.shape as [number, number, number, number];
    if (op.opcode === "CONV_2D") {
      // OHWI → OIHW
      layers.push({ kind: "conv", kernel: { name: w.name, shape: [d0, d3, kh, kw], data: transpose(w.data!, [d0, kh, kw, d3], [0, 3, 1, 2]) }, ...common });
    } else {
      if (d0 !== 1 || (o.depthMultiplier ?? 1) !== 1) throw new WeightFileError(`${label}: depth multipliers other than 1 are not supported`);
      // 1HWC → C1HW
      layers.push({ kind: "depthwise", kernel: { name: w.name, shape: [d3, 1, kh, kw], data: transpose(w.data!, [1, kh, kw, d3], [3, 0, 1, 2]) }, ...common });
    }
  }
  return layers;
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
