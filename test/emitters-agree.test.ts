/**
 * The two emitters agree with each other, not only each with the reference
 * evaluator: the TypeScript module and the ONNX model compiled from the same
 * network and weights give the same outputs in ONNX Runtime and in Node, on
 * both kernel sets of the module. The MobileNetV2/V3 family is compared on its
 * logits (the final softmax removed, 10 classes): with seeded weights a V3's
 * softmax saturates and would hide a difference.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { emitOnnx } from "../src/emit/onnx/index.js";
import { emitTypeScript } from "../src/emit/ts/index.js";
import { inputs, readExample, relativeError } from "./helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "mnc-agree-"));

/** The source without its final softmax. */
function logits(source: string): string {
  const out = source.replace(/^\s*softmax\s*\n/m, "");
  expect(out).not.toBe(source);
  return out;
}

describe("the TypeScript module and the ONNX model agree", () => {
  it.each([
    ["mobilenet_v1.mn", 0.5, 96, false],
    ["keyword_spotter.mn", 1, 64, false],
    ["shallow_mobilenet.mn", 0.25, 128, false],
    ["mobilenet_v2.mn", 1, 96, true],
    ["mobilenet_v3_large.mn", 1, 64, true],
    ["mobilenet_v3_small.mn", 0.75, 96, true],
  ] as const)("%s at α %s, %s px, batch 2", async (file, alpha, resolution, family) => {
    const r = family ? compile(logits(readExample(file)), { alpha, resolution, set: { classes: "10" } }) : compile(readExample(file), { alpha, resolution });
    expect(r.diagnostics).toEqual([]);
    const compiled = { graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) };
    const [h, w, c] = r.graph!.nodes[0]!.shape!;
    const x = inputs(2 * h * w * c, resolution);

    const ts = emitTypeScript(compiled, { sourceFile: file });
    const path = join(scratch, `${file}.mjs`);
    writeFileSync(path, (await transform(ts.code, { loader: "ts", format: "esm" })).code);
    const mod = (await import(pathToFileURL(path).href)) as {
      createModel(w: Uint8Array, options?: { backend?: "typescript" }): { backend: string; run(x: Float32Array, batch: number): Float32Array };
    };
    const models = [mod.createModel(ts.weights!), mod.createModel(ts.weights!, { backend: "typescript" })];
    expect(models.map((m) => m.backend)).toEqual(["wasm-simd", "typescript"]);

    const session = await ort.InferenceSession.create(emitOnnx(compiled, { sourceFile: file, inputLayout: "nhwc" }), { intraOpNumThreads: 1 });
    const out = await session.run({ input: new ort.Tensor("float32", x, [2, h, w, c]) });
    const fromOnnx = out[session.outputNames[0]!]!.data as Float32Array;

    for (const m of models) expect(relativeError(m.run(x, 2), fromOnnx), m.backend).toBeLessThan(1e-4);
  }, 60_000);
});
