/**
 * npm run bench — the module `mnc compile --emit ts` writes, against the
 * runtimes users compare it with, batch 1, one thread each: onnxruntime-node
 * (the native anchor), onnxruntime-web (WebAssembly) in Node, and TensorFlow.js
 * with its `cpu` and `wasm` backends. Networks: the classifiers MobileNetV1
 * 1.0-224 and 0.25-128, MobileNetV2 1.0-224 and MobileNetV3-Large 1.0-224, and
 * the segmenters DeepLabV3-MobileNetV2 0.5-257 and the selfie segmentation model
 * (256×256), every one with seeded weights.
 * The emitted module runs twice: as loaded (its WebAssembly SIMD kernels) and
 * with { backend: "typescript" } (its pure TypeScript kernels, the fallback).
 *
 * Each runtime lives in its own worker thread; rounds are interleaved (every
 * round runs each runtime once, in a rotating order) so that machine noise
 * falls on all of them alike. Reports medians, min–max and ratios, checks that
 * every runtime computed the same first output (against onnxruntime-node and
 * against the float64 reference evaluator), and profiles the emitted code per
 * layer type: for V2/V3 by block part (expansion, depthwise, projection, SE,
 * adds); for the segmenters by kernel (dilated and other depthwise, 1x1, full
 * and transposed convolutions in GFLOP/s; resize, concat and the elementwise ops
 * in GB/s of the bytes they must read and write, beside a plain Float32Array copy
 * of 64 MiB and copies of the same bytes, timed in the same worker).
 *
 * Then the 8-bit networks (bench/int8.ts): MobileNetV2 and V1 1.0-224 in mnc's
 * int8 module against its float module, TensorFlow Lite's WebAssembly
 * interpreter (XNNPACK, one thread) and onnxruntime-node on the int8 ONNX.
 *
 * Options: --rounds N (default 15); --only LABEL[,LABEL…] (v1-1.0-224,
 * v1-0.25-128, v2-1.0-224, v3-large-1.0-224, deeplabv3-mnv2-0.5-257, selfie-256,
 * and the int8 ones v2-1.0-224-int8, v1-1.0-224-int8);
 * --runners NAME[,NAME…] to keep some runtimes (mnc, mnc-typescript, ort-node,
 * ort-web, tfjs-cpu, tfjs-wasm; ort-node is always kept, the anchor; in the int8
 * networks mnc-int8, mnc-int8-typescript, mnc-float, tflite, ort-node-int8);
 * --slow-ms MS (default 5000): a runtime whose second run takes longer is reported
 * with that run alone and left out of the rounds.
 * Takes a few minutes: TensorFlow.js' cpu backend needs seconds per 1.0-224 inference.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { transform } from "esbuild";
import { compile } from "../src/index.js";
import { emitTypeScript } from "../src/emit/ts/index.js";
import type { Node } from "../src/ir/graph.js";
import type { LayerCost } from "../src/passes/analyze-costs.js";
import { runReference } from "../src/ir/reference.js";
import type { Bandwidth, WorkerSetup } from "./worker.js";
import { flag } from "./args.js";
import { benchInt8, INT8_CONFIGS } from "./int8.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const rounds = Number(flag("rounds") ?? 15);
const only = flag("only")?.split(",");
const slowMs = Number(flag("slow-ms") ?? 5000);

interface Config {
  readonly label: string;
  readonly name: string;
  readonly example: string;
  /** compile()'s α and resolution where the configuration sets them (the segmenters run their files' networks). */
  readonly options: WorkerSetup["options"];
  /** How the profile groups layers: by MobileNet block part, or by kernel. */
  readonly rows: "blocks" | "kernels";
}

const CONFIGS: readonly Config[] = (
  [
    { label: "v1-1.0-224", name: "MobileNetV1 1.0-224", example: "mobilenet_v1", options: { alpha: 1, resolution: 224 }, rows: "blocks" },
    { label: "v1-0.25-128", name: "MobileNetV1 0.25-128", example: "mobilenet_v1", options: { alpha: 0.25, resolution: 128 }, rows: "blocks" },
    { label: "v2-1.0-224", name: "MobileNetV2 1.0-224", example: "mobilenet_v2", options: { alpha: 1, resolution: 224 }, rows: "blocks" },
    { label: "v3-large-1.0-224", name: "MobileNetV3-Large 1.0-224", example: "mobilenet_v3_large", options: { alpha: 1, resolution: 224 }, rows: "blocks" },
    { label: "deeplabv3-mnv2-0.5-257", name: "DeepLabV3-MobileNetV2 0.5-257", example: "deeplabv3_mobilenet_v2", options: {}, rows: "kernels" },
    { label: "selfie-256", name: "Selfie segmentation 256", example: "selfie_segmentation", options: {}, rows: "kernels" },
  ] as const
).filter((c) => only === undefined || only.includes(c.label));
const INT8 = INT8_CONFIGS.filter((c) => only === undefined || only.includes(c.label));
if (only !== undefined && CONFIGS.length + INT8.length !== only.length) throw new Error(`--only: unknown label among ${only.join(", ")}`);

