/**
 * TensorFlow Lite's own WebAssembly interpreter (npm @tensorflow/tfjs-tflite)
 * in Node, one thread, with its XNNPACK delegate.
 *
 * The package targets browsers: its loader picks a build by feature detection
 * (SIMD, and threads where SharedArrayBuffer can be posted on a
 * MessageChannel) and loads it with a <script> tag, or in a web worker with
 * importScripts, then fetches the .wasm beside it. In Node the loader takes
 * the web-worker path, so this file gives it what that path uses and nothing
 * from the network:
 *
 * - `self` (the global object) and `self.location` (an empty origin, so the
 *   absolute path of the package's wasm folder is used as it is);
 * - `importScripts(path)`, which runs the package's Emscripten loader script
 *   from node_modules and hands its factory the .wasm file's bytes
 *   (`wasmBinary`) instead of a fetch;
 * - feature detection run once with MessageChannel hidden, so that it finds
 *   no threads and loads `tflite_web_api_cc_simd.js`, the SIMD build without
 *   pthreads: one thread by construction (the threaded build's pthreads would
 *   need web workers), and `numThreads: 1` in the runner's options as well.
 *
 * XNNPACK: this build applies TensorFlow Lite's XNNPACK delegate by default
 * (it prints "Created TensorFlow Lite XNNPACK delegate for CPU"); the
 * runner's profile shows it: the delegated nodes are `TfLiteXNNPackDelegate`
 * and its operators are XNNPACK's `Convolution (NHWC, QU8) GEMM`, `IGEMM`,
 * `DWConv` and `Add (ND, QU8)` (see `xnnpackProof`). The model runner API
 * (TFLiteWebModelRunner) reads and writes the interpreter's tensors directly:
 * no TensorFlow.js tensors in the timing.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import vm from "node:vm";

const require = createRequire(import.meta.url);

/** What the package's client exposes (its types live in dist/types; only what is used here). */
interface TensorInfo {
  readonly dataType: string;
  readonly shape: string;
  data(): Uint8Array | Int8Array | Float32Array | Int32Array;
}
export interface ModelRunner {
  getInputs(): TensorInfo[];
  getOutputs(): TensorInfo[];
  infer(): boolean;
  getProfilingSummary(): string;
  cleanUp(): void;
}
interface Client {
  TFLiteWebModelRunner: { create(model: ArrayBuffer, options: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries?: number }): Promise<ModelRunner> };
}
interface TfliteModule {
  setWasmPath(path: string): void;
  getWasmFeatures(): Promise<{ simd: boolean; multiThreading: boolean }>;
}

let loaded: { client: Client; features: { simd: boolean; multiThreading: boolean }; build: string } | undefined;

/** The package's wasm folder, its client loaded with the shims above; once per thread. */
async function load(): Promise<NonNullable<typeof loaded>> {
  if (loaded !== undefined) return loaded;
  const wasmDir = join(dirname(require.resolve("@tensorflow/tfjs-tflite/package.json")), "wasm") + "/";
  const g = globalThis as Record<string, unknown>;
  g.self = globalThis;
  g.location = { origin: "", href: "" };
  let build = "";
  g.importScripts = (path: string): void => {
    if (!path.startsWith(wasmDir)) throw new Error(`tfjs-tflite asked for ${path}, outside its wasm folder`);
    vm.runInThisContext(readFileSync(path, "utf8"), { filename: path });
    const factory = g.tflite_web_api_ModuleFactory as (args: Record<string, unknown>) => unknown;
    const wasmBinary = readFileSync(path.replace(/\.js$/, ".wasm"));
    build = path.slice(wasmDir.length);
    g.tflite_web_api_ModuleFactory = (args: Record<string, unknown>) => factory({ ...args, wasmBinary });
  };
  const tflite = require("@tensorflow/tfjs-tflite") as TfliteModule;
  // Detect features with MessageChannel hidden: no threads, so the SIMD build without pthreads.
  const channel = g.MessageChannel;
  g.MessageChannel = undefined;
  let features: { simd: boolean; multiThreading: boolean };
  try {
    features = await tflite.getWasmFeatures();
  } finally {
    g.MessageChannel = channel;
  }
  tflite.setWasmPath(wasmDir);
  const client = g.tfweb as Client;
  loaded = { client, features, get build() { return build; } };
  return loaded;
}

