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
import { onnxruntimeNode, onnxruntimeWeb, tfjsCpu, tfjsWasm, type Runner } from "./peers.js";

export interface WorkerSetup {
  readonly runner: "mnc" | "mnc-typescript" | "ort-node" | "ort-web" | "tfjs-cpu" | "tfjs-wasm";
  readonly source: string;
  readonly alpha: number;
  readonly resolution: number;
  /** For mnc: the emitted module (type-stripped to .mjs) and its weights file. */
  readonly module?: string;
  readonly weights?: string;
}

export type Request = { readonly kind: "run"; readonly input: Float32Array } | { readonly kind: "profile"; readonly input: Float32Array } | { readonly kind: "stop" };

interface EmittedModel {
  readonly backend: string;
  run(x: Float32Array, batch?: number): Float32Array;
  profile?(x: Float32Array): unknown;
}

/** How long createModel took (mnc only): reading the weights, compiling the WebAssembly, repacking. */
let createMs: number | undefined;

async function makeRunner(setup: WorkerSetup): Promise<Runner & { profile?(input: Float32Array): unknown }> {
  if (setup.runner === "mnc" || setup.runner === "mnc-typescript") {
    // The emitted module as a user loads it: the default picks the WebAssembly SIMD kernels in Node.
    const mod = (await import(pathToFileURL(setup.module!).href)) as {
      createModel(w: Uint8Array, options?: { backend?: string }): EmittedModel;
    };
    const weights = new Uint8Array(readFileSync(setup.weights!));
    const started = performance.now();
    const model = mod.createModel(weights, setup.runner === "mnc" ? {} : { backend: "typescript" });
    createMs = performance.now() - started;
    return {
      name: `mnc emitted module (${model.backend})`,
      run: (x) => model.run(x),
      ...(model.profile ? { profile: (x: Float32Array) => model.profile!(x) } : {}),
    };
  }
  const r = compile(setup.source, { alpha: setup.alpha, resolution: setup.resolution });
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

const setup = workerData as WorkerSetup;
const runner = await makeRunner(setup);
parentPort!.postMessage({ kind: "ready", name: runner.name, createMs });
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
  const copy = Float32Array.from(output);
  // Collect this runtime's garbage now, outside every measurement, rather than
  // in background threads while the next runtime is timed (node --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  parentPort!.postMessage({ kind: "result", ms, output: copy });
});
