/**
 * Hand-built TFLite models for tests: a Spec (buffers, tensors, operators) serialised
 * with the flatbuffers Builder the way a TFLite writer lays out schema.fbs.
 */
import { Builder } from "flatbuffers";

export interface SpecBuffer {
  readonly data?: Uint8Array;
  /** External data: bytes appended after the FlatBuffer, 16-aligned, in buffer order. */
  readonly external?: Uint8Array;
  /** Overrides the external offset (relative to the start of the file). */
  readonly offset?: number;
  readonly size?: number;
}
export interface SpecTensor {
  readonly name: string | Uint8Array;
  readonly shape: readonly number[];
  readonly type?: number;
  readonly buffer?: number;
  readonly sparse?: boolean;
  /** QuantizationParameters: scales, zero points (int64), quantized dimension. */
  readonly quantization?: { readonly scale: readonly number[]; readonly zeroPoint?: readonly number[]; readonly dimension?: number };
}
export interface SpecOperator {
  readonly opcode: number;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly optionsType?: number;
  /** Builds the options table; called while no other object is being built. */
  readonly options?: (b: Builder) => number;
  /** A custom operator's custom_options bytes. */
  readonly customOptions?: Uint8Array;
}
export interface Spec {
  readonly version?: number;
  readonly description?: string;
  readonly opcodes: readonly { readonly deprecated?: number; readonly builtin?: number; readonly custom?: string }[];
  readonly buffers: readonly SpecBuffer[];
  readonly tensors: readonly SpecTensor[];
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly operators: readonly SpecOperator[];
  readonly noSubgraphs?: boolean;
}

export function int32Vector(b: Builder, xs: readonly number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
  return b.endVector();
}
export function offsetVector(b: Builder, xs: readonly number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
  return b.endVector();
}
export function floats(...xs: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(xs).buffer);
}

