/**
 * The float64 reference evaluator: hand-computed cases for every op (padding
 * asymmetry, kernel layouts, BN, activations, pooling that excludes padded
 * cells, channel-major fc, stable softmax, batches), an independent naive
 * convolution over NCHW with an explicitly padded buffer as a property, a small
 * real MobileNet checked layer by layer, and the InternalErrors for broken graphs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { check } from "../src/index.js";
import { InternalError } from "../src/ir/diagnostics.js";
import type { Activation, BatchNormWeights, Graph, LayerWeights, Node, Pads, Shape, Tensor } from "../src/ir/graph.js";
import { runReference, traceReference } from "../src/ir/reference.js";
import { readExample } from "./helpers.js";

// ── helpers ────────────────────────────────────────────────────────────────

function graphOf(source: string, options: Parameters<typeof check>[1] = {}): Graph {
  const r = check(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined) throw new Error("no graph");
  return r.graph;
}

/** A one-layer (or few-layer) network on an HxWxC input. */
function net(input: string, ...layers: string[]): Graph {
  return graphOf(`network N {\n  input ${input}\n${layers.map((l) => `  ${l}\n`).join("")}}\n`);
}

function tensor(shape: readonly number[], values: readonly number[]): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  if (values.length !== n) throw new Error(`tensor ${shape.join("x")} needs ${n} values, got ${values.length}`);
  return { shape, data: Float32Array.from(values) };
}

const zeros = (n: number): number[] => new Array<number>(n).fill(0);

/** Replace the weights of the nodes named in `weights` (all other nodes unchanged). */
function withWeights(graph: Graph, weights: Readonly<Record<string, LayerWeights>>): Graph {
  return { ...graph, nodes: graph.nodes.map((n) => (n.id in weights ? ({ ...n, weights: weights[n.id] } as Node) : n)) };
}

/** The only node of a given op (fails when there are several). */
function only(graph: Graph, op: Node["op"]): Node {
  const found = graph.nodes.filter((n) => n.op === op);
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** 1, 2, 3, … — an H×W single-channel map in row-major order. */
const ramp = (n: number, start = 1): number[] => Array.from({ length: n }, (_, i) => start + i);

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(e)))) {
      throw new Error(`element ${i}: ${a} is not within ${tolerance} of ${e}`);
    }
  }
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTensor(rand: () => number, shape: readonly number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return { shape, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * rand()) };
}

function randomBn(rand: () => number, c: number): BatchNormWeights {
  return {
    gamma: randomTensor(rand, [c], 0.5, 1.5),
    beta: randomTensor(rand, [c]),
    mean: randomTensor(rand, [c]),
    variance: randomTensor(rand, [c], 0.1, 2),
    epsilon: 1e-3,
  };
}

/** Seeded weights for every weighted node: bn where norm=batchnorm, bias where norm=none and on fc. */
function randomWeights(graph: Graph, seed: number): Graph {
  const rand = random(seed);
  const shapes = new Map<string, Shape>(graph.nodes.map((n) => [n.id, n.shape!]));
  const nodes = graph.nodes.map((n): Node => {
    const input = n.inputs[0] === undefined ? undefined : shapes.get(n.inputs[0]);
    if (input === undefined) return n;
    const [h, w, c] = input;
    if (n.op === "conv" || n.op === "depthwise") {
      const out = n.shape![2];
      // Uniform with variance 1/fan-in, so that activations keep their scale through a deep network.
      const fanIn = (n.op === "conv" ? c : 1) * n.attrs.kernel[0] * n.attrs.kernel[1];
      const r = Math.sqrt(3 / fanIn);
      const kernel = randomTensor(rand, n.op === "conv" ? [out, c, ...n.attrs.kernel] : [out, 1, ...n.attrs.kernel], -r, r);
      const weights: LayerWeights = n.attrs.norm === "batchnorm" ? { kernel, bn: randomBn(rand, out) } : { kernel, bias: randomTensor(rand, [out]) };
      return { ...n, weights };
    }
    if (n.op === "fc") return { ...n, weights: { kernel: randomTensor(rand, [n.attrs.units, h * w * c], -0.1, 0.1), bias: randomTensor(rand, [n.attrs.units]) } };
    return n;
  });
  return { ...graph, nodes };
}

function randomInput(graph: Graph, batch: number, seed: number): Float64Array {
  const s = graph.nodes[0]!.shape!;
  const rand = random(seed);
  return Float64Array.from({ length: batch * s[0] * s[1] * s[2] }, () => 2 * rand() - 1);
}

