/**
 * The loop of docs/training.md — design in mnc, train in PyTorch, deploy with
 * mnc — run end to end with Debian's python3-torch: the keyword-spotting
 * example (PocketNet, 96×96×1, four classes) emitted as a PyTorch module,
 * trained for a few dozen SGD steps with momentum on a seeded synthetic task
 * (the class is the brighter quadrant) until its loss has fallen, saved with
 * the emitted save_mnc_weights, compiled by mnc with batch-norm folded and
 * certified, and run in ONNX Runtime and in the emitted TypeScript module
 * (WebAssembly and TypeScript kernels, and the module emitted with
 * --no-wasm): both give PyTorch's eval() outputs,
 * logits and probabilities, within 1e-4. The command line compiles the
 * trained file too, and the file's running statistics have really moved
 * away from the initial 0 and 1, so the fold has something to fold. Then
 * docs/training.md's train.py, taken from the page as printed, trains the
 * page's network for two steps on a generated image folder, and mnc compiles
 * what it wrote.
 *
 * PocketNet rather than MobileNetV2 α 0.35 at 64×64: one grey channel makes
 * the quadrant task direct, it has every layer kind a classifier needs
 * (conv, depthwise 3×3 and 5×5 at strides 1 and 2 on even inputs — TensorFlow
 * SAME's asymmetric padding —, pointwise, max and global average pooling,
 * dropout, fc, softmax), and at 11 M mult-adds and 25 k parameters 40 steps
 * of batch 16 take about 3 s on one thread, where V2's 1280-wide head and
 * 1.7 M parameters would make each step several times slower for nothing
 * more that the loop checks (the V2 family's numerics are the emitter's
 * tests'; the second test here trains a V2).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import * as ort from "onnxruntime-node";
import { PNG } from "pngjs";
import { afterAll, describe, expect, it } from "vitest";
import { compile, type CompileOptions, type CompileResult } from "../src/index.js";
import { emitOnnx } from "../src/emit/onnx/index.js";
import { emitPyTorch } from "../src/emit/pytorch/index.js";
import { emitTypeScript } from "../src/emit/ts/index.js";
import type { Graph } from "../src/ir/graph.js";
import { readSafetensors } from "../src/weights/safetensors.js";
import { codeBlocks, inputs, readExample, relativeError, root } from "./helpers.js";
import { available } from "./optional.js";
import { maxAbsDiff } from "./segmentation-data.js";

const python = "/usr/bin/python3";
const haveTorch = spawnSync(python, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
const work = mkdtempSync(join(tmpdir(), "mnc-pytorch-loop-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Python on one thread, from `cwd`; its standard output, or a failure with its standard error. */
function runPython(args: readonly string[], cwd: string): string {
  const r = spawnSync(python, args, {
    cwd,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1", PYTHONDONTWRITEBYTECODE: "1" },
  });
  if (r.status !== 0) throw new Error(`python3 ${args.join(" ")} exited ${r.status ?? r.signal}:\n${r.stderr}`);
  return r.stdout;
}

function mnc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: work, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function compiled(source: string, options: CompileOptions): CompileResult & { graph: Graph } {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined || r.costs === undefined) throw new Error("no graph");
  return r as CompileResult & { graph: Graph };
}

const float32s = (path: string): Float32Array => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** NCHW items → NHWC (the TypeScript module's layout). */
function toNhwc(x: Float32Array, batch: number, [c, h, w]: readonly [number, number, number]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < h * w; p++) out[(b * h * w + p) * c + ch] = x[(b * c + ch) * h * w + p]!;
  return out;
}

/** The network's one output for an NCHW batch, in ONNX Runtime. */
async function onnxOutput(r: CompileResult & { graph: Graph }, x: Float32Array, batch: number, [c, h, w]: readonly [number, number, number]): Promise<Float32Array> {
  const bytes = emitOnnx({ graph: r.graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "pocket.mn" });
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const result = await session.run({ input: new ort.Tensor("float32", x, [batch, c, h, w]) });
  expect(session.outputNames).toHaveLength(1);
  return result[session.outputNames[0]!]!.data as Float32Array;
}

type Backend = "wasm-simd" | "typescript";
interface Generated {
  createModel(weights?: Uint8Array, options?: { backend?: Backend }): { readonly backend: Backend; run(input: Float32Array, batch?: number): Float32Array };
}
let modules = 0;

