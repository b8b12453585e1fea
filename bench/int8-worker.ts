/**
 * One runtime of the int8 benchmark (bench/int8.ts), alone in its worker
 * thread: mnc's int8 module (its WebAssembly kernels, or its TypeScript ones),
 * mnc's float module, TensorFlow Lite's WebAssembly interpreter (XNNPACK, one
 * thread) and onnxruntime-node on the int8 ONNX (one thread). Each is given
 * its input at setup — stored integers for the integer runtimes, float32 for
 * the float module — so that a "run" times one inference on it; the answer
 * carries the milliseconds and the first output (stored integers, or floats)
 * as numbers. "profile" times the layers (mnc's modules) or the operators
 * (TensorFlow Lite's profiler) after warm runs.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import type { Int8WasmLayout } from "../src/emit/wasm/int8/index.js";
import { parseProfile, tfliteRunner, xnnpackProof, type ProfileRow } from "./tflite.js";

export type Int8RunnerName = "mnc-int8" | "mnc-int8-typescript" | "mnc-int8-wasm" | "mnc-float" | "tflite" | "ort-node-int8";

export interface Int8WorkerSetup {
  readonly runner: Int8RunnerName;
  /** mnc: the emitted module (type-stripped to .mjs) and its weights file. */
  readonly module?: string;
  readonly weights?: string;
  /** mnc-int8-wasm: the int8 kernels as compileNetworkWasmInt8 gives them, their layout, the int8 blob. */
  readonly wasm?: { readonly bytes: Uint8Array; readonly layout: Int8WasmLayout; readonly blob: Uint8Array };
  /** tflite: the .tflite file. */
  readonly tflite?: string;
  /** ort-node-int8: the int8 ONNX bytes. */
  readonly onnx?: Uint8Array;
  /** The input as this runtime takes it: NHWC, batch 1. */
  readonly input: Float32Array | Uint8Array | Int8Array;
  readonly dims: readonly [number, number, number, number];
}

export type Int8Request = { readonly kind: "run" } | { readonly kind: "profile"; readonly runs: number } | { readonly kind: "stop" };

/** A profile: per layer (mnc) or per profiler row (TensorFlow Lite), milliseconds of one run. */
export type Int8Profile =
  | { readonly kind: "layers"; readonly layers: readonly { readonly layer: string; readonly ms: number }[] }
  | { readonly kind: "tflite"; readonly rows: readonly ProfileRow[]; readonly runs: number; readonly proof: string }
  | { readonly kind: "none" };

interface Runner {
  readonly name: string;
  run(): Promise<ArrayLike<number>> | ArrayLike<number>;
  profile?(runs: number): Promise<Int8Profile> | Int8Profile;
  /** Facts to print once (the TensorFlow Lite build and its features). */
  readonly notes?: readonly string[];
}

