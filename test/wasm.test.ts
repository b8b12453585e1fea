/**
 * The WebAssembly SIMD backend (src/emit/wasm): the binary writer's
 * encodings checked by hand and by the engine (WebAssembly.validate, running
 * what it wrote); the weight packings' layouts; every kernel, fast-check
 * seeded, against the float64 reference evaluator on one-layer networks
 * (shapes, kernels, strides and pads from real shape inference, weights
 * seeded at random, batch-norm fused or left for packWeights to fold);
 * every example network at two widths and small resolutions; the trained
 * MobileNetV1 on real photos against TensorFlow Lite; the memory layout; and
 * determinism.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { compileNetworkWasm, DEFAULT_TUNING, packWeights, type Tuning, type WasmNetwork, type WasmOptions } from "../src/emit/wasm/index.js";
import { axisRuns, expFunction, packDepthwise, packFc, packPointwise } from "../src/emit/wasm/kernels.js";
import { FunctionBody, ModuleWriter, sleb, uleb } from "../src/emit/wasm/writer.js";
import type { Graph } from "../src/ir/graph.js";
import { runReference } from "../src/ir/reference.js";
import { exampleFiles, readExample, root, shared, inputs, relativeError } from "./helpers.js";

// ── a tiny host: what the embedding TypeScript module will do ──────────────

/**
 * The part of the JS WebAssembly API used here. The project compiles
 * without the DOM library, which is where TypeScript declares it.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { readonly exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
  RuntimeError: new () => Error;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Loaded {
  readonly net: WasmNetwork;
  readonly memory: WasmMemory;
  readonly exports: Record<string, (...args: number[]) => void>;
  /** Copy `batch` NHWC items in, run, copy the output out. */
  run(input: Float32Array, batch?: number): Float32Array;
}

function load(graph: Graph, options: WasmOptions = {}): Loaded {
  const net = compileNetworkWasm(graph, options);
  const { layout } = net;
  expect(WA.validate(net.wasm)).toBe(true);
  const memory = new WA.Memory({ initial: layout.memoryPages });
  new Float32Array(memory.buffer, layout.weights, layout.weightsBytes / 4).set(packWeights(graph, options));
  const instance = new WA.Instance(new WA.Module(net.wasm), { env: { memory } });
  const exports = instance.exports as unknown as Record<string, (...args: number[]) => void>;
  return {
    net,
    memory,
    exports,
    run(input, batch = 1) {
      expect(input.length).toBe((batch * layout.inputBytes) / 4);
      new Float32Array(memory.buffer, layout.input, input.length).set(input);
      exports.run!(batch);
      return new Float32Array(memory.buffer, layout.output, (batch * layout.outputBytes) / 4).slice();
    },
  };
}


function graphOf(source: string, options: CompileOptions = {}): Graph {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined) throw new Error("no graph");
  return r.graph;
}

const inputSize = (g: Graph): number => {
  const s = g.nodes[0]!.shape!;
  return s[0] * s[1] * s[2];
};

/** Run a batch through the module and the reference; the relative error. */
function compare(graph: Graph, batch: number, seed: number, tuning: Tuning = DEFAULT_TUNING): { readonly error: number; readonly loaded: Loaded } {
  const loaded = load(graph, { maxBatch: batch, tuning });
  const x = inputs(batch * inputSize(graph), seed);
  return { error: relativeError(loaded.run(x, batch), runReference(graph, x, batch)), loaded };
}

// ── the writer ─────────────────────────────────────────────────────────────