/** Emit the TypeScript module (with or without its WebAssembly kernels), type-strip it with esbuild and import it. */
async function loadModule(r: CompileResult & { graph: Graph }, wasm: boolean): Promise<{ mod: Generated; weights: Uint8Array }> {
  const emitted = emitTypeScript({ graph: r.graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "pocket.mn", moduleName: "pocket.ts", wasm });
  const js = await transform(emitted.code, { loader: "ts", format: "esm" });
  const file = join(work, `pocket-${modules++}.mjs`);
  writeFileSync(file, js.code);
  return { mod: (await import(pathToFileURL(file).href)) as Generated, weights: emitted.weights! };
}

/** The network's output for an NHWC batch in the emitted TypeScript module: each kernel set, and the module emitted with --no-wasm. */
async function moduleOutputs(r: CompileResult & { graph: Graph }, x: Float32Array, batch: number): Promise<Record<string, Float32Array>> {
  const full = await loadModule(r, true);
  const out: Record<string, Float32Array> = {};
  for (const backend of ["wasm-simd", "typescript"] as const) {
    const model = full.mod.createModel(full.weights, { backend });
    expect(model.backend).toBe(backend);
    out[backend] = model.run(x, batch);
  }
  const noWasm = await loadModule(r, false);
  const model = noWasm.mod.createModel(noWasm.weights);
  expect(model.backend).toBe("typescript");
  out["--no-wasm"] = model.run(x, batch);
  return out;
}

/**
 * Trains net.py (in argv[1]) on the quadrant task, reports the losses and a
 * held-out accuracy in eval(), writes the eval() logits and probabilities of
 * the fixed inputs the test wrote, and saves the weights with the module's
 * own writer.
 */
const LOOP = String.raw`
import importlib.util
import json
import sys
import time
from array import array

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)
work, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("net", work + "/net.py")
net = importlib.util.module_from_spec(spec)
spec.loader.exec_module(net)
model = net.create_model()
C, H, W = net.INPUT_SHAPE
data = torch.Generator().manual_seed(17)


def quadrants(n):
    """Noise with one quadrant brighter; the class is the quadrant (0 top left, 1 top right, 2 bottom left, 3 bottom right)."""
    y = torch.randint(0, 4, (n,), generator=data)
    x = torch.randn(n, C, H, W, generator=data) * 0.5
    for i, q in enumerate(y.tolist()):
        top, left = (q // 2) * (H // 2), (q % 2) * (W // 2)
        x[i, :, top : top + H // 2, left : left + W // 2] += 1.0
    return x, y


# A run of a few dozen steps: batch-norm's running statistics follow the batches at PyTorch's
# default momentum 0.1 rather than the module's 0.01 (Keras' 0.99 decay, for runs of thousands
# of steps), so that eval() has caught up with training.
for module in model.modules():
    if isinstance(module, net.BatchNorm):
        module.momentum = 0.1
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
model.train()
losses = []
start = time.time()
for _ in range(steps):
    x, y = quadrants(batch)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
seconds = time.time() - start

model.eval()
with torch.no_grad():
    x, y = quadrants(64)
    accuracy = (model(x).argmax(1) == y).float().mean().item()
    with open(work + "/inputs.f32", "rb") as f:
        fixed = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(-1, C, H, W)
    logits = model(fixed)
for name, t in (("logits", logits), ("probabilities", torch.softmax(logits, 1))):
    with open(f"{work}/{name}.f32", "wb") as f:
        array("f", t.flatten().tolist()).tofile(f)
net.save_mnc_weights(model, work + "/trained.safetensors")
print(json.dumps({"losses": losses, "accuracy": accuracy, "seconds": seconds}))
`;

const STEPS = 40;
const BATCH = 16;
const CLASSES = 4;

