/**
 * Post-training quantization: a float graph (batch-norm fused) and the ranges
 * calibration measured (passes/calibrate.ts) → the quantized graph the
 * integer reference (ir/reference-int.ts), ONNX QDQ and the int8 module run,
 * in the representation a `--quantized` TFLite import produces: Node.quant on
 * every value, LayerWeights.quantized on every weighted layer, whose float
 * kernel and bias become their dequantized values. As TensorFlow Lite's
 * converter quantizes:
 *
 *   weights      int8, per output channel (axis 0 of OIHW, C1HW, [out, in]),
 *                symmetric: zero point 0, q = round(w / s_c) in [−127, 127],
 *                s_c = max|w_c| / 127 (a channel of zeros: s_c = 1)
 *   biases       int32 q = round(b / (s_x · s_c)), zero point 0 (s_x the input's scale)
 *   activations  int8 (default) or uint8, per tensor, asymmetric: the range
 *                [min, max] widened to hold 0, s = (max − min) / 255,
 *                zero point qmin − min / s rounded and clamped into the type's range
 *
 * Every scale is rounded to float32 (TFLite stores them so), and every value
 * rounds half away from zero (TFLite's round). Per op, the output's range:
 *
 *   input              its normalisation (pixel − mean) / std, so that a photo's bytes are the
 *                      stored values: s = 1/std, zero point round(mean) (uint8) or round(mean) − 128
 *                      (int8: bytes − 128); no normalisation: mean 0, std 1 as `mnc run`; a mean
 *                      outside [0, 255], or `input: "calibrated"`: calibrated
 *   conv, depthwise    by activation: relu6 [0, 6]; relu [0, max]; linear and hswish calibrated;
 *                      hsigmoid and sigmoid TFLite's LOGISTIC output, s = 1/256 at the type's
 *                      lowest value. A table activation (hswish, hsigmoid, sigmoid) also gets
 *                      QuantizedWeights.linear, the calibrated range of the layer's linear output
 *   fc, add, mul       calibrated
 *   activation         as a conv's activation; linear keeps its input's
 *   avgpool, maxpool   the input's (TFLite requires it)
 *   softmax            s = 1/256, zero point −128 (int8) or 0 (uint8)
 *   dropout            none: it passes its input's integers on
 *
 * The other ops (deconv, concat, resize, argmax), and any the integer
 * reference does not run, are refused with UnsupportedLayerError naming the
 * layer. Pure: no I/O.
 */
import { InternalError } from "../ir/diagnostics.js";
import {
  isWeighted,
  QUANTIZED_RANGE,
  type Activation,
  type Graph,
  type InputNode,
  type LayerWeights,
  type Node,
  type OpKind,
  type Quantization,
  type QuantizedType,
  type QuantizedWeights,
  type Tensor,
  type WeightedNode,
} from "../ir/graph.js";
import { integerProblem, isTableActivation, roundHalfAway } from "../ir/reference-int.js";
import { linearKey, type ActivationRanges, type ValueRange } from "./calibrate.js";

export interface QuantizeOptions {
  /** The activations' type (default int8, as TFLite's converter). */
  readonly activations?: QuantizedType;
  /**
   * How the input is quantized: `pixels` (default), from its normalisation so
   * that a photo's bytes are the stored values (calibrated when the mean is
   * not a pixel value); `calibrated`, from its calibrated range like any
   * activation (inputs that are not pixels: float tensors).
   */
  readonly input?: "pixels" | "calibrated";
}

/** A layer post-training quantization does not handle; `node` names it. */
export class UnsupportedLayerError extends Error {
  constructor(
    readonly node: Node,
    /** Why, without the layer's name (MN4015 names it and points at its line). */
    readonly reason: string,
  ) {
    super(`${reason} ('${node.id}', line ${node.span.line})`);
    this.name = "UnsupportedLayerError";
  }
}

const f32 = Math.fround;

/** The weights' quantized range: symmetric, −127 … 127 (TFLite leaves −128 unused). */
export const WEIGHT_LIMIT = 127;

/**
 * An activation's per-tensor quantization from its real range, widened to
 * hold 0 (TFLite's GetAsymmetricQuantizationParams). An empty range (a
 * tensor that is 0 everywhere) gets [0, 1].
 */
export function rangeQuantization(range: ValueRange, type: QuantizedType): Quantization {
  const [qmin, qmax] = QUANTIZED_RANGE[type];
  let min = Math.min(range.min, 0);
  let max = Math.max(range.max, 0);
  if (!(Number.isFinite(min) && Number.isFinite(max))) throw new InternalError(`a calibrated range [${range.min}, ${range.max}] that is not finite`);
  // A tensor that is 0 everywhere (or spans less than float32 can scale): [0, 1].
  if (!(f32((max - min) / (qmax - qmin)) > 0)) {
    min = 0;
    max = 1;
  }
  const scale = f32((max - min) / (qmax - qmin));
  const fromMin = qmin - min / scale;
  // + 0: a zero point rounded up from just below 0 is 0, not −0.
  const zeroPoint = (fromMin < qmin ? qmin : fromMin > qmax ? qmax : roundHalfAway(fromMin)) + 0;
  return { type, scale: [scale], zeroPoint: [zeroPoint] };
}

