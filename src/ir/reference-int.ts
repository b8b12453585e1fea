/**
 * The integer reference evaluator: a quantized graph (imported with
 * `quantized: true`: LayerWeights.quantized and Node.quant) run on stored
 * integers, the way 8-bit runtimes compute it.
 *
 * Convolution, depthwise and fc (a classifier's 1x1 conv on a 1x1 map):
 *
 *   acc = Σ (x − x_zp)·(w − w_zp) + bias          int32 (SAME pads hold x_zp: real zero)
 *   y   = clamp(x_zp' + requantize(acc, M))       M = s_x·s_w[c] / s_y
 *
 * clamped to the type's range and to the layer's activation (relu: ≥ zp,
 * relu6: ≤ zp + round(6/s)), as TFLite's CalculateActivationRangeQuantized.
 * `requantize` rounds one of two ways:
 *
 *   xnnpack  float32 acc · float32 M, rounded half to even (XNNPACK's fp32
 *            requantization; the TFLite interpreter's uint8 outputs with its
 *            XNNPACK delegate)
 *   tflite   gemmlowp: M = m·2^e with m a Q31 multiplier in [2^30, 2^31);
 *            SaturatingRoundingDoublingHighMul(acc·2^max(e,0), m), then
 *            RoundingDivideByPOT(·, max(−e, 0)) (TFLite's reference kernels)
 *
 * Average pool: acc = Σ (x − x_zp) over the window, requantized with
 * M = s_x / (s_y · count) (xnnpack), or TFLite's reference (Σx + count/2) / count
 * when input and output share a quantization (tflite).
 *
 * ADD (xnnpack): XNNPACK's qu8/qs8 vadd — per operand a multiplier
 * lrintf(ldexpf(s_i/s_y, shift)) with shift = 20 − exponent(max s_i/s_y),
 * acc = bias + a·m_a + b·m_b with bias = 2^(shift−1) − m_a·a_zp − m_b·b_zp,
 * y = (acc >> shift) clamped, + y_zp. ADD (tflite): TFLite's reference
 * quantized add with left shift 20 and three Q31 multipliers.
 *
 * SOFTMAX (both modes, as TFLite computes it): a float32 table
 * t[d] = exp(−s_x·β·d) (β = 1), p_i = t[max − q_i] / (Σ_j t[max − q_j] · s_y),
 * y = floor(p_i + 0.5) + y_zp, clamped.
 *
 * MUL (an SE gate, b 1×1×C broadcast over H and W, or same shapes):
 * y = clamp(requantize((a − a_zp)·(b − b_zp), M) + y_zp), M = s_a·s_b / s_y
 * computed as a convolution's.
 *
 * MAXPOOL: the largest stored value of the window's in-bounds cells, then
 * requantized as a one-operand ADD when the output's quantization differs
 * (TFLite keeps it the same; so does mnc's post-training quantization).
 *
 * Table activations (hswish, hsigmoid, sigmoid; a standalone activation of
 * any kind): a 256-entry table `activationTable(act, from, to)` maps each
 * stored input value to its output, computed once in float64 as
 * quantize(act(dequantize(q))) (rounded half away from zero, as TFLite's
 * quantize). A conv or depthwise with such an activation first requantizes
 * its accumulator into `weights.quantized.linear`, then looks up the table.
 *
 * A node without `quant` (a softmax or dropout the file has no operator for)
 * passes its input's integers on. Pure: no I/O.
 */
import { InternalError } from "./diagnostics.js";
import { QUANTIZED_RANGE, type Activation, type Graph, type Node, type OpKind, type Quantization, type Shape } from "./graph.js";
import { ACTIVATION } from "./reference.js";

export type IntRounding = "xnnpack" | "tflite";

/** An integer activation: [H, W, C] HWC, stored values. */
interface IntTensor {
  readonly shape: Shape;
  readonly data: Int32Array;
  /** Undefined only for the values of nodes the file has no operator for (then the input's). */
  readonly quant: Quantization;
}

const f32 = Math.fround;

/** Round half to even (lrintf in the default rounding mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** x · 2^e in float32 (ldexpf). */
function ldexpf(x: number, e: number): number {
  return f32(x * 2 ** e);
}

