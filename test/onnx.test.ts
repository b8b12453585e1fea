/**
 * ONNX export: every example (MobileNetV1, V2's residual bottlenecks, V3's
 * squeeze-and-excitation and h-swish) loads and runs in ONNX Runtime and
 * matches the float64 reference evaluator at opset 13 (h-swish decomposed)
 * and 17 (HardSwish); the ONNX checker (full shape checking) accepts every
 * model; the trained model classifies the shared photos as TFLite does;
 * output is byte-identical run to run; the structure is a golden text dump.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile, normalise, type CompileOptions } from "../src/index.js";
import { emitOnnx, type OnnxOptions } from "../src/emit/onnx/index.js";
import { dumpOnnx } from "../src/emit/onnx/dump.js";
import { runReference, traceReference } from "../src/ir/reference.js";
import type { Graph, Node } from "../src/ir/graph.js";
import { exampleFiles, fitResolution, readExample, root, shared, RESIDUAL_SE } from "./helpers.js";
import { available, haveShared } from "./optional.js";

const work = mkdtempSync(join(tmpdir(), "mnc-onnx-"));
const checked: string[] = [];

/** Write a model for the checker at the end of the file. */
function save(bytes: Uint8Array): string {
  const path = join(work, `model-${checked.length}.onnx`);
  writeFileSync(path, bytes);
  return path;
}

function build(source: string, options: CompileOptions = {}, onnx: Partial<OnnxOptions> = {}): { graph: Graph; bytes: Uint8Array } {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]); // odd resolutions warn (MN6003)
  const bytes = emitOnnx({ graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "test.mn", sourceText: source, ...onnx });
  checked.push(save(bytes));
  return { graph: r.graph!, bytes };
}

/** NHWC batch → NCHW. */
function toNchw(x: Float32Array, batch: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < h; y++)
      for (let i = 0; i < w; i++)
        for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + i] = x[((b * h + y) * w + i) * c + ch]!;
  return out;
}

async function runOnnx(bytes: Uint8Array, x: Float32Array, batch: number, shape: readonly number[], layout: "nchw" | "nhwc" = "nchw"): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const [h, w, c] = shape as [number, number, number];
  const feed = layout === "nhwc" ? new ort.Tensor("float32", x, [batch, h, w, c]) : new ort.Tensor("float32", toNchw(x, batch, h, w, c), [batch, c, h, w]);
  const out = await session.run({ input: feed });
  return out[session.outputNames[0]!]!.data as Float32Array;
}

/** Outputs compared in HWC order per batch item (the reference's layout). */
function nchwToNhwc(y: Float32Array, batch: number, shape: readonly number[]): Float32Array {
  const [h, w, c] = shape as [number, number, number];
  if (h === 1 && w === 1) return y;
  const out = new Float32Array(y.length);
  for (let b = 0; b < batch; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = y[(b * c + ch) * h * w + i]!;
  return out;
}

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

const input = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(0.1 * i) + 0.3 * Math.cos(0.017 * i * i));

/** The graph's output node (where the reference's result comes from). */
function outputNode(graph: Graph): Node {
  return graph.nodes.find((n) => n.id === graph.outputs[0])!;
}

/** ONNX Runtime and the reference evaluator agree on `graph`'s output at batch 1 and 3. */
async function agrees(graph: Graph, bytes: Uint8Array): Promise<void> {
  const shape = graph.nodes[0]!.shape!;
  const outShape = outputNode(graph).shape!;
  const size = shape[0] * shape[1] * shape[2];
  for (const batch of [1, 3]) {
    const x = input(size * batch);
    const want = runReference(graph, x, batch);
    const got = nchwToNhwc(await runOnnx(bytes, x, batch, shape), batch, outShape);
    expect(relativeError(got, want)).toBeLessThan(1e-4);
  }
}

