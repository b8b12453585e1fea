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
