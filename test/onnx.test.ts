/**
 * ONNX export: every example loads and runs in ONNX Runtime and matches the
 * float64 reference evaluator; the ONNX checker (full shape checking) accepts
 * every model; the trained model classifies the shared photos as TFLite does;
 * output is byte-identical run to run; the structure is a golden text dump.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { emitOnnx, type OnnxOptions } from "../src/emit/onnx/index.js";
import { dumpOnnx } from "../src/emit/onnx/dump.js";
import { runReference } from "../src/ir/reference.js";
import type { Graph } from "../src/ir/graph.js";
import { exampleFiles, readExample, root, shared } from "./helpers.js";

const work = mkdtempSync(join(tmpdir(), "mnc-onnx-"));
const checked: string[] = [];

function build(source: string, options: CompileOptions = {}, onnx: Partial<OnnxOptions> = {}): { graph: Graph; bytes: Uint8Array } {
  const r = compile(source, options);
  expect(r.diagnostics).toEqual([]);
  const bytes = emitOnnx({ graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "test.mn", sourceText: source, ...onnx });
  const path = join(work, `model-${checked.length}.onnx`);
  writeFileSync(path, bytes);
  checked.push(path);
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

describe("ONNX Runtime runs every example as the reference evaluator does", () => {
  const cases = exampleFiles().flatMap((f) => [
    [f, 1, 64, true],
    [f, 0.5, 48, false],
    [f, 0.75, 33, true],
  ] as const);
  it.each(cases)("%s at α %s, %s px, BN fused: %s — batch 1 and 3", async (file, alpha, resolution, fuse) => {
    const { graph, bytes } = build(readExample(file), { alpha, resolution, fuseBatchNorm: fuse });
    const shape = graph.nodes[0]!.shape!;
    const outShape = graph.nodes[graph.nodes.length - 1]!.shape!;
    const size = shape[0] * shape[1] * shape[2];
    for (const batch of [1, 3]) {
      const x = input(size * batch);
      const want = runReference(graph, x, batch);
      const got = nchwToNhwc(await runOnnx(bytes, x, batch, shape), batch, outShape);
      expect(relativeError(got, want)).toBeLessThan(1e-4);
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
  });

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
  });

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
  });
});

const data = join(shared, "data", "mobilenet_v1");
const modelPath = join(data, "model", "mobilenet_v1_0.25_224_1_default_1.tflite");

describe.runIf(existsSync(modelPath))(`the trained model in ONNX Runtime (from ${data})`, () => {
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

describe.runIf(haveChecker || process.env["CI"] === "true")("the ONNX checker (python3-onnx)", () => {
  it("accepts every model emitted above, with full shape checking", () => {
    expect(checked.length).toBeGreaterThan(10);
    const script = "import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint(len(sys.argv) - 1)\n";
    const out = execFileSync(python, ["-c", script, ...checked], { encoding: "utf8" });
    expect(out.trim()).toBe(String(checked.length));
  }, 120_000);
});
