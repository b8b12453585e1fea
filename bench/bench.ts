/**
 * npm run bench — the module `mnc compile --emit ts` writes, against the
 * runtimes users compare it with, on MobileNetV1 1.0-224 and 0.25-128,
 * MobileNetV2 1.0-224 and MobileNetV3-Large 1.0-224, batch 1, one thread each: onnxruntime-node (the native anchor), onnxruntime-web
 * (WebAssembly) in Node, and TensorFlow.js with its `cpu` and `wasm` backends.
 * The emitted module runs twice: as loaded (its WebAssembly SIMD kernels) and
 * with { backend: "typescript" } (its pure TypeScript kernels, the fallback).
 *
 * Each runtime lives in its own worker thread; rounds are interleaved (every
 * round runs each runtime once, in a rotating order) so that machine noise
 * falls on all of them alike. Reports medians, min–max and ratios, checks that
 * every runtime computed the same outputs, and profiles the emitted code per
 * layer type (for V2/V3: expansion, depthwise, projection, SE, adds). Options:
 * --rounds N (default 15), --only v1-1.0-224|v1-0.25-128|v2-1.0-224|v3-large-1.0-224.
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
import type { WorkerSetup } from "./worker.js";
import { flag } from "./args.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const rounds = Number(flag("rounds") ?? 15);
const only = flag("only");

const CONFIGS = [
  { label: "v1-1.0-224", name: "MobileNetV1 1.0-224", example: "mobilenet_v1", alpha: 1, resolution: 224 },
  { label: "v1-0.25-128", name: "MobileNetV1 0.25-128", example: "mobilenet_v1", alpha: 0.25, resolution: 128 },
  { label: "v2-1.0-224", name: "MobileNetV2 1.0-224", example: "mobilenet_v2", alpha: 1, resolution: 224 },
  { label: "v3-large-1.0-224", name: "MobileNetV3-Large 1.0-224", example: "mobilenet_v3_large", alpha: 1, resolution: 224 },
].filter((c) => only === undefined || c.label === only);

/** The row a layer's time counts in: the MobileNetV2/V3 block parts by role, other layers by their Table 2 type. */
function layerType(node: Node, category: string): string {
  if (node.id.endsWith(".expand")) return "expansion (1x1)";
  if (node.id.endsWith(".project")) return "projection (1x1)";
  if (node.id.includes(".se.")) return node.op === "mul" ? "SE scale (mul)" : "SE (pool, 1x1 convs)";
  if (node.op === "add") return "residual adds";
  return category === "none" ? "other (pool, softmax)" : category;
}

const RUNNERS: WorkerSetup["runner"][] = ["mnc", "mnc-typescript", "ort-node", "ort-web", "tfjs-cpu", "tfjs-wasm"];

