/**
 * The quantized module (`mnc compile --weights x_quant.tflite --quantized
 * --emit ts|js`): the trained uint8 MobileNetV1 0.25 and MobileNetV2 1.0 on
 * the five shared photos, bit for bit against the integer reference
 * (src/ir/reference-int.ts, xnnpack rounding) and the TFLite interpreter's
 * raw uint8 outputs; its type-checking under strict TypeScript; the int8
 * weights file (its size against the float module's, refused by a float
 * module and vice versa); embedded weights; the JavaScript flavour and its
 * .d.ts; the CLI; determinism; docs/typescript.md's snippet; small
 * post-training-quantized graphs with every integer op (int8 per-channel
 * weights, SE mul, maxpool, table activations, an fc on a map) against the
 * reference, layer by layer; the fallback without WebAssembly; and a golden
 * file of a tiny network's code, reviewed as text.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { calibrate } from "../src/passes/calibrate.js";
import { quantizeGraph } from "../src/passes/quantize.js";
import type { Node, Quantization as IrQuantization } from "../src/ir/graph.js";
import { codeBlocks, readExample, root, shared } from "./helpers.js";
import { haveShared } from "./optional.js";
import { atTheEdges, integers, ownPixels, quantizedOnOwnPixels } from "./int8-generators.js";

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

/** A photo as a decoded RGBA image (what a browser's ImageData holds). */
function rgba(rgb: Uint8Array, width: number, height: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 4).fill(255);
  for (let i = 0; i < width * height; i++) data.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
  return { width, height, data };
}

const BACKENDS: readonly Backend[] = ["wasm-simd", "typescript"];