describe("the WebAssembly writer", () => {
  it("encodes LEB128 at the edges", () => {
    expect(uleb(0)).toEqual([0x00]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(2 ** 32 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    for (const bad of [-1, 2 ** 32, 1.5, NaN]) expect(() => uleb(bad)).toThrow(/not a u32/);

    expect(sleb(0)).toEqual([0x00]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-65)).toEqual([0xbf, 0x7f]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(2 ** 31 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x07]);
    expect(sleb(-(2 ** 31))).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
    for (const bad of [2 ** 31, -(2 ** 31) - 1, 0.5]) expect(() => sleb(bad)).toThrow(/not an i32/);
  });

  it("writes an empty module as the magic number and version alone", () => {
    const bytes = new ModuleWriter().encode();
    expect([...bytes]).toEqual([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expect(WA.validate(bytes)).toBe(true);
  });

  it("writes a minimal module byte for byte, and it adds", () => {
    const m = new ModuleWriter();
    const f = new FunctionBody(["i32", "i32"], ["i32"]);
    f.localGet(f.param(0)).localGet(f.param(1)).i32Add();
    m.exportFunction("add", m.addFunction(f));
    const bytes = m.encode();
    // prettier-ignore
    expect([...bytes]).toEqual([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,           // magic, version 1
      0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,     // type: (i32, i32) → i32
      0x03, 0x02, 0x01, 0x00,                                   // function 0 has type 0
      0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00,     // export "add" = function 0
      0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // local.get 0, local.get 1, i32.add, end
    ]);
    expect(WA.validate(bytes)).toBe(true);
    const add = new WA.Instance(new WA.Module(bytes)).exports.add as (a: number, b: number) => number;
    expect(add(40, 2)).toBe(42);
    expect(add(-5, 3)).toBe(-2);
  });

  it("resolves labels to relative depths: a loop that sums 1..n, with an early exit", () => {
    const m = new ModuleWriter();
    const f = new FunctionBody(["i32"], ["i32"]);
    const n = f.param(0);
    const sum = f.local("i32");
    f.block((exit) => {
      f.loop((top) => {
        f.localGet(n).i32Eqz().brIf(exit);
        f.localGet(sum).localGet(n).i32Add().localSet(sum);
        f.localGet(n).i32Const(1).i32Sub().localSet(n);
        f.br(top);
      });
    });
    f.localGet(sum);
    m.exportFunction("sum", m.addFunction(f));
    const bytes = m.encode();
    expect(WA.validate(bytes)).toBe(true);
    const run = new WA.Instance(new WA.Module(bytes)).exports.sum as (n: number) => number;
    expect(run(10)).toBe(55);
    expect(run(0)).toBe(0);
    expect(run(1000)).toBe(500500);
  });

  it("refuses malformed modules instead of writing them", () => {
    const open = new FunctionBody([]);
    expect(() => open.block(() => open.br({ level: 3 }))).toThrow(/not open/);
    const m = new ModuleWriter();
    m.addFunction(new FunctionBody([]));
    expect(() => m.importFunction("env", "f", [], [])).toThrow(/before defining/);
    m.exportFunction("f", 0);
    expect(() => m.exportFunction("f", 0)).toThrow(/two exports/);
  });

  it("writes SIMD code on an imported memory: f32x4 add, mul, splat, pmin/pmax", () => {
    const m = new ModuleWriter();
    m.importMemory("env", "memory", 1);
    // out = pmin(6, pmax(0, a + b·splat(s[0]))) and out2 = a + b, on addresses (a, b, s, out).
    const f = new FunctionBody(["i32", "i32", "i32", "i32"]);
    const [a, b, s, out] = [0, 1, 2, 3].map((i) => f.param(i));
    f.localGet(out!).localGet(a!).v128Load().localGet(b!).v128Load().f32x4Add().v128Store(16);
    f.localGet(out!);
    f.f32x4Const(6).f32x4Const(0);
    f.localGet(a!).v128Load().localGet(b!).v128Load().localGet(s!).v128Load32Splat().f32x4Mul().f32x4Add();
    f.f32x4Pmax().f32x4Pmin().v128Store(0);
    m.exportFunction("f", m.addFunction(f));
    // lane 2 of a vector, as an f32.
    const g = new FunctionBody(["i32"], ["f32"]);
    g.localGet(g.param(0)).v128Load().f32Const(2.5).f32x4Splat().f32x4Sub().f32x4ExtractLane(2);
    m.exportFunction("lane2", m.addFunction(g));
    const bytes = m.encode();
    expect(WA.validate(bytes)).toBe(true);

    const memory = new WA.Memory({ initial: 1 });
    const exports = new WA.Instance(new WA.Module(bytes), { env: { memory } }).exports as Record<string, (...a: number[]) => number>;
    const view = new Float32Array(memory.buffer);
    view.set([1, -2, 3, 0.5], 0); // a at 0
    view.set([10, 20, -1, 4], 4); // b at 16
    view[8] = 0.5; // s at 32
    exports.f!(0, 16, 32, 64);
    expect([...view.subarray(16, 20)]).toEqual([6, 6, 2.5, 2.5]); // clamp(a + b/2, 0, 6) of [6, 8, 2.5, 2.5]
    expect([...view.subarray(20, 24)]).toEqual([11, 18, 2, 4.5]); // a + b
    expect(exports.lane2!(0)).toBe(0.5);
  });

  it("computes exp in f64 to double precision on softmax's range", () => {
    const m = new ModuleWriter();
    m.exportFunction("exp", m.addFunction(expFunction()));
    const exp = new WA.Instance(new WA.Module(m.encode())).exports.exp as (x: number) => number;
    let worst = 0;
    for (let i = 0; i <= 7000; i++) {
      const x = -i / 10 - (i % 7) / 1000;
      worst = Math.max(worst, Math.abs(exp(x) - Math.exp(x)) / Math.exp(x));
    }
    expect(worst).toBeLessThan(1e-14);
    expect(exp(0)).toBe(1);
    expect(exp(-1e6)).toBeGreaterThanOrEqual(0);
    expect(exp(-1e6)).toBeLessThan(1e-300);
  });
});

// ── weight packing ─────────────────────────────────────────────────────────

describe("weight packing", () => {
  it("packs a pointwise kernel in panels of 4·nv channels, bias first, k-major, zero-padded", () => {
    // 5 outputs × 2 inputs, W[o][i] = 10·o + i; bias[o] = −o; panels of 4 (nv = 1): [0..4) and [4..8).
    const kernel = Float32Array.from({ length: 10 }, (_, j) => 10 * Math.floor(j / 2) + (j % 2));
    const bias = Float32Array.from({ length: 5 }, (_, o) => -o);
    // prettier-ignore
    expect([...packPointwise(kernel, 5, 2, bias, 1)]).toEqual([
      -0, -1, -2, -3,   0, 10, 20, 30,   1, 11, 21, 31, // panel 0: bias, k = 0, k = 1
      -4, 0, 0, 0,      40, 0, 0, 0,     41, 0, 0, 0,   // panel 1: channel 4 and padding
    ]);
    // nv = 2: one panel of 8.
    expect([...packPointwise(kernel, 5, 2, bias, 2)].slice(0, 8)).toEqual([-0, -1, -2, -3, -4, 0, 0, 0]);
  });

  it("packs a depthwise kernel tap-major with channels innermost, bias first", () => {
    // 3 channels, 1x2 taps: K[c][0][0][t] = 10·c + t
    const kernel = Float32Array.from([0, 1, 10, 11, 20, 21]);
    expect([...packDepthwise(kernel, 3, [1, 2], Float32Array.from([7, 8, 9]))]).toEqual([7, 8, 9, 0, 0, 10, 20, 0, 1, 11, 21, 0]);
  });

  it("packs fc weights in the NHWC order of the input as it lies in memory (padding lanes zero)", () => {
    // 1 output over a 1x2x3 map; features channel-major: f = c·2 + w; K[0][f] = f + 1.
    const kernel = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const packed = packFc(kernel, 1, [1, 2, 3], 4, Float32Array.from([0.5]), 1);
    // rows k = w·4 + c: (w0: c0 c1 c2 pad) (w1: c0 c1 c2 pad), first lane of each row
    const firstLanes = Array.from({ length: 9 }, (_, r) => packed[4 * r]);
    expect(firstLanes).toEqual([0.5, 1, 3, 5, 0, 2, 4, 6, 0]);
  });

  it("splits an axis into border and interior runs of equal clipped windows", () => {
    // 3-wide window, pads 1 before: the first and last outputs are clipped.
    expect(axisRuns(8, 8, 3, 1, 1)).toEqual([
      { first: 0, count: 1, lo: 1, hi: 3 },
      { first: 1, count: 6, lo: 0, hi: 3 },
      { first: 7, count: 1, lo: 0, hi: 2 },
    ]);
    // TF SAME, 3x3 stride 2 on an even input: no pad before, one after.
    expect(axisRuns(224, 112, 3, 2, 0)).toEqual([
      { first: 0, count: 111, lo: 0, hi: 3 },
      { first: 111, count: 1, lo: 0, hi: 2 },
    ]);
  });
});

// ── every kernel against the reference ────────────────────────────────────

const KERNEL_RUNS = 50;
const size = fc.integer({ min: 1, max: 17 });
const channels = fc.integer({ min: 1, max: 40 });
const act = fc.constantFrom("relu", "relu6", "linear");
const pad = fc.constantFrom("same", "valid");
const kernelSize = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.boolean()).map(([a, b, square]) => (square ? `${a}x${a}` : `${a}x${b}`));
const stride = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.boolean()).map(([a, b, square]) => (square ? `${a}` : `${a}x${b}`));

interface LayerCase {
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly layer: string;
  /** Put a 1x1 depthwise first, so that the layer reads a padded buffer rather than the unpadded input. */
  readonly afterDepthwise: boolean;
  /** Leave batch-norm unfused (packWeights folds it). */
  readonly fuse: boolean;
  readonly seed: number;
  /** Other tiles and tiny GEMM chunks, so that small layers meet every tail and chunk boundary. */
  readonly tuning?: Tuning;
}

const tuning: fc.Arbitrary<Tuning> = fc.constantFrom(
  DEFAULT_TUNING,
  { ...DEFAULT_TUNING, chunkBytes: 256 },
  { ...DEFAULT_TUNING, mr: 3, nv: 3, unroll: 3, dwBlock: 3 },
  { ...DEFAULT_TUNING, mr: 5, nv: 1, unroll: 2, dwBlock: 1, chunkBytes: 2048 },
);

const layerCase = (layer: fc.Arbitrary<string>): fc.Arbitrary<LayerCase> =>
  fc.record({ h: size, w: size, c: channels, layer, afterDepthwise: fc.boolean(), fuse: fc.boolean(), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), tuning });