/** The row a layer's time counts in: the MobileNetV2/V3 block parts by role, other layers by their Table 2 type. */
function blockRow(node: Node, category: string): string {
  if (node.id.endsWith(".expand")) return "expansion (1x1)";
  if (node.id.endsWith(".project")) return "projection (1x1)";
  if (node.id.includes(".se.")) return node.op === "mul" ? "SE scale (mul)" : "SE (pool, 1x1 convs)";
  if (node.op === "add") return "residual adds";
  return category === "none" ? "other (pool, softmax)" : category;
}

/** The row a layer's time counts in, by the kernel that runs it (the segmenters). */
function kernelRow(l: LayerCost): string {
  const n = l.node;
  switch (n.op) {
    case "depthwise":
      return (n.attrs.dilation ?? [1, 1]).some((d) => d > 1) ? "depthwise, dilated" : "depthwise";
    case "conv":
      if (n.attrs.kernel[0] !== 1 || n.attrs.kernel[1] !== 1) return `conv ${n.attrs.kernel.join("x")}`;
      // A 1x1 convolution of a pooled 1x1 map is a matrix–vector product (SE, image pooling).
      return l.inputShape![0] * l.inputShape![1] === 1 ? "1x1 on 1x1 maps (GEMV)" : "1x1 conv";
    case "deconv":
      return `transposed conv ${n.attrs.kernel.join("x")}`;
    case "resize":
      return `resize ${n.attrs.mode} ${n.attrs.coords}`;
    case "concat":
      return "concat";
    case "add":
    case "mul":
      return "add, mul (skips, gates)";
    case "avgpool":
    case "maxpool":
      return "pooling";
    default:
      return `${n.op}`;
  }
}

/** The bytes a layer must read and write at least: each input and its output once, float32. */
const bytesOf = (l: LayerCost): number => 4 * (l.inputShapes.reduce((s, x) => s + x[0] * x[1] * x[2], 0) + l.outputShape[0] * l.outputShape[1] * l.outputShape[2]);

/** Rows reported against memory bandwidth (a plain copy of the same bytes), not GFLOP/s. */
const isMemoryRow = (row: string): boolean => row.startsWith("resize") || row === "concat";

const RUNNERS: readonly WorkerSetup["runner"][] = (["mnc", "mnc-typescript", "ort-node", "ort-web", "tfjs-cpu", "tfjs-wasm"] as const).filter(
  (r) => r === "ort-node" || flag("runners") === undefined || flag("runners")!.split(",").includes(r),
);

interface Handle {
  readonly runner: WorkerSetup["runner"];
  readonly worker: Worker;
  name: string;
  /** createModel's time (mnc), and the first run's. */
  createMs?: number;
  firstMs?: number;
  readonly times: number[];
  output?: Float32Array;
  /** Left out of the rounds: its second run took longer than --slow-ms. */
  slow?: boolean;
}

function request<T>(w: Worker, message: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T): void => {
      w.off("error", reject);
      resolve(m);
    };
    w.once("message", onMessage);
    w.once("error", reject);
    w.postMessage(message, transfer);
  });
}

function start(setup: WorkerSetup): Promise<Handle> {
  const worker = new Worker(join(here, "worker.mjs"), { workerData: setup });
  return new Promise((resolve, reject) => {
    worker.once("message", (m: { name: string; createMs?: number }) =>
      resolve({ runner: setup.runner, worker, name: m.name, ...(m.createMs === undefined ? {} : { createMs: m.createMs }), times: [] }),
    );
    worker.once("error", reject);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function table(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i]!.length)));
  const line = (row: readonly string[]): string => row.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