/** A fixed quantization: `scale`, the zero point at the type's lowest value (real 0 … 255·scale). */
function fixed(type: QuantizedType, scale: number): Quantization {
  return { type, scale: [f32(scale)], zeroPoint: [QUANTIZED_RANGE[type][0]] };
}

/** The output quantization an activation gives a layer whose (activated) values cover `range`. */
const ACTIVATION_OUTPUT: Readonly<Record<Activation, (range: () => ValueRange, type: QuantizedType) => Quantization>> = {
  relu6: (_, t) => rangeQuantization({ min: 0, max: 6 }, t),
  relu: (r, t) => rangeQuantization({ min: 0, max: r().max }, t),
  linear: (r, t) => rangeQuantization(r(), t),
  hswish: (r, t) => rangeQuantization(r(), t),
  hsigmoid: (_, t) => fixed(t, 1 / 256),
  sigmoid: (_, t) => fixed(t, 1 / 256),
};

/**
 * The input's declared normalisation (none: mean 0, std 1, as `mnc run`)
 * read backwards, so that stored = pixel (uint8) or pixel − 128 (int8);
 * undefined when the mean is not a pixel value.
 */
export function pixelQuantization(node: InputNode, type: QuantizedType): Quantization | undefined {
  const { mean, std } = node.attrs.normalisation ?? { mean: 0, std: 1 };
  const zp = Math.round(mean); // 127.5 → 128, as TFLite's 1/128-and-128 models
  if (!(std > 0 && Number.isFinite(std) && zp >= 0 && zp <= 255)) return undefined;
  return { type, scale: [f32(1 / std)], zeroPoint: [type === "uint8" ? zp : zp - 128] };
}

/** The input's quantization: pixelQuantization, or the calibrated range when there is none. */
export function inputQuantization(node: InputNode, range: () => ValueRange, type: QuantizedType): Quantization {
  return pixelQuantization(node, type) ?? rangeQuantization(range(), type);
}

/** The kernel quantized per output channel (axis 0), int8 symmetric. */
export function quantizeKernel(kernel: Tensor): { readonly data: Int32Array; readonly quant: Quantization } {
  const channels = kernel.shape[0]!;
  const per = kernel.data.length / channels;
  const scale: number[] = [];
  const data = new Int32Array(kernel.data.length);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(kernel.data[i]!));
    if (!Number.isFinite(m)) throw new InternalError(`a kernel value that is not finite (channel ${c})`);
    const s = m > 0 ? f32(m / WEIGHT_LIMIT) : 1;
    scale.push(s > 0 ? s : 1);
    for (let i = c * per; i < (c + 1) * per; i++) data[i] = Math.max(-WEIGHT_LIMIT, Math.min(WEIGHT_LIMIT, roundHalfAway(kernel.data[i]! / scale[c]!)));
  }
  return { data, quant: { type: "int8", scale, zeroPoint: scale.map(() => 0) } };
}

const INT32_MAX = 2 ** 31 - 1;

/** The bias in int32 units of s_x · s_w[c], rounded half away from zero and clamped to int32. */
export function quantizeBias(bias: Tensor, inputScale: number, kernelQuant: Quantization): Int32Array {
  const perChannel = kernelQuant.scale.length > 1;
  return Int32Array.from(bias.data, (b, c) => Math.max(-INT32_MAX - 1, Math.min(INT32_MAX, roundHalfAway(b / (inputScale * kernelQuant.scale[perChannel ? c : 0]!)))));
}

/**
 * A layer's weights as the integer reference reads them, with the float
 * kernel and bias replaced by their dequantized values — computed as the
 * TFLite importer computes them (weights/source.ts), so that a written and
 * re-read file gives the same floats.
 */
export function dequantizedWeights(q: QuantizedWeights, inputScale: number): LayerWeights {
  const kq = q.kernelQuant;
  const channels = q.kernel.shape[0]!;
  const per = q.kernel.data.length / channels;
  const perChannel = kq.scale.length > 1;
  const kernel = new Float32Array(q.kernel.data.length);
  for (let i = 0; i < kernel.length; i++) {
    const c = perChannel ? Math.floor(i / per) : 0;
    kernel[i] = kq.scale[c]! * (q.kernel.data[i]! - kq.zeroPoint[c]!);
  }
  const w: LayerWeights = { kernel: { shape: q.kernel.shape, data: kernel }, quantized: q };
  if (q.bias === undefined) return w;
  const bias = new Float32Array(q.bias.length);
  for (let c = 0; c < bias.length; c++) bias[c] = q.bias[c]! * inputScale * kq.scale[perChannel ? c : 0]!;
  return { ...w, bias: { shape: [bias.length], data: bias } };
}