/**
 * The layer in a network of its own; when shape inference rejects it (a
 * VALID window larger than the input) the case is skipped. Returns the
 * kernels the module used.
 */
function expectLayerMatches(k: LayerCase, tolerance = 1e-5): string[] {
  const source = `network L {\n  input ${k.h}x${k.w}x${k.c}\n${k.afterDepthwise ? "  dw 1x1 act=linear\n" : ""}  ${k.layer}\n}\n`;
  const r = compile(source, { seed: k.seed, fuseBatchNorm: k.fuse });
  fc.pre(r.graph !== undefined);
  const graph = r.graph!;
  const { error, loaded } = compare(graph, 1, k.seed, k.tuning);
  expect(error, source).toBeLessThan(tolerance);
  return loaded.net.layout.steps.map((s) => s.kernel);
}

describe("every kernel equals the reference evaluator on one-layer networks (1e-5 relative)", () => {
  it("pointwise convolution (the register-blocked GEMM)", () => {
    const layer = fc.tuple(channels, act).map(([n, a]) => `pw ${n} act=${a}`);
    fc.assert(
      fc.property(layerCase(layer), (k) => {
        expect(expectLayerMatches(k)).toContain("pointwise");
      }),
      { seed: 101, numRuns: KERNEL_RUNS },
    );
  });

  it("depthwise convolution: kernels 1–5, strides 1–2, SAME and VALID pads", () => {
    const layer = fc.tuple(kernelSize, stride, pad, act).map(([kk, s, p, a]) => `dw ${kk} stride=${s} pad=${p} act=${a}`);
    fc.assert(
      fc.property(layerCase(layer), (k) => {
        expect(expectLayerMatches(k)).toContain("depthwise");
      }),
      { seed: 102, numRuns: KERNEL_RUNS },
    );
  });

  it("full convolution, direct: kernels 1–5, strides 1–2, SAME and VALID pads", () => {
    const layer = fc.tuple(kernelSize, channels, stride, pad, act).map(([kk, n, s, p, a]) => `conv ${kk} ${n} stride=${s} pad=${p} act=${a}`);
    fc.assert(
      fc.property(layerCase(layer), (k) => {
        expect(expectLayerMatches(k)).toContain(k.layer.startsWith("conv 1x1 ") && / stride=1 /.test(k.layer) ? "pointwise" : "conv");
      }),
      { seed: 103, numRuns: KERNEL_RUNS },
    );
  });

  it("the first layer of MobileNet: 3x3 stride 2 on 3 unpadded channels", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 2, max: 40 }), channels, act, fc.integer({ min: 0, max: 1000 }), (h, w, n, a, seed) => {
        expectLayerMatches({ h, w, c: 3, layer: `conv 3x3 ${n} stride=2 act=${a}`, afterDepthwise: false, fuse: true, seed });
      }),
      { seed: 104, numRuns: 20 },
    );
  });

  it("average and max pooling, windowed (padding excluded / ignored) and global", () => {
    const windowed = fc.tuple(fc.constantFrom("avgpool", "maxpool"), kernelSize, fc.constantFrom("", " stride=1", " stride=2", " stride=1x2"), pad).map(([op, kk, s, p]) => `${op} ${kk}${s} pad=${p}`);
    const global = fc.constantFrom("avgpool global", "maxpool global");
    fc.assert(
      fc.property(layerCase(fc.oneof(windowed, global)), (k) => {
        const kinds = expectLayerMatches(k);
        const op = k.layer.split(" ")[0]!;
        expect(kinds).toContain(k.layer.endsWith("global") ? `global-${op}` : op);
      }),
      { seed: 105, numRuns: KERNEL_RUNS },
    );
  });

  it("fully connected (a GEMV), on pooled vectors and on whole maps flattened channel-major", () => {
    const layer = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.boolean()).map(([n, pool]) => (pool ? `avgpool global\n  fc ${n}` : `fc ${n}`));
    fc.assert(
      fc.property(layerCase(layer), (k) => {
        expect(expectLayerMatches(k)).toContain("fc");
      }),
      { seed: 106, numRuns: KERNEL_RUNS },
    );
  });

  it("softmax over the channels of every pixel (in wasm, with its own exp)", () => {
    fc.assert(
      fc.property(layerCase(fc.constantFrom("softmax", "pw 7 act=linear\n  softmax")), (k) => {
        expect(expectLayerMatches(k)).toContain("softmax");
      }),
      { seed: 107, numRuns: KERNEL_RUNS },
    );
  });

  it("an input-only network, dropout and batches: the output is the input, item by item", () => {
    const g = graphOf("network I {\n  input 3x5x6\n  dropout 0.5\n}\n");
    const { error, loaded } = compare(g, 3, 9);
    expect(error).toBe(0);
    expect(loaded.net.layout.steps.map((s) => s.name)).toEqual(["copy_output"]);
  });
});

