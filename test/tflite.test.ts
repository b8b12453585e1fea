/**
 * The TFLite reader: the real MobileNetV1 0.25 file cross-checked against its
 * written-out description (tflite_contents.json) and against an independent
 * walk with the official flatbuffers runtime; hand-built models for the schema
 * features that file does not use; and damaged files, which must read or throw
 * WeightFileError, never anything else.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { ByteBuffer } from "flatbuffers";
import { describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { runReference } from "../src/ir/reference.js";
import { WeightFileError } from "../src/weights/errors.js";
import { constantValues, halfToFloat, isTflite, readTflite, type TfliteModel, type TfliteOptions } from "../src/weights/tflite.js";
import { root } from "./helpers.js";
import { buildModel, conv2dOptions, encode, floats, int32Vector, OP, OPTIONS, TfliteNet, toHalf, TYPE, type Spec } from "./tflite-builder.js";
import { haveShared } from "./optional.js";

const modelDir = join(root, "..", "shared", "data", "mobilenet_v1", "model");
const file = new Uint8Array(readFileSync(join(modelDir, "mobilenet_v1_0.25_224_1_default_1.tflite")));

interface ContentsLayer {
  readonly op: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly inputs: readonly string[];
  readonly input_shapes: readonly (readonly number[])[];
  readonly outputs: readonly string[];
  readonly output_shapes: readonly (readonly number[])[];
  readonly pads_top_bottom_left_right?: readonly number[];
}
interface Contents {
  readonly input: { readonly name: string; readonly shape: readonly number[] };
  readonly output: { readonly name: string; readonly shape: readonly number[] };
  readonly layers: readonly ContentsLayer[];
  readonly tensors: readonly { readonly index: number; readonly name: string; readonly shape: readonly number[]; readonly dtype: string; readonly byte_length: number }[];
  readonly total_bytes: number;
}
const contents = JSON.parse(readFileSync(join(modelDir, "tflite_contents.json"), "utf8")) as Contents;

const model = readTflite(file);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Read, or return the WeightFileError; any other exception escapes (and fails the test). */
function attempt(bytes: Uint8Array): TfliteModel | WeightFileError {
  try {
    return readTflite(bytes);
  } catch (e) {
    if (e instanceof WeightFileError) return e;
    throw e;
  }
}

/** The WeightFileError that reading `bytes` throws (fails when it reads or throws anything else). */
function fileError(bytes: Uint8Array): WeightFileError {
  const r = attempt(bytes);
  if (!(r instanceof WeightFileError)) throw new Error("expected a WeightFileError, but the file was read");
  return r;
}

/** What any model the reader returns must satisfy, whatever bytes it came from. */
function checkInvariants(m: TfliteModel, size: number): void {
  const problems: string[] = [];
  const n = m.tensors.length;
  let dataBytes = 0;
  m.tensors.forEach((t, i) => {
    if (t.index !== i) problems.push(`tensor ${i} has index ${t.index}`);
    if (t.raw !== undefined && (t.type === "FLOAT32" || t.data !== undefined)) problems.push(`tensor ${i} of type ${t.type} has raw bytes`);
    if (t.raw !== undefined) dataBytes += t.raw.byteLength;
    const q = t.quantization;
    if (q !== undefined) {
      if (q.scale.length === 0 || q.zeroPoint.length !== q.scale.length) problems.push(`tensor ${i} has ${q.scale.length} scales and ${q.zeroPoint.length} zero points`);
      if (q.scale.length > 1 && t.shape[q.dimension] !== q.scale.length) problems.push(`tensor ${i}: ${q.scale.length} scales along dimension ${q.dimension}`);
    }
    if (t.data !== undefined) {
      if (t.type !== "FLOAT32") problems.push(`tensor ${i} of type ${t.type} has float data`);
      if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) problems.push(`tensor ${i} has ${t.data.length} values for shape [${t.shape.join(", ")}]`);
      dataBytes += t.data.byteLength;
    }
  });
  if (dataBytes > 4 * size + 4096) problems.push(`${dataBytes} bytes of data from a ${size}-byte file`);
  const tensorIndex = (x: number, omittable: boolean): boolean => Number.isInteger(x) && x < n && (x >= 0 || (omittable && x === -1));
  if (![...m.inputs, ...m.outputs].every((x) => tensorIndex(x, false))) problems.push("subgraph input or output out of range");
  m.operators.forEach((op, i) => {
    if (op.index !== i) problems.push(`operator ${i} has index ${op.index}`);
    if (!op.inputs.every((x) => tensorIndex(x, true)) || !op.outputs.every((x) => tensorIndex(x, false))) problems.push(`operator ${i} refers to a missing tensor`);
    if (op.opcode === "") problems.push(`operator ${i} has no opcode`);
  });
  expect(problems).toEqual([]);
}

/** Outcome of reading damaged bytes: "read" (and the model is sound) or "error" (a WeightFileError with an offset in the file). */
function outcome(bytes: Uint8Array): "read" | "error" {
  const r = attempt(bytes);
  if (r instanceof WeightFileError) {
    expect(r.message.length).toBeGreaterThan(0);
    if (r.offset !== undefined) expect(r.offset >= 0 && r.offset <= bytes.length).toBe(true);
    return "error";
  }
  checkInvariants(r, bytes.length);
  return "read";
}

