/**
 * The TypeScript module of graph networks (`--emit ts` / `--emit js`):
 * dilated, transposed and broadcast layers, concatenations, resizes,
 * standalone activations, argmax and several outputs, on the TypeScript
 * kernels and the WebAssembly ones, against the float64 reference evaluator —
 * the DeepLabV3 and selfie segmentation examples with seeded weights, their
 * `--outputs` modules output by output through runAll, random graphs from
 * test/graph-generators.ts at batch 1 and 2, and the JavaScript module; the
 * planner's choices (no fusion where it would be wrong, concatenation
 * inputs written in place); the API of several outputs and of a
 * segmentation output; and the trained DeepLabV3 and selfie segmentation
 * models from their TFLite files on every shared photo against their ground
 * truth.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import fc from "fast-check";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { emitJavaScript, emitTypeScript, type TsEmitOptions, type TsEmitResult } from "../src/emit/ts/index.js";
import type { Graph } from "../src/ir/graph.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { runs, timeLimit } from "./fuzz-scale.js";
import { validGraphSpec } from "./graph-generators.js";
import { inputs, readExample, relativeError, shared } from "./helpers.js";
import { argmaxes, DEEPLAB_DATA, float32File, grayPng, maxAbsDiff, photoBatch, PHOTOS, SELFIE_DATA } from "./segmentation-data.js";
import { haveShared } from "./optional.js";

// ── helpers ────────────────────────────────────────────────────────────────

type Backend = "wasm-simd" | "typescript";
interface Model {
  readonly backend: Backend;
  run(input: Float32Array, batch?: number, output?: Float32Array): Float32Array;
  runAll?(input: Float32Array, batch?: number): Record<string, Float32Array>;
  classify?(input: Float32Array, k?: number): unknown;
}
interface Generated {
  readonly inputShape: readonly [number, number, number, number];
  readonly outputShape: readonly [number, number];
  readonly outputNames?: readonly string[];
  readonly outputShapes?: Readonly<Record<string, readonly [number, number, number, number]>>;
  readonly topK?: unknown;
  readonly imageTensor?: unknown;
  createModel(weights?: Uint8Array | ArrayBuffer, options?: { backend?: "auto" | Backend }): Model;
}

/** The kernel sets every module here is checked on (Node has WebAssembly SIMD). */
const BACKENDS: readonly Backend[] = ["typescript", "wasm-simd"];

