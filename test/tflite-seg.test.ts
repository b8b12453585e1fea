/**
 * TFLite import of graph networks: the two trained segmentation models in
 * ../shared/data imported by dataflow and run through the float64 reference
 * evaluator on every shared photo against their ground truth —
 *
 *   DeepLabV3 on MobileNetV2 0.5 (float32; dilated depthwise convolutions,
 *   image pooling, CONCATENATION, align-corners RESIZE_BILINEAR, an identity
 *   resize) — class scores, the 257x257 output and its category mask;
 *   MediaPipe's selfie segmentation (FLOAT16 weights behind DEQUANTIZE,
 *   half-pixel resizes, gated skips, the custom Convolution2DTransposeBias) —
 *   the person mask, and the features of the cut features-only file;
 *
 * and hand-built files for each new rule and its mismatches: dilation,
 * CONCATENATION order and axis, resize mode / convention / size, the
 * transposed convolution's layout and custom options, standalone activations,
 * ARG_MAX.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { check, compile, type CompileOptions } from "../src/index.js";
import { isWeighted, type Graph, type LayerWeights, type Node } from "../src/ir/graph.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { readTflite, type TfliteModel } from "../src/weights/tflite.js";
import { readExample, shared } from "./helpers.js";
import { argmaxes, float32File, grayPng, maxAbsDiff, PHOTOS } from "./segmentation-data.js";
import { haveShared } from "./optional.js";
import { ACT, concatenationOptions, conv2dOptions, depthwiseOptions, int32Bytes, OP, OPTIONS, PAD, pool2dOptions, resizeOptions, TfliteNet, TYPE } from "./tflite-builder.js";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function compiled(source: string, bytes: Uint8Array, options: CompileOptions = {}): { graph: Graph; unfused: Graph } {
  const r = compile(source, { weights: bytes, weightsFile: "t.tflite", ...options });
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return { graph: r.graph!, unfused: r.unfused! };
}

/** The per-layer errors of a compile that must fail (after the MN4011 summary, when there is one). */
function refused(source: string, bytes: Uint8Array, options: CompileOptions = {}): string[] {
  const r = compile(source, { weights: bytes, weightsFile: "t.tflite", ...options });
  expect(r.graph).toBeUndefined();
  const all = r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  return all[0]?.startsWith("MN4011 ") === true ? all.slice(1) : all;
}

const nodeOf = (g: Graph, id: string): Node => {
  const n = g.nodes.find((x) => x.id === id);
  if (n === undefined) throw new Error(`no node '${id}' in ${g.nodes.map((x) => x.id).join(", ")}`);
  return n;
};
const weightsOf = (g: Graph, id: string): LayerWeights => (nodeOf(g, id) as Extract<Node, { op: "conv" | "depthwise" | "deconv" }>).weights!;