for (const m of models) {
  describe.runIf(haveShared(m.file, `the trained ${m.name}`))(`the trained ${m.name} as a quantized module`, () => {
    // Compiled, emitted and loaded once for the whole block: the quantized module (both kernel sets) and
    // the float module of the same file (its weights file, for the size).
    interface Built {
      readonly c: Compiled;
      readonly emitted: TsEmitResult;
      readonly mod: Generated;
      readonly float: TsEmitResult;
    }
    let cache: Promise<Built> | undefined;
    const references = new Map<string, ReturnType<typeof runReferenceIntOutputs>[number]>();
    /** The integer reference's output on a photo (computed once per photo). */
    const referenceOf = (c: Compiled, name: string): ReturnType<typeof runReferenceIntOutputs>[number] => {
      let r = references.get(name);
      if (r === undefined) references.set(name, (r = runReferenceIntOutputs(c.graph, photo(name), "xnnpack")[0]!));
      return r;
    };
    const built = (): Promise<Built> =>
      (cache ??= (async () => {
        const weights = new Uint8Array(readFileSync(m.file));
        const c = compiled(readExample(m.source), { ...m.options, weights, weightsFile: "model.tflite", quantized: true });
        const emitted = emitTypeScript(c.result, { sourceFile: m.source, moduleName: "net.ts" });
        const mod = await load(emitted.code);
        const f = compiled(readExample(m.source), { ...m.options, weights, weightsFile: "model.tflite" });
        const float = emitTypeScript(f.result, { sourceFile: m.source, wasm: false });
        return { c, emitted, mod, float };
      })());

    it("equals the integer reference and the interpreter's uint8 outputs on every photo, bit for bit, on both kernel sets", { timeout: 120_000 }, async () => {
      const { c, emitted, mod } = await built();
      expect(emitted.kernels).toEqual({ wasm: true });
      expect(mod.createModel(emitted.weights).backend).toBe("wasm-simd");
      expect(mod.inputQuantization).toEqual({ type: "uint8", scale: 0.0078125, zeroPoint: 128 });
      const all = new Uint8Array(photos.length * 224 * 224 * 3);
      photos.forEach((name, i) => all.set(photo(name), i * 224 * 224 * 3));
      const truths = photos.map((name) => Array.from(readFileSync(join(m.dir, "ground_truth", `${name}.out.u8`))));
      const expected = photos.map((name) => Array.from(referenceOf(c, name).data));
      for (const backend of BACKENDS) {
        const model = mod.createModel(emitted.weights, { backend });
        expect(model.backend).toBe(backend);
        const batch = model.run(all, photos.length);
        expect(batch).toBeInstanceOf(Uint8Array);
        photos.forEach((name, i) => {
          const one = model.run(photo(name));
          expect(Array.from(one), `${backend} ${name} against the integer reference`).toEqual(expected[i]);
          expect(Array.from(one), `${backend} ${name} against TFLite`).toEqual(truths[i]);
          expect(Array.from(batch.subarray(i * 1001, (i + 1) * 1001)), `${backend} ${name} in a batch`).toEqual(truths[i]);
        });
      }
    });

    it("classifies an RGBA photo through the input's quantization: imageTensor gives the photo's bytes, classifyImage the reference's top 5 with q and dequantized values", { timeout: 60_000 }, async () => {
      const { c, emitted, mod } = await built();
      const model = mod.createModel(emitted.weights);
      const out = mod.outputQuantization;
      for (const name of ["cat", "pizza"]) {
        const x = photo(name);
        const image = rgba(x, 224, 224);
        expect(mod.imageTensor(image)).toEqual(x);
        const reference = referenceOf(c, name);
        expect(out).toEqual({ type: reference.quant.type, scale: reference.quant.scale[0], zeroPoint: reference.quant.zeroPoint[0] });
        const ranked = Array.from(reference.data, (q, index) => ({ q, index })).sort((a, b) => b.q - a.q || a.index - b.index).slice(0, 5);
        const expected = ranked.map(({ q, index }) => ({ index, q, probability: out.scale * (q - out.zeroPoint) }));
        expect(model.classifyImage(image, 5)).toEqual(expected);
        expect(model.classify(x, 5)).toEqual(expected);
        expect(mod.topK(model.run(x), 5)).toEqual(expected);
        expect(Array.from(mod.dequantize(model.run(x)))).toEqual(Array.from(reference.data, (q) => Math.fround(out.scale * (q - out.zeroPoint))));
      }
    });

    it("holds 8-bit weights: a file about 4× smaller than the float module's, that a float module refuses and that refuses a float module's file", { timeout: 60_000 }, async () => {
      const { emitted, mod, float } = await built();
      const int8 = emitted.weights!;
      const ratio = float.weights!.length / int8.length;
      // Measured: 3.91 (V1 0.25: 478,848 bytes against 1,873,488), 3.94 (V2 1.0: 3,543,296 against 13,971,856).
      expect(ratio).toBeGreaterThan(3.85);
      expect(ratio).toBeLessThan(4);
      expect(new DataView(int8.buffer, int8.byteOffset).getUint32(4, true)).toBe(3);
      expect(() => mod.createModel(float.weights!)).toThrow(/float module's file \(format version 2, float32 weights\)/);
      const floatModule = await load(float.code);
      expect(() => floatModule.createModel(int8)).toThrow(/format version 3, expected 2/);
      expect(() => mod.createModel(int8.subarray(0, int8.length - 16))).toThrow(/the file has/);
    });
  });
}

const [v1] = models;
describe.runIf(haveShared(v1.file, "the trained MobileNetV1 0.25 (uint8)"))("the quantized module's code (MobileNetV1 0.25 uint8)", () => {
  let cache: Compiled | undefined;
  const v1Compiled = (): Compiled => (cache ??= compiled(readExample(v1.source), { weights: new Uint8Array(readFileSync(v1.file)), weightsFile: "model.tflite", quantized: true }));
  const labels = Array.from({ length: 1001 }, (_, i) => (i === 0 ? "background" : `class ${i}`));

  it("type-checks under strict TypeScript with only the ES2022 library, with and without the WebAssembly kernels and labels", { timeout: 60_000 }, () => {
    const c = v1Compiled();
    expect(typeCheck(emitTypeScript(c.result, { sourceFile: "v1.mn", labels }).code)).toEqual([]);
    expect(typeCheck(emitTypeScript(c.result, { sourceFile: "v1.mn", wasm: false, embedWeights: true }).code)).toEqual([]);
  });

  it("embeds its weights with --embed-weights (createModel() then needs no file) and says so in the header", { timeout: 60_000 }, async () => {
    const c = v1Compiled();
    const embedded = emitTypeScript(c.result, { sourceFile: "v1.mn", embedWeights: true, wasm: false, labels });
    expect(embedded.weights).toBeUndefined();
    expect(embedded.code).toMatch(/^ \* {3}weights +embedded, 478,848 bytes: 16-byte header \+ 478,832 bytes of 8-bit kernels and int32 biases/m);
    const mod = await load(embedded.code);
    const x = photo("cat");
    const top = mod.createModel().classify(x, 1)[0]!;
    expect(top).toEqual({ index: 282, q: 170, probability: 0.6640625, label: "class 282" });
  });

  it("as JavaScript: an ES module that runs as it is, equal to the TypeScript module, with a .d.ts that type-checks a consumer", { timeout: 60_000 }, async () => {
    const c = v1Compiled();
    const js = emitJavaScript(c.result, { sourceFile: "v1.mn", moduleName: "net.js", wasm: false });
    const t = emitTypeScript(c.result, { sourceFile: "v1.mn", moduleName: "net.js", wasm: false });
    expect(js.weights).toEqual(t.weights);
    const mod = await load(js.code, "js");
    const x = photo("burger");
    expect(Array.from(mod.createModel(js.weights).run(x))).toEqual(Array.from(runReferenceIntOutputs(c.graph, x, "xnnpack")[0]!.data));
    const dir = mkdtempSync(join(scratch, "dts-"));
    writeFileSync(join(dir, "net.d.ts"), js.declarations);
    writeFileSync(join(dir, "net.js"), js.code);
    writeFileSync(
      join(dir, "consumer.ts"),
      [
        'import { createModel, dequantize, inputQuantization, quantizeInput, topK, type Prediction } from "./net.js";',
        "declare const bytes: Uint8Array;",
        "const model = createModel(bytes);",
        "const q: Uint8Array = model.run(quantizeInput(new Float32Array(224 * 224 * 3)));",
        "const real: Float32Array = dequantize(q);",
        "const best: Prediction[] = topK(q, 3);",
        "export const out: [number, number, string] = [real[0] ?? 0, best[0]?.q ?? 0, inputQuantization.type];",
      ].join("\n"),
    );
    const program = ts.createProgram([join(dir, "consumer.ts")], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, lib: ["lib.es2022.d.ts"], types: [] });
    expect(ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))).toEqual([]);
  });

  it("is deterministic: the same graph gives the same code and weights bytes", { timeout: 60_000 }, () => {
    const [a, b] = [0, 1].map(() => emitTypeScript(v1Compiled().result, { sourceFile: "v1.mn" }));
    expect(a!.code === b!.code).toBe(true);
    expect(Buffer.from(a!.weights!).equals(Buffer.from(b!.weights!))).toBe(true);
  });

  it("mnc compile --quantized --emit ts writes the module and its 8-bit weights file", { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(scratch, "cli-"));
    writeFileSync(join(dir, "net.mn"), readExample(v1.source));
    const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "compile", "net.mn", "--weights", v1.file, "--quantized", "--emit", "ts"], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^net\.ts: MobileNetV1_TF α=0\.25 224x224x3 → 1x1x1001, .*; WebAssembly SIMD and TypeScript kernels\n$/);
    expect(readdirSync(dir).sort()).toEqual(["net.mn", "net.ts", "net.weights.bin"]);
    const weights = readFileSync(join(dir, "net.weights.bin"));
    expect(weights.length).toBe(478_848);
    expect(weights.equals(Buffer.from(emitTypeScript(v1Compiled().result, { sourceFile: "net.mn" }).weights!))).toBe(true);
    expect(readFileSync(join(dir, "net.ts"), "utf8")).toContain("standalone TypeScript integer inference");
  });

  it("docs/typescript.md's quantized snippet type-checks against the module it describes", { timeout: 60_000 }, () => {
    const blocks = codeBlocks(readFileSync(join(root, "docs", "typescript.md"), "utf8"));
    const snippet = blocks.find((b) => b.includes('from "./v1q.js"'));
    expect(snippet).toBeDefined();
    const dir = mkdtempSync(join(scratch, "docs-"));
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }');
    writeFileSync(join(dir, "v1q.ts"), emitTypeScript(v1Compiled().result, { sourceFile: "v1.mn", moduleName: "v1q.ts" }).code);
    const declared = "declare const weights: Uint8Array;\ndeclare const pixels: Uint8Array;\ndeclare const floats: Float32Array;\ndeclare const imageData: { width: number; height: number; data: Uint8ClampedArray };\n";
    writeFileSync(join(dir, "app.ts"), `${snippet!.split("\n")[0]}\n${declared}${snippet!.split("\n").slice(1).join("\n")}\nexport {};\n`);
    const program = ts.createProgram([join(dir, "app.ts")], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, lib: ["lib.es2022.d.ts"], types: [] });
    expect(ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))).toEqual([]);
  });

  it("quantizes a float input as the reference does, and refuses an input of the wrong type or length", { timeout: 60_000 }, async () => {
    const c = v1Compiled();
    const e = emitTypeScript(c.result, { sourceFile: "v1.mn", wasm: false });
    const mod = await load(e.code);
    const q = c.graph.nodes[0]!.quant!;
    const floats = Array.from({ length: 224 * 224 * 3 }, (_, i) => ((i * 7919) % 600) / 200 - 1.5 + (i % 2 === 0 ? 0.5 / 128 : 0));
    expect(Array.from(mod.quantizeInput(floats))).toEqual(floats.map((v) => quantize(v, q)));
    const model = mod.createModel(e.weights);
    expect(() => model.run(new Int8Array(224 * 224 * 3) as unknown as Uint8Array)).toThrow(/must be a Uint8Array of stored uint8 integers/);
    expect(() => model.run(new Uint8Array(10))).toThrow(/the input has 10 values; a batch of 1 needs 150528/);
    expect(() => mod.createModel(e.weights, { backend: "wasm-simd" })).toThrow(/no WebAssembly kernels \(generated with --no-wasm\)/);
  });
});

