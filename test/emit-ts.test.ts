/**
 * The TypeScript emitter (`mnc compile --emit ts`): the generated module,
 * type-stripped by esbuild and imported, against the float64 reference
 * evaluator on every example at several α and resolutions (batch 1 and 3),
 * against TensorFlow Lite's outputs on the trained MobileNetV1 and real
 * photos, and on random small networks; the MobileNetV2/V3 family and random
 * residual and SE graphs on the TypeScript kernels (fused adds and SE scales,
 * buffers from liveness); its type-checking under strict
 * TypeScript with no Node or DOM library; embedded weights; the weights
 * file's checks; hostile labels; determinism; and a golden file of the code
 * for a tiny network, reviewed as text.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import fc from "fast-check";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { commentText, identifier, stringLiteral } from "../src/emit/ts/code.js";
import { axisClasses } from "../src/emit/ts/depthwise.js";
import { emitTypeScript, TsEmitOptionError, type TsEmitOptions, type TsEmitResult } from "../src/emit/ts/index.js";
import { base64, HEADER_BYTES } from "../src/emit/ts/weights-file.js";
import type { Graph } from "../src/ir/graph.js";
import { runReference } from "../src/ir/reference.js";
import { validSpec } from "./generators.js";
import { exampleFiles, readExample, shared, inputs, relativeError, RESIDUAL_SE } from "./helpers.js";
import { haveShared } from "./optional.js";

// ── helpers ────────────────────────────────────────────────────────────────

/** What a generated module exports (labels only when emitted with labels). */
interface Prediction {
  readonly index: number;
  readonly probability: number;
  readonly label?: string;
}
type Backend = "wasm-simd" | "typescript";
interface ModelOptions {
  readonly backend?: "auto" | Backend;
}
interface Model {
  readonly backend: Backend;
  run(input: Float32Array, batch?: number, output?: Float32Array): Float32Array;
  classify(input: Float32Array, k?: number): Prediction[];
}
interface Generated {
  readonly inputShape: readonly [number, number, number, number];
  readonly outputShape: readonly [number, number];
  readonly labels?: readonly string[];
  createModel(weights?: Uint8Array | ArrayBuffer, options?: ModelOptions): Model;
  createModelAsync(weights?: Uint8Array | ArrayBuffer, options?: ModelOptions): Promise<Model>;
  topK(probabilities: ArrayLike<number>, k?: number, item?: number): Prediction[];
}