interface Handle {
  readonly runner: WorkerSetup["runner"];
  readonly worker: Worker;
  name: string;
  /** createModel's time (mnc), and the first run's. */
  createMs?: number;
  firstMs?: number;
  readonly times: number[];
  output?: Float32Array;
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

async function bench(config: (typeof CONFIGS)[number]): Promise<void> {
  const file = `examples/${config.example}.mn`;
  const source = readFileSync(join(root, file), "utf8");
  const r = compile(source, { alpha: config.alpha, resolution: config.resolution });
  if (r.graph === undefined) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  const dir = mkdtempSync(join(tmpdir(), "mnc-bench-"));
  const emitted = emitTypeScript({ graph: r.graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: file, profile: true });
  const js = await transform(emitted.code, { loader: "ts", format: "esm", target: "es2022" });
  writeFileSync(join(dir, "model.mjs"), js.code);
  writeFileSync(join(dir, "model.weights.bin"), emitted.weights!);

  const [h, w, c] = r.graph.nodes[0]!.shape!;
  const input = Float32Array.from({ length: h * w * c }, (_, i) => Math.sin(i * 0.013));
  const multAdds = r.costs!.totals.multAdds;
  console.log(`\n${config.name}: ${multAdds.toLocaleString("en-US")} mult-adds (${((2 * multAdds) / 1e9).toFixed(2)} GFLOP), batch 1, ${rounds} interleaved rounds`);

  const handles: Handle[] = [];
  for (const runner of RUNNERS) {
    handles.push(await start({ runner, source, alpha: config.alpha, resolution: config.resolution, module: join(dir, "model.mjs"), weights: join(dir, "model.weights.bin") }));
  }
  // Warm-up: five runs each (JIT tiers, wasm compilation, allocation); the first one's time is the cold start.
  for (const h of handles) {
    for (let i = 0; i < 5; i++) {
      const m = await request<{ ms: number; output: Float32Array }>(h.worker, { kind: "run", input });
      h.output = m.output;
      if (i === 0) h.firstMs = m.ms;
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < handles.length; k++) {
      const h = handles[(round + k) % handles.length]!;
      const m = await request<{ ms: number; output: Float32Array }>(h.worker, { kind: "run", input });
      h.times.push(m.ms);
    }
  }
  const anchor = handles.find((h) => h.runner === "ort-node")!;
  const anchorMedian = median(anchor.times);
  const reference = anchor.output!;
  const rows = handles.map((h) => {
    const med = median(h.times);
    let diff = 0;
    for (let i = 0; i < reference.length; i++) diff = Math.max(diff, Math.abs(h.output![i]! - reference[i]!));
    return [
      h.name,
      med.toFixed(1),
      `${Math.min(...h.times).toFixed(1)}–${Math.max(...h.times).toFixed(1)}`,
      `${(med / anchorMedian).toFixed(2)}×`,
      ((2 * multAdds) / (med * 1e6)).toFixed(2),
      h.firstMs!.toFixed(1),
      h.createMs === undefined ? "" : h.createMs.toFixed(1),
      diff.toExponential(1),
    ];
  });
  const header = ["runtime", "median ms", "min–max ms", "vs ort-node", "GFLOP/s", "first run ms", "createModel ms", "max |Δ| vs ort-node"];
  const widths = header.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i]!.length)));
  console.log(header.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  "));
  for (const row of rows) console.log(row.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  "));
  const faster = (ratio: number): string => (ratio >= 1 ? `${ratio.toFixed(1)}× faster` : `${(1 / ratio).toFixed(1)}× slower`);
  const time = (runner: WorkerSetup["runner"]): number => median(handles.find((h) => h.runner === runner)!.times);
  for (const runner of ["mnc", "mnc-typescript"] as const) {
    const t = time(runner);
    const name = handles.find((h) => h.runner === runner)!.name;
    console.log(
      `${name}: ${(t / anchorMedian).toFixed(1)}× onnxruntime-node; ` +
        (["ort-web", "tfjs-wasm", "tfjs-cpu"] as const).map((peer) => `${faster(time(peer) / t)} than ${handles.find((h) => h.runner === peer)!.name}`).join("; "),
    );
  }

  // Where the emitted code spends its time: per layer type, GFLOP/s (2 × mult-adds / time).
  const key = (id: string): string => id.replace(/[^A-Za-z0-9_]/g, "_");
  for (const runner of ["mnc", "mnc-typescript"] as const) {
    const h = handles.find((x) => x.runner === runner)!;
    const profile = (await request<{ profile: { layer: string; ms: number }[] | null }>(h.worker, { kind: "profile", input })).profile ?? [];
    const byName = new Map(profile.map((p) => [key(p.layer), p.ms]));
    const types = new Map<string, { ms: number; multAdds: number; elementwise: number; layers: number }>();
    for (const l of r.costs!.layers) {
      const ms = byName.get(key(l.node.id));
      if (ms === undefined) continue;
      byName.delete(key(l.node.id));
      const type = layerType(l.node, l.category);
      const t = types.get(type) ?? { ms: 0, multAdds: 0, elementwise: 0, layers: 0 };
      types.set(type, { ms: t.ms + ms, multAdds: t.multAdds + l.multAdds, elementwise: t.elementwise + l.elementwise, layers: t.layers + 1 });
    }
    // Steps that are no IR layer (the WebAssembly kernels' channel-padding copies).
    for (const ms of byName.values()) {
      const t = types.get("copies") ?? { ms: 0, multAdds: 0, elementwise: 0, layers: 0 };
      types.set("copies", { ms: t.ms + ms, multAdds: 0, elementwise: 0, layers: t.layers + 1 });
    }
    console.log(`${h.name} per layer type (each layer alone, median of 5 runs):`);
    for (const [type, t] of types) {
      // Elementwise ops move memory: two float32 reads and one write per element.
      const gflops =
        t.multAdds > 0 ? `${((2 * t.multAdds) / (t.ms * 1e6)).toFixed(2)} GFLOP/s` : t.elementwise > 0 ? `${((12 * t.elementwise) / (t.ms * 1e6)).toFixed(2)} GB/s` : "";
      console.log(`  ${type.padEnd(22)} ${String(t.layers).padStart(3)} layers  ${t.ms.toFixed(2).padStart(7)} ms  ${gflops}`);
    }
  }
  for (const h of handles) h.worker.postMessage({ kind: "stop" });
}

for (const config of CONFIGS) await bench(config);
