/**
 * Quantized ONNX (src/emit/onnx/quantized.ts): a graph that carries
 * quantization emitted in QDQ form, run in ONNX Runtime against the integer
 * reference (runReferenceInt, XNNPACK's rounding — the TFLite interpreter's
 * outputs bit for bit):
 *
 *   - the trained uint8 MobileNetV1 0.25 and V2 1.0 (../shared/data/*_quant)
 *     on the five shared photos: within 2 LSB of the reference, the same
 *     top-5, and every layer in ONNX Runtime's integer kernels (QLinearConv,
 *     QLinearAdd, QLinearGlobalAveragePool, QGemm, QLinearSoftmax) once it
 *     has optimised the model;
 *   - a small network with every op the integer path has (residual add, SE
 *     mul, h-swish and hard-sigmoid tables, windowed average and max pools, a
 *     standalone sigmoid, fc, softmax), quantized after training: int8
 *     activations with int8 per-channel weights, and uint8 activations with
 *     zero points 0 and 255, a uint8 kernel at zero point 255, and clamps its
 *     output range does not imply;
 *   - the CLI, the layers it cannot express, and the ONNX checker.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { dumpOnnx } from "../src/emit/onnx/dump.js";
import { emitOnnx, type OnnxOptions } from "../src/emit/onnx/index.js";
import { onnx } from "../src/emit/onnx/proto.js";
import { unsupportedQuantizedNode } from "../src/emit/onnx/quantized.js";
import { InternalError } from "../src/ir/diagnostics.js";
import type { Graph, Quantization } from "../src/ir/graph.js";
import { runReferenceInt, runReferenceIntTrace } from "../src/ir/reference-int.js";
import { rangeActivation } from "../src/weights/quantization.js";
import { runs } from "./fuzz-scale.js";
import { readExample, root, shared } from "./helpers.js";
import { available, haveShared } from "./optional.js";
import { conv2dOptions, depthwiseOptions, OP, OPTIONS, PAD, TfliteNet, TYPE } from "./tflite-builder.js";
import { atTheEdges, ownPixels, quantizedOnOwnPixels } from "./int8-generators.js";

const work = mkdtempSync(join(tmpdir(), "mnc-onnx-quantized-"));
const checked: string[] = [];

function save(bytes: Uint8Array, name: string): string {
  const path = join(work, `${name}.onnx`);
  writeFileSync(path, bytes);
  return path;
}

function emit(graph: Graph, source: string, options: Partial<OnnxOptions> = {}): Uint8Array {
  const r = compile(source, {});
  const bytes = emitOnnx({ graph, costs: r.costs!, ...(r.certificate === undefined ? {} : { certificate: r.certificate }) }, { sourceFile: "test.mn", sourceText: source, ...options });
  checked.push(save(bytes, `model-${checked.length}`));
  return bytes;
}

/** HWC integers → the model's input tensor (NCHW unless `nhwc`), of the input's type. */
function feed(x: ArrayLike<number>, shape: readonly [number, number, number], type: "uint8" | "int8", layout: "nchw" | "nhwc" = "nchw"): ort.Tensor {
  const [h, w, c] = shape;
  const data = type === "uint8" ? new Uint8Array(x.length) : new Int8Array(x.length);
  for (let y = 0; y < h; y++) for (let i = 0; i < w; i++) for (let ch = 0; ch < c; ch++) data[layout === "nhwc" ? (y * w + i) * c + ch : (ch * h + y) * w + i] = x[(y * w + i) * c + ch]!;
  return new ort.Tensor(type, data, layout === "nhwc" ? [1, h, w, c] : [1, c, h, w]);
}

/**
 * ONNX Runtime fuses QDQ groups with int8 activations into integer kernels
 * on x86-64 only when `session.qdqisint8allowed` is set (on ARM by default);
 * uint8 ones always.
 */
const INT8_ALLOWED = { session: { qdqisint8allowed: "1" } };

async function session(bytes: Uint8Array, options: { optimized?: string; int8?: boolean } = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    // Writing the optimised model warns that it may hold this machine's layout choices: known, and beside the point here.
    ...(options.optimized === undefined ? {} : { optimizedModelFilePath: options.optimized, logSeverityLevel: 3 as const }),
    ...(options.int8 === true ? { extra: INT8_ALLOWED } : {}),
  });
}

