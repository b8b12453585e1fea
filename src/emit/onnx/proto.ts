/**
 * The ONNX protobuf schema (onnx-proto's generated protobufjs classes) and
 * small builders for the messages mnc writes.
 */
import onnxProto from "onnx-proto";

export const { onnx } = onnxProto;
export type IModelProto = onnxProto.onnx.IModelProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;
export const UINT8 = onnx.TensorProto.DataType.UINT8;
export const INT8 = onnx.TensorProto.DataType.INT8;
export const INT32 = onnx.TensorProto.DataType.INT32;

export type Dim = number | string;
export type AttributeValue = number | string | readonly number[] | { readonly float: number };

/** An attribute: integers as INT/INTS, `{ float }` as FLOAT, strings as STRING. */
export function attribute(name: string, value: AttributeValue): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === "number") return { name, type: T.INT, i: value };
  if (typeof value === "string") return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: [...(value as number[])] };
  return { name, type: T.FLOAT, f: (value as { float: number }).float };
}

export function node(opType: string, name: string, inputs: readonly string[], outputs: readonly string[], attrs: Readonly<Record<string, AttributeValue>> = {}, docString = ""): INodeProto {
  return {
    opType,
    name,
    input: [...inputs],
    output: [...outputs],
    attribute: Object.keys(attrs)
      .sort()
      .map((k) => attribute(k, attrs[k]!)),
    ...(docString === "" ? {} : { docString }),
  };
}

/** A float32 initializer in raw_data, little-endian whatever the host. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): ITensorProto {
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return { name, dims: [...dims], dataType: FLOAT, rawData: raw };
}

export function int64Tensor(name: string, values: readonly number[]): ITensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  return { name, dims: [values.length], dataType: INT64, rawData: raw };
}

/** An integer initializer (uint8, int8 or int32) in raw_data, little-endian; every value must fit the type. */
export function integerTensor(name: string, dims: readonly number[], dataType: typeof UINT8 | typeof INT8 | typeof INT32, values: ArrayLike<number>): ITensorProto {
  const size = dataType === INT32 ? 4 : 1;
  const raw = new Uint8Array(values.length * size);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (dataType === INT32) view.setInt32(4 * i, v, true);
    else if (dataType === INT8) view.setInt8(i, v);
    else view.setUint8(i, v);
  }
  return { name, dims: [...dims], dataType, rawData: raw };
}

/** A tensor's declared element type and shape (float32 unless said otherwise). */
export function valueInfo(name: string, dims: readonly Dim[], elemType: number = FLOAT): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}