/** The unbiased binary exponent of a positive float32. */
function exponentOf(x: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  return ((view.getUint32(0) >>> 23) & 0xff) - 127;
}

// ---------------------------------------------------------------------------
// gemmlowp fixed point
// ---------------------------------------------------------------------------

/** M as TFLite's QuantizeMultiplier: a Q31 multiplier in [2^30, 2^31) and a shift (M = m·2^(shift − 31)). */
export function quantizeMultiplier(m: number): { multiplier: number; shift: number } {
  if (m === 0) return { multiplier: 0, shift: 0 };
  // frexp: m = q · 2^shift, q in [0.5, 1)
  let shift = Math.floor(Math.log2(m)) + 1;
  let q = m / 2 ** shift;
  if (q >= 1) {
    q /= 2;
    shift++;
  } else if (q < 0.5) {
    q *= 2;
    shift--;
  }
  let qFixed = Math.round(q * 2 ** 31);
  if (qFixed === 2 ** 31) {
    qFixed /= 2;
    shift++;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  return { multiplier: qFixed, shift };
}

/** gemmlowp's SaturatingRoundingDoublingHighMul on int32 a, b. */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === b && a === -(2 ** 31)) return 2 ** 31 - 1;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  // Division truncating toward zero, as C's int64 division.
  return Number((ab + nudge) / (1n << 31n));
}

/** gemmlowp's RoundingDivideByPOT: x / 2^e, rounded half away from zero. */
export function roundingDivideByPOT(x: number, exponent: number): number {
  if (exponent === 0) return x;
  const mask = 2 ** exponent - 1;
  const remainder = x - Math.floor(x / 2 ** exponent) * 2 ** exponent; // x & mask for two's complement
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return Math.floor(x / 2 ** exponent) + (remainder > threshold ? 1 : 0);
}

/** TFLite's MultiplyByQuantizedMultiplier(x, m, shift). */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  return roundingDivideByPOT(saturatingRoundingDoublingHighMul(toInt32(x * 2 ** left), multiplier), right);
}

function toInt32(x: number): number {
  if (x > 2 ** 31 - 1) return 2 ** 31 - 1;
  if (x < -(2 ** 31)) return -(2 ** 31);
  return x;
}

// ---------------------------------------------------------------------------
// Requantization
// ---------------------------------------------------------------------------

/** acc (int32) → the output's integers before the zero point, under a real multiplier M. */
export interface Requantizer {
  (acc: number): number;
}

/** The requantizer of multiplier `m` (real) in `mode`. */
export function requantizer(m: number, mode: IntRounding): Requantizer {
  if (mode === "xnnpack") {
    const mf = f32(m);
    return (acc) => roundHalfEven(f32(f32(acc) * mf));
  }
  const { multiplier, shift } = quantizeMultiplier(m);
  return (acc) => multiplyByQuantizedMultiplier(acc, multiplier, shift);
}

/** Clamp into [lo, hi]. */
function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/** The quantized range an activation leaves: the type's range cut by relu / relu6 (TFLite's CalculateActivationRangeQuantized). */
export function activationRange(q: Quantization, act: Activation): readonly [number, number] {
  const [lo, hi] = QUANTIZED_RANGE[q.type];
  const zp = q.zeroPoint[0]!;
  const s = q.scale[0]!;
  const quantize = (x: number): number => zp + Math.round(x / s);
  const limits = ACT_LIMITS[act];
  if (limits === undefined) throw new InternalError(`${act} is not a clamp: it takes a table (activationTable)`);
  return [limits.lo === undefined ? lo : Math.max(lo, quantize(limits.lo)), limits.hi === undefined ? hi : Math.min(hi, quantize(limits.hi))];
}

/** Whether an activation is applied through a table (activationTable) rather than as a clamp of the requantized value. */
export function isTableActivation(act: Activation): boolean {
  return ACT_LIMITS[act] === undefined;
}

/**
 * The 256-entry table of an activation from one quantization to another:
 * entry q − lo (lo the lowest stored value of `from`'s type) holds
 * quantize(act(dequantize(q, from)), to), in float64.
 */
export function activationTable(act: Activation, from: Quantization, to: Quantization): Int32Array {
  const [lo, hi] = QUANTIZED_RANGE[from.type];
  const f = ACTIVATION[act];
  const table = new Int32Array(hi - lo + 1);
  for (let q = lo; q <= hi; q++) table[q - lo] = quantize(f(dequantize(q, from)), to);
  return table;
}

