/**
 * TFLite import by dataflow, with quantized weights: the trained uint8
 * MobileNetV2 1.0-224 and MobileNetV1 0.25 (../shared/data/*_quant) imported,
 * dequantized and run in float against the TFLite interpreter's outputs; the
 * float MobileNetV1 refused when the network differs from it; and hand-built
 * files for each rule: activations folded or read from quantization ranges,
 * PAD + VALID read as SAME, per-channel int8, FLOAT16 behind DEQUANTIZE, and
 * every operator accounted for.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { isWeighted, type Graph, type Node } from "../src/ir/graph.js";
import { runReference } from "../src/ir/reference.js";
import { constantValues, halfToFloat, readTflite } from "../src/weights/tflite.js";
import { readExample, shared } from "./helpers.js";
import { ACT, activationOptions, conv2dOptions, depthwiseOptions, OP, OPTIONS, PAD, pool2dOptions, reducerOptions, TfliteNet, toHalf, TYPE } from "./tflite-builder.js";
import { haveShared } from "./optional.js";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function imported(source: string, bytes: Uint8Array, options: CompileOptions = {}): Graph {
  const r = compile(source, { weights: bytes, weightsFile: "t.tflite", fuseBatchNorm: false, ...options });
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return r.graph!;
}

/** Every diagnostic of a compile that must fail, as `MNxxxx message`. */
function diagnosticsOf(source: string, bytes: Uint8Array, options: CompileOptions = {}): string[] {
  const r = compile(source, { weights: bytes, weightsFile: "t.tflite", fuseBatchNorm: false, ...options });
  expect(r.graph).toBeUndefined();
  return r.diagnostics.map((d) => `${d.code} ${d.message}`);
}

/** The per-layer diagnostics of a compile that must fail: those after the summary of what the file looks like (MN4011), when there is one. */
function refused(source: string, bytes: Uint8Array, options: CompileOptions = {}): string[] {
  const all = diagnosticsOf(source, bytes, options);
  return all[0]?.startsWith("MN4011 ") === true ? all.slice(1) : all;
}

/** The summary that comes first, or undefined. */
function summaryOf(source: string, bytes: Uint8Array, options: CompileOptions = {}): string | undefined {
  const first = diagnosticsOf(source, bytes, options)[0];
  return first?.startsWith("MN4011 ") === true ? first : undefined;
}

const node = (g: Graph, id: string): Node => {
  const n = g.nodes.find((x) => x.id === id);
  if (n === undefined) throw new Error(`no node '${id}' in ${g.nodes.map((x) => x.id).join(", ")}`);
  return n;
};
const weightsOf = (g: Graph, id: string) => (node(g, id) as Extract<Node, { op: "conv" | "depthwise" | "fc" }>).weights!;

