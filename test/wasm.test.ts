/**
 * The WebAssembly SIMD backend (src/emit/wasm): the binary writer's
 * encodings checked by hand and by the engine (WebAssembly.validate, running
 * what it wrote); the weight packings' layouts; every activation's vector
 * code and the vectorised exp against float64 on a million values; every
 * kernel, fast-check seeded, against the float64 reference evaluator on
 * one-layer networks (shapes, kernels, strides and pads from real shape
 * inference, weights seeded at random, batch-norm fused or left for
 * packWeights to fold); residual adds and SE scaling fused and plain; every
 * example network at two widths and small resolutions, MobileNetV2/V3 and a
 * residual+SE network in batches of 1 and 3; the trained MobileNetV1 on real
 * photos against TensorFlow Lite; the memory plan replayed step by step;
 * the V1 modules byte for byte against a golden file; the memory layout;
 * and determinism.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyze, compile, type CompileOptions } from "../src/index.js";
import { compileNetworkWasm, DEFAULT_TUNING, foldPays, packWeights, wasmLayout, type Tuning, type WasmLayout, type WasmOptions } from "../src/emit/wasm/index.js";
import { ACTIVATION_CODE, axisRuns, EXP_MAX, EXP_MIN, expFunction, expVector, Kernel, packDepthwise, packFc, packPointwise } from "../src/emit/wasm/kernels.js";
import { FunctionBody, ModuleWriter, sleb, uleb } from "../src/emit/wasm/writer.js";
import { ACTIVATIONS, type Activation, type Graph } from "../src/ir/graph.js";
import { ACTIVATION, runReference } from "../src/ir/reference.js";
import { exampleFiles, readExample, root, shared, inputs, relativeError, RESIDUAL_SE } from "./helpers.js";
import { haveShared } from "./optional.js";
import { loadWasm as load, WA, type Loaded, type WasmMemory } from "./wasm-host.js";

// ── a tiny host: what the embedding TypeScript module will do ──────────────

function graphOf(source: string, options: CompileOptions = {}): Graph {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined) throw new Error("no graph");
  return r.graph;
}

/** The graph without its final softmax: its output is the logits (a sharper comparison than probabilities). */
function logits(g: Graph): Graph {
  const last = g.nodes[g.nodes.length - 1]!;
  if (last.op !== "softmax") return g;
  return { ...g, nodes: g.nodes.slice(0, -1), outputs: [last.inputs[0]!] };
}

const inputSize = (g: Graph): number => {
  const s = g.nodes[0]!.shape!;
  return s[0] * s[1] * s[2];
};