/** Deterministic values in [−1, 1). */
function values(n: number, seed: number): number[] {
  let s = (seed * 2654435761 + 1) >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Count of the weights and biases of the weighted nodes in `nodes`. */
function counts(nodes: readonly Node[]): { weights: number; biases: number } {
  let weights = 0;
  let biases = 0;
  for (const n of nodes) {
    if (!isWeighted(n)) continue;
    weights += n.weights!.kernel.data.length;
    biases += n.weights!.bias?.data.length ?? 0;
  }
  return { weights, biases };
}


// ---------------------------------------------------------------------------
// DeepLabV3-MobileNetV2 (float32)
// ---------------------------------------------------------------------------

const DEEPLAB = join(shared, "data", "deeplabv3_mobilenet_v2");
const DEEPLAB_MODEL = join(DEEPLAB, "model", "deeplabv3.tflite");

describe.runIf(haveShared(DEEPLAB_MODEL, "DeepLabV3 import and ground truth"))("DeepLabV3-MobileNetV2 from its TFLite file", () => {
  const source = readExample("deeplabv3_mobilenet_v2.mn");
  // The per-pixel classes as one more output: the file ends at the scores, so its ARG_MAX is optional.
  const withMask = source.replace(/\}\s*$/, "  mask = argmax\n}\n");
  const bytes = (): Uint8Array => new Uint8Array(readFileSync(DEEPLAB_MODEL));

  it("imports every tensor: 461,312 weights and 7,888 biases in the backbone, the head's on top", { timeout: 60_000 }, () => {
    const { unfused } = compiled(source, bytes());
    const features = check(source, { outputs: ["features"] }).graph!.outputs[0]!;
    const end = unfused.nodes.findIndex((n) => n.id === features);
    expect(end).toBeGreaterThan(0);
    expect(counts(unfused.nodes.slice(0, end + 1))).toEqual({ weights: 461_312, biases: 7_888 });
    // Head: two 1x1 160→256, the 512→256 projection and the 256→21 classifier.
    expect(counts(unfused.nodes.slice(end + 1))).toEqual({ weights: 2 * 160 * 256 + 512 * 256 + 256 * 21, biases: 3 * 256 + 21 });
    // Every weighted layer has the file's weights with batch-norm folded: a bias, no bn.
    for (const n of unfused.nodes.filter(isWeighted)) {
      expect(n.weights!.bn, n.id).toBeUndefined();
      expect(n.weights!.bias, n.id).toBeDefined();
    }
    // The dilated depthwise convolutions keep their dilation (2 for seven blocks, then 4 for three).
    const dilations = unfused.nodes.flatMap((n) => (n.op === "depthwise" && n.attrs.dilation !== undefined ? [n.attrs.dilation[0]] : []));
    expect(dilations).toEqual([2, 2, 2, 2, 2, 2, 2, 4, 4, 4]);
  });

  it("gives the interpreter's class scores and category masks on every photo, and its whole output on the golden photo", { timeout: 240_000 }, () => {
    const { graph } = compiled(withMask, bytes(), { outputs: ["scores", "logits", "mask"] });
    const size = 257 * 257 * 3;
    const x = new Float64Array(PHOTOS.length * size);
    PHOTOS.forEach((name, i) => {
      const px = readFileSync(join(DEEPLAB, "images", `${name}.rgb257`));
      expect(px.length).toBe(size);
      for (let j = 0; j < size; j++) x[i * size + j] = (px[j]! - 127.5) / 127.5;
    });
    const [scores, logits, mask] = runReferenceOutputs(graph, x, PHOTOS.length);
    const S = 33 * 33 * 21;
    const P = 257 * 257;
    PHOTOS.forEach((name, i) => {
      expect(maxAbsDiff(scores!.subarray(i * S, i * S + S), float32File(join(DEEPLAB, "ground_truth", `${name}.logits33.f32`))), name).toBeLessThan(1e-3);
      const classes = argmaxes(logits!, 21, i * P * 21, P);
      expect(classes, name).toEqual(grayPng(join(DEEPLAB, "ground_truth", `${name}.mask.png`)));
      // The network's own argmax is the same mask.
      expect(Uint8Array.from(mask!.subarray(i * P, (i + 1) * P)), name).toEqual(classes);
      if (name === "segmentation_input") {
        expect(maxAbsDiff(logits!.subarray(0, P * 21), float32File(join(DEEPLAB, "ground_truth", "segmentation_input.output.f32")))).toBeLessThan(1e-3);
        // tflite-support's golden mask: pixel = class × 10.
        expect(Uint8Array.from(classes, (c) => c * 10)).toEqual(grayPng(join(DEEPLAB, "images", "segmentation_golden.png")));
      }
    });
  });
});

// ---------------------------------------------------------------------------
// MediaPipe selfie segmentation (FLOAT16 weights)
// ---------------------------------------------------------------------------

const SELFIE = join(shared, "data", "selfie_segmentation_v3");
const SELFIE_MODEL = join(SELFIE, "model", "selfie_segmentation.tflite");
const SELFIE_FEATURES = join(SELFIE, "model", "selfie_segmentation_features_only.tflite");

/** IEEE 754 binary16 → number, written out again here so the import is checked against an independent decoder. */
function half(bits: number): number {
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  const magnitude = e === 0 ? m / 1024 / 16384 : (1 + m / 1024) * Math.pow(2, e - 15);
  return bits & 0x8000 ? -magnitude : magnitude;
}

