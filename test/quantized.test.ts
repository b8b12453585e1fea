/**
 * Integer inference: the trained uint8 MobileNetV1 0.25 and MobileNetV2 1.0
 * (../shared/data/*_quant) imported with `quantized: true` and run by the
 * integer reference (src/ir/reference-int.ts) against the TFLite
 * interpreter's raw uint8 outputs; the arithmetic's properties; corrupted
 * quantization parameters.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import type { Graph } from "../src/ir/graph.js";
import { dequantize, firstNonIntegerNode, integerProblem, multiplyByQuantizedMultiplier, quantize, quantizeMultiplier, runReferenceInt, runReferenceIntTrace } from "../src/ir/reference-int.js";
import { printGraph } from "../src/ir/print.js";
import { runReference } from "../src/ir/reference.js";
import { rangeActivation } from "../src/weights/quantization.js";
import { corruptQuantization, readExample, root, shared } from "./helpers.js";
import { runs } from "./fuzz-scale.js";
import { haveShared } from "./optional.js";
import { conv2dOptions, OP, OPTIONS, PAD, TfliteNet, TYPE } from "./tflite-builder.js";

const photos = ["basketball", "burger", "cat", "mountain", "pizza"];
const photoDir = join(shared, "data", "mobilenet_v1", "images");
const photo = (name: string): Uint8Array => new Uint8Array(readFileSync(join(photoDir, `${name}.rgb224`)));

function quantizedGraph(source: string, file: string | Uint8Array, options: CompileOptions = {}): Graph {
  const r = compile(source, { weights: typeof file === "string" ? new Uint8Array(readFileSync(file)) : file, weightsFile: "model.tflite", quantized: true, ...options });
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return r.graph!;
}

interface TraceLayer {
  readonly op: string;
  readonly tensor: string;
  readonly sum: number;
  readonly first8: readonly number[];
}

const v1Dir = join(shared, "data", "mobilenet_v1_quant");
const v1Model = join(v1Dir, "model", "mobilenet_v1_0.25_224_quant.tflite");
const v2Dir = join(shared, "data", "mobilenet_v2_quant");
const v2Model = join(v2Dir, "model", "mobilenet_v2_1.0_224_quant.tflite");

/** The interpreter's 1001 raw outputs for a photo. */
const truth = (dir: string, name: string): Uint8Array => new Uint8Array(readFileSync(join(dir, "ground_truth", `${name}.out.u8`)));

/** Indices of the k largest values, ties by index. */
function topK(a: ArrayLike<number>, k: number): number[] {
  return Array.from(a, (v, i) => [v, i] as const)
    .sort((p, q) => q[0] - p[0] || p[1] - q[1])
    .slice(0, k)
    .map(([, i]) => i);
}

/** max |Δq| and the number of outputs that differ. */
function spread(ours: ArrayLike<number>, theirs: ArrayLike<number>): { max: number; differ: number } {
  let max = 0;
  let differ = 0;
  for (let i = 0; i < theirs.length; i++) {
    const d = Math.abs(ours[i]! - theirs[i]!);
    max = Math.max(max, d);
    if (d > 0) differ++;
  }
  return { max, differ };
}

const models = [
  { name: "MobileNetV1 0.25 (uint8)", dir: v1Dir, file: v1Model, source: "mobilenet_v1_tf.mn", options: {}, tfliteLsb: 8, traced: 30,
    // The READMEs' "numpy, TFLite-reference rounding" column: max |Δq| / outputs that differ.
    gemmlowp: { basketball: [3, 7], burger: [0, 0], cat: [7, 3], mountain: [2, 4], pizza: [8, 5] } },
  { name: "MobileNetV2 1.0 (uint8)", dir: v2Dir, file: v2Model, source: "mobilenet_v2.mn", options: { set: { classes: "1001" } }, tfliteLsb: 4, traced: 64,
    gemmlowp: { basketball: [3, 589], burger: [4, 527], cat: [3, 529], mountain: [4, 552], pizza: [4, 633] } },
] as const;