/** Serialises `spec` with the flatbuffers Builder the way a TFLite writer would (schema.fbs field numbers). */
export function buildModel(spec: Spec): Uint8Array {
  // External buffers go after the FlatBuffer, whose size does not depend on
  // the (non-zero) offsets: build once to learn it, then for real.
  const once = (base: number): Uint8Array => {
    const b = new Builder(1024);
    let at = base;
    const bufferOffsets = spec.buffers.map((buf) => {
      if (buf.external !== undefined || buf.offset !== undefined) {
        const offset = buf.offset ?? at;
        const size = buf.size ?? buf.external?.length ?? 0;
        at += buf.external?.length ?? 0;
        const d = buf.data === undefined ? 0 : b.createByteVector(buf.data);
        b.startObject(3);
        if (d !== 0) b.addFieldOffset(0, d, 0);
        b.addFieldInt64(1, BigInt(offset), 0n);
        b.addFieldInt64(2, BigInt(size), 0n);
        return b.endObject();
      }
      const d = buf.data === undefined ? 0 : b.createByteVector(buf.data);
      b.startObject(3);
      if (d !== 0) b.addFieldOffset(0, d, 0);
      return b.endObject();
    });
    const tensorOffsets = spec.tensors.map((t) => {
      const name = b.createString(t.name);
      const shape = int32Vector(b, t.shape);
      let sparsity = 0;
      if (t.sparse === true) {
        const order = int32Vector(b, [0]);
        b.startObject(3);
        b.addFieldOffset(0, order, 0);
        sparsity = b.endObject();
      }
      let quantization = 0;
      if (t.quantization !== undefined) {
        const q = t.quantization;
        b.startVector(4, q.scale.length, 4);
        for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i]!);
        const scale = b.endVector();
        let zeroPoint = 0;
        if (q.zeroPoint !== undefined) {
          b.startVector(8, q.zeroPoint.length, 8);
          for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i]!));
          zeroPoint = b.endVector();
        }
        b.startObject(7);
        b.addFieldOffset(2, scale, 0);
        if (zeroPoint !== 0) b.addFieldOffset(3, zeroPoint, 0);
        b.addFieldInt32(6, q.dimension ?? 0, 0);
        quantization = b.endObject();
      }
      b.startObject(10);
      b.addFieldOffset(0, shape, 0);
      b.addFieldInt8(1, t.type ?? 0, 0);
      b.addFieldInt32(2, t.buffer ?? 0, 0);
      b.addFieldOffset(3, name, 0);
      if (quantization !== 0) b.addFieldOffset(4, quantization, 0);
      if (sparsity !== 0) b.addFieldOffset(6, sparsity, 0);
      return b.endObject();
    });
    const operatorOffsets = spec.operators.map((op) => {
      const options = op.options?.(b) ?? 0;
      const custom = op.customOptions === undefined ? 0 : b.createByteVector(op.customOptions);
      const inputs = int32Vector(b, op.inputs);
      const outputs = int32Vector(b, op.outputs);
      b.startObject(13);
      b.addFieldInt32(0, op.opcode, 0);
      b.addFieldOffset(1, inputs, 0);
      b.addFieldOffset(2, outputs, 0);
      b.addFieldInt8(3, op.optionsType ?? 0, 0);
      if (options !== 0) b.addFieldOffset(4, options, 0);
      if (custom !== 0) b.addFieldOffset(5, custom, 0);
      return b.endObject();
    });
    const codeOffsets = spec.opcodes.map((c) => {
      const custom = c.custom === undefined ? 0 : b.createString(c.custom);
      b.startObject(4);
      b.addFieldInt8(0, c.deprecated ?? 0, 0);
      if (custom !== 0) b.addFieldOffset(1, custom, 0);
      b.addFieldInt32(2, 1, 1);
      b.addFieldInt32(3, c.builtin ?? 0, 0);
      return b.endObject();
    });
    const tensors = offsetVector(b, tensorOffsets);
    const inputs = int32Vector(b, spec.inputs);
    const outputs = int32Vector(b, spec.outputs);
    const operators = offsetVector(b, operatorOffsets);
    const sgName = b.createString("main");
    b.startObject(5);
    b.addFieldOffset(0, tensors, 0);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    b.addFieldOffset(3, operators, 0);
    b.addFieldOffset(4, sgName, 0);
    const subgraph = b.endObject();
    const subgraphs = offsetVector(b, spec.noSubgraphs === true ? [] : [subgraph]);
    const codes = offsetVector(b, codeOffsets);
    const buffers = offsetVector(b, bufferOffsets);
    const description = b.createString(spec.description ?? "hand-built");
    b.startObject(8);
    b.addFieldInt32(0, spec.version ?? 3, 0);
    b.addFieldOffset(1, codes, 0);
    b.addFieldOffset(2, subgraphs, 0);
    b.addFieldOffset(3, description, 0);
    b.addFieldOffset(4, buffers, 0);
    b.finish(b.endObject(), "TFL3");
    const flat = b.asUint8Array();
    const externals = spec.buffers.flatMap((buf) => (buf.external === undefined ? [] : [buf.external]));
    const start = Math.max(base, flat.length);
    const out = new Uint8Array(start + externals.reduce((s, e) => s + e.length, 0));
    out.set(flat, 0);
    let p = start;
    for (const e of externals) {
      out.set(e, p);
      p += e.length;
    }
    return out;
  };
  // The probe's FlatBuffer part is as long as the final one's; the external data starts 16-aligned after it.
  const probe = once(16);
  const flatSize = probe.length - spec.buffers.reduce((s, buf) => s + (buf.external?.length ?? 0), 0);
  return once(Math.max(16, Math.ceil(flatSize / 16) * 16));
}

