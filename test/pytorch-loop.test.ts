/**
 * The loop of docs/training.md — design in mnc, train in PyTorch, deploy with
 * mnc — run end to end with Debian's python3-torch. Two of the issue's small
 * networks, four classes each, are emitted as PyTorch modules and trained 40
 * seeded SGD steps with momentum (batch 16, one thread, one python process)
 * on a synthetic task — the class is the brighter quadrant of a noisy image —
 * until the loss has fallen and eval() classifies fresh images; each is saved
 * with the emitted save_mnc_weights, compiled back by mnc with batch-norm
 * folded and certified, and run in ONNX Runtime and in the emitted TypeScript
 * module (WebAssembly and TypeScript kernels, and the module emitted with
 * --no-wasm), which all give PyTorch's eval() outputs — logits and the whole
 * network's probabilities — within 1e-4. The command line compiles each
 * trained file too, and the files' running statistics have moved away from
 * the initial 0 and 1, so the fold folds real numbers. Then
 * docs/training.md's train.py, taken from the page as printed, trains the
 * page's network for two steps on a generated image folder, and mnc compiles
 * and runs what it wrote.
 *
 * The networks: the keyword-spotting example (PocketNet, 96×96×1: one grey
 * channel, depthwise 3×3 and 5×5, max pooling; 11 M mult-adds, about 4 s for
 * the 40 steps on a loaded machine) and MobileNetV2 at α 0.35, 64×64
 * (residual adds, expansions, the 1280-wide head; 4.7 M mult-adds, about
 * 3 s, its loss all the way to 0, so its probabilities saturate and its
 * logits are the sharp comparison). Both have stride-2 layers on even inputs,
 * where TensorFlow SAME pads asymmetrically.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import * as ort from "onnxruntime-node";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
  const bytes = emitOnnx({ graph: r.graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "net.mn" });
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
  const emitted = emitTypeScript({ graph: r.graph, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "net.mn", moduleName: "net.ts", wasm });
  const js = await transform(emitted.code, { loader: "ts", format: "esm" });
  const file = join(work, `module-${modules++}.mjs`);
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
 * Trains each network argv[4:] names (work/NAME.py, in argv[1]) on the
 * quadrant task, reports the losses and a held-out accuracy in eval(), writes
 * the eval() logits and probabilities of the fixed inputs the test wrote
 * (NAME.inputs.f32), and saves the weights with the module's own writer
 * (NAME.trained.safetensors): one process for both networks, as importing
 * torch takes seconds.
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
work, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def train(name):
    torch.manual_seed(0)
    spec = importlib.util.spec_from_file_location(name, f"{work}/{name}.py")
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
        with open(f"{work}/{name}.inputs.f32", "rb") as f:
            fixed = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(-1, C, H, W)
        logits = model(fixed)
    for output, t in (("logits", logits), ("probabilities", torch.softmax(logits, 1))):
        with open(f"{work}/{name}.{output}.f32", "wb") as f:
            array("f", t.flatten().tolist()).tofile(f)
    net.save_mnc_weights(model, f"{work}/{name}.trained.safetensors")
    return {"losses": losses, "accuracy": accuracy, "seconds": seconds}


print(json.dumps({name: train(name) for name in sys.argv[4:]}))
`;

const STEPS = 40;
const BATCH = 16;
const CLASSES = 4;
/** Fixed inputs per network for the comparison: item b has quadrant b brighter. */
const FIXED = 4;

interface Case {
  /** The files' stem in the work folder. */
  readonly name: string;
  readonly title: string;
  readonly example: string;
  readonly options: CompileOptions;
  /** The same options on the command line. */
  readonly flags: readonly string[];
  /** What mnc compile prints for the trained file. */
  readonly line: RegExp;
}