export interface TfliteRunner {
  readonly runner: ModelRunner;
  readonly input: TensorInfo;
  readonly output: TensorInfo;
  /** The loaded build's file (tflite_web_api_cc_simd.js) and the detected features. */
  readonly build: string;
  readonly features: { simd: boolean; multiThreading: boolean };
}

/** A model runner on the .tflite file's bytes: one thread, XNNPACK (the build's default), profiling as asked. */
export async function tfliteRunner(model: Uint8Array, profile = false): Promise<TfliteRunner> {
  const { client, features } = await load();
  const bytes = model.buffer.slice(model.byteOffset, model.byteOffset + model.byteLength) as ArrayBuffer;
  const runner = await client.TFLiteWebModelRunner.create(bytes, { numThreads: 1, enableProfiling: profile, maxProfilingBufferEntries: 4096 });
  const [input] = runner.getInputs();
  const [output] = runner.getOutputs();
  if (input === undefined || output === undefined) throw new Error("the .tflite model has no input or no output");
  return { runner, input, output, build: loaded!.build, features };
}

/** One row of the profiler's per-operator table: TensorFlow Lite's nodes, or XNNPACK's operators inside the delegate. */
export interface ProfileRow {
  readonly kind: "node" | "delegate-op";
  /** `TfLiteXNNPackDelegate`, `AVERAGE_POOL_2D`, …; for a delegate op its XNNPACK name (`Convolution (NHWC, QU8) GEMM`). */
  readonly type: string;
  /** The node's name (`[MobilenetV2/Conv_1/Relu6]:65`), or the delegate op's index. */
  readonly name: string;
  /** Total milliseconds over all calls, and the calls. */
  readonly totalMs: number;
  readonly calls: number;
}

/**
 * The profiler's summary (getProfilingSummary) as rows: the "Run Order"
 * table of TensorFlow Lite's nodes, then that of the XNNPACK delegate's
 * operators ("Delegate internal"). Each row's total is its average × calls
 * (the summary prints 3 decimals of the average).
 */
export function parseProfile(summary: string): ProfileRow[] {
  const rows: ProfileRow[] = [];
  let section: "node" | "delegate-op" = "node";
  let inRunOrder = false;
  for (const line of summary.split("\n")) {
    if (line.startsWith("Delegate internal")) section = "delegate-op";
    if (line.includes("=====")) {
      inRunOrder = line.includes("Run Order");
      continue;
    }
    if (!inRunOrder) continue;
    const cells = line.split("\t").map((c) => c.trim()).filter((c) => c !== "");
    // [node type] [first] [avg ms] [%] [cdf%] [mem KB] [times called] [Name]
    if (cells.length < 8 || cells[0]!.startsWith("[")) continue;
    const avg = Number(cells[2]);
    const calls = Number(cells[6]);
    const name = cells.slice(7).join(" ");
    if (!Number.isFinite(avg) || !Number.isFinite(calls)) continue;
    if (section === "node") rows.push({ kind: "node", type: cells[0]!, name, totalMs: avg * calls, calls });
    else {
      const m = /^Delegate\/(.*):(\d+)$/.exec(name);
      rows.push({ kind: "delegate-op", type: m?.[1] ?? name, name: m?.[2] ?? name, totalMs: avg * calls, calls });
    }
  }
  return rows;
}

/** What shows that XNNPACK ran the network: the delegate nodes and XNNPACK's operator names, counted. */
export function xnnpackProof(rows: readonly ProfileRow[]): string {
  const nodes = rows.filter((r) => r.kind === "node");
  const delegated = nodes.filter((r) => r.type === "TfLiteXNNPackDelegate").length;
  const ops = new Map<string, number>();
  for (const r of rows.filter((x) => x.kind === "delegate-op")) ops.set(r.type, (ops.get(r.type) ?? 0) + 1);
  const others = nodes.filter((r) => r.type !== "TfLiteXNNPackDelegate").map((r) => r.type);
  return (
    `${delegated} TfLiteXNNPackDelegate node${delegated === 1 ? "" : "s"} running ${[...ops].map(([t, n]) => `${n} × ${t}`).join(", ")}` +
    (others.length > 0 ? `; left to TensorFlow Lite: ${others.join(", ")}` : "")
  );
}