// ── whole networks ─────────────────────────────────────────────────────────

/** α and resolution per example: small, and varied enough to meet odd sizes and border cases. */
const SETTINGS: Readonly<Record<string, readonly (readonly [alpha: number, resolution: number])[]>> = {
  "conv_mobilenet.mn": [
    [1, 48],
    [0.5, 64],
  ],
  "keyword_spotter.mn": [
    [1, 96],
    [0.5, 75],
  ],
  "mobilenet_v1.mn": [
    [1, 64],
    [0.5, 96],
  ],
  "mobilenet_v1_tf.mn": [
    [1, 96],
    [0.5, 64],
  ],
  "shallow_mobilenet.mn": [
    [1, 80],
    [0.5, 48],
  ],
};

describe("whole networks equal the reference evaluator (1e-4 relative)", () => {
  it("has settings for every example", () => {
    expect(Object.keys(SETTINGS).sort()).toEqual(exampleFiles());
  });

  const cases = exampleFiles().flatMap((file) => (SETTINGS[file] ?? []).map(([alpha, resolution]) => [file, alpha, resolution] as const));
  it.each(cases)("%s at α %s, %s px, a batch of 2", (file, alpha, resolution) => {
    const graph = graphOf(readExample(file), { file, alpha, resolution });
    const { error, loaded } = compare(graph, 2, resolution);
    expect(error).toBeLessThan(1e-4);
    // Each item alone gives its row of the batch.
    const size = inputSize(graph);
    const x = inputs(2 * size, resolution);
    const both = loaded.run(x, 2);
    const outFloats = loaded.net.layout.outputBytes / 4;
    expect(loaded.run(x.subarray(size), 1)).toEqual(both.subarray(outFloats));
  }, 60_000);
});

