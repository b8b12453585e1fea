/**
 * One runtime under measurement, alone in its own worker thread (so that two
 * TensorFlow.js backends, or two WebAssembly runtimes, never share a heap or a
 * global engine). The main thread sends "run"; the worker times one inference
 * and answers with the milliseconds.
 */
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { compile } from "../src/index.js";
import { compileNetworkWasm, packWeights } from "../src/emit/wasm/index.js";
import type { Graph } from "../src/ir/graph.js";
import { onnxruntimeNode, onnxruntimeWeb, tfjsCpu, tfjsWasm, type Runner } from "./peers.js";

export interface WorkerSetup {
  readonly runner: "mnc-ts" | "mnc-wasm" | "ort-node" | "ort-web" | "tfjs-cpu" | "tfjs-wasm";
  readonly source: string;
  readonly alpha: number;
  readonly resolution: number;
  /** For mnc-ts: the emitted module (type-stripped to .mjs) and its weights file. */
  readonly module?: string;
  readonly weights?: string;
}

export type Request = { readonly kind: "run"; readonly input: Float32Array } | { readonly kind: "profile"; readonly input: Float32Array } | { readonly kind: "stop" };

async function makeRunner(setup: WorkerSetup): Promise<Runner & { profile?(input: Float32Array): unknown }> {
  if (setup.runner === "mnc-ts") {
    const mod = (await import(pathToFileURL(setup.module!).href)) as {
      createModel(w: Uint8Array): { run(x: Float32Array, batch?: number): Float32Array; profile?(x: Float32Array): unknown };
    };
    const model = mod.createModel(new Uint8Array(readFileSync(setup.weights!)));
    return {
      name: "mnc emitted TypeScript",
      run: (x) => model.run(x),
      ...(model.profile ? { profile: (x: Float32Array) => model.profile!(x) } : {}),
    };
  }
  const r = compile(setup.source, { alpha: setup.alpha, resolution: setup.resolution });
  if (setup.runner === "mnc-wasm") return wasmRunner(r.graph!);
  switch (setup.runner) {
    case "ort-node":
      return onnxruntimeNode(r);
    case "ort-web":
      return onnxruntimeWeb(r);
    case "tfjs-cpu":
      return tfjsCpu(r);
    case "tfjs-wasm":
      return tfjsWasm(r);
  }
}

/** mnc's generated WebAssembly SIMD kernels on their own (not yet inside the emitted module). */
interface WasmApi {
  Memory: new (d: { initial: number }) => { readonly buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { readonly exports: Record<string, unknown> };
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

function wasmRunner(graph: Graph): Runner {
  const net = compileNetworkWasm(graph);
  const { layout } = net;
  const memory = new WebAssembly.Memory({ initial: layout.memoryPages });
  new Float32Array(memory.buffer, layout.weights, layout.weightsBytes / 4).set(packWeights(graph));
  const instance = new WebAssembly.Instance(new WebAssembly.Module(net.wasm), { env: { memory } });
  const run = instance.exports["run"] as (batch: number) => void;
  return {
    name: "mnc wasm SIMD kernels",
    run(input) {
      new Float32Array(memory.buffer, layout.input, input.length).set(input);
      run(1);
      return new Float32Array(memory.buffer, layout.output, layout.outputBytes / 4).slice();
    },
  };
}

const setup = workerData as WorkerSetup;
const runner = await makeRunner(setup);
parentPort!.postMessage({ kind: "ready", name: runner.name });
parentPort!.on("message", async (m: Request) => {
  if (m.kind === "stop") {
    process.exit(0);
  }
  if (m.kind === "profile") {
    parentPort!.postMessage({ kind: "profile", profile: runner.profile?.(m.input) ?? null });
    return;
  }
  const start = performance.now();
  const output = await runner.run(m.input);
  const ms = performance.now() - start;
  parentPort!.postMessage({ kind: "result", ms, output: Float32Array.from(output) });
});
