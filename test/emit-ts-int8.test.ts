/**
 * The quantized module (`mnc compile --weights x_quant.tflite --quantized
 * --emit ts|js`): the trained uint8 MobileNetV1 0.25 and MobileNetV2 1.0 on
 * the five shared photos, bit for bit against the integer reference
 * (src/ir/reference-int.ts, xnnpack rounding) and the TFLite interpreter's
 * raw uint8 outputs; its type-checking under strict TypeScript; the int8
 * weights file (its size against the float module's, refused by a float
 * module and vice versa); embedded weights; the JavaScript flavour; small
 * post-training-quantized graphs with every integer op (int8 per-channel
 * weights, SE mul, maxpool, table activations) against the reference.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { emitJavaScript, emitTypeScript, type TsEmitOptions, type TsEmitResult } from "../src/emit/ts/index.js";
import type { Graph } from "../src/ir/graph.js";
import { quantize, runReferenceIntOutputs } from "../src/ir/reference-int.js";
import { readExample, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

// ── helpers ────────────────────────────────────────────────────────────────

type Stored = Uint8Array | Int8Array;
interface Prediction {
  readonly index: number;
  readonly q: number;
  readonly probability: number;
  readonly label?: string;
}
type Backend = "wasm-simd" | "typescript";
interface Quantization {
  readonly type: "uint8" | "int8";
  readonly scale: number;
  readonly zeroPoint: number;
}
interface Model {
  readonly backend: Backend;
  run(input: Stored, batch?: number, output?: Stored): Stored;
  classify(input: Stored, k?: number): Prediction[];
  classifyImage(image: { width: number; height: number; data: Uint8Array }, k?: number): Prediction[];
}
interface Generated {
  readonly inputShape: readonly [number, number, number, number];
  readonly outputShape: readonly [number, number];
  readonly inputQuantization: Quantization;
  readonly outputQuantization: Quantization;
  createModel(weights?: Uint8Array | ArrayBuffer, options?: { backend?: "auto" | Backend }): Model;
  createModelAsync(weights?: Uint8Array | ArrayBuffer, options?: { backend?: "auto" | Backend }): Promise<Model>;
  quantizeInput(input: ArrayLike<number>): Stored;
  dequantize(values: ArrayLike<number>, q?: Quantization): Float32Array;
  topK(output: ArrayLike<number>, k?: number, item?: number): Prediction[];
  imageTensor(image: { width: number; height: number; data: Uint8Array }): Stored;
}

const scratch = mkdtempSync(join(tmpdir(), "mnc-emit-ts-int8-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let modules = 0;

async function load(code: string, loader: "ts" | "js" = "ts"): Promise<Generated> {
  const js = loader === "ts" ? (await transform(code, { loader: "ts", format: "esm" })).code : code;
  const file = join(scratch, `model-${modules++}.mjs`);
  writeFileSync(file, js);
  return (await import(pathToFileURL(file).href)) as Generated;
}

interface Compiled {
  readonly graph: Graph;
  readonly result: Parameters<typeof emitTypeScript>[0];
}

function compiled(source: string, options: CompileOptions = {}): Compiled {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined || r.costs === undefined) throw new Error("no graph");
  return { graph: r.graph, result: { graph: r.graph, costs: r.costs, ...(r.certificate === undefined ? {} : { certificate: r.certificate }) } };
}

/** Type-check one module: strict, no DOM, no Node types (as test/emit-ts.test.ts). */
function typeCheck(code: string): string[] {
  const file = join(scratch, `check-${modules++}.ts`);
  writeFileSync(file, code);
  const program = ts.createProgram([file], {
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noImplicitReturns: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    noFallthroughCasesInSwitch: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    lib: ["lib.es2022.d.ts"],
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

const photos = ["basketball", "burger", "cat", "mountain", "pizza"];
const photoDir = join(shared, "data", "mobilenet_v1", "images");
const photo = (name: string): Uint8Array => new Uint8Array(readFileSync(join(photoDir, `${name}.rgb224`)));

const models = [
  {
    name: "MobileNetV1 0.25 (uint8)",
    dir: join(shared, "data", "mobilenet_v1_quant"),
    file: join(shared, "data", "mobilenet_v1_quant", "model", "mobilenet_v1_0.25_224_quant.tflite"),
    source: "mobilenet_v1_tf.mn",
    options: {},
  },
  {
    name: "MobileNetV2 1.0 (uint8)",
    dir: join(shared, "data", "mobilenet_v2_quant"),
    file: join(shared, "data", "mobilenet_v2_quant", "model", "mobilenet_v2_1.0_224_quant.tflite"),
    source: "mobilenet_v2.mn",
    options: { set: { classes: "1001" } },
  },
] as const;

// ── the trained models ─────────────────────────────────────────────────────

for (const m of models) {
  describe.runIf(haveShared(m.file, `the trained ${m.name}`))(`the trained ${m.name} as a quantized module`, () => {
    // Compiled, emitted and loaded once for the whole block.
    let cache: Promise<{ c: Compiled; emitted: TsEmitResult; mod: Generated; float: TsEmitResult }> | undefined;
    const built = (): Promise<{ c: Compiled; emitted: TsEmitResult; mod: Generated; float: TsEmitResult }> =>
      (cache ??= (async () => {
        const weights = new Uint8Array(readFileSync(m.file));
        const c = compiled(readExample(m.source), { ...m.options, weights, weightsFile: "model.tflite", quantized: true });
        const emitted = emitTypeScript(c.result, { sourceFile: m.source, moduleName: "net.ts", wasm: false });
        const mod = await load(emitted.code);
        const f = compiled(readExample(m.source), { ...m.options, weights, weightsFile: "model.tflite" });
        const float = emitTypeScript(f.result, { sourceFile: m.source, wasm: false });
        return { c, emitted, mod, float };
      })());

    it("equals the integer reference and the interpreter's uint8 outputs on every photo, bit for bit (TypeScript kernels)", { timeout: 120_000 }, async () => {
      const { c, emitted, mod } = await built();
      const model = mod.createModel(emitted.weights, { backend: "typescript" });
      expect(model.backend).toBe("typescript");
      expect(mod.inputQuantization).toEqual({ type: "uint8", scale: 0.0078125, zeroPoint: 128 });
      for (const name of photos) {
        const x = photo(name);
        const out = model.run(x);
        expect(out).toBeInstanceOf(Uint8Array);
        const reference = runReferenceIntOutputs(c.graph, x, "xnnpack")[0]!;
        expect(Array.from(out), name).toEqual(Array.from(reference.data));
        const truth = new Uint8Array(readFileSync(join(m.dir, "ground_truth", `${name}.out.u8`)));
        expect(Array.from(out), `${name} against TFLite`).toEqual(Array.from(truth));
      }
    });
  });
}