/** The ONNX op types of a model, from its text dump. */
function opTypes(bytes: Uint8Array): string[] {
  return [...dumpOnnx(bytes).matchAll(/^ {2}node [^:]+: (\w+)\(/gm)].map((m) => m[1]!);
}


describe("ONNX Runtime runs every example as the reference evaluator does", () => {
  // Opset 13 lowers h-swish to x · HardSigmoid(x); 14 and later use HardSwish.
  const cases = exampleFiles().flatMap((f) => [
    [f, 1, 64, true, 13],
    [f, 0.5, 48, false, 17],
    [f, 0.75, 33, true, 17],
  ] as const);
  it.each(cases)("%s at α %s, %s px, BN fused: %s, opset %s — batch 1 and 3", async (file, alpha, resolution, fuse, opset) => {
    const source = readExample(file);
    // Ten classes keep the classifier small; the layers under test are the same.
    const set = /\(classes\s*=/.test(source) ? { set: { classes: "10" } } : {};
    const { graph, bytes } = build(source, { alpha, resolution: fitResolution(file, resolution), fuseBatchNorm: fuse, ...set }, { opset });
    await agrees(graph, bytes);
  }, 60_000);

  it.each([13, 14, 15, 16, 17])("a residual + SE network at opset %s, BN fused and kept", async (opset) => {
    for (const fuseBatchNorm of [true, false]) {
      const { graph, bytes } = build(RESIDUAL_SE, { fuseBatchNorm }, { opset });
      await agrees(graph, bytes);
      // One ONNX node per activation (two for h-swish at opset 13), one Add per add, one Mul per mul.
      const count = (pred: (n: Node) => boolean): number => graph.nodes.filter(pred).length;
      const act = (a: string) => count((n) => "act" in n.attrs && n.attrs.act === a);
      const hswish = act("hswish");
      expect(hswish).toBeGreaterThan(0);
      const ops = opTypes(bytes);
      const ofType = (t: string): number => ops.filter((o) => o === t).length;
      expect(ofType("Add")).toBe(count((n) => n.op === "add"));
      expect(ofType("Add")).toBe(3);
      expect(ofType("Mul")).toBe(count((n) => n.op === "mul") + (opset >= 14 ? 0 : hswish));
      expect(ofType("HardSwish")).toBe(opset >= 14 ? hswish : 0);
      expect(ofType("HardSigmoid")).toBe(act("hsigmoid") + (opset >= 14 ? 0 : hswish));
      expect(ofType("Sigmoid")).toBe(act("sigmoid"));
      expect(ofType("Relu")).toBe(act("relu"));
      expect(ofType("Clip")).toBe(act("relu6"));
      expect(ofType("BatchNormalization") > 0).toBe(!fuseBatchNorm);
    }
  }, 60_000);

  it("MobileNetV3 at opset 13 has no HardSwish: x · HardSigmoid(x, α=1/6, β=1/2), as at opset 17 with HardSwish", async () => {
    const source = readExample("mobilenet_v3_small.mn");
    const v13 = build(source, { resolution: 64, set: { classes: "10" } }, { opset: 13 });
    const v17 = build(source, { resolution: 64, set: { classes: "10" } }, { opset: 17 });
    const dump = dumpOnnx(v13.bytes);
    expect(dump).not.toMatch(/HardSwish/);
    expect(dump).toMatch(/node conv_0\.hswish\.gate: HardSigmoid\(conv_0\.conv\) -> conv_0\.hswish\.gate {2}\{alpha=0\.1666667 beta=0\.5\}/);
    expect(dump).toMatch(/node conv_0\.hswish: Mul\(conv_0\.conv, conv_0\.hswish\.gate\) -> conv_0 /);
    expect(dumpOnnx(v17.bytes)).toMatch(/node conv_0\.hswish: HardSwish\(conv_0\.conv\) -> conv_0 /);
    const shape = v13.graph.nodes[0]!.shape!;
    const x = input(shape[0] * shape[1] * shape[2]);
    expect(relativeError(await runOnnx(v13.bytes, x, 1, shape), await runOnnx(v17.bytes, x, 1, shape))).toBeLessThan(1e-5);
  }, 60_000);

  it("follows the graph: the outputs are graph.outputs, whichever node they are", async () => {
    const r = compile(RESIDUAL_SE);
    const graph = r.graph!;
    const fc = graph.nodes.find((n) => n.op === "fc")!;
    const dw = graph.nodes.find((n) => n.op === "depthwise" && n.id.startsWith("res_"))!;
    expect([fc.id, dw.id]).toEqual(["fc_5", "res_4.dw_1"]);
    for (const out of [fc, dw]) {
      const g: Graph = { ...graph, outputs: [out.id] };
      const bytes = emitOnnx({ graph: g, costs: r.costs! }, { sourceFile: "test.mn" });
      checked.push(save(bytes));
      const dump = dumpOnnx(bytes);
      expect(dump).toContain(`  output ${out.id}: float[N,`);
      expect(dump).not.toMatch(/probabilities/);
      await agrees(g, bytes);
    }
  }, 60_000);

  it("gives every output its own tensor: several outputs, the same one twice, the input passed through", async () => {
    const r = compile(RESIDUAL_SE);
    const g: Graph = { ...r.graph!, outputs: ["fc_5", "softmax_0", "fc_5"] };
    const bytes = emitOnnx({ graph: g, costs: r.costs! }, { sourceFile: "test.mn" });
    checked.push(save(bytes));
    const dump = dumpOnnx(bytes);
    expect(dump).toContain("  output fc_5: float[N,10]\n  output softmax_0: float[N,10]\n  output fc_5.output: float[N,10]\n");
    expect(dump).toContain("  node fc_5.output: Identity(fc_5) -> fc_5.output\n");
    const x = input(32 * 32 * 3 * 3);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const got = await session.run({ input: new ort.Tensor("float32", toNchw(x, 3, 32, 32, 3), [3, 3, 32, 32]) });
    const trace = traceReference(g, x, 3);
    for (const [name, id] of [["fc_5", "fc_5"], ["softmax_0", "softmax_0"], ["fc_5.output", "fc_5"]] as const) {
      expect(relativeError(got[name]!.data as Float32Array, trace.get(id)!)).toBeLessThan(1e-4);
    }
    // A network that only passes its input through (dropout) still has an output distinct from its input.
    const through = build("network D {\n  input 4x4x3\n  dropout 0.5\n}\n");
    expect(dumpOnnx(through.bytes)).toMatch(/output dropout_0\.output: float\[N,3,4,4\]\n[\s\S]*node dropout_0\.output: Identity\(input\)/);
    await agrees(through.graph, through.bytes);
  }, 60_000);

  it("adds and multiplies tensors of any rank the IR allows (fc outputs are [N, F])", async () => {
    // An fc inside a residual: [N, 16, 1, 1] + [N, 16] (reshaped), then [N, 16] + [N, 16].
    const source = "network R {\n  input 8x8x3\n  pw 16\n  avgpool global\n  residual { fc 16 }\n  fc 16\n  residual { fc 16 }\n  se 0.5 gate=sigmoid\n  fc 4\n}\n";
    for (const opset of [13, 17]) {
      const { graph, bytes } = build(source, {}, { opset });
      expect(dumpOnnx(bytes)).toMatch(/node res_\d+\.add: Add\(\S+, res_\d+\.add\.reshape\.1\)/);
      await agrees(graph, bytes);
    }
  }, 60_000);

  it("--input-layout nhwc takes NHWC input and agrees with NCHW", async () => {
    const source = readExample("keyword_spotter.mn");
    const nchw = build(source, { resolution: 40 });
    const nhwc = build(source, { resolution: 40 }, { inputLayout: "nhwc" });
    const x = input(40 * 40);
    const a = await runOnnx(nchw.bytes, x, 1, [40, 40, 1]);
    const b = await runOnnx(nhwc.bytes, x, 1, [40, 40, 1], "nhwc");
    expect(relativeError(b, a)).toBeLessThan(1e-6);
    expect(dumpOnnx(nhwc.bytes)).toMatch(/input input: float\[N,40,40,1\]\n/);
  }, 60_000);

  it("--embed-preprocessing: raw pixels in, Sub(mean) and Div(std) in front, the plain model's outputs on normalised pixels (1e-6), in both layouts", async () => {
    const source = "network P(classes = 5) {\n  input 21x19x3 mean=120 std=58\n  conv 3x3 8 stride=2 act=relu6\n  separable 16 stride=2\n  avgpool global\n  fc classes\n  softmax\n}\n";
    const pixels = new Uint8Array(21 * 19 * 3 * 2);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919 + (i >> 3) * 31) % 256;
    const raw = Float32Array.from(pixels);
    const normalised = normalise(pixels, 3, { mean: 120, std: 58 });
    for (const inputLayout of ["nchw", "nhwc"] as const) {
      const plain = build(source, {}, { inputLayout });
      const embedded = build(source, {}, { inputLayout, embedPreprocessing: true });
      const want = await runOnnx(plain.bytes, normalised, 2, [21, 19, 3], inputLayout);
      const got = await runOnnx(embedded.bytes, raw, 2, [21, 19, 3], inputLayout);
      expect(relativeError(got, want)).toBeLessThan(1e-6);
      // The raw pixels on the plain model are another matter: the test can tell them apart.
      expect(relativeError(await runOnnx(plain.bytes, raw, 2, [21, 19, 3], inputLayout), want)).toBeGreaterThan(1e-3);
      const dump = dumpOnnx(embedded.bytes);
      expect(dump).toMatch(inputLayout === "nhwc" ? /input input: float\[N,21,19,3\]\n/ : /input input: float\[N,3,21,19\]\n/);
      expect(dump).toContain("node input.centred: Sub(input, input.mean) -> input.centred");
      expect(dump).toContain("node input.normalised: Div(input.centred, input.std) -> input.normalised");
      if (inputLayout === "nhwc") expect(dump).toContain("Transpose(input.normalised)");
      // Without the option, the model is the one it was: the same bytes.
      expect(Buffer.from(build(source, {}, { inputLayout, embedPreprocessing: false }).bytes).equals(Buffer.from(plain.bytes))).toBe(true);
    }
  }, 60_000);

  it("handles what MobileNets rarely use: valid padding, windowed pools, fc before spatial ops, opset 17", async () => {
    const source = "network Odd {\n  input 19x17x3\n  conv 3x3 8 pad=valid act=relu6\n  maxpool 3x3 stride=2 pad=same\n  avgpool 2x2 stride=1 pad=same\n  conv 5x1 6 stride=2 norm=none act=linear\n  fc 12\n  dw 1x1\n  fc 4\n  softmax\n}\n";
    for (const opset of [13, 17]) {
      const { graph, bytes } = build(source, { fuseBatchNorm: opset === 13 }, { opset });
      const x = input(19 * 17 * 3);
      expect(relativeError(await runOnnx(bytes, x, 1, [19, 17, 3]), runReference(graph, x))).toBeLessThan(1e-4);
    }
  });
});

describe("the model file", () => {
  it("is byte-identical from run to run, through the CLI", () => {
    const mnc = (out: string) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "compile", "examples/keyword_spotter.mn", "-o", out], { cwd: root, encoding: "utf8" });
    const a = join(work, "a.onnx");
    const b = join(work, "b.onnx");
    expect(mnc(a).status).toBe(0);
    expect(mnc(b).status).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  }, 60_000);

  it("is byte-identical from compile to compile, at opset 13 and 17", () => {
    for (const opset of [13, 17]) {
      for (const [source, options] of [
        [RESIDUAL_SE, {}],
        [readExample("mobilenet_v3_small.mn"), { resolution: 64, set: { classes: "10" } }],
        [readExample("mobilenet_v2.mn"), { resolution: 64, alpha: 0.35, set: { classes: "10" }, fuseBatchNorm: false }],
      ] as const) {
        const a = build(source, options, { opset }).bytes;
        const b = build(source, options, { opset }).bytes;
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      }
    }
  }, 60_000);

  it("records its provenance and costs, and each node's source line", () => {
    const { bytes } = build(readExample("mobilenet_v1.mn"), { alpha: 0.25, resolution: 96 });
    const dump = dumpOnnx(bytes);
    expect(dump).toMatch(/metadata mnc\.mult_adds = \d+\n/);
    expect(dump).toMatch(/metadata mnc\.bn_fusion_max_relative_error = \d\.\d{3}e-\d+\n/);
    expect(dump).toMatch(/node sep_3\.pw: Conv\(sep_3\.dw, sep_3\.pw\.weight, sep_3\.pw\.bias\) -> sep_3\.pw\.conv .*# test\.mn:11:3: separable 128\n/);
  });

  it("has a reviewed structure (golden text dump, weights left out)", async () => {
    const { bytes } = build(readExample("mobilenet_v1.mn"), {});
    await expect(dumpOnnx(bytes)).toMatchFileSnapshot("golden/onnx/mobilenet_v1.txt");
    const unfused = build(readExample("keyword_spotter.mn"), { fuseBatchNorm: false });
    await expect(dumpOnnx(unfused.bytes)).toMatchFileSnapshot("golden/onnx/keyword_spotter.unfused.txt");
    const residual = build(RESIDUAL_SE, {});
    await expect(dumpOnnx(residual.bytes)).toMatchFileSnapshot("golden/onnx/residual_se.txt");
  }, 60_000);

  it("--embed-preprocessing through the CLI: the declared normalisation embedded; a usage error (exit 2, nothing written) without one or with --emit ts", () => {
    const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
    const out = join(work, "pre.onnx");
    const ok = mnc("compile", "examples/mobilenet_v1_tf.mn", "--alpha", "0.25", "--resolution", "64", "--embed-preprocessing", "-o", out);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const dump = dumpOnnx(new Uint8Array(readFileSync(out)));
    expect(dump).toContain("node input.centred: Sub(input, input.mean) -> input.centred");
    checked.push(out);
    const none = join(work, "none.onnx");
    const refused = mnc("compile", "examples/mobilenet_v1.mn", "--embed-preprocessing", "-o", none);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe("mnc: --embed-preprocessing: examples/mobilenet_v1.mn declares no input normalisation to embed (declare it: input HxWxC mean=M std=S)\n");
    expect(existsSync(none)).toBe(false);
    const ts = mnc("compile", "examples/mobilenet_v1_tf.mn", "--emit", "ts", "--embed-preprocessing", "-o", join(work, "pre.ts"));
    expect(ts.status).toBe(2);
    expect(ts.stderr).toContain("--embed-preprocessing goes with --emit onnx");
    expect(existsSync(join(work, "pre.ts"))).toBe(false);
  }, 60_000);

  it("is never half-written: a failed compile leaves an existing file untouched and creates none", () => {
    const out = join(work, "keep.onnx");
    writeFileSync(out, "previous");
    const bad = join(work, "bad.mn");
    writeFileSync(bad, "network N {\n  input 8x8x3\n  pw 0\n}\n");
    const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
    expect(mnc("compile", bad, "-o", out).status).toBe(1);
    expect(readFileSync(out, "utf8")).toBe("previous");
    expect(mnc("compile", bad).status).toBe(1);
    expect(existsSync(join(work, "bad.onnx"))).toBe(false);
    expect(mnc("compile", "examples/keyword_spotter.mn", "-o", join(work, "no", "such", "dir.onnx")).status).toBe(1);
  }, 60_000);
});