/** Deterministic values in [−1, 1). */
function values(n: number, seed: number): number[] {
  let s = (seed * 2654435761 + 1) >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** A float CONV_2D (OHWI weights, bias) from `x` into a new tensor. */
function conv(net: TfliteNet, x: number, name: string, o: { in: number; out: number; k?: number; stride?: number; padding?: number; act?: number; outShape: readonly number[]; seed?: number }): number {
  const k = o.k ?? 1;
  const w = net.constant(`${name}/weights`, [o.out, k, k, o.in], TYPE.FLOAT32, values(o.out * k * k * o.in, o.seed ?? 1));
  const b = net.constant(`${name}/bias`, [o.out], TYPE.FLOAT32, values(o.out, (o.seed ?? 1) + 100));
  const y = net.tensor(name, o.outShape);
  net.op(OP.CONV_2D, [x, w, b], [y], OPTIONS.Conv2D, conv2dOptions({ padding: o.padding ?? PAD.SAME, strideH: o.stride ?? 1, strideW: o.stride ?? 1, activation: o.act ?? ACT.NONE }));
  return y;
}

/** A one-input operator without options (RELU, RELU6, HARD_SWISH, LOGISTIC, TANH, DEQUANTIZE, …). */
function unary(net: TfliteNet, code: number, x: number, name: string, shape: readonly number[]): number {
  const y = net.tensor(name, shape);
  net.op(code, [x], [y]);
  return y;
}

/** A network with one 3x3 stride-2 convolution on 8x8x3 (4 channels), and what follows it. */
const oneConv = (act: string, rest = "") => `network T {\n  input 8x8x3\n  conv 3x3 4 stride=2 act=${act}\n${rest}}\n`;

// ---------------------------------------------------------------------------
// Hand-built files
// ---------------------------------------------------------------------------

describe("TFLite dataflow import on hand-built files", () => {
  it("follows the tensors through RELU, pools, MEAN, RESHAPE, FULLY_CONNECTED and SOFTMAX, with OHWI/1HWC converted", () => {
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3]);
    const c0 = conv(net, x, "c0", { in: 3, out: 8, k: 3, stride: 2, outShape: [1, 4, 4, 8] });
    const r0 = unary(net, OP.RELU, c0, "c0/relu", [1, 4, 4, 8]);
    const p = net.tensor("pool", [1, 2, 2, 8]);
    net.op(OP.MAX_POOL_2D, [r0], [p], OPTIONS.Pool2D, pool2dOptions({ padding: PAD.VALID, filter: 2 }));
    const dwW = net.constant("dw/weights", [1, 3, 3, 8], TYPE.FLOAT32, values(72, 7));
    const dwB = net.constant("dw/bias", [8], TYPE.FLOAT32, values(8, 8));
    const dw = net.tensor("dw", [1, 2, 2, 8]);
    net.op(OP.DEPTHWISE_CONV_2D, [p, dwW, dwB], [dw], OPTIONS.DepthwiseConv2D, depthwiseOptions({ activation: ACT.RELU6 }));
    const pw = conv(net, dw, "pw", { in: 8, out: 16, outShape: [1, 2, 2, 16], seed: 3 });
    const axes = net.constant("axes", [2], TYPE.INT32, [1, 2]);
    const mean = net.tensor("mean", [1, 16]);
    net.op(OP.MEAN, [pw, axes], [mean], OPTIONS.Reducer, reducerOptions(false));
    const fcW = net.constant("fc/weights", [5, 16], TYPE.FLOAT32, values(80, 9));
    const fcB = net.constant("fc/bias", [5], TYPE.FLOAT32, values(5, 10));
    const logits = net.tensor("logits", [1, 5]);
    net.op(OP.FULLY_CONNECTED, [mean, fcW, fcB], [logits]);
    const shape = net.constant("shape", [2], TYPE.INT32, [1, 5]);
    const reshaped = net.tensor("reshaped", [1, 5]);
    net.op(OP.RESHAPE, [logits, shape], [reshaped]);
    const probs = net.tensor("probs", [1, 5]);
    net.op(OP.SOFTMAX, [reshaped], [probs], OPTIONS.Softmax, (b) => {
      b.startObject(1);
      b.addFieldFloat32(0, 1, 0);
      return b.endObject();
    });
    const bytes = net.build([x], [probs]);
    const source = "network T {\n  input 8x8x3\n  conv 3x3 8 stride=2 act=relu\n  maxpool 2x2\n  dw 3x3 act=relu6\n  pw 16 act=linear\n  avgpool global\n  dropout 0.1\n  fc 5\n  softmax\n}\n";
    const g = imported(source, bytes);
    // OHWI [8,3,3,3] → OIHW: element [o, i, h, w] is the file's [o, h, w, i].
    const k = weightsOf(g, "conv_0").kernel;
    const file = values(8 * 3 * 3 * 3, 1);
    expect(k.shape).toEqual([8, 3, 3, 3]);
    expect(k.data[((5 * 3 + 2) * 3 + 1) * 3 + 0]).toBe(Math.fround(file[((5 * 3 + 1) * 3 + 0) * 3 + 2]!));
    // 1HWC [1,3,3,8] → C1HW.
    const d = weightsOf(g, "dw_1").kernel;
    expect(d.shape).toEqual([8, 1, 3, 3]);
    expect(d.data[6 * 9 + 2 * 3 + 1]).toBe(Math.fround(values(72, 7)[(2 * 3 + 1) * 8 + 6]!));
    expect(weightsOf(g, "fc_3").kernel.shape).toEqual([5, 16]);
    // The probabilities sum to 1: the whole chain runs.
    const out = runReference(g, Float32Array.from(values(192, 11)));
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // Without the spec's softmax the file's SOFTMAX is an operator no layer accounts for.
    expect(refused(source.replace("  softmax\n", ""), bytes)).toEqual([
      "MN4009 the weights file's SOFTMAX #8 (output 'probs') has no counterpart in the network: it reads 'reshaped' (the value of 'fc_3'), and no layer does that next",
    ]);
  });

  it("names an operator the network does not account for, with its index and output", () => {
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3]);
    const c0 = conv(net, x, "c0", { in: 3, out: 4, k: 3, stride: 2, act: ACT.RELU6, outShape: [1, 4, 4, 4] });
    const p = net.tensor("extra/pool", [1, 2, 2, 4]);
    net.op(OP.MAX_POOL_2D, [c0], [p], OPTIONS.Pool2D, pool2dOptions({ padding: PAD.VALID, filter: 2 }));
    const c1 = conv(net, p, "c1", { in: 4, out: 6, outShape: [1, 2, 2, 6], seed: 2 });
    const bytes = net.build([x], [c1]);
    expect(refused(oneConv("relu6", "  pw 6 act=linear\n"), bytes)).toEqual([
      "MN4009 the weights file's MAX_POOL_2D #1 (output 'extra/pool') has no counterpart in the network: 'pw_1' reads 'c0' (the value of 'conv_0'), which the file passes through MAX_POOL_2D #1 before CONV_2D #2 (c1/weights)",
    ]);
    expect(imported(oneConv("relu6", "  maxpool 2x2\n  pw 6 act=linear\n"), bytes).nodes.filter(isWeighted).length).toBe(2);

    // An operator after the network's last layer.
    const tail = new TfliteNet();
    const xi = tail.tensor("input", [1, 8, 8, 3]);
    const y = unary(tail, OP.TANH, conv(tail, xi, "c0", { in: 3, out: 4, k: 3, stride: 2, outShape: [1, 4, 4, 4] }), "c0/tanh", [1, 4, 4, 4]);
    expect(refused(oneConv("linear"), tail.build([xi], [y]))).toEqual([
      "MN4009 the weights file's TANH #1 (output 'c0/tanh') has no counterpart in the network: it reads 'c0' (the value of 'conv_0'), and no layer does that next",
    ]);
  });

  it("names a weighted layer no operator provides", () => {
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3]);
    const c0 = conv(net, x, "c0", { in: 3, out: 4, k: 3, stride: 2, act: ACT.RELU6, outShape: [1, 4, 4, 4] });
    const c1 = conv(net, c0, "c1", { in: 4, out: 6, outShape: [1, 4, 4, 6], seed: 2 });
    const bytes = net.build([x], [c1]);
    // An extra pointwise layer in the middle: the file's next CONV_2D is the network's layer after it.
    expect(refused(oneConv("relu6", "  pw 4 act=relu6\n  pw 6 act=linear\n"), bytes)).toEqual([
      "MN4010 'pw_1' has no counterpart in the weights file: the file's 'c0' (the value of 'conv_0') goes straight to CONV_2D #1 (c1/weights), which is 'pw_2'",
    ]);
    // A depthwise layer where the file has a full convolution.
    expect(refused(oneConv("relu6", "  dw 3x3 act=linear\n"), bytes)).toEqual([
      "MN4006 'dw_1' does not match CONV_2D #1 (c1/weights): kind depthwise in the network, conv in the file",
    ]);
    // An extra layer at the end: nothing in the file reads the last tensor.
    expect(refused(oneConv("relu6", "  pw 6 act=linear\n  pw 3\n"), bytes)).toEqual([
      "MN4010 'pw_2' has no counterpart in the weights file: nothing in the file reads 'c1' (the value of 'pw_1')",
    ]);
    // A residual the file does not have.
    const single = new TfliteNet();
    const xs = single.tensor("input", [1, 8, 8, 3]);
    const only = conv(single, xs, "c0", { in: 3, out: 4, k: 3, stride: 2, act: ACT.RELU6, outShape: [1, 4, 4, 4] });
    expect(refused(oneConv("relu6", "  residual { pw 4 act=linear }\n"), single.build([xs], [only]))).toEqual([
      "MN4010 'res_1.pw_0' has no counterpart in the weights file: nothing in the file reads 'c0' (the value of 'conv_0')",
    ]);
  });

  it("folds activation operators and hard-sigmoid chains, and refuses an activation that differs", () => {
    // conv → <activation> for each way a file spells one.
    const build = (tail: (net: TfliteNet, y: number) => number, fused: number = ACT.NONE): Uint8Array => {
      const net = new TfliteNet();
      const x = net.tensor("input", [1, 8, 8, 3]);
      const y = conv(net, x, "c0", { in: 3, out: 4, k: 3, stride: 2, act: fused, outShape: [1, 4, 4, 4] });
      return net.build([x], [tail(net, y)]);
    };
    const s = [1, 4, 4, 4];
    const scalar = (net: TfliteNet, name: string, v: number) => net.constant(name, [], TYPE.FLOAT32, [v]);
    const hsigmoid = (net: TfliteNet, y: number, relu6Fused: boolean): number => {
      const a = net.tensor("hs/add", s);
      net.op(OP.ADD, [y, scalar(net, "three", 3)], [a], OPTIONS.Add, activationOptions(relu6Fused ? ACT.RELU6 : ACT.NONE));
      const r = relu6Fused ? a : unary(net, OP.RELU6, a, "hs/relu6", s);
      const m = net.tensor("hs/mul", s);
      net.op(OP.MUL, [r, scalar(net, "sixth", 1 / 6)], [m], OPTIONS.Mul, activationOptions(ACT.NONE));
      return m;
    };
    const cases: [string, Uint8Array][] = [
      ["relu", build((_n, y) => y, ACT.RELU)],
      ["relu", build((n, y) => unary(n, OP.RELU, y, "r", s))],
      ["relu6", build((n, y) => unary(n, OP.RELU6, y, "r", s))],
      ["relu6", build((n, y) => unary(n, OP.RELU6, y, "r", s), ACT.RELU)],
      ["hswish", build((n, y) => unary(n, OP.HARD_SWISH, y, "h", s))],
      ["sigmoid", build((n, y) => unary(n, OP.LOGISTIC, y, "sig", s))],
      ["hsigmoid", build((n, y) => hsigmoid(n, y, false))],
      ["hsigmoid", build((n, y) => hsigmoid(n, y, true))],
      [
        "hswish",
        build((n, y) => {
          const h = hsigmoid(n, y, false);
          const out = n.tensor("hswish", s);
          n.op(OP.MUL, [y, h], [out], OPTIONS.Mul, activationOptions(ACT.NONE));
          return out;
        }),
      ],
    ];
    for (const [act, bytes] of cases) {
      expect(imported(oneConv(act), bytes).nodes.length, act).toBe(2);
      if (act !== "relu6") expect(refused(oneConv("relu6"), bytes)[0], act).toMatch(new RegExp(`^MN4006 'conv_0' does not match CONV_2D #0 \\(c0/weights\\): activation relu6 in the network, ${act}`));
    }
    expect(refused(oneConv("relu6"), cases[7]![1])).toEqual([
      "MN4006 'conv_0' does not match CONV_2D #0 (c0/weights): activation relu6 in the network, hsigmoid (ADD #1 → MUL #2) in the file",
    ]);
    // Two activations no single one equals: h-swish then ReLU6.
    const both = build((n, y) => unary(n, OP.RELU6, unary(n, OP.HARD_SWISH, y, "h", s), "r", s));
    expect(refused(oneConv("hswish"), both)).toEqual([
      "MN4006 'conv_0' does not match CONV_2D #0 (c0/weights): activation hswish in the network, an activation mnc does not have (HARD_SWISH #1, then RELU6 #2) in the file",
    ]);
    expect(refused(oneConv("relu"), build((_n, y) => y, ACT.RELU_N1_TO_1))).toEqual([
      "MN4006 'conv_0' does not match CONV_2D #0 (c0/weights): activation relu in the network, RELU_N1_TO_1 in the file",
    ]);
  });

  it("reads a quantized tensor's range as its activation when the fused activation is NONE", () => {
    // uint8 throughout: input [−1, 1), conv output with the given (scale, zero point).
    const build = (scale: number, zeroPoint: number, fused: number = ACT.NONE): Uint8Array => {
      const net = new TfliteNet();
      const x = net.tensor("input", [1, 8, 8, 3], { scale: [1 / 128], zeroPoint: [128] });
      const w = net.constant("w", [4, 3, 3, 3], TYPE.UINT8, values(108, 3).map((v) => Math.round(128 + 100 * v)), { scale: [0.01], zeroPoint: [128] });
      const b = net.constant("b", [4], TYPE.INT32, [100, -200, 300, 0], { scale: [0.01 / 128], zeroPoint: [0] });
      const y = net.tensor("y", [1, 4, 4, 4], { scale: [scale], zeroPoint: [zeroPoint] });
      net.op(OP.CONV_2D, [x, w, b], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2, activation: fused }));
      return net.build([x], [y]);
    };
    const relu6 = build(0.023528477177023888, 0); // TOCO's 6/255 in float32: the top is 5.99976
    expect(imported(oneConv("relu6"), relu6).nodes.length).toBe(2);
    expect(refused(oneConv("relu"), relu6)).toEqual([
      "MN4006 'conv_0' does not match CONV_2D #0 (w): activation relu in the network, relu6 (the quantization range [0, 5.9998] of 'y') in the file",
    ]);
    expect(imported(oneConv("relu"), build(0.05, 0)).nodes.length).toBe(2);
    expect(imported(oneConv("linear"), build(0.1, 120)).nodes.length).toBe(2);
    expect(refused(oneConv("relu6"), build(0.1, 120))).toEqual(["MN4006 'conv_0' does not match CONV_2D #0 (w): activation relu6 in the network, linear in the file"]);
    // A fused RELU whose range stops at 6 is ReLU6.
    expect(imported(oneConv("relu6"), build(6 / 255, 0, ACT.RELU)).nodes.length).toBe(2);
    // int8: the range starts at 0 when the zero point is −128.
    const int8 = (() => {
      const net = new TfliteNet();
      const x = net.tensor("input", [1, 8, 8, 3], { scale: [1 / 128], zeroPoint: [0] }, TYPE.INT8);
      const w = net.constant("w", [4, 3, 3, 3], TYPE.INT8, values(108, 3).map((v) => Math.round(100 * v)), { scale: [0.01], zeroPoint: [0] });
      const y = net.tensor("y", [1, 4, 4, 4], { scale: [6 / 255], zeroPoint: [-128] }, TYPE.INT8);
      net.op(OP.CONV_2D, [x, w, net.constant("b", [4], TYPE.INT32, [1, 2, 3, 4])], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2 }));
      return net.build([x], [y]);
    })();
    const g = imported(oneConv("relu6"), int8);
    // The bias is in units of input scale × weight scale.
    expect(Array.from(weightsOf(g, "conv_0").bias!.data)).toEqual([1, 2, 3, 4].map((q) => Math.fround(q * (1 / 128) * Math.fround(0.01))));
  });

  it("reads a PAD followed by a VALID convolution as the SAME convolution it equals", () => {
    const build = (pads: readonly number[] | undefined): Uint8Array => {
      const net = new TfliteNet();
      const x = net.tensor("input", [1, 8, 8, 3]);
      let y = x;
      if (pads !== undefined) {
        const p = net.constant("paddings", [4, 2], TYPE.INT32, [0, 0, pads[0]!, pads[1]!, pads[2]!, pads[3]!, 0, 0]);
        y = net.tensor("padded", [1, 8 + pads[0]! + pads[1]!, 8 + pads[2]! + pads[3]!, 3]);
        net.op(OP.PAD, [x, p], [y]);
      }
      const c = conv(net, y, "c0", { in: 3, out: 4, k: 3, stride: 2, padding: pads === undefined ? PAD.SAME : PAD.VALID, act: ACT.RELU6, outShape: [1, 4, 4, 4] });
      const d = net.tensor("dw", [1, 4, 4, 4]);
      const dp = net.constant("dw_paddings", [4, 2], TYPE.INT64, [0, 0, 1, 1, 1, 1, 0, 0]);
      const padded = net.tensor("dw_padded", [1, 6, 6, 4]);
      net.op(OP.PAD, [c, dp], [padded]);
      net.op(OP.DEPTHWISE_CONV_2D, [padded, net.constant("dw/w", [1, 3, 3, 4], TYPE.FLOAT32, values(36, 5)), net.constant("dw/b", [4], TYPE.FLOAT32, [0, 0, 0, 0])], [d], OPTIONS.DepthwiseConv2D, depthwiseOptions({ padding: PAD.VALID, activation: ACT.RELU6 }));
      return net.build([x], [d]);
    };
    const spec = oneConv("relu6", "  dw 3x3 act=relu6\n");
    // TensorFlow's SAME for a 3x3 stride-2 window on 8x8 pads 0 before and 1 after.
    const same = imported(spec, build(undefined));
    const padded = imported(spec, build([0, 1, 0, 1]));
    expect(padded.nodes).toEqual(same.nodes);
    const x = Float32Array.from(values(192, 4));
    expect(runReference(padded, x)).toEqual(runReference(same, x));
    // PyTorch-style symmetric padding is a different convolution.
    expect(refused(spec, build([1, 1, 1, 1]))).toEqual([
      "MN4006 'conv_0' does not match CONV_2D #1 (c0/weights): padding same [0,0,1,1] in the network, PAD #0 [1,1,1,1] then valid in the file",
    ]);
    expect(refused(oneConv("relu6", "  dw 3x3 act=relu6 pad=valid\n"), build([0, 1, 0, 1]))).toEqual([
      "MN4006 'dw_1' does not match DEPTHWISE_CONV_2D #3 (dw/w): padding valid [0,0,0,0] in the network, PAD #2 [1,1,1,1] then valid in the file",
    ]);
  });

  it("dequantizes per-channel int8 weights along their quantized dimension, with INT32 biases", () => {
    const scales = [0.02, 0.005, 0.1, 0.04];
    const q = values(4 * 3 * 3 * 3, 6).map((v) => Math.round(127 * v));
    const dq = values(3 * 3 * 4, 7).map((v) => Math.round(127 * v));
    const dwScales = [0.5, 0.25, 0.125, 0.0625];
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3], { scale: [0.5], zeroPoint: [-1] }, TYPE.INT8);
    const w = net.constant("w", [4, 3, 3, 3], TYPE.INT8, q, { scale: scales, zeroPoint: [0, 0, 0, 0], dimension: 0 });
    const b = net.constant("b", [4], TYPE.INT32, [10, 20, 30, 40], { scale: scales.map((s) => s * 0.5), zeroPoint: [0, 0, 0, 0] });
    const y = net.tensor("y", [1, 4, 4, 4], { scale: [0.1], zeroPoint: [10] }, TYPE.INT8);
    net.op(OP.CONV_2D, [x, w, b], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2 }));
    const dw = net.constant("dw", [1, 3, 3, 4], TYPE.INT8, dq, { scale: dwScales, zeroPoint: [0, 0, 0, 0], dimension: 3 });
    const z = net.tensor("z", [1, 4, 4, 4], { scale: [0.2], zeroPoint: [0] }, TYPE.INT8);
    net.op(OP.DEPTHWISE_CONV_2D, [y, dw, net.constant("dw_b", [4], TYPE.INT32, [1, 1, 1, 1])], [z], OPTIONS.DepthwiseConv2D, depthwiseOptions({}));
    const g = imported(oneConv("linear", "  dw 3x3 act=linear\n"), net.build([x], [z]));
    const k = weightsOf(g, "conv_0");
    for (let o = 0; o < 4; o++) {
      for (let i = 0; i < 3; i++) {
        for (let h = 0; h < 3; h++) {
          for (let v = 0; v < 3; v++) {
            expect(k.kernel.data[((o * 3 + i) * 3 + h) * 3 + v]).toBe(Math.fround(Math.fround(scales[o]!) * q[((o * 3 + h) * 3 + v) * 3 + i]!));
          }
        }
      }
    }
    expect(Array.from(k.bias!.data)).toEqual([10, 20, 30, 40].map((v, c) => Math.fround(v * 0.5 * Math.fround(scales[c]!))));
    const d = weightsOf(g, "dw_1");
    for (let c = 0; c < 4; c++) for (let hw = 0; hw < 9; hw++) expect(d.kernel.data[c * 9 + hw]).toBe(Math.fround(dwScales[c]! * dq[hw * 4 + c]!));
    expect(Array.from(d.bias!.data)).toEqual(dwScales.map((s) => Math.fround(Math.fround(0.1) * s)));
  });

  it("reads FLOAT16 weights behind a DEQUANTIZE, which counts as part of the convolution", () => {
    const w16 = values(4 * 3 * 3 * 3, 12);
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3]);
    const half = net.constant("w/fp16", [4, 3, 3, 3], TYPE.FLOAT16, w16);
    const wf = net.tensor("w/dequantized", [4, 3, 3, 3]);
    net.op(OP.DEQUANTIZE, [half], [wf]);
    const bHalf = net.constant("b/fp16", [4], TYPE.FLOAT16, [0.5, -0.25, 1, 2]);
    const bf = net.tensor("b/dequantized", [4]);
    net.op(OP.DEQUANTIZE, [bHalf], [bf]);
    const y = net.tensor("y", [1, 4, 4, 4]);
    net.op(OP.CONV_2D, [x, wf, bf], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2, activation: ACT.RELU6 }));
    const bytes = net.build([x], [y]);
    const model = readTflite(bytes);
    expect(model.tensors[half]!.type).toBe("FLOAT16");
    expect(Array.from(constantValues(model.tensors[half]!)!)).toEqual(w16.map((v) => halfToFloat(toHalf(v))));
    const g = imported(oneConv("relu6"), bytes);
    const k = weightsOf(g, "conv_0");
    expect(k.kernel.data[((2 * 3 + 1) * 3 + 0) * 3 + 2]).toBe(Math.fround(halfToFloat(toHalf(w16[((2 * 3 + 0) * 3 + 2) * 3 + 1]!))));
    expect(Array.from(k.bias!.data)).toEqual([0.5, -0.25, 1, 2]);
  });

  it("matches residual adds and squeeze-and-excitation (MEAN, MUL, hard sigmoid) by the tensors they read", () => {
    const net = new TfliteNet();
    const s = [1, 4, 4, 8];
    const x = net.tensor("input", [1, 8, 8, 3]);
    const c0 = unary(net, OP.HARD_SWISH, conv(net, x, "c0", { in: 3, out: 8, k: 3, stride: 2, outShape: s }), "c0/hswish", s);
    const body = conv(net, c0, "res/pw", { in: 8, out: 8, outShape: s, seed: 2 });
    const sum = net.tensor("res/add", s);
    // The file lists the add's inputs the other way round.
    net.op(OP.ADD, [body, c0], [sum], OPTIONS.Add, activationOptions(ACT.NONE));
    const pooled = net.tensor("se/mean", [1, 1, 1, 8]);
    net.op(OP.MEAN, [sum, net.constant("se/axes", [2], TYPE.INT32, [-3, -2])], [pooled], OPTIONS.Reducer, reducerOptions(true));
    const squeeze = conv(net, pooled, "se/squeeze", { in: 8, out: 4, outShape: [1, 1, 1, 4], act: ACT.RELU, seed: 3 });
    const excite = conv(net, squeeze, "se/excite", { in: 4, out: 8, outShape: [1, 1, 1, 8], seed: 4 });
    const a = net.tensor("se/add3", [1, 1, 1, 8]);
    net.op(OP.ADD, [excite, net.constant("three", [1], TYPE.FLOAT32, [3])], [a], OPTIONS.Add, activationOptions(ACT.RELU6));
    const gate = net.tensor("se/gate", [1, 1, 1, 8]);
    net.op(OP.DIV, [a, net.constant("six", [1], TYPE.FLOAT32, [6])], [gate], OPTIONS.Div, activationOptions(ACT.NONE));
    const scaled = net.tensor("se/scale", s);
    net.op(OP.MUL, [sum, gate], [scaled], OPTIONS.Mul, activationOptions(ACT.NONE));
    const pool = net.tensor("pool", [1, 1, 1, 8]);
    net.op(OP.AVERAGE_POOL_2D, [scaled], [pool], OPTIONS.Pool2D, pool2dOptions({ padding: PAD.VALID, filter: 4 }));
    const flat = net.tensor("flat", [1, 8]);
    net.op(OP.SQUEEZE, [pool], [flat], OPTIONS.Squeeze, (b) => {
      b.startObject(1);
      return b.endObject();
    });
    const out = net.tensor("logits", [1, 5]);
    net.op(OP.FULLY_CONNECTED, [flat, net.constant("fc/w", [5, 8], TYPE.FLOAT32, values(40, 5)), net.constant("fc/b", [5], TYPE.FLOAT32, values(5, 6))], [out]);
    const bytes = net.build([x], [out]);
    const source = "network T {\n  input 8x8x3\n  conv 3x3 8 stride=2 act=hswish\n  residual { pw 8 act=linear }\n  se 0.5\n  avgpool global\n  fc 5\n}\n";
    const g = imported(source, bytes);
    expect(g.nodes.filter(isWeighted).map((n) => n.id)).toEqual(["conv_0", "res_1.pw_0", "se_2.squeeze", "se_2.excite", "fc_3"]);
    expect(weightsOf(g, "se_2.excite").kernel.data[9]).toBe(Math.fround(values(32, 4)[9]!));
    // A sigmoid gate where the file has a hard sigmoid.
    expect(refused(source.replace("se 0.5", "se 0.5 gate=sigmoid"), bytes)[0]).toMatch(/^MN4006 'se_2\.excite' does not match CONV_2D #6 \(se\/excite\/weights\): activation sigmoid in the network, hsigmoid \(ADD #7 → DIV #8\) in the file/);
    // Without the residual, the file's ADD is what the network lacks.
    expect(refused(source.replace("residual { pw 8 act=linear }", "pw 8 act=linear"), bytes)).toEqual([
      "MN4009 the weights file's ADD #3 (output 'res/add') has no counterpart in the network: 'se_2.pool' reads 'res/pw' (the value of 'pw_1'), which the file passes through ADD #3 before MEAN #4",
    ]);
  });
});