/** The part of the WebAssembly API used here (the project compiles without the DOM library, which declares it). */
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer; grow(pages: number): number };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { readonly exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface EmittedModel {
  readonly backend: string;
  run(x: unknown): unknown;
  profile?(x: unknown): unknown;
}

/** The emitted module's first output: run() returns it, or (several outputs) an object of them in order. */
function firstOutput(result: unknown): ArrayLike<number> {
  if (ArrayBuffer.isView(result)) return result as unknown as ArrayLike<number>;
  const first = Object.values(result as Record<string, unknown>)[0];
  if (!ArrayBuffer.isView(first)) throw new Error("the emitted module's run() returned no typed array");
  return first as unknown as ArrayLike<number>;
}

async function mncRunner(setup: Int8WorkerSetup): Promise<Runner> {
  const mod = (await import(pathToFileURL(setup.module!).href)) as { createModel(w: Uint8Array, options?: { backend?: string }): EmittedModel };
  const model = mod.createModel(new Uint8Array(readFileSync(setup.weights!)), setup.runner === "mnc-int8-typescript" ? { backend: "typescript" } : {});
  const kind = setup.runner === "mnc-float" ? "float" : "int8";
  const input = setup.input;
  return {
    name: `mnc ${kind} module (${model.backend})`,
    run: () => firstOutput(model.run(input)),
    profile: () => {
      const layers = model.profile?.(input) as { layer: string; ms: number }[] | undefined;
      return layers === undefined ? { kind: "none" } : { kind: "layers", layers };
    },
  };
}

/**
 * The int8 kernels on their own (src/emit/wasm/int8), driven as their contract says: the blob
 * written at `blob`, init(), the input's bytes at `input`, run(1), the output's bytes read back.
 * The profile calls the steps' exported kernels in order on their own operands, as run(1) does,
 * timing each where a run reaches it (the emitted modules' profile() does the same).
 */
async function mncWasm(setup: Int8WorkerSetup): Promise<Runner> {
  const { bytes, layout, blob } = setup.wasm!;
  const memory = new WA.Memory({ initial: layout.memoryPages });
  const instance = new WA.Instance(new WA.Module(bytes), { env: { memory } });
  const exports = instance.exports as Record<string, (...args: number[]) => void>;
  new Uint8Array(memory.buffer, layout.blob, layout.blobBytes).set(blob);
  exports.init!();
  const out = layout.outputs[0]!;
  const input = setup.input;
  const run = (): number[] => {
    new Uint8Array(memory.buffer, layout.input, layout.inputBytes).set(new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
    exports.run!(1);
    const raw = new Uint8Array(memory.buffer, out.offset, out.bytes);
    return setup.input instanceof Int8Array ? Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.length)) : Array.from(raw);
  };
  return {
    name: "mnc int8 kernels (wasm-simd, compileNetworkWasmInt8)",
    run,
    profile() {
      const kernels = layout.steps.map((step) => {
        const kernel = exports[step.name];
        if (kernel === undefined) throw new Error(`the int8 module exports no '${step.name}'`);
        return kernel;
      });
      run();
      const times = layout.steps.map((): number[] => []);
      for (let r = 0; r < 5; r++) {
        layout.steps.forEach((step, i) => {
          const t = performance.now();
          kernels[i]!(step.input, step.output);
          times[i]!.push(performance.now() - t);
        });
      }
      const layers = layout.steps.map((step, i) => {
        const sorted = times[i]!.sort((a, b) => a - b);
        // The step's own node (copies: their name).
        return { layer: step.kernel === "copy" ? step.name : step.nodes[step.nodes.length - 1]!, ms: sorted[2]! };
      });
      return { kind: "layers", layers };
    },
  };
}

async function tflite(setup: Int8WorkerSetup): Promise<Runner> {
  const model = new Uint8Array(readFileSync(setup.tflite!));
  const t = await tfliteRunner(model);
  const input = t.input.data();
  if (input.length !== setup.input.length) throw new Error(`the .tflite model takes ${input.length} values (${t.input.shape}), not ${setup.input.length}`);
  return {
    name: "TensorFlow Lite wasm (XNNPACK, 1 thread)",
    notes: [
      `TensorFlow Lite: @tensorflow/tfjs-tflite's ${t.build}, features ${JSON.stringify(t.features)}, numThreads 1; input ${t.input.dataType} [${t.input.shape}], output ${t.output.dataType} [${t.output.shape}]`,
    ],
    run() {
      input.set(setup.input as ArrayLike<number>);
      if (!t.runner.infer()) throw new Error("TensorFlow Lite's infer() failed");
      return Array.from(t.output.data());
    },
    async profile(runs) {
      // A second runner with the profiler on. Each summary adds the events buffered since the last
      // one to running statistics (average × calls per operator); the buffer holds a bounded number
      // of events, so summaries come every 5 runs. The difference of two consecutive summaries is
      // one batch's time per call of each operator (each runs once per inference); the profile is
      // each operator's median over the batches, so that a batch disturbed by other work does not count.
      const p = await tfliteRunner(model, true);
      p.input.data().set(setup.input as ArrayLike<number>);
      for (let i = 0; i < 5; i++) p.runner.infer();
      let before = parseProfile(p.runner.getProfilingSummary());
      const batches: ProfileRow[][] = [];
      for (let done = 0; done < runs; done += 5) {
        for (let i = 0; i < 5; i++) p.runner.infer();
        const after = parseProfile(p.runner.getProfilingSummary());
        if (before.length !== after.length || after.some((r, i) => r.name !== before[i]!.name)) throw new Error("TensorFlow Lite's profile changed shape between two summaries");
        batches.push(
          after.map((r, i) => {
            const calls = r.calls - before[i]!.calls;
            return { ...r, totalMs: calls === 0 ? 0 : (r.totalMs - before[i]!.totalMs) / calls, calls };
          }),
        );
        before = after;
      }
      p.runner.cleanUp();
      const rows = before.map((r, i) => {
        const ms = batches.map((b) => b[i]!.totalMs).sort((a, b) => a - b);
        const m = ms.length >> 1;
        return { ...r, totalMs: ms.length % 2 ? ms[m]! : (ms[m - 1]! + ms[m]!) / 2, calls: 1 };
      });
      return { kind: "tflite", rows, runs, proof: xnnpackProof(rows) };
    },
  };
}

