/**
 * ONNX export of graph networks: skips, concatenations, resizes of every mode
 * and coordinate convention, transposed and dilated convolutions, standalone
 * activations, argmax heads and several named outputs. Every model runs in
 * ONNX Runtime and every output, by name, matches the float64 reference
 * evaluator (batch 1 and 2); the DeepLabV3 and selfie-segmentation examples
 * at opsets 13–17 pass the ONNX checker with full shape checking; random
 * graphs are compared the same way; the trained models (../shared/data)
 * reproduce their ground truth through ONNX Runtime.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile, normalise, type CompileOptions } from "../src/index.js";
import { emitOnnx, type OnnxOptions } from "../src/emit/onnx/index.js";
import { dumpOnnx } from "../src/emit/onnx/dump.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { ACTIVATIONS, type Activation, type Graph, type Shape } from "../src/ir/graph.js";
import { validGraphSpec } from "./graph-generators.js";
import { runs } from "./fuzz-scale.js";
import { inputs, readExample, relativeError, shared } from "./helpers.js";
import { float32File, grayPng, maxAbsDiff } from "./segmentation-data.js";
import { available, haveShared } from "./optional.js";

const work = mkdtempSync(join(tmpdir(), "mnc-onnx-graph-"));
/** Models for the checker at the end of the file. */
const checked: string[] = [];

function save(bytes: Uint8Array): void {
  const path = join(work, `model-${checked.length}.onnx`);
  writeFileSync(path, bytes);
  checked.push(path);
}

interface Built {
  readonly graph: Graph;
  readonly bytes: Uint8Array;
}

function build(source: string, options: CompileOptions = {}, onnx: Partial<OnnxOptions> = {}): Built {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  const bytes = emitOnnx({ graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "test.mn", sourceText: source, ...onnx });
  save(bytes);
  return { graph: r.graph!, bytes };
}

const shapeOf = (graph: Graph, id: string): Shape => graph.nodes.find((n) => n.id === id)!.shape!;

/** NHWC items → NCHW. */
function toNchw(x: Float32Array, batch: number, [h, w, c]: Shape): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++)
    for (let p = 0; p < h * w; p++)
      for (let ch = 0; ch < c; ch++) out[(b * c + ch) * h * w + p] = x[(b * h * w + p) * c + ch]!;
  return out;
}

/** NCHW → NHWC items (the reference's layout). */
function toNhwc(y: Float32Array, batch: number, [h, w, c]: Shape): Float32Array {
  const out = new Float32Array(y.length);
  for (let b = 0; b < batch; b++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < h * w; p++) out[(b * h * w + p) * c + ch] = y[(b * c + ch) * h * w + p]!;
  return out;
}

/** Every output of the model, by ONNX name, in the model's order, each NHWC with its dims. */
async function runOnnx(bytes: Uint8Array, graph: Graph, x: Float32Array, batch: number): Promise<{ name: string; dims: readonly number[]; data: Float32Array }[]> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const inputShape = graph.nodes[0]!.shape!;
  const [h, w, c] = inputShape;
  const result = await session.run({ input: new ort.Tensor("float32", toNchw(x, batch, inputShape), [batch, c, h, w]) });
  return session.outputNames.map((name, i) => {
    const t = result[name]!;
    const shape = shapeOf(graph, graph.outputs[i]!);
    const data = t.dims.length === 4 ? toNhwc(t.data as Float32Array, batch, shape) : (t.data as Float32Array);
    return { name, dims: t.dims, data };
  });
}

/** The ONNX output names mnc gives a graph: the chosen names, or the one default (`probabilities` after a softmax, else the node id). */
function expectedNames(graph: Graph): string[] {
  if (graph.outputNames !== undefined) return [...graph.outputNames];
  const id = graph.outputs[0]!;
  return [graph.nodes.find((n) => n.id === id)!.op === "softmax" ? "probabilities" : id];
}