/**
 * Every weighted operator's kernel and bias, decoded from the FLOAT16 constant
 * behind its DEQUANTIZE and put in mnc's layout, with the number of FLOAT16
 * tensors they come from.
 */
function fileWeights(model: TfliteModel): { layers: { kernel: number[]; bias: number[]; shape: number[] }[]; halves: number } {
  const producer = new Map<number, number>();
  for (const op of model.operators) for (const o of op.outputs) producer.set(o, op.index);
  let halves = 0;
  const constant = (t: number): { data: number[]; shape: readonly number[] } => {
    const dq = model.operators[producer.get(t)!]!;
    expect(dq.opcode).toBe("DEQUANTIZE");
    const stored = model.tensors[dq.inputs[0]!]!;
    expect(stored.type).toBe("FLOAT16");
    halves++;
    const view = new DataView(stored.raw!.buffer, stored.raw!.byteOffset, stored.raw!.byteLength);
    return { data: Array.from({ length: stored.raw!.length / 2 }, (_, i) => half(view.getUint16(2 * i, true))), shape: stored.shape };
  };
  const layers = model.operators
    .filter((op) => ["CONV_2D", "DEPTHWISE_CONV_2D", "CUSTOM:Convolution2DTransposeBias"].includes(op.opcode))
    .map((op) => {
      const w = constant(op.inputs[1]!);
      const bias = constant(op.inputs[2]!).data;
      const [d0, kh, kw, d3] = w.shape as [number, number, number, number];
      // conv OHWI → OIHW; depthwise 1HWC → C1HW; transposed OHWI → [in, out, kh, kw].
      const at = (a: number, h: number, x: number, b: number): number => w.data[((a * kh + h) * kw + x) * d3 + b]!;
      const kernel: number[] = [];
      let shape: number[];
      if (op.opcode === "CONV_2D") {
        shape = [d0, d3, kh, kw];
        for (let o = 0; o < d0; o++) for (let i = 0; i < d3; i++) for (let h = 0; h < kh; h++) for (let x = 0; x < kw; x++) kernel.push(at(o, h, x, i));
      } else if (op.opcode === "DEPTHWISE_CONV_2D") {
        shape = [d3, 1, kh, kw];
        for (let c = 0; c < d3; c++) for (let h = 0; h < kh; h++) for (let x = 0; x < kw; x++) kernel.push(at(0, h, x, c));
      } else {
        shape = [d3, d0, kh, kw];
        for (let i = 0; i < d3; i++) for (let o = 0; o < d0; o++) for (let h = 0; h < kh; h++) for (let x = 0; x < kw; x++) kernel.push(at(o, h, x, i));
      }
      return { kernel, bias, shape };
    });
  return { layers, halves };
}

/** A layer's tensors as one comparable string (shape, then every value). */
const fingerprint = (shape: readonly number[], kernel: ArrayLike<number>, bias: ArrayLike<number>): string => `${shape.join("x")}:${Array.from(kernel).join(",")}|${Array.from(bias).join(",")}`;