describe.runIf(available(haveTorch || process.env["CI"] === "true", "the PyTorch training loop", `${python} cannot import torch (apt-get install python3-torch)`))(
  "the training loop (python3-torch)",
  () => {
    it(
      `PocketNet trained ${STEPS} steps in PyTorch: the loss falls, and ONNX Runtime and the TypeScript module give PyTorch's eval() outputs from the trained file within 1e-4`,
      async () => {
        // The example with its classifier named, so that the module can end at the logits (--outputs logits).
        const example = readExample("keyword_spotter.mn");
        const source = example.replace("  fc classes\n", "  logits = fc classes\n");
        expect(source).not.toBe(example);
        writeFileSync(join(work, "pocket.mn"), source);
        const set = { classes: String(CLASSES) };
        const forTraining = compile(source, { set, outputs: ["logits"], fuseBatchNorm: false });
        expect(forTraining.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        writeFileSync(join(work, "net.py"), emitPyTorch(forTraining.unfused!, { sourceFile: "pocket.mn" }));

        // Four fixed inputs for the comparison, each with one quadrant brighter (class b for item b).
        const shape = [1, 96, 96] as const;
        const [, h, w] = shape;
        const size = h * w;
        const batch = 4;
        const x = new Float32Array(batch * size);
        for (let b = 0; b < batch; b++) {
          const noise = inputs(size, b + 1);
          for (let p = 0; p < size; p++) {
            const row = Math.floor(p / w);
            const col = p % w;
            const quadrant = (row < h / 2 ? 0 : 2) + (col < w / 2 ? 0 : 1);
            x[b * size + p] = 0.5 * noise[p]! + (quadrant === b ? 1 : 0);
          }
        }
        writeFileSync(join(work, "inputs.f32"), new Uint8Array(x.buffer));

        const report = JSON.parse(runPython(["-c", LOOP, work, String(STEPS), String(BATCH)], work)) as { losses: number[]; accuracy: number; seconds: number };
        console.log(`PyTorch: ${STEPS} steps of ${BATCH} in ${report.seconds.toFixed(1)} s; loss ${report.losses[0]!.toFixed(3)} → ${report.losses.at(-1)!.toFixed(3)}; held-out accuracy in eval() ${(report.accuracy * 100).toFixed(0)} %`);
        expect(report.losses).toHaveLength(STEPS);
        const mean = (v: number[]): number => v.reduce((s, a) => s + a, 0) / v.length;
        const first = mean(report.losses.slice(0, 5));
        const last = mean(report.losses.slice(-5));
        // Chance is ln 4 ≈ 1.39; the task is learnt well below half of where it started.
        expect(first).toBeGreaterThan(1);
        expect(last).toBeLessThan(first / 2);
        // And eval(), with the running statistics, has learnt it too: fresh images, and the four fixed ones.
        expect(report.accuracy).toBeGreaterThan(0.8);

        // The trained file: mnc's names, unfused batch-norm whose running statistics moved.
        const trained = new Uint8Array(readFileSync(join(work, "trained.safetensors")));
        const file = readSafetensors(trained);
        expect(file.metadata["format"]).toBe("mnc");
        const means = file.tensors.filter((t) => t.name.endsWith(".bn.mean"));
        const variances = file.tensors.filter((t) => t.name.endsWith(".bn.variance"));
        expect(means.map((t) => t.name)).toContain("unit_3.dw_0.bn.mean");
        expect(means).toHaveLength(11);
        for (const t of means) expect(Math.max(...Array.from(t.data, Math.abs)), t.name).toBeGreaterThan(1e-3);
        for (const t of variances) expect(Math.max(...Array.from(t.data, (v) => Math.abs(v - 1))), t.name).toBeGreaterThan(1e-3);

        // Back through mnc, batch-norm folded and certified: the logits and the whole network's probabilities.
        const weights = { weights: trained, weightsFile: "trained.safetensors" };
        const logits = compiled(source, { set, outputs: ["logits"], ...weights });
        const whole = compiled(source, { set, ...weights });
        for (const r of [logits, whole]) {
          // Every one of the 11 normalised layers folded and certified.
          expect(r.certificate?.layers).toBe(11);
          expect(r.certificate!.maxRelativeError).toBeLessThan(r.certificate!.tolerance);
          expect(r.unfused!.nodes.filter((n) => "weights" in n && n.weights?.bn !== undefined)).toHaveLength(11);
          expect(r.graph.nodes.filter((n) => "weights" in n && n.weights?.bn !== undefined)).toHaveLength(0);
        }
        const expected = { logits: float32s(join(work, "logits.f32")), probabilities: float32s(join(work, "probabilities.f32")) };
        expect(expected.logits).toHaveLength(batch * CLASSES);
        const predicted = Array.from({ length: batch }, (_, b) => {
          const row = Array.from(expected.logits.subarray(b * CLASSES, (b + 1) * CLASSES));
          return row.indexOf(Math.max(...row));
        });
        expect(predicted).toEqual([0, 1, 2, 3]);
        const nhwc = toNhwc(x, batch, shape);
        const errors: string[] = [];
        for (const [name, r] of [["logits", logits], ["probabilities", whole]] as const) {
          const want = expected[name];
          const onnx = await onnxOutput(r, x, batch, shape);
          expect(relativeError(onnx, want), `ONNX Runtime, ${name}`).toBeLessThan(1e-4);
          expect(maxAbsDiff(onnx, want), `ONNX Runtime, ${name}`).toBeLessThan(1e-4);
          errors.push(`ONNX ${name} ${relativeError(onnx, want).toExponential(2)}`);
          const outs = await moduleOutputs(r, nhwc, batch);
          for (const [backend, out] of Object.entries(outs)) {
            expect(relativeError(out, want), `the TypeScript module (${backend}), ${name}`).toBeLessThan(1e-4);
            expect(maxAbsDiff(out, want), `the TypeScript module (${backend}), ${name}`).toBeLessThan(1e-4);
            errors.push(`${backend} ${name} ${relativeError(out, want).toExponential(2)}`);
          }
        }
        console.log(`relative to PyTorch's eval(): ${errors.join(", ")}`);

        // The command line on the same file: exit 0 and the certified fold on its one line.
        const cli = mnc("compile", "pocket.mn", "--set", `classes=${CLASSES}`, "--weights", "trained.safetensors", "-o", "pocket.onnx");
        expect(cli.stderr).toBe("");
        expect(cli.status).toBe(0);
        expect(cli.stdout).toMatch(/^pocket\.onnx: PocketNet α=1 96x96x1 → 1x1x4, 11,013,632 mult-adds, 23,812 params, batch-norm fused \(max relative error [0-9.]+(e[-+]\d+)?\)\n$/);
      },
      150_000,
    );

    it(
      "docs/training.md: its train.py, as printed, trains its network (emitted by the command line) for two steps on a generated image folder, and mnc compiles and runs the result",
      () => {
        const blocks = codeBlocks(readFileSync(join(root, "docs", "training.md"), "utf8"));
        const network = blocks.filter((b) => b.includes("network Flowers"));
        const script = blocks.filter((b) => b.includes("def main():"));
        expect(network).toHaveLength(1);
        expect(script).toHaveLength(1);
        const doc = join(work, "doc");
        mkdirSync(doc);
        writeFileSync(join(doc, "flowers.mn"), network[0]!);
        writeFileSync(join(doc, "train.py"), script[0]!);
        const emitted = mnc("compile", "doc/flowers.mn", "--emit", "pytorch", "--outputs", "logits", "-o", "doc/flowers.py");
        expect(emitted.stderr).toBe("");
        expect(emitted.status).toBe(0);

        // Five classes of three photos each, of several sizes and both orientations, each class its own colour.
        const classes = ["daisy", "dandelion", "roses", "sunflowers", "tulips"];
        const sizes = [
          [150, 100],
          [90, 130],
          [128, 128],
        ] as const;
        classes.forEach((name, c) => {
          mkdirSync(join(doc, "photos", name), { recursive: true });
          sizes.forEach(([width, height], i) => {
            const png = new PNG({ width, height });
            for (let p = 0; p < width * height; p++) {
              png.data[p * 4] = (c * 50 + (p % width)) & 255;
              png.data[p * 4 + 1] = (255 - c * 40 + i * 30) & 255;
              png.data[p * 4 + 2] = (Math.floor(p / width) * 2) & 255;
              png.data[p * 4 + 3] = 255;
            }
            writeFileSync(join(doc, "photos", name, `${i}.png`), PNG.sync.write(png));
          });
        });

        const out = runPython(["train.py", "flowers.py", "photos", "--val", "photos", "--epochs", "1", "--steps", "2", "--batch", "4", "-o", "out/trained.safetensors"], doc);
        expect(out).toMatch(/^epoch 1: loss \d+\.\d{4}, training accuracy \d+\.\d%, validation accuracy \d+\.\d%\nwrote out\/trained\.safetensors and out\/labels\.txt\n$/);
        expect(readFileSync(join(doc, "out", "labels.txt"), "utf8")).toBe(classes.map((c) => `${c}\n`).join(""));

        const back = mnc("compile", "doc/flowers.mn", "--weights", "doc/out/trained.safetensors", "-o", "doc/flowers.onnx");
        expect(back.stderr).toBe("");
        expect(back.status).toBe(0);
        expect(back.stdout).toMatch(/^doc\/flowers\.onnx: Flowers α=0\.5 128x128x3 → 1x1x5, 31,304,960 mult-adds, 675,541 params, batch-norm fused \(max relative error [0-9.]+(e[-+]\d+)?\)\n$/);
        const run = mnc("run", "doc/flowers.mn", "--weights", "doc/out/trained.safetensors", "--input", "doc/photos/roses/0.png", "--labels", "doc/out/labels.txt");
        expect(run.status).toBe(0);
        for (const name of classes) expect(run.stdout).toContain(name);
      },
      90_000,
    );
  },
);