// ---------------------------------------------------------------------------
// The trained quantized models
// ---------------------------------------------------------------------------

const photos = ["basketball", "burger", "cat", "mountain", "pizza"];
const photoDir = join(shared, "data", "mobilenet_v1", "images");

/** The photos as one batch, uint8 pixels read as the models' input quantization says: (q − 128)/128. */
function photoBatch(): Float32Array {
  const x = new Float32Array(photos.length * 224 * 224 * 3);
  photos.forEach((name, k) => {
    const px = readFileSync(join(photoDir, `${name}.rgb224`));
    for (let i = 0; i < px.length; i++) x[k * px.length + i] = (px[i]! - 128) / 128;
  });
  return x;
}

/** Indices of the k largest values, ties by index. */
function topK(a: ArrayLike<number>, k: number): number[] {
  return Array.from(a, (v, i) => [v, i] as const)
    .sort((p, q) => q[0] - p[0] || p[1] - q[1])
    .slice(0, k)
    .map(([, i]) => i);
}

function countWeights(g: Graph): { weights: number; biases: number } {
  let weights = 0;
  let biases = 0;
  for (const n of g.nodes.filter(isWeighted)) {
    weights += n.weights!.kernel.data.length;
    biases += n.weights!.bias?.data.length ?? 0;
  }
  return { weights, biases };
}