describe.runIf(haveShared(SELFIE_MODEL, "selfie segmentation import and ground truth"))("MediaPipe selfie segmentation from its TFLite file", () => {
  const source = readExample("selfie_segmentation.mn");

  it("imports all 110 FLOAT16 tensors exactly, each in mnc's layout (106,401 parameters)", { timeout: 60_000 }, () => {
    const bytes = new Uint8Array(readFileSync(SELFIE_MODEL));
    const { unfused } = compiled(source, bytes);
    const file = fileWeights(readTflite(bytes));
    expect(file.halves).toBe(110);
    expect(file.layers.length).toBe(55);
    const weighted = unfused.nodes.filter(isWeighted);
    expect(weighted.length).toBe(55);
    expect(counts(unfused.nodes)).toEqual({ weights: 103_480, biases: 2_921 });
    // The same 55 (kernel, bias) pairs, value for value; the file orders its operators otherwise.
    const imported = weighted.map((n) => fingerprint(n.weights!.kernel.shape, n.weights!.kernel.data, n.weights!.bias!.data)).sort();
    const expected = file.layers.map((l) => fingerprint(l.shape, l.kernel, l.bias)).sort();
    expect(imported).toEqual(expected);
    // The transposed convolution: [in 16, out 1, 2, 2].
    const deconv = weighted.find((n) => n.op === "deconv")!;
    expect(deconv.weights!.kernel.shape).toEqual([16, 1, 2, 2]);
  });

  it("gives the person mask within 1e-3 of the ground truth on every photo", { timeout: 120_000 }, () => {
    const { graph } = compiled(source, new Uint8Array(readFileSync(SELFIE_MODEL)));
    const size = 256 * 256 * 3;
    const x = new Float64Array(PHOTOS.length * size);
    PHOTOS.forEach((name, i) => {
      const px = readFileSync(join(SELFIE, "images", `${name}.rgb256`));
      expect(px.length).toBe(size);
      for (let j = 0; j < size; j++) x[i * size + j] = px[j]! / 255;
    });
    const [mask] = runReferenceOutputs(graph, x, PHOTOS.length);
    const P = 256 * 256;
    for (const [i, name] of PHOTOS.entries()) {
      expect(maxAbsDiff(mask!.subarray(i * P, i * P + P), float32File(join(SELFIE, "ground_truth", `${name}.mask.f32`))), name).toBeLessThan(1e-3);
    }
  });

  it.runIf(haveShared(SELFIE_FEATURES, "the selfie features-only file"))("--outputs features imports the cut file and gives the interpreter's features", { timeout: 60_000 }, () => {
    const bytes = new Uint8Array(readFileSync(SELFIE_FEATURES));
    const { graph, unfused } = compiled(source, bytes, { outputs: ["features"] });
    expect(graph.nodes.some((n) => n.op === "deconv")).toBe(false);
    expect(counts(unfused.nodes)).toEqual({ weights: 103_480 - 64, biases: 2_921 - 1 });
    const px = readFileSync(join(SELFIE, "images", "grace_hopper.rgb256"));
    const [features] = runReferenceOutputs(graph, Float64Array.from(px, (p) => p / 255));
    expect(features!.length).toBe(128 * 128 * 16);
    expect(maxAbsDiff(features!.subarray(0, 128 * 128 * 16), float32File(join(SELFIE, "ground_truth", "grace_hopper.features.f32")))).toBeLessThan(1e-3);
    // The whole network against the cut file: the transposed convolution has no operator.
    expect(refused(source, bytes)).toEqual([
      "MN4010 'deconv_17' has no counterpart in the weights file: nothing in the file reads 'add_13__xeno_compat__1' (the value of 'up_16.add_2')",
    ]);
    // The features-only network against the whole file: the file goes on.
    expect(refused(source, new Uint8Array(readFileSync(SELFIE_MODEL)), { outputs: ["features"] })).toEqual([
      "MN4005 network 'SelfieSegmentation' has 54 layers with weights, but the weights file has 55",
    ]);
  });
});

// ---------------------------------------------------------------------------
// Hand-built files: each new rule and its mismatches
// ---------------------------------------------------------------------------

/**
 * A network with every new operator. Ids: dw_0 (dilated), conv_1, concat_0,
 * resize_0, avgpool_0, conv_2 (the gate), mul_0, deconv_3, sigmoid, argmax.
 */
const GRAPH = `network G {
  x = input 4x4x3
  defaults norm=none
  a = dw 3x3 dilation=2 act=relu6
  b = conv 1x1 4 act=relu from=x
  concat b from=a
  s = resize 2 coords=align_corners
  avgpool global
  g = conv 1x1 7 act=sigmoid
  mul g from=s
  deconv 2x2 2 stride=2 act=linear
  sigmoid
  argmax
}
`;

interface Variant {
  /** The depthwise convolution's dilation (2). */
  readonly dilation?: number;
  /** Concatenate b then a instead of a then b. */
  readonly swapConcat?: boolean;
  readonly concatAxis?: number;
  readonly resize?: { readonly nearest?: boolean; readonly alignCorners?: boolean; readonly halfPixelCenters?: boolean; readonly size?: number };
  /** MUL [gate, map] (true, the default) or [map, gate]. */
  readonly gateFirst?: boolean;
  /** The transposed convolution's custom options (SAME, stride 2x2). */
  readonly deconvOptions?: Uint8Array;
  /** The LOGISTIC after the transposed convolution (present by default). */
  readonly sigmoid?: boolean;
  /** An identity RESIZE_BILINEAR 16x16 → 16x16 before the ARG_MAX. */
  readonly identityResize?: boolean;
  /** The ARG_MAX (present by default) and its axis (−1). */
  readonly argmax?: boolean;
  readonly argmaxAxis?: number;
}