const scratch = mkdtempSync(join(tmpdir(), "mnc-emit-ts-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let modules = 0;

/** Type-strip the emitted TypeScript with esbuild and import it as an ES module. */
async function load(code: string): Promise<Generated> {
  const js = await transform(code, { loader: "ts", format: "esm" });
  const file = join(scratch, `model-${modules++}.mjs`);
  writeFileSync(file, js.code);
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
  return emitTypeScript(c.result, { sourceFile: "test.mn", ...options });
}

/** Emit, load and create the model (from the weights file, or the embedded weights) on the backend the host picks. */
async function build(c: Compiled, options: Partial<TsEmitOptions> = {}): Promise<{ mod: Generated; model: Model; emitted: TsEmitResult }> {
  const emitted = emit(c, options);
  const mod = await load(emitted.code);
  const model = options.embedWeights === true ? mod.createModel() : mod.createModel(emitted.weights);
  return { mod, model, emitted };
}

/** Both kernel sets of a module: Node has WebAssembly SIMD, so "auto" picks it. */
const BACKENDS: readonly Backend[] = ["wasm-simd", "typescript"];


const inputSize = (g: Graph): number => {
  const s = g.nodes[0]!.shape!;
  return s[0] * s[1] * s[2];
};

/**
 * The emitted module against the reference: a batch of three different
 * images within 1e-4 of the reference, and each image run alone equal to its
 * row of the batch.
 */
async function expectMatchesReference(c: Compiled, options: Partial<TsEmitOptions> = {}): Promise<void> {
  const { mod, model: auto, emitted } = await build(c, options);
  expect(auto.backend).toBe("wasm-simd");
  for (const backend of BACKENDS) await expectModelMatchesReference(c, mod, mod.createModel(emitted.weights, { backend }));
}

async function expectModelMatchesReference(c: Compiled, mod: Generated, model: Model): Promise<void> {
  const size = inputSize(c.graph);
  const [, H, W, C] = mod.inputShape;
  expect(H * W * C).toBe(size);
  const outSize = mod.outputShape[1];
  const batch = new Float32Array(3 * size);
  for (let b = 0; b < 3; b++) batch.set(inputs(size, b + 1), b * size);
  const out = model.run(batch, 3);
  expect(out.length).toBe(3 * outSize);
  const reference = runReference(c.graph, batch, 3);
  expect(relativeError(out, reference), model.backend).toBeLessThan(1e-4);
  for (let b = 0; b < 3; b++) {
    const one = model.run(batch.subarray(b * size, (b + 1) * size));
    expect(one).toEqual(out.subarray(b * outSize, (b + 1) * outSize));
  }
}

/** A network from a few layer lines. */
function net(input: string, layers: readonly string[], name = "N"): string {
  return `network ${name} {\n  input ${input}\n${layers.map((l) => `  ${l}\n`).join("")}}\n`;
}

const TINY = `# a tiny network with every kind of kernel, for the golden file
network Tiny(classes = 3) {
  input 8x8x2
  conv 3x3 4 stride=2
  separable 4 stride=2
  avgpool global
  fc classes
  softmax
}
`;

// ── numerics ───────────────────────────────────────────────────────────────

/**
 * α and resolutions per example: small enough to run fast, varied enough to meet every border case
 * (the MobileNetV2/V3 family with 10 classes).
 */
const SETTINGS: Readonly<Record<string, readonly (readonly [alpha: number, resolution: number, classes?: number])[]>> = {
  "conv_mobilenet.mn": [
    [1, 32],
    [0.5, 64],
  ],
  // Graph networks (test/emit-ts-graph.test.ts has them at full size, their several outputs and trained weights).
  "deeplabv3_mobilenet_v2.mn": [[0.5, 33]],
  "selfie_segmentation.mn": [[1, 64]],
  "keyword_spotter.mn": [
    [1, 96],
    [0.5, 61],
  ],
  "mobilenet_v1.mn": [
    [1, 64],
    [0.5, 96],
    [0.25, 224],
  ],
  "mobilenet_v1_tf.mn": [
    [1, 64],
    [0.5, 96],
  ],
  "mobilenet_v2.mn": [[1, 64, 10]],
  "mobilenet_v3_large.mn": [[1, 64, 10]],
  "mobilenet_v3_small.mn": [[0.75, 96, 10]],
  "shallow_mobilenet.mn": [
    [1, 64],
    [0.5, 75],
  ],
};

describe("the emitted module computes what the reference evaluator computes", () => {
  it("has settings for every example", () => {
    expect(Object.keys(SETTINGS).sort()).toEqual(exampleFiles());
  });

  const cases = exampleFiles().flatMap((file) => (SETTINGS[file] ?? []).map(([alpha, resolution, classes]) => [file, alpha, resolution, classes] as const));
  it.each(cases)("%s at α %s, %s px: batch 1 and batch 3 within 1e-4", async (file, alpha, resolution, classes) => {
    await expectMatchesReference(compiled(readExample(file), { file, alpha, resolution, ...(classes === undefined ? {} : { set: { classes: String(classes) } }) }));
  }, 60_000);

  it("folds batch-norm itself when the graph was compiled without fusion", async () => {
    const source = readExample("mobilenet_v1.mn");
    const unfused = compiled(source, { alpha: 0.25, resolution: 64, fuseBatchNorm: false });
    expect(unfused.graph.nodes.some((n) => n.op === "conv" && n.weights?.bn !== undefined)).toBe(true);
    await expectMatchesReference(unfused);
    // The same code and weights as for the graph the pipeline fused.
    const fused = compiled(source, { alpha: 0.25, resolution: 64 });
    const a = emit(unfused);
    const b = emit(fused);
    expect(Buffer.from(a.weights!).equals(Buffer.from(b.weights!))).toBe(true);
    const body = (code: string): string => code.slice(code.indexOf("// ── internals"));
    expect(body(a.code)).toEqual(body(b.code));
  }, 60_000);

  it("handles random small networks: kernels, strides, pads, pooling, dropout, fc on a map, softmax per pixel", async () => {
    const kernel = fc.constantFrom("1x1", "2x2", "3x3", "5x5", "1x3", "3x1", "7x7", "9x9");
    const conv = fc.record({
      op: fc.constantFrom("conv", "dw", "pw", "separable"),
      kernel,
      channels: fc.integer({ min: 1, max: 9 }),
      stride: fc.constantFrom("1", "2", "1x2", "3"),
      pad: fc.constantFrom("same", "valid"),
      act: fc.constantFrom("relu", "relu6", "linear"),
    });
    const pool = fc.record({ op: fc.constantFrom("maxpool", "avgpool"), kernel: fc.constantFrom("2x2", "3x3", "2x1"), stride: fc.constantFrom("", " stride=1", " stride=2"), pad: fc.constantFrom("same", "valid") });
    const layer = fc.oneof(
      { weight: 4, arbitrary: conv.map((l) => (l.op === "pw" ? `pw ${l.channels} act=${l.act}` : l.op === "dw" ? `dw ${l.kernel} stride=${l.stride} pad=${l.pad} act=${l.act}` : `${l.op} ${l.op === "conv" ? `${l.kernel} ` : ""}${l.channels} stride=${l.stride} pad=${l.pad} act=${l.act}`)) },
      { weight: 1, arbitrary: pool.map((p) => `${p.op} ${p.kernel}${p.stride} pad=${p.pad}`) },
      { weight: 1, arbitrary: fc.constant("dropout 0.5") },
    );
    const tail = fc.constantFrom([], ["softmax"], ["avgpool global"], ["maxpool global", "fc 5"], ["fc 4", "softmax"], ["fc 7"]);
    const spec = fc.record({
      h: fc.integer({ min: 5, max: 17 }),
      w: fc.integer({ min: 5, max: 17 }),
      c: fc.integer({ min: 1, max: 5 }),
      layers: fc.array(layer, { minLength: 1, maxLength: 4 }),
      tail,
    });
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const r = compile(net(`${s.h}x${s.w}x${s.c}`, [...s.layers, ...s.tail]));
        // Random stacks may shrink a map below a window (a user error); those are not this test's business.
        fc.pre(r.graph !== undefined && r.costs !== undefined);
        await expectMatchesReference({ graph: r.graph!, result: { graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) } });
      }),
      { numRuns: 100, seed: 20240611 },
    );
  }, 120_000);
});

// ── residual connections and squeeze-and-excitation ────────────────────────