/** Whether two float arrays hold the same bit patterns (fast, unlike a deep equality on 10^5 elements). */
function sameBits(a: Float32Array | undefined, b: Float32Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Two models are equal: structure deeply, data bit for bit. */
function expectSameModel(a: TfliteModel, b: TfliteModel): void {
  const strip = (m: TfliteModel) => ({ ...m, tensors: m.tensors.map((t) => ({ ...t, data: t.data?.length })) });
  expect(strip(a)).toEqual(strip(b));
  a.tensors.forEach((t, i) => expect(sameBits(t.data, b.tensors[i]!.data), t.name).toBe(true));
}

/**
 * An independent walk of the same file with the flatbuffers runtime's own
 * accessors (ByteBuffer.__offset / __indirect / __vector / __vector_len /
 * __string), trusting the file as that runtime does: tensor names, buffer
 * indices and the byte range of each buffer's data.
 */
function officialWalk(bytes: Uint8Array): { names: string[]; buffers: number[]; data: ([number, number] | undefined)[] } {
  const bb = new ByteBuffer(bytes);
  const field = (table: number, index: number): number => bb.__offset(table, 4 + 2 * index);
  const modelPos = bb.__indirect(bb.position());
  const subgraphs = modelPos + field(modelPos, 2);
  const subgraph = bb.__indirect(bb.__vector(subgraphs));
  const tensorsAt = subgraph + field(subgraph, 0);
  const buffersAt = modelPos + field(modelPos, 4);
  const names: string[] = [];
  const buffers: number[] = [];
  const data: ([number, number] | undefined)[] = [];
  for (let i = 0; i < bb.__vector_len(tensorsAt); i++) {
    const t = bb.__indirect(bb.__vector(tensorsAt) + 4 * i);
    names.push(bb.__string(t + field(t, 3)) as string);
    const buffer = bb.readUint32(t + field(t, 2));
    buffers.push(buffer);
    const b = bb.__indirect(bb.__vector(buffersAt) + 4 * buffer);
    const d = field(b, 0);
    if (d === 0 || bb.__vector_len(b + d) === 0) data.push(undefined);
    else data.push([bb.__vector(b + d), bb.__vector(b + d) + bb.__vector_len(b + d)]);
  }
  return { names, buffers, data };
}

/** tflite_contents.json option names → the reader's. */
const OPTION_KEYS: Readonly<Record<string, keyof TfliteOptions>> = {
  padding: "padding",
  stride_w: "strideW",
  stride_h: "strideH",
  filter_w: "filterW",
  filter_h: "filterH",
  dilation_w: "dilationW",
  dilation_h: "dilationH",
  depth_multiplier: "depthMultiplier",
  activation: "activation",
  beta: "beta",
  squeeze_dims: "squeezeDims",
};

function expectedOptions(json: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    const key = OPTION_KEYS[k];
    if (key === undefined) throw new Error(`tflite_contents.json has an option the test does not know: ${k}`);
    out[key] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The real file
// ---------------------------------------------------------------------------

describe("readTflite on MobileNetV1 0.25 (224)", () => {
  const byName = new Map(model.tensors.map((t) => [t.name, t]));

  it("is recognised and has the expected header", () => {
    expect(isTflite(file)).toBe(true);
    expect(file.length).toBe(1_882_904);
    expect(model.version).toBe(3);
    expect(model.description).toBe("TOCO Converted.");
  });

  it("has one tensor per name in tflite_contents.json and one operator per layer", () => {
    const names = new Set<string>(contents.tensors.map((t) => t.name));
    for (const l of contents.layers) for (const n of [...l.inputs, ...l.outputs]) names.add(n);
    expect(model.tensors.length).toBe(88);
    expect(names.size).toBe(88);
    expect(new Set(model.tensors.map((t) => t.name))).toEqual(names);
    expect(model.operators.length).toBe(contents.layers.length);
    expect(model.operators.length).toBe(31);
  });

  it("matches every tensor of tflite_contents.json by index, name, shape and byte length", () => {
    expect(contents.tensors.length).toBe(56);
    for (const j of contents.tensors) {
      const t = model.tensors[j.index];
      expect(t, j.name).toBeDefined();
      expect(t!.name).toBe(j.name);
      expect(t!.shape).toEqual(j.shape);
      expect(j.dtype).toBe("float32");
      expect(t!.type).toBe("FLOAT32");
      expect(t!.data?.byteLength, j.name).toBe(j.byte_length);
      expect(t!.buffer).toBeGreaterThan(0);
    }
    const total = model.tensors.reduce((s, t) => s + (t.data?.byteLength ?? 0), 0);
    expect(total).toBe(contents.total_bytes);
    expect(total / 4).toBe(467_593); // "0.47 M parameters"
    // Exactly the 56 constant tensors carry data; activations have none.
    expect(model.tensors.filter((t) => t.data !== undefined).length).toBe(56);
    expect(model.tensors.every((t) => t.type === "FLOAT32")).toBe(true);
  });

  it("has the network input and output of the description", () => {
    expect(model.inputs.map((i) => model.tensors[i]!.name)).toEqual([contents.input.name]);
    expect(model.outputs.map((i) => model.tensors[i]!.name)).toEqual([contents.output.name]);
    expect(model.tensors[model.inputs[0]!]!.shape).toEqual([1, 224, 224, 3]);
    expect(model.tensors[model.outputs[0]!]!.shape).toEqual([1, 1001]);
  });

  it("matches every operator: opcode, inputs, outputs and their shapes, options", () => {
    contents.layers.forEach((l, i) => {
      const op = model.operators[i]!;
      expect(op.index).toBe(i);
      expect(op.opcode, `operator ${i}`).toBe(l.op);
      expect(op.inputs.map((x) => model.tensors[x]!.name)).toEqual(l.inputs);
      expect(op.inputs.map((x) => model.tensors[x]!.shape)).toEqual(l.input_shapes);
      expect(op.outputs.map((x) => model.tensors[x]!.name)).toEqual(l.outputs);
      expect(op.outputs.map((x) => model.tensors[x]!.shape)).toEqual(l.output_shapes);
      expect(op.options, `operator ${i} (${l.op}) options`).toEqual(expectedOptions(l.options));
    });
    const counts: Record<string, number> = {};
    for (const op of model.operators) counts[op.opcode] = (counts[op.opcode] ?? 0) + 1;
    expect(counts).toEqual({ CONV_2D: 15, DEPTHWISE_CONV_2D: 13, AVERAGE_POOL_2D: 1, SQUEEZE: 1, SOFTMAX: 1 });
  });

  it("gives what TensorFlow SAME padding needs: the explicit pads of the description follow from shapes and strides", () => {
    let checked = 0;
    let asymmetric = 0;
    model.operators.forEach((op, i) => {
      if (op.opcode !== "CONV_2D" && op.opcode !== "DEPTHWISE_CONV_2D") return;
      const [, inH, inW] = model.tensors[op.inputs[0]!]!.shape as [number, number, number, number];
      const [, kH, kW] = model.tensors[op.inputs[1]!]!.shape as [number, number, number, number];
      const [, outH, outW] = model.tensors[op.outputs[0]!]!.shape as [number, number, number, number];
      const o = op.options;
      expect(o.padding).toBe("SAME");
      const pads = (inSize: number, k: number, stride: number, dilation: number, out: number): [number, number] => {
        expect(out).toBe(Math.ceil(inSize / stride));
        const total = Math.max((out - 1) * stride + (k - 1) * dilation + 1 - inSize, 0);
        return [Math.floor(total / 2), total - Math.floor(total / 2)];
      };
      const [top, bottom] = pads(inH, kH, o.strideH!, o.dilationH!, outH);
      const [left, right] = pads(inW, kW, o.strideW!, o.dilationW!, outW);
      expect([top, bottom, left, right], `operator ${i}`).toEqual(contents.layers[i]!.pads_top_bottom_left_right);
      if (top !== bottom) asymmetric++;
      checked++;
    });
    expect(checked).toBe(28);
    expect(asymmetric).toBe(5); // the first conv and the four stride-2 depthwise layers: [0,1,0,1]
  });

  it("encodes weights as OHWI (conv) and 1HWC (depthwise), and the classifier as a 1×1 conv + squeeze + softmax", () => {
    const conv0 = model.operators[0]!;
    expect(conv0.opcode).toBe("CONV_2D");
    expect(model.tensors[conv0.inputs[1]!]!.name).toBe("MobilenetV1/Conv2d_0/weights");
    expect(model.tensors[conv0.inputs[1]!]!.shape).toEqual([8, 3, 3, 3]);
    expect(model.tensors[conv0.inputs[2]!]!.shape).toEqual([8]);
    for (const op of model.operators.filter((o) => o.opcode === "DEPTHWISE_CONV_2D")) {
      const w = model.tensors[op.inputs[1]!]!.shape;
      expect(w[0]).toBe(1);
      expect(w[3]).toBe(model.tensors[op.inputs[0]!]!.shape[3]);
      expect(op.options.depthMultiplier).toBe(1);
    }
    const [pool, logits, squeeze, softmax] = model.operators.slice(27);
    expect(pool!.options).toEqual({ padding: "VALID", strideH: 2, strideW: 2, filterH: 7, filterW: 7, activation: "NONE" });
    expect(logits!.opcode).toBe("CONV_2D");
    expect(logits!.options.activation).toBe("NONE");
    expect(model.tensors[logits!.inputs[1]!]!.shape).toEqual([1001, 1, 1, 256]);
    expect(model.tensors[logits!.inputs[2]!]!.shape).toEqual([1001]);
    expect(squeeze!.options).toEqual({ squeezeDims: [1, 2] });
    expect(softmax!.options).toEqual({ beta: 1 });
    // ReLU6 on all 27 body convolutions, nothing on the logits.
    expect(model.operators.slice(0, 27).every((o) => o.options.activation === "RELU6")).toBe(true);
  });

  it("decodes the same bytes the flatbuffers runtime finds, as finite, non-degenerate float32 values", () => {
    const official = officialWalk(file);
    expect(official.names).toEqual(model.tensors.map((t) => t.name));
    expect(official.buffers).toEqual(model.tensors.map((t) => t.buffer));
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    model.tensors.forEach((t, i) => {
      const range = official.data[i];
      expect(range === undefined, t.name).toBe(t.data === undefined);
      if (t.data === undefined || range === undefined) return;
      expect(range[1] - range[0]).toBe(t.data.byteLength);
      const expected = new Float32Array(t.data.length);
      for (let k = 0; k < expected.length; k++) expected[k] = view.getFloat32(range[0] + 4 * k, true);
      expect(sameBits(t.data, expected), t.name).toBe(true);
      let min = Infinity;
      let max = -Infinity;
      for (const x of t.data) {
        if (!Number.isFinite(x)) throw new Error(`${t.name} holds ${x}`);
        min = Math.min(min, x);
        max = Math.max(max, x);
      }
      expect(max, t.name).toBeGreaterThan(min);
      expect(Math.max(-min, max), t.name).toBeLessThan(100);
    });
    // Spot values: the first weights, read independently by offset.
    const conv0 = byName.get("MobilenetV1/Conv2d_0/weights")!;
    const start = official.data[conv0.index]![0];
    expect(conv0.data![0]).toBe(view.getFloat32(start, true));
    expect(conv0.data![215]).toBe(view.getFloat32(start + 4 * 215, true));
    expect(conv0.data!.length).toBe(8 * 3 * 3 * 3);
  });

  it("copies data out (not views of the input) and works at any byte alignment", () => {
    const t = model.tensors.find((x) => x.data !== undefined)!;
    expect(t.data!.buffer).not.toBe(file.buffer);
    // The same bytes at an odd offset inside a larger buffer.
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 1);
    expectSameModel(readTflite(shifted.subarray(1, 1 + file.length)), model);
    // Reading does not touch the input, and is deterministic.
    const copy = file.slice();
    expectSameModel(readTflite(copy), model);
    expect(Buffer.compare(copy, file)).toBe(0);
  });

  it("reads the file in well under a second", () => {
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) readTflite(file);
    expect((performance.now() - t0) / 5).toBeLessThan(250);
  });
});