for (const m of models) {
  describe.runIf(haveShared(m.file, `the trained ${m.name}`))(`the trained ${m.name} in integers (from ${m.dir})`, () => {
    it(
      "keeps the file's integers: the input's 1/128 and 128, uint8 kernels, int32 biases, every activation's scale and zero point",
      () => {
        const g = quantizedGraph(readExample(m.source), m.file, m.options);
        const input = g.nodes.find((n) => n.op === "input")!;
        expect(input.quant).toEqual({ type: "uint8", scale: [1 / 128], zeroPoint: [128] });
        const conv = g.nodes.find((n) => n.op === "conv")!;
        if (conv.op !== "conv") throw new Error("no conv");
        const q = conv.weights!.quantized!;
        // The dequantized float kernel is scale · (q − zero point) of the kept integers.
        const s = q.kernelQuant.scale[0]!;
        const z = q.kernelQuant.zeroPoint[0]!;
        for (const i of [0, 1, 100, q.kernel.data.length - 1]) expect(conv.weights!.kernel.data[i]).toBe(Math.fround(s * (q.kernel.data[i]! - z)));
        for (const v of q.kernel.data) expect(v >= 0 && v <= 255).toBe(true);
        // ReLU6 layers: scale 6/255, zero point 0.
        expect(conv.quant?.zeroPoint).toEqual([0]);
        expect(conv.quant!.scale[0]).toBeCloseTo(0.023528477, 8);
        const quantizedNodes = g.nodes.filter((n) => n.quant !== undefined).length;
        expect(quantizedNodes).toBe(m.traced + 1);
        // A softmax the file does not compute (V2 ends at its logits) has no quantization: its value is its input's.
        const softmax = g.nodes.find((n) => n.op === "softmax")!;
        expect(softmax.quant === undefined).toBe(m.traced === 64);
      },
      60_000,
    );

    it(
      "shows each node's quantization, and its kernel's, in the IR dump (a float dump has none)",
      () => {
        const source = readExample(m.source);
        const dump = printGraph(quantizedGraph(source, m.file, m.options)).split("\n");
        expect(dump.find((l) => l.trimStart().startsWith("input "))).toMatch(/-> 224x224x3 +uint8 s=0\.0078125 zp=128 +# /);
        expect(dump.find((l) => l.trimStart().startsWith("conv_0 "))).toMatch(/ uint8 s=0\.0235285 zp=0 {2}w uint8 s=[0-9.]+ zp=\d+ +# /);
        const float = compile(source, { ...m.options, weights: new Uint8Array(readFileSync(m.file)), weightsFile: "model.tflite" });
        expect(printGraph(float.graph!)).not.toMatch(/uint8|zp=/);
      },
      60_000,
    );

    it(
      "reproduces the interpreter's uint8 outputs bit for bit on every photo with XNNPACK's rounding",
      () => {
        const g = quantizedGraph(readExample(m.source), m.file, m.options);
        for (const name of photos) {
          const ours = runReferenceInt(g, photo(name), "xnnpack");
          expect(Array.from(ours), name).toEqual(Array.from(truth(m.dir, name)));
        }
      },
      120_000,
    );

    it(
      "reproduces every traced layer of the burger photo (sum and first values)",
      () => {
        const g = quantizedGraph(readExample(m.source), m.file, m.options);
        const trace = JSON.parse(readFileSync(join(m.dir, "ground_truth", "trace_burger_layers.json"), "utf8")) as { layers: TraceLayer[] };
        const layers = trace.layers.filter((l) => l.op !== "RESHAPE");
        const values = runReferenceIntTrace(g, photo("burger"), "xnnpack");
        const nodes = g.nodes.filter((n) => n.op !== "input" && n.quant !== undefined);
        expect(nodes.length).toBe(layers.length);
        nodes.forEach((n, i) => {
          const v = values.get(n.id)!.data;
          expect({ id: n.id, sum: v.reduce((a, b) => a + b, 0), first8: Array.from(v.slice(0, 8)) }).toEqual({ id: n.id, sum: layers[i]!.sum, first8: layers[i]!.first8 });
        });
      },
      120_000,
    );

    it(
      `with gemmlowp's rounding stays within ${m.tfliteLsb} LSB of the interpreter, same top-1, exactly as far as the README measured`,
      () => {
        const g = quantizedGraph(readExample(m.source), m.file, m.options);
        for (const name of photos) {
          const ours = runReferenceInt(g, photo(name), "tflite");
          const theirs = truth(m.dir, name);
          const d = spread(ours, theirs);
          if (process.env["MNC_QUANT_REPORT"] !== undefined) console.log(`${m.name} ${name}: gemmlowp max |Δq| ${d.max}, ${d.differ} differ, top-5 ${String(topK(ours, 5)) === String(topK(theirs, 5)) ? "same" : "differs"}`);
          expect(d.max, name).toBeLessThanOrEqual(m.tfliteLsb);
          expect([d.max, d.differ], name).toEqual(m.gemmlowp[name as keyof typeof m.gemmlowp]);
          expect(topK(ours, 1), name).toEqual(topK(theirs, 1));
        }
      },
      120_000,
    );
  });
}

// ---------------------------------------------------------------------------
// Properties of the arithmetic
// ---------------------------------------------------------------------------

/** Zero points with both ends of uint8 drawn often. */
const zeroPoint = fc.oneof(fc.constantFrom(0, 255, 128), fc.integer({ min: 0, max: 255 }));

describe("integer arithmetic", () => {
  it("quantize then dequantize lands within half a step of any real value the tensor can hold", () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-4, max: 10, noNaN: true }), zeroPoint, fc.double({ min: 0, max: 1, noNaN: true }), (scale, zp, t) => {
        const q = { type: "uint8" as const, scale: [scale], zeroPoint: [zp] };
        const real = scale * (0 - zp) + t * scale * 255;
        const stored = quantize(real, q);
        expect(stored >= 0 && stored <= 255).toBe(true);
        expect(Math.abs(dequantize(stored, q) - real)).toBeLessThanOrEqual(scale / 2 + 1e-12 * scale * 256);
      }),
      { numRuns: runs(500) },
    );
  });

  it("quantize saturates values beyond the range at 0 and 255", () => {
    const q = { type: "uint8" as const, scale: [0.5], zeroPoint: [255] };
    expect(quantize(1, q)).toBe(255);
    expect(quantize(-1000, q)).toBe(0);
    expect(quantize(-127.5, q)).toBe(0);
    expect(quantize(-127.4, q)).toBe(0);
    const z = { type: "uint8" as const, scale: [0.5], zeroPoint: [0] };
    expect(quantize(-0.1, z)).toBe(0);
    expect(quantize(200, z)).toBe(255);
    expect(quantize(127.25, z)).toBe(255);
    expect(quantize(126.7, z)).toBe(253);
  });

  it("gemmlowp's multiplier and shift give round(x · M) within one unit, and exactly on exact products", () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 24), max: 2 ** 24 }), fc.double({ min: 1e-6, max: 4, noNaN: true }), (x, m) => {
        const { multiplier, shift } = quantizeMultiplier(m);
        expect(multiplier >= 2 ** 30 && multiplier < 2 ** 31).toBe(true);
        expect(Math.abs(multiplyByQuantizedMultiplier(x, multiplier, shift) - x * m)).toBeLessThanOrEqual(1);
      }),
      { numRuns: runs(500) },
    );
    // Ties: SaturatingRoundingDoublingHighMul's nudge (1 − 2^30 below zero) sends −1.5 up to −1; RoundingDivideByPOT rounds halves away from zero.
    const half = quantizeMultiplier(0.5);
    expect([3, -3].map((x) => multiplyByQuantizedMultiplier(x, half.multiplier, half.shift))).toEqual([2, -1]);
    const quarter = quantizeMultiplier(0.25);
    expect(quarter.shift).toBe(-1);
    expect([2, -2, 6, -6].map((x) => multiplyByQuantizedMultiplier(x, quarter.multiplier, quarter.shift))).toEqual([1, -1, 2, -2]);
  });

  /** One uint8 3x3/2 convolution 8x8x3 → 4x4x4 with the given quantization, as a TFLite file. */
  function convFile(p: { xzp: number; wzp: number; yScale: number; yzp: number; weights: number[]; bias: number[] }): Uint8Array {
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3], { scale: [1 / 64], zeroPoint: [p.xzp] });
    const w = net.constant("w", [4, 3, 3, 3], TYPE.UINT8, p.weights, { scale: [0.02], zeroPoint: [p.wzp] });
    const b = net.constant("b", [4], TYPE.INT32, p.bias, { scale: [0.02 / 64], zeroPoint: [0] });
    const y = net.tensor("y", [1, 4, 4, 4], { scale: [p.yScale], zeroPoint: [p.yzp] });
    net.op(OP.CONV_2D, [x, w, b], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2 }));
    return net.build([x], [y]);
  }

  it(
    "a quantized convolution equals the float convolution of its dequantized values, rounded, within 1 LSB, and saturates at 0 and 255 (zero points 0 … 255)",
    () => {
      let low = 0;
      let high = 0;
      fc.assert(
        fc.property(
          zeroPoint,
          zeroPoint,
          fc.double({ min: 0.005, max: 0.5, noNaN: true }),
          zeroPoint,
          fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 108, maxLength: 108 }),
          fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: 4, maxLength: 4 }),
          fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 192, maxLength: 192 }),
          fc.constantFrom("xnnpack" as const, "tflite" as const),
          (xzp, wzp, yScale, yzp, weights, bias, input, mode) => {
            const yq = { scale: Math.fround(yScale), zeroPoint: yzp, qmin: 0, qmax: 255 };
            const act = rangeActivation(yq) ?? "linear";
            const source = `network T {\n  input 8x8x3\n  conv 3x3 4 stride=2 act=${act}\n}\n`;
            const g = quantizedGraph(source, convFile({ xzp, wzp, yScale, yzp, weights, bias }), { fuseBatchNorm: false });
            const ours = runReferenceInt(g, input, mode);
            const real = runReference(g, Float32Array.from(input, (q) => Math.fround(1 / 64) * (q - xzp)));
            for (let i = 0; i < ours.length; i++) {
              const exact = real[i]! / yq.scale + yzp;
              if (exact >= 256) {
                expect(ours[i]).toBe(255);
                high++;
              } else if (exact <= -1) {
                expect(ours[i]).toBe(0);
                low++;
              } else expect(Math.abs(ours[i]! - Math.min(255, Math.max(0, Math.round(exact))))).toBeLessThanOrEqual(1);
            }
          },
        ),
        { numRuns: runs(60) },
      );
      expect(low).toBeGreaterThan(0);
      expect(high).toBeGreaterThan(0);
    },
    60_000,
  );
});

