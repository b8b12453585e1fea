/**
 * One runtime under measurement, alone in its own worker thread (so that two
 * TensorFlow.js backends, or two WebAssembly runtimes, never share a heap or a
 * global engine). The main thread sends "run"; the worker times one inference
 * and answers with the milliseconds and the first output in HWC order (put in
 * that order after the timing). "profile" times the emitted module's layers
 * (mnc only); "bandwidth" times plain Float32Array copies, the memory-bandwidth
 * reference of the profile.
 */
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { compile } from "../src/index.js";
import { onnxruntimeNode, onnxruntimeWeb, tfjsCpu, tfjsWasm, type Runner } from "./peers.js";

export interface WorkerSetup {
  readonly runner: "mnc" | "mnc-typescript" | "ort-node" | "ort-web" | "tfjs-cpu" | "tfjs-wasm";
  readonly source: string;
  /** compile()'s options (the peers compile the network themselves, to the same graph and seeded weights). */
  readonly options: { readonly alpha?: number; readonly resolution?: number };
  /** For mnc: the emitted module (type-stripped to .mjs) and its weights file. */
  readonly module?: string;
  readonly weights?: string;
}

export type Request =
  | { readonly kind: "run"; readonly input: Float32Array }
  | { readonly kind: "profile"; readonly input: Float32Array }
  /** Copies of `bytes` bytes each (and one of 64 MiB). */
  | { readonly kind: "bandwidth"; readonly bytes: readonly number[] }
  | { readonly kind: "stop" };

/** Median milliseconds of a Float32Array copy (`set`) of `largeBytes`, and of copies of each requested size. */
export interface Bandwidth {
  readonly largeBytes: number;
  readonly largeMs: number;
  readonly ms: readonly number[];
}

interface EmittedModel {
  readonly backend: string;
  run(x: Float32Array, batch?: number): unknown;
  profile?(x: Float32Array): unknown;
}

/** How long createModel took (mnc only): reading the weights, compiling the WebAssembly, repacking. */
let createMs: number | undefined;

/** The emitted module's first output: run() returns it, or (several outputs) an object of them in order. */
function firstOutput(result: unknown): Float32Array {
  if (result instanceof Float32Array) return result;
  const first = Object.values(result as Record<string, unknown>)[0];
  if (!(first instanceof Float32Array)) throw new Error("the emitted module's run() returned no Float32Array");
  return first;
}

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
      run: (x) => firstOutput(model.run(x)),
      ...(model.profile ? { profile: (x: Float32Array) => model.profile!(x) } : {}),
    };
  }
  const r = compile(setup.source, setup.options);
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

/**
 * The median time of one copy of `bytes` bytes from a Float32Array into another (`set`, a memmove),
 * over 7 timings after an untimed one; small copies are timed in batches long enough to read.
 */
function copyMs(bytes: number): number {
  const n = Math.max(1, Math.round(bytes / 4));
  const from = new Float32Array(n).fill(1.5);
  const to = new Float32Array(n);
  to.set(from);
  const batch = Math.max(1, Math.ceil(2 ** 24 / (4 * n)));
  const runs: number[] = [];
  for (let k = 0; k < 7; k++) {
    const start = performance.now();
    for (let b = 0; b < batch; b++) to.set(from);
    runs.push((performance.now() - start) / batch);
  }
  runs.sort((a, b) => a - b);
  return runs[3]!;
}

function bandwidth(sizes: readonly number[]): Bandwidth {
  const largeBytes = 64 * 2 ** 20;
  return { largeBytes, largeMs: copyMs(largeBytes), ms: sizes.map(copyMs) };
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
  if (m.kind === "bandwidth") {
    parentPort!.postMessage({ kind: "bandwidth", bandwidth: bandwidth(m.bytes) });
    return;
  }
  const start = performance.now();
  const output = await runner.run(m.input);
  const ms = performance.now() - start;
  const hwc = Float32Array.from(runner.toHwc?.(output) ?? output);
  // Collect this runtime's garbage now, outside every measurement, rather than
  // in background threads while the next runtime is timed (node --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  parentPort!.postMessage({ kind: "result", ms, output: hwc });
});