/** Adds and muls that no convolution can take: an add after a pool, an SE scale read by a pool. */
const UNFUSED = `network U(classes = 3) {
  input 6x6x8
  bottleneck 8 expand=2 se=0.25 act=hswish
  residual { pw 8 act=sigmoid; dw 3x3 act=relu6 }
  residual { maxpool 3x3 stride=1 pad=same }
  se 0.5 gate=sigmoid
  avgpool global
  fc classes
  softmax
}
`;

/** The network without its final softmax: the logits, which a saturated softmax (seeded V3 weights) would hide. */
const logits = (source: string): string => {
  const out = source.replace(/^\s*softmax\s*\n/m, "");
  expect(out).not.toBe(source);
  return out;
};

/**
 * The TypeScript kernels of a network, as `{ backend: "typescript" }` of the full module and as the
 * `--no-wasm` module: both within 1e-4 of the reference at batch 3 and 1, and equal to each other.
 */
async function expectTypescriptMatchesReference(c: Compiled): Promise<TsEmitResult> {
  const full = emit(c);
  const plain = emit(c, { wasm: false });
  expect(Buffer.from(plain.weights!).equals(Buffer.from(full.weights!))).toBe(true);
  const fullMod = await load(full.code);
  const plainMod = await load(plain.code);
  const forced = fullMod.createModel(full.weights, { backend: "typescript" });
  const alone = plainMod.createModel(plain.weights);
  expect(forced.backend).toBe("typescript");
  expect(alone.backend).toBe("typescript");
  await expectModelMatchesReference(c, fullMod, forced);
  await expectModelMatchesReference(c, plainMod, alone);
  const x = inputs(inputSize(c.graph), 11);
  expect(alone.run(x)).toEqual(forced.run(x));
  return plain;
}

/** The body of a generated layer function. */
function functionBody(code: string, name: string): string {
  const start = code.indexOf(`function ${name}(m: Float32Array): void {`);
  expect(start, name).toBeGreaterThanOrEqual(0);
  return code.slice(start, code.indexOf("\n}\n", start));
}

describe("residual connections and squeeze-and-excitation on the TypeScript kernels", () => {
  it.each([
    ["mobilenet_v2.mn", 1, 96],
    ["mobilenet_v3_large.mn", 1, 96],
    ["mobilenet_v3_small.mn", 1, 64],
  ] as const)("%s at α %s, %s px, 10 classes: the logits, batch 1 and 3 within 1e-4 (backend typescript and --no-wasm)", async (file, alpha, resolution) => {
    await expectTypescriptMatchesReference(compiled(logits(readExample(file)), { file, alpha, resolution, set: { classes: "10" } }));
  }, 60_000);

  it("the tiny residual + SE network, probabilities and logits, batch 1 and 3 within 1e-4", async () => {
    await expectTypescriptMatchesReference(compiled(RESIDUAL_SE));
    await expectTypescriptMatchesReference(compiled(logits(RESIDUAL_SE)));
    await expectTypescriptMatchesReference(compiled(UNFUSED));
  }, 60_000);

  it("fuses each residual add into the convolution before it and each SE scale into the pointwise convolution after it", () => {
    const c = compiled(RESIDUAL_SE);
    const { code } = emit(c, { wasm: false });
    for (const id of ["bneck_1.add", "bneck_3.add", "res_4.add", "bneck_1.se.scale", "bneck_3.se.scale"]) expect(code).not.toContain(`function ${id.replace(/\./g, "_")}(`);
    for (const n of c.graph.nodes.slice(1)) if (n.op !== "add" && n.op !== "mul") expect(code).toContain(`function ${n.id.replace(/\./g, "_")}(m: Float32Array): void {`);
    expect(code).toMatch(/^ \* Fused: 3 residual adds into the convolution before them; 2 squeeze-and-excitation scales into the pointwise convolution after them\.$/m);
    expect(code).toMatch(/^ \* bneck_1\.project — pointwise conv 1x1, 16x16x16 → 16x16x16, no activation, input scaled by bneck_1\.se\.scale, plus the residual \(bneck_1\.add\); /m);
    expect(code).toMatch(/^ \* res_4\.dw_1 — depthwise 3x3, 8x8x24 → 8x8x24, relu6, plus the residual \(res_4\.add\); /m);
    // The projection packs its rows times the gate and adds the block's input as it stores.
    const project = functionBody(code, "bneck_1_project");
    expect(project).toMatch(/const g = m\[k \+ \d+\]!;\n\s+m\[t\] = m\[x \+ k\]! \* g;/);
    expect(project).toMatch(/m\[y\] = a00 \+ m\[y [+-] \d+\]!;/);
    // hswish, hsigmoid and sigmoid in the epilogues.
    expect(functionBody(code, "conv_0")).toContain("a00 <= -3 ? 0 : a00 >= 3 ? a00 : (a00 * (a00 + 3)) / 6");
    expect(functionBody(code, "bneck_1_se_excite")).toContain("a00 <= -3 ? 0 : a00 >= 3 ? 1 : (a00 + 3) / 6");
    expect(functionBody(code, "res_4_pw_0")).toContain("1 / (1 + Math.exp(-a00))");
  });

  it("runs an add or an SE scale that no convolution takes as a kernel of its own, in place", () => {
    const c = compiled(UNFUSED);
    const { code } = emit(c, { wasm: false });
    const add = c.graph.nodes.find((n) => n.op === "add" && n.inputs.some((i) => i.includes("maxpool")))!;
    const mul = c.graph.nodes.find((n) => n.op === "mul" && !n.id.startsWith("bneck"))!;
    // The add writes over the operand it reads for the last time (the pool's output).
    const sum = /m\[(i(?: \+ \d+)?)\] = m\[(i(?: \+ \d+)?)\]! \+ m\[(i(?: \+ \d+)?)\]!;/.exec(functionBody(code, add.id.replace(/\./g, "_")));
    expect(sum).not.toBeNull();
    expect([sum![2], sum![3]]).toContain(sum![1]);
    // The SE scale read by a pool: x · gate[c] over every pixel, into x's own buffer.
    const scale = /for \(let p = 0, x = (\d+), y = (\d+); p < 36; p\+\+, x \+= 8, y \+= 8\) \{\n\s+for \(let c = 0; c < 8; c\+\+\) m\[y \+ c\] = m\[x \+ c\]! \* m\[c(?: \+ \d+)?\]!;/.exec(functionBody(code, mul.id.replace(/\./g, "_")));
    expect(scale).not.toBeNull();
    expect(scale![1]).toBe(scale![2]);
  });

  it("keeps a residual's input live across the body: buffers from liveness, two for a chain", () => {
    const buffersLine = (code: string): string => code.split("\n").find((l) => l.includes(" floats each"))!;
    // A chain alternates between two buffers.
    expect(buffersLine(emit(compiled(TINY)).code)).toMatch(/^ \* \d+ \(\d+ floats each\), scratch at \d+/);
    // MobileNetV2: a block input stays live while expansion, depthwise and projection run.
    const v2 = emit(compiled(readExample("mobilenet_v2.mn"), { resolution: 64, set: { classes: "10" } }), { wasm: false }).code;
    expect(buffersLine(v2)).toMatch(/^ \* \d+ \([\d,]+ floats each\) and, for values a residual or an SE block keeps live, at$/);
  });

  it("random graphs of bottlenecks, SE and residual bodies: --no-wasm within 1e-4 of the reference at batch 1 and 3", async () => {
    await fc.assert(
      fc.asyncProperty(validSpec({ minSize: 6, maxSize: 16 }), fc.integer({ min: 1, max: 1000 }), async (source, seed) => {
        const r = compile(source, { seed });
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        const c: Compiled = { graph: r.graph!, result: { graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) } };
        const plain = emit(c, { wasm: false, embedWeights: true });
        const mod = await load(plain.code);
        await expectModelMatchesReference(c, mod, mod.createModel());
      }),
      { numRuns: 25, seed: 20261127 },
    );
  }, 120_000);
});