// ── an independent convolution: NCHW, explicit zero-padded buffer ──────────

/**
 * Direct convolution written unlike the evaluator: the HWC input is transposed
 * to NCHW, copied into a buffer with the pads materialised as zeros, and each
 * output reads the padded buffer with no bounds tests. The epilogue folds
 * batch-norm into a scale, (v − mean)·(γ/√(var+ε)) + β, and clamps with
 * comparisons. Returns HWC.
 */
function naiveConv(node: Node, inShape: Shape, x: ArrayLike<number>): Float64Array {
  if (node.op !== "conv" && node.op !== "depthwise") throw new Error("not a convolution");
  const [H, W, C] = inShape;
  const [kh, kw] = node.attrs.kernel;
  const [sh, sw] = node.attrs.stride;
  const [top, left, bottom, right] = node.attrs.pads!;
  const depthwise = node.op === "depthwise";
  const weights = node.weights!;
  const Hp = H + top + bottom;
  const Wp = W + left + right;
  const padded: Float64Array[] = [];
  for (let c = 0; c < C; c++) {
    const plane = new Float64Array(Hp * Wp);
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) plane[(h + top) * Wp + (w + left)] = x[(h * W + w) * C + c]!;
    padded.push(plane);
  }
  const OH = Math.floor((Hp - kh) / sh) + 1;
  const OW = Math.floor((Wp - kw) / sw) + 1;
  expect([OH, OW]).toEqual([node.shape![0], node.shape![1]]);
  const OC = depthwise ? C : node.shape![2];
  const inPerGroup = depthwise ? 1 : C;
  const k = (o: number, i: number, r: number, s: number): number => weights.kernel.data[((o * inPerGroup + i) * kh + r) * kw + s]!;
  const outNchw: Float64Array[] = [];
  for (let o = 0; o < OC; o++) {
    const plane = new Float64Array(OH * OW);
    for (let p = 0; p < OH; p++) {
      for (let q = 0; q < OW; q++) {
        let acc = 0;
        for (let i = 0; i < inPerGroup; i++) {
          const src = padded[depthwise ? o : i]!;
          for (let r = 0; r < kh; r++) for (let s = 0; s < kw; s++) acc += src[(p * sh + r) * Wp + (q * sw + s)]! * k(o, i, r, s);
        }
        if (weights.bias) acc += weights.bias.data[o]!;
        if (weights.bn) {
          const bn = weights.bn;
          acc = (acc - bn.mean.data[o]!) * (bn.gamma.data[o]! / Math.sqrt(bn.variance.data[o]! + bn.epsilon)) + bn.beta.data[o]!;
        }
        const act: Activation = node.attrs.act;
        if (act !== "linear" && acc < 0) acc = 0;
        if (act === "relu6" && acc > 6) acc = 6;
        plane[p * OW + q] = acc;
      }
    }
    outNchw.push(plane);
  }
  const out = new Float64Array(OH * OW * OC);
  for (let o = 0; o < OC; o++) for (let p = 0; p < OH * OW; p++) out[p * OC + o] = outNchw[o]![p]!;
  return out;
}

// ── convolution, by hand ───────────────────────────────────────────────────

