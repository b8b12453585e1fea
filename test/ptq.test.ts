/**
 * Post-training quantization (src/passes/calibrate.ts, quantize.ts,
 * calibrate-agreement.ts; the quantized safetensors file of
 * src/weights/quantized-safetensors.ts; `mnc quantize`): the arithmetic's
 * properties, each op's quantization, the file's round trip and its
 * corruptions, the agreement of the trained MobileNetV1 0.25 quantized on the
 * shared photos, and the command end to end.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { PNG } from "pngjs";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { compile } from "../src/index.js";
import { QUANTIZED_RANGE, type Graph, type InputNode, type Node, type Quantization } from "../src/ir/graph.js";
import { dequantize, quantize, runReferenceInt } from "../src/ir/reference-int.js";
import { verify } from "../src/ir/verify.js";
import { agreement } from "../src/passes/calibrate-agreement.js";
import { calibrate, linearKey, parseMethod } from "../src/passes/calibrate.js";
import { inputQuantization, quantizeBias, quantizeGraph, quantizeKernel, rangeQuantization, UnsupportedLayerError } from "../src/passes/quantize.js";
import { exportQuantizedSafetensors, quantizedTensors } from "../src/weights/quantized-safetensors.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import type { IntegerTensor, RawTensor } from "../src/weights/types.js";
import { runs } from "./fuzz-scale.js";
import { inputs, readExample, RESIDUAL_SE, root, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

const f32 = Math.fround;

describe("the arithmetic", () => {
  const finite = fc.double({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true });

  it("an activation's range, widened to hold 0, quantizes and dequantizes every value in it within half a step; 0 is exact", () => {
    fc.assert(
      fc.property(finite, finite, fc.constantFrom("int8" as const, "uint8" as const), fc.double({ min: 0, max: 1, noNaN: true }), (a, b, type, t) => {
        const range = { min: Math.min(a, b), max: Math.max(a, b) };
        const q = rangeQuantization(range, type);
        const [qmin, qmax] = QUANTIZED_RANGE[type];
        const s = q.scale[0]!;
        const zp = q.zeroPoint[0]!;
        expect(s).toBe(f32(s));
        expect(s).toBeGreaterThan(0);
        expect(Number.isInteger(zp) && zp >= qmin && zp <= qmax).toBe(true);
        expect(Object.is(zp, -0)).toBe(false);
        expect(quantize(0, q)).toBe(zp);
        const lo = Math.min(range.min, 0);
        const hi = Math.max(range.max, 0);
        if (hi - lo < 1e-30) return;
        const x = lo + t * (hi - lo);
        // Half a step, and the float32 rounding of the scale at the range's far end.
        expect(Math.abs(dequantize(quantize(x, q), q) - x)).toBeLessThanOrEqual(s / 2 + (hi - lo) * 1e-6);
      }),
      { numRuns: runs(300) },
    );
  });

  it("weights: per output channel, symmetric (zero point 0), q in [−127, 127], scale max|w_c| / 127, within half a step; a channel of zeros is safe", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (channels, per, seed) => {
        const data = inputs(channels * per, seed).map((v, i) => (Math.floor(i / per) === 0 && channels > 1 ? 0 : v * (1 + (seed % 7))));
        const k = quantizeKernel({ shape: [channels, per], data });
        expect(k.quant.type).toBe("int8");
        expect(k.quant.zeroPoint).toEqual(new Array(channels).fill(0));
        for (let c = 0; c < channels; c++) {
          const w = data.subarray(c * per, (c + 1) * per);
          const m = Math.max(...Array.from(w, Math.abs));
          const s = k.quant.scale[c]!;
          const q = k.data.subarray(c * per, (c + 1) * per);
          if (m === 0) {
            expect(s).toBe(1);
            expect(Array.from(q).every((v) => v === 0)).toBe(true);
            continue;
          }
          expect(s).toBe(f32(m / 127));
          expect(Math.max(...Array.from(q, Math.abs))).toBe(127);
          q.forEach((v, i) => {
            expect(v >= -127 && v <= 127).toBe(true);
            expect(Math.abs(s * v - w[i]!)).toBeLessThanOrEqual(s / 2 + m * 1e-6);
          });
        }
      }),
      { numRuns: runs(200) },
    );
  });

  it("biases: int32 round(b / (s_x · s_w[c])), half away from zero, within half a unit", () => {
    fc.assert(
      // Scales ≥ 1e-2 keep |b| / (s_x · s_w) ≤ 1e8, inside int32 (beyond it the bias saturates).
      fc.property(fc.array(finite, { minLength: 1, maxLength: 8 }), fc.double({ min: 1e-2, max: 1, noNaN: true }), fc.double({ min: 1e-2, max: 1, noNaN: true }), (b, sx, sw) => {
        const scale = [f32(sx)];
        const bias = quantizeBias({ shape: [b.length], data: Float32Array.from(b) }, f32(sw), { type: "int8", scale, zeroPoint: [0] });
        const unit = f32(sw) * scale[0]!;
        Float32Array.from(b).forEach((v, c) => {
          expect(Math.abs(bias[c]! * unit - v)).toBeLessThanOrEqual(unit / 2 + Math.abs(v) * 1e-12);
          expect(bias[c]).toBe((v / unit < 0 ? -Math.round(-v / unit) : Math.round(v / unit)) + 0);
        });
      }),
      { numRuns: runs(200) },
    );
    // Exact halves round away from zero, as TFLite's std::round.
    expect(Array.from(quantizeBias({ shape: [4], data: Float32Array.from([1.5, -1.5, 2.5, -0.5]) }, 1, { type: "int8", scale: [1], zeroPoint: [0] }))).toEqual([2, -2, 3, -1]);
  });

  it("the input's quantization reads its normalisation: a photo's bytes are the stored values", () => {
    const input = (mean?: number, std?: number): InputNode => {
      const g = compile(`network N {\n  input 4x4x3${mean === undefined ? "" : ` mean=${mean} std=${std}`}\n  pw 2\n}\n`).graph!;
      return g.nodes[0] as InputNode;
    };
    const none = (): never => {
      throw new Error("calibrated range asked for");
    };
    expect(inputQuantization(input(127.5, 127.5), none, "uint8")).toEqual({ type: "uint8", scale: [f32(1 / 127.5)], zeroPoint: [128] });
    expect(inputQuantization(input(127.5, 127.5), none, "int8")).toEqual({ type: "int8", scale: [f32(1 / 127.5)], zeroPoint: [0] });
    expect(inputQuantization(input(), none, "int8")).toEqual({ type: "int8", scale: [1], zeroPoint: [-128] });
    expect(inputQuantization(input(), none, "uint8")).toEqual({ type: "uint8", scale: [1], zeroPoint: [0] });
    // Every pixel p: stored p (uint8), p − 128 (int8), read as (p − 127.5)/127.5 within half a step.
    for (const type of ["uint8", "int8"] as const) {
      const q = inputQuantization(input(127.5, 127.5), none, type);
      for (let p = 0; p <= 255; p++) expect(Math.abs(dequantize(p - (type === "int8" ? 128 : 0), q) - (p - 127.5) / 127.5)).toBeLessThanOrEqual(q.scale[0]! / 2 + 1e-7);
    }
    // A mean that is no pixel value: the calibrated range.
    expect(inputQuantization(input(-300, 2), () => ({ min: -1, max: 3 }), "uint8")).toEqual(rangeQuantization({ min: -1, max: 3 }, "uint8"));
  });

  it("the percentile method is the nearest rank over every calibration value, from the top and from the bottom", () => {
    const g = compile("network N {\n  input 3x3x2\n  pw 2 norm=none act=linear\n}\n").graph!;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 50.5, max: 100, noNaN: true }), (count, seed, p) => {
        const xs = Array.from({ length: count }, (_, i) => inputs(18, seed + i));
        const r = calibrate(g, xs, { kind: "percentile", percentile: p }).get("input")!;
        const all = xs.flatMap((x) => Array.from(x)).sort((a, b) => a - b);
        const rank = Math.ceil((p / 100) * all.length);
        expect(r).toEqual({ min: all[all.length - rank]!, max: all[rank - 1]! });
        expect(calibrate(g, xs).get("input")).toEqual({ min: all[0]!, max: all.at(-1)! });
      }),
      { numRuns: runs(60) },
    );
    expect(parseMethod("percentile=99.99")).toEqual({ kind: "percentile", percentile: 99.99 });
    expect(parseMethod("percentile=40")).toMatch(/above 50/);
    expect(parseMethod("max")).toMatch(/minmax or percentile=P/);
  });
});

/** A small network with every op V1–V3 use, quantized on seeded random inputs. */
function residualSe(activations: "int8" | "uint8" = "int8"): { float: Graph; quantized: Graph; xs: Float32Array[] } {
  const r = compile(RESIDUAL_SE);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const float = r.graph!;
  const xs = [1, 2, 3].map((s) => inputs(32 * 32 * 3, s).map((v) => Math.round(127.5 + 127.5 * v)));
  return { float, quantized: quantizeGraph(float, calibrate(float, xs), { activations }), xs };
}