// ---------------------------------------------------------------------------
// The quantized MobileNetV2 file
// ---------------------------------------------------------------------------

const v2Dir = join(root, "..", "shared", "data", "mobilenet_v2_quant", "model");
const v2File = join(v2Dir, "mobilenet_v2_1.0_224_quant.tflite");

describe.runIf(haveShared(v2File, "readTflite on the uint8 MobileNetV2"))("readTflite on the uint8 MobileNetV2 1.0 (224)", () => {
  interface QuantContents {
    readonly tensors: readonly {
      readonly index: number;
      readonly name: string;
      readonly shape: readonly number[];
      readonly dtype: string;
      readonly constant: boolean;
      readonly byte_length: number;
      readonly quantization?: { readonly scale: readonly number[]; readonly zero_point: readonly number[]; readonly quantized_dimension: number };
    }[];
    readonly layers: readonly { readonly op: string; readonly input_indices: readonly number[]; readonly output_indices: readonly number[] }[];
  }
  const bytes = new Uint8Array(readFileSync(v2File));
  const json = JSON.parse(readFileSync(join(v2Dir, "tflite_contents.json"), "utf8")) as QuantContents;
  const m = readTflite(bytes);

  it("matches every tensor of tflite_contents.json: type, shape, bytes, scale, zero point and quantized dimension", () => {
    expect(m.tensors.length).toBe(json.tensors.length);
    for (const j of json.tensors) {
      const t = m.tensors[j.index]!;
      expect(t.name).toBe(j.name);
      expect(t.shape).toEqual(j.shape);
      expect(t.type).toBe(j.dtype);
      expect(t.data).toBeUndefined();
      expect(t.raw?.byteLength ?? 0, j.name).toBe(j.byte_length);
      expect(t.raw !== undefined).toBe(j.constant);
      const q = j.quantization;
      if (q === undefined || q.scale.length === 0) {
        expect(t.quantization, j.name).toBeUndefined();
      } else {
        // The description prints float32 scales as float64: the same numbers.
        expect(t.quantization, j.name).toEqual({ scale: q.scale, zeroPoint: q.zero_point, dimension: q.quantized_dimension });
      }
    }
    json.layers.forEach((l, i) => {
      expect(m.operators[i]!.opcode).toBe(l.op);
      expect(m.operators[i]!.inputs).toEqual(l.input_indices);
      expect(m.operators[i]!.outputs).toEqual(l.output_indices);
    });
    // The file's constants: 3,471,040 uint8 weights, 18,057 int32 biases and the 2-value RESHAPE shape.
    const count = (type: string, size: number) => m.tensors.filter((t) => t.type === type).reduce((n, t) => n + (t.raw?.byteLength ?? 0) / size, 0);
    expect(count("UINT8", 1)).toBe(3_471_040);
    expect(count("INT32", 4)).toBe(18_057 + 2);
    checkInvariants(m, bytes.length);
  });

  it("decodes stored values as they are: uint8 in [0, 255], int32 biases, the RESHAPE shape", () => {
    const shape = m.tensors.find((t) => t.name === "MobilenetV2/Logits/Squeeze_shape")!;
    expect(Array.from(constantValues(shape)!)).toEqual([1, 1001]);
    const w = m.tensors.find((t) => t.name === "MobilenetV2/Conv/weights_quant/FakeQuantWithMinMaxVars")!;
    const v = constantValues(w)!;
    expect(v.length).toBe(864);
    expect(v[0]).toBe(w.raw![0]);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThanOrEqual(255);
    const b = m.tensors.find((t) => t.name === "MobilenetV2/Conv/Conv2D_Fold_bias")!;
    expect(constantValues(b)![5]).toBe(new DataView(b.raw!.buffer, b.raw!.byteOffset).getInt32(20, true));
  });
});

