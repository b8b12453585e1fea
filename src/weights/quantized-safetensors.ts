/**
 * A quantized network as a safetensors file (what `mnc quantize` writes):
 * every quantity the integer reference reads, under mnc's layer names, in
 * the layouts of a float file (docs/weights.md):
 *
 *   <layer>.weight              I8 or U8   the stored kernel: conv OIHW, depthwise C1HW, fc [out, in]
 *   <layer>.weight_scale        F32 [n]    n = 1 (per tensor) or the output channels (per channel)
 *   <layer>.weight_zero_point   I32 [n]
 *   <layer>.bias                I32 [C]    real = bias · s_input · weight_scale[c] (zero point 0)
 *   <layer>.linear_scale        F32 [1]    a table activation's linear output (hswish, hsigmoid, sigmoid)
 *   <layer>.linear_zero_point   I32 [1]
 *   <node>.output_scale         F32 [1]    every value's quantization: real = s · (q − zp);
 *   <node>.output_zero_point    I32 [1]    the input node's too; none for a dropout (its input's)
 *
 * with the metadata of a float file plus `quantization`: the activations'
 * type, `int8` or `uint8` (its presence marks the file as quantized); the
 * kernels' type is their dtype. Scales are float32, as TFLite stores them.
 *
 * Read back with `quantized: true`, the file gives the graph it was written
 * from: Node.quant, LayerWeights.quantized and the dequantized float kernel
 * and bias. Without it, the float network runs on the dequantized values, as
 * a quantized .tflite does. Parameters integer inference cannot use (a scale
 * of 0, NaN or infinite, a zero point outside its type) are MN4013.
 */
import { error, InternalError, type Diagnostic } from "../ir/diagnostics.js";
import { isWeighted, QUANTIZED_RANGE, type Activation, type Graph, type Node, type Quantization, type QuantizedType, type QuantizedWeights, type Shape } from "../ir/graph.js";
import { isTableActivation } from "../ir/reference-int.js";
import { expectedShapes, sameShape } from "../ir/weights.js";
import { dequantizedWeights } from "../passes/quantize.js";
import { attach, formatShape as fmt } from "./attach.js";
import { namedTensors } from "./export.js";
import { writeSafetensors } from "./safetensors.js";
import type { IntegerDtype, IntegerTensor, RawTensor } from "./types.js";

/** A weighted layer's tensors, after `<layer>.`. */
const LAYER_TENSORS = ["weight", "weight_scale", "weight_zero_point", "bias", "linear_scale", "linear_zero_point"] as const;

/** The metadata key that marks a quantized file; its value is the activations' type. */
export const QUANTIZATION_KEY = "quantization";

const KERNEL_DTYPE: Readonly<Record<QuantizedType, IntegerDtype>> = { int8: "I8", uint8: "U8" };
const DTYPE_TYPE: Readonly<Record<string, QuantizedType>> = { I8: "int8", U8: "uint8" };

/** The tensors and metadata of a quantized graph's file. */
export function quantizedTensors(graph: Graph, extra: Readonly<Record<string, string>> = {}): { tensors: (RawTensor | IntegerTensor)[]; metadata: Record<string, string> } {
  const tensors: (RawTensor | IntegerTensor)[] = [];
  const types = new Set<QuantizedType>();
  const scales = (name: string, q: Quantization): void => {
    tensors.push({ name: `${name}_scale`, shape: [q.scale.length], data: Float32Array.from(q.scale) });
    tensors.push({ name: `${name}_zero_point`, shape: [q.zeroPoint.length], integers: { dtype: "I32", data: Int32Array.from(q.zeroPoint) } });
  };
  for (const n of graph.nodes) {
    if (isWeighted(n)) {
      const q = n.weights?.quantized;
      if (q === undefined) throw new InternalError(`'${n.id}' has no quantized weights to write`);
      tensors.push({ name: `${n.id}.weight`, shape: q.kernel.shape, integers: { dtype: KERNEL_DTYPE[q.kernelQuant.type], data: q.kernel.data } });
      scales(`${n.id}.weight`, q.kernelQuant);
      if (q.bias !== undefined) tensors.push({ name: `${n.id}.bias`, shape: [q.bias.length], integers: { dtype: "I32", data: q.bias } });
      if (q.linear !== undefined) scales(`${n.id}.linear`, q.linear);
    }
    if (n.quant !== undefined) {
      types.add(n.quant.type);
      scales(`${n.id}.output`, n.quant);
    }
  }
  if (types.size !== 1) throw new InternalError(`a quantized file holds activations of one type, not ${[...types].join(" and ") || "none"}`);
  // A float file's metadata (network, alpha, resolution, layouts): a quantized graph has no batch-norm, so no ε.
  return { tensors, metadata: { ...namedTensors(graph).metadata, ...extra, [QUANTIZATION_KEY]: [...types][0]! } };
}