/** The TFLite file of GRAPH, and what each weighted operator's stored (OHWI / 1HWC) values are. */
function graphFile(v: Variant = {}): Uint8Array {
  const net = new TfliteNet();
  const x = net.tensor("x", [1, 4, 4, 3]);
  const dwW = net.constant("dw/weights", [1, 3, 3, 3], TYPE.FLOAT32, values(27, 1));
  const dwB = net.constant("dw/bias", [3], TYPE.FLOAT32, values(3, 2));
  const a = net.tensor("a", [1, 4, 4, 3]);
  net.op(OP.DEPTHWISE_CONV_2D, [x, dwW, dwB], [a], OPTIONS.DepthwiseConv2D, depthwiseOptions({ activation: ACT.RELU6, dilation: v.dilation ?? 2 }));
  const bW = net.constant("b/weights", [4, 1, 1, 3], TYPE.FLOAT32, values(12, 3));
  const bB = net.constant("b/bias", [4], TYPE.FLOAT32, values(4, 4));
  const b = net.tensor("b", [1, 4, 4, 4]);
  net.op(OP.CONV_2D, [x, bW, bB], [b], OPTIONS.Conv2D, conv2dOptions({ activation: ACT.RELU }));
  const c = net.tensor("c", [1, 4, 4, 7]);
  net.op(OP.CONCATENATION, v.swapConcat === true ? [b, a] : [a, b], [c], OPTIONS.Concatenation, concatenationOptions(v.concatAxis ?? -1));
  const r = v.resize ?? {};
  const sizeValue = r.size ?? 8;
  const size = net.constant("s/size", [2], TYPE.INT32, [sizeValue, sizeValue]);
  const s = net.tensor("s", [1, sizeValue, sizeValue, 7]);
  const bilinear = r.nearest !== true;
  net.op(bilinear ? OP.RESIZE_BILINEAR : OP.RESIZE_NEAREST_NEIGHBOR, [c, size], [s], bilinear ? OPTIONS.ResizeBilinear : OPTIONS.ResizeNearestNeighbor, resizeOptions({ bilinear, alignCorners: r.alignCorners ?? true, halfPixelCenters: r.halfPixelCenters ?? false }));
  const p = net.tensor("p", [1, 1, 1, 7]);
  net.op(OP.AVERAGE_POOL_2D, [s], [p], OPTIONS.Pool2D, pool2dOptions({ padding: PAD.VALID, filter: sizeValue }));
  const gW = net.constant("g/weights", [7, 1, 1, 7], TYPE.FLOAT32, values(49, 5));
  const gB = net.constant("g/bias", [7], TYPE.FLOAT32, values(7, 6));
  const gl = net.tensor("g/logits", [1, 1, 1, 7]);
  net.op(OP.CONV_2D, [p, gW, gB], [gl], OPTIONS.Conv2D, conv2dOptions({}));
  const g = net.tensor("g", [1, 1, 1, 7]);
  net.op(OP.LOGISTIC, [gl], [g]);
  const m = net.tensor("m", [1, 8, 8, 7]);
  net.op(OP.MUL, v.gateFirst === false ? [s, g] : [g, s], [m], OPTIONS.Mul, (bd) => {
    bd.startObject(1);
    return bd.endObject();
  });
  const dW = net.constant("d/weights", [2, 2, 2, 7], TYPE.FLOAT32, values(56, 7));
  const dB = net.constant("d/bias", [2], TYPE.FLOAT32, values(2, 8));
  let t = net.tensor("d", [1, 16, 16, 2]);
  net.custom("Convolution2DTransposeBias", [m, dW, dB], [t], v.deconvOptions ?? int32Bytes(1, 2, 2));
  if (v.sigmoid !== false) {
    const y = net.tensor("d/sigmoid", [1, 16, 16, 2]);
    net.op(OP.LOGISTIC, [t], [y]);
    t = y;
  }
  if (v.identityResize === true) {
    const same = net.constant("same/size", [2], TYPE.INT32, [16, 16]);
    const y = net.tensor("same", [1, 16, 16, 2]);
    net.op(OP.RESIZE_BILINEAR, [t, same], [y], OPTIONS.ResizeBilinear, resizeOptions({ bilinear: true, halfPixelCenters: true }));
    t = y;
  }
  if (v.argmax !== false) {
    const axis = net.constant("axis", [1], TYPE.INT32, [v.argmaxAxis ?? -1]);
    const y = net.tensor("classes", [1, 16, 16], undefined, TYPE.INT32);
    net.op(OP.ARG_MAX, [t, axis], [y]);
    t = y;
  }
  return net.build([x], [t]);
}