// ── the trained model ──────────────────────────────────────────────────────

const data = join(shared, "data", "mobilenet_v1");
const modelPath = join(data, "model", "mobilenet_v1_0.25_224_1_default_1.tflite");

describe.runIf(haveShared(modelPath, "the emitted module on the trained MobileNetV1 and real photos"))("the trained MobileNetV1 α 0.25 in ../shared/data/mobilenet_v1, on real photos", () => {
  const photos = ["basketball", "burger", "cat", "mountain", "pizza"];

  function photo(name: string): Float32Array {
    const pixels = readFileSync(join(data, "images", `${name}.rgb224`));
    expect(pixels.length).toBe(224 * 224 * 3);
    return Float32Array.from(pixels, (p) => (p - 127.5) / 127.5);
  }

  function truth(name: string): Float32Array {
    const bytes = readFileSync(join(data, "ground_truth", `${name}.probs.f32`));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
  }

  const top5 = (p: ArrayLike<number>): number[] =>
    Array.from({ length: p.length }, (_, i) => i)
      .sort((a, b) => p[b]! - p[a]! || a - b)
      .slice(0, 5);

  it("gives TensorFlow Lite's probabilities within 1e-4 and its top-5 for every photo, with labels", async () => {
    const labels = readFileSync(join(data, "model", "labels_1001.txt"), "utf8").split("\n").filter((l) => l !== "");
    expect(labels).toHaveLength(1001);
    const c = compiled(readExample("mobilenet_v1_tf.mn"), { file: "mobilenet_v1_tf.mn", weights: new Uint8Array(readFileSync(modelPath)), weightsFile: "mobilenet_v1_0.25_224_1_default_1.tflite" });
    const { mod, emitted } = await build(c, { labels, sourceFile: "examples/mobilenet_v1_tf.mn" });
    for (const backend of BACKENDS) expectPhotos(mod, mod.createModel(emitted.weights, { backend }));
  }, 60_000);

  function expectPhotos(mod: Generated, model: Model): void {
    expect(mod.inputShape).toEqual([1, 224, 224, 3]);
    expect(mod.outputShape).toEqual([1, 1001]);
    const expected = JSON.parse(readFileSync(join(data, "ground_truth", "ground_truth.json"), "utf8")) as {
      images: { name: string; expected_index_1001: number; top5: { index_1001: number; label: string }[] }[];
    };
    const batch = new Float32Array(photos.length * 224 * 224 * 3);
    for (const [i, name] of photos.entries()) {
      const input = photo(name);
      batch.set(input, i * input.length);
      const p = model.run(input);
      const t = truth(name);
      let worst = 0;
      for (let k = 0; k < t.length; k++) worst = Math.max(worst, Math.abs(p[k]! - t[k]!));
      expect(worst, `${name} (${model.backend})`).toBeLessThan(1e-4);
      expect(top5(p), name).toEqual(top5(t));
      // Label-aware results.
      const gt = expected.images.find((e) => e.name === name)!;
      const best = mod.topK(p, 5);
      expect(best.map((b) => b.index)).toEqual(gt.top5.map((e) => e.index_1001));
      expect(best.map((b) => b.label)).toEqual(gt.top5.map((e) => e.label));
      expect(model.classify(input, 1)[0]).toEqual(best[0]);
      expect(best[0]!.index).toBe(gt.expected_index_1001);
    }
    // The five photos as one batch: the same five rows.
    const all = model.run(batch, photos.length);
    for (const [i, name] of photos.entries()) expect(all.subarray(i * 1001, (i + 1) * 1001)).toEqual(model.run(photo(name)));
  }
});