const v2Dir = join(shared, "data", "mobilenet_v2_quant");
const v2Model = join(v2Dir, "model", "mobilenet_v2_1.0_224_quant.tflite");

describe.runIf(haveShared(v2Model, "the trained uint8 MobileNetV2 against the TFLite interpreter"))(`the trained uint8 MobileNetV2 1.0-224 (from ${v2Dir})`, () => {
  const bytes = new Uint8Array(readFileSync(v2Model));
  const source = readExample("mobilenet_v2.mn");
  // As `mnc compile examples/mobilenet_v2.mn --set classes=1001 --weights …` does (batch-norm fusion and its certificate included).
  const result = compile(source, { set: { classes: "1001" }, weights: bytes, weightsFile: "mobilenet_v2_1.0_224_quant.tflite" });
  const graph = result.graph!;
  /** Output scale and zero point of the file's uint8 logits. */
  const scale = 0.09889253973960876;
  const zeroPoint = 58;

  it("imports all 3,471,040 weights and 18,057 biases into the 53 convolutions, with ReLU6 read from the ranges", () => {
    expect(result.diagnostics).toEqual([]);
    expect(countWeights(graph)).toEqual({ weights: 3_471_040, biases: 18_057 });
    const weighted = graph.nodes.filter(isWeighted);
    expect(weighted.length).toBe(53);
    expect(weighted.every((n) => n.weights!.bias !== undefined && (n.op === "fc" || n.attrs.norm === "none"))).toBe(true);
    expect(graph.nodes.filter((n) => n.op === "add").length).toBe(10);
  });

  it("dequantizes weights as scale · (q − zero point) and INT32 biases with input scale × weight scale", () => {
    const model = readTflite(bytes);
    const byName = (name: string) => model.tensors.find((t) => t.name === name)!;
    const w = byName("MobilenetV2/Conv/weights_quant/FakeQuantWithMinMaxVars");
    const b = byName("MobilenetV2/Conv/Conv2D_Fold_bias");
    const input = model.tensors[model.inputs[0]!]!;
    expect(w.type).toBe("UINT8");
    expect(w.quantization).toEqual({ scale: [Math.fround(0.03396892547607422)], zeroPoint: [122], dimension: 0 });
    const q = constantValues(w)!;
    const bq = constantValues(b)!;
    const k = weightsOf(result.unfused!, "conv_0");
    // OHWI [32,3,3,3] element [o,h,w,i] is OIHW [o,i,h,w].
    for (const [o, h, x, i] of [[0, 0, 0, 0], [31, 2, 2, 2], [17, 1, 0, 2]] as const) {
      expect(k.kernel.data[((o * 3 + i) * 3 + h) * 3 + x]).toBe(Math.fround(w.quantization!.scale[0]! * (q[((o * 3 + h) * 3 + x) * 3 + i]! - 122)));
    }
    for (const c of [0, 13, 31]) expect(k.bias!.data[c]).toBe(Math.fround(bq[c]! * input.quantization!.scale[0]! * w.quantization!.scale[0]!));
  });

  it(
    "classifies the five photos as the TFLite interpreter does: the same top-1, at least 4 of its top-5, logits within a few LSB",
    () => {
      const fc = graph.nodes.find((n) => n.op === "fc")!.id;
      const logitsGraph: Graph = { ...graph, nodes: graph.nodes.filter((n) => n.op !== "softmax"), outputs: [fc] };
      const out = runReference(logitsGraph, photoBatch(), photos.length);
      const [lo, hi] = [scale * (0 - zeroPoint), scale * (255 - zeroPoint)];
      photos.forEach((name, k) => {
        const ours = out.subarray(k * 1001, (k + 1) * 1001);
        const q = readFileSync(join(v2Dir, "ground_truth", `${name}.out.u8`));
        const truth = Float64Array.from(q, (v) => scale * (v - zeroPoint));
        const top = topK(ours, 5);
        const want = topK(truth, 5);
        expect(top[0], name).toBe(want[0]);
        expect(top.filter((i) => want.includes(i)).length, name).toBeGreaterThanOrEqual(4);
        // Differences, with ours clamped to what the uint8 output can hold (basketball's top logit saturates at q = 255).
        let worst = 0;
        for (let i = 0; i < 1001; i++) worst = Math.max(worst, Math.abs(Math.min(hi, Math.max(lo, ours[i]!)) - truth[i]!));
        expect(worst / scale, name).toBeLessThan(6);
        for (let i = 0; i < 1001; i++) if (Math.abs(ours[i]! - truth[i]!) > 6 * scale) expect(q[i] === 0 || q[i] === 255, `${name} output ${i}`).toBe(true);
      });
    },
    60_000,
  );

  it("refuses MobileNetV2 written without its residual connections, naming the first ADD", () => {
    // Table 2 of the paper, each bottleneck spelled out as pw (expansion), dw, linear pw: no adds.
    const lines = ["conv 3x3 32 stride=2"];
    let channels = 32;
    for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]] as const) {
      for (let i = 0; i < n; i++) {
        if (t > 1) lines.push(`pw ${channels * t}`);
        lines.push(`dw 3x3 stride=${i === 0 ? s : 1}`, `pw ${c} act=linear`);
        channels = c;
      }
    }
    lines.push("pw 1280", "avgpool global", "fc classes");
    const plain = `network PlainV2(classes = 1001) {\n  input 224x224x3\n  defaults act=relu6\n${lines.map((l) => `  ${l}\n`).join("")}}\n`;
    const [summary, ...errors] = diagnosticsOf(plain, bytes);
    expect(summary).toBe("MN4011 the weights file looks like a MobileNetV2-style network with 10 residual adds (the network has none)");
    expect(errors).toEqual([
      "MN4009 the weights file's ADD #9 (output 'MobilenetV2/expanded_conv_2/add') has no counterpart in the network: 'pw_9' reads 'MobilenetV2/expanded_conv_2/project/add_fold' (the value of 'pw_8'), which the file passes through ADD #9 before CONV_2D #10 (MobilenetV2/expanded_conv_3/expand/weights_quant/FakeQuantWithMinMaxVars)",
    ]);
  });

  it("refuses ReLU where the ranges say ReLU6, and the float MobileNetV1's file", () => {
    expect(diagnosticsOf(source.replace("defaults act=relu6", "defaults act=relu"), bytes, { set: { classes: "1001" } })).toEqual([
      "MN4011 the weights file looks like 'MobileNetV2' with relu6 activations: try act=relu6 (`defaults act=relu6`)",
      "MN4006 'conv_0' does not match CONV_2D #0 (MobilenetV2/Conv/weights_quant/FakeQuantWithMinMaxVars): activation relu in the network, relu6 (the quantization range [0, 5.9998] of 'MobilenetV2/Conv/Relu6') in the file (and 34 more layers the same way)",
    ]);
    const v1 = new Uint8Array(readFileSync(join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite")));
    const [summary, first] = diagnosticsOf(source, v1, { set: { classes: "1001" } });
    expect(summary).toBe("MN4011 the weights file looks like a MobileNetV1-style network with 28 weighted layers (the network has 53) and no residual adds (the network has 10)");
    expect(first).toMatch(/^MN4002 'conv_0': CONV_2D #0 \(MobilenetV1\/Conv2d_0\/weights\) should be \[32, 3, 3, 3\], but the file has \[8, 3, 3, 3\]/);
  });
});

const v1qDir = join(shared, "data", "mobilenet_v1_quant");
const v1qModel = join(v1qDir, "model", "mobilenet_v1_0.25_224_quant.tflite");

describe.runIf(haveShared(v1qModel, "the trained uint8 MobileNetV1 0.25"))(`the trained uint8 MobileNetV1 0.25 (from ${v1qDir})`, () => {
  it(
    "imports its 463,856 weights and 3,737 biases and gives the interpreter's top-1 with probabilities within 8/256",
    () => {
      const g = imported(readExample("mobilenet_v1_tf.mn"), new Uint8Array(readFileSync(v1qModel)));
      expect(countWeights(g)).toEqual({ weights: 463_856, biases: 3_737 });
      const out = runReference(g, photoBatch(), photos.length);
      photos.forEach((name, k) => {
        const ours = out.subarray(k * 1001, (k + 1) * 1001);
        const truth = Float64Array.from(readFileSync(join(v1qDir, "ground_truth", `${name}.out.u8`)), (q) => q / 256);
        expect(topK(ours, 1), name).toEqual(topK(truth, 1));
        let worst = 0;
        for (let i = 0; i < 1001; i++) worst = Math.max(worst, Math.abs(ours[i]! - truth[i]!));
        expect(worst, name).toBeLessThan(8 / 256);
      });
    },
    30_000,
  );
});
