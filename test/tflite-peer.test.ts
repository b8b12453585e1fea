/**
 * TensorFlow Lite's own interpreter (npm @tensorflow/tfjs-tflite, its
 * WebAssembly build with XNNPACK, one thread: bench/tflite.ts) as a peer of
 * the integer reference: networks quantized after training by mnc, written
 * as .tflite files (bench/tflite-export.ts), give the integer reference's
 * outputs bit for bit in TensorFlow Lite's int8 kernels; and the trained
 * uint8 MobileNetV2 file gives the shared ground truth. This is what
 * `npm run bench` relies on to compare the int8 runtimes' outputs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { calibrate, compile, quantizeGraph } from "../src/index.js";
import type { Graph } from "../src/ir/graph.js";
import { quantize, runReferenceInt } from "../src/ir/reference-int.js";
import { tfliteOf } from "../bench/tflite-export.js";
import { parseProfile, tfliteRunner, xnnpackProof } from "../bench/tflite.js";
import { shared } from "./helpers.js";
import { haveShared } from "./optional.js";

/** Deterministic pixel values in [0, 255) (the networks declare no normalisation: they read them as they are). */
function inputs(length: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 255;
  });
}

/** A float network quantized after training on a few inputs, and the stored inputs of others. */
function quantized(source: string, seed: number): { graph: Graph; stored: Int8Array[] } {
  const r = compile(source, { seed });
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const [h, w, c] = r.graph!.nodes[0]!.shape!;
  const calibration = [0, 1, 2, 3].map((k) => inputs(h * w * c, seed * 10 + k));
  const graph = quantizeGraph(r.graph!, calibrate(r.graph!, calibration));
  const q = graph.nodes[0]!.quant!;
  const stored = [7, 8].map((k) => Int8Array.from(inputs(h * w * c, seed * 10 + k), (v) => quantize(v, q)));
  return { graph, stored };
}

async function tfliteOutputs(model: Uint8Array, stored: readonly (Int8Array | Uint8Array)[]): Promise<number[][]> {
  const t = await tfliteRunner(model);
  const out = stored.map((x) => {
    t.input.data().set(x);
    expect(t.runner.infer()).toBe(true);
    return Array.from(t.output.data());
  });
  t.runner.cleanUp();
  return out;
}

/*
 * The global pools average an odd number of cells (5×5, 9×9). With an even count TensorFlow
 * Lite's interpreter and the integer reference part at ties: the interpreter leaves
 * AVERAGE_POOL_2D to its own kernel (XNNPACK does not take it; see the profile test), which
 * rounds a sum half-way between two steps away from zero, where the reference's `xnnpack`
 * mode rounds the scaled sum to even (a 6×6 pool of these networks differs by 1 in one value
 * of 32). MobileNetV2 at 224 pools 7×7: no ties, and the shared ground truth is met.
 */
const NETWORKS = {
  // Every op the exporter writes: a strided full convolution, depthwise and 1×1 (separable), a residual bottleneck, pool, fc, softmax.
  residual: `network R(classes = 10) {
  input 20x20x3
  defaults act=relu6
  conv 3x3 16 stride=2
  separable 24
  bottleneck 24 expand=2
  bottleneck 32 expand=3 stride=2
  avgpool global
  fc classes
  softmax
}
`,
  // Linear and relu activations, an fc without softmax (its logits are the output).
  plain: `network P(classes = 7) {
  input 18x18x4
  conv 3x3 8 act=relu
  dw 3x3 stride=2 act=linear
  pw 12 act=relu
  avgpool global
  fc classes
}
`,
} as const;

describe("TensorFlow Lite's interpreter as a peer of the integer reference", () => {
  for (const [name, source] of Object.entries(NETWORKS)) {
    it(`${name}: mnc's post-training quantization, written as a .tflite, runs bit for bit as the integer reference in XNNPACK's int8 kernels`, { timeout: 60_000 }, async () => {
      for (const seed of [1, 2, 3]) {
        const { graph, stored } = quantized(source, seed);
        const ours = stored.map((x) => Array.from(runReferenceInt(graph, x, "xnnpack")));
        const theirs = await tfliteOutputs(tfliteOf(graph), stored);
        expect(theirs, `seed ${seed}`).toEqual(ours);
        // Not a constant output: the comparison has something to compare.
        expect(new Set(ours.flat()).size).toBeGreaterThan(1);
      }
    });
  }

  it("runs one thread and XNNPACK: the SIMD build without threads, the delegate's int8 operators in its profile", { timeout: 60_000 }, async () => {
    const { graph, stored } = quantized(NETWORKS.residual, 3);
    const t = await tfliteRunner(tfliteOf(graph), true);
    expect(t.build).toBe("tflite_web_api_cc_simd.js");
    expect(t.features.multiThreading).toBe(false);
    t.input.data().set(stored[0]!);
    for (let i = 0; i < 3; i++) t.runner.infer();
    const rows = parseProfile(t.runner.getProfilingSummary());
    t.runner.cleanUp();
    const ops = rows.filter((r) => r.kind === "delegate-op").map((r) => r.type);
    expect(ops).toContain("Convolution (NHWC, QC8) IGEMM");
    expect(ops).toContain("Convolution (NHWC, QC8) DWConv");
    expect(ops).toContain("Convolution (NHWC, QC8) GEMM");
    expect(ops.some((o) => o.startsWith("Add (ND, QS8)"))).toBe(true);
    expect(xnnpackProof(rows)).toMatch(/^1 TfLiteXNNPackDelegate node running /);
  });

  const v2 = join(shared, "data", "mobilenet_v2_quant");
  const v2File = join(v2, "model", "mobilenet_v2_1.0_224_quant.tflite");
  it.runIf(haveShared(v2File, "TensorFlow Lite on the trained MobileNetV2"))("the trained uint8 MobileNetV2: the shared ground truth, as the interpreter that made it", { timeout: 60_000 }, async () => {
    const photos = ["burger", "cat"];
    const stored = photos.map((p) => new Uint8Array(readFileSync(join(shared, "data", "mobilenet_v1", "images", `${p}.rgb224`))));
    const theirs = await tfliteOutputs(new Uint8Array(readFileSync(v2File)), stored);
    photos.forEach((p, i) => expect(theirs[i], p).toEqual(Array.from(readFileSync(join(v2, "ground_truth", `${p}.out.u8`)))));
  });
});