// ---------------------------------------------------------------------------
// Hand-built models
// ---------------------------------------------------------------------------

/** A small model that exercises most of what the reader decodes. */
function richSpec(): Spec {
  return {
    description: "hand-built",
    opcodes: [
      { deprecated: OP.CONV_2D },
      { deprecated: OP.FULLY_CONNECTED },
      { deprecated: 127, builtin: OP.GELU },
      { deprecated: OP.CUSTOM, custom: "MyCustomOp" },
      { deprecated: 127, builtin: 300 },
      { deprecated: OP.MAX_POOL_2D },
      { deprecated: OP.RESHAPE },
      { deprecated: OP.ADD },
    ],
    buffers: [
      {},
      { data: floats(1, 2, 3, 4, 5, 6, 7, 8) }, // conv weights [2,1,1,4]
      { external: floats(0.5, -0.5) }, // conv bias [2], outside the FlatBuffer
      { data: new Uint8Array(new Int32Array([1, 2]).buffer) }, // INT32 shape [2]
    ],
    tensors: [
      { name: "input", shape: [1, 4, 4, 4] },
      { name: "w", shape: [2, 1, 1, 4], buffer: 1 },
      { name: "b", shape: [2], buffer: 2 },
      { name: "conv", shape: [1, 2, 2, 2] },
      { name: "pool", shape: [1, 1, 1, 2] },
      { name: "flat", shape: [1, 2] },
      { name: "new_shape", shape: [2], type: 2, buffer: 3 },
      { name: "fc", shape: [1, 2] },
      { name: "gelu", shape: [1, 2] },
      { name: "custom", shape: [1, 2] },
      { name: "future", shape: [1, 2] },
      { name: "sum", shape: [1, 2] },
      { name: "ünïcødé ✓", shape: [] },
    ],
    inputs: [0],
    outputs: [11],
    operators: [
      { opcode: 0, inputs: [0, 1, 2], outputs: [3], optionsType: OPTIONS.Conv2D, options: conv2dOptions({ padding: 1, strideW: 2, strideH: 2, activation: 1 }) },
      {
        opcode: 5,
        inputs: [3],
        outputs: [4],
        optionsType: OPTIONS.Pool2D,
        options: (b) => {
          b.startObject(6);
          b.addFieldInt8(0, 0, 0);
          b.addFieldInt32(1, 1, 0);
          b.addFieldInt32(2, 1, 0);
          b.addFieldInt32(3, 2, 0);
          b.addFieldInt32(4, 2, 0);
          b.addFieldInt8(5, 3, 0);
          return b.endObject();
        },
      },
      {
        opcode: 6,
        inputs: [4, 6],
        outputs: [5],
        optionsType: OPTIONS.Reshape,
        options: (b) => {
          const v = int32Vector(b, [1, 2]);
          b.startObject(1);
          b.addFieldOffset(0, v, 0);
          return b.endObject();
        },
      },
      {
        opcode: 1,
        inputs: [5, 1, -1],
        outputs: [7],
        optionsType: OPTIONS.FullyConnected,
        options: (b) => {
          b.startObject(5);
          b.addFieldInt8(0, 3, 0);
          b.addFieldInt8(2, 1, 0);
          return b.endObject();
        },
      },
      { opcode: 2, inputs: [7], outputs: [8] },
      { opcode: 3, inputs: [8], outputs: [9] },
      { opcode: 4, inputs: [9], outputs: [10] },
      {
        opcode: 7,
        inputs: [10, 5],
        outputs: [11],
        optionsType: OPTIONS.Add,
        options: (b) => {
          b.startObject(2);
          b.addFieldInt8(0, 2, 0);
          return b.endObject();
        },
      },
    ],
  };
}