const ACT_LIMITS: Readonly<Record<Activation, { readonly lo?: number; readonly hi?: number } | undefined>> = {
  linear: {},
  relu: { lo: 0 },
  relu6: { lo: 0, hi: 6 },
  hswish: undefined,
  hsigmoid: undefined,
  sigmoid: undefined,
};

/** Round half away from zero (C's round, std::round). */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** real → stored, rounded half away from zero and clamped (TFLite's Quantize). */
export function quantize(real: number, q: Quantization, channel = 0): number {
  const [lo, hi] = QUANTIZED_RANGE[q.type];
  return clamp(roundHalfAway(real / q.scale[channel]!) + q.zeroPoint[channel]!, lo, hi);
}

/** stored → real. */
export function dequantize(stored: number, q: Quantization, channel = 0): number {
  return q.scale[channel]! * (stored - q.zeroPoint[channel]!);
}

// ---------------------------------------------------------------------------
// The evaluator
// ---------------------------------------------------------------------------

/**
 * Run a quantized graph on one input of stored integers ([H, W, C] HWC, of
 * the input node's quantization) and return every output's stored integers
 * with their quantization.
 */
export function runReferenceIntOutputs(graph: Graph, input: ArrayLike<number>, mode: IntRounding): { readonly data: Int32Array; readonly quant: Quantization; readonly shape: Shape }[] {
  const values = new Map<string, IntTensor>();
  for (const node of graph.nodes) values.set(node.id, evaluate(node, values, input, mode));
  return graph.outputs.map((id) => values.get(id)!);
}

/** The ops the integer reference runs; the others (a segmentation head's, a V3 block's) are float-only for now. */
const INTEGER_OPS: Readonly<Record<OpKind, boolean>> = {
  input: true,
  conv: true,
  depthwise: true,
  fc: true,
  avgpool: true,
  add: true,
  softmax: true,
  dropout: true,
  maxpool: true,
  mul: true,
  activation: true,
  deconv: false,
  concat: false,
  resize: false,
  argmax: false,
};

/** The first node whose op integer inference does not run, if any. */
export function firstNonIntegerNode(graph: Graph): Node | undefined {
  return graph.nodes.find((n) => !INTEGER_OPS[n.op]);
}

/**
 * Why integer inference cannot run a graph: its first node that stops it and
 * the reason (an op it does not run, an output without quantization, a
 * weighted layer without stored integers, a batch norm not folded into them, a
 * table activation without its linear-output quantization); undefined when it
 * can. The one check every integer path (the reference, ONNX, the module, the
 * CLI) makes before it starts.
 */
export function integerProblem(graph: Graph): { readonly node: Node; readonly reason: string } | undefined {
  for (const n of graph.nodes) {
    if (!INTEGER_OPS[n.op]) return { node: n, reason: `integer inference does not run ${n.op} layers yet` };
    if (n.quant === undefined && n.op !== "softmax" && n.op !== "dropout") return { node: n, reason: "its output has no quantization" };
    if (n.op === "conv" || n.op === "depthwise" || n.op === "fc") {
      const w = n.weights;
      if (w?.quantized === undefined) return { node: n, reason: "its weights are not stored as 8-bit integers" };
      if (w.bn !== undefined) return { node: n, reason: "its batch norm is not folded into the stored integers" };
      if (n.op !== "fc" && isTableActivation(n.attrs.act) && w.quantized.linear === undefined) return { node: n, reason: `its ${n.attrs.act} has no linear-output quantization` };
    }
  }
  return undefined;
}

/** The first output's stored integers. */
export function runReferenceInt(graph: Graph, input: ArrayLike<number>, mode: IntRounding): Int32Array {
  return runReferenceIntOutputs(graph, input, mode)[0]!.data;
}

/** Every node's stored integers (for per-layer comparisons). */
export function runReferenceIntTrace(graph: Graph, input: ArrayLike<number>, mode: IntRounding): ReadonlyMap<string, { readonly data: Int32Array; readonly quant: Quantization; readonly shape: Shape }> {
  const values = new Map<string, IntTensor>();
  for (const node of graph.nodes) values.set(node.id, evaluate(node, values, input, mode));
  return values;
}

function shapeOf(node: Node): Shape {
  if (node.shape === undefined) throw new InternalError(`'${node.id}' has no shape`);
  return node.shape;
}

function evaluate(node: Node, values: ReadonlyMap<string, IntTensor>, input: ArrayLike<number>, mode: IntRounding): IntTensor {
  const ins = node.inputs.map((id) => values.get(id)!);
  if (node.op !== "input" && node.quant === undefined) {
    if (node.op !== "softmax" && node.op !== "dropout") throw new InternalError(`'${node.id}' (${node.op}) has no quantization`);
    return ins[0]!;
  }
  const quant = node.quant;
  if (quant === undefined) throw new InternalError(`the input '${node.id}' has no quantization`);
  const shape = shapeOf(node);
  switch (node.op) {
    case "input": {
      const n = shape[0] * shape[1] * shape[2];
      if (input.length !== n) throw new InternalError(`input of ${input.length} values for ${n}`);
      const [lo, hi] = QUANTIZED_RANGE[quant.type];
      const data = Int32Array.from({ length: n }, (_, i) => input[i]!);
      for (const v of data) if (v < lo || v > hi) throw new InternalError(`input value ${v} outside ${quant.type}`);
      return { shape, data, quant };
    }
    case "conv":
    case "depthwise":
    case "fc":
      return { shape, data: convolution(node, ins[0]!, quant, mode), quant };
    case "avgpool":
      return { shape, data: averagePool(node, ins[0]!, quant, mode), quant };
    case "maxpool":
      return { shape, data: maxPool(node, ins[0]!, quant, mode), quant };
    case "add":
      return { shape, data: add(ins[0]!, ins[1]!, quant, mode), quant };
    case "mul":
      return { shape, data: mul(ins[0]!, ins[1]!, quant, mode), quant };
    case "activation": {
      const x = ins[0]!;
      const table = activationTable(node.attrs.act, x.quant, quant);
      const lo = QUANTIZED_RANGE[x.quant.type][0];
      return { shape, data: x.data.map((v) => table[v - lo]!), quant };
    }
    case "softmax":
      return { shape, data: softmax(ins[0]!, quant), quant };
    case "dropout":
      return ins[0]!;
    default:
      throw new InternalError(`the integer reference has no ${node.op}`);
  }
}

function convolution(node: Extract<Node, { op: "conv" | "depthwise" | "fc" }>, x: IntTensor, yq: Quantization, mode: IntRounding): Int32Array {
  const qw = node.weights?.quantized;
  if (qw === undefined) throw new InternalError(`'${node.id}' has no quantized weights`);
  const [oh, ow, oc] = shapeOf(node);
  const [ih, iw, ic] = x.shape;
  const xzp = x.quant.zeroPoint[0]!;
  const sx = x.quant.scale[0]!;
  const k = qw.kernel.data;
  const kq = qw.kernelQuant;
  const perChannel = kq.scale.length > 1;
  const act: Activation = node.op === "fc" ? "linear" : node.attrs.act;
  // A table activation: requantize into the linear output's quantization, then look up.
  const table = isTableActivation(act) ? activationTable(act, linearOf(node), yq) : undefined;
  const lq = table === undefined ? yq : linearOf(node);
  const [lo, hi] = table === undefined ? activationRange(yq, act) : QUANTIZED_RANGE[lq.type];
  const requant = Array.from({ length: oc }, (_, c) => requantizer(multiplier(sx, kq.scale[perChannel ? c : 0]!, lq.scale[0]!, mode), mode));
  const yzp = lq.zeroPoint[0]!;
  const wzp = (c: number): number => kq.zeroPoint[perChannel ? c : 0]!;
  const bias = qw.bias;
  const out = new Int32Array(oh * ow * oc);
  const xs = x.data;

  if (node.op === "fc") {
    // kernel [out, C·H·W], the input flattened channel-major
    const n = ih * iw * ic;
    for (let o = 0; o < oc; o++) {
      const z = wzp(o);
      let acc = bias?.[o] ?? 0;
      for (let c = 0; c < ic; c++) for (let h = 0; h < ih; h++) for (let w = 0; w < iw; w++) acc += (xs[(h * iw + w) * ic + c]! - xzp) * (k[o * n + (c * ih + h) * iw + w]! - z);
      out[o] = clamp(requant[o]!(acc) + yzp, lo, hi);
    }
    return lookUp(out, table, lq);
  }
  const [kh, kw] = node.attrs.kernel;
  const [sh, sw] = node.attrs.stride;
  const [dh, dw] = node.attrs.dilation ?? [1, 1];
  const [top, left] = node.attrs.pads ?? [0, 0, 0, 0];
  const depthwise = node.op === "depthwise";
  for (let y = 0; y < oh; y++) {
    for (let xo = 0; xo < ow; xo++) {
      for (let o = 0; o < oc; o++) {
        const z = wzp(o);
        let acc = bias?.[o] ?? 0;
        for (let i = 0; i < kh; i++) {
          const iy = y * sh - top + i * dh;
          if (iy < 0 || iy >= ih) continue;
          for (let j = 0; j < kw; j++) {
            const ix = xo * sw - left + j * dw;
            if (ix < 0 || ix >= iw) continue;
            const base = (iy * iw + ix) * ic;
            if (depthwise) {
              acc += (xs[base + o]! - xzp) * (k[(o * kh + i) * kw + j]! - z);
            } else {
              for (let c = 0; c < ic; c++) acc += (xs[base + c]! - xzp) * (k[((o * ic + c) * kh + i) * kw + j]! - z);
            }
          }
        }
        out[(y * ow + xo) * oc + o] = clamp(requant[o]!(acc) + yzp, lo, hi);
      }
    }
  }
  return lookUp(out, table, lq);
}

/** The quantization of a table-activated layer's linear output. */
function linearOf(node: Extract<Node, { op: "conv" | "depthwise" | "fc" }>): Quantization {
  const linear = node.weights?.quantized?.linear;
  if (linear === undefined) throw new InternalError(`'${node.id}' has a table activation but no linear-output quantization`);
  return linear;
}

/** Values of `from`'s type through a table (in place), or as they are without one. */
function lookUp(values: Int32Array, table: Int32Array | undefined, from: Quantization): Int32Array {
  if (table === undefined) return values;
  const lo = QUANTIZED_RANGE[from.type][0];
  for (let i = 0; i < values.length; i++) values[i] = table[values[i]! - lo]!;
  return values;
}

/** M = s_x·s_w / s_y: in float32 as XNNPACK's delegate computes it, in double as TFLite's reference kernels do. */
export function multiplier(sx: number, sw: number, sy: number, mode: IntRounding): number {
  return mode === "xnnpack" ? f32(f32(f32(sx) * f32(sw)) / f32(sy)) : (sx * sw) / sy;
}

function averagePool(node: Extract<Node, { op: "avgpool" }>, x: IntTensor, yq: Quantization, mode: IntRounding): Int32Array {
  const [oh, ow, c] = shapeOf(node);
  const [ih, iw] = x.shape;
  const global = node.attrs.kernel === "global";
  const [kh, kw] = global ? [ih, iw] : (node.attrs.kernel as readonly [number, number]);
  const [sh, sw] = node.attrs.stride === "kernel" ? [kh, kw] : node.attrs.stride;
  const [top, left] = node.attrs.pads ?? [0, 0, 0, 0];
  const xzp = x.quant.zeroPoint[0]!;
  const yzp = yq.zeroPoint[0]!;
  const [lo, hi] = QUANTIZED_RANGE[yq.type];
  const same = x.quant.scale[0] === yq.scale[0] && xzp === yzp;
  const out = new Int32Array(oh * ow * c);
  for (let y = 0; y < oh; y++) {
    for (let xo = 0; xo < ow; xo++) {
      const rows: number[] = [];
      const cols: number[] = [];
      for (let i = 0; i < kh; i++) if (y * sh - top + i >= 0 && y * sh - top + i < ih) rows.push(y * sh - top + i);
      for (let j = 0; j < kw; j++) if (xo * sw - left + j >= 0 && xo * sw - left + j < iw) cols.push(xo * sw - left + j);
      const count = rows.length * cols.length;
      const requant = mode === "xnnpack" ? requantizer(poolMultiplier(x.quant.scale[0]!, yq.scale[0]!, count), mode) : undefined;
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (const r of rows) for (const q of cols) sum += x.data[(r * iw + q) * c + ch]!;
        let v: number;
        if (requant !== undefined) v = requant(sum - count * xzp) + yzp;
        else if (same) v = sum > 0 ? Math.trunc((sum + Math.trunc(count / 2)) / count) : Math.trunc((sum - Math.trunc(count / 2)) / count);
        else v = requantizer(x.quant.scale[0]! / (yq.scale[0]! * count), mode)(sum - count * xzp) + yzp;
        out[(y * ow + xo) * c + ch] = clamp(v, lo, hi);
      }
    }
  }
  return out;
}