// ── the trained model ──────────────────────────────────────────────────────

const data = join(shared, "data", "mobilenet_v1");
const modelPath = join(data, "model", "mobilenet_v1_0.25_224_1_default_1.tflite");

describe.runIf(existsSync(modelPath))("the trained MobileNetV1 α 0.25 on real photos", () => {
  const photos = ["basketball", "burger", "cat", "mountain", "pizza"];

  const photo = (name: string): Float32Array => Float32Array.from(readFileSync(join(data, "images", `${name}.rgb224`)), (p) => (p - 127.5) / 127.5);
  const truth = (name: string): Float32Array => {
    const bytes = readFileSync(join(data, "ground_truth", `${name}.probs.f32`));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
  };
  const top5 = (p: ArrayLike<number>): number[] =>
    Array.from({ length: p.length }, (_, i) => i)
      .sort((a, b) => p[b]! - p[a]! || a - b)
      .slice(0, 5);

  it("gives TensorFlow Lite's probabilities within 1e-4 and its top-5 for every photo, as one batch", () => {
    const graph = graphOf(readFileSync(join(root, "examples", "mobilenet_v1_tf.mn"), "utf8"), { weights: new Uint8Array(readFileSync(modelPath)) });
    const loaded = load(graph, { maxBatch: photos.length });
    const batch = new Float32Array(photos.length * 224 * 224 * 3);
    photos.forEach((name, i) => batch.set(photo(name), i * 224 * 224 * 3));
    const out = loaded.run(batch, photos.length);
    photos.forEach((name, i) => {
      const p = out.subarray(i * 1001, (i + 1) * 1001);
      const t = truth(name);
      expect(relativeError(p, t) * Math.max(...t), name).toBeLessThan(1e-4); // max |Δprob|
      expect(top5(p), name).toEqual(top5(t));
    });
  }, 60_000);
});