const byOp = (g: Graph, op: Node["op"]): Node[] => g.nodes.filter((n) => n.op === op);

describe("each op's quantization (TFLite's converter's)", () => {
  it("relu6 covers [0, 6]; softmax 1/256; avgpool its input's; hsigmoid and sigmoid 1/256 from the lowest value; a table activation's linear output calibrated; weights int8 per channel", () => {
    for (const type of ["int8", "uint8"] as const) {
      const { float, quantized: g } = residualSe(type);
      verify(g, { shaped: true });
      const [qmin] = QUANTIZED_RANGE[type];
      const fixed = (s: number): Quantization => ({ type, scale: [f32(s)], zeroPoint: [qmin] });
      const quantOf = (id: string): Quantization => g.nodes.find((n) => n.id === id)!.quant!;
      for (const n of g.nodes) {
        expect(n.quant?.type, n.id).toBe(type);
        if (n.op === "softmax") expect(n.quant).toEqual(fixed(1 / 256));
        if (n.op === "avgpool") expect(n.quant).toEqual(quantOf(n.inputs[0]!));
        if (n.op !== "conv" && n.op !== "depthwise") continue;
        const act = n.attrs.act;
        const w = n.weights!.quantized!;
        expect(w.kernelQuant.type).toBe("int8");
        expect(w.kernelQuant.scale).toHaveLength(w.kernel.shape[0]!);
        if (act === "relu6") expect(n.quant).toEqual(rangeQuantization({ min: 0, max: 6 }, type));
        if (act === "relu") expect(n.quant!.zeroPoint).toEqual([qmin]);
        if (act === "hsigmoid" || act === "sigmoid") expect(n.quant).toEqual(fixed(1 / 256));
        expect(w.linear !== undefined, n.id).toBe(act === "hswish" || act === "hsigmoid" || act === "sigmoid");
        if (w.linear !== undefined) {
          const ranges = calibrate(float, residualSe(type).xs);
          expect(w.linear).toEqual(rangeQuantization(ranges.get(linearKey(n.id))!, type));
        }
      }
      expect(byOp(g, "mul").length).toBeGreaterThan(0);
      expect(byOp(g, "add").length).toBeGreaterThan(0);
    }
  }, 60_000);

  it("int8 and uint8 activations compute the same values (the zero points move by 128)", () => {
    const a = residualSe("int8");
    const b = residualSe("uint8");
    const x = Int32Array.from(a.xs[0]!);
    const qa = runReferenceInt(a.quantized, Int32Array.from(x, (v) => v - 128), "xnnpack");
    const qb = runReferenceInt(b.quantized, x, "xnnpack");
    expect(Array.from(qa, (v) => v + 128)).toEqual(Array.from(qb));
  }, 60_000);

  it("refuses a layer it cannot quantize, naming it", () => {
    const g = compile("network N {\n  input 8x8x3\n  conv 3x3 4\n  resize scale=2\n}\n").graph!;
    const run = (): Graph => quantizeGraph(g, calibrate(g, [inputs(8 * 8 * 3, 1)]));
    expect(run).toThrow(UnsupportedLayerError);
    expect(run).toThrow(/does not support resize layers \('resize_0', line 4\)/);
  });
});