/** The bytes of a quantized graph's file. */
export function exportQuantizedSafetensors(graph: Graph, extra: Readonly<Record<string, string>> = {}): Uint8Array {
  const { tensors, metadata } = quantizedTensors(graph, extra);
  return writeSafetensors(tensors, metadata);
}

/** A quantization's parameters checked: finite scales > 0, zero points within the type's range. */
function checkParameters(type: QuantizedType, scale: Float32Array, zeroPoint: Int32Array): Quantization | string {
  if (scale.length !== zeroPoint.length) return `${scale.length} scales but ${zeroPoint.length} zero points`;
  if (scale.length === 0) return "no scale";
  for (const s of scale) if (!(s > 0 && Number.isFinite(s))) return `scale ${s} is not a finite number > 0`;
  const [lo, hi] = QUANTIZED_RANGE[type];
  for (const z of zeroPoint) if (z < lo || z > hi) return `zero point ${z} is outside ${type}'s range [${lo}, ${hi}]`;
  return { type, scale: Array.from(scale), zeroPoint: Array.from(zeroPoint) };
}

/**
 * Attach a quantized file's tensors by name. `keep` (`quantized: true`):
 * the graph carries the quantization (Node.quant, LayerWeights.quantized);
 * otherwise only the dequantized float weights.
 */