/** What quantizing one node needs to know. */
interface Context {
  readonly type: QuantizedType;
  readonly input: NonNullable<QuantizeOptions["input"]>;
  /** A node's calibrated range (InternalError when calibration did not see it). */
  range(id: string): ValueRange;
  /** The quantization of a node's value (a dropout's: its input's). */
  quantOf(id: string): Quantization;
}

type Rule = (node: never, ctx: Context) => Quantization | undefined | { readonly unsupported: string };

const unsupported = (what: string): { readonly unsupported: string } => ({ unsupported: what });

/** Each op's output quantization (see the file comment). */
const RULES: Readonly<{ [K in OpKind]: (node: Extract<Node, { op: K }>, ctx: Context) => ReturnType<Rule> }> = {
  input: (n, ctx) => (ctx.input === "calibrated" ? rangeQuantization(ctx.range(n.id), ctx.type) : inputQuantization(n, () => ctx.range(n.id), ctx.type)),
  conv: (n, ctx) => ACTIVATION_OUTPUT[n.attrs.act](() => ctx.range(n.id), ctx.type),
  depthwise: (n, ctx) => ACTIVATION_OUTPUT[n.attrs.act](() => ctx.range(n.id), ctx.type),
  fc: (n, ctx) => rangeQuantization(ctx.range(n.id), ctx.type),
  deconv: () => unsupported("transposed convolutions"),
  avgpool: (n, ctx) => ctx.quantOf(n.inputs[0]!),
  maxpool: (n, ctx) => ctx.quantOf(n.inputs[0]!),
  softmax: (_, ctx) => fixed(ctx.type, 1 / 256),
  dropout: () => undefined,
  add: (n, ctx) => rangeQuantization(ctx.range(n.id), ctx.type),
  mul: (n, ctx) => rangeQuantization(ctx.range(n.id), ctx.type),
  activation: (n, ctx) => (n.attrs.act === "linear" ? ctx.quantOf(n.inputs[0]!) : ACTIVATION_OUTPUT[n.attrs.act](() => ctx.range(n.id), ctx.type)),
  concat: () => unsupported("concat layers"),
  resize: () => unsupported("resize layers"),
  argmax: () => unsupported("argmax layers"),
};

/**
 * Quantize a fused float graph with the ranges `calibrate` measured on it.
 * Throws UnsupportedLayerError for a layer it cannot quantize.
 */
export function quantizeGraph(graph: Graph, ranges: ActivationRanges, options: QuantizeOptions = {}): Graph {
  const type = options.activations ?? "int8";
  const quants = new Map<string, Quantization>();
  const ctx: Context = {
    type,
    input: options.input ?? "pixels",
    range(id) {
      const r = ranges.get(id);
      if (r === undefined) throw new InternalError(`no calibrated range for '${id}': calibrate the graph being quantized`);
      return r;
    },
    quantOf(id) {
      const q = quants.get(id);
      if (q === undefined) throw new InternalError(`'${id}' has no quantization yet`);
      return q;
    },
  };
  const nodes = graph.nodes.map((n): Node => {
    if (n.quant !== undefined) throw new InternalError(`'${n.id}' is quantized already`);
    const rule = RULES[n.op] as Rule;
    const q = rule(n as never, ctx);
    if (q !== undefined && "unsupported" in q) throw new UnsupportedLayerError(n, `post-training quantization does not support ${q.unsupported}`);
    if (q === undefined) {
      // A value passed on as it is: its input's quantization.
      quants.set(n.id, ctx.quantOf(n.inputs[0]!));
      return n;
    }
    quants.set(n.id, q);
    if (!isWeighted(n)) return { ...n, quant: q } as Node;
    return { ...n, quant: q, weights: quantizedWeights(n, ctx.quantOf(n.inputs[0]!), ctx) } as Node;
  });
  const out = { ...graph, nodes };
  const refused = integerProblem(out);
  if (refused !== undefined) throw new UnsupportedLayerError(refused.node, refused.reason);
  return out;
}

function quantizedWeights(n: WeightedNode, input: Quantization, ctx: Context): LayerWeights {
  const w = n.weights;
  if (w === undefined) throw new InternalError(`'${n.id}' has no weights to quantize`);
  if (w.bn !== undefined) throw new InternalError(`'${n.id}' still has batch-norm: quantize the fused graph`);
  const sx = input.scale[0]!;
  const k = quantizeKernel(w.kernel);
  const act: Activation = n.op === "fc" ? "linear" : n.attrs.act;
  const linear = isTableActivation(act) ? { linear: rangeQuantization(ctx.range(linearKey(n.id)), ctx.type) } : {};
  const q: QuantizedWeights = {
    kernel: { shape: w.kernel.shape, data: k.data },
    kernelQuant: k.quant,
    ...(w.bias === undefined ? {} : { bias: quantizeBias(w.bias, sx, k.quant) }),
    ...linear,
  };
  return dequantizedWeights(q, sx);
}