describe("conv", () => {
  const ones3x3 = { kernel: tensor([1, 1, 3, 3], new Array<number>(9).fill(1)) };
  const topLeftOnly = { kernel: tensor([1, 1, 3, 3], [1, 0, 0, 0, 0, 0, 0, 0, 0]) };
  const linear = "conv 3x3 1 stride=2 norm=none act=linear";

  it("uses TF SAME's asymmetric pads [0,0,1,1] for a stride-2 3x3 window on 4x4", () => {
    const g = net("4x4x1", linear);
    expect(only(g, "conv").attrs).toMatchObject({ pads: [0, 0, 1, 1] });
    const x = Float64Array.from(ramp(16)); // 1..16, row-major
    // Window sums of rows/cols {0,1,2}, {2,3}: 1+2+3+5+6+7+9+10+11, 3+4+7+8+11+12, 9+10+11+13+14+15, 11+12+15+16.
    expect(Array.from(runReference(withWeights(g, { conv_0: ones3x3 }), x))).toEqual([54, 45, 72, 54]);
    // A kernel that reads only its top-left tap picks x[2·oh − top, 2·ow − left]: the even cells.
    expect(Array.from(runReference(withWeights(g, { conv_0: topLeftOnly }), x))).toEqual([1, 3, 9, 11]);
  });

  it("follows the recorded pads: the same node with symmetric pads [1,1,1,1] gives other numbers", () => {
    const g = net("4x4x1", linear);
    const conv = only(g, "conv");
    if (conv.op !== "conv") throw new Error("unreachable");
    const symmetric = { ...g, nodes: g.nodes.map((n) => (n === conv ? { ...conv, attrs: { ...conv.attrs, pads: [1, 1, 1, 1] as const } } : n)) };
    const x = Float64Array.from(ramp(16));
    // Rows/cols {−1,0,1} and {1,2,3}: 1+2+5+6, 2+3+4+6+7+8, 5+6+9+10+13+14, 6+7+8+10+11+12+14+15+16.
    expect(Array.from(runReference(withWeights(symmetric, { conv_0: ones3x3 }), x))).toEqual([14, 30, 57, 99]);
    // The top-left tap now reads the padding except at (1, 1).
    expect(Array.from(runReference(withWeights(symmetric, { conv_0: topLeftOnly }), x))).toEqual([0, 0, 0, 6]);
  });

  it("pads [1,1,1,1] on an odd 5x5 input with stride 2", () => {
    const g = net("5x5x1", linear);
    expect(only(g, "conv").attrs).toMatchObject({ pads: [1, 1, 1, 1] });
    expect(only(g, "conv").shape).toEqual([3, 3, 1]);
    const y = runReference(withWeights(g, { conv_0: ones3x3 }), Float64Array.from(ramp(25)));
    // Row blocks {0,1}, {1,2,3}, {3,4} × the same column blocks, of the 5x5 ramp 1..25.
    expect(Array.from(y)).toEqual([16, 33, 28, 69, 117, 87, 76, 123, 88]);
  });

  it("reads the kernel as OIHW [out, in, kh, kw]", () => {
    // 1x1: out[oc] = Σ_ic K[oc, ic]·x[ic].
    const pw = net("1x2x2", "pw 2 norm=none act=linear");
    const y1 = runReference(withWeights(pw, { pw_0: { kernel: tensor([2, 2, 1, 1], [1, 10, 100, 1000]) } }), Float64Array.from([2, 3, -1, 1]));
    expect(Array.from(y1)).toEqual([32, 3200, 9, 900]);

    // 3x3 with a single tap K[0, 1, 0, 2] (out 0, in 1, top row, right column): y[h, w, 0] = x[h − 1, w + 1, 1].
    const g = net("3x3x2", "conv 3x3 2 norm=none act=linear");
    const k = zeros(2 * 2 * 3 * 3);
    k[((0 * 2 + 1) * 3 + 0) * 3 + 2] = 1;
    const x = Float64Array.from({ length: 18 }, (_, i) => (i % 2 === 0 ? -(i + 1) : i + 1)); // channel 1 positive, channel 0 negative
    const y = runReference(withWeights(g, { conv_0: { kernel: tensor([2, 2, 3, 3], k) } }), x);
    const at = (h: number, w: number, c: number): number => (h < 0 || h > 2 || w < 0 || w > 2 ? 0 : x[(h * 3 + w) * 2 + c]!);
    const expected: number[] = [];
    for (let h = 0; h < 3; h++) for (let w = 0; w < 3; w++) expected.push(at(h - 1, w + 1, 1), 0);
    expect(Array.from(y)).toEqual(expected);
    expect(expected.filter((v) => v !== 0)).toEqual([4, 6, 10, 12]); // x[0,1,1], x[0,2,1], x[1,1,1], x[1,2,1]
  });

  it("adds the bias before batch-norm: γ·(x + b − mean)/√(var + ε) + β", () => {
    const g = net("1x1x2", "pw 2 act=linear");
    const bn: BatchNormWeights = {
      gamma: tensor([2], [2, 0.5]),
      beta: tensor([2], [1, -1]),
      mean: tensor([2], [3, -2]),
      variance: tensor([2], [3, 8]), // √(var + 1) = 2, 3
      epsilon: 1,
    };
    const identity = tensor([2, 2, 1, 1], [1, 0, 0, 1]);
    const x = Float64Array.from([7, 4]);
    // 2·(7 − 3)/2 + 1 = 5;  0.5·(4 + 2)/3 − 1 = 0.
    expect(Array.from(runReference(withWeights(g, { pw_0: { kernel: identity, bn } }), x))).toEqual([5, 0]);
    // With bias [1, 2]: 2·(8 − 3)/2 + 1 = 6;  0.5·(6 + 2)/3 − 1 = 1/3 (bias after BN would give 0 + 2 = 2).
    expectClose(runReference(withWeights(g, { pw_0: { kernel: identity, bn, bias: tensor([2], [1, 2]) } }), x), [6, 1 / 3]);
    // A realistic ε: the formula exactly, in float64 on the float32 values.
    const bn2 = { ...bn, epsilon: 1e-3 };
    const y = runReference(withWeights(g, { pw_0: { kernel: identity, bn: bn2 } }), x);
    const f = (v: number, c: number): number =>
      (bn.gamma.data[c]! * (v - bn.mean.data[c]!)) / Math.sqrt(bn.variance.data[c]! + 1e-3) + bn.beta.data[c]!;
    expect(Array.from(y)).toEqual([f(7, 0), f(4, 1)]);
  });

  it("applies relu, relu6 and linear after the bias", () => {
    const x = Float64Array.from([-3, 0, 2.5, 6, 7.5, 100]);
    const run = (act: string): number[] =>
      Array.from(runReference(withWeights(net("6x1x1", `pw 1 norm=none act=${act}`), { pw_0: { kernel: tensor([1, 1, 1, 1], [1]), bias: tensor([1], [0]) } }), x));
    expect(run("relu6")).toEqual([0, 0, 2.5, 6, 6, 6]);
    expect(run("relu")).toEqual([0, 0, 2.5, 6, 7.5, 100]);
    expect(run("linear")).toEqual([-3, 0, 2.5, 6, 7.5, 100]);
    // The bias comes before the clamp: −3 + 4 = 1, 7.5 + 4 → 6.
    const biased = runReference(withWeights(net("6x1x1", "pw 1 norm=none act=relu6"), { pw_0: { kernel: tensor([1, 1, 1, 1], [1]), bias: tensor([1], [4]) } }), x);
    expect(Array.from(biased)).toEqual([1, 4, 6, 6, 6, 6]);
  });
});