export function importQuantized(graph: Graph, tensors: ReadonlyMap<string, RawTensor>, metadata: Readonly<Record<string, string>>, diagnostics: Diagnostic[], keep: boolean): Graph {
  const typeText = metadata[QUANTIZATION_KEY]!;
  const type = typeText === "int8" || typeText === "uint8" ? typeText : undefined;
  if (type === undefined) {
    diagnostics.push(error("weightFileUnreadable", undefined, "the metadata", `quantization is '${typeText}', not int8 or uint8`));
    return graph;
  }
  const used = new Set<string>();
  const shapes = new Map<string, Shape>();
  for (const n of graph.nodes) if (n.shape !== undefined) shapes.set(n.id, n.shape);
  const quants = new Map<string, Quantization>();
  const before = diagnostics.length;

  /** A tensor of the file, marked used; undefined (and a diagnostic when `required`) when absent. */
  const take = (n: Node, name: string, required: boolean): RawTensor | undefined => {
    const t = tensors.get(name);
    if (t === undefined) {
      if (required) diagnostics.push(error("weightMissing", n.span, n.id, name));
      return undefined;
    }
    used.add(name);
    return t;
  };
  /** `<name>_scale` and `<name>_zero_point` as a quantization of `qt`, checked. */
  const parameters = (n: Node, name: string, qt: QuantizedType, count: readonly number[], required: boolean): Quantization | undefined => {
    const s = take(n, `${name}_scale`, required);
    const z = take(n, `${name}_zero_point`, required || s !== undefined);
    if (s === undefined || z === undefined) return undefined;
    if (s.integers !== undefined || !count.includes(s.data.length) || s.shape.length !== 1) {
      diagnostics.push(error("weightShapeMismatch", n.span, n.id, s.name, `F32 ${count.map((c) => fmt([c])).join(" or ")}`, `${s.integers?.dtype ?? "F32"} ${fmt(s.shape)}`));
      return undefined;
    }
    if (z.integers?.dtype !== "I32" || !sameShape(z.shape, s.shape)) {
      diagnostics.push(error("weightShapeMismatch", n.span, n.id, z.name, `I32 ${fmt(s.shape)}`, `${z.integers?.dtype ?? "a float tensor"} ${fmt(z.shape)}`));
      return undefined;
    }
    const q = checkParameters(qt, s.data, z.integers.data);
    if (typeof q === "string") {
      diagnostics.push(error("weightQuantization", n.span, n.id, `the file's '${name}'`, q));
      return undefined;
    }
    return q;
  };

  /** A layer given up on after its first problem: its other tensors are not unused, only unread. */
  const giveUp = (n: Node): void => {
    for (const suffix of LAYER_TENSORS) if (tensors.has(`${n.id}.${suffix}`)) used.add(`${n.id}.${suffix}`);
  };
  const nodes: Node[] = [];
  for (const n of graph.nodes) {
    const quant = parameters(n, `${n.id}.output`, type, [1], false);
    // (A layer the file lacks altogether is said once, by its weight.)
    const absent = isWeighted(n) && !tensors.has(`${n.id}.weight`);
    if (quant === undefined && !absent && n.op !== "dropout" && n.op !== "softmax" && tensors.get(`${n.id}.output_scale`) === undefined) {
      diagnostics.push(error("weightMissing", n.span, n.id, `no tensor '${n.id}.output_scale' (every quantized value has one)`));
    }
    const value = quant ?? quants.get(n.inputs[0] ?? "");
    if (value !== undefined) quants.set(n.id, value);
    if (!isWeighted(n)) {
      nodes.push(keep && quant !== undefined ? ({ ...n, quant } as Node) : n);
      continue;
    }
    const input = quants.get(n.inputs[0] ?? "");
    const e = expectedShapes(n, shapes.get(n.inputs[0] ?? "")!);
    const kernel = take(n, `${n.id}.weight`, true);
    const bias = take(n, `${n.id}.bias`, n.op === "fc" || n.attrs.norm === "none" || tensors.has(`${n.id}.bias`));
    const act: Activation = n.op === "fc" ? "linear" : n.attrs.act;
    if (kernel === undefined) {
      giveUp(n);
      continue;
    }
    const kt = kernel.integers === undefined ? undefined : DTYPE_TYPE[kernel.integers.dtype];
    if (kt === undefined || !sameShape(kernel.shape, e.kernel)) {
      diagnostics.push(error("weightShapeMismatch", n.span, n.id, kernel.name, `I8 or U8 ${fmt(e.kernel)}`, `${kernel.integers?.dtype ?? "F32"} ${fmt(kernel.shape)}`));
      giveUp(n);
      continue;
    }
    const kq = parameters(n, `${n.id}.weight`, kt, [1, e.channels], true);
    const linear = isTableActivation(act) ? parameters(n, `${n.id}.linear`, type, [1], true) : undefined;
    if (bias !== undefined && (bias.integers?.dtype !== "I32" || !sameShape(bias.shape, [e.channels]))) {
      diagnostics.push(error("weightShapeMismatch", n.span, n.id, bias.name, `I32 ${fmt([e.channels])}`, `${bias.integers?.dtype ?? "F32"} ${fmt(bias.shape)}`));
      giveUp(n);
      continue;
    }
    if (kq === undefined || input === undefined || (isTableActivation(act) && linear === undefined)) continue;
    const q: QuantizedWeights = {
      kernel: { shape: kernel.shape, data: kernel.integers!.data },
      kernelQuant: kq,
      ...(bias === undefined ? {} : { bias: bias.integers!.data }),
      ...(linear === undefined ? {} : { linear }),
    };
    const { quantized: _, ...floats } = dequantizedWeights(q, input.scale[0]!);
    const attached = attach(n, keep ? { ...floats, quantized: q } : floats);
    nodes.push(keep && quant !== undefined ? ({ ...attached, quant } as Node) : attached);
  }
  const unused = [...tensors.keys()].filter((k) => !used.has(k));
  if (unused.length > 0) diagnostics.push(error("weightsUnused", undefined, unused));
  if (diagnostics.length > before) return graph;
  return { ...graph, nodes };
}