/** BuiltinOperator codes (schema.fbs). */
export const OP = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  RESIZE_BILINEAR: 23,
  SOFTMAX: 25,
  TANH: 28,
  CUSTOM: 32,
  PAD: 34,
  MEAN: 40,
  DIV: 42,
  SQUEEZE: 43,
  ARG_MAX: 56,
  RESIZE_NEAREST_NEIGHBOR: 97,
  QUANTIZE: 114,
  HARD_SWISH: 117,
  GELU: 150,
} as const;
/** BuiltinOptions union types. */
export const OPTIONS = {
  Conv2D: 1,
  DepthwiseConv2D: 2,
  Pool2D: 5,
  FullyConnected: 8,
  Softmax: 9,
  Concatenation: 10,
  Add: 11,
  ResizeBilinear: 15,
  Reshape: 17,
  Mul: 21,
  Reducer: 27,
  Div: 29,
  Squeeze: 30,
  ArgMax: 40,
  ResizeNearestNeighbor: 74,
} as const;
/** TensorType codes. */
export const TYPE = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4, INT8: 9 } as const;
/** Padding and ActivationFunctionType codes. */
export const PAD = { SAME: 0, VALID: 1 } as const;
export const ACT = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 } as const;

export function conv2dOptions(o: { padding?: number; strideW?: number; strideH?: number; activation?: number; dilation?: number }) {
  return (b: Builder): number => {
    b.startObject(7);
    b.addFieldInt8(0, o.padding ?? 0, 0);
    b.addFieldInt32(1, o.strideW ?? 1, 0);
    b.addFieldInt32(2, o.strideH ?? 1, 0);
    b.addFieldInt8(3, o.activation ?? 0, 0);
    b.addFieldInt32(4, o.dilation ?? 1, 1);
    b.addFieldInt32(5, o.dilation ?? 1, 1);
    return b.endObject();
  };
}

export function depthwiseOptions(o: { padding?: number; stride?: number; activation?: number; depthMultiplier?: number; dilation?: number }) {
  return (b: Builder): number => {
    b.startObject(7);
    b.addFieldInt8(0, o.padding ?? 0, 0);
    b.addFieldInt32(1, o.stride ?? 1, 0);
    b.addFieldInt32(2, o.stride ?? 1, 0);
    b.addFieldInt32(3, o.depthMultiplier ?? 1, 0);
    b.addFieldInt8(4, o.activation ?? 0, 0);
    if (o.dilation !== undefined) {
      b.addFieldInt32(5, o.dilation, 1);
      b.addFieldInt32(6, o.dilation, 1);
    }
    return b.endObject();
  };
}

export function concatenationOptions(axis: number, activation = 0) {
  return (b: Builder): number => {
    b.startObject(2);
    b.addFieldInt32(0, axis, 0);
    b.addFieldInt8(1, activation, 0);
    return b.endObject();
  };
}

/** ResizeBilinearOptions (align_corners and half_pixel_centers are fields 2 and 3) or ResizeNearestNeighborOptions (0 and 1). */
export function resizeOptions(o: { bilinear: boolean; alignCorners?: boolean; halfPixelCenters?: boolean }) {
  return (b: Builder): number => {
    const first = o.bilinear ? 2 : 0;
    b.startObject(first + 2);
    b.addFieldInt8(first, o.alignCorners === true ? 1 : 0, 0);
    b.addFieldInt8(first + 1, o.halfPixelCenters === true ? 1 : 0, 0);
    return b.endObject();
  };
}

/** Little-endian int32 values: a custom operator's options as MediaPipe writes them. */
export function int32Bytes(...xs: number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(xs).buffer);
}

export function pool2dOptions(o: { padding?: number; stride?: number; filter: number; activation?: number }) {
  return (b: Builder): number => {
    b.startObject(6);
    b.addFieldInt8(0, o.padding ?? 0, 0);
    b.addFieldInt32(1, o.stride ?? o.filter, 0);
    b.addFieldInt32(2, o.stride ?? o.filter, 0);
    b.addFieldInt32(3, o.filter, 0);
    b.addFieldInt32(4, o.filter, 0);
    b.addFieldInt8(5, o.activation ?? 0, 0);
    return b.endObject();
  };
}

/** Options holding only a fused activation (ADD, MUL, DIV). */
export function activationOptions(activation: number) {
  return (b: Builder): number => {
    b.startObject(1);
    b.addFieldInt8(0, activation, 0);
    return b.endObject();
  };
}