function withSpec(patch: (s: Spec) => Spec): Uint8Array {
  return buildModel(patch(richSpec()));
}

describe("readTflite on hand-built models", () => {
  const bytes = buildModel(richSpec());

  it("decodes opcodes old and new, custom and future, options, external buffers and other tensor types", () => {
    const m = readTflite(bytes);
    expect(m.description).toBe("hand-built");
    expect(m.operators.map((o) => o.opcode)).toEqual(["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "GELU", "CUSTOM:MyCustomOp", "BUILTIN_300", "ADD"]);
    expect(m.operators[0]!.options).toEqual({ padding: "VALID", strideH: 2, strideW: 2, dilationH: 1, dilationW: 1, activation: "RELU" });
    expect(m.operators[1]!.options).toEqual({ padding: "SAME", strideH: 1, strideW: 1, filterH: 2, filterW: 2, activation: "RELU6" });
    expect(m.operators[2]!.options).toEqual({ newShape: [1, 2] });
    expect(m.operators[3]!.options).toEqual({ activation: "RELU6", keepNumDims: true });
    expect(m.operators[3]!.inputs).toEqual([5, 1, -1]);
    expect(m.operators[4]!.options).toEqual({});
    expect(m.operators[7]!.options).toEqual({ activation: "RELU_N1_TO_1" });
    expect(m.tensors[1]!.data).toEqual(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(m.tensors[2]!.data).toEqual(new Float32Array([0.5, -0.5]));
    expect(m.tensors[6]!.type).toBe("INT32");
    expect(m.tensors[6]!.data).toBeUndefined();
    expect(m.tensors[12]!.name).toBe("ünïcødé ✓");
    expect(m.tensors[12]!.shape).toEqual([]);
    expect(m.inputs).toEqual([0]);
    expect(m.outputs).toEqual([11]);
    checkInvariants(m, bytes.length);
  });

  it("reads quantization (per tensor, per channel, int64 zero points) and keeps the bytes of non-float constants", () => {
    const spec: Spec = {
      opcodes: [],
      buffers: [{}, { data: encode(TYPE.INT8, [-128, -1, 0, 127, 5, 6]) }, { data: encode(TYPE.INT64, [-(2 ** 40), 3]) }, { data: encode(TYPE.FLOAT16, [1, -2.5, 65504, 2 ** -24, 0.1]) }, { data: encode(TYPE.UINT8, [0, 255]) }],
      tensors: [
        { name: "a", shape: [1, 2], type: TYPE.UINT8, quantization: { scale: [0.5], zeroPoint: [128] } },
        { name: "w", shape: [2, 3], type: TYPE.INT8, buffer: 1, quantization: { scale: [0.1, 0.2], zeroPoint: [0, -3], dimension: 0 } },
        { name: "i64", shape: [2], type: TYPE.INT64, buffer: 2 },
        { name: "h", shape: [5], type: TYPE.FLOAT16, buffer: 3 },
        { name: "u", shape: [2], type: TYPE.UINT8, buffer: 4, quantization: { scale: [1] } },
      ],
      inputs: [0],
      outputs: [0],
      operators: [],
    };
    const bytes = buildModel(spec);
    const m = readTflite(bytes);
    expect(m.tensors[0]!.quantization).toEqual({ scale: [0.5], zeroPoint: [128], dimension: 0 });
    expect(m.tensors[0]!.raw).toBeUndefined();
    expect(m.tensors[1]!.quantization).toEqual({ scale: [Math.fround(0.1), Math.fround(0.2)], zeroPoint: [0, -3], dimension: 0 });
    expect(Array.from(constantValues(m.tensors[1]!)!)).toEqual([-128, -1, 0, 127, 5, 6]);
    expect(Array.from(constantValues(m.tensors[2]!)!)).toEqual([-(2 ** 40), 3]);
    expect(Array.from(constantValues(m.tensors[3]!)!)).toEqual([1, -2.5, 65504, 2 ** -24, halfToFloat(toHalf(0.1))]);
    expect(Math.abs(halfToFloat(toHalf(0.1)) - 0.1)).toBeLessThan(1e-4);
    // Zero points default to 0.
    expect(m.tensors[4]!.quantization).toEqual({ scale: [1], zeroPoint: [0], dimension: 0 });
    expect(Array.from(constantValues(m.tensors[4]!)!)).toEqual([0, 255]);
    // A copy, not a view of the file.
    expect(m.tensors[4]!.raw!.buffer).not.toBe(bytes.buffer);
    checkInvariants(m, bytes.length);
    // Half precision: signs, infinities, NaN, subnormals.
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0xfc00].map(halfToFloat)).toEqual([1, -2, 65504, 2 ** -24, -0, Infinity, -Infinity]);
    expect(halfToFloat(0x7e00)).toBeNaN();

    const bad = (q: NonNullable<Spec["tensors"][number]["quantization"]>): WeightFileError =>
      fileError(buildModel({ ...spec, tensors: spec.tensors.map((t, i) => (i === 1 ? { ...t, quantization: q } : t)) }));
    expect(bad({ scale: [0.1, 0.2], zeroPoint: [0, 0, 0] }).message).toMatch(/tensor 1 \("w"\) quantization: 2 scales but 3 zero points/);
    expect(bad({ scale: [0.1, 0.2], dimension: 1 }).message).toMatch(/2 scales along dimension 1 of shape \[2, 3\]/);
    expect(bad({ scale: [0.1, 0.2], dimension: 7 }).message).toMatch(/2 scales along dimension 7/);
    expect(bad({ scale: [], zeroPoint: [1] }).message).toMatch(/1 zero points without a scale/);
    expect(bad({ scale: [1], zeroPoint: [2 ** 40] }).message).toMatch(/zero_point: 1099511627776 is out of range/);
  });

  it("gives tensors that share a buffer their own copies", () => {
    const m = readTflite(withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 5 ? { ...t, shape: [8], buffer: 1 } : t)) })));
    expect(m.tensors[5]!.data).toEqual(m.tensors[1]!.data);
    expect(m.tensors[5]!.data).not.toBe(m.tensors[1]!.data);
  });

  it("rejects what the schema or the file does not allow, with a WeightFileError that says why", () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ["schema version 2", withSpec((s) => ({ ...s, version: 2 })), /schema version 2/],
      ["no subgraph", withSpec((s) => ({ ...s, noSubgraphs: true })), /no subgraphs/],
      ["data length ≠ shape", withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 1 ? { ...t, shape: [2, 1, 1, 3] } : t)) })), /needs 24 bytes, but buffer 1 holds 32/],
      ["constant with unknown dim", withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 1 ? { ...t, shape: [-1, 8] } : t)) })), /unknown dimension/],
      ["negative dim", withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 0 ? { ...t, shape: [1, -4] } : t)) })), /invalid dimension -4/],
      ["buffer index", withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 3 ? { ...t, buffer: 9 } : t)) })), /buffer index 9 is out of range/],
      ["tensor type", withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 3 ? { ...t, type: 99 } : t)) })), /unknown tensor type 99/],
      ["sparse float constant", withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 1 ? { ...t, sparse: true } : t)) })), /sparse/],
      ["invalid UTF-8 name", withSpec((s) => ({ ...s, tensors: s.tensors.map((t, i) => (i === 3 ? { ...t, name: new Uint8Array([0x66, 0xff, 0x66]) } : t)) })), /not valid UTF-8/],
      ["subgraph output index", withSpec((s) => ({ ...s, outputs: [13] })), /tensor index 13 is out of range/],
      ["subgraph input -1", withSpec((s) => ({ ...s, inputs: [-1] })), /tensor index -1 is out of range/],
      ["operator input index", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 4 ? { ...o, inputs: [42] } : o)) })), /operator 4 \(GELU\) inputs: tensor index 42/],
      ["opcode index", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 4 ? { ...o, opcode: 8 } : o)) })), /opcode index 8 is out of range/],
      ["negative opcode", withSpec((s) => ({ ...s, opcodes: [...s.opcodes, { deprecated: -3 }] })), /invalid builtin operator code -3/],
      ["placeholder opcode", withSpec((s) => ({ ...s, opcodes: [...s.opcodes, { deprecated: 127 }] })), /placeholder/],
      ["nameless custom op", withSpec((s) => ({ ...s, opcodes: [...s.opcodes, { deprecated: OP.CUSTOM }] })), /custom operator without a name/],
      ["conv without options", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 0 ? { opcode: 0, inputs: o.inputs, outputs: o.outputs } : o)) })), /missing Conv2DOptions/],
      ["conv with pool options", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 0 ? { ...o, optionsType: OPTIONS.Pool2D } : o)) })), /expected Conv2DOptions/],
      ["padding 7", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 0 ? { ...o, options: conv2dOptions({ padding: 7 }) } : o)) })), /invalid padding 7/],
      ["activation 9", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 0 ? { ...o, options: conv2dOptions({ activation: 9 }) } : o)) })), /invalid fused activation 9/],
      ["stride 0", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 0 ? { ...o, options: conv2dOptions({ strideH: 0 }) } : o)) })), /stride_h 0 must be at least 1/],
      ["dilation 0", withSpec((s) => ({ ...s, operators: s.operators.map((o, i) => (i === 0 ? { ...o, options: conv2dOptions({ dilation: 0 }) } : o)) })), /dilation_h_factor 0/],
      ["external buffer past the end", withSpec((s) => ({ ...s, buffers: s.buffers.map((b, i) => (i === 2 ? { offset: 1 << 20, size: 8 } : b)) })), /outside the \d+-byte file/],
      ["external buffer size 2^40", withSpec((s) => ({ ...s, buffers: s.buffers.map((b, i) => (i === 2 ? { offset: 64, size: 2 ** 40 } : b)) })), /outside the \d+-byte file/],
      ["external offset 2^62", withSpec((s) => ({ ...s, buffers: s.buffers.map((b, i) => (i === 2 ? { offset: 2 ** 62, size: 8 } : b)) })), /absurdly large/],
      ["inline and external data", withSpec((s) => ({ ...s, buffers: s.buffers.map((b, i) => (i === 2 ? { ...b, data: floats(1, 2) } : b)) })), /both inline data and an external offset/],
    ];
    for (const [what, bad, message] of cases) {
      const e = fileError(bad);
      expect(e.message, what).toMatch(message);
      expect(e.offset === undefined || (e.offset >= 0 && e.offset <= bad.length), what).toBe(true);
    }
  });

  it("rejects a vector claiming 2^31 elements before allocating anything for it", () => {
    // Find tensor 0's shape vector and the tensors vector with the flatbuffers runtime, then lie about their lengths.
    const bb = new ByteBuffer(bytes);
    const field = (table: number, index: number): number => bb.__offset(table, 4 + 2 * index);
    const modelPos = bb.__indirect(0);
    const subgraph = bb.__indirect(bb.__vector(modelPos + field(modelPos, 2)));
    const tensorsField = subgraph + field(subgraph, 0);
    const tensor0 = bb.__indirect(bb.__vector(tensorsField));
    const shapeField = tensor0 + field(tensor0, 0);
    const nameField = tensor0 + field(tensor0, 3);
    const lie = (lengthAt: number, value: number): Uint8Array => {
      const copy = bytes.slice();
      new DataView(copy.buffer).setUint32(lengthAt, value, true);
      return copy;
    };
    for (const [at, what] of [
      [bb.__vector(shapeField) - 4, "tensor 0 shape"],
      [bb.__vector(tensorsField) - 4, "subgraph 0 tensors"],
      [nameField + bb.readInt32(nameField), "tensor 0 name"],
    ] as const) {
      for (const n of [2 ** 31, 2 ** 32 - 1, bytes.length]) {
        const e = fileError(lie(at, n));
        expect(e.message).toContain(what);
        expect(e.message).toMatch(/claims \d+ elements/);
        expect(e.offset).toBe(at);
      }
    }
  });

  it("refuses tables whose data overlap so much that decoding would exceed the file's size", () => {
    // 400 buffers all pointing at the same 64 KiB outside the FlatBuffer: the file is ~90 KB,
    // reading every tensor would produce 25 MB.
    const big = new Uint8Array(1 << 16);
    const n = 400;
    const spec: Spec = {
      opcodes: [],
      buffers: [{}, { external: big }, ...Array.from({ length: n - 1 }, () => ({ offset: 2, size: big.length }))],
      tensors: Array.from({ length: n }, (_, i) => ({ name: `t${i}`, shape: [big.length / 4], buffer: i + 1 })),
      inputs: [],
      outputs: [],
      operators: [],
    };
    // Point every extra buffer at the first one's data (the external data is last in the file,
    // and the offsets' values do not change the FlatBuffer's size).
    const sharing = (s: Spec): Uint8Array => {
      const at = buildModel(s).length - big.length;
      const out = buildModel({ ...s, buffers: s.buffers.map((b, i) => (i >= 2 ? { offset: at, size: big.length } : b)) });
      expect(out.length - big.length).toBe(at);
      return out;
    };
    const bad = sharing(spec);
    expect(bad.length).toBeLessThan(100_000);
    const t0 = performance.now();
    const e = fileError(bad);
    expect(e.message).toMatch(/decode to more data than a \d+-byte file can hold/);
    expect(performance.now() - t0).toBeLessThan(1000);
    // A few shared references are fine, and each tensor gets its own copy.
    const ok = readTflite(sharing({ ...spec, buffers: spec.buffers.slice(0, 4), tensors: spec.tensors.slice(0, 3) }));
    expect(ok.tensors.map((t) => t.data?.length)).toEqual([big.length / 4, big.length / 4, big.length / 4]);
    expect(ok.tensors[0]!.data).not.toBe(ok.tensors[1]!.data);
  });
});