// ── every integer op, on small post-training-quantized networks ───────────

const SMALL = `network Q(classes = 10) {
  input 20x20x3 mean=127.5 std=127.5
  conv 3x3 16 stride=2 act=relu6
  bottleneck 16 expand=3 se=0.25 act=hswish
  bottleneck 24 expand=2 stride=2 kernel=5x5 act=relu
  bottleneck 24 expand=2 dilation=2 act=relu6
  avgpool 3x3 stride=1 pad=same
  maxpool 2x2 pad=same
  sigmoid
  dropout 0.2
  fc classes
  softmax
}
`;


const PIXELS = 20 * 20 * 3;
const smallPixels = ownPixels(compile(SMALL, { seed: 7 }).graph!);

const smallQuantized = (activations: "int8" | "uint8"): Graph => quantizedOnOwnPixels(SMALL, activations);

/** The uint8 network with zero points at both ends (atTheEdges). */
const edgeQuantized = (): Graph => atTheEdges(smallQuantized("uint8"));

describe("small networks with every integer op, quantized after training", () => {
  const variants = [
    { name: "int8 activations, int8 per-channel weights", graph: () => smallQuantized("int8"), array: Int8Array, stored: (p: ArrayLike<number>): Stored => Int8Array.from(p, (x) => x - 128) },
    { name: "uint8 activations, zero points 0, 40 and 255, a uint8 kernel at 255", graph: edgeQuantized, array: Uint8Array, stored: (p: ArrayLike<number>): Stored => Uint8Array.from(p) },
  ];
  for (const v of variants) {
    it(`${v.name}: equal to the integer reference on every op (batch of 4), on every kernel set the module has`, { timeout: 60_000 }, async () => {
      const graph = v.graph();
      const ops = new Set(graph.nodes.map((n) => n.op));
      for (const op of ["conv", "depthwise", "fc", "add", "mul", "avgpool", "maxpool", "activation", "softmax", "dropout"]) expect(ops, op).toContain(op);
      expect(graph.nodes.some((n) => (n.op === "conv" || n.op === "depthwise") && n.attrs.act === "hswish")).toBe(true);
      expect(graph.nodes.some((n) => n.op === "depthwise" && n.attrs.dilation !== undefined)).toBe(true);
      // An fc on a 3x3 map: its channel-major kernel reordered to the activation's HWC.
      expect(graph.nodes.find((n) => n.op === "fc")?.inputs.map((id) => graph.nodes.find((m) => m.id === id)!.shape)).toEqual([[3, 3, 24]]);
      const r = compile(SMALL, { seed: 7 });
      const e = emitTypeScript({ graph, costs: r.costs! }, { sourceFile: "q.mn" });
      expect(typeCheck(e.code)).toEqual([]);
      // Where the WebAssembly int8 kernels lack an op (SE mul, maxpool, a table activation), the module says which layer.
      if (!e.kernels.wasm) expect(e.kernels.why).toMatch(/^the WebAssembly int8 kernels do not run .* yet \('/);
      const mod = await load(e.code);
      const inputs = smallPixels.map(v.stored);
      const batch = v.stored(new Uint8Array(4 * PIXELS).fill(128));
      inputs.forEach((x, i) => batch.set(x, i * PIXELS));
      const references = inputs.map((x) => Array.from(runReferenceIntOutputs(graph, x, "xnnpack")[0]!.data));
      for (const backend of e.kernels.wasm ? BACKENDS : (["typescript"] as const)) {
        const out = mod.createModel(e.weights, { backend }).run(batch, 4);
        expect(out).toBeInstanceOf(v.array);
        references.forEach((reference, i) => expect(Array.from(out.subarray(i * 10, (i + 1) * 10)), `${backend}, image ${i}`).toEqual(reference));
      }
    });
  }

  /** A network of the ops the WebAssembly int8 kernels run (a residual add, no SE, maxpool or tables), int8 per-channel. */
  const plain = (options: Partial<TsEmitOptions> = {}): { graph: Graph; e: TsEmitResult } => {
    const source = "network P(classes = 7) {\n  input 20x20x3 mean=127.5 std=127.5\n  conv 3x3 16 stride=2 act=relu6\n  bottleneck 16 expand=3\n  bottleneck 24 expand=2 stride=2 kernel=5x5 act=relu\n  avgpool global\n  fc classes\n  softmax\n}\n";
    const r = compile(source, { seed: 3 });
    const graph = quantizeGraph(r.graph!, calibrate(r.graph!, smallPixels.map((p) => Float32Array.from(p, (v) => (v - 127.5) / 127.5))), { activations: "int8" });
    return { graph, e: emitTypeScript({ graph, costs: r.costs! }, { sourceFile: "p.mn", ...options }) };
  };

  it("int8 per-channel without the V3 ops: both kernel sets equal the integer reference", { timeout: 60_000 }, async () => {
    const { graph, e } = plain();
    expect(graph.nodes.some((n) => n.op === "add")).toBe(true);
    expect(e.kernels).toEqual({ wasm: true });
    const mod = await load(e.code);
    for (const backend of BACKENDS) {
      const model = mod.createModel(e.weights, { backend });
      expect(model.backend).toBe(backend);
      for (const p of smallPixels) {
        const x = Int8Array.from(p, (v) => v - 128);
        expect(Array.from(model.run(x)), backend).toEqual(Array.from(runReferenceIntOutputs(graph, x, "xnnpack")[0]!.data));
      }
    }
  });

  it("a profiling build times every layer on both kernel sets, and type-checks", { timeout: 60_000 }, async () => {
    const { graph, e } = plain({ profile: true });
    expect(typeCheck(e.code)).toEqual([]);
    const mod = (await load(e.code)) as unknown as { createModel(w: Uint8Array, o?: { backend?: Backend }): { profile(x: Stored, repeats?: number): { layer: string; ms: number }[] } };
    const x = Int8Array.from(smallPixels[0]!, (v) => v - 128);
    const ts = mod.createModel(e.weights!, { backend: "typescript" }).profile(x, 3);
    expect(ts.map((l) => l.layer)).toEqual(graph.nodes.filter((n) => n.op !== "input" && n.op !== "dropout" && n.quant !== undefined).map((n) => n.id.replace(/[^A-Za-z0-9_]/g, "_")));
    const wasm = mod.createModel(e.weights!, { backend: "wasm-simd" }).profile(x, 3);
    expect(wasm.length).toBeGreaterThan(0);
    for (const l of [...ts, ...wasm]) expect(l.ms).toBeGreaterThanOrEqual(0);
  });

  it("falls back to the TypeScript kernels on a host without WebAssembly, and says why when WebAssembly is demanded", { timeout: 60_000 }, async () => {
    const { graph, e } = plain();
    const x = Int8Array.from(smallPixels[1]!, (v) => v - 128);
    const reference = Array.from(runReferenceIntOutputs(graph, x, "xnnpack")[0]!.data);
    const mod = await load(e.code);
    expect((await mod.createModelAsync(e.weights)).backend).toBe("wasm-simd");
    // Two models of one module do not share memory.
    const [one, two] = [mod.createModel(e.weights), mod.createModel(e.weights)];
    const first = Array.from(one.run(x));
    two.run(Int8Array.from(smallPixels[3]!, (v) => v - 128));
    expect(Array.from(one.run(x))).toEqual(first);
    const g = globalThis as { WebAssembly?: object };
    const real = g.WebAssembly;
    delete g.WebAssembly;
    try {
      const bare = await load(e.code);
      const model = bare.createModel(e.weights);
      expect(model.backend).toBe("typescript");
      expect(Array.from(model.run(x))).toEqual(reference);
      expect(() => bare.createModel(e.weights, { backend: "wasm-simd" })).toThrow(/cannot run the WebAssembly SIMD kernels: the host has no WebAssembly/);
    } finally {
      g.WebAssembly = real;
    }
  });

  it("every layer's integers equal the reference's: the network cut after each layer in turn (int8)", { timeout: 60_000 }, async () => {
    const graph = smallQuantized("int8");
    const r = compile(SMALL, { seed: 7 });
    const x = Int8Array.from(smallPixels[2]!, (p) => p - 128);
    const cuts = graph.nodes.filter((n) => n.op !== "input" && n.op !== "dropout" && n.quant !== undefined);
    // One module with every value as an output.
    const names = cuts.map((n) => n.id.replace(/[^A-Za-z0-9_]/g, "_"));
    const all: Graph = { ...graph, outputs: cuts.map((n) => n.id), outputNames: names };
    const e = emitTypeScript({ graph: all, costs: r.costs! }, { sourceFile: "q.mn", wasm: false });
    const mod = (await load(e.code)) as unknown as { createModel(w?: Uint8Array): { runAll(x: Stored): Record<string, Stored> } };
    const outs = mod.createModel(e.weights).runAll(x);
    const reference = runReferenceIntOutputs(all, x, "xnnpack");
    cuts.forEach((n, i) => expect(Array.from(outs[names[i]!]!), n.id).toEqual(Array.from(reference[i]!.data)));
  });

  it("matches the golden file for a tiny network with every integer kernel (review the diff as text)", async () => {
    const source = "# every integer kernel, for the golden file\nnetwork TinyQ(classes = 3) {\n  input 6x6x2 mean=127.5 std=127.5\n  conv 3x3 4 stride=2 act=relu6\n  bottleneck 4 expand=2 se=0.5 act=hswish\n  maxpool 2x2 pad=same\n  sigmoid\n  avgpool global\n  fc classes\n  softmax\n}\n";
    const r = compile(source, { seed: 5, file: "tiny_q.mn" });
    const pixels = [1, 2].map((seed) => Float32Array.from(integers(seed, 6 * 6 * 2, 0, 255), (v) => (v - 127.5) / 127.5));
    const graph = quantizeGraph(r.graph!, calibrate(r.graph!, pixels), { activations: "int8" });
    const e = emitTypeScript({ graph, costs: r.costs! }, { sourceFile: "tiny_q.mn", moduleName: "tiny_q.ts", wasm: false, labels: ["cat", "dog", "bird"] });
    await expect(e.code).toMatchFileSnapshot("golden/ts/tiny_q.ts.txt");
    const mod = await load(e.code);
    const x = Int8Array.from(integers(3, 6 * 6 * 2, 0, 255), (v) => v - 128);
    expect(Array.from(mod.createModel(e.weights).run(x))).toEqual(Array.from(runReferenceIntOutputs(graph, x, "xnnpack")[0]!.data));
  });

  it("names the layer integer inference does not run, before emitting anything", () => {
    const r = compile("network S {\n  input 8x8x3\n  conv 3x3 4\n  resize scale=2\n}\n", { seed: 1 });
    const q: IrQuantization = { type: "uint8", scale: [0.1], zeroPoint: [0] };
    const nodes = r.graph!.nodes.map((n): Node => ({ ...n, quant: q }));
    expect(() => emitTypeScript({ graph: { ...r.graph!, nodes }, costs: r.costs! }, { sourceFile: "s.mn" })).toThrow(/integer inference does not run resize layers yet \('resize_0', line 4\); compile without --quantized/);
  });
});