function add(a: IntTensor, b: IntTensor, yq: Quantization, mode: IntRounding): Int32Array {
  const [h, w, c] = a.shape;
  const broadcast = b.shape[0] === 1 && b.shape[1] === 1 && (h !== 1 || w !== 1);
  const [lo, hi] = QUANTIZED_RANGE[yq.type];
  const yzp = yq.zeroPoint[0]!;
  const azp = a.quant.zeroPoint[0]!;
  const bzp = b.quant.zeroPoint[0]!;
  const out = new Int32Array(h * w * c);
  const op = mode === "xnnpack" ? xnnpackAdd(a.quant.scale[0]!, b.quant.scale[0]!, yq.scale[0]!, azp, bzp) : tfliteAdd(a.quant.scale[0]!, b.quant.scale[0]!, yq.scale[0]!, azp, bzp);
  for (let i = 0; i < out.length; i++) out[i] = clamp(op(a.data[i]!, b.data[broadcast ? i % c : i]!) + yzp, lo, hi);
  return out;
}

function mul(a: IntTensor, b: IntTensor, yq: Quantization, mode: IntRounding): Int32Array {
  const [h, w, c] = a.shape;
  const broadcast = b.shape[0] === 1 && b.shape[1] === 1 && (h !== 1 || w !== 1);
  const [lo, hi] = QUANTIZED_RANGE[yq.type];
  const yzp = yq.zeroPoint[0]!;
  const azp = a.quant.zeroPoint[0]!;
  const bzp = b.quant.zeroPoint[0]!;
  const requant = requantizer(multiplier(a.quant.scale[0]!, b.quant.scale[0]!, yq.scale[0]!, mode), mode);
  const out = new Int32Array(h * w * c);
  for (let i = 0; i < out.length; i++) out[i] = clamp(requant((a.data[i]! - azp) * (b.data[broadcast ? i % c : i]! - bzp)) + yzp, lo, hi);
  return out;
}