describe("the MobileNetV3 activations, add and mul", () => {
  const x = Float64Array.from([-4, -3, -1.5, 0, 1.5, 3, 4]);
  const run = (act: string): number[] =>
    Array.from(runReference(withWeights(net("7x1x1", `pw 1 norm=none act=${act}`), { pw_0: { kernel: tensor([1, 1, 1, 1], [1]), bias: tensor([1], [0]) } }), x));

  it("h-swish x·relu6(x+3)/6, hard sigmoid relu6(x+3)/6, the logistic function", () => {
    expectClose(run("hswish"), [0, 0, -1.5 * 1.5 / 6, 0, 1.5 * 4.5 / 6, 3, 4]);
    expectClose(run("hsigmoid"), [0, 0, 0.25, 0.5, 0.75, 1, 1]);
    expectClose(run("sigmoid"), [...x].map((v) => 1 / (1 + Math.exp(-v))));
  });

  it("a residual adds the tensor from before its body, elementwise", () => {
    // y = x + relu(x·2): with x = [−1, 0.5, 3] → [−1, 1.5, 9].
    const g = withWeights(net("3x1x1", "pw 1 norm=none act=linear", "residual {", "  pw 1 norm=none act=relu", "}"), {
      pw_0: { kernel: tensor([1, 1, 1, 1], [1]), bias: tensor([1], [0]) },
      "res_1.pw_0": { kernel: tensor([1, 1, 1, 1], [2]), bias: tensor([1], [0]) },
    });
    expect(Array.from(runReference(g, Float64Array.from([-1, 0.5, 3])))).toEqual([-1, 1.5, 9]);
  });

  it("SE scales each channel by its gate, broadcast over H and W", () => {
    // A 2x1x2 map; squeeze and excite chosen so that the gate is hsigmoid(mean of channel c · w_c).
    const g = withWeights(net("2x1x2", "se 1 gate=hsigmoid"), {
      "se_0.squeeze": { kernel: tensor([2, 2, 1, 1], [1, 0, 0, 1]), bias: tensor([2], [0, 0]) },
      "se_0.excite": { kernel: tensor([2, 2, 1, 1], [1, 0, 0, 2]), bias: tensor([2], [0, 0]) },
    });
    const input = [1, 2, 3, 4]; // (h, c): channel 0 = [1, 3], channel 1 = [2, 4]
    const gate = [Math.min(Math.max(2 + 3, 0), 6) / 6, Math.min(Math.max(2 * 3 + 3, 0), 6) / 6]; // means 2 and 3
    expectClose(Array.from(runReference(g, Float64Array.from(input))), [1 * gate[0]!, 2 * gate[1]!, 3 * gate[0]!, 4 * gate[1]!]);
  });
});