const CERTIFIED = String.raw`batch-norm fused \(max relative error [0-9.]+(e[-+]\d+)?\)\n$`;
const CASES: readonly Case[] = [
  {
    name: "pocket",
    title: "PocketNet (the keyword spotter, 96×96×1)",
    example: "keyword_spotter.mn",
    options: { set: { classes: String(CLASSES) } },
    flags: ["--set", `classes=${CLASSES}`],
    line: new RegExp(String.raw`^pocket\.onnx: PocketNet α=1 96x96x1 → 1x1x4, 11,013,632 mult-adds, 23,812 params, ` + CERTIFIED),
  },
  {
    name: "v2",
    title: "MobileNetV2 α 0.35 at 64×64",
    example: "mobilenet_v2.mn",
    options: { alpha: 0.35, resolution: 64, set: { classes: String(CLASSES) } },
    flags: ["--alpha", "0.35", "--resolution", "64", "--set", `classes=${CLASSES}`],
    line: new RegExp(String.raw`^v2\.onnx: MobileNetV2 α=0\.35 64x64x3 → 1x1x4, 4,740,288 mult-adds, 387,172 params, ` + CERTIFIED),
  },
];

interface Trained {
  readonly losses: number[];
  readonly accuracy: number;
  readonly seconds: number;
}

/** The example with its classifier named, so that the module can end at the logits (--outputs logits). */
function sourceOf(c: Case): string {
  const example = readExample(c.example);
  const source = example.replace("  fc classes\n", "  logits = fc classes\n");
  expect(source).not.toBe(example);
  return source;
}

/** (C, H, W) of a compiled network's input. */
function inputShape(graph: Graph): [number, number, number] {
  const [h, w, c] = graph.nodes[0]!.shape!;
  return [c, h, w];
}

/** FIXED inputs in NCHW: noise, and quadrant b brighter in every channel of item b. */
function fixedInputs([c, h, w]: readonly [number, number, number]): Float32Array {
  const size = c * h * w;
  const x = new Float32Array(FIXED * size);
  for (let b = 0; b < FIXED; b++) {
    const noise = inputs(size, b + 1);
    for (let i = 0; i < size; i++) {
      const p = i % (h * w);
      const quadrant = (Math.floor(p / w) < h / 2 ? 0 : 2) + (p % w < w / 2 ? 0 : 1);
      x[b * size + i] = 0.5 * noise[i]! + (quadrant === b ? 1 : 0);
    }
  }
  return x;
}

const hasBatchNorm = (n: Graph["nodes"][number]): boolean => "weights" in n && n.weights?.bn !== undefined;
const mean = (v: readonly number[]): number => v.reduce((s, a) => s + a, 0) / v.length;