/** Run a batch through the module and the reference; the relative error. */
function compare(graph: Graph, batch: number, seed: number, tuning: Tuning = DEFAULT_TUNING, fuse: WasmOptions["fuse"] = "auto"): { readonly error: number; readonly loaded: Loaded } {
  const loaded = load(graph, { maxBatch: batch, tuning, fuse });
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

  it("writes the SIMD instructions of the sigmoid: abs, neg, nearest, ge, bitselect, trunc_sat, i32x4 add and shl", () => {
    const m = new ModuleWriter();
    m.importMemory("env", "memory", 1);
    // out0 = nearest(|a|) with the sign of −a; out1 = bitselect(a, b, a ≥ b); out2 = (trunc(a) + trunc(b)) << 1 as i32
    const f = new FunctionBody(["i32", "i32", "i32"]);
    const [a, b, out] = [0, 1, 2].map((i) => f.param(i)) as [ReturnType<FunctionBody["param"]>, ReturnType<FunctionBody["param"]>, ReturnType<FunctionBody["param"]>];
    f.localGet(out).localGet(a).v128Load().f32x4Abs().f32x4Nearest().f32x4Neg().v128Store(0);
    f.localGet(out).localGet(a).v128Load().localGet(b).v128Load().localGet(a).v128Load().localGet(b).v128Load().f32x4Ge().v128Bitselect().v128Store(16);
    f.localGet(out).localGet(a).v128Load().i32x4TruncSatF32x4S().localGet(b).v128Load().i32x4TruncSatF32x4S().i32x4Add().i32Const(1).i32x4Shl().v128Store(32);
    f.localGet(out).localGet(a).v128Load().localGet(b).v128Load().v128And().v128Store(48);
    m.exportFunction("f", m.addFunction(f));
    const bytes = m.encode();
    expect(WA.validate(bytes)).toBe(true);
    const memory = new WA.Memory({ initial: 1 });
    const run = new WA.Instance(new WA.Module(bytes), { env: { memory } }).exports.f as (a: number, b: number, out: number) => void;
    const view = new Float32Array(memory.buffer);
    view.set([2.5, -3.5, 1e10, Number.NaN], 0);
    view.set([3, -7.25, -1e10, 4], 4);
    run(0, 16, 64);
    expect([...view.subarray(16, 20)]).toEqual([-2, -4, -1e10, Number.NaN]); // ties to even: 2.5 → 2, 3.5 → 4
    expect([...view.subarray(20, 24)]).toEqual([3, -3.5, 1e10, 4]); // a where a ≥ b (never for NaN)
    // truncated toward zero and saturating: 1e10 → 2^31 − 1, −1e10 → −2^31 (their sum −1); NaN → 0
    expect([...new Int32Array(memory.buffer, 96, 4)]).toEqual([(2 + 3) * 2, (-3 - 7) * 2, -1 * 2, (0 + 4) * 2]);
    expect(new Uint32Array(memory.buffer, 112, 4)[0]).toBe(new Uint32Array(Float32Array.of(2.5).buffer)[0]! & new Uint32Array(Float32Array.of(3).buffer)[0]!);
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

// ── activations ────────────────────────────────────────────────────────────

/** A module exporting, per activation (and `exp`), f(x, y, vectors): y[i] = act(x[i]) over `vectors` f32x4. */
function activationModule(): { readonly memory: WasmMemory; readonly apply: (name: Activation | "exp", x: Float32Array) => Float32Array } {
  const m = new ModuleWriter();
  m.importMemory("env", "memory", 256);
  const names = ["exp", ...ACTIVATIONS] as const;
  for (const name of names) {
    const g = new Kernel(["i32", "i32", "i32"]);
    const n = g.f.param(2);
    const v = g.v("v");
    g.f.loop((top) => {
      g.f.localGet(g.x).v128Load(0).localSet(v);
      g.f.localGet(g.y);
      if (name === "exp") {
        g.f.localGet(v);
        expVector(g);
      } else ACTIVATION_CODE[name](g, v);
      g.f.v128Store(0);
      g.bump(g.x, 16);
      g.bump(g.y, 16);
      g.f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(top);
    });
    m.exportFunction(name, m.addFunction(g.f));
  }
  const bytes = m.encode();
  expect(WA.validate(bytes)).toBe(true);
  const memory = new WA.Memory({ initial: 256 });
  const exports = new WA.Instance(new WA.Module(bytes), { env: { memory } }).exports as Record<string, (x: number, y: number, n: number) => void>;
  const half = 128 * 65536;
  return {
    memory,
    apply(name, x) {
      const n = Math.ceil(x.length / 4) * 4;
      if (4 * n > half) throw new Error("too many values");
      new Float32Array(memory.buffer, 0, n).fill(0).set(x);
      exports[name]!(0, half, n / 4);
      return new Float32Array(memory.buffer, half, x.length).slice();
    },
  };
}

/** The worst relative error of `got` against float64 f where the exact value is a normal float32, and the worst absolute error elsewhere. */
function errors(x: Float32Array, got: Float32Array, f: (v: number) => number): { readonly relative: number; readonly absolute: number; readonly at: number } {
  let relative = 0;
  let absolute = 0;
  let at = NaN;
  for (let i = 0; i < x.length; i++) {
    const exact = f(x[i]!);
    const e = Math.abs(got[i]! - exact);
    if (Number.isNaN(e) && !(Number.isNaN(got[i]!) && Number.isNaN(exact))) return { relative: Infinity, absolute: Infinity, at: x[i]! };
    if (Number.isNaN(e) || e === 0) continue;
    if (Math.abs(exact) >= 2 ** -126) {
      if (e / Math.abs(exact) > relative) [relative, at] = [e / Math.abs(exact), x[i]!];
    } else absolute = Math.max(absolute, e);
  }
  return { relative, absolute, at };
}

describe("activations and exp, vectorised, against float64", () => {
  const N = 1 << 20;
  const mod = activationModule();
  /** N values: uniform on [−12, 12] (every kink of relu6/hswish/hsigmoid, sigmoid's curve), then magnitudes 1e−30…1e30 of both signs, and edge values. */
  const values = (() => {
    const x = new Float32Array(N + 16);
    for (let i = 0; i < N / 2; i++) x[i] = -12 + (24 * i) / (N / 2 - 1);
    for (let i = 0; i < N / 2; i++) x[N / 2 + i] = (i % 2 === 0 ? 1 : -1) * Math.exp(Math.log(1e-30) + ((Math.log(1e30) - Math.log(1e-30)) * i) / (N / 2 - 1));
    x.set([0, -0, 3, -3, 6, -6, 88, -88, 87.3, -87.3, 87.4, -87.4, 1e4, -1e4, 3.4e38, -3.4e38], N);
    return x;
  })();

  it("exp is within 1.5e−7 relative over its whole domain [EXP_MIN, EXP_MAX]", () => {
    const x = Float32Array.from({ length: N }, (_, i) => EXP_MIN + ((EXP_MAX - EXP_MIN) * i) / (N - 1));
    const e = errors(x, mod.apply("exp", x), Math.exp);
    expect(e.relative, `at ${e.at}`).toBeLessThan(1.5e-7);
    expect(e.absolute).toBe(0); // every e^x of the domain is a normal float32
    expect(mod.apply("exp", Float32Array.of(0, 1, -1))).toEqual(Float32Array.of(1, Math.fround(Math.E), Math.fround(1 / Math.E)));
  });

  it.each(ACTIVATIONS)("%s equals the reference's ACTIVATION within 3e−7 relative, on 2^20 values and the edges", (act) => {
    const e = errors(values, mod.apply(act, values), ACTIVATION[act]);
    expect(e.relative, `at ${e.at}`).toBeLessThan(3e-7);
    // Below the normal float32s only the sigmoid's clamped exp is inexact, by less than the smallest normal.
    expect(e.absolute).toBeLessThan(act === "sigmoid" ? 1.2e-38 : 1e-45);
  });

  it("relu, relu6, linear and the hard functions are exact where they are piecewise constant or linear", () => {
    const x = Float32Array.of(-7, -3, -1, 0, 0.5, 3, 6, 9);
    expect([...mod.apply("relu", x)]).toEqual([0, 0, 0, 0, 0.5, 3, 6, 9]);
    expect([...mod.apply("relu6", x)]).toEqual([0, 0, 0, 0, 0.5, 3, 6, 6]);
    expect([...mod.apply("linear", x)]).toEqual([...x]);
    expect([...mod.apply("hsigmoid", x)]).toEqual([0, 0, Math.fround(Math.fround(2) * Math.fround(1 / 6)), 0.5, Math.fround(Math.fround(3.5) * Math.fround(1 / 6)), 1, 1, 1]);
    expect([...mod.apply("hswish", x)].map((v) => v + 0)).toEqual([0, 0, Math.fround(-1 * Math.fround(Math.fround(2) * Math.fround(1 / 6))), 0, Math.fround(0.5 * Math.fround(Math.fround(3.5) * Math.fround(1 / 6))), 3, 6, 9]);
  });

  it("sigmoid at large |x|: 1 and the exact tiny values, no overflow, no NaN, through ±∞", () => {
    const x = Float32Array.of(20, 50, 100, 1e6, Infinity, -20, -50, -80, -87, -100, -1e6, -Infinity);
    const y = mod.apply("sigmoid", x);
    expect([...y.subarray(0, 5)]).toEqual([Math.fround(1 / (1 + Math.exp(-20))), 1, 1, 1, 1]);
    for (let i = 5; i < 9; i++) expect(Math.abs(y[i]! - ACTIVATION.sigmoid(x[i]!)) / ACTIVATION.sigmoid(x[i]!)).toBeLessThan(3e-7);
    for (let i = 9; i < 12; i++) expect(y[i]!).toBeLessThan(1.2e-38); // e^EXP_MIN: the true value is smaller still
    expect(y.every((v) => v >= 0 && v <= 1)).toBe(true);
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
const act = fc.constantFrom(...ACTIVATIONS);
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

// ── residual adds and SE scaling ──────────────────────────────────────────

const gateAct = fc.constantFrom("hsigmoid", "sigmoid");
const fuseMode = fc.constantFrom<NonNullable<WasmOptions["fuse"]>>("auto", "all", "none");

/** Network bodies with adds and muls in every arrangement the planner treats differently. */
const blockBody = fc.oneof(
  // the add fed by a pointwise projection: fused into its epilogue, over the block input's buffer
  fc.tuple(channels, channels, act).map(([c, e, a]) => `pw ${c} act=relu
  residual { pw ${e} act=${a}; pw ${c} act=linear }`),
  // the projection reads the residual itself: fused, not in place
  fc.tuple(channels, act).map(([c, a]) => `pw ${c} act=${a}
  residual { pw ${c} act=linear }`),
  // after a depthwise: a plain add, one operand the network input (copied, or read where it lies)
  act.map((a) => `residual { dw 3x3 act=${a} }`),
  // SE then a pointwise convolution: the gate folded into its weights, or a plain scaling
  fc.tuple(channels, act, gateAct).map(([n, a, g]) => `dw 3x3 act=relu
  se 0.5 gate=${g}
  pw ${n} act=${a}`),
  // SE then a depthwise: always a plain scaling
  gateAct.map((g) => `se 0.5 gate=${g}
  dw 3x3 act=relu6`),
  // whole MobileNetV3 blocks: expansion, depthwise, SE, projection and add
  fc.tuple(channels, fc.constantFrom(1, 2, 3), act).map(([c, t, a]) => `pw ${c} act=relu
  bottleneck ${c} expand=${t} se=0.25 act=${a}
  bottleneck ${c} expand=${t} kernel=5x5 act=${a}`),
);

describe("residual adds and SE scaling, fused and plain, equal the reference (1e-5 relative)", () => {
  it("in every arrangement, with every fusion setting, in batches", () => {
    fc.assert(
      fc.property(size, size, channels, blockBody, fc.boolean(), fuseMode, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (h, w, c, body, tail, fuse, batch, seed) => {
        // A layer after the body, or none (the body's last step then writes the output region where it can).
        const source = `network F {\n  input ${h}x${w}x${c}\n  ${body}\n${tail ? "  pw 3 act=linear\n" : ""}}\n`;
        const r = compile(source, { seed });
        fc.pre(r.graph !== undefined);
        const { error, loaded } = compare(r.graph!, batch, seed, DEFAULT_TUNING, fuse);
        expect(error, `${source} fuse=${fuse}`).toBeLessThan(1e-5);
        const steps = loaded.net.layout.steps;
        const plain = steps.filter((s) => s.kernel === "add" || s.kernel === "mul").length;
        const ops = r.graph!.nodes.filter((n) => n.op === "add" || n.op === "mul").length;
        if (fuse === "none") expect(plain).toBe(ops);
        // Every op is computed once: in its own step or fused into one.
        expect(steps.flatMap((s) => s.nodes).sort()).toEqual(r.graph!.nodes.filter((n) => n.op !== "input" && n.op !== "dropout").map((n) => n.id).sort());
      }),
      { seed: 108, numRuns: 120 },
    );
  }, 60_000);

  it("follows `inputs`, not the order of nodes: a branch, and an add whose other operand comes after the projection", () => {
    // input → pw_0 → { pw_1, dw_2 } → add(pw_1, dw_2): pw_1 is made before dw_2, so its add cannot be fused,
    // and pw_0 and pw_1 stay live across the branch.
    const base = graphOf("network G {\n  input 7x6x8\n  pw 12 act=relu\n  pw 12 act=linear\n  dw 3x3 act=relu6\n  residual { dw 1x1 act=linear }\n}\n", { seed: 3 });
    const [input, pw0, pw1, dw2, , add] = base.nodes as [Graph["nodes"][number], ...Graph["nodes"][number][]];
    const graph: Graph = {
      ...base,
      nodes: [input, pw0!, pw1!, { ...dw2!, inputs: [pw0!.id] }, { ...add!, inputs: [pw1!.id, dw2!.id] }] as Graph["nodes"],
      outputs: [add!.id],
    };
    for (const fuse of ["auto", "none"] as const) {
      for (const batch of [1, 2]) expect(compare(graph, batch, 5, DEFAULT_TUNING, fuse).error).toBeLessThan(1e-5);
      const layout = wasmLayout(graph, { fuse });
      replay(layout, graph);
      expect(layout.steps.map((s) => s.kernel)).toEqual(["pointwise", "pointwise", "depthwise", "add"]);
      expect(layout.buffers).toHaveLength(3); // pw_0 is read after pw_1 is made, and pw_1 after dw_2
    }
  });

  it("fuses the add into the projection, and folds the gate where foldPays says so", () => {
    const g = graphOf(`network F {\n  input 16x16x8\n  pw 16 act=relu\n  residual { pw 32 act=relu6; pw 16 act=linear }\n  se 0.25\n  pw 8 act=linear\n  se 0.25\n  pw 300 act=linear\n}\n`);
    const steps = wasmLayout(g).steps;
    expect(steps.map((s) => [s.name, s.kernel, s.nodes.join("+")])).toEqual([
      ["pw_0", "pointwise", "pw_0"],
      ["res_1.pw_0", "pointwise", "res_1.pw_0"],
      ["res_1.pw_1", "pointwise", "res_1.pw_1+res_1.add"],
      ["se_2.pool", "global-avgpool", "se_2.pool"],
      ["se_2.squeeze", "pointwise", "se_2.squeeze"],
      ["se_2.excite", "pointwise", "se_2.excite"],
      ["pw_3", "pointwise", "se_2.scale+pw_3"], // 8 ≤ 256 pixels: folded
      ["se_4.pool", "global-avgpool", "se_4.pool"],
      ["se_4.squeeze", "pointwise", "se_4.squeeze"],
      ["se_4.excite", "pointwise", "se_4.excite"],
      ["se_4.scale", "mul", "se_4.scale"], // 300 > 256 pixels: scaled apart
      ["pw_5", "pointwise", "pw_5"],
    ]);
    expect(foldPays(256, 8)).toBe(true);
    expect(foldPays(256, 300)).toBe(false);
    // The fused add lands over the residual's buffer (the block input dies there); the fold's weights in scratch.
    const add = steps[2]!;
    expect(add.operands.map((o) => o.node)).toEqual(["res_1.pw_0", "pw_0"]);
    expect(add.to).toBe(add.operands[1]!.region);
    expect(add.elementwise).toBe(16 * 16 * 16);
    expect(steps[6]!.operands.map((o) => o.node)).toEqual(["res_1.add", "se_2.excite"]); // the tensor, then the gate
    expect(wasmLayout(g).scratchBytes).toBe(576); // pw_3's panels, (1 + k)·roundUp4(n) = 17·8 floats, 64-byte aligned
    expect(wasmLayout(g, { fuse: "none" }).scratchBytes).toBe(0);
  });
});

// ── whole networks ─────────────────────────────────────────────────────────

/** α and resolution per example: small, and varied enough to meet odd sizes and border cases. */
const SETTINGS: Readonly<Record<string, readonly (readonly [alpha: number, resolution: number])[]>> = {
  "conv_mobilenet.mn": [
    [1, 48],
    [0.5, 64],
  ],
  // Graph networks (test/wasm-graph.test.ts has their several outputs and trained weights).
  "deeplabv3_mobilenet_v2.mn": [
    [1, 65],
    [0.5, 33],
  ],
  "selfie_segmentation.mn": [
    [1, 64],
    [1, 128],
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

/** MobileNetV2/V3 (classes 10): α and resolution, small and varied. */
const FAMILY: Readonly<Record<string, readonly (readonly [alpha: number, resolution: number])[]>> = {
  "mobilenet_v2.mn": [
    [1, 64],
    [0.35, 96],
  ],
  "mobilenet_v3_large.mn": [
    [1, 64],
    [0.75, 80],
  ],
  "mobilenet_v3_small.mn": [
    [1, 96],
    [0.5, 64],
  ],
};


describe("whole networks equal the reference evaluator (1e-4 relative)", () => {
  it("has settings for every example", () => {
    expect([...Object.keys(SETTINGS), ...Object.keys(FAMILY)].sort()).toEqual(exampleFiles());
  });

  const family = [
    ...Object.entries(FAMILY).flatMap(([file, settings]) => settings.map(([alpha, resolution]) => [file, alpha, resolution] as const)),
    ["a residual+SE network", 1, 32] as const,
  ];
  it.each(family)("%s at α %s, %s px, classes 10: probabilities and logits, batches of 1 and 3", (file, alpha, resolution) => {
    const source = file.endsWith(".mn") ? readExample(file) : RESIDUAL_SE;
    const graph = graphOf(source, { file, alpha, resolution, set: { classes: "10" } });
    expect(graph.nodes.some((n) => n.op === "add")).toBe(true);
    for (const batch of [1, 3]) {
      for (const g of [graph, logits(graph)]) {
        const { error } = compare(g, batch, resolution + batch);
        expect(error, `batch ${batch}, output ${g.outputs[0]}`).toBeLessThan(1e-4);
      }
    }
    // Plain add and mul kernels everywhere, and every gate folded: the same outputs.
    for (const fuse of ["none", "all"] as const) expect(compare(logits(graph), 1, resolution, DEFAULT_TUNING, fuse).error, fuse).toBeLessThan(1e-4);
  }, 60_000);

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

describe.runIf(haveShared(modelPath, "the WebAssembly kernels on the trained MobileNetV1 and real photos"))("the trained MobileNetV1 α 0.25 on real photos", () => {
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

  it.each([
    ["mobilenet_v1.mn", 2],
    ["mobilenet_v3_small.mn", 4],
  ] as const)("lays memory out as documented (%s): weights, %s buffers, scratch, input, output — aligned, disjoint, in bounds", (file, buffers) => {
    const graph = graphOf(readExample(file), { alpha: 0.25, resolution: 96 });
    const { layout, memoryBytes } = compileNetworkWasm(graph, { maxBatch: 3 });
    expect(memoryBytes).toBe(layout.memoryBytes);
    expect(layout.memoryBytes).toBe(layout.memoryPages * 65536);
    expect(layout.weightsBytes).toBe(4 * packWeights(graph, { maxBatch: 3 }).length);
    expect(layout.buffers.length).toBe(buffers);
    const regions = [
      [layout.weights, layout.weightsBytes],
      ...layout.buffers.map((at) => [at, layout.bufferBytes] as const),
      [layout.scratch, layout.scratchBytes],
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
    // The first step reads the input, the last writes the output; a chain (V1) ping-pongs.
    expect(layout.steps[0]!.from).toBe("input");
    expect(layout.steps.at(-1)!.to).toBe("output");
    if (file === "mobilenet_v1.mn") for (let i = 1; i < layout.steps.length; i++) expect(layout.steps[i]!.from).toBe(layout.steps[i - 1]!.to);
  });

  it.each(["mobilenet_v1.mn", "mobilenet_v3_small.mn"])("exports run and one function per step, and traps on a batch larger than it was built for (%s)", (file) => {
    const graph = graphOf(readExample(file), { alpha: 0.25, resolution: 64 });
    const loaded = load(graph, { maxBatch: 2 });
    expect(Object.keys(loaded.exports).sort()).toEqual(["run", ...loaded.net.layout.steps.map((s) => s.name)].sort());
    expect(() => loaded.exports.run!(3)).toThrow(WA.RuntimeError);
    // Steps called one by one with the layout's addresses (x, y) give what run gives: further operands are compiled in.
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

// ── the memory plan ────────────────────────────────────────────────────────

/** The node whose value `id` is: dropouts pass on their input's. */
function sourceOf(graph: Graph, id: string): string {
  const node = graph.nodes.find((n) => n.id === id)!;
  return node.op === "dropout" ? sourceOf(graph, node.inputs[0]!) : id;
}

/**
 * Replay the steps, tracking which value each region holds: every operand
 * must still lie where the step reads it (no buffer reused while a later
 * step needs its value), and a step may write over an operand only where
 * that is safe — elementwise, lane for lane.
 */
function replay(layout: WasmLayout, graph: Graph): void {
  const holds = new Map<string | number, string>([["input", graph.nodes[0]!.id]]);
  const address = (r: string | number): number => (r === "input" ? layout.input : r === "output" ? layout.output : layout.buffers[r as number]!);
  for (const s of layout.steps) {
    expect(s.operands[0]!.region, s.name).toBe(s.from);
    for (const o of s.operands) {
      expect(holds.get(o.region), `${s.name} reads '${o.node}' from region ${o.region}`).toBe(o.node);
      expect(o.address).toBe(address(o.region));
    }
    for (const [i, o] of s.operands.entries()) {
      if (o.region !== s.to) continue;
      expect(s.kernel === "add" || s.kernel === "mul" || (s.kernel === "pointwise" && i > 0 && s.operands[0]!.region !== s.to), `${s.name} writes over '${o.node}'`).toBe(true);
    }
    if (s.nodes.length > 0) expect(s.writes).toBe(s.nodes[s.nodes.length - 1]);
    holds.set(s.to, s.writes);
  }
  expect(holds.get("output")).toBe(sourceOf(graph, graph.outputs[0]!));
}

describe("the memory plan", () => {
  const cases = [...exampleFiles().map((f) => [f, readExample(f)] as const), ["a residual+SE network", RESIDUAL_SE] as const];
  it.each(cases)("%s: every step finds its operands where it reads them (declared and small resolutions, every fusion setting)", (file, source) => {
    for (const resolution of [undefined, 64]) {
      // Shapes are all the plan needs: no weights.
      const r = analyze(source, { file, ...(resolution === undefined ? {} : { resolution }) });
      expect(r.graph).toBeDefined();
      const graph = r.graph!;
      for (const fuse of ["auto", "all", "none"] as const) {
        const layout = wasmLayout(graph, { fuse });
        replay(layout, graph);
        const chain = !graph.nodes.some((n) => n.op === "add" || n.op === "mul");
        if (chain) expect(layout.buffers.length).toBe(2);
      }
    }
  });

  it("MobileNetV2 1.0-224: every residual add fused into its projection, over the block input; three buffers", () => {
    const graph = analyze(readExample("mobilenet_v2.mn")).graph!;
    const layout = wasmLayout(graph);
    const adds = graph.nodes.filter((n) => n.op === "add");
    expect(adds).toHaveLength(10);
    for (const a of adds) {
      const step = layout.steps.find((s) => s.nodes.includes(a.id))!;
      expect(step.nodes).toEqual([a.id.replace(/add$/, "project"), a.id]);
      expect(step.to).toBe(step.operands[1]!.region); // in place over the residual, which dies there
    }
    expect(layout.steps.some((s) => s.kernel === "add")).toBe(false);
    expect(layout.buffers).toHaveLength(3);
    expect(wasmLayout(graph, { fuse: "none" }).steps.filter((s) => s.kernel === "add")).toHaveLength(10);
  });

  it("MobileNetV3-Large 1.0-224: SE gates folded into the projection on 28x28 and 14x14 maps, scaled apart on 7x7", () => {
    const graph = analyze(readExample("mobilenet_v3_large.mn")).graph!;
    const steps = wasmLayout(graph).steps;
    const kinds = Object.fromEntries(graph.nodes.filter((n) => n.op === "mul").map((m) => [m.id.split(".")[0]!, steps.find((s) => s.nodes.includes(m.id))!.kernel]));
    expect(kinds).toEqual({
      bneck_4: "pointwise",
      bneck_5: "pointwise",
      bneck_6: "pointwise",
      bneck_11: "pointwise",
      bneck_12: "pointwise",
      bneck_13: "mul",
      bneck_14: "mul",
      bneck_15: "mul",
    });
    expect(steps.find((s) => s.name === "bneck_5.project")!.nodes).toEqual(["bneck_5.se.scale", "bneck_5.project", "bneck_5.add"]);
    // The squeeze and excite convolutions on 1×1 maps run as GEMVs: a 1-pixel tile as wide as the registers allow.
    for (const s of steps.filter((s) => /\.se\.(squeeze|excite)$/.test(s.name))) {
      expect(s.kernel).toBe("pointwise");
      expect(s.weights!.panel).toBe(24);
    }
  });
});

// ── chains, byte for byte ──────────────────────────────────────────────────

describe("the modules of chain networks are byte-identical to golden/wasm/v1-modules.txt", () => {
  it("for every example without adds or muls, at two settings and two batch sizes", () => {
    const golden = readFileSync(join(root, "test", "golden", "wasm", "v1-modules.txt"), "utf8")
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"));
    const lines: string[] = [];
    for (const file of exampleFiles()) {
      const source = readExample(file);
      for (const [alpha, resolution] of [[undefined, undefined], [0.5, 96]] as const) {
        const graph = analyze(source, { file, ...(alpha === undefined ? {} : { alpha }), ...(resolution === undefined ? {} : { resolution }) }).graph;
        // Networks with adds, muls or graph ops are no chains (a chain that fails to build misses its golden lines).
        if (graph === undefined || graph.nodes.some((n) => n.op === "add" || n.op === "mul")) continue;
        for (const maxBatch of [1, 3]) {
          const n = compileNetworkWasm(graph, { maxBatch });
          const sha = createHash("sha256").update(n.wasm).digest("hex");
          lines.push(`${file} α=${alpha ?? "default"} resolution=${resolution ?? "default"} maxBatch=${maxBatch}: ${n.wasm.length} bytes, ${n.layout.memoryPages} pages, sha256 ${sha}`);
        }
      }
    }
    expect(lines).toEqual(golden);
  }, 30_000);
});