describe("depthwise", () => {
  it("convolves each channel with its own [C, 1, kh, kw] kernel", () => {
    const g = net("3x3x2", "dw 3x3 norm=none act=linear");
    expect(only(g, "depthwise").attrs).toMatchObject({ pads: [1, 1, 1, 1] });
    // Channel 0: all ones (window sums). Channel 1: a single tap K[1, 0, 0, 1] (top row, middle) → y = x[h − 1, w].
    const k = [...new Array<number>(9).fill(1), 0, 1, 0, 0, 0, 0, 0, 0, 0];
    const x = new Float64Array(18);
    for (let p = 0; p < 9; p++) {
      x[p * 2] = p + 1; // channel 0: 1..9
      x[p * 2 + 1] = 10 * (p + 1); // channel 1: 10..90
    }
    const y = runReference(withWeights(g, { dw_0: { kernel: tensor([2, 1, 3, 3], k) } }), x);
    const ch = (c: number): number[] => Array.from(y).filter((_, i) => i % 2 === c);
    expect(ch(0)).toEqual([12, 21, 16, 27, 45, 33, 24, 39, 28]);
    expect(ch(1)).toEqual([0, 0, 0, 10, 20, 30, 40, 50, 60]);
  });

  it("applies batch-norm and relu6 per channel", () => {
    const g = net("1x1x2", "dw 1x1 act=relu6");
    const bn: BatchNormWeights = { gamma: tensor([2], [1, 3]), beta: tensor([2], [0, 0]), mean: tensor([2], [0, 0]), variance: tensor([2], [0, 0]), epsilon: 1 };
    const y = runReference(withWeights(g, { dw_0: { kernel: tensor([2, 1, 1, 1], [-1, 2]), bn } }), Float64Array.from([5, 5]));
    expect(Array.from(y)).toEqual([0, 6]); // −5 → 0; 3·10 = 30 → 6
  });
});

// ── pooling ────────────────────────────────────────────────────────────────

describe("pooling", () => {
  it("average pooling counts only in-bounds cells (3x3 stride 1 SAME on 2x2: mean of 4, not sum/9)", () => {
    const g = net("2x2x1", "avgpool 3x3 stride=1 pad=same");
    expect(only(g, "avgpool").attrs).toMatchObject({ pads: [1, 1, 1, 1] });
    expect(Array.from(runReference(g, Float64Array.from([1, 2, 3, 4])))).toEqual([2.5, 2.5, 2.5, 2.5]);
  });

  it("average pooling on 3x3: corners of 4, edges of 6, the centre of 9", () => {
    const y = runReference(net("3x3x1", "avgpool 3x3 stride=1 pad=same"), Float64Array.from(ramp(9)));
    expect(Array.from(y)).toEqual([12 / 4, 21 / 6, 16 / 4, 27 / 6, 45 / 9, 33 / 6, 24 / 4, 39 / 6, 28 / 4]);
  });

  it("global average pooling is the mean over H×W per channel", () => {
    const y = runReference(net("2x2x2", "avgpool global"), Float64Array.from([1, 10, 2, 20, 3, 30, 6, 60]));
    expect(Array.from(y)).toEqual([3, 30]);
  });

  it("max pooling over non-overlapping windows", () => {
    const y = runReference(net("4x4x1", "maxpool 2x2"), Float64Array.from([1, 5, 2, 0, 3, 4, 8, 7, 9, 9, 0, 1, -1, 2, 3, 2]));
    expect(Array.from(y)).toEqual([5, 8, 9, 3]);
  });

  it("max pooling ignores padded cells (an all-negative map stays negative)", () => {
    const g = net("4x4x1", "maxpool 3x3 stride=2 pad=same");
    expect(only(g, "maxpool").attrs).toMatchObject({ pads: [0, 0, 1, 1] });
    const y = runReference(g, Float64Array.from(ramp(16).map((v) => -v)));
    expect(Array.from(y)).toEqual([-1, -3, -9, -11]);
  });

  it("pools each channel separately", () => {
    const y = runReference(net("2x2x2", "maxpool 2x2"), Float64Array.from([1, -1, 4, -4, 2, -2, 3, -3]));
    expect(Array.from(y)).toEqual([4, -1]);
  });
});

