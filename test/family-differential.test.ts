/**
 * Differential tests on random graphs: specs drawn from test/generators.ts
 * (bottlenecks with and without SE, residual bodies, every activation, user
 * blocks, pools) compiled with seeded weights and batch-norm fused, then run
 * by the float64 reference evaluator, by ONNX Runtime on the emitted ONNX
 * model, and by the emitted TypeScript module on both its kernel sets
 * (WebAssembly SIMD and pure TypeScript), at batch 1 and 3. Every output is
 * compared value by value with the reference.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { emitOnnx } from "../src/emit/onnx/index.js";
import { emitTypeScript } from "../src/emit/ts/index.js";
import { runReference } from "../src/ir/reference.js";
import { runs as scaled, timeLimit } from "./fuzz-scale.js";
import { validSpec } from "./generators.js";
import { inputs, relativeError } from "./helpers.js";

const TOLERANCE = 1e-4;
const scratch = mkdtempSync(join(tmpdir(), "mnc-differential-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let modules = 0;

interface Model {
  readonly backend: string;
  run(input: Float32Array, batch?: number): Float32Array;
}
interface Generated {
  createModel(weights?: Uint8Array, options?: { backend?: "wasm-simd" | "typescript" }): Model;
}

async function load(code: string): Promise<Generated> {
  const js = await transform(code, { loader: "ts", format: "esm" });
  const file = join(scratch, `model-${modules++}.mjs`);
  writeFileSync(file, js.code);
  return (await import(pathToFileURL(file).href)) as Generated;
}

/** NHWC items → NCHW, and an NCHW output back to HWC per item (the reference's layout). */
function nhwcToNchw(x: Float32Array, batch: number, [h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) for (let p = 0; p < h! * w!; p++) for (let ch = 0; ch < c!; ch++) out[(b * c! + ch) * h! * w! + p] = x[(b * h! * w! + p) * c! + ch]!;
  return out;
}
function nchwToNhwc(y: Float32Array, batch: number, [h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(y.length);
  for (let b = 0; b < batch; b++) for (let ch = 0; ch < c!; ch++) for (let p = 0; p < h! * w!; p++) out[(b * h! * w! + p) * c! + ch] = y[(b * c! + ch) * h! * w! + p]!;
  return out;
}

describe("random graphs: reference = ONNX Runtime = both kernel sets of the TypeScript module", () => {
  it("agree within 1e-4 at batch 1 and 3", async () => {
    await fc.assert(
      fc.asyncProperty(validSpec({ minSize: 6, maxSize: 20 }), fc.integer({ min: 1, max: 1000 }), async (source, seed) => {
        const r = compile(source, { seed });
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        const graph = r.graph!;
        const inShape = graph.nodes[0]!.shape!;
        const outShape = graph.nodes.find((n) => n.id === graph.outputs[0])!.shape!;
        const onnx = emitOnnx({ graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "random.mn", sourceText: source });
        const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1 });
        const module = emitTypeScript({ graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "random.mn", embedWeights: true });
        const generated = await load(module.code);
        expect(module.kernels.wasm).toBe(true);
        for (const batch of [1, 3]) {
          const x = inputs(batch * inShape[0] * inShape[1] * inShape[2], seed + batch);
          const expected = runReference(graph, x, batch);
          const feed = new ort.Tensor("float32", nhwcToNchw(x, batch, inShape), [batch, inShape[2], inShape[0], inShape[1]]);
          const got = (await session.run({ [session.inputNames[0]!]: feed }))[session.outputNames[0]!]!.data as Float32Array;
          expect(relativeError(nchwToNhwc(got, batch, outShape), expected)).toBeLessThan(TOLERANCE);
          for (const backend of ["wasm-simd", "typescript"] as const) {
            const model = generated.createModel(undefined, { backend });
            expect(model.backend).toBe(backend);
            expect(relativeError(model.run(x, batch), expected)).toBeLessThan(TOLERANCE);
          }
        }
      }),
      { seed: 20261126, numRuns: scaled(20) },
    );
  }, timeLimit(180_000));
});
