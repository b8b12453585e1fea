/**
 * Random quantized graphs for the int8 tests: a float graph from compile()
 * (shaped, seeded weights) given random `quant` on every value and random
 * stored integers in every weighted layer's `weights.quantized` — the
 * representation a `--quantized` import produces, with zero points over the
 * whole range (0 and 255 for uint8, −128 and 127 for int8), per-channel int8
 * weights, and multipliers from gentle to saturating at both ends.
 */
import { expect } from "vitest";
import { calibrate, compile, quantizeGraph } from "../src/index.js";
import type { Graph, LayerWeights, Node, Quantization, QuantizedType } from "../src/ir/graph.js";
import { QUANTIZED_RANGE } from "../src/ir/graph.js";

/** A deterministic generator of numbers in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface QuantizeRandomOptions {
  /** The activations' type (default: uint8). */
  readonly activations?: QuantizedType;
  /** Weights: per-tensor of the activations' type, or per-channel int8 (default per-tensor). */
  readonly perChannel?: boolean;
  /** How far outputs saturate: 1 keeps most values inside the range, larger pushes more of them to the ends (default 1). */
  readonly gain?: number;
}

const f32 = Math.fround;

/** A zero point: the ends of the range a quarter of the time each, else anywhere. */
function zeroPoint(r: () => number, type: QuantizedType): number {
  const [lo, hi] = QUANTIZED_RANGE[type];
  const u = r();
  if (u < 0.15) return lo;
  if (u < 0.3) return hi;
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** A float32 scale of about `base`, within a factor of 2 either way. */
function scaleNear(r: () => number, base: number): number {
  return f32(base * 2 ** (r() * 2 - 1));
}

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

/** The graph with random quantization on every value and random stored weights (see the file header). */
export function quantizeRandom(graph: Graph, r: () => number, options: QuantizeRandomOptions = {}): Graph {
  const type = options.activations ?? "uint8";
  const gain = options.gain ?? 1;
  const [lo, hi] = QUANTIZED_RANGE[type];
  const quants = new Map<string, Quantization>();
    const nodes = graph.nodes.map((n): Node => {
    if (n.op === "input") {
      const q: Quantization = { type, scale: [scaleNear(r, 1 / 64)], zeroPoint: [zeroPoint(r, type)] };
      quants.set(n.id, q);
      return { ...n, quant: q };
    }
    const x = quants.get(n.inputs[0]!)!;
    if (n.op === "dropout") {
      quants.set(n.id, x);
      return n;
    }
    if (n.op === "conv" || n.op === "depthwise" || n.op === "fc") {
      const w = n.weights!;
      const shape = w.kernel.shape;
      const outs = shape[0]!;
      const per = w.kernel.data.length / outs;
      const perChannel = options.perChannel === true;
      const wType: QuantizedType = perChannel ? "int8" : type;
      const [wlo, whi] = QUANTIZED_RANGE[wType];
      const channels = perChannel ? outs : 1;
      const kq: Quantization = {
        type: wType,
        scale: Array.from({ length: channels }, () => scaleNear(r, 1 / 128)),
        zeroPoint: Array.from({ length: channels }, () => (perChannel ? (r() < 0.7 ? 0 : zeroPoint(r, "int8")) : zeroPoint(r, wType))),
      };
      const kernel = Int32Array.from({ length: w.kernel.data.length }, () => wlo + Math.floor(r() * (whi - wlo + 1)));
      const bias = Int32Array.from({ length: outs }, () => Math.round((r() * 2 - 1) * 2 ** (8 + Math.floor(r() * 12))));
      // Output scale: |acc| is about 128·128·√K; aim that at a few dozen steps of the output, times the gain.
      const typical = 128 * 128 * Math.sqrt(per);
      const sw = kq.scale.reduce((a, b) => Math.max(a, b), 0);
      const sy = f32((x.scale[0]! * sw * typical) / (40 * gain * 2 ** (r() * 2 - 1)));
      const q: Quantization = { type, scale: [sy], zeroPoint: [zeroPoint(r, type)] };
      quants.set(n.id, q);
      // A table activation (hswish, hsigmoid, sigmoid) requantizes into its linear output's quantization first.
      const act = n.op === "fc" ? "linear" : n.attrs.act;
      const table = act === "hswish" || act === "hsigmoid" || act === "sigmoid";
      const linear: Quantization = { type, scale: [sy], zeroPoint: [zeroPoint(r, type)] };
      if (table) quants.set(n.id, { type, scale: [scaleNear(r, act === "hswish" ? sy : 1 / 256)], zeroPoint: [zeroPoint(r, type)] });
      const quantized = { kernel: { shape, data: kernel }, kernelQuant: kq, ...(r() < 0.9 ? { bias } : {}), ...(table ? { linear } : {}) };
      const weights: LayerWeights = { ...w, quantized };
      return { ...n, quant: quants.get(n.id)!, weights } as Node;
    }
    if (n.op === "add") {
      const b = quants.get(n.inputs[1]!)!;
      const q: Quantization = { type, scale: [scaleNear(r, Math.max(x.scale[0]!, b.scale[0]!) * (gain > 1 ? 0.5 : 1.5))], zeroPoint: [zeroPoint(r, type)] };
      quants.set(n.id, q);
      return { ...n, quant: q };
    }
    if (n.op === "mul") {
      const b = quants.get(n.inputs[1]!)!;
      const q: Quantization = { type, scale: [f32((x.scale[0]! * b.scale[0]! * 64 * 64) / (40 * gain * 2 ** (r() * 2 - 1)))], zeroPoint: [zeroPoint(r, type)] };
      quants.set(n.id, q);
      return { ...n, quant: q };
    }
    if (n.op === "maxpool" && r() < 0.5) {
      quants.set(n.id, x);
      return { ...n, quant: x };
    }
    if (n.op === "softmax") {
      const q: Quantization = pick(r, [
        { type, scale: [1 / 256], zeroPoint: [type === "uint8" ? 0 : -128] },
        { type, scale: [scaleNear(r, 1 / 200)], zeroPoint: [zeroPoint(r, type)] },
      ]);
      quants.set(n.id, q);
      return { ...n, quant: q };
    }
    // avgpool and the rest: a scale near the input's, any zero point
    const q: Quantization = { type, scale: [scaleNear(r, x.scale[0]!)], zeroPoint: [lo + Math.floor(r() * (hi - lo + 1))] };
    quants.set(n.id, q);
    return { ...n, quant: q };
  });
  return { ...graph, nodes };
}

/** Random stored input values of a quantized graph's input. */
export function randomInput(graph: Graph, r: () => number): Int32Array {
  const input = graph.nodes[0]!;
  const [h, w, c] = input.shape!;
  const [lo, hi] = QUANTIZED_RANGE[input.quant!.type];
  return Int32Array.from({ length: h * w * c }, () => lo + Math.floor(r() * (hi - lo + 1)));
}

/** A deterministic stream of integers in [lo, hi]. */
export function integers(seed: number, n: number, lo: number, hi: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  });
}