/** ONNX Runtime agrees with the reference on every output, named as expected, within `tolerance` of each output's scale. */
async function agrees(built: Built, batches: readonly number[] = [1, 2], tolerance = 1e-4, seed = 1, names = expectedNames(built.graph)): Promise<number> {
  const { graph, bytes } = built;
  const [h, w, c] = graph.nodes[0]!.shape!;
  let worst = 0;
  for (const batch of batches) {
    const x = inputs(batch * h * w * c, seed + batch);
    const want = runReferenceOutputs(graph, x, batch);
    const got = await runOnnx(bytes, graph, x, batch);
    expect(got.map((o) => o.name)).toEqual(names);
    got.forEach((o, i) => {
      const [oh, ow, oc] = shapeOf(graph, graph.outputs[i]!);
      expect(o.dims).toEqual(oh === 1 && ow === 1 && o.dims.length === 2 ? [batch, oc] : [batch, oc, oh, ow]);
      const e = relativeError(o.data, want[i]!);
      worst = Math.max(worst, e);
      expect(e, `output ${o.name}, batch ${batch}`).toBeLessThan(tolerance);
    });
  }
  return worst;
}

/** The op types of a model's nodes, from its text dump. */
function opTypes(bytes: Uint8Array): string[] {
  return [...dumpOnnx(bytes).matchAll(/^ {2}node [^:]+: (\w+)\(/gm)].map((m) => m[1]!);
}

const OPSETS = [13, 14, 15, 16, 17] as const;

/** The ONNX nodes each activation becomes after a layer, at opset 13 and at 14 and later. */
const ACTIVATION_OPS: { readonly [A in Activation]: readonly [string[], string[]] } = {
  linear: [[], []],
  relu: [["Relu"], ["Relu"]],
  relu6: [["Clip"], ["Clip"]],
  hswish: [["HardSigmoid", "Mul"], ["HardSwish"]],
  hsigmoid: [["HardSigmoid"], ["HardSigmoid"]],
  sigmoid: [["Sigmoid"], ["Sigmoid"]],
};

describe("the segmentation examples in ONNX Runtime, as the reference evaluates them", () => {
  // Smaller inputs than the trained models' keep the float64 reference quick; the layers are the same.
  const deeplab = readExample("deeplabv3_mobilenet_v2.mn");
  const selfie = readExample("selfie_segmentation.mn");

  it.each(OPSETS)("DeepLabV3 (dilations 2 and 4, image pooling, concat, align-corners resizes) at opset %s, batch 1 and 2", async (opset) => {
    const built = build(deeplab, { resolution: 65, fuseBatchNorm: opset !== 13 }, { opset });
    expect(built.graph.outputNames).toEqual(["logits"]);
    expect(await agrees(built)).toBeLessThan(1e-4);
    const ops = opTypes(built.bytes);
    expect(ops.filter((o) => o === "Resize")).toHaveLength(2);
    expect(ops.filter((o) => o === "Concat")).toHaveLength(2); // the head's, and the sizes of the 9 → 65 resize
    expect(dumpOnnx(built.bytes)).toMatch(/node bneck_17\.dw: Conv\(.*\{dilations=\[4,4\] group=480 kernel_shape=\[3,3\] pads=\[4,4,4,4\] strides=\[1,1\]\}/);
  }, 120_000);

  it.each(OPSETS)("selfie segmentation (h-swish, SE gates, half-pixel resizes, a 2x2/2 deconv, sigmoid) at opset %s, batch 1 and 2", async (opset) => {
    const built = build(selfie, { resolution: 64, fuseBatchNorm: opset !== 13 }, { opset });
    expect(await agrees(built)).toBeLessThan(1e-4);
    const dump = dumpOnnx(built.bytes);
    expect(dump).toMatch(/node deconv_17: ConvTranspose\(up_16\.add_2, deconv_17\.weight, deconv_17\.bias\) -> deconv_17\.conv {2}\{kernel_shape=\[2,2\] pads=\[0,0,0,0\] strides=\[2,2\]\}/);
    expect(dump).toContain("node deconv_17.sigmoid: Sigmoid(deconv_17.conv) -> mask");
    expect(dump).toContain("output mask: float[N,1,64,64]");
    expect(opTypes(built.bytes).filter((o) => o === "Resize")).toHaveLength(3);
  }, 120_000);

  it("--outputs scores,logits (DeepLab): two outputs, named, with their shapes and values", async () => {
    const built = build(deeplab, { resolution: 65, outputs: ["scores", "logits"] }, { opset: 17 });
    const dump = dumpOnnx(built.bytes);
    expect(dump).toContain("  output scores: float[N,21,9,9]\n  output logits: float[N,21,65,65]\n");
    expect(dump).toMatch(/node conv_21: Conv\(pw_20, conv_21\.weight, conv_21\.bias\) -> scores /);
    expect(dump).toMatch(/node resize_1: Resize\(scores, , , resize_1\.sizes\) -> logits /);
    expect(dump).not.toMatch(/value_info (scores|logits|conv_21|resize_1):/);
    expect(await agrees(built)).toBeLessThan(1e-4);
  }, 120_000);

  it("--outputs features (selfie): the features-only network, its output named", async () => {
    const built = build(selfie, { resolution: 64, outputs: ["features"] }, { opset: 14 });
    const dump = dumpOnnx(built.bytes);
    expect(dump).toContain("  output features: float[N,16,32,32]\n");
    expect(dump).not.toMatch(/ConvTranspose/);
    expect(await agrees(built)).toBeLessThan(1e-4);
  }, 120_000);

  it("--input-layout nhwc and --embed-preprocessing: raw NHWC pixels in, the same named outputs", async () => {
    const plain = build(deeplab, { resolution: 65, outputs: ["scores", "logits"] }, { opset: 15 });
    const raw = build(deeplab, { resolution: 65, outputs: ["scores", "logits"] }, { opset: 15, inputLayout: "nhwc", embedPreprocessing: true });
    const pixels = Uint8Array.from({ length: 2 * 65 * 65 * 3 }, (_, i) => (i * 7919 + (i >> 5) * 31) % 256);
    const a = await ort.InferenceSession.create(plain.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const b = await ort.InferenceSession.create(raw.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const want = await a.run({ input: new ort.Tensor("float32", toNchw(normalise(pixels, 3, { mean: 127.5, std: 127.5 }), 2, [65, 65, 3]), [2, 3, 65, 65]) });
    const got = await b.run({ input: new ort.Tensor("float32", Float32Array.from(pixels), [2, 65, 65, 3]) });
    expect(b.outputNames).toEqual(["scores", "logits"]);
    for (const name of ["scores", "logits"]) expect(relativeError(got[name]!.data as Float32Array, want[name]!.data as Float32Array)).toBeLessThan(1e-5);
  }, 60_000);

  it("the structure of both, at their trained resolutions (golden text dumps)", async () => {
    await expect(dumpOnnx(build(deeplab, { outputs: ["scores", "logits"] }, { opset: 17 }).bytes)).toMatchFileSnapshot("golden/onnx/deeplabv3_mobilenet_v2.scores_logits.txt");
    await expect(dumpOnnx(build(selfie, {}, { opset: 13 }).bytes)).toMatchFileSnapshot("golden/onnx/selfie_segmentation.txt");
  }, 60_000);
});

describe("each new op on hand-made inputs, against the reference", () => {
  const MODES = ["bilinear", "nearest"] as const;
  const COORDS = ["align_corners", "half_pixel", "asymmetric"] as const;
  const all = MODES.flatMap((mode) => COORDS.map((coords) => [mode, coords] as const));

  /**
   * A network that resizes `small` (made from the image by a valid convolution, kernel KH×KW) up to the
   * image's size, and the image down to small's, in every mode and convention: 12 named outputs.
   */
  function resizeNetwork([h, w]: readonly [number, number], [kh, kw]: readonly [number, number]): string {
    const lines = [`image = input ${h}x${w}x2`, `small = conv ${kh}x${kw} 3 pad=valid norm=none act=linear`];
    const names: string[] = [];
    all.forEach(([mode, coords], i) => {
      lines.push(`up${i} = resize to=image mode=${mode} coords=${coords} from=small`, `down${i} = resize to=small mode=${mode} coords=${coords} from=image`);
      names.push(`up${i}`, `down${i}`);
    });
    lines.push(`output ${names.join(" ")}`);
    return `network Resizes {\n${lines.map((l) => `  ${l}\n`).join("")}}\n`;
  }

  it.each([
    ["5 → 13 and back", [13, 13], [9, 9]],
    ["33 → 257 and back (DeepLab's last resize)", [257, 3], [225, 1]],
    ["2 → 14 and 14 → 2 (whole multiples one way)", [14, 14], [13, 13]],
    ["7 → 8, 4 → 9 (height and width differ)", [8, 9], [2, 6]],
    ["1 → 6, 1 → 1", [6, 1], [6, 1]],
    ["16 → 21 and 20 → 23", [21, 23], [6, 4]],
  ] as const)("resize %s: every mode × coordinate convention", async (_, size, kernel) => {
    const built = build(resizeNetwork(size, kernel), {}, { opset: 13 });
    // Bilinear at a ratio whose float32 scale is inexact moves the sampling point by ~1e-7 of the map: a few 1e-5 at most.
    expect(await agrees(built)).toBeLessThan(1e-4);
  }, 60_000);

  it("nearest resizes the runtime cannot compute exactly are Gathers of the reference's indices; the others are Resize", async () => {
    // 14 → 2 asymmetric: ONNX Runtime's float32 x = 1 / (2/14) lands below 7, and floor makes it row 6.
    const built = build(resizeNetwork([14, 14], [13, 13]), {}, { opset: 17 });
    const dump = dumpOnnx(built.bytes);
    // up: 2 → 14 is a whole multiple (Resize with constant scales); down: 14 → 2 is not.
    expect(dump).toMatch(/node resize_6: Resize\(conv_0, , resize_6\.scales\) -> up3 {2}\{coordinate_transformation_mode="align_corners" mode="nearest" nearest_mode="round_prefer_ceil"\}/);
    expect(dump).toMatch(/node resize_8: Resize\(conv_0, , resize_8\.scales\) -> up4 {2}\{coordinate_transformation_mode="half_pixel" mode="nearest" nearest_mode="round_prefer_ceil"\}/);
    expect(dump).toMatch(/node resize_10: Resize\(conv_0, , resize_10\.scales\) -> up5 {2}\{coordinate_transformation_mode="asymmetric" mode="nearest" nearest_mode="floor"\}/);
    expect(dump).toMatch(/node resize_7: Resize\(input, , , resize_7\.sizes\) -> down3 {2}\{coordinate_transformation_mode="align_corners" mode="nearest" nearest_mode="round_prefer_ceil"\}/);
    expect(dump).toContain("node resize_9.rows: Gather(input, resize_9.row_index) -> resize_9.rows  {axis=2}");
    expect(dump).toContain("node resize_9: Gather(resize_9.rows, resize_9.column_index) -> down4  {axis=3}");
    expect(dump).toContain("node resize_11: Gather(resize_11.rows, resize_11.column_index) -> down5  {axis=3}");
    expect(dump).toContain("node resize_1: Resize(input, , , resize_1.sizes) -> down0");
    expect(dump).toContain("node resize_1.sizes: Concat(resize_1.batch_channels, resize_1.size) -> resize_1.sizes  {axis=0}");
    expect(dump).toContain("value_info resize_1.sizes: int64[4]");
    // The nearest outputs copy values: exact, not merely close.
    const x = inputs(14 * 14 * 2, 7);
    const want = runReferenceOutputs(built.graph, x, 1);
    const got = await runOnnx(built.bytes, built.graph, x, 1);
    for (const i of [7, 9, 11]) expect(Array.from(got[i]!.data)).toEqual(Array.from(Float32Array.from(want[i]!)));
  }, 60_000);

  it.each([
    ["2x2/2 (selfie's)", "deconv 2x2 5 stride=2", [6, 6, 5]],
    ["3x3/2", "deconv 3x3 4 stride=2", [6, 6, 4]],
    ["4x4/2", "deconv 4x4 3 stride=2", [6, 6, 3]],
    ["3x3/1", "deconv 3x3 4", [3, 3, 4]],
    ["3x3/2 valid", "deconv 3x3 4 stride=2 pad=valid", [7, 7, 4]],
    ["2x2/2 valid", "deconv 2x2 2 stride=2 pad=valid", [6, 6, 2]],
    ["4x4/2 valid, batch-norm, h-swish", "deconv 4x4 3 stride=2 pad=valid norm=batchnorm act=hswish", [8, 8, 3]],
  ] as const)("deconv %s", async (_, layer, out) => {
    const source = `network D {\n  input 3x3x3\n  ${layer}${layer.includes("act=") ? "" : " act=relu6"}\n}\n`;
    for (const [opset, fuseBatchNorm] of [[13, false], [17, true]] as const) {
      const built = build(source, { fuseBatchNorm }, { opset });
      expect(shapeOf(built.graph, built.graph.outputs[0]!)).toEqual(out);
      const n = built.graph.nodes[1]!;
      expect(n.op).toBe("deconv");
      const pads = n.op === "deconv" ? n.attrs.pads! : [];
      expect(dumpOnnx(built.bytes)).toContain(`pads=[${pads.join(",")}]`);
      expect(await agrees(built)).toBeLessThan(1e-4);
    }
  }, 60_000);

  it("dilations 2 and 4 (conv, depthwise, separable) become the Conv's dilations", async () => {
    const source = "network Atrous {\n  input 17x15x3\n  conv 3x3 8 dilation=2 act=relu\n  dw 3x3 dilation=4 act=relu6\n  conv 5x5 4 dilation=2 norm=none act=linear\n  separable 6 dilation=4\n}\n";
    const built = build(source, {}, { opset: 13 });
    const dump = dumpOnnx(built.bytes);
    expect(dump).toMatch(/node conv_0: Conv\(.*\{dilations=\[2,2\] group=1 kernel_shape=\[3,3\] pads=\[2,2,2,2\] strides=\[1,1\]\}/);
    expect(dump).toMatch(/node dw_1: Conv\(.*\{dilations=\[4,4\] group=8 kernel_shape=\[3,3\] pads=\[4,4,4,4\] strides=\[1,1\]\}/);
    expect(dump).toMatch(/node conv_2: Conv\(.*\{dilations=\[2,2\] group=1 kernel_shape=\[5,5\] pads=\[4,4,4,4\] strides=\[1,1\]\}/);
    expect(dump).toMatch(/\{dilations=\[1,1\] group=1 kernel_shape=\[1,1\]/); // the separable's pointwise half
    expect(await agrees(built)).toBeLessThan(1e-4);
  }, 60_000);

  it("argmax: the first largest channel on ties, as a float32 value", async () => {
    // Ties everywhere: relu6 clips to 0 and 6; channels with equal values pick the first.
    const source = "network A {\n  input 4x4x3\n  clipped = conv 1x1 5 norm=none act=relu6\n  argmax\n}\n";
    const built = build(source, {}, { opset: 13 });
    const dump = dumpOnnx(built.bytes);
    expect(dump).toContain("node argmax_0: ArgMax(conv_0) -> argmax_0.index  {axis=1 keepdims=1}");
    expect(dump).toContain("node argmax_0.cast: Cast(argmax_0.index) -> argmax_0  {to=1}");
    expect(dump).toContain("value_info argmax_0.index: int64[N,1,4,4]");
    expect(dump).toContain("output argmax_0: float[N,1,4,4]");
    // Inputs large enough that most channels clip to 0 or 6: ties in most pixels.
    const x = Float32Array.from(inputs(2 * 4 * 4 * 3, 3), (v) => 40 * v);
    const want = runReferenceOutputs(built.graph, x, 2)[0]!;
    const got = (await runOnnx(built.bytes, built.graph, x, 2))[0]!.data;
    expect(Array.from(got)).toEqual(Array.from(want));
    // The test has ties to break: the reference's trace shows pixels whose largest value appears twice.
    const r = compile(source.replace("  argmax\n", ""));
    const clipped = runReferenceOutputs(r.graph!, x, 2)[0]!;
    let ties = 0;
    for (let p = 0; p < clipped.length / 5; p++) {
      const v = Array.from(clipped.subarray(5 * p, 5 * p + 5));
      if (v.filter((a) => a === Math.max(...v)).length > 1) ties++;
    }
    expect(ties).toBeGreaterThan(5);
    expect(await agrees(built)).toBe(0);
  }, 60_000);

  it("argmax ties on the raw input: exactly equal channels pick the first", async () => {
    const built = build("network T {\n  input 2x3x4\n  argmax\n}\n", {}, { opset: 15 });
    // Per pixel (4 channels): the largest value at channels {1, 3}, {0, 2}, {2, 3}, all, {0}, {3}.
    const x = Float32Array.from([0, 5, 1, 5, 7, 2, 7, 1, 0, 0, 3, 3, 2, 2, 2, 2, 9, 1, 1, 1, -1, -2, -3, 0]);
    const got = (await runOnnx(built.bytes, built.graph, x, 1))[0]!.data;
    expect(Array.from(got)).toEqual([1, 0, 2, 0, 0, 3]);
    expect(Array.from(runReferenceOutputs(built.graph, x, 1)[0]!)).toEqual([1, 0, 2, 0, 0, 3]);
  }, 60_000);

  it("concat, add and mul with a 1x1xC operand broadcast over H and W, and a standalone sigmoid", async () => {
    const source = [
      "network B {",
      "  image = input 6x5x3",
      "  a = pw 4 act=relu",
      "  avgpool global",
      "  g = conv 1x1 4 norm=none act=sigmoid",
      "  add g from=a",
      "  m = mul g",
      "  b = pw 2 act=hswish from=image",
      "  concat a b image from=m",
      "  sigmoid",
      "}",
      "",
    ].join("\n");
    const built = build(source, {}, { opset: 14 });
    const dump = dumpOnnx(built.bytes);
    // The gate is [N, 4, 1, 1] and broadcasts as numpy does; the sums and products keep the map's shape.
    expect(dump).toContain("node add_0: Add(pw_0, conv_1) -> add_0");
    expect(dump).toContain("node mul_0: Mul(add_0, conv_1) -> mul_0");
    expect(dump).toContain("value_info conv_1: float[N,4,1,1]");
    expect(dump).toContain("value_info add_0: float[N,4,6,5]");
    expect(dump).toContain("value_info mul_0: float[N,4,6,5]");
    expect(dump).toContain("node concat_0: Concat(mul_0, pw_0, pw_2, input) -> concat_0  {axis=1}");
    expect(dump).toContain("value_info concat_0: float[N,13,6,5]");
    expect(dump).toContain("node sigmoid_0.sigmoid: Sigmoid(concat_0) -> sigmoid_0");
    expect(dump).toContain("output sigmoid_0: float[N,13,6,5]");
    expect(await agrees(built)).toBeLessThan(1e-4);
  }, 60_000);

  it("a standalone activation of every kind, through the conv epilogue's lowering", async () => {
    const base = build("network S {\n  input 5x4x3\n  pw 6 norm=none act=linear\n  sigmoid\n}\n", {}, { opset: 13 });
    for (const act of ACTIVATIONS) {
      for (const opset of [13, 14]) {
        const graph: Graph = { ...base.graph, nodes: base.graph.nodes.map((n) => (n.op === "activation" ? { ...n, attrs: { act } } : n)) };
        const r = compile("network S {\n  input 5x4x3\n  pw 6 norm=none act=linear\n  sigmoid\n}\n");
        const bytes = emitOnnx({ graph, costs: r.costs! }, { sourceFile: "s.mn", opset });
        save(bytes);
        // linear is the identity: the model's output is the tensor before it, as after a dropout.
        expect(await agrees({ graph, bytes }, [1, 2], 1e-5, 1, [act === "linear" ? "pw_0" : "sigmoid_0"])).toBeLessThan(1e-5);
        expect(opTypes(bytes).slice(1)).toEqual(ACTIVATION_OPS[act][opset === 13 ? 0 : 1]);
      }
    }
  }, 60_000);

  it("names outputs as chosen, whatever the node ids: swapped names, the input itself", async () => {
    // `pw_0` names the node pw_1, and `conv_0` the node pw_0: the tensors are renamed together.
    const source = "network A {\n  x = input 8x8x3\n  conv_0 = pw 4\n  pw_0 = pw 4 from=x\n  s = add conv_0\n  output pw_0 conv_0 x s\n}\n";
    const built = build(source, {}, { opset: 13 });
    expect(built.graph.outputs).toEqual(["pw_1", "pw_0", "input", "add_0"]);
    const dump = dumpOnnx(built.bytes);
    expect(dump).toContain("  output pw_0: float[N,4,8,8]\n  output conv_0: float[N,4,8,8]\n  output x: float[N,3,8,8]\n  output s: float[N,4,8,8]\n");
    expect(dump).toContain("node pw_0.relu: Relu(pw_0.conv) -> conv_0");
    expect(dump).toContain("node pw_1.relu: Relu(pw_1.conv) -> pw_0");
    expect(dump).toContain("node add_0: Add(pw_0, conv_0) -> s");
    expect(dump).toContain("node x: Identity(input) -> x");
    await agrees(built);
    // Through --outputs: `input` (the graph input's own name) asked for.
    const twice = build("network B {\n  input = input 4x4x2\n  a = pw 3\n  b = pw 2\n}\n", { outputs: ["a", "input", "b"] }, { opset: 13 });
    expect(dumpOnnx(twice.bytes)).toContain("  output a: float[N,3,4,4]\n  output input.output: float[N,2,4,4]\n  output b: float[N,2,4,4]\n");
    const x = inputs(4 * 4 * 2, 5);
    const got = await runOnnx(twice.bytes, twice.graph, x, 1);
    const want = runReferenceOutputs(twice.graph, x, 1);
    got.forEach((o, i) => expect(relativeError(o.data, want[i]!)).toBeLessThan(1e-5));
  }, 60_000);
});

describe("random graphs: ONNX Runtime against the reference on every output", () => {
  it("agrees on every output, by name, at batch 1 and 2", async () => {
    let worst = 0;
    let count = 0;
    await fc.assert(
      fc.asyncProperty(validGraphSpec({ maxSize: 12, maxMap: 32, maxLength: 10 }), fc.boolean(), fc.constantFrom(...OPSETS), async (spec, fuseBatchNorm, opset) => {
        const r = compile(spec.source, { fuseBatchNorm });
        expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
        const graph = r.graph!;
        expect(graph.outputNames ?? []).toEqual(spec.outputs);
        const bytes = emitOnnx({ graph, costs: r.costs! }, { sourceFile: "random.mn", opset });
        save(bytes);
        const e = await agrees({ graph, bytes });
        worst = Math.max(worst, e);
        count++;
      }),
      { numRuns: runs(12), seed: 20_251_126 },
    );
    expect(count).toBe(runs(12));
    expect(worst).toBeLessThan(1e-4);
  }, 240_000);
});

// Debian's python3-onnx provides the reference checker (see test/onnx.test.ts).
const python = "/usr/bin/python3";
const haveChecker = existsSync(python) && spawnSync(python, ["-c", "import onnx"]).status === 0;

describe.runIf(available(haveChecker || process.env["CI"] === "true", "the ONNX checker test of graph networks", `${python} cannot import onnx (apt-get install python3-onnx)`))("the ONNX checker (python3-onnx)", () => {
  it("accepts every graph model emitted above, opsets 13 to 17, with full shape checking", () => {
    expect(checked.length).toBeGreaterThan(20);
    const script = "import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint(len(sys.argv) - 1)\n";
    const out = execFileSync(python, ["-c", script, ...checked], { encoding: "utf8" });
    expect(out.trim()).toBe(String(checked.length));
  }, 120_000);
});

// ---------------------------------------------------------------------------
// The trained models, imported from their .tflite files
// ---------------------------------------------------------------------------

/** Every shared photo with the given extension, by name, sorted. */
const photos = (dir: string, ext: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .map((f) => f.slice(0, -ext.length))
    .sort();

/** The trained model's ONNX, compiled from the example with the .tflite file's weights. */
function trained(example: string, model: string, options: CompileOptions = {}): Built {
  return build(readExample(example), { weights: new Uint8Array(readFileSync(model)), weightsFile: model, ...options }, { opset: 17 });
}

/** The photo's pixels normalised as the example's input declares. */
function pixels(graph: Graph, path: string): Float32Array {
  const input = graph.nodes[0]!;
  if (input.op !== "input" || input.attrs.normalisation === undefined) throw new Error("the example declares no normalisation");
  return normalise(new Uint8Array(readFileSync(path)), 3, input.attrs.normalisation);
}

/** One image through the model: every output, by name, NCHW as ONNX Runtime gives it. */
async function session(bytes: Uint8Array): Promise<(x: Float32Array, [h, w, c]: Shape) => Promise<Record<string, Float32Array>>> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return async (x, shape) => {
    const out = await s.run({ input: new ort.Tensor("float32", toNchw(x, 1, shape), [1, shape[2], shape[0], shape[1]]) });
    return Object.fromEntries(s.outputNames.map((name) => [name, out[name]!.data as Float32Array]));
  };
}


const deeplabData = join(shared, "data", "deeplabv3_mobilenet_v2");
const deeplabModel = join(deeplabData, "model", "deeplabv3.tflite");

describe.runIf(haveShared(deeplabModel, "the trained DeepLabV3 in ONNX Runtime"))(`the trained DeepLabV3 in ONNX Runtime (from ${deeplabData})`, () => {
  it("gives the 33x33x21 class scores within 1e-3 and the 257x257 category mask on every pixel of every photo", async () => {
    const { graph, bytes } = trained("deeplabv3_mobilenet_v2.mn", deeplabModel, { outputs: ["scores", "logits"] });
    const run = await session(bytes);
    const names = photos(join(deeplabData, "images"), ".rgb257");
    expect(names).toHaveLength(7);
    let worst = 0;
    for (const name of names) {
      const out = await run(pixels(graph, join(deeplabData, "images", `${name}.rgb257`)), [257, 257, 3]);
      expect(Object.keys(out)).toEqual(["scores", "logits"]);
      // Scores: [1, 21, 33, 33] → HWC, as the ground truth is stored.
      const scores = toNhwc(out["scores"]!, 1, [33, 33, 21]);
      const e = maxAbsDiff(scores, float32File(join(deeplabData, "ground_truth", `${name}.logits33.f32`)));
      worst = Math.max(worst, e);
      expect(e, name).toBeLessThan(1e-3);
      // The mask: the first largest of the 21 logits at each pixel.
      const logits = out["logits"]!;
      const plane = 257 * 257;
      const mask = new Uint8Array(plane);
      for (let p = 0; p < plane; p++) {
        let best = 0;
        for (let c = 1; c < 21; c++) if (logits[c * plane + p]! > logits[best * plane + p]!) best = c;
        mask[p] = best;
      }
      const truth = grayPng(join(deeplabData, "ground_truth", `${name}.mask.png`));
      expect(truth.length).toBe(plane);
      let differ = 0;
      for (let p = 0; p < plane; p++) if (mask[p] !== truth[p]) differ++;
      expect(differ, `${name}: mask pixels that differ`).toBe(0);
    }
    expect(worst).toBeLessThan(1e-3);
  }, 180_000);
});

const selfieData = join(shared, "data", "selfie_segmentation_v3");
const selfieModel = join(selfieData, "model", "selfie_segmentation.tflite");

describe.runIf(haveShared(selfieModel, "the trained selfie segmentation in ONNX Runtime"))(`the trained selfie segmentation in ONNX Runtime (from ${selfieData})`, () => {
  it("gives the 256x256 person mask within 1e-3 on every photo", async () => {
    const { graph, bytes } = trained("selfie_segmentation.mn", selfieModel);
    const run = await session(bytes);
    const names = photos(join(selfieData, "images"), ".rgb256");
    expect(names).toHaveLength(7);
    for (const name of names) {
      const out = await run(pixels(graph, join(selfieData, "images", `${name}.rgb256`)), [256, 256, 3]);
      expect(Object.keys(out)).toEqual(["mask"]);
      // One channel: NCHW and HWC are the same order.
      expect(maxAbsDiff(out["mask"]!, float32File(join(selfieData, "ground_truth", `${name}.mask.f32`))), name).toBeLessThan(1e-3);
    }
  }, 180_000);

  it("--outputs features: the 128x128x16 features within 1e-3 of the TFLite interpreter's", async () => {
    // The features-only network takes its weights from the features-only file (the same weights, the head cut off).
    const { graph, bytes } = trained("selfie_segmentation.mn", join(selfieData, "model", "selfie_segmentation_features_only.tflite"), { outputs: ["features"] });
    const out = await (await session(bytes))(pixels(graph, join(selfieData, "images", "grace_hopper.rgb256")), [256, 256, 3]);
    expect(Object.keys(out)).toEqual(["features"]);
    const want = float32File(join(selfieData, "ground_truth", "grace_hopper.features.f32"));
    const got = toNhwc(out["features"]!, 1, [128, 128, 16]);
    // The features reach about 95: 1e-3 is float32 rounding through the encoder and decoder.
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-3);
  }, 180_000);
});