function maxPool(node: Extract<Node, { op: "maxpool" }>, x: IntTensor, yq: Quantization, mode: IntRounding): Int32Array {
  const [oh, ow, c] = shapeOf(node);
  const [ih, iw] = x.shape;
  const global = node.attrs.kernel === "global";
  const [kh, kw] = global ? [ih, iw] : (node.attrs.kernel as readonly [number, number]);
  const [sh, sw] = node.attrs.stride === "kernel" ? [kh, kw] : node.attrs.stride;
  const [top, left] = node.attrs.pads ?? [0, 0, 0, 0];
  const same = x.quant.scale[0] === yq.scale[0] && x.quant.zeroPoint[0] === yq.zeroPoint[0];
  const [lo, hi] = QUANTIZED_RANGE[yq.type];
  const yzp = yq.zeroPoint[0]!;
  const xzp = x.quant.zeroPoint[0]!;
  const requant = same ? undefined : requantizer(multiplier(x.quant.scale[0]!, 1, yq.scale[0]!, mode), mode);
  const out = new Int32Array(oh * ow * c);
  for (let y = 0; y < oh; y++) {
    for (let xo = 0; xo < ow; xo++) {
      for (let ch = 0; ch < c; ch++) {
        let m = -Infinity;
        for (let i = 0; i < kh; i++) {
          const r = y * sh - top + i;
          if (r < 0 || r >= ih) continue;
          for (let j = 0; j < kw; j++) {
            const q = xo * sw - left + j;
            if (q >= 0 && q < iw) m = Math.max(m, x.data[(r * iw + q) * c + ch]!);
          }
        }
        out[(y * ow + xo) * c + ch] = requant === undefined ? m : clamp(requant(m - xzp) + yzp, lo, hi);
      }
    }
  }
  return out;
}