/** Four deterministic photos' worth of pixels for a network's input. */
export function ownPixels(graph: Graph): Int32Array[] {
  const [h, w, c] = graph.nodes[0]!.shape!;
  return [1, 2, 3, 4].map((seed) => integers(seed, h * w * c, 0, 255));
}

/** A network (normalised as (p − 127.5) / 127.5), seeded and quantized after training on its own pixels (calibrated on the float reference). */
export function quantizedOnOwnPixels(source: string, activations: "int8" | "uint8"): Graph {
  const r = compile(source, { seed: 7 });
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const ranges = calibrate(r.graph!, ownPixels(r.graph!).map((p) => Float32Array.from(p, (v) => (v - 127.5) / 127.5)));
  return quantizeGraph(r.graph!, ranges, { activations });
}

/**
 * A uint8 network with zero points at both ends: the input at zero point
 * 255 (its bytes all real ≤ 0), the first convolution ('conv_0') with a
 * uint8 kernel per tensor at zero point 255 (its biases refolded) and its
 * relu6 output on a scale that spans [0, 8] (the clamp at 6 inside the
 * range, not implied by it), and the second block's expansion at zero point
 * 40 (a relu the range does not imply).
 */
export function atTheEdges(g: Graph): Graph {
  const quant = (scale: number, zeroPoint: number): Quantization => ({ type: "uint8", scale: [Math.fround(scale)], zeroPoint: [zeroPoint] });
  const nodes = g.nodes.map((n): Node => {
    if (n.op === "input") return { ...n, quant: quant(1 / 127.5, 255) };
    if (n.id === "conv_0" && n.op === "conv") {
      const w = n.weights!;
      const k = w.kernel.data;
      const scale = Math.fround(Math.max(...Array.from(k, Math.abs)) / 255);
      const kernel = Int32Array.from(k, (v) => Math.min(255, Math.max(0, Math.round(v / scale) + 255)));
      const bias = Int32Array.from(w.bias!.data, (b) => Math.round(b / (scale / 127.5)));
      return { ...n, quant: quant(8 / 255, 0), weights: { ...w, quantized: { kernel: { shape: w.kernel.shape, data: kernel }, kernelQuant: quant(scale, 255), bias } } };
    }
    if (n.id === "bneck_2.expand") return { ...n, quant: quant(n.quant!.scale[0]! * 1.2, 40) };
    return n;
  });
  return { ...g, nodes };
}