async function bench(config: Config): Promise<void> {
  const file = `examples/${config.example}.mn`;
  const source = readFileSync(join(root, file), "utf8");
  const r = compile(source, config.options);
  if (r.graph === undefined) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  const dir = mkdtempSync(join(tmpdir(), "mnc-bench-"));
  if (RUNNERS.includes("mnc") || RUNNERS.includes("mnc-typescript")) {
    const emitted = emitTypeScript({ graph: r.graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: file, profile: true });
    const js = await transform(emitted.code, { loader: "ts", format: "esm", target: "es2022" });
    writeFileSync(join(dir, "model.mjs"), js.code);
    writeFileSync(join(dir, "model.weights.bin"), emitted.weights!);
  }

  const [h, w, c] = r.graph.nodes[0]!.shape!;
  const input = Float32Array.from({ length: h * w * c }, (_, i) => Math.sin(i * 0.013));
  // The yardstick: the float64 reference evaluator on the same fused graph and input.
  const reference = runReference(r.graph, input);
  const scale = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const multAdds = r.costs!.totals.multAdds;
  const out = r.graph.nodes.find((n) => n.id === r.graph!.outputs[0])!.shape!;
  console.log(
    `\n${config.name}: ${multAdds.toLocaleString("en-US")} mult-adds (${((2 * multAdds) / 1e9).toFixed(2)} GFLOP), output ${out.join("x")} (values up to ${scale.toPrecision(3)}), batch 1, ${rounds} interleaved rounds`,
  );

  const handles: Handle[] = [];
  for (const runner of RUNNERS) {
    handles.push(await start({ runner, source, options: config.options, module: join(dir, "model.mjs"), weights: join(dir, "model.weights.bin") }));
  }
  // Warm-up: five runs each (JIT tiers, wasm compilation, allocation); the first one's time is the cold
  // start. A runtime whose second run still takes longer than --slow-ms is reported by that run.
  for (const h of handles) {
    for (let i = 0; i < 5; i++) {
      const m = await request<{ ms: number; output: Float32Array }>(h.worker, { kind: "run", input });
      h.output = m.output;
      if (i === 0) h.firstMs = m.ms;
      if (i === 1 && m.ms > slowMs && h.runner !== "ort-node") {
        h.slow = true;
        h.times.push(m.ms);
        break;
      }
    }
  }
  const timed = handles.filter((h) => h.slow !== true);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < timed.length; k++) {
      const h = timed[(round + k) % timed.length]!;
      const m = await request<{ ms: number; output: Float32Array }>(h.worker, { kind: "run", input });
      h.times.push(m.ms);
    }
  }
  const anchor = handles.find((h) => h.runner === "ort-node")!;
  const anchorMedian = median(anchor.times);
  const rows = handles.map((h) => {
    const med = median(h.times);
    return [
      h.name,
      h.slow ? `(${med.toFixed(1)})` : med.toFixed(1),
      h.slow ? "second run only" : `${Math.min(...h.times).toFixed(1)}–${Math.max(...h.times).toFixed(1)}`,
      `${(med / anchorMedian).toFixed(2)}×`,
      ((2 * multAdds) / (med * 1e6)).toFixed(2),
      h.firstMs!.toFixed(1),
      h.createMs === undefined ? "" : h.createMs.toFixed(1),
      maxAbsDiff(h.output!, anchor.output!).toExponential(1),
      maxAbsDiff(h.output!, reference).toExponential(1),
    ];
  });
  table(["runtime", "median ms", "min–max ms", "vs ort-node", "GFLOP/s", "first run ms", "createModel ms", "max |Δ| vs ort-node", "vs reference"], rows);
  const faster = (ratio: number): string => (ratio >= 1 ? `${ratio.toFixed(1)}× faster` : `${(1 / ratio).toFixed(1)}× slower`);
  const time = (h: Handle): number => median(h.times);
  for (const mine of handles.filter((h) => h.runner === "mnc" || h.runner === "mnc-typescript")) {
    const t = time(mine);
    const peers = handles.filter((h) => h.runner === "ort-web" || h.runner === "tfjs-wasm" || h.runner === "tfjs-cpu");
    console.log(`${mine.name}: ${(t / anchorMedian).toFixed(1)}× onnxruntime-node; ` + peers.map((p) => `${faster(time(p) / t)} than ${p.name}`).join("; "));
  }

  // Where the emitted code spends its time: per layer type, GFLOP/s (2 × mult-adds / time), or for
  // layers without mult-adds the bytes they must move per second.
  const key = (id: string): string => id.replace(/[^A-Za-z0-9_]/g, "_");
  const layerBytes = r.costs!.layers.filter((l) => config.rows === "kernels" && isMemoryRow(kernelRow(l))).map(bytesOf);
  for (const h of handles.filter((x) => x.runner === "mnc" || x.runner === "mnc-typescript")) {
    const profile = (await request<{ profile: { layer: string; ms: number }[] | null }>(h.worker, { kind: "profile", input })).profile ?? [];
    // The bandwidth reference, in the same worker right after the profile: a 64 MiB copy, and copies
    // moving the same bytes as each resize and concat (half of them read, half written).
    const bandwidth =
      config.rows === "kernels" ? (await request<{ bandwidth: Bandwidth }>(h.worker, { kind: "bandwidth", bytes: layerBytes.map((b) => b / 2) })).bandwidth : undefined;
    const copyMs = new Map(layerBytes.map((b, i) => [b, bandwidth!.ms[i]!]));
    const byName = new Map(profile.map((p) => [key(p.layer), p.ms]));
    const types = new Map<string, { ms: number; multAdds: number; bytes: number; copyMs: number; layers: number }>();
    const add = (type: string, t: { ms: number; multAdds: number; bytes: number; copyMs: number }): void => {
      const o = types.get(type) ?? { ms: 0, multAdds: 0, bytes: 0, copyMs: 0, layers: 0 };
      types.set(type, { ms: o.ms + t.ms, multAdds: o.multAdds + t.multAdds, bytes: o.bytes + t.bytes, copyMs: o.copyMs + t.copyMs, layers: o.layers + 1 });
    };
    const unprofiled = new Map<string, number>();
    for (const l of r.costs!.layers) {
      if (l.node.op === "input") continue;
      const ms = byName.get(key(l.node.id));
      const row = config.rows === "kernels" ? kernelRow(l) : blockRow(l.node, l.category);
      if (ms === undefined) {
        // Done inside another layer's step (a fused add, a concat written in place): timed with it.
        unprofiled.set(row, (unprofiled.get(row) ?? 0) + 1);
        continue;
      }
      byName.delete(key(l.node.id));
      const bytes = l.multAdds > 0 ? 0 : bytesOf(l);
      add(row, { ms, multAdds: l.multAdds, bytes, copyMs: isMemoryRow(row) ? copyMs.get(bytes) ?? 0 : 0 });
    }
    // Steps that are no IR layer (the WebAssembly kernels' input, output and channel-padding copies).
    for (const ms of byName.values()) add("copies", { ms, multAdds: 0, bytes: 0, copyMs: 0 });
    const total = [...types.values()].reduce((s, t) => s + t.ms, 0);
    console.log(`${h.name} per layer type (each layer timed in place in runs made layer by layer, median of 5; ${total.toFixed(2)} ms in all):`);
    for (const [type, t] of types) {
      const rate =
        t.multAdds > 0
          ? `${((2 * t.multAdds) / (t.ms * 1e6)).toFixed(2)} GFLOP/s`
          : t.bytes > 0
            ? `${(t.bytes / (t.ms * 1e6)).toFixed(2)} GB/s` + (t.copyMs > 0 ? ` (a copy of the same bytes: ${(t.bytes / (t.copyMs * 1e6)).toFixed(2)} GB/s, ${((100 * t.copyMs) / t.ms).toFixed(0)} % of its speed)` : "")
            : "";
      const unp = unprofiled.get(type);
      console.log(
        `  ${type.padEnd(32)} ${String(t.layers).padStart(3)} layers  ${t.ms.toFixed(2).padStart(7)} ms  ${((100 * t.ms) / total).toFixed(1).padStart(5)} %  ${rate}${unp ? `  (+${unp} inside other steps)` : ""}`,
      );
      unprofiled.delete(type);
    }
    for (const [type, n] of unprofiled) console.log(`  ${type.padEnd(32)} ${String(n).padStart(3)} layers  inside other steps`);
    if (bandwidth !== undefined) {
      console.log(`  memory bandwidth: a ${bandwidth.largeBytes / 2 ** 20} MiB Float32Array copy moves ${((2 * bandwidth.largeBytes) / (bandwidth.largeMs * 1e6)).toFixed(2)} GB/s (read + write)`);
    }
  }
  for (const h of handles) h.worker.postMessage({ kind: "stop" });
}

for (const config of CONFIGS) await bench(config);
// The 8-bit networks (bench/int8.ts): mnc's int8 module against its float one, TensorFlow Lite and onnxruntime-node.
for (const config of INT8) await benchInt8(config);