// ── the module and its layout ──────────────────────────────────────────────

describe("the module", () => {
  const source = readExample("mobilenet_v1.mn");

  it("lays memory out as documented: weights, two buffers, input, output — aligned, disjoint, in bounds", () => {
    const graph = graphOf(source, { alpha: 0.25, resolution: 96 });
    const { layout, memoryBytes } = compileNetworkWasm(graph, { maxBatch: 3 });
    expect(memoryBytes).toBe(layout.memoryBytes);
    expect(layout.memoryBytes).toBe(layout.memoryPages * 65536);
    expect(layout.weightsBytes).toBe(4 * packWeights(graph, { maxBatch: 3 }).length);
    const regions = [
      [layout.weights, layout.weightsBytes],
      [layout.buffers[0], layout.bufferBytes],
      [layout.buffers[1], layout.bufferBytes],
      [layout.input, 3 * layout.inputBytes],
      [layout.output, 3 * layout.outputBytes],
    ] as const;
    for (let i = 0; i < regions.length; i++) {
      const [at, bytes] = regions[i]!;
      expect(at % 64).toBe(0);
      const next = regions[i + 1];
      expect(at + bytes).toBeLessThanOrEqual(next === undefined ? layout.memoryBytes : next[0]);
    }
    expect(layout.inputShape).toEqual([96, 96, 3]);
    expect(layout.outputShape).toEqual([1, 1, 1000]);
    expect(layout.inputBytes).toBe(96 * 96 * 3 * 4);
    // Every step's weights lie in the weights region, in graph order.
    const weighted = layout.steps.filter((s) => s.weights !== undefined);
    expect(weighted.map((s) => s.name)).toEqual(graph.nodes.filter((n) => n.op === "conv" || n.op === "depthwise" || n.op === "fc").map((n) => n.id));
    for (const s of weighted) expect(s.weights!.offset + 4 * s.weights!.floats).toBeLessThanOrEqual(layout.weights + layout.weightsBytes);
    // The first step reads the input, the last writes the output, the rest ping-pong.
    expect(layout.steps[0]!.from).toBe("input");
    expect(layout.steps.at(-1)!.to).toBe("output");
    for (let i = 1; i < layout.steps.length; i++) expect(layout.steps[i]!.from).toBe(layout.steps[i - 1]!.to);
  });

  it("exports run and one function per step, and traps on a batch larger than it was built for", () => {
    const graph = graphOf(source, { alpha: 0.25, resolution: 64 });
    const loaded = load(graph, { maxBatch: 2 });
    expect(Object.keys(loaded.exports).sort()).toEqual(["run", ...loaded.net.layout.steps.map((s) => s.name)].sort());
    expect(() => loaded.exports.run!(3)).toThrow(WA.RuntimeError);
    // Steps called one by one with the layout's addresses give what run gives.
    const x = inputs(inputSize(graph), 5);
    const expected = loaded.run(x);
    new Float32Array(loaded.memory.buffer, loaded.net.layout.output, expected.length).fill(0);
    for (const s of loaded.net.layout.steps) loaded.exports[s.name]!(s.input, s.output);
    expect(new Float32Array(loaded.memory.buffer, loaded.net.layout.output, expected.length)).toEqual(expected);
  });

  it("is deterministic: the same graph gives the same bytes and the same weights", () => {
    const same = (x: Uint8Array | Float32Array, y: Uint8Array | Float32Array): boolean =>
      Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    const a = graphOf(source, { alpha: 0.5, resolution: 96 });
    const b = graphOf(source, { alpha: 0.5, resolution: 96 });
    expect(same(compileNetworkWasm(a).wasm, compileNetworkWasm(b).wasm)).toBe(true);
    expect(same(packWeights(a), packWeights(b))).toBe(true);
    expect(same(compileNetworkWasm(a, { maxBatch: 4 }).wasm, compileNetworkWasm(a, { maxBatch: 4 }).wasm)).toBe(true);
    // …and another network gives other bytes.
    expect(same(compileNetworkWasm(graphOf(source, { alpha: 0.5, resolution: 64 })).wasm, compileNetworkWasm(a).wasm)).toBe(false);
  }, 30_000);
});