/** The first output's integers. */
async function run(s: ort.InferenceSession, input: ort.Tensor): Promise<Int32Array> {
  const out = await s.run({ input });
  return Int32Array.from(out[s.outputNames[0]!]!.data as Uint8Array | Int8Array);
}

/** A model's graph and nodes, every list present. */
function decode(bytes: Uint8Array) {
  const model = onnx.ModelProto.decode(bytes);
  const graph = onnx.GraphProto.create(model.graph ?? {});
  return { model, graph, nodes: graph.node.map((n) => onnx.NodeProto.create(n)) };
}

/**
 * The ops of the model ONNX Runtime runs after its default optimisations
 * (the model it writes with optimizedModelFilePath), as `domain:op` counts.
 */
async function kernels(bytes: Uint8Array, name: string, int8 = false): Promise<Record<string, number>> {
  const path = join(work, `${name}.optimized.onnx`);
  await session(bytes, { optimized: path, int8 });
  const counts: Record<string, number> = {};
  for (const n of decode(readFileSync(path)).nodes) {
    const key = `${n.domain === "" ? "" : `${n.domain}:`}${n.opType}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Float ops that would mean a layer did not run in integers. */
const FLOAT_OPS = ["Conv", "Gemm", "Add", "Mul", "GlobalAveragePool", "AveragePool", "Softmax", "QuantizeLinear", "DequantizeLinear"];

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

const report = (line: string): void => {
  if (process.env["MNC_QUANT_REPORT"] !== undefined) console.log(line);
};

// ---------------------------------------------------------------------------
// The trained uint8 MobileNets
// ---------------------------------------------------------------------------

const photos = ["basketball", "burger", "cat", "mountain", "pizza"];
const photoDir = join(shared, "data", "mobilenet_v1", "images");
const photo = (name: string): Uint8Array => new Uint8Array(readFileSync(join(photoDir, `${name}.rgb224`)));
const v1Model = join(shared, "data", "mobilenet_v1_quant", "model", "mobilenet_v1_0.25_224_quant.tflite");
const v2Model = join(shared, "data", "mobilenet_v2_quant", "model", "mobilenet_v2_1.0_224_quant.tflite");

const models = [
  { name: "MobileNetV1 0.25 (uint8)", file: v1Model, source: "mobilenet_v1_tf.mn", options: {}, output: "probabilities", convs: 27, adds: 0, softmax: 1, scale: 1 / 256, zeroPoint: 0 },
  // The file ends at the logits: the graph's softmax has no quantization and passes them on, as the integer reference does.
  { name: "MobileNetV2 1.0 (uint8)", file: v2Model, source: "mobilenet_v2.mn", options: { set: { classes: "1001" } }, output: "fc_19", convs: 52, adds: 10, softmax: 0, scale: 0.09889253973960876, zeroPoint: 58 },
] as const;

for (const m of models) {
  describe.runIf(haveShared(m.file, `the trained ${m.name} in ONNX Runtime`))(`the trained ${m.name} as an integer ONNX model`, () => {
    const source = readExample(m.source);
    let built: { graph: Graph; bytes: Uint8Array; references: Map<string, Int32Array> } | undefined;
    /** The graph, its model and the reference's outputs per photo, made once for the file's tests. */
    const model = () => {
      if (built !== undefined) return built;
      const r = compile(source, { weights: new Uint8Array(readFileSync(m.file)), weightsFile: "model.tflite", quantized: true, ...(m.options as CompileOptions) });
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      const bytes = emitOnnx({ graph: r.graph!, costs: r.costs! }, { sourceFile: m.source, sourceText: source });
      checked.push(save(bytes, m.source));
      built = { graph: r.graph!, bytes, references: new Map() };
      return built;
    };
    const reference = (name: string): Int32Array => {
      const b = model();
      const known = b.references.get(name);
      if (known !== undefined) return known;
      const ref = runReferenceInt(b.graph, photo(name), "xnnpack");
      b.references.set(name, ref);
      return ref;
    };

    it(
      "takes the photo's bytes and gives the stored uint8 outputs, their quantization in the metadata",
      () => {
        const { model: decoded, graph: g } = decode(model().bytes);
        const type = (v: (typeof g.input)[number]) => [onnx.TensorProto.DataType[v.type!.tensorType!.elemType!], v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))];
        expect(g.input.map(type)).toEqual([["UINT8", ["N", 3, 224, 224]]]);
        expect(g.output.map((o) => o.name)).toEqual([m.output]);
        expect(g.output.map(type)).toEqual([["UINT8", ["N", 1001]]]);
        const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
        expect(meta["mnc.input.quantization"]).toBe("uint8 scale=0.0078125 zero_point=128");
        expect(meta[`mnc.output.${m.output}.quantization`]).toBe(`uint8 scale=${m.scale} zero_point=${m.zeroPoint}`);
        // Weights stay 8-bit: the model is about as large as the .tflite file.
        expect(model().bytes.length).toBeLessThan(readFileSync(m.file).length * 1.05);
        const conv0 = g.initializer.find((t) => t.name === "conv_0.weight")!;
        expect([onnx.TensorProto.DataType[conv0.dataType!], conv0.dims!.map(Number)]).toEqual(["UINT8", [m.source === "mobilenet_v2.mn" ? 32 : 8, 3, 3, 3]]);
        expect(onnx.TensorProto.DataType[g.initializer.find((t) => t.name === "conv_0.bias")!.dataType!]).toBe("INT32");
      },
      60_000,
    );

    it(
      "runs every layer in ONNX Runtime's integer kernels once it has optimised the model",
      async () => {
        const ops = await kernels(model().bytes, m.source);
        report(`${m.name}: ${JSON.stringify(ops)}`);
        expect(ops["com.microsoft:QLinearConv"]).toBe(m.convs);
        expect(ops["com.microsoft:QLinearAdd"] ?? 0).toBe(m.adds);
        expect(ops["com.microsoft:QLinearGlobalAveragePool"]).toBe(1);
        expect(ops["com.microsoft:QGemm"]).toBe(1);
        expect(ops["com.microsoft:QLinearSoftmax"] ?? 0).toBe(m.softmax);
        for (const op of FLOAT_OPS) expect(ops[op] ?? 0, op).toBe(0);
      },
      60_000,
    );

    it(
      "gives the integer reference's uint8 outputs within 2 LSB, with the same top-5, on every photo",
      async () => {
        const s = await session(model().bytes);
        for (const name of photos) {
          const ours = await run(s, feed(photo(name), [224, 224, 3], "uint8"));
          const ref = reference(name);
          const d = spread(ours, ref);
          report(`${m.name} ${name}: max |Δq| ${d.max}, ${d.differ} of ${ref.length} differ, top-5 ${String(topK(ours, 5)) === String(topK(ref, 5)) ? "same" : "differs"}`);
          expect(d.max, name).toBeLessThanOrEqual(2);
          expect(topK(ours, 5), name).toEqual(topK(ref, 5));
        }
      },
      120_000,
    );

    // MobileNetV2's adds: where ONNX Runtime's integers part from the reference's.
    if (m.source === "mobilenet_v2.mn") {
      it(
        "layer by layer on the burger photo: every convolution exact up to the first add that rounds otherwise (bneck_3.add, one value by 1)",
        async () => {
          const b = model();
          // Every layer's stored integers as an output of the model.
          const decoded = onnx.ModelProto.decode(b.bytes);
          const g = decoded.graph!;
          const ids = b.graph.nodes.filter((n) => n.op !== "input" && n.quant !== undefined).map((n) => n.id);
          for (const id of ids) {
            const info = g.valueInfo!.find((v) => v.name === id);
            if (info !== undefined) g.output!.push(info);
          }
          expect(g.output!.length).toBe(ids.length); // the classifier's output, and every other layer's
          const s = await session(onnx.ModelProto.encode(decoded).finish());
          const out = await s.run({ input: feed(photo("burger"), [224, 224, 3], "uint8") });
          const trace = runReferenceIntTrace(b.graph, photo("burger"), "xnnpack");
          const differing: string[] = [];
          for (const id of ids) {
            const ref = trace.get(id)!;
            const [h, w, c] = ref.shape;
            const ours = out[id]!.data as Uint8Array;
            const hwc = Int32Array.from({ length: h * w * c }, (_, i) => ours[((i % c) * h + Math.floor(i / c / w)) * w + (Math.floor(i / c) % w)]!);
            const d = spread(hwc, ref.data);
            if (d.differ > 0) differing.push(`${id} ${d.max} ${d.differ}`);
          }
          // conv_0 … bneck_3.project exact; then one value of the add, which spreads to 2 LSB on 253 logits.
          expect(ids.indexOf("bneck_3.add")).toBe(9);
          expect(differing[0]).toBe("bneck_3.add 1 1");
          expect(differing[differing.length - 1]).toBe("fc_19 2 253");
        },
        60_000,
      );
    }

    it(
      "runs a batch: two photos at once give each one's outputs",
      async () => {
        const s = await session(model().bytes);
        const names = ["cat", "pizza"];
        const one = names.map((name) => feed(photo(name), [224, 224, 3], "uint8").data as Uint8Array);
        const both = new Uint8Array(one[0]!.length * 2);
        both.set(one[0]!, 0);
        both.set(one[1]!, one[0]!.length);
        const out = await s.run({ input: new ort.Tensor("uint8", both, [2, 3, 224, 224]) });
        const data = Int32Array.from(out[s.outputNames[0]!]!.data as Uint8Array);
        expect(out[s.outputNames[0]!]!.dims).toEqual([2, 1001]);
        for (const [i, name] of names.entries()) expect(Array.from(data.subarray(i * 1001, (i + 1) * 1001)), name).toEqual(Array.from(await run(s, feed(photo(name), [224, 224, 3], "uint8"))));
      },
      60_000,
    );

    it(
      "--input-layout nhwc takes the photo's bytes in their own order: the same outputs",
      async () => {
        const b = model();
        const nhwc = emitOnnx({ graph: b.graph, costs: compile(source, m.options as CompileOptions).costs! }, { sourceFile: m.source, sourceText: source, inputLayout: "nhwc" });
        checked.push(save(nhwc, `${m.source}-nhwc`));
        const [a, c] = await Promise.all([session(b.bytes), session(nhwc)]);
        const burger = photo("burger");
        expect(Array.from(await run(c, feed(burger, [224, 224, 3], "uint8", "nhwc")))).toEqual(Array.from(await run(a, feed(burger, [224, 224, 3], "uint8"))));
      },
      60_000,
    );
  });
}

// ---------------------------------------------------------------------------
// A small network with every integer op, quantized after training
// ---------------------------------------------------------------------------

const SMALL = `network Q(classes = 10) {
  input 32x32x3 mean=127.5 std=127.5
  conv 3x3 16 stride=2 act=relu6
  bottleneck 16 expand=3 se=0.25 act=hswish
  bottleneck 24 expand=2 stride=2 kernel=5x5 act=relu
  avgpool 3x3 pad=same
  maxpool 2x2 pad=same
  sigmoid
  dropout 0.2
  fc classes
  softmax
}
`;


const smallPixels = ownPixels(compile(SMALL, { seed: 7 }).graph!);

const smallQuantized = (activations: "int8" | "uint8"): Graph => quantizedOnOwnPixels(SMALL, activations);

/** The uint8 network with zero points at both ends (atTheEdges). */
const edgeQuantized = (): Graph => atTheEdges(smallQuantized("uint8"));

describe("a small network with every integer op, quantized after training", () => {
  const variants = [
    { name: "int8 activations, int8 per-channel weights", graph: () => smallQuantized("int8"), type: "int8" as const },
    { name: "uint8 activations with zero points 0 and 255, a uint8 kernel at 255, clamps the range does not imply", graph: edgeQuantized, type: "uint8" as const },
  ];

  for (const v of variants) {
    it(
      `${v.name}: ONNX Runtime within 2 LSB of the integer reference, the same top-1, in integer kernels`,
      async () => {
        const graph = v.graph();
        const input = graph.nodes[0]!;
        expect(input.quant!.type).toBe(v.type);
        for (const opset of [13, 17]) {
          const bytes = emit(graph, SMALL, { opset });
          const s = await session(bytes, { int8: v.type === "int8" });
          // int8 without session.qdqisint8allowed: some layers in float on x86-64, the same agreement.
          const plain = v.type === "int8" ? await session(bytes) : undefined;
          for (const [i, pixels] of smallPixels.entries()) {
            const stored = v.type === "int8" ? pixels.map((p) => p - 128) : pixels;
            const ref = runReferenceInt(graph, stored, "xnnpack");
            for (const [which, ours] of [["integer", await run(s, feed(stored, [32, 32, 3], v.type))], ...(plain === undefined ? [] : [["default", await run(plain, feed(stored, [32, 32, 3], v.type))] as const])] as const) {
              const d = spread(ours, ref);
              report(`small, ${v.name}, opset ${opset}, ${which} session, input ${i}: max |Δq| ${d.max}, ${d.differ} of ${ref.length} differ; ${Array.from(ref).join(" ")}`);
              expect(d.max, `${which}, input ${i}`).toBeLessThanOrEqual(2);
              expect(topK(ours, 1), `${which}, input ${i}`).toEqual(topK(ref, 1));
            }
          }
        }
        const ops = await kernels(emit(graph, SMALL), `small-${v.type}`, v.type === "int8");
        report(`small, ${v.name}: ${JSON.stringify(ops)}`);
        const convs = graph.nodes.filter((n) => n.op === "conv" || n.op === "depthwise").length;
        expect(ops["com.microsoft:QLinearConv"]).toBe(convs);
        expect(ops["com.microsoft:QLinearAdd"]).toBe(1);
        expect(ops["com.microsoft:QLinearMul"]).toBe(1);
        expect(ops["com.microsoft:QLinearSoftmax"]).toBe(1);
        for (const op of ["com.microsoft:QLinearGlobalAveragePool", "com.microsoft:QLinearAveragePool", "com.microsoft:QLinearSigmoid", "com.microsoft:QGemm"]) expect(ops[op], op).toBe(1);
        // What stays float: h-swish and hard-sigmoid (no integer kernel) between their DequantizeLinear and QuantizeLinear; MaxPool runs on the integers.
        for (const op of ["Conv", "Gemm", "Add", "Softmax", "Sigmoid", "GlobalAveragePool", "AveragePool"]) expect(ops[op] ?? 0, op).toBe(0);
      },
      60_000,
    );
  }

  it("writes the clamps the output range does not imply as Clip and Relu on the stored integers, after the layer's own QuantizeLinear", () => {
    const edge = decode(emit(edgeQuantized(), SMALL));
    const producer = (tensor: string) => edge.nodes.find((n) => n.output.includes(tensor))!;
    const chain = (tensor: string, depth: number): string[] => {
      const n = producer(tensor);
      return depth === 0 || n.opType === "Conv" ? [n.opType] : [...chain(n.input[0]!, depth - 1), n.opType];
    };
    expect(chain("conv_0", 6)).toEqual(["Conv", "QuantizeLinear", "DequantizeLinear", "Clip", "QuantizeLinear"]);
    expect(chain("bneck_2.expand", 6)).toEqual(["Conv", "QuantizeLinear", "DequantizeLinear", "Relu", "QuantizeLinear"]);
    // A relu6 whose range is [0, 6] exactly: the QuantizeLinear alone; a table activation through the layer's linear output.
    const int8 = decode(emit(smallQuantized("int8"), SMALL));
    const layer = (id: string) => int8.nodes.filter((n) => n.name === id || n.name.startsWith(`${id}.`)).map((n) => `${n.opType} ${n.output.join(",")}`);
    // (conv_0.dequantized is made for the layers that read conv_0, once.)
    expect(layer("conv_0")).toEqual(["DequantizeLinear conv_0.weight.dequantized", "DequantizeLinear conv_0.bias.dequantized", "Conv conv_0.float", "QuantizeLinear conv_0", "DequantizeLinear conv_0.dequantized"]);
    expect(layer("bneck_1.expand")).toEqual([
      "DequantizeLinear bneck_1.expand.weight.dequantized",
      "DequantizeLinear bneck_1.expand.bias.dequantized",
      "Conv bneck_1.expand.float",
      "QuantizeLinear bneck_1.expand.linear",
      "DequantizeLinear bneck_1.expand.linear.dequantized",
      "HardSigmoid bneck_1.expand.hswish.gate",
      "Mul bneck_1.expand.activated",
      "QuantizeLinear bneck_1.expand",
      "DequantizeLinear bneck_1.expand.dequantized",
    ]);
    const weight = int8.graph.initializer.find((t) => t.name === "bneck_1.expand.weight")!;
    expect(onnx.TensorProto.DataType[weight.dataType!]).toBe("INT8");
    const dq = int8.nodes.find((n) => n.input[0] === "bneck_1.expand.weight")!;
    expect(dq.attribute.map((a) => [a.name, Number(a.i)])).toEqual([["axis", 0]]);
    expect(int8.graph.initializer.find((t) => t.name === "bneck_1.expand.weight.scale")!.dims!.map(Number)).toEqual([48]);
  });
});

// ---------------------------------------------------------------------------
// What the integer model cannot express; the CLI
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Convolutions requantize as the reference does: bit for bit
// ---------------------------------------------------------------------------

/** Zero points with both ends of uint8 drawn often. */
const zeroPoint = fc.oneof(fc.constantFrom(0, 255, 128), fc.integer({ min: 0, max: 255 }));

/**
 * uint8 8x8x3 → CONV_2D 3x3/2 to 4x4x4 → DEPTHWISE_CONV_2D 3x3 → 4x4x4, as
 * a TFLite file: every scale and zero point drawn.
 */
function convFile(p: { xzp: number; wzp: number; yScale: number; yzp: number; dzp: number; dScale: number; ozp: number; oScale: number; weights: number[]; dw: number[]; bias: number[] }): Uint8Array {
  const net = new TfliteNet();
  const x = net.tensor("input", [1, 8, 8, 3], { scale: [1 / 64], zeroPoint: [p.xzp] });
  const w = net.constant("w", [4, 3, 3, 3], TYPE.UINT8, p.weights, { scale: [0.02], zeroPoint: [p.wzp] });
  const b = net.constant("b", [4], TYPE.INT32, p.bias, { scale: [0.02 / 64], zeroPoint: [0] });
  const y = net.tensor("y", [1, 4, 4, 4], { scale: [p.yScale], zeroPoint: [p.yzp] });
  net.op(OP.CONV_2D, [x, w, b], [y], OPTIONS.Conv2D, conv2dOptions({ padding: PAD.SAME, strideH: 2, strideW: 2 }));
  const dw = net.constant("dw", [1, 3, 3, 4], TYPE.UINT8, p.dw, { scale: [p.dScale], zeroPoint: [p.dzp] });
  const db = net.constant("db", [4], TYPE.INT32, p.bias.map((v) => -v), { scale: [p.yScale * p.dScale], zeroPoint: [0] });
  const o = net.tensor("o", [1, 4, 4, 4], { scale: [p.oScale], zeroPoint: [p.ozp] });
  net.op(OP.DEPTHWISE_CONV_2D, [y, dw, db], [o], OPTIONS.DepthwiseConv2D, depthwiseOptions({ padding: PAD.SAME }));
  return net.build([x], [o]);
}

describe("uint8 convolutions on any zero points and scales", () => {
  it(
    "ONNX Runtime's QLinearConv gives the integer reference's outputs bit for bit (both requantize in float32, half to even)",
    async () => {
      // The layer's activation is the one its output range implies (the import checks that they agree), as TFLite's files say it.
      const act = (scale: number, zeroPoint: number) => rangeActivation({ scale, zeroPoint, qmin: 0, qmax: 255 }) ?? "linear";
      let inside = 0;
      let total = 0;
      const scale = fc.double({ min: 0.005, max: 0.5, noNaN: true }).map(Math.fround);
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            xzp: zeroPoint,
            wzp: zeroPoint,
            yScale: scale,
            yzp: zeroPoint,
            dzp: zeroPoint,
            dScale: fc.double({ min: 0.001, max: 0.05, noNaN: true }).map(Math.fround),
            ozp: zeroPoint,
            oScale: scale,
            weights: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 108, maxLength: 108 }),
            dw: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 36, maxLength: 36 }),
            bias: fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: 4, maxLength: 4 }),
          }),
          fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 192, maxLength: 192 }),
          async (p, input) => {
            const source = `network T {\n  input 8x8x3\n  conv 3x3 4 stride=2 act=${act(p.yScale, p.yzp)}\n  dw 3x3 act=${act(p.oScale, p.ozp)}\n}\n`;
            const r = compile(source, { weights: convFile(p), weightsFile: "t.tflite", quantized: true, fuseBatchNorm: false });
            expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
            const bytes = emitOnnx({ graph: r.graph!, costs: r.costs! }, { sourceFile: "t.mn" });
            const ours = await run(await session(bytes), feed(input, [8, 8, 3], "uint8"));
            const ref = runReferenceInt(r.graph!, input, "xnnpack");
            // The model's output is NCHW; the reference's HWC.
            const hwc = Array.from({ length: 64 }, (_, i) => ours[(i % 4) * 16 + Math.floor(i / 4)]!);
            expect(hwc).toEqual(Array.from(ref));
            inside += ref.filter((v) => v > 0 && v < 255).length;
            total += ref.length;
          },
        ),
        // Seeded: the share of unsaturated outputs below is a property of the cases drawn, which a random seed would make vary from run to run.
        { numRuns: runs(25), seed: 20261127 },
      );
      // Not only saturated values: a good share lands inside the range.
      expect(inside).toBeGreaterThan(total / 4);
    },
    60_000,
  );
});

describe("the structure", () => {
  it("of the small int8 network is reviewed (golden text dump, weights left out)", async () => {
    await expect(dumpOnnx(emit(smallQuantized("int8"), SMALL, { opset: 17 }))).toMatchFileSnapshot("golden/onnx/quantized_small.int8.txt");
  });
});

describe("layers the integer model cannot express", () => {
  it("are named before anything is written: the first such layer, and why", () => {
    const source = "network N {\n  image = input 8x8x3\n  avgpool 2x2\n  resize to=image\n  pw 2\n}\n";
    const r = compile(source, { seed: 1 });
    const q: Quantization = { type: "uint8", scale: [0.05], zeroPoint: [128] };
    const graph: Graph = { ...r.graph!, nodes: r.graph!.nodes.map((n) => ({ ...n, quant: q })) };
    const found = unsupportedQuantizedNode(graph)!;
    expect([found.node.id, found.node.span.line, found.reason]).toEqual(["resize_0", 4, "integer inference does not run resize layers yet"]);
    expect(() => emitOnnx({ graph, costs: r.costs! }, { sourceFile: "n.mn" })).toThrow(InternalError);
    // A weighted layer without stored integers (a graph quantized by half) is named too.
    const plain = compile("network N {\n  input 8x8x3\n  conv 3x3 8 stride=2\n  avgpool global\n}\n", { seed: 1 });
    const half: Graph = { ...plain.graph!, nodes: plain.graph!.nodes.map((n) => ({ ...n, quant: q })) };
    expect(unsupportedQuantizedNode(half)).toMatchObject({ node: { id: "conv_0" }, reason: "its weights are not stored as 8-bit integers" });
  });
});

describe.runIf(haveShared(v1Model, "the CLI's quantized ONNX"))("mnc compile --quantized --emit onnx", () => {
  const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });

  it(
    "writes the integer model: the same bytes every time, the interpreter's outputs for the photo; --embed-preprocessing is refused and writes nothing",
    async () => {
      const out = join(work, "cli.onnx");
      const args = ["compile", "examples/mobilenet_v1_tf.mn", "--weights", v1Model, "--quantized", "--emit", "onnx", "-o", out];
      const first = mnc(...args);
      expect(first.stderr).toBe("");
      expect(first.status).toBe(0);
      const bytes = new Uint8Array(readFileSync(out));
      expect(mnc(...args).status).toBe(0);
      expect(Buffer.compare(readFileSync(out), bytes)).toBe(0);
      const truth = new Uint8Array(readFileSync(join(shared, "data", "mobilenet_v1_quant", "ground_truth", "cat.out.u8")));
      const ours = await run(await session(bytes), feed(photo("cat"), [224, 224, 3], "uint8"));
      expect(spread(ours, truth).max).toBeLessThanOrEqual(2);
      expect(topK(ours, 5)).toEqual(topK(truth, 5));

      const refused = join(work, "refused.onnx");
      const r = mnc(...args.slice(0, -1), refused, "--embed-preprocessing");
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/--embed-preprocessing: a quantized model takes the input's stored integers/);
      expect(existsSync(refused)).toBe(false);
    },
    60_000,
  );
});

const floatV1 = join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite");

describe.runIf(haveShared(floatV1, "post-training quantization to ONNX"))("mnc quantize, then mnc compile --quantized --emit onnx", () => {
  const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });

  const images = join(work, "calibration");

  // int8 activations (mnc quantize's default) fuse on x86-64 with session.qdqisint8allowed; uint8 ones (--activations uint8) in a default session.
  for (const type of ["int8", "uint8"] as const) {
    it(
      `the float MobileNetV1 0.25 quantized to ${type} activations on two photos runs in integer kernels${type === "int8" ? " (session.qdqisint8allowed)" : " (a default session)"} and gives the integer reference's outputs`,
      async () => {
        if (!existsSync(images)) {
          mkdirSync(images);
          // Two photos calibrate (and are evaluated by mnc quantize); all five are compared below.
          for (const name of ["burger", "mountain"]) copyFileSync(join(photoDir, `${name}.rgb224`), join(images, `${name}.rgb224`));
        }
        const weights = join(work, `v1.${type}.safetensors`);
        const q = mnc("quantize", "examples/mobilenet_v1_tf.mn", "--weights", floatV1, "--calibrate", images, "--activations", type, "-o", weights, "-q");
        expect(q.stderr).toBe("");
        expect(q.status).toBe(0);
        const out = join(work, `v1.${type}.onnx`);
        const c = mnc("compile", "examples/mobilenet_v1_tf.mn", "--weights", weights, "--quantized", "--emit", "onnx", "--input-layout", "nhwc", "-o", out, "-q");
        expect(c.stderr).toBe("");
        expect(c.status).toBe(0);
        const bytes = new Uint8Array(readFileSync(out));
        checked.push(out);
        const int8 = type === "int8";
        const ops = await kernels(bytes, `v1.${type}`, int8);
        expect(ops["com.microsoft:QLinearConv"]).toBe(27);
        for (const op of FLOAT_OPS) expect(ops[op] ?? 0, op).toBe(0);
        const graph = compile(readExample("mobilenet_v1_tf.mn"), { weights: new Uint8Array(readFileSync(weights)), weightsFile: `v1.${type}.safetensors`, quantized: true }).graph!;
        // The input's quantization is its normalisation: a photo's bytes (int8: less 128) are the stored values.
        expect(graph.nodes[0]!.quant).toMatchObject({ type, zeroPoint: [int8 ? 0 : 128] });
        const s = await session(bytes, { int8 });
        for (const name of photos) {
          const stored = Int32Array.from(photo(name), (v) => (int8 ? v - 128 : v));
          const ref = runReferenceInt(graph, stored, "xnnpack");
          const ours = await run(s, feed(stored, [224, 224, 3], type, "nhwc"));
          const d = spread(ours, ref);
          report(`MobileNetV1 0.25 ${type} (post-training) ${name}: max |Δq| ${d.max}, ${d.differ} of ${ref.length} differ`);
          expect(d.max, name).toBeLessThanOrEqual(2);
          expect(topK(ours, 5), name).toEqual(topK(ref, 5));
        }
      },
      90_000,
    );
  }
});

// Debian's python3-onnx (installed by .ci/run) provides the reference checker.
const python = "/usr/bin/python3";
const haveChecker = existsSync(python) && spawnSync(python, ["-c", "import onnx"]).status === 0;

describe.runIf(available(haveChecker || process.env["CI"] === "true", "the ONNX checker on quantized models", `${python} cannot import onnx (apt-get install python3-onnx)`))("the ONNX checker (python3-onnx)", () => {
  it("accepts every quantized model emitted above, with full shape checking", () => {
    expect(checked.length).toBeGreaterThan(4);
    const script = "import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint(len(sys.argv) - 1)\n";
    const out = execFileSync(python, ["-c", script, ...checked], { encoding: "utf8" });
    expect(out.trim()).toBe(String(checked.length));
  }, 60_000);
});