// ── fc, softmax, dropout ───────────────────────────────────────────────────

describe("fc", () => {
  it("flattens channel-major: feature c·H·W + h·W + w, reading HWC activations", () => {
    const g = net("2x2x3", "fc 2");
    const x = Float64Array.from(ramp(12)); // x[h, w, c] = (h·2 + w)·3 + c + 1
    const k = zeros(2 * 12);
    // Row 0: one-hot at feature 9 = c 2, h 0, w 1 → x[0, 1, 2] = 6 (HWC index 5; HWC-order flattening would read 10).
    k[9] = 1;
    // Row 1: weight i on feature i: Σ_{c,p} (4c + p)·(3p + c + 1) = 48 + 158 + 300 = 506 (HWC order would give 572).
    for (let i = 0; i < 12; i++) k[12 + i] = i;
    const y = runReference(withWeights(g, { fc_0: { kernel: tensor([2, 12], k), bias: tensor([2], [0.5, -1]) } }), x);
    expect(Array.from(y)).toEqual([6.5, 505]);
  });

  it("on a 1x1 input the feature index is the channel", () => {
    const g = net("1x1x3", "fc 1");
    const y = runReference(withWeights(g, { fc_0: { kernel: tensor([1, 3], [1, 10, 100]), bias: tensor([1], [0]) } }), Float64Array.from([1, 2, 3]));
    expect(Array.from(y)).toEqual([321]);
  });
});