describe("the quantized safetensors file", () => {
  const source = RESIDUAL_SE;

  it("reads back into the same quantized graph with --quantized; into the dequantized float network without", () => {
    for (const type of ["int8", "uint8"] as const) {
      const { quantized } = residualSe(type);
      const bytes = exportQuantizedSafetensors(quantized);
      const back = compile(source, { weights: bytes, weightsFile: "q.safetensors", quantized: true });
      expect(back.diagnostics.map((d) => d.message)).toEqual([]);
      expect(back.graph!.nodes).toEqual(quantized.nodes);
      const float = compile(source, { weights: bytes, weightsFile: "q.safetensors" });
      expect(float.diagnostics.map((d) => d.message)).toEqual([]);
      float.graph!.nodes.forEach((n, i) => {
        const q = quantized.nodes[i]!;
        expect(n.quant).toBeUndefined();
        if (n.op === "conv" || n.op === "depthwise" || n.op === "fc") {
          expect(n.weights!.quantized).toBeUndefined();
          expect(n.weights!.kernel).toEqual((q as typeof n).weights!.kernel);
          expect(n.weights!.bias).toEqual((q as typeof n).weights!.bias);
        }
      });
    }
  }, 60_000);

  it("holds integer tensors and float32 scales under the layer names, the activation type in the metadata", () => {
    const { quantized } = residualSe();
    const { tensors, metadata } = quantizedTensors(quantized);
    const dtype = (name: string): string => {
      const t = tensors.find((x) => x.name === name);
      if (t === undefined) return "absent";
      return "integers" in t && t.integers !== undefined ? t.integers.dtype : "F32";
    };
    expect(metadata.quantization).toBe("int8");
    expect(metadata.format).toBe("mnc");
    expect([dtype("conv_0.weight"), dtype("conv_0.weight_scale"), dtype("conv_0.weight_zero_point"), dtype("conv_0.bias"), dtype("conv_0.linear_scale"), dtype("conv_0.output_zero_point"), dtype("input.output_scale")]).toEqual(["I8", "F32", "I32", "I32", "F32", "I32", "F32"]);
  });

  /** The file with one tensor replaced. */
  const corrupt = (name: string, replace: (t: RawTensor | IntegerTensor) => RawTensor | IntegerTensor | undefined): Uint8Array => {
    const { quantized } = residualSe();
    const { tensors, metadata } = quantizedTensors(quantized);
    const out = tensors.flatMap((t) => {
      if (t.name !== name) return [t];
      const r = replace(t);
      return r === undefined ? [] : [r];
    });
    return writeSafetensors(out, metadata);
  };
  const codes = (bytes: Uint8Array, quantized = true): string[] => compile(source, { weights: bytes, weightsFile: "q.safetensors", quantized }).diagnostics.map((d) => `${d.code} ${d.message}`);
  const scale = (v: number) => (t: RawTensor | IntegerTensor): RawTensor => ({ name: t.name, shape: t.shape, data: new Float32Array(t.shape[0]!).fill(v) });
  const zeroPoint = (v: number) => (t: RawTensor | IntegerTensor): IntegerTensor => ({ name: t.name, shape: t.shape, integers: { dtype: "I32", data: new Int32Array(t.shape[0]!).fill(v) } });

  it("corrupted quantization parameters are MN4013: a scale of 0, NaN or infinite, a zero point outside the type", () => {
    expect(codes(corrupt("conv_0.weight_scale", scale(0)))).toEqual([expect.stringMatching(/^MN4013 'conv_0': the file's 'conv_0.weight' cannot be computed in integers: scale 0 is not a finite number > 0/)]);
    expect(codes(corrupt("bneck_3.add.output_scale", scale(NaN)))).toEqual([expect.stringMatching(/^MN4013 'bneck_3.add': the file's 'bneck_3.add.output' cannot be computed in integers: scale NaN/)]);
    expect(codes(corrupt("input.output_scale", scale(Infinity)))).toEqual([expect.stringMatching(/^MN4013 'input': .* scale Infinity/)]);
    expect(codes(corrupt("conv_0.output_zero_point", zeroPoint(200)))).toEqual([expect.stringMatching(/^MN4013 'conv_0': .*zero point 200 is outside int8's range \[-128, 127\]/)]);
    expect(codes(corrupt("conv_0.linear_zero_point", zeroPoint(-129)))).toEqual([expect.stringMatching(/^MN4013 'conv_0': the file's 'conv_0.linear' .*zero point -129/)]);
    // Without --quantized the float network cannot be dequantized from them either.
    expect(codes(corrupt("conv_0.weight_scale", scale(0)), false)[0]).toMatch(/^MN4013/);
  }, 60_000);

  it("a missing tensor is MN4003, a kernel stored as floats MN4002, integers in a float file MN4001, a float file with --quantized MN4014", () => {
    expect(codes(corrupt("fc_5.output_scale", () => undefined))[0]).toMatch(/^MN4003 'fc_5': the weights file has no tensor 'fc_5.output_scale'/);
    expect(codes(corrupt("conv_0.weight", (t) => ({ name: t.name, shape: t.shape, data: new Float32Array(t.shape.reduce((a, b) => a * b, 1)) })))[0]).toMatch(/^MN4002 'conv_0': conv_0.weight should be I8 or U8 \[16, 3, 3, 3\], but the file has F32/);
    const float = compile(source).graph!;
    const mixed = writeSafetensors([{ name: "conv_0.weight", shape: [2], integers: { dtype: "I8", data: Int32Array.from([1, 2]) } }], { format: "mnc" });
    expect(codes(mixed, false)[0]).toMatch(/^MN4001 .*tensor 'conv_0.weight' holds I8 integers, which only a quantized file/);
    expect(codes(writeSafetensors([{ name: "conv_0.weight", shape: [1], data: new Float32Array(1) }], {}))[0]).toMatch(/^MN4014 'input': --quantized needs the file's tensors quantized/);
    expect(float.nodes.length).toBeGreaterThan(0);
  }, 60_000);
});

// ---------------------------------------------------------------------------
// The trained MobileNetV1 0.25 on the shared photos
// ---------------------------------------------------------------------------

const v1Model = join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite");
const photoDir = join(shared, "data", "mobilenet_v1", "images");
const photos = ["basketball", "burger", "cat", "mountain", "pizza"];

describe.runIf(haveShared(v1Model, "post-training quantization of the trained MobileNetV1 0.25"))("the trained MobileNetV1 0.25, quantized on the five shared photos", () => {
  const source = readExample("mobilenet_v1_tf.mn");
  const load = (): { float: Graph; bytes: Uint8Array[]; xs: Float32Array[] } => {
    const r = compile(source, { weights: new Uint8Array(readFileSync(v1Model)), weightsFile: "m.tflite" });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const bytes = photos.map((p) => new Uint8Array(readFileSync(join(photoDir, `${p}.rgb224`))));
    return { float: r.graph!, bytes, xs: bytes.map((b) => Float32Array.from(b, (v) => (v - 127.5) / 127.5)) };
  };

  it(
    "agrees with the float network: top-1 on every photo, ≥ 90% of the top 5, probabilities within 0.12 (int8 and uint8)",
    () => {
      const { float, bytes, xs } = load();
      const ranges = calibrate(float, xs);
      for (const type of ["int8", "uint8"] as const) {
        const q = quantizeGraph(float, ranges, { activations: type });
        expect(q.nodes[0]!.quant).toEqual({ type, scale: [f32(1 / 127.5)], zeroPoint: [type === "int8" ? 0 : 128] });
        const a = agreement(float, q, xs.map((x, i) => ({ float: x, stored: Int32Array.from(bytes[i]!, (v) => v - (type === "int8" ? 128 : 0)) })));
        // Measured: 5/5, 96%, 0.1120 (pizza), max |Δlogit| 4.11 of a 33.4 span.
        expect(a.top1).toBe(5);
        expect(a.top5Overlap).toBeGreaterThanOrEqual(0.9);
        expect(a.maxProbDelta).toBeLessThan(0.12);
        expect(a.maxLogitDelta).toBeLessThan(0.15 * a.logitSpan);
        expect(a.inputs.map((i) => i.floatTop5[0])).toEqual([431, 934, 282, 977, 964]);
        // Written and read back (its dropout has no quantization of its own): the same graph, the same outputs.
        const back = compile(source, { weights: exportQuantizedSafetensors(q), weightsFile: "q.safetensors", quantized: true });
        expect(back.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        expect(back.graph!.nodes).toEqual(q.nodes);
        expect(q.nodes.find((n) => n.op === "dropout")!.quant).toBeUndefined();
      }
    },
    60_000,
  );
});

// ---------------------------------------------------------------------------
// Seeded MobileNetV2, V3-Large and V3-Small on the photos (docs/quantization.md's figures)
// ---------------------------------------------------------------------------

/**
 * The figures docs/quantization.md reports, exactly (seeded weights, the
 * five photos as raw pixels, calibration and evaluation on the same five):
 * top-1 agreements, top-5 overlap, and max |Δprob| / max |Δlogit| / the
 * float logits' span to four digits. V3-Small runs in the default suite; V2
 * and V3-Large take some 20 s each and run with a fuzz scale above 1.
 */
const SEEDED = [
  { example: "mobilenet_v3_small.mn", heavy: false, minmax: [0, 0.72, 1, 178.4, 775.5], percentile: [3, 0.6, 1, 223.1, 775.5] },
  { example: "mobilenet_v2.mn", heavy: true, minmax: [5, 0.84, 0.01025, 0.5878, 12.43], percentile: [4, 0.92, 0.01092, 0.6369, 12.43] },
  { example: "mobilenet_v3_large.mn", heavy: true, minmax: [3, 0.68, 1, 18260, 78600], percentile: [4, 0.76, 1, 12600, 78600] },
] as const;

describe.runIf(haveShared(join(photoDir, "cat.rgb224"), "post-training quantization of the seeded MobileNetV2 and V3 on the shared photos"))("the seeded MobileNetV2 and V3, quantized on the five shared photos", () => {
  // The heavy ones are registered only under npm run fuzz (a scale above 1).
  for (const m of SEEDED.filter((e) => !e.heavy || runs(1) > 1)) {
    it(
      `${m.example}: the figures of docs/quantization.md, minmax and percentile=99.99`,
      () => {
        const float = compile(readExample(m.example)).graph!;
        const bytes = photos.map((p) => new Uint8Array(readFileSync(join(photoDir, `${p}.rgb224`))));
        // No normalisation declared: the float network reads the pixels as they are.
        const xs = bytes.map((b) => Float32Array.from(b));
        for (const method of ["minmax", "percentile"] as const) {
          const q = quantizeGraph(float, calibrate(float, xs, method === "minmax" ? { kind: "minmax" } : { kind: "percentile", percentile: 99.99 }));
          const a = agreement(float, q, xs.map((x, i) => ({ float: x, stored: Int32Array.from(bytes[i]!, (v) => v - 128) })));
          const four = (x: number): number => Number(x.toPrecision(4));
          expect([a.top1, four(a.top5Overlap), four(a.maxProbDelta), four(a.maxLogitDelta), four(a.logitSpan)], method).toEqual([...m[method]]);
        }
      },
      120_000,
    );
  }
});

// ---------------------------------------------------------------------------
// mnc quantize
// ---------------------------------------------------------------------------

describe("mnc quantize", () => {
  const dir = mkdtempSync(join(tmpdir(), "mnc-ptq-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]): { status: number; stdout: string; stderr: string } => {
    let stdout = "";
    let stderr = "";
    const status = main(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
    return { status, stdout, stderr };
  };
  const net = join(dir, "net.mn");
  writeFileSync(net, RESIDUAL_SE);
  const images = join(dir, "images");
  mkdirSync(images);
  // Two raw 32x32x3 tensors and a PNG of another size (centre-cropped and resized).
  for (const s of [1, 2]) writeFileSync(join(images, `raw${s}.bin`), Uint8Array.from(inputs(32 * 32 * 3, s), (v) => Math.round(127.5 + 127.5 * v)));
  const png = new PNG({ width: 48, height: 40 });
  png.data.set(Uint8Array.from({ length: 48 * 40 * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * 37) % 256)));
  writeFileSync(join(images, "photo.png"), PNG.sync.write(png));
  writeFileSync(join(images, ".hidden"), "not an image");

  it(
    "writes the quantized file and prints the agreement; compile and run read it back with --quantized",
    () => {
      const out = join(dir, "net.int8.safetensors");
      const r = run("quantize", net, "--calibrate", images, "-o", out);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/net\.int8\.safetensors: T, 16 layers quantized \(int8 activations, int8 per-channel weights\), calibrated by minmax on 3 images\n/);
      expect(r.stdout).toMatch(/agreement with the float network on 3 images \(the calibration images\)/);
      expect(r.stdout).toMatch(/ {2}top-1 {10}\d\/3\n {2}top-5 overlap {2}[\d.]+%\n {2}max \|Δprob\| {4}[\d.]+\n {2}max \|Δlogit\| {3}[\d.e+-]+ \(the float logits span [\d.e+-]+\)/);
      expect(r.stdout).toMatch(/ {2}photo\.png: top-1 \d+ [=≠] \d+, top-5 \d\/5, max \|Δprob\| [\d.]+\n {2}raw1\.bin/);
      // The same file whatever the run: deterministic.
      const again = join(dir, "again.safetensors");
      expect(run("quantize", net, "--calibrate", images, "-o", again, "-q").status).toBe(0);
      expect(readFileSync(again)).toEqual(readFileSync(out));
      // -o -: the file on standard output, the status and the agreement on standard error.
      const piped: Uint8Array[] = [];
      let said = "";
      expect(main(["quantize", net, "--calibrate", images, "-o", "-"], { out: () => undefined, err: (t) => (said += t), bytes: (b) => piped.push(b) })).toBe(0);
      expect(Buffer.concat(piped)).toEqual(readFileSync(out));
      expect(said).toMatch(/^-: T, 16 layers quantized .*\nagreement with the float network on 3 images/);
      const ran = run("run", net, "--weights", out, "--quantized", "--input", join(images, "raw1.bin"), "--top", "2");
      expect(ran.stderr).toBe("");
      expect(ran.stdout).toMatch(/raw1\.bin: T \(integer reference, int8\)\n {3}1\. class \d+ +[\d.]+ +q=-?\d+ +\(\d+\)\n/);
      expect(run("run", net, "--weights", out, "--input", join(images, "raw1.bin")).status).toBe(0);
      const uint8 = run("quantize", net, "--calibrate", images, "--eval", images, "--activations", "uint8", "--method", "percentile=99.9", "-o", join(dir, "u8.safetensors"));
      expect(uint8.stdout).toMatch(/\(uint8 activations, int8 per-channel weights\), calibrated by percentile=99\.9 on 3 images/);
      expect(uint8.stdout).toContain(`on 3 images from ${images}`);
    },
    60_000,
  );

  it("calibrates the input of float32 tensors (not pixels) like any activation", () => {
    const floats = join(dir, "floats");
    mkdirSync(floats);
    const tensors = [1, 2].map((s) => inputs(32 * 32 * 3, s).map((v) => v / 2));
    tensors.forEach((t, i) => writeFileSync(join(floats, `t${i}.f32`), new Uint8Array(t.buffer)));
    const out = join(dir, "floats.safetensors");
    const r = run("quantize", net, "--calibrate", floats, "-o", out);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/top-1 {10}2\/2/);
    const g = compile(RESIDUAL_SE, { weights: new Uint8Array(readFileSync(out)), weightsFile: "q.safetensors", quantized: true }).graph!;
    let lo = 0;
    let hi = 0;
    for (const t of tensors) for (const v of t) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    expect(g.nodes[0]!.quant).toEqual(rangeQuantization({ min: lo, max: hi }, "int8"));
  }, 60_000);

  it("says what is wrong with the calibration images, and writes nothing", () => {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    const bad = join(dir, "bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "labels.txt"), "cat\ndog\n");
    const out = join(dir, "never.safetensors");
    const fails = (args: string[], status: number, message: RegExp): void => {
      const r = run("quantize", net, ...args, "-o", out);
      expect(r.stderr).toMatch(message);
      expect(r.status).toBe(status);
      expect(() => readFileSync(out)).toThrow();
    };
    fails(["--calibrate", empty], 1, /^mnc: error: --calibrate '.*empty' holds no images \(JPEG, PNG, or raw 32x32x3 uint8 or float32 HWC\)\n$/);
    fails(["--calibrate", join(dir, "nowhere")], 1, /no such folder/);
    fails(["--calibrate", net], 1, /is a file, not a folder of images/);
    fails(["--calibrate", bad], 1, /^mnc: error: .*labels\.txt: not an input for a 32x32x3 network: expected 3,072 bytes/);
    fails(["--calibrate", images, "--eval", empty], 1, /--eval '.*empty' holds no images/);
    fails([], 2, /quantize: --calibrate DIR is required/);
    fails(["--calibrate", images, "--method", "p99"], 2, /--method: expected minmax or percentile=P, not 'p99'/);
    fails(["--calibrate", images, "--activations", "int4"], 2, /--activations must be int8 or uint8, not 'int4'/);
    const resize = join(dir, "resize.mn");
    writeFileSync(resize, "network R {\n  input 32x32x3\n  conv 3x3 4\n  resize scale=2\n}\n");
    const r = run("quantize", resize, "--calibrate", images, "-o", out);
    expect(r.stderr).toBe(`${resize}:4:3: error MN4015: 'resize_0': post-training quantization does not support resize layers; the network runs in float only (mnc run, mnc compile without --quantized)\n  4 |   resize scale=2\n    |   ^~~~~~~~~~~~~~\n1 error\n`);
    expect(r.status).toBe(1);
  }, 60_000);

  it.runIf(haveShared(v1Model, "mnc quantize on the trained MobileNetV1 0.25"))(
    "on the trained MobileNetV1 0.25 and the shared photos: 5/5 top-1",
    () => {
      const photosDir = join(dir, "photos");
      mkdirSync(photosDir);
      for (const p of photos) copyFileSync(join(photoDir, `${p}.rgb224`), join(photosDir, `${p}.rgb224`));
      const r = run("quantize", join(root, "examples", "mobilenet_v1_tf.mn"), "--weights", v1Model, "--calibrate", photosDir, "-o", join(dir, "v1.safetensors"));
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("  top-1          5/5\n");
      expect(r.stdout).toContain("  cat.rgb224: top-1 282 = 282, top-5 5/5, max |Δprob| 0.0839\n");
    },
    60_000,
  );
});