// ---------------------------------------------------------------------------
// Damaged files
// ---------------------------------------------------------------------------

describe("readTflite on damaged files", () => {
  it("rejects empty, short and foreign files", () => {
    expect(fileError(new Uint8Array(0)).message).toMatch(/too short/);
    expect(fileError(file.subarray(0, 7)).message).toMatch(/7 bytes, too short/);
    expect(isTflite(file.subarray(0, 7))).toBe(false);
    const foreign = file.slice();
    foreign.set([0x54, 0x46, 0x4c, 0x32], 4); // "TFL2"
    expect(isTflite(foreign)).toBe(false);
    const e = fileError(foreign);
    expect(e.message).toMatch(/file identifier is "TFL2", expected "TFL3"/);
    expect(e.offset).toBe(4);
    expect(fileError(new TextEncoder().encode("PK\u0003\u0004 not a model at all")).message).toMatch(/file identifier/);
    // The identifier alone is not enough.
    expect(fileError(new Uint8Array([0xff, 0xff, 0xff, 0x7f, 0x54, 0x46, 0x4c, 0x33])).message).toMatch(/past the end/);
    expect(fileError(new Uint8Array([8, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33])).message).toMatch(/points to byte 8, past the end of the 8-byte file/);
    expect(fileError(new Uint8Array([8, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33, 0, 0, 0, 0])).message).toMatch(/vtable at byte 8 has invalid length 0/);
  });

  it("rejects the file truncated at every 1/50th of its length, or by any of its last bytes", () => {
    for (let k = 0; k < 50; k++) {
      const n = Math.floor((k * file.length) / 50);
      expect(outcome(file.subarray(0, n)), `truncated to ${n} bytes`).toBe("error");
    }
    // The file ends with a 4-byte empty table (the first object the converter wrote): the
    // empty QuantizationParameters every tensor refers to. Cutting even its last byte is damage.
    for (let cut = 1; cut <= 64; cut++) expect(outcome(file.subarray(0, file.length - cut)), `last ${cut} bytes cut`).toBe("error");
  });

  it("rejects the file truncated at random points", () => {
    // Any cut loses the empty quantization table at the end, and before that the vtable every buffer table uses.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: file.length - 1 }), (n) => {
        expect(outcome(file.subarray(0, n))).toBe("error");
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it("reads or rejects (never crashes on) copies with random bytes changed anywhere", () => {
    const copy = file.slice();
    let errors = 0;
    fc.assert(
      fc.property(fc.array(fc.record({ at: fc.integer({ min: 0, max: file.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }), (flips) => {
        for (const f of flips) copy[f.at] = f.value;
        try {
          if (outcome(copy) === "error") errors++;
        } finally {
          for (const f of flips) copy[f.at] = file[f.at]!;
        }
      }),
      { seed: 42, numRuns: 200 },
    );
    // Most of the file is weights, where any bytes are valid floats: most copies still read.
    expect(errors).toBeLessThan(200);
  });

  it("reads or rejects (never crashes on) copies with bits flipped in the FlatBuffer structure", () => {
    // Every byte that is not tensor data: tables, vtables, vectors, strings.
    const official = officialWalk(file);
    const isData = new Uint8Array(file.length);
    for (const r of official.data) if (r !== undefined) isData.fill(1, r[0], r[1]);
    const structure: number[] = [];
    for (let i = 0; i < file.length; i++) if (isData[i] === 0) structure.push(i);
    expect(structure.length).toBeGreaterThan(10_000);
    const copy = file.slice();
    const seen = { read: 0, error: 0 };
    fc.assert(
      fc.property(fc.array(fc.record({ index: fc.nat({ max: structure.length - 1 }), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 4 }), (flips) => {
        const at = flips.map((f) => structure[f.index]!);
        flips.forEach((f, k) => (copy[at[k]!]! ^= 1 << f.bit));
        try {
          seen[outcome(copy)]++;
        } finally {
          for (const p of at) copy[p] = file[p]!;
        }
      }),
      { seed: 42, numRuns: 400 },
    );
    // Both outcomes occur: the reader is neither blind to damage nor rejecting everything.
    expect(seen.error).toBeGreaterThan(50);
    expect(seen.read).toBeGreaterThan(10);
  });

  it("reads or rejects (never crashes on) mutations of a small hand-built model, quickly", () => {
    const small = buildModel(richSpec());
    let slowest = 0;
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: small.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
        fc.nat({ max: small.length }),
        (changes, keep) => {
          const copy = small.slice(0, Math.max(keep, 8));
          for (const c of changes) if (c.at < copy.length) copy[c.at] = c.value;
          const t0 = performance.now();
          outcome(copy);
          slowest = Math.max(slowest, performance.now() - t0);
        },
      ),
      { seed: 42, numRuns: 2000 },
    );
    expect(slowest).toBeLessThan(200);
  });

  it("reads or rejects (never crashes on) random bytes that carry the identifier", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 600 }), (bytes) => {
        bytes.set([0x54, 0x46, 0x4c, 0x33], 4);
        expect(isTflite(bytes)).toBe(true);
        outcome(bytes);
      }),
      { seed: 42, numRuns: 1000 },
    );
  });
});