const data = join(shared, "data", "mobilenet_v1");
const modelPath = join(data, "model", "mobilenet_v1_0.25_224_1_default_1.tflite");

describe.runIf(haveShared(modelPath, "the trained model in ONNX Runtime"))(`the trained model in ONNX Runtime (from ${data})`, () => {
  it("gives TFLite's probabilities (within 1e-4) and top-5 on every photo", async () => {
    const out = join(work, "m.onnx");
    const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "compile", "examples/mobilenet_v1_tf.mn", "--weights", modelPath, "-o", out], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    checked.push(out);
    const bytes = new Uint8Array(readFileSync(out));
    const truth = JSON.parse(readFileSync(join(data, "ground_truth", "ground_truth.json"), "utf8")) as { images: { name: string; top5: { index_1001: number }[] }[] };
    expect(truth.images).toHaveLength(5);
    for (const image of truth.images) {
      const x = Float32Array.from(readFileSync(join(data, "images", `${image.name}.rgb224`)), (p) => (p - 127.5) / 127.5);
      const got = await runOnnx(bytes, x, 1, [224, 224, 3]);
      const b = readFileSync(join(data, "ground_truth", `${image.name}.probs.f32`));
      const want = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst).toBeLessThan(1e-4);
      const top5 = Array.from(got, (p, i) => [p, i] as const)
        .sort((p, q) => q[0] - p[0])
        .slice(0, 5)
        .map(([, i]) => i);
      expect(top5).toEqual(image.top5.map((t) => t.index_1001));
    }
  }, 60_000);
});

// Debian's python3-onnx (installed by .ci/run) provides the reference checker.
const python = "/usr/bin/python3";
const haveChecker = existsSync(python) && spawnSync(python, ["-c", "import onnx"]).status === 0;

describe.runIf(available(haveChecker || process.env["CI"] === "true", "the ONNX checker test", `${python} cannot import onnx (apt-get install python3-onnx)`))("the ONNX checker (python3-onnx)", () => {
  it("accepts every model emitted above, with full shape checking", () => {
    expect(checked.length).toBeGreaterThan(10);
    const script = "import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint(len(sys.argv) - 1)\n";
    const out = execFileSync(python, ["-c", script, ...checked], { encoding: "utf8" });
    expect(out.trim()).toBe(String(checked.length));
  }, 120_000);
});
