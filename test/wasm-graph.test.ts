/**
 * The WebAssembly SIMD backend on graph networks (src/emit/wasm): several
 * outputs, each in its own region; the kernels of segmentation heads —
 * dilated depthwise and full convolutions, transposed convolutions, resizes
 * (bilinear and nearest, every coordinate convention), concatenations,
 * standalone activations, argmax, adds and muls with a 1×1×C operand —
 * against the float64 reference evaluator on hand-made edge cases, on
 * random graphs (test/graph-generators.ts) and on both segmentation
 * examples, every output compared.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { compileNetworkWasm, packWeights, type WasmLayout, type WasmNetwork, type WasmOptions } from "../src/emit/wasm/index.js";
import type { Graph } from "../src/ir/graph.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { runs, timeLimit } from "./fuzz-scale.js";
import { validGraphSpec } from "./graph-generators.js";
import { inputs, relativeError } from "./helpers.js";

// ── a tiny host, as test/wasm.test.ts has it ───────────────────────────────

interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { readonly exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Loaded {
  readonly net: WasmNetwork;
  readonly layout: WasmLayout;
  readonly exports: Record<string, (...args: number[]) => void>;
  /** Copy `batch` NHWC items in, run, and copy every output out (graph.outputs order). */
  run(input: Float32Array, batch?: number): Float32Array[];
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
    layout,
    exports,
    run(input, batch = 1) {
      expect(input.length).toBe((batch * layout.inputBytes) / 4);
      new Float32Array(memory.buffer, layout.input, input.length).set(input);
      exports.run!(batch);
      return layout.outputs.map((o) => new Float32Array(memory.buffer, o.offset, (batch * o.bytes) / 4).slice());
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

/** Every output of the module against the reference's: the largest relative error, per output. */
function errors(graph: Graph, batch: number, seed: number, options: WasmOptions = {}): number[] {
  const loaded = load(graph, { ...options, maxBatch: batch });
  const x = inputs(batch * inputSize(graph), seed);
  const got = loaded.run(x, batch);
  const expected = runReferenceOutputs(graph, x, batch);
  expect(got.length).toBe(expected.length);
  return expected.map((e, k) => relativeError(got[k]!, e));
}

const FUSIONS = ["auto", "none", "all"] as const;

// ── several outputs ────────────────────────────────────────────────────────

describe("several outputs, each in its own region", () => {
  const source = `network M {
  input 9x7x3
  a = conv 3x3 8 stride=2
  b = dw 3x3 act=relu6
  c = pw 6 act=linear
  pw 6 act=relu
  d = add c
  output b d a
}`;

  it("lays the regions out in graph.outputs order, the first where `output` says, aligned and disjoint", () => {
    const graph = graphOf(source);
    expect(graph.outputs.length).toBe(3);
    const layout = compileNetworkWasm(graph, { maxBatch: 2 }).layout;
    expect(layout.outputs.map((o) => o.id)).toEqual(graph.outputs);
    expect(layout.outputs[0]).toEqual({ id: graph.outputs[0], offset: layout.output, bytes: layout.outputBytes, shape: layout.outputShape });
    expect(layout.outputs.map((o) => o.shape)).toEqual([
      [5, 4, 8],
      [5, 4, 6],
      [5, 4, 8],
    ]);
    let end = layout.input + 2 * layout.inputBytes;
    for (const o of layout.outputs) {
      expect(o.offset % 64).toBe(0);
      expect(o.offset).toBeGreaterThanOrEqual(end);
      expect(o.bytes).toBe(4 * o.shape[0] * o.shape[1] * o.shape[2]);
      end = o.offset + 2 * o.bytes;
    }
    expect(layout.memoryBytes).toBeGreaterThanOrEqual(end);
  });

  it("gives every output equal to the reference's, at batch 1 and 3, with every fusion setting", () => {
    const graph = graphOf(source, { seed: 7 });
    for (const fuse of FUSIONS) for (const batch of [1, 3]) for (const e of errors(graph, batch, batch, { fuse })) expect(e).toBeLessThan(1e-5);
  });
});

// ── one-layer networks ─────────────────────────────────────────────────────

/** The network `input HxWxC` then `layers`, with seeded weights; undefined when mnc refuses it (a window larger than the map). */
function tryGraph(source: string, seed: number): Graph | undefined {
  const r = compile(source, { seed });
  return r.diagnostics.some((d) => d.severity === "error") ? undefined : r.graph;
}

/** Check a family of one-layer sources: every one that compiles equals the reference within `tolerance` at batch 1 and 2. */
function checkLayers(sources: fc.Arbitrary<string>, numRuns: number, tolerance = 1e-5): void {
  let compiled = 0;
  fc.assert(
    fc.property(sources, fc.integer({ min: 1, max: 1000 }), (source, seed) => {
      const graph = tryGraph(source, seed);
      if (graph === undefined) return;
      compiled++;
      for (const batch of [1, 2]) for (const e of errors(graph, batch, seed + batch)) expect(e, source).toBeLessThan(tolerance);
    }),
    { seed: 20261201, numRuns },
  );
  expect(compiled).toBeGreaterThan(numRuns / 2);
}

const map = fc.record({ h: fc.integer({ min: 1, max: 13 }), w: fc.integer({ min: 1, max: 13 }), c: fc.integer({ min: 1, max: 11 }) });
const ACT = fc.constantFrom("relu", "relu6", "linear", "hswish", "hsigmoid", "sigmoid");

describe("every new kernel equals the reference evaluator on one-layer networks (1e-5 relative)", () => {
  it("dilated depthwise: kernels 1–5, dilations 1–6 (beyond the map too), strides 1–2, SAME and VALID", () => {
    checkLayers(
      fc
        .tuple(map, fc.constantFrom(1, 2, 3, 5), fc.constantFrom(1, 2, 3, 4, 6), fc.constantFrom(1, 2), fc.constantFrom("same", "valid"), ACT)
        .map(([{ h, w, c }, k, d, s, pad, act]) => `network T {\n  input ${h}x${w}x${c}\n  dw ${k}x${k} dilation=${d} stride=${s} pad=${pad} act=${act}\n}\n`),
      runs(60),
    );
  }, timeLimit(60_000));

  it("dilated full convolution: kernels 1–5, dilations 1–4, strides 1–2, SAME and VALID", () => {
    checkLayers(
      fc
        .tuple(map, fc.constantFrom(2, 3, 5), fc.constantFrom(1, 2, 3, 4), fc.constantFrom(1, 2), fc.constantFrom("same", "valid"), fc.integer({ min: 1, max: 13 }), ACT)
        .map(([{ h, w, c }, k, d, s, pad, n, act]) => `network T {\n  input ${h}x${w}x${c}\n  conv ${k}x${k} ${n} dilation=${d} stride=${s} pad=${pad} act=${act}\n}\n`),
      runs(40),
    );
  }, timeLimit(60_000));
});

// ── random graphs ──────────────────────────────────────────────────────────

describe("random graphs (test/graph-generators.ts): every output equals the reference's", () => {
  it("within 1e-4 at batch 1 and 2, with every fusion setting", () => {
    fc.assert(
      fc.property(validGraphSpec({ minSize: 1, maxSize: 14, maxMap: 32 }), fc.integer({ min: 1, max: 1000 }), ({ source }, seed) => {
        const graph = graphOf(source, { seed });
        for (const fuse of FUSIONS) {
          for (const batch of [1, 2]) {
            errors(graph, batch, seed + batch, { fuse }).forEach((e, k) => expect(e, `${fuse}, batch ${batch}, output ${graph.outputs[k]}\n${source}`).toBeLessThan(1e-4));
          }
        }
      }),
      { seed: 20261202, numRuns: runs(40) },
    );
  }, timeLimit(120_000));
});