// ---------------------------------------------------------------------------
// Files integer inference cannot use
// ---------------------------------------------------------------------------

describe.runIf(haveShared(v1Model, "the trained uint8 MobileNetV1 0.25"))("quantization parameters integer inference cannot use", () => {
  const errors = (bytes: Uint8Array, quantized = true): string[] => {
    const r = compile(readExample("mobilenet_v1_tf.mn"), { weights: bytes, weightsFile: "model.tflite", quantized });
    return r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  };
  const v1 = (): Uint8Array => new Uint8Array(readFileSync(v1Model));

  it("rejects a scale of 0 or NaN with MN4013, located at the layer", () => {
    expect(errors(corruptQuantization(v1(), "scale 0"))).toEqual(["MN4013 'input': the file's tensor 'input' cannot be computed in integers: scale 0 is not a finite number > 0"]);
    expect(errors(corruptQuantization(v1(), "scale NaN"))).toEqual(["MN4013 'input': the file's tensor 'input' cannot be computed in integers: scale NaN is not a finite number > 0"]);
  });

  it("rejects a zero point outside uint8 with MN4013, and a float file with MN4014", () => {
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3], { scale: [1 / 64], zeroPoint: [128] });
    const w = net.constant("w", [4, 3, 3, 3], TYPE.UINT8, new Array<number>(108).fill(130), { scale: [0.02], zeroPoint: [300] });
    const b = net.constant("b", [4], TYPE.INT32, [0, 0, 0, 0], { scale: [0.02 / 64], zeroPoint: [0] });
    const y = net.tensor("y", [1, 4, 4, 4], { scale: [0.1], zeroPoint: [128] });
    net.op(OP.CONV_2D, [x, w, b], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2 }));
    const r = compile("network T {\n  input 8x8x3\n  conv 3x3 4 stride=2 act=linear\n}\n", { weights: net.build([x], [y]), weightsFile: "t.tflite", quantized: true });
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(["MN4013 'conv_0': its weights cannot be computed in integers: zero point 300 is outside UINT8's range [0, 255]"]);
    const float = new Uint8Array(readFileSync(join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite")));
    expect(errors(float)).toEqual(["MN4014 'input': --quantized needs the file's tensor 'input' quantized, but it is FLOAT32; leave out --quantized to run the file in float"]);
    // Without --quantized the corrupted file's weights still import as float.
    expect(errors(corruptQuantization(v1(), "scale 0"), false)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// mnc run --quantized
// ---------------------------------------------------------------------------

describe.runIf(haveShared(v2Model, "the trained uint8 MobileNetV2") && haveShared(v1Model, "the trained uint8 MobileNetV1 0.25"))("mnc run --quantized", () => {
  const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
  /** `  1. cheeseburger  0.9805  q=251  (934)` → its parts. */
  const rows = (out: string) =>
    out.trim().split("\n").slice(1).map((line) => {
      const m = /^ +\d+\. (.+?) +(-?\d+\.\d{4}) +q=(\d+) +\((\d+)\)$/.exec(line);
      if (m === null) throw new Error(`unexpected line: ${line}`);
      return { label: m[1], value: Number(m[2]), q: Number(m[3]), index: Number(m[4]) };
    });

  it(
    "prints each top class's raw uint8 output beside its dequantized value: the interpreter's for MobileNetV2 (logits) and V1 (probabilities, from the JPEG)",
    () => {
      const v2 = mnc("run", "examples/mobilenet_v2.mn", "--set", "classes=1001", "--weights", v2Model, "--quantized", "--input", join(photoDir, "burger.rgb224"), "--labels", join(v2Dir, "model", "labels_1001.txt"));
      expect(v2.stderr).toBe("");
      expect(v2.status).toBe(0);
      expect(v2.stdout.split("\n")[0]).toMatch(/burger\.rgb224: .* \(integer reference, uint8\)$/);
      const got = rows(v2.stdout);
      const theirs = truth(v2Dir, "burger");
      expect(got.map((r) => r.index)).toEqual(topK(theirs, 5));
      expect(got.map((r) => r.q)).toEqual([196, 161, 147, 147, 133]);
      expect(got.map((r) => r.label)).toEqual(["cheeseburger", "bagel", "guacamole", "meat loaf", "French loaf"]);
      for (const r of got) expect(r.value).toBeCloseTo(0.09889253973960876 * (r.q - 58), 4);

      const v1 = mnc("run", "examples/mobilenet_v1_tf.mn", "--weights", v1Model, "--quantized", "--input", join(shared, "data", "mobilenet_v1", "images", "cat.jpg"), "--top", "3");
      expect(v1.stderr).toBe("");
      expect(v1.status).toBe(0);
      const cat = rows(v1.stdout);
      expect(cat.map((r) => [r.index, r.q])).toEqual([[282, 170], [283, 62], [286, 23]]);
      for (const r of cat) expect(r.value).toBeCloseTo(r.q / 256, 4);
    },
    120_000,
  );

  it("is refused by mnc weights export, and a float file with --quantized is MN4014", () => {
    const w = mnc("weights", "export", "examples/mobilenet_v2.mn", "--quantized", "-o", "/dev/null");
    expect(w.status).toBe(2);
    const float = mnc("run", "examples/mobilenet_v1_tf.mn", "--weights", join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite"), "--quantized", "--input", join(photoDir, "cat.rgb224"));
    expect(float.status).toBe(1);
    expect(float.stderr).toMatch(/error MN4014: 'input': --quantized needs the file's tensor 'input' quantized, but it is FLOAT32/);
  });
});

describe("int8, per-channel, and a FULLY_CONNECTED on a 4x4 map", () => {
  /** int8 input 8x8x3 → CONV_2D with per-channel int8 weights → 4x4x4 int8 → FULLY_CONNECTED [5, 64] → 5 int8. */
  function int8File(p: { xzp: number; yzp: number; ozp: number; conv: number[]; fc: number[]; seed: number }): Uint8Array {
    const scales = [0.02, 0.005, 0.1, 0.04];
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 8, 8, 3], { scale: [1 / 64], zeroPoint: [p.xzp] }, TYPE.INT8);
    const w = net.constant("w", [4, 3, 3, 3], TYPE.INT8, p.conv, { scale: scales, zeroPoint: [0, 0, 0, 0], dimension: 0 });
    const b = net.constant("b", [4], TYPE.INT32, [100 * p.seed, -300, 50, 0], { scale: scales.map((s) => s / 64), zeroPoint: [0, 0, 0, 0] });
    const y = net.tensor("y", [1, 4, 4, 4], { scale: [0.05], zeroPoint: [p.yzp] }, TYPE.INT8);
    net.op(OP.CONV_2D, [x, w, b], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2 }));
    const fw = net.constant("fc/w", [5, 64], TYPE.INT8, p.fc, { scale: [0.01], zeroPoint: [0] });
    const fb = net.constant("fc/b", [5], TYPE.INT32, [10, -20, 30, -40, 50], { scale: [0.05 * 0.01], zeroPoint: [0] });
    const out = net.tensor("logits", [1, 5], { scale: [0.1], zeroPoint: [p.ozp] }, TYPE.INT8);
    net.op(OP.FULLY_CONNECTED, [y, fw, fb], [out]);
    return net.build([x], [out]);
  }
  const int8 = fc.integer({ min: -128, max: 127 });
  const zp = fc.oneof(fc.constantFrom(-127, 0, 127), fc.integer({ min: -127, max: 127 }));

  it(
    "equals the float layers on its own dequantized integers, within 1 LSB, with the FULLY_CONNECTED's HWC weights read channel-major",
    () => {
      fc.assert(
        fc.property(
          zp,
          zp,
          zp,
          fc.array(int8, { minLength: 108, maxLength: 108 }),
          fc.array(int8, { minLength: 320, maxLength: 320 }),
          fc.array(int8, { minLength: 192, maxLength: 192 }),
          fc.integer({ min: -3, max: 3 }),
          fc.constantFrom("xnnpack" as const, "tflite" as const),
          (xzp, yzp, ozp, conv, fcw, input, seed, mode) => {
            const g = quantizedGraph("network T {\n  input 8x8x3\n  conv 3x3 4 stride=2 act=linear\n  fc 5\n}\n", int8File({ xzp, yzp, ozp, conv, fc: fcw, seed }), { fuseBatchNorm: false });
            const convNode = g.nodes.find((n) => n.op === "conv")!;
            const fcNode = g.nodes.find((n) => n.op === "fc")!;
            expect(convNode.op === "conv" && convNode.weights!.quantized!.kernelQuant.scale.length).toBe(4);
            expect(printGraph(g)).toContain(`int8 s=0.05 zp=${yzp}  w int8 s=×4`);
            const trace = runReferenceIntTrace(g, input, mode);
            const y = trace.get(convNode.id)!.data;
            const real = runReference({ ...g, outputs: [convNode.id] }, Float32Array.from(input, (q) => Math.fround(1 / 64) * (q - xzp)));
            for (let i = 0; i < y.length; i++) {
              const exact = Math.min(127, Math.max(-128, Math.round(real[i]! / Math.fround(0.05) + yzp)));
              expect(Math.abs(y[i]! - exact)).toBeLessThanOrEqual(1);
            }
            // The fc on the conv's integers, in float: Σ w·(y − zp)·s + b.
            if (fcNode.op !== "fc") throw new Error("no fc");
            const k = fcNode.weights!.kernel.data;
            const out = trace.get(fcNode.id)!.data;
            for (let o = 0; o < 5; o++) {
              let acc = fcNode.weights!.bias!.data[o]!;
              for (let c = 0; c < 4; c++) for (let p = 0; p < 16; p++) acc += k[o * 64 + c * 16 + p]! * Math.fround(0.05) * (y[p * 4 + c]! - yzp);
              const exact = Math.min(127, Math.max(-128, Math.round(acc / Math.fround(0.1) + ozp)));
              expect(Math.abs(out[o]! - exact), `output ${o}`).toBeLessThanOrEqual(1);
            }
          },
        ),
        { numRuns: runs(40) },
      );
    },
    60_000,
  );
});

describe("ops integer inference does not run yet", () => {
  it("are named before anything runs: the first such layer, with its line", () => {
    const plain = compile("network N {\n  input 8x8x3\n  conv 3x3 8 stride=2\n  avgpool global\n  fc 4\n  softmax\n}\n", { seed: 1 }).graph!;
    expect(firstNonIntegerNode(plain)).toBeUndefined();
    // A float graph: integer inference cannot run it, and says why at its first weighted layer.
    expect(integerProblem(plain)).toMatchObject({ node: { id: "input" }, reason: "its output has no quantization" });
    const graph = compile("network N {\n  image = input 8x8x3\n  conv 3x3 8 stride=2\n  resize to=image\n  pw 2\n}\n", { seed: 1 }).graph!;
    const node = firstNonIntegerNode(graph)!;
    expect([node.id, node.op, node.span.line]).toEqual(["resize_0", "resize", 4]);
  });

  it.runIf(haveShared(v1Model, "the trained MobileNetV1 0.25 (uint8)"))(
    "mnc compile and run --quantized: MN4015 at the layer, nothing written; --quantized without --weights is a usage error",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "mnc-q-"));
      const source = join(dir, "v1_argmax.mn");
      writeFileSync(source, readExample("mobilenet_v1_tf.mn").replace(/softmax\n\}\n?$/, "softmax\n  argmax\n}\n"));
      const out = join(dir, "v1.onnx");
      const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
      for (const command of [["compile", "--emit", "onnx", "-o", out], ["compile", "--emit", "ts", "-o", join(dir, "v1.ts")], ["run", "--input", join(photoDir, "cat.rgb224")]]) {
        const r = mnc(command[0]!, source, "--alpha", "0.25", "--weights", v1Model, "--quantized", ...command.slice(1));
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/v1_argmax\.mn:\d+:3: error MN4015: 'argmax_0': integer inference does not run argmax layers yet; leave out --quantized to run the network in float\n/);
        expect(r.stdout).toBe("");
      }
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(dir, "v1.ts"))).toBe(false);
      for (const command of ["compile", "run"]) {
        const r = mnc(command, join(root, "examples", "mobilenet_v1.mn"), "--quantized", ...(command === "run" ? ["--input", join(photoDir, "cat.rgb224")] : ["-o", out]));
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(`${command} --quantized runs a quantized model's integers: give it with --weights PATH`);
      }
      expect(existsSync(out)).toBe(false);
    },
    60_000,
  );
});