describe("FULLY_CONNECTED on a map larger than 1x1", () => {
  it("is imported with its [out, H·W·C] weights reordered to mnc's channel-major flattening", () => {
    const [h, w, c, out] = [2, 2, 3, 2];
    const n = h * w * c;
    // Distinct weights and inputs, so that any other order of the 12 products gives another sum.
    const weights = Array.from({ length: out * n }, (_, i) => ((i * 7) % 13) - 6 + i / 32);
    const bias = [0.25, -0.5];
    const x = Float32Array.from({ length: n }, (_, i) => ((i * 5) % 11) / 4 - 1 + i / 64);
    const net = new TfliteNet();
    const input = net.tensor("input", [1, h, w, c]);
    const fcW = net.constant("fc/weights", [out, n], TYPE.FLOAT32, weights);
    const fcB = net.constant("fc/bias", [out], TYPE.FLOAT32, bias);
    const logits = net.tensor("logits", [1, out]);
    net.op(OP.FULLY_CONNECTED, [input, fcW, fcB], [logits]);
    const r = compile("network T {\n  input 2x2x3\n  fc 2\n}\n", { weights: net.build([input], [logits]), weightsFile: "t.tflite", fuseBatchNorm: false });
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
    // By hand, as TFLite computes it: the input flattened in HWC order (row, column, channel), the file's weights in that order.
    const expected = bias.map((b, o) => {
      let sum = b;
      for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
        const k = (y * w + xx) * c + ch;
        sum += Math.fround(weights[o * n + k]!) * x[k]!;
      }
      return sum;
    });
    const got = Array.from(runReference(r.graph!, x));
    expect(got).toHaveLength(out);
    got.forEach((v, o) => expect(v).toBeCloseTo(expected[o]!, 9));
  });
});