describe("TFLite graph operators, hand-built", () => {
  it("imports dilation, CONCATENATION, RESIZE, a gate, the transposed convolution, LOGISTIC and ARG_MAX", () => {
    const { unfused: g } = compiled(GRAPH, graphFile());
    expect(g.nodes.map((n) => `${n.id}:${n.op}`)).toEqual([
      "input:input",
      "dw_0:depthwise",
      "conv_1:conv",
      "concat_0:concat",
      "resize_0:resize",
      "avgpool_0:avgpool",
      "conv_2:conv",
      "mul_0:mul",
      "deconv_3:deconv",
      "sigmoid_0:activation",
      "argmax_0:argmax",
    ]);
    // Depthwise 1HWC [1,3,3,3] → C1HW: element [c, 0, h, w] is the file's [0, h, w, c].
    const dw = weightsOf(g, "dw_0").kernel;
    expect(dw.shape).toEqual([3, 1, 3, 3]);
    const dwFile = values(27, 1);
    for (let c = 0; c < 3; c++) for (let h = 0; h < 3; h++) for (let w = 0; w < 3; w++) expect(dw.data[(c * 3 + h) * 3 + w]).toBe(Math.fround(dwFile[(h * 3 + w) * 3 + c]!));
    // Transposed OHWI [2,2,2,7] → [in 7, out 2, 2, 2]: element [i, o, h, w] is the file's [o, h, w, i].
    const k = weightsOf(g, "deconv_3");
    expect(k.kernel.shape).toEqual([7, 2, 2, 2]);
    const dFile = values(56, 7);
    for (let i = 0; i < 7; i++)
      for (let o = 0; o < 2; o++) for (let h = 0; h < 2; h++) for (let w = 0; w < 2; w++) expect(k.kernel.data[((i * 2 + o) * 2 + h) * 2 + w]).toBe(Math.fround(dFile[((o * 2 + h) * 2 + w) * 7 + i]!));
    expect(Array.from(k.bias!.data)).toEqual(values(2, 8).map(Math.fround));
    // The gate's LOGISTIC folds into conv_2 (act=sigmoid); the one after the transposed convolution is the sigmoid node's.
    expect(counts(g.nodes)).toEqual({ weights: 27 + 12 + 49 + 56, biases: 3 + 4 + 7 + 2 });
  });

  it("takes MUL's gate in either order, an identity RESIZE passed through, and a file without the ARG_MAX", () => {
    compiled(GRAPH, graphFile({ gateFirst: false }));
    compiled(GRAPH, graphFile({ identityResize: true }));
    compiled(GRAPH, graphFile({ argmax: false }));
    compiled(GRAPH, graphFile({ argmaxAxis: 3 }));
    compiled(GRAPH, graphFile({ concatAxis: 3 }));
    // Without the sigmoid statement, the LOGISTIC folds into the transposed convolution's activation.
    compiled(GRAPH.replace("act=linear\n  sigmoid\n", "act=sigmoid\n"), graphFile());
  });

  it("refuses a resize of another convention, mode or size", () => {
    expect(refused(GRAPH, graphFile({ resize: { alignCorners: false, halfPixelCenters: true } }))).toEqual([
      "MN4006 'resize_0' does not match RESIZE_BILINEAR #3 ('s'): coordinates align_corners in the network, half_pixel in the file",
    ]);
    expect(refused(GRAPH.replace("coords=align_corners", "coords=half_pixel"), graphFile({ resize: { alignCorners: false } }))).toEqual([
      "MN4006 'resize_0' does not match RESIZE_BILINEAR #3 ('s'): coordinates half_pixel in the network, asymmetric in the file",
    ]);
    expect(refused(GRAPH, graphFile({ resize: { nearest: true } }))).toEqual([
      "MN4006 'resize_0' does not match RESIZE_NEAREST_NEIGHBOR #3 ('s'): mode bilinear in the network, nearest in the file",
    ]);
    expect(refused(GRAPH.replace("resize 2", "resize 3"), graphFile())[0]).toBe(
      "MN4006 'resize_0' does not match RESIZE_BILINEAR #3 ('s'): size 12x12 in the network, 8x8 in the file",
    );
  });

  it("refuses a convolution of another dilation", () => {
    expect(refused(GRAPH, graphFile({ dilation: 1 }))).toEqual([
      "MN4006 'dw_0' does not match DEPTHWISE_CONV_2D #0 (dw/weights): dilation 2x2 in the network, 1x1 in the file",
    ]);
    expect(refused(GRAPH.replace("dilation=2", "dilation=4"), graphFile())).toEqual([
      "MN4006 'dw_0' does not match DEPTHWISE_CONV_2D #0 (dw/weights): dilation 4x4 in the network, 2x2 in the file",
    ]);
  });

  it("refuses a CONCATENATION of its inputs in another order or along another axis", () => {
    expect(refused(GRAPH, graphFile({ swapConcat: true }))).toEqual([
      "MN4006 'concat_0' does not match CONCATENATION #2 ('c'): input order dw_0, conv_1 in the network, conv_1, dw_0 in the file",
    ]);
    expect(refused(GRAPH, graphFile({ concatAxis: 2 }))).toEqual(["MN4006 'concat_0' does not match CONCATENATION #2 ('c'): axis channels (3) in the network, 2 in the file"]);
  });

  it("refuses a transposed convolution of another stride or padding, and reads its custom options strictly", () => {
    expect(refused(GRAPH, graphFile({ deconvOptions: int32Bytes(1, 1, 1) }))).toEqual([
      "MN4006 'deconv_3' does not match CUSTOM:Convolution2DTransposeBias #8 (d/weights): stride 2x2 in the network, 1x1 in the file",
    ]);
    expect(refused(GRAPH, graphFile({ deconvOptions: int32Bytes(2, 2, 2) }))).toEqual([
      "MN4006 'deconv_3' does not match CUSTOM:Convolution2DTransposeBias #8 (d/weights): padding same in the network, valid in the file",
    ]);
    for (const [options, why] of [
      [int32Bytes(1, 2), "custom options of 8 bytes, expected three int32 (padding, stride_w, stride_h)"],
      [int32Bytes(0, 2, 2), "padding 0 in its custom options, expected 1 (SAME) or 2 (VALID)"],
      [int32Bytes(1, 0, 2), "strides 2x0 in its custom options must be at least 1"],
    ] as const) {
      const r = compile(GRAPH, { weights: graphFile({ deconvOptions: options }), weightsFile: "t.tflite" });
      expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([`MN4001 cannot read the weights in t.tflite: CUSTOM:Convolution2DTransposeBias #8: ${why}`]);
    }
  });

  it("refuses an ARG_MAX over another axis, and a standalone sigmoid the file lacks", () => {
    expect(refused(GRAPH, graphFile({ argmaxAxis: 1 }))).toEqual(["MN4006 'argmax_0' does not match ARG_MAX #10 ('classes'): axis channels (3) in the network, 1 in the file"]);
    expect(refused(GRAPH, graphFile({ sigmoid: false }))).toEqual([
      "MN4010 'sigmoid_0' has no counterpart in the weights file: the file's 'd' (the value of 'deconv_3') goes straight to ARG_MAX #9, which is 'argmax_0'",
    ]);
  });
});