const scratch = mkdtempSync(join(tmpdir(), "mnc-emit-ts-graph-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let modules = 0;

/** Type-strip the emitted TypeScript with esbuild and import it. */
async function load(code: string): Promise<Generated> {
  const js = await transform(code, { loader: "ts", format: "esm" });
  return importJs(js.code);
}

async function importJs(code: string): Promise<Generated> {
  const file = join(scratch, `model-${modules++}.mjs`);
  writeFileSync(file, code);
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

function emit(c: Compiled, options: Partial<TsEmitOptions> = {}): TsEmitResult {
  return emitTypeScript(c.result, { sourceFile: "graph.mn", ...options });
}

const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const inputSize = (g: Graph): number => sizeOf(g.nodes[0]!.shape!);

/** Every output of a model on `x` (a batch), in graph.outputs order: runAll's by name, or run's alone. */
function outputsOf(mod: Generated, model: Model, x: Float32Array, batch: number): Float32Array[] {
  if (mod.outputNames === undefined) return [model.run(x, batch)];
  const all = model.runAll!(x, batch);
  expect(Object.keys(all)).toEqual([...mod.outputNames]);
  // run() gives the first.
  expect(model.run(x, batch)).toEqual(all[mod.outputNames[0]!]);
  return mod.outputNames.map((name) => all[name]!);
}

/**
 * The module on `backends` against the reference on every output: a batch of `batch` different
 * inputs, each output within `tolerance` (relative to its largest value) of the reference.
 */
async function expectMatchesReference(c: Compiled, options: { batch?: number; tolerance?: number; backends?: readonly Backend[]; emitted?: TsEmitResult } = {}): Promise<void> {
  const batch = options.batch ?? 1;
  const emitted = options.emitted ?? emit(c, { embedWeights: true });
  const mod = await load(emitted.code);
  const size = inputSize(c.graph);
  const x = new Float32Array(batch * size);
  for (let b = 0; b < batch; b++) x.set(inputs(size, b + 1), b * size);
  const expected = runReferenceOutputs(c.graph, x, batch);
  for (const backend of options.backends ?? BACKENDS) {
    const model = emitted.weights === undefined ? mod.createModel(undefined, { backend }) : mod.createModel(emitted.weights, { backend });
    expect(model.backend).toBe(backend);
    const got = outputsOf(mod, model, x, batch);
    expect(got).toHaveLength(expected.length);
    got.forEach((g, i) => expect(relativeError(g, expected[i]!), `${backend}, output ${i} (${c.graph.outputs[i]})`).toBeLessThan(options.tolerance ?? 1e-4));
  }
}

/** Type-check one module under strict TypeScript with every unused-code check, no DOM or Node types. */
function typeCheck(files: Record<string, string>, roots: readonly string[]): string[] {
  const dir = mkdtempSync(join(scratch, "check-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const program = ts.createProgram(
    roots.map((f) => join(dir, f)),
    {
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noImplicitReturns: true,
      noUnusedLocals: true,
      noUnusedParameters: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ["lib.es2022.d.ts"],
      types: [],
    },
  );
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName.slice(dir.length + 1) ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

/** The body of a generated layer function, or undefined when the module has none of that name. */
function functionBody(code: string, name: string): string | undefined {
  const start = code.indexOf(`function ${name}(m: Float32Array): void {`);
  return start < 0 ? undefined : code.slice(start, code.indexOf("\n}\n", start));
}

// ── every graph op, several outputs ────────────────────────────────────────

/**
 * A small network with every graph op: a dilated convolution and depthwise convolution, a
 * transposed convolution, both resize modes, a concat whose inputs are written in place, an add
 * of a 1x1xC tensor right after the convolution that makes it (not fusable), a standalone
 * sigmoid, argmax, and three named outputs — one of them read again later.
 */
const EVERY = `network Every {
  image = input 12x10x3
  a = conv 3x3 8 dilation=2 act=relu
  dw 3x3 dilation=2 act=relu6
  up = deconv 2x2 6 stride=2 act=hswish
  resize to=a coords=half_pixel
  small = conv 1x1 6 act=relu
  side = pw 6 act=linear from=a
  joined = concat small
  avgpool global
  shift = conv 1x1 12 norm=none act=linear
  add shift from=joined
  gate = sigmoid
  big = resize 2 mode=nearest coords=asymmetric
  scores = conv 1x1 4 norm=none act=linear
  mask = argmax
  output mask scores up
}
`;

describe("a network with every graph op and three named outputs", () => {
  const c = compiled(EVERY, { file: "every.mn" });

  it("computes every output within 1e-4 of the reference at batch 1 and 3", async () => {
    const emitted = emit(c);
    await expectMatchesReference(c, { batch: 1, emitted });
    await expectMatchesReference(c, { batch: 3, emitted });
  }, 60_000);

  it("exports outputNames, outputShapes and runAll; no topK or classify for outputs that are maps", async () => {
    const emitted = emit(c, { embedWeights: true });
    const mod = await load(emitted.code);
    expect(mod.outputNames).toEqual(["mask", "scores", "up"]);
    expect(mod.outputShapes).toEqual({ mask: [1, 24, 20, 1], scores: [1, 24, 20, 4], up: [1, 24, 20, 6] });
    expect(mod.outputShape).toEqual([1, 24 * 20]);
    expect(mod.topK).toBeUndefined();
    expect(mod.imageTensor).toBeTypeOf("function");
    const model = mod.createModel(undefined, { backend: "typescript" });
    expect(model.classify).toBeUndefined();
    expect(Object.keys(model).sort()).toEqual(["backend", "run", "runAll"]);
    const x = inputs(12 * 10 * 3, 5);
    const all = model.runAll!(x);
    // Each output is a new array of its own; run() gives the first, also into a given array.
    expect(all["mask"]).toEqual(model.run(x));
    const out = new Float32Array(480);
    expect(model.run(x, 1, out)).toBe(out);
    expect(out).toEqual(all["mask"]);
    expect(all["scores"]!.length).toBe(24 * 20 * 4);
    expect(all["up"]!.buffer).not.toBe(all["scores"]!.buffer);
    // The mask is the argmax of the scores, pixel by pixel.
    for (let p = 0; p < 480; p++) {
      const s = all["scores"]!.subarray(4 * p, 4 * p + 4);
      expect(all["mask"]![p]).toBe(s.indexOf(Math.max(...s)));
    }
    // runAll checks its input as run does.
    expect(() => model.runAll!(x.subarray(1))).toThrow(/the input has 359 values; a batch of 1 needs 360/);
    expect(() => model.runAll!(x, 0)).toThrow(/batch must be a positive integer, not 0/);
    expect(() => model.runAll!([...x] as unknown as Float32Array)).toThrow(/must be a Float32Array/);
    // The header says what the module computes.
    expect(emitted.code).toMatch(/^ \*   outputs +mask 24x20x1 \(argmax_0: argmax\), scores 24x20x4 \(conv_6: conv\), up 24x20x6 \(deconv_2: deconv\)$/m);
    expect(emitted.code).toMatch(/^ \*   const outputs = model\.runAll\(input\); +\/\/ \{ mask, scores, up \}, each NHWC \(outputShapes\)$/m);
  }, 60_000);

  it("writes the concat's inputs in place, and runs the add of a 1x1xC tensor as a kernel of its own", () => {
    const { code } = emit(c, { wasm: false });
    // Both inputs of the concat are 1x1 convolutions read by nothing else: no concat layer runs.
    expect(functionBody(code, "concat_0")).toBeUndefined();
    expect(code).toMatch(/^ \* Concatenated in place: 2 inputs of the concatenation written straight into its buffer by the layers making them\.$/m);
    const side = functionBody(code, "pw_4")!;
    const small = functionBody(code, "conv_3")!;
    for (const body of [side, small]) expect(body).toMatch(/\* 12/);
    expect(code).toMatch(/^ \* Written straight into a concatenation: its channels at (\d+), 12 floats from one pixel to the next\.$/m);
    // conv_5 (1x1x12) is added to every pixel of the concat: an add of its own, not conv_5's epilogue.
    expect(functionBody(code, "add_0")).toMatch(/for \(let c = 0; c < 12; c\+\+\) m\[y \+ c\] = m\[x \+ c\]! \+ m\[c \+ \d+\]!;/);
    expect(functionBody(code, "conv_5")).not.toMatch(/residual/);
    // The dilated layers read taps two cells apart; the resizes read their tables.
    expect(code).toMatch(/^ \* conv_0 — conv 3x3 dilation 2, 12x10x3 → 12x10x8, relu; /m);
    expect(code).toMatch(/^ \* dw_1 — depthwise 3x3 dilation 2, 12x10x8 → 12x10x8, relu6; /m);
    expect(code).toMatch(/^const resize_0_FX: Float64Array = new Float64Array\(\[/m);
    expect(code).toMatch(/^const resize_1_X: Int32Array = new Int32Array\(\[0, 0, 12, 12, /m);
  });

  it("type-checks under strict TypeScript with every unused-code check, and so does a consumer of the JavaScript module's .d.ts", () => {
    const emitted = emit(c, { moduleName: "every.ts" });
    expect(typeCheck({ "every.ts": emitted.code }, ["every.ts"])).toEqual([]);
    const js = emitJavaScript(c.result, { sourceFile: "every.mn", moduleName: "every.js" });
    const consumer = `import { createModel, outputNames, outputShapes, type OutputName, type Outputs } from "./every.js";
declare const bytes: Uint8Array;
const model = createModel(bytes);
const all: Outputs = model.runAll(new Float32Array(360), 1);
const name: OutputName = outputNames[2];
const up: "up" = outputNames[2];
const mask: Float32Array = all.mask;
export const shape: readonly [number, number, number, number] = outputShapes[name];
export const both = [up, mask, model.run(new Float32Array(360))] as const;
`;
    const files = { "package.json": '{ "type": "module" }', "every.js": js.code, "every.d.ts": js.declarations, "consumer.ts": consumer };
    expect(typeCheck(files, ["consumer.ts"])).toEqual([]);
    const wrong = 'import { createModel, topK } from "./every.js";\nexport const a = createModel(new Uint8Array(0)).runAll(new Float32Array(1)).nothing;\nexport const b = topK;\n';
    const errors = typeCheck({ ...files, "wrong.ts": wrong }, ["wrong.ts"]).join("\n");
    expect(errors).toMatch(/has no exported member 'topK'/);
    expect(errors).toMatch(/Property 'nothing' does not exist on type 'Outputs'/);
  }, 60_000);

  it("as JavaScript (--emit js): the TypeScript module without its types, giving the same outputs", async () => {
    const typescript = emit(c, { moduleName: "every.ts" });
    const javascript = emitJavaScript(c.result, { sourceFile: "graph.mn", moduleName: "every.js" });
    expect(javascript.weights).toEqual(typescript.weights);
    expect((await transform(javascript.code, { loader: "js", format: "esm" })).code).toBe((await transform(typescript.code, { loader: "ts", format: "esm" })).code);
    const fromJs = await importJs(javascript.code);
    const fromTs = await load(typescript.code);
    const x = new Float32Array(2 * 360);
    x.set(inputs(360, 1));
    x.set(inputs(360, 2), 360);
    for (const backend of BACKENDS) {
      const a = fromJs.createModel(javascript.weights, { backend }).runAll!(x, 2);
      const b = fromTs.createModel(typescript.weights, { backend }).runAll!(x, 2);
      expect(a).toEqual(b);
    }
    await expectMatchesReference(c, { batch: 2, emitted: javascript });
  }, 60_000);
});

describe("fusions fire only where they are right", () => {
  /**
   * An SE gate written with the gate first (`mul x` after it; shapes put the gate second:
   * mul_0 reads [pw_0, conv_1]), fused into the pointwise convolution after it; a mul of two maps
   * (mul_1) before a pointwise convolution, and an add of a 1x1xC tensor (conv_3) right after the
   * depthwise convolution making the map, not fused.
   */
  const GATES = `network Gates {
  image = input 9x7x4
  x = pw 8 act=relu
  avgpool global
  g = conv 1x1 8 norm=none act=sigmoid
  mul x
  a = pw 6 act=linear
  shift = conv 1x1 6 norm=none act=linear from=g
  b = pw 6 act=relu from=image
  mul a from=b
  pw 6 act=relu6
  dw 3x3 act=linear
  add shift
}
`;

  it("an SE gate either way round is fused; a mul of two maps and a broadcast add are kernels of their own", async () => {
    const c = compiled(GATES);
    expect(c.graph.nodes.find((n) => n.id === "mul_0")!.inputs).toEqual(["pw_0", "conv_1"]);
    const { code } = emit(c, { wasm: false });
    expect(functionBody(code, "mul_0")).toBeUndefined();
    expect(code).toMatch(/^ \* pw_2 — pointwise conv 1x1, 9x7x8 → 9x7x6, no activation, input scaled by mul_0; /m);
    expect(functionBody(code, "mul_1")).toMatch(/m\[i \+ \d+\] = m\[i(?: \+ \d+)?\]! \* m\[i(?: \+ \d+)?\]!;/);
    expect(code).toMatch(/^ \* pw_5 — pointwise conv 1x1, 9x7x6 → 9x7x6, relu6; /m);
    expect(functionBody(code, "add_0")).toMatch(/m\[y \+ c\] = m\[x \+ c\]! \+ m\[c \+ \d+\]!;/);
    expect(code).toMatch(/^ \* dw_6 — depthwise 3x3, 9x7x6 → 9x7x6, no activation; /m);
    expect(code).toMatch(/^ \* Fused: 1 squeeze-and-excitation scale into the pointwise convolution after it\.$/m);
    await expectMatchesReference(c, { batch: 2 });
  }, 60_000);
});

// ── the examples ───────────────────────────────────────────────────────────

describe("the segmentation examples with seeded weights", () => {
  it("DeepLabV3-MobileNetV2: the 257x257x21 logits within 1e-4 of the reference", async () => {
    await expectMatchesReference(compiled(readExample("deeplabv3_mobilenet_v2.mn"), { file: "deeplabv3_mobilenet_v2.mn" }));
  }, 240_000);

  it("the selfie segmentation model: the 256x256 mask within 1e-4 of the reference", async () => {
    await expectMatchesReference(compiled(readExample("selfie_segmentation.mn"), { file: "selfie_segmentation.mn" }));
  }, 120_000);
});

describe("the examples' --outputs modules, output by output through runAll", () => {
  it("DeepLabV3 --outputs scores,logits: the 33x33 class scores and the 257x257 logits", async () => {
    const c = compiled(readExample("deeplabv3_mobilenet_v2.mn"), { file: "deeplabv3_mobilenet_v2.mn", outputs: ["scores", "logits"] });
    expect(c.graph.outputNames).toEqual(["scores", "logits"]);
    await expectMatchesReference(c);
  }, 240_000);

  it("the selfie segmentation model --outputs features: the 128x128x16 features, at batch 2", async () => {
    const c = compiled(readExample("selfie_segmentation.mn"), { file: "selfie_segmentation.mn", outputs: ["features"] });
    const mod = await load(emit(c, { embedWeights: true }).code);
    expect(mod.outputNames).toEqual(["features"]);
    expect(mod.outputShapes).toEqual({ features: [1, 128, 128, 16] });
    await expectMatchesReference(c, { batch: 2 });
  }, 120_000);
});

// ── random graphs ──────────────────────────────────────────────────────────

describe("random graphs: both kernel sets agree with the reference on every output", () => {
  it("at batch 1 and 2", async () => {
    await fc.assert(
      fc.asyncProperty(validGraphSpec({ minSize: 4, maxSize: 12, maxMap: 24 }), fc.integer({ min: 1, max: 1000 }), async (spec, seed) => {
        const c = compiled(spec.source, { seed });
        expect(c.graph.outputNames ?? []).toEqual(spec.outputs);
        const emitted = emit(c, { embedWeights: true });
        await expectMatchesReference(c, { batch: 1, emitted });
        await expectMatchesReference(c, { batch: 2, emitted });
      }),
      { seed: 20261126, numRuns: runs(12) },
    );
  }, timeLimit(180_000));
});

// ── the trained models ─────────────────────────────────────────────────────

const DEEPLAB = DEEPLAB_DATA;
const DEEPLAB_MODEL = join(DEEPLAB, "model", "deeplabv3.tflite");

describe.runIf(haveShared(DEEPLAB_MODEL, "the emitted module on the trained DeepLabV3"))("the trained DeepLabV3-MobileNetV2 from its TFLite file, on every shared photo", () => {
  it("gives the interpreter's category mask on all 66,049 pixels and its class scores within 1e-3 (--outputs scores,logits)", async () => {
    const c = compiled(readExample("deeplabv3_mobilenet_v2.mn"), {
      file: "deeplabv3_mobilenet_v2.mn",
      weights: new Uint8Array(readFileSync(DEEPLAB_MODEL)),
      weightsFile: "deeplabv3.tflite",
      outputs: ["scores", "logits"],
    });
    const emitted = emit(c);
    const mod = await load(emitted.code);
    const x = photoBatch(c.graph, DEEPLAB, "rgb257");
    const size = inputSize(c.graph);
    for (const backend of BACKENDS) {
      const model = mod.createModel(emitted.weights, { backend });
      PHOTOS.forEach((name, i) => {
        const all = model.runAll!(x.subarray(i * size, (i + 1) * size));
        expect(maxAbsDiff(all["scores"]!, float32File(join(DEEPLAB, "ground_truth", `${name}.logits33.f32`))), `${backend} ${name}`).toBeLessThan(1e-3);
        const mask = argmaxes(all["logits"]!, 21);
        expect(mask.length).toBe(66_049);
        expect(mask, `${backend} ${name}`).toEqual(grayPng(join(DEEPLAB, "ground_truth", `${name}.mask.png`)));
      });
    }
  }, 600_000);
});

const SELFIE = SELFIE_DATA;
const SELFIE_MODEL = join(SELFIE, "model", "selfie_segmentation.tflite");
const SELFIE_FEATURES = join(SELFIE, "model", "selfie_segmentation_features_only.tflite");

describe.runIf(haveShared(SELFIE_MODEL, "the emitted module on the trained selfie segmentation model"))("the trained selfie segmentation model from its TFLite file, on every shared photo", () => {
  it("gives the person mask within 1e-3 of the ground truth, at batch 7", async () => {
    const c = compiled(readExample("selfie_segmentation.mn"), { file: "selfie_segmentation.mn", weights: new Uint8Array(readFileSync(SELFIE_MODEL)), weightsFile: "selfie_segmentation.tflite" });
    const emitted = emit(c);
    const mod = await load(emitted.code);
    const x = photoBatch(c.graph, SELFIE, "rgb256");
    const P = 256 * 256;
    for (const backend of BACKENDS) {
      const masks = mod.createModel(emitted.weights, { backend }).run(x, PHOTOS.length);
      PHOTOS.forEach((name, i) => {
        expect(maxAbsDiff(masks.subarray(i * P, (i + 1) * P), float32File(join(SELFIE, "ground_truth", `${name}.mask.f32`))), `${backend} ${name}`).toBeLessThan(1e-3);
      });
    }
  }, 300_000);

  it.runIf(haveShared(SELFIE_FEATURES, "the selfie features-only file"))("--outputs features with the features-only file: the interpreter's features within 1e-3", async () => {
    const c = compiled(readExample("selfie_segmentation.mn"), {
      file: "selfie_segmentation.mn",
      weights: new Uint8Array(readFileSync(SELFIE_FEATURES)),
      weightsFile: "selfie_segmentation_features_only.tflite",
      outputs: ["features"],
    });
    const emitted = emit(c);
    const mod = await load(emitted.code);
    const x = photoBatch(c.graph, SELFIE, "rgb256");
    const size = inputSize(c.graph);
    const at = PHOTOS.indexOf("grace_hopper");
    for (const backend of BACKENDS) {
      const { features } = mod.createModel(emitted.weights, { backend }).runAll!(x.subarray(at * size, (at + 1) * size));
      expect(maxAbsDiff(features!, float32File(join(SELFIE, "ground_truth", "grace_hopper.features.f32"))), backend).toBeLessThan(1e-3);
    }
  }, 120_000);
});