export function reducerOptions(keepDims: boolean) {
  return (b: Builder): number => {
    b.startObject(1);
    b.addFieldInt8(0, keepDims ? 1 : 0, 0);
    return b.endObject();
  };
}

type Quantization = SpecTensor["quantization"];

/** Little-endian bytes of `values` as `type`. */
export function encode(type: number, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  switch (type) {
    case TYPE.FLOAT32:
      return new Uint8Array(Float32Array.from(values).buffer);
    case TYPE.INT32:
      return new Uint8Array(Int32Array.from(values).buffer);
    case TYPE.INT64:
      return new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
    case TYPE.UINT8:
      return Uint8Array.from(values);
    case TYPE.INT8:
      return new Uint8Array(Int8Array.from(values).buffer);
    case TYPE.FLOAT16: {
      const out = new Uint8Array(2 * n);
      const view = new DataView(out.buffer);
      for (let i = 0; i < n; i++) view.setUint16(2 * i, toHalf(values[i]!), true);
      return out;
    }
    default:
      throw new Error(`encode: type ${type}`);
  }
}

/** number → IEEE 754 binary16 bits (round to nearest even; finite normal and subnormal values). */
export function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const abs = Math.abs(x);
  if (abs === 0) return sign;
  if (abs < 2 ** -14) return sign | Math.round(abs / 2 ** -24);
  let e = Math.floor(Math.log2(abs));
  let m = Math.round((abs / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e++;
  }
  return sign | ((e + 15) << 10) | m;
}

/**
 * A model assembled operator by operator: tensors get indices as they are
 * declared, constants their own buffers, opcodes their table entries.
 */
export class TfliteNet {
  private readonly buffers: SpecBuffer[] = [{}];
  private readonly tensors: SpecTensor[] = [];
  private readonly operators: SpecOperator[] = [];
  /** Builtin codes, and custom operators by name. */
  private readonly codes: (number | string)[] = [];

  /** An activation tensor (uint8 when quantized, unless `type` says otherwise). */
  tensor(name: string, shape: readonly number[], quantization?: Quantization, type?: number): number {
    this.tensors.push({ name, shape, type: type ?? (quantization === undefined ? TYPE.FLOAT32 : TYPE.UINT8), ...(quantization === undefined ? {} : { quantization }) });
    return this.tensors.length - 1;
  }

  /** A constant tensor holding `values` stored as `type`. */
  constant(name: string, shape: readonly number[], type: number, values: ArrayLike<number>, quantization?: Quantization): number {
    this.buffers.push({ data: encode(type, values) });
    this.tensors.push({ name, shape, type, buffer: this.buffers.length - 1, ...(quantization === undefined ? {} : { quantization }) });
    return this.tensors.length - 1;
  }

  op(code: number, inputs: readonly number[], outputs: readonly number[], optionsType?: number, options?: (b: Builder) => number): void {
    this.operators.push({ opcode: this.code(code), inputs, outputs, ...(optionsType === undefined ? {} : { optionsType }), ...(options === undefined ? {} : { options }) });
  }

  /** A custom operator `name` with its custom_options bytes. */
  custom(name: string, inputs: readonly number[], outputs: readonly number[], customOptions?: Uint8Array): void {
    this.operators.push({ opcode: this.code(name), inputs, outputs, ...(customOptions === undefined ? {} : { customOptions }) });
  }

  private code(code: number | string): number {
    const at = this.codes.indexOf(code);
    return at >= 0 ? at : this.codes.push(code) - 1;
  }

  build(inputs: readonly number[], outputs: readonly number[]): Uint8Array {
    return buildModel({
      opcodes: this.codes.map((c) => (typeof c === "string" ? { deprecated: OP.CUSTOM, custom: c } : c < 127 ? { deprecated: c } : { deprecated: 127, builtin: c })),
      buffers: this.buffers,
      tensors: this.tensors,
      inputs,
      outputs,
      operators: this.operators,
    });
  }
}
