/**
 * A tiny host for mnc's WebAssembly modules in tests: what the generated
 * TypeScript module does to run one (memory, weights, instance), without it.
 */
import { expect } from "vitest";
import { compileNetworkWasm, packWeights, type WasmLayout, type WasmNetwork, type WasmOptions } from "../src/emit/wasm/index.js";
import type { Graph } from "../src/ir/graph.js";

/**
 * The part of the JS WebAssembly API used here. The project compiles
 * without the DOM library, which is where TypeScript declares it.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { readonly exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
  RuntimeError: new () => Error;
}
export const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface Loaded {
  readonly net: WasmNetwork;
  readonly layout: WasmLayout;
  readonly memory: WasmMemory;
  readonly exports: Record<string, (...args: number[]) => void>;
  /** Copy `batch` NHWC items in, run, copy the (first) output out. */
  run(input: Float32Array, batch?: number): Float32Array;
  /** The same, copying every output out (graph.outputs order). */
  runAll(input: Float32Array, batch?: number): Float32Array[];
}

/** Compile a graph's WebAssembly module, check that it validates, and instantiate it with its weights. */
export function loadWasm(graph: Graph, options: WasmOptions = {}): Loaded {
  const net = compileNetworkWasm(graph, options);
  const { layout } = net;
  expect(WA.validate(net.wasm)).toBe(true);
  const memory = new WA.Memory({ initial: layout.memoryPages });
  new Float32Array(memory.buffer, layout.weights, layout.weightsBytes / 4).set(packWeights(graph, options));
  const instance = new WA.Instance(new WA.Module(net.wasm), { env: { memory } });
  const exports = instance.exports as unknown as Record<string, (...args: number[]) => void>;
  const runAll = (input: Float32Array, batch = 1): Float32Array[] => {
    expect(input.length).toBe((batch * layout.inputBytes) / 4);
    new Float32Array(memory.buffer, layout.input, input.length).set(input);
    exports.run!(batch);
    return layout.outputs.map((o) => new Float32Array(memory.buffer, o.offset, (batch * o.bytes) / 4).slice());
  };
  return { net, layout, memory, exports, runAll, run: (input, batch) => runAll(input, batch)[0]! };
}