describe("softmax and dropout", () => {
  it("softmax sums to 1 and is stable for large logits", () => {
    const y = runReference(net("1x1x3", "softmax"), Float64Array.from([1000, 1001, 1002]));
    const z = 1 + Math.exp(-1) + Math.exp(-2);
    expectClose(y, [Math.exp(-2) / z, Math.exp(-1) / z, 1 / z], 1e-15);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(Math.abs(y.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-15);
    // Huge negatives too: no 0/0.
    expectClose(runReference(net("1x1x2", "softmax"), Float64Array.from([-1e4, -1e4])), [0.5, 0.5], 0);
  });

  it("softmax runs over channels at each position", () => {
    const y = runReference(net("2x1x2", "softmax"), Float64Array.from([0, 0, 1000, 1001]));
    expectClose(y, [0.5, 0.5, 1 / (1 + Math.E), Math.E / (1 + Math.E)], 1e-15);
  });

  it("dropout is the identity", () => {
    const x = Float64Array.from([-1, 2.5, 3, 0]);
    expect(Array.from(runReference(net("2x2x1", "dropout 0.5"), x))).toEqual(Array.from(x));
  });
});

// ── batches and traces ─────────────────────────────────────────────────────

describe("batches and traces", () => {
  const g = randomWeights(net("6x5x3", "conv 3x3 4 stride=2", "separable 6 act=relu6", "dropout 0.1", "avgpool global", "fc 5", "softmax"), 11);

  it("batch 2 is the two single results concatenated", () => {
    const x = randomInput(g, 2, 5);
    const half = x.length / 2;
    const both = runReference(g, x, 2);
    const first = runReference(g, x.subarray(0, half));
    const second = runReference(g, x.subarray(half));
    expect(both).toHaveLength(10);
    expect(Array.from(both)).toEqual([...first, ...second]);
  });

  it("takes float32 input as its exact values", () => {
    const x = Float32Array.from(randomInput(g, 1, 6));
    expect(Array.from(runReference(g, x))).toEqual(Array.from(runReference(g, Float64Array.from(x))));
  });

  it("traces every node; the last entry is runReference's result, the input entry a copy", () => {
    const x = randomInput(g, 2, 7);
    const trace = traceReference(g, x, 2);
    expect([...trace.keys()]).toEqual(g.nodes.map((n) => n.id));
    for (const n of g.nodes) expect(trace.get(n.id)).toHaveLength(2 * n.shape![0] * n.shape![1] * n.shape![2]);
    expect(Array.from(trace.get(g.nodes.at(-1)!.id)!)).toEqual(Array.from(runReference(g, x, 2)));
    expect(trace.get("input")).not.toBe(x);
    expect(Array.from(trace.get(g.nodes[0]!.id)!)).toEqual(Array.from(x));
  });

  it("does not mutate its input", () => {
    const x = randomInput(g, 1, 8);
    const copy = Float64Array.from(x);
    runReference(g, x);
    expect(x).toEqual(copy);
  });
});

// ── against the naive convolution ──────────────────────────────────────────

describe("agreement with an independent naive convolution", () => {
  const config = fc.record({
    op: fc.constantFrom("conv", "dw"),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    c: fc.integer({ min: 1, max: 6 }),
    // Past 8 and 16, so that conv's blocks of eight output channels and the rest are both met.
    out: fc.integer({ min: 1, max: 19 }),
    kh: fc.integer({ min: 1, max: 5 }),
    kw: fc.integer({ min: 1, max: 5 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    pad: fc.constantFrom("same", "same", "valid"),
    norm: fc.constantFrom("batchnorm", "none"),
    act: fc.constantFrom<Activation>("relu", "relu6", "linear"),
    bias: fc.boolean(),
    batch: fc.integer({ min: 1, max: 2 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });

  it("conv and depthwise with random kernels, strides, pads and epilogues agree to 1e-12", () => {
    fc.assert(
      fc.property(config, (k) => {
        // pad=valid needs the window to fit.
        const h = k.pad === "valid" ? Math.max(k.h, k.kh) : k.h;
        const w = k.pad === "valid" ? Math.max(k.w, k.kw) : k.w;
        const layer = k.op === "conv" ? `conv ${k.kh}x${k.kw} ${k.out}` : `dw ${k.kh}x${k.kw}`;
        const g0 = net(`${h}x${w}x${k.c}`, `${layer} stride=${k.sh}x${k.sw} pad=${k.pad} norm=${k.norm} act=${k.act}`);
        const node = g0.nodes[1]!;
        const out = node.shape![2];
        const rand = random(k.seed);
        const kernel = randomTensor(rand, k.op === "conv" ? [out, k.c, k.kh, k.kw] : [out, 1, k.kh, k.kw]);
        const weights: LayerWeights = {
          kernel,
          ...(k.bias || k.norm === "none" ? { bias: randomTensor(rand, [out]) } : {}),
          ...(k.norm === "batchnorm" ? { bn: randomBn(rand, out) } : {}),
        };
        const g = withWeights(g0, { [node.id]: weights });
        const x = randomInput(g, k.batch, k.seed ^ 0x5bd1e995);
        const y = runReference(g, x, k.batch);
        const inSize = h * w * k.c;
        const expected = Array.from({ length: k.batch }, (_, b) => [...naiveConv(g.nodes[1]!, [h, w, k.c], x.subarray(b * inSize, (b + 1) * inSize))]).flat();
        expectClose(y, expected);
      }),
      { seed: 20260501, numRuns: 100 },
    );
  });

  it("every convolution of a small real MobileNetV1 agrees, layer by layer", () => {
    const g = randomWeights(graphOf(readExample("mobilenet_v1.mn"), { alpha: 0.25, resolution: 64 }), 3);
    const trace = traceReference(g, randomInput(g, 1, 4));
    const shapes = new Map(g.nodes.map((n) => [n.id, n.shape!]));
    let checked = 0;
    for (const n of g.nodes) {
      if (n.op !== "conv" && n.op !== "depthwise") continue;
      const input = n.inputs[0]!;
      expectClose(trace.get(n.id)!, naiveConv(n, shapes.get(input)!, trace.get(input)!));
      checked++;
    }
    expect(checked).toBe(27);
    const probs = trace.get(g.nodes.at(-1)!.id)!;
    expect(probs).toHaveLength(1000);
    expect(probs.every((p) => p > 0 && p < 1)).toBe(true);
    // The comparison meant something: the last convolution is neither all zero nor saturated.
    const last = trace.get("sep_13.pw")!;
    expect(last.some((v) => v > 0)).toBe(true);
    expect(last.every((v) => v < 1e3)).toBe(true);
    expect(Math.abs(probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
  });
});

// ── broken graphs ──────────────────────────────────────────────────────────

describe("broken graphs throw InternalError", () => {
  const g = net("4x4x2", "conv 3x3 3 stride=2", "avgpool global", "fc 2");
  const good = randomWeights(g, 1);
  const x = new Float64Array(32);
  const replace = (graph: Graph, id: string, change: (n: Node) => Node): Graph => ({ ...graph, nodes: graph.nodes.map((n) => (n.id === id ? change(n) : n)) });
  const withConv = (w: Partial<LayerWeights>): Graph => replace(good, "conv_0", (n) => ({ ...n, weights: { ...(n as { weights: LayerWeights }).weights, ...w } }) as Node);
  const fails = (graph: Graph, message: RegExp, input: Float64Array = x, batch?: number): void => {
    expect(() => runReference(graph, input, batch)).toThrow(InternalError);
    expect(() => runReference(graph, input, batch)).toThrow(message);
  };

  it("accepts the well-formed graph", () => {
    expect(runReference(good, x)).toHaveLength(2);
  });

  it("an input of the wrong length or a bad batch", () => {
    fails(good, /input has 31 values; batch 1 of 4x4x2 needs 32/, new Float64Array(31));
    fails(good, /batch 2 of 4x4x2 needs 64/, x, 2);
    fails(good, /batch must be a positive integer/, x, 0);
    fails(good, /batch must be a positive integer/, x, 1.5);
  });

  it("a weighted node without weights", () => {
    fails(g, /conv 'conv_0' has no weights/);
    fails(replace(good, "fc_1", (n) => ({ ...n, weights: undefined }) as Node), /fc 'fc_1' has no weights/);
  });

  it("tensors that do not fit the node", () => {
    fails(withConv({ kernel: tensor([3, 2, 3, 2], zeros(36)) }), /'conv_0' kernel has shape \[3, 2, 3, 2\], expected \[3, 2, 3, 3\]/);
    fails(withConv({ kernel: tensor([3, 1, 3, 3], zeros(27)) }), /expected \[3, 2, 3, 3\]/);
    fails(withConv({ kernel: { shape: [3, 2, 3, 3], data: new Float32Array(53) } }), /kernel has 53 values/);
    fails(withConv({ bias: tensor([2], [0, 0]) }), /'conv_0' bias has shape \[2\], expected \[3\]/);
    const bn = (good.nodes[1] as { weights: LayerWeights }).weights.bn!;
    fails(withConv({ bn: { ...bn, variance: tensor([4], zeros(4)) } }), /'conv_0' bn.variance has shape \[4\], expected \[3\]/);
    fails(withConv({ bn: { ...bn, epsilon: Number.NaN } }), /epsilon NaN/);
    fails(replace(good, "fc_1", (n) => ({ ...n, weights: { kernel: tensor([2, 3], zeros(6)) } }) as Node), /fc 'fc_1' has no bias/);
    fails(replace(good, "fc_1", (n) => ({ ...n, weights: { kernel: tensor([2, 4], zeros(8)), bias: tensor([2], [0, 0]) } }) as Node), /kernel has shape \[2, 4\], expected \[2, 3\]/);
  });

  it("missing or inconsistent shapes and pads", () => {
    fails(replace(good, "avgpool_0", (n) => ({ ...n, shape: undefined })), /'avgpool_0' has no shape/);
    fails(replace(good, "input", (n) => ({ ...n, shape: undefined })), /'input' has no shape/);
    const conv = good.nodes[1]!;
    if (conv.op !== "conv") throw new Error("expected the conv");
    const withPads = (pads: Pads | undefined): Graph => replace(good, "conv_0", () => ({ ...conv, attrs: { ...conv.attrs, pads } }));
    fails(withPads(undefined), /'conv_0' has no pads/);
    fails(withPads([3, 3, 3, 3]), /gives 4x4, but the node's shape is 2x2x3/);
    fails(withPads([0, 0, -1, 1]), /'conv_0' has malformed pads/);
    fails(replace(good, "fc_1", (n) => ({ ...n, shape: [1, 1, 3] as const })), /'fc_1' has its output shape 1x1x3, expected 1x1x2/);
  });

  it("a graph that does not start with its input, or a node reading a later one", () => {
    fails({ ...good, nodes: good.nodes.slice(1) }, /the first node must be the input/);
    fails(replace(good, "avgpool_0", (n) => ({ ...n, inputs: ["fc_1"] })), /'avgpool_0' reads 'fc_1', which is not an earlier node/);
    fails(replace(good, "avgpool_0", (n) => ({ ...n, inputs: [] })), /expected 1 input, found 0/);
    fails(replace(good, "avgpool_0", (n) => ({ ...n, id: "conv_0" })), /two nodes are named 'conv_0'/);
  });
});