describe.runIf(available(haveTorch || process.env["CI"] === "true", "the PyTorch training loop", `${python} cannot import torch (apt-get install python3-torch)`))(
  "the training loop (python3-torch)",
  () => {
    // Emit both modules and their fixed inputs, then train both in one python process.
    let trained: Record<string, Trained> = {};
    beforeAll(() => {
      for (const c of CASES) {
        const source = sourceOf(c);
        writeFileSync(join(work, `${c.name}.mn`), source);
        const forTraining = compile(source, { ...c.options, outputs: ["logits"], fuseBatchNorm: false });
        expect(forTraining.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        writeFileSync(join(work, `${c.name}.py`), emitPyTorch(forTraining.unfused!, { sourceFile: `${c.name}.mn` }));
        writeFileSync(join(work, `${c.name}.inputs.f32`), new Uint8Array(fixedInputs(inputShape(forTraining.unfused!)).buffer));
      }
      trained = JSON.parse(runPython(["-c", LOOP, work, String(STEPS), String(BATCH), ...CASES.map((c) => c.name)], work)) as Record<string, Trained>;
    }, 150_000);

    for (const c of CASES) {
      it(
        `${c.title} trained ${STEPS} steps in PyTorch: the loss falls, and ONNX Runtime and the TypeScript module give PyTorch's eval() outputs from the trained file within 1e-4`,
        async () => {
          const report = trained[c.name]!;
          console.log(`${c.title} in PyTorch: ${STEPS} steps of ${BATCH} in ${report.seconds.toFixed(1)} s; loss ${report.losses[0]!.toFixed(3)} → ${report.losses.at(-1)!.toFixed(3)}; held-out accuracy in eval() ${(report.accuracy * 100).toFixed(0)} %`);
          expect(report.losses).toHaveLength(STEPS);
          const first = mean(report.losses.slice(0, 5));
          const last = mean(report.losses.slice(-5));
          // Chance is ln 4 ≈ 1.39; the task is learnt well below half of where it started.
          expect(first).toBeGreaterThan(1);
          expect(last).toBeLessThan(first / 2);
          // And eval(), with the running statistics, has learnt it too: fresh images here, the fixed ones below.
          expect(report.accuracy).toBeGreaterThan(0.8);

          // Back through mnc, batch-norm folded and certified: the logits, and the whole network's probabilities.
          const source = sourceOf(c);
          const bytes = new Uint8Array(readFileSync(join(work, `${c.name}.trained.safetensors`)));
          const weights = { weights: bytes, weightsFile: `${c.name}.trained.safetensors` };
          const logits = compiled(source, { ...c.options, outputs: ["logits"], ...weights });
          const whole = compiled(source, { ...c.options, ...weights });
          const normalised = whole.unfused!.nodes.filter(hasBatchNorm).length;
          expect(normalised).toBeGreaterThan(10);
          for (const r of [logits, whole]) {
            // Every normalised layer folded and certified.
            expect(r.certificate?.layers).toBe(normalised);
            expect(r.certificate!.maxRelativeError).toBeLessThan(r.certificate!.tolerance);
            expect(r.graph.nodes.filter(hasBatchNorm)).toHaveLength(0);
          }

          // The trained file: mnc's metadata, and running statistics that moved away from the initial 0
          // and 1, so that the fold folds real numbers — every variance, and the means of most layers (a
          // convolution that reads a batch-normed tensor directly, as an expansion reads the projection
          // before it, has a batch mean near β, which starts at 0).
          const file = readSafetensors(bytes);
          expect(file.metadata["format"]).toBe("mnc");
          const largest = (t: { data: Float32Array }, from: number): number => Math.max(...Array.from(t.data, (v) => Math.abs(v - from)));
          const means = file.tensors.filter((t) => t.name.endsWith(".bn.mean"));
          const variances = file.tensors.filter((t) => t.name.endsWith(".bn.variance"));
          expect(means).toHaveLength(normalised);
          expect(variances).toHaveLength(normalised);
          for (const t of variances) expect(largest(t, 1), t.name).toBeGreaterThan(1e-3);
          expect(means.filter((t) => largest(t, 0) > 1e-3).length).toBeGreaterThan(normalised / 2);
          expect(Math.max(...means.map((t) => largest(t, 0)))).toBeGreaterThan(0.1);

          const shape = inputShape(whole.graph);
          const x = fixedInputs(shape);
          const expected = { logits: float32s(join(work, `${c.name}.logits.f32`)), probabilities: float32s(join(work, `${c.name}.probabilities.f32`)) };
          expect(expected.logits).toHaveLength(FIXED * CLASSES);
          const predicted = Array.from({ length: FIXED }, (_, b) => {
            const row = Array.from(expected.logits.subarray(b * CLASSES, (b + 1) * CLASSES));
            return row.indexOf(Math.max(...row));
          });
          expect(predicted).toEqual([0, 1, 2, 3]);
          const nhwc = toNhwc(x, FIXED, shape);
          const errors: string[] = [];
          for (const [name, r] of [["logits", logits], ["probabilities", whole]] as const) {
            const want = expected[name];
            const onnx = await onnxOutput(r, x, FIXED, shape);
            expect(relativeError(onnx, want), `ONNX Runtime, ${name}`).toBeLessThan(1e-4);
            expect(maxAbsDiff(onnx, want), `ONNX Runtime, ${name}`).toBeLessThan(1e-4);
            errors.push(`ONNX ${name} ${relativeError(onnx, want).toExponential(2)}`);
            const outs = await moduleOutputs(r, nhwc, FIXED);
            for (const [backend, out] of Object.entries(outs)) {
              expect(relativeError(out, want), `the TypeScript module (${backend}), ${name}`).toBeLessThan(1e-4);
              expect(maxAbsDiff(out, want), `the TypeScript module (${backend}), ${name}`).toBeLessThan(1e-4);
              errors.push(`${backend} ${name} ${relativeError(out, want).toExponential(2)}`);
            }
          }
          console.log(`${c.title}, relative to PyTorch's eval(): ${errors.join(", ")}`);

          // The command line on the same file: exit 0 and the certified fold on its one line.
          const cli = mnc("compile", `${c.name}.mn`, ...c.flags, "--weights", `${c.name}.trained.safetensors`, "-o", `${c.name}.onnx`);
          expect(cli.stderr).toBe("");
          expect(cli.status).toBe(0);
          expect(cli.stdout).toMatch(c.line);
        },
        60_000,
      );
    }

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