// ── the generated code ─────────────────────────────────────────────────────

/** Type-check one module with the project's TypeScript: strict, no DOM, no Node types. */
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

const HOSTILE = ["*/ closes a comment", "back`tick", "${x} and ${", 'double "quotes"', "single 'quotes'", "line\nbreak\r\n", "back\\slash", "\u2028sep\u2029", "</script>"];

describe("the generated code", () => {
  const tiny = compiled(TINY, { file: "tiny.mn" });

  it("matches the golden file for a tiny network (review the diff as text)", async () => {
    const { code } = emit(tiny, { sourceFile: "tiny.mn", moduleName: "tiny.ts", labels: ["cat", "dog", "bird"] });
    // The WebAssembly binary is no text to review: the golden file shows its size in its place.
    const wasm = /^const WASM = "([^"]*)";$/m;
    const base64 = wasm.exec(code)![1]!.replace(/\\\n/g, "");
    await expect(code.replace(wasm, `const WASM = "…"; // ${base64.length} characters of base64`)).toMatchFileSnapshot("golden/ts/tiny.ts.txt");
  });

  it("matches the golden file for a small residual + SE network: fused and unfused adds and SE scales (review the diff as text)", async () => {
    const { code } = emit(compiled(UNFUSED, { file: "residual_se.mn" }), { sourceFile: "residual_se.mn", moduleName: "residual_se.ts", wasm: false });
    await expect(code).toMatchFileSnapshot("golden/ts/residual_se.ts.txt");
  });

  it("type-checks the MobileNetV2/V3 family's modules under strict TypeScript", { timeout: 60_000 }, () => {
    expect(typeCheck(emit(compiled(UNFUSED)).code)).toEqual([]);
    expect(typeCheck(emit(compiled(RESIDUAL_SE), { wasm: false, embedWeights: true }).code)).toEqual([]);
    expect(typeCheck(emit(compiled(readExample("mobilenet_v3_small.mn"), { resolution: 64, set: { classes: "10" } })).code)).toEqual([]);
  });

  it("type-checks under strict TypeScript with only the ES2022 library (no Node, no DOM)", () => {
    // The checker is strict and has no host APIs: these would be errors.
    expect(typeCheck("export const title: string = document.title;\n")).not.toEqual([]);
    expect(typeCheck("export const bytes = Buffer.from([1]);\n")).not.toEqual([]);
    expect(typeCheck("export const first = (a: number[]): number => a[0];\n")).not.toEqual([]);
    const hostile = compiled(net("8x8x2", ["conv 3x3 4 stride=2", "separable 4", "maxpool 2x2", "dropout 0.5", "fc 9", "softmax"], "Hostile"));
    expect(typeCheck(emit(hostile, { labels: HOSTILE, sourceFile: "evil */ name\n.mn", moduleName: "a`${b}`.ts" }).code)).toEqual([]);
    expect(typeCheck(emit(tiny, { embedWeights: true }).code)).toEqual([]);
    const mobilenet = compiled(readExample("mobilenet_v1.mn"), { alpha: 0.25, resolution: 64 });
    expect(typeCheck(emit(mobilenet).code)).toEqual([]);
  }, 60_000);

  it("needs nothing from its host: no imports, no Node or DOM APIs", () => {
    const { code } = emit(compiled(readExample("keyword_spotter.mn")), { embedWeights: true });
    const [program, rest] = code.split("const WASM = ");
    const [wasm, embedded] = rest!.split("const EMBEDDED_WEIGHTS = ");
    expect(wasm).toMatch(/^"[A-Za-z0-9+/=\\\n]+";\n\n\/\*\* The weights file/);
    expect(embedded).toMatch(/^"[A-Za-z0-9+/=\\\n]+";\n$/);
    // The one global it reads is the host's WebAssembly (standard JavaScript, in every engine that has it).
    const api = "(globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly";
    expect(program!.split(api)).toHaveLength(2);
    expect(program!.replace(api, "")).not.toMatch(/^\s*(import|export .* from)\b|\bimport\(|\brequire\(|\bprocess\b|\bBuffer\b|\batob\b|\bbtoa\b|\bwindow\.|\bdocument\.|\bglobalThis\b|\bfetch\(/m);
  });

  it("has one function per layer, named after the IR id, with a header that says what it is", { timeout: 30_000 }, () => {
    const c = compiled(readExample("mobilenet_v1.mn"), { file: "mobilenet_v1.mn", alpha: 0.5, resolution: 128 });
    const { code } = emit(c, { sourceFile: "examples/mobilenet_v1.mn", moduleName: "mobilenet_v1.ts" });
    for (const n of c.graph.nodes.slice(1)) expect(code).toContain(`function ${n.id.replace(/\./g, "_")}(m: Float32Array): void {`);
    expect(code).toMatch(/^ \*   source +examples\/mobilenet_v1\.mn$/m);
    expect(code).toMatch(/^ \*   width α +0\.5$/m);
    expect(code).toMatch(/^ \*   resolution +128x128 \(input 128x128x3, NHWC\)$/m);
    expect(code).toMatch(/^ \*   mult-adds +[\d,]+ per image$/m);
    expect(code).toContain(` *   mult-adds   ${c.result.costs.totals.multAdds.toLocaleString("en-US")} per image`);
    expect(code).toContain(`${c.result.costs.totals.params.toLocaleString("en-US")} (`);
    expect(code).toMatch(/^ \*   BN fusion +folded by mnc; max relative error \d\.\d\de-\d+ over \d+ layers, each on 2 random patches/m);
  });

  it("is deterministic: the same graph gives the same code and weights, byte for byte", () => {
    const source = readExample("keyword_spotter.mn");
    const a = emit(compiled(source, { alpha: 0.5 }), { labels: Array.from({ length: 12 }, (_, i) => `word ${i}`) });
    const b = emit(compiled(source, { alpha: 0.5 }), { labels: Array.from({ length: 12 }, (_, i) => `word ${i}`) });
    expect(a.code).toBe(b.code);
    expect(a.weights).toBeDefined();
    expect(Buffer.from(a.weights!).equals(Buffer.from(b.weights!))).toBe(true);
  }, 60_000);
});

// ── the module's API ───────────────────────────────────────────────────────

describe("the generated module's API", () => {
  const c = compiled(TINY);

  it("embeds the weights on request, and then equals the file variant", async () => {
    const file = await build(c);
    const embedded = await build(c, { embedWeights: true });
    expect(embedded.emitted.weights).toBeUndefined();
    expect(file.emitted.weights).toBeInstanceOf(Uint8Array);
    const x = inputs(8 * 8 * 2 * 2, 7);
    expect(embedded.model.run(x, 2)).toEqual(file.model.run(x, 2));
    // An embedded module also takes a weights file (as bytes or an ArrayBuffer).
    const bytes = file.emitted.weights!;
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    expect(embedded.mod.createModel(buffer as ArrayBuffer).run(x, 2)).toEqual(file.model.run(x, 2));
  });

  it("refuses a weights file that is not its own, saying why", async () => {
    const { mod, emitted } = await build(c);
    const good = emitted.weights!;
    const floats = (good.length - HEADER_BYTES) / 4;
    expect(new DataView(good.buffer, good.byteOffset).getUint32(12, true)).toBe(floats);
    const refuse = (bytes: Uint8Array, why: RegExp): void => {
      expect(() => mod.createModel(bytes)).toThrow(/not this model's weights/);
      expect(() => mod.createModel(bytes)).toThrow(why);
    };
    refuse(good.subarray(0, good.length - 4), new RegExp(`has ${good.length - 4} bytes .*expected ${good.length}`));
    refuse(Uint8Array.from([...good, 0, 0, 0, 0]), new RegExp(`has ${good.length + 4} bytes .*expected ${good.length}`));
    refuse(new Uint8Array(0), /shorter than the 16-byte header/);
    refuse(new TextEncoder().encode("PK\u0003\u0004 this is a zip file, not weights"), /does not start with "MNCW"/);
    // Another network with as many weights but laid out differently (its shapes differ).
    const other = emit(compiled(TINY.replace("8x8x2", "16x16x2"))).weights!;
    expect(other.length).toBe(good.length);
    refuse(other, /laid out for another network/);
  });

  it("validates the batch, the input length and the output array", async () => {
    const { model } = await build(c);
    const one = inputs(128, 1);
    expect(() => model.run([...one] as unknown as Float32Array)).toThrow(/the input must be a Float32Array of NHWC values, not an Array/);
    expect(() => model.run(undefined as unknown as Float32Array)).toThrow(/the input must be a Float32Array of NHWC values, not undefined/);
    expect(model.run(Float64Array.from(one) as unknown as Float32Array)).toEqual(model.run(one));
    expect(() => model.run(one, 0)).toThrow(/batch must be a positive integer, not 0/);
    expect(() => model.run(one, 1.5)).toThrow(/batch must be a positive integer/);
    expect(() => model.run(one.subarray(1))).toThrow(/the input has 127 values; a batch of 1 needs 128 \(1 × 8×8×2, NHWC\)/);
    expect(() => model.run(one, 2)).toThrow(/a batch of 2 needs 256/);
    expect(() => model.run(one, 1, new Float32Array(2))).toThrow(/output array holds 2 values/);
    const out = new Float32Array(3);
    expect(model.run(one, 1, out)).toBe(out);
    expect(out).toEqual(model.run(one));
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it("ranks outputs with topK (ties to the lower index) and classifies one image", async () => {
    const { mod, model } = await build(compiled(net("4x4x1", ["avgpool global", "fc 5"])));
    expect(mod.topK(Float32Array.from([0.1, 0.4, 0.2, 0.4, 0.3]), 3)).toEqual([
      { index: 1, probability: expect.closeTo(0.4, 6) as number },
      { index: 3, probability: expect.closeTo(0.4, 6) as number },
      { index: 4, probability: expect.closeTo(0.3, 6) as number },
    ]);
    expect(mod.topK([1, 2, 3, 4, 5, 9, 8, 7, 6, 5], 2, 1).map((p) => p.index)).toEqual([0, 1]);
    expect(mod.topK([1, 2, 3, 4, 5], 0)).toEqual([]);
    expect(mod.topK([1, 2, 3, 4, 5], 9)).toHaveLength(5);
    expect(() => mod.topK([1, 2, 3, 4, 5], 2, 1)).toThrow(/item 1 of 5 values/);
    expect(() => mod.topK([1, 2, 3], 1)).toThrow(/topK/);
    expect(() => mod.topK([1, 2, 3, 4, 5], -1)).toThrow(/k must be a non-negative integer/);
    const x = inputs(16, 3);
    const ranked = model.classify(x, 5);
    expect(ranked.map((p) => p.index)).toEqual(mod.topK(model.run(x), 5).map((p) => p.index));
    expect(ranked.every((p, i) => i === 0 || p.probability <= ranked[i - 1]!.probability)).toBe(true);
  });

  it("carries hostile labels through comments and strings unharmed", async () => {
    const hostile = compiled(net("8x8x2", ["pw 3", "avgpool global", `fc ${HOSTILE.length}`, "softmax"]));
    const { mod, model } = await build(hostile, { labels: HOSTILE, sourceFile: "evil */ name\n`${x}`.mn", moduleName: "*/.ts" });
    expect(mod.labels).toEqual(HOSTILE);
    const best = model.classify(inputs(128, 5), HOSTILE.length);
    expect(best.map((b) => b.label)).toEqual(best.map((b) => HOSTILE[b.index]));
    expect(new Set(best.map((b) => b.label))).toEqual(new Set(HOSTILE));
  });

  it("refuses labels that do not match the outputs", () => {
    expect(() => emit(c, { labels: ["one", "two"] })).toThrow(TsEmitOptionError);
    expect(() => emit(c, { labels: ["one", "two"] })).toThrow(/2 labels for 3 outputs of 'softmax_0'/);
  });
});

// ── helpers of the emitter ─────────────────────────────────────────────────

// ── the two kernel sets ────────────────────────────────────────────────────

/** The host's WebAssembly API, or a stand-in for a host that lacks part of it, while `during` loads and uses a module. */
async function withWebAssembly<T>(api: object | undefined, during: () => Promise<T>): Promise<T> {
  const g = globalThis as { WebAssembly?: object };
  const real = g.WebAssembly;
  if (api === undefined) delete g.WebAssembly;
  else g.WebAssembly = api;
  try {
    return await during();
  } finally {
    g.WebAssembly = real;
  }
}

describe("the WebAssembly SIMD kernels inside the module, and the TypeScript fallback", () => {
  const c = compiled(readExample("mobilenet_v1.mn"), { alpha: 0.25, resolution: 96 });
  const size = inputSize(c.graph);
  const x = new Float32Array(2 * size);
  x.set(inputs(size, 3), 0);
  x.set(inputs(size, 4), size);
  const reference = runReference(c.graph, x, 2);
  const real = (globalThis as unknown as { WebAssembly: { readonly [name: string]: unknown } }).WebAssembly;
  /** WebAssembly as a host without SIMD128 has it: its validator refuses SIMD instructions. */
  const noSimd = { validate: () => false, compile: real.compile, Module: real.Module, Instance: real.Instance, Memory: real.Memory };
  /** As a browser's main thread has it: no synchronous compilation of large modules. */
  const noSyncCompile = {
    validate: real.validate,
    compile: real.compile,
    Module: function Module() {
      throw new RangeError("WebAssembly.Compile is disallowed on the main thread, if the buffer size is larger than 8MB.");
    },
    Instance: real.Instance,
    Memory: real.Memory,
  };

  it("picks WebAssembly SIMD where the host has it, and both give the reference's outputs", async () => {
    const emitted = emit(c);
    const mod = await load(emitted.code);
    expect(mod.createModel(emitted.weights).backend).toBe("wasm-simd");
    expect((await mod.createModelAsync(emitted.weights)).backend).toBe("wasm-simd");
    const outs = BACKENDS.map((backend) => mod.createModel(emitted.weights, { backend }).run(x, 2));
    for (const out of outs) expect(relativeError(out, reference)).toBeLessThan(1e-4);
    // Two models of one module do not share memory.
    const a = mod.createModel(emitted.weights);
    const b = mod.createModel(emitted.weights);
    const first = a.run(x.subarray(0, size)).slice();
    b.run(x.subarray(size));
    expect(a.run(x.subarray(0, size))).toEqual(first);
  });

  it.each([
    ["has no WebAssembly", undefined, /the host has no WebAssembly/],
    ["has WebAssembly without SIMD128", noSimd, /has no SIMD128/],
  ] as const)("falls back to TypeScript on a host that %s, and says why when WebAssembly is demanded", async (_what, api, why) => {
    const emitted = emit(c);
    await withWebAssembly(api, async () => {
      const mod = await load(emitted.code);
      const model = mod.createModel(emitted.weights);
      expect(model.backend).toBe("typescript");
      expect(relativeError(model.run(x, 2), reference)).toBeLessThan(1e-4);
      expect((await mod.createModelAsync(emitted.weights)).backend).toBe("typescript");
      expect(() => mod.createModel(emitted.weights, { backend: "wasm-simd" })).toThrow(why);
      await expect(mod.createModelAsync(emitted.weights, { backend: "wasm-simd" })).rejects.toThrow(why);
    });
  });

  it("falls back where synchronous compilation is refused, and createModelAsync still gets WebAssembly", async () => {
    const emitted = emit(c);
    await withWebAssembly(noSyncCompile, async () => {
      const mod = await load(emitted.code);
      expect(mod.createModel(emitted.weights).backend).toBe("typescript");
      expect(() => mod.createModel(emitted.weights, { backend: "wasm-simd" })).toThrow(/refused to compile WebAssembly synchronously .*use createModelAsync/);
      const model = await mod.createModelAsync(emitted.weights);
      expect(model.backend).toBe("wasm-simd");
      expect(relativeError(model.run(x, 2), reference)).toBeLessThan(1e-4);
      // Compiled once: createModel now finds the module compiled.
      expect(mod.createModel(emitted.weights).backend).toBe("wasm-simd");
    });
  });

  it("--no-wasm emits the TypeScript kernels alone, reading the same weights file", async () => {
    const withWasm = emit(c);
    const plain = emit(c, { wasm: false });
    expect(Buffer.from(plain.weights!).equals(Buffer.from(withWasm.weights!))).toBe(true);
    expect(plain.code).not.toMatch(/\bWASM\b|wasmApi|globalThis|new WebAssembly|\.Instance\b/);
    const mod = await load(plain.code);
    const model = mod.createModel(plain.weights);
    expect(model.backend).toBe("typescript");
    const typescript = (await load(withWasm.code)).createModel(withWasm.weights, { backend: "typescript" });
    expect(model.run(x, 2)).toEqual(typescript.run(x, 2));
    expect(() => mod.createModel(plain.weights, { backend: "wasm-simd" })).toThrow(/generated with --no-wasm/);
    expect(typeCheck(plain.code).join("\n")).toBe("");
  }, 30_000);

  it("leaves the WebAssembly kernels out of a network whose memory would pass WebAssembly's 4 GiB, saying why", async () => {
    // Legal for mnc (no tensor above 1 GiB), but input + two activation buffers + output pass 4 GiB.
    const big = compiled("network Big {\n  input 4096x4096x16\n  pw 16 norm=none\n  pw 16 norm=none\n  pw 16 norm=none\n}\n", { fuseBatchNorm: false });
    const emitted = emit(big);
    expect(emitted.kernels).toEqual({ wasm: false, why: expect.stringMatching(/^the network needs [\d,]+ bytes of memory, more than WebAssembly's 4 GiB$/) });
    expect(emitted.code).toMatch(/^ \*   kernels +TypeScript only \(the network needs [\d,]+ bytes of memory, more than WebAssembly's 4 GiB\)$/m);
    expect(emitted.code).not.toMatch(/^const WASM = /m);
    expect(emitted.code).toContain("this module has no WebAssembly kernels (the network needs ");
    // A network that fits keeps them.
    expect(emit(compiled(readExample("mobilenet_v1.mn"), { alpha: 0.25, resolution: 96 })).kernels).toEqual({ wasm: true });
  });

  it("refuses a backend it does not know", async () => {
    const emitted = emit(compiled(TINY));
    const mod = await load(emitted.code);
    expect(() => mod.createModel(emitted.weights, { backend: "webgpu" as Backend })).toThrow(/backend must be "auto", "wasm-simd" or "typescript", not webgpu/);
  });
});

describe("code helpers", () => {
  it("makes identifiers from IR ids, avoiding reserved words and clashes", () => {
    const taken = new Set(["m", "topK"]);
    expect(identifier("sep_3.pw", taken)).toBe("sep_3_pw");
    expect(identifier("sep_3_pw", taken)).toBe("sep_3_pw_2");
    expect(identifier("m", taken)).toBe("m_2");
    expect(identifier("3d", taken)).toBe("_3d");
    expect(identifier("delete", taken)).toBe("_delete");
    expect(identifier("dws_1.dw_0", taken)).toBe("dws_1_dw_0");
  });

  it("escapes text for comments and string literals", () => {
    for (const text of HOSTILE) {
      const comment = commentText(text);
      expect(comment).not.toContain("*/");
      expect(comment).not.toMatch(/[\n\r\u2028\u2029]/);
      const literal = stringLiteral(text);
      expect(literal).not.toMatch(/[\n\r\u2028\u2029]/);
      expect(new Function(`return ${literal};`)()).toBe(text);
    }
  });

  it("writes standard base64 (embedded weights) without Buffer or btoa", () => {
    for (const n of [0, 1, 2, 3, 4, 5, 255, 8192 * 3 + 2]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 255);
      expect(base64(bytes)).toBe(Buffer.from(bytes).toString("base64"));
    }
  });

  it("splits a depthwise axis into the interior and the border classes the padding makes", () => {
    // 3 taps, stride 1, pad 1 on 5 cells: first and last outputs lose a tap.
    expect(axisClasses(5, 5, 3, 1, 1)).toEqual([
      { lo: 0, hi: 1, k0: 1, k1: 3 },
      { lo: 1, hi: 4, k0: 0, k1: 3 },
      { lo: 4, hi: 5, k0: 0, k1: 2 },
    ]);
    // TF SAME, stride 2 on an even input: 0 before, 1 after.
    expect(axisClasses(4, 8, 3, 2, 0)).toEqual([
      { lo: 0, hi: 3, k0: 0, k1: 3 },
      { lo: 3, hi: 4, k0: 0, k1: 2 },
    ]);
    // A 5x5 window on a 1-cell map: only the centre tap is inside.
    expect(axisClasses(1, 1, 5, 1, 2)).toEqual([{ lo: 0, hi: 1, k0: 2, k1: 3 }]);
  });
});