async function ortInt8(setup: Int8WorkerSetup): Promise<Runner> {
  const ort = await import("onnxruntime-node");
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" } as const;
  const session = await ort.InferenceSession.create(setup.onnx!, options);
  const type = setup.input instanceof Int8Array ? "int8" : "uint8";
  const x = new ort.Tensor(type, setup.input as Uint8Array, [...setup.dims]);
  const output = session.outputNames[0]!;
  return {
    name: "onnxruntime-node int8 ONNX (1 thread)",
    async run() {
      const out = await session.run({ [session.inputNames[0]!]: x });
      return out[output]!.data as Uint8Array;
    },
    async profile(runs) {
      // A second session with ONNX Runtime's profiler: its JSON trace has one event per node and
      // run, named after the ONNX node (mnc names nodes by layer: "bneck_3.dw_token_29_kernel_time").
      const dir = mkdtempSync(join(tmpdir(), "mnc-bench-ort-"));
      const profiled = await ort.InferenceSession.create(setup.onnx!, { ...options, enableProfiling: true, profileFilePrefix: join(dir, "profile") });
      for (let i = 0; i < 5 + runs; i++) await profiled.run({ [profiled.inputNames[0]!]: x });
      (profiled as unknown as { endProfiling(): void }).endProfiling();
      const file = readdirSync(dir).find((f) => f.endsWith(".json"));
      if (file === undefined) return { kind: "none" };
      const events = JSON.parse(readFileSync(join(dir, file), "utf8")) as { cat?: string; name: string; dur: number }[];
      const byName = new Map<string, number[]>();
      for (const e of events) if (e.cat === "Node" && e.name.endsWith("_kernel_time")) byName.set(e.name, [...(byName.get(e.name) ?? []), e.dur]);
      // The median of the timed runs (the first five are warm-up), µs → ms, under the layer's name.
      const layers = [...byName].map(([name, durs]) => {
        const timed = durs.slice(5).sort((a, b) => a - b);
        return { layer: name.replace(/_kernel_time$/, "").replace(/_token_\d+$/, "").replace(/\.flatten$/, ""), ms: (timed[timed.length >> 1] ?? 0) / 1000 };
      });
      return { kind: "layers", layers };
    },
  };
}

function makeRunner(setup: Int8WorkerSetup): Promise<Runner> {
  switch (setup.runner) {
    case "mnc-int8":
    case "mnc-int8-typescript":
    case "mnc-float":
      return mncRunner(setup);
    case "mnc-int8-wasm":
      return mncWasm(setup);
    case "tflite":
      return tflite(setup);
    case "ort-node-int8":
      return ortInt8(setup);
  }
}

const setup = workerData as Int8WorkerSetup;
const runner = await makeRunner(setup);
parentPort!.postMessage({ kind: "ready", name: runner.name, notes: runner.notes ?? [] });
parentPort!.on("message", async (m: Int8Request) => {
  if (m.kind === "stop") process.exit(0);
  if (m.kind === "profile") {
    parentPort!.postMessage({ kind: "profile", profile: (await runner.profile?.(m.runs)) ?? { kind: "none" } });
    return;
  }
  const start = performance.now();
  const output = await runner.run();
  const ms = performance.now() - start;
  const values = Float64Array.from(output);
  // This runtime's garbage now, outside every measurement (node --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  parentPort!.postMessage({ kind: "result", ms, output: values });
});