/** An average pool's M = s_x / (s_y · count) in float32 (xnnpack mode). */
export function poolMultiplier(sx: number, sy: number, count: number): number {
  return f32(f32(sx) / f32(f32(sy) * count));
}

/** XNNPACK's vadd parameters: y − y_zp = (bias + a·ma + b·mb) >> shift, on stored a and b. */
export interface AddParameters {
  readonly ma: number;
  readonly mb: number;
  readonly shift: number;
  readonly bias: number;
}

/** XNNPACK's quantized vadd parameters for operands of scales sa, sb and zero points azp, bzp into scale sy. */
export function xnnpackAddParameters(sa: number, sb: number, sy: number, azp: number, bzp: number): AddParameters {
  const aScale = f32(f32(sa) / f32(sy));
  const bScale = f32(f32(sb) / f32(sy));
  const maxScale = Math.max(aScale, bScale);
  const shift = 20 - exponentOf(maxScale);
  const ma = roundHalfEven(ldexpf(aScale, shift));
  const mb = roundHalfEven(ldexpf(bScale, shift));
  return { ma, mb, shift, bias: 2 ** (shift - 1) - ma * azp - mb * bzp };
}

/** XNNPACK's quantized vadd (the output before its zero point). */
function xnnpackAdd(sa: number, sb: number, sy: number, azp: number, bzp: number): (a: number, b: number) => number {
  const { ma, mb, shift, bias } = xnnpackAddParameters(sa, sb, sy, azp, bzp);
  return (a, b) => Math.floor((bias + a * ma + b * mb) / 2 ** shift);
}

/** TFLite's reference quantized add (the output before its zero point). */
function tfliteAdd(sa: number, sb: number, sy: number, azp: number, bzp: number): (a: number, b: number) => number {
  const leftShift = 20;
  const twiceMax = 2 * Math.max(sa, sb);
  const ma = quantizeMultiplier(sa / twiceMax);
  const mb = quantizeMultiplier(sb / twiceMax);
  const my = quantizeMultiplier(twiceMax / (2 ** leftShift * sy));
  return (a, b) => {
    const sa1 = multiplyByQuantizedMultiplier((a - azp) * 2 ** leftShift, ma.multiplier, ma.shift);
    const sb1 = multiplyByQuantizedMultiplier((b - bzp) * 2 ** leftShift, mb.multiplier, mb.shift);
    return multiplyByQuantizedMultiplier(sa1 + sb1, my.multiplier, my.shift);
  };
}

/** The quantized softmax's table t[d] = fround(exp(fround(−s_x·d))), d = max − q over the input type's range. */
export function softmaxTable(x: Quantization): Float32Array {
  const [xlo, xhi] = QUANTIZED_RANGE[x.type];
  const scale = f32(-x.scale[0]!);
  const table = new Float32Array(xhi - xlo + 1);
  for (let d = 0; d <= xhi - xlo; d++) table[d] = f32(Math.exp(f32(scale * d)));
  return table;
}

/** TFLite's quantized softmax over channels (β = 1), per pixel. */
function softmax(x: IntTensor, yq: Quantization): Int32Array {
  const [h, w, c] = x.shape;
  const [lo, hi] = QUANTIZED_RANGE[yq.type];
  const [xlo, xhi] = QUANTIZED_RANGE[x.quant.type];
  const table = softmaxTable(x.quant);
  const sy = f32(yq.scale[0]!);
  const yzp = yq.zeroPoint[0]!;
  const out = new Int32Array(h * w * c);
  for (let p = 0; p < h * w; p++) {
    let max = -Infinity;
    for (let i = 0; i < c; i++) max = Math.max(max, x.data[p * c + i]!);
    let sum = 0;
    for (let i = 0; i < c; i++) sum = f32(sum + table[max - x.data[p * c + i]!]!);
    const inv = f32(1 / f32(sum * sy));
    for (let i = 0; i < c; i++) out[p * c + i] = clamp(Math.floor(f32(table[max - x.data[p * c + i]!]! * inv) + 0.5) + yzp, lo, hi);
  }
  return out;
}
