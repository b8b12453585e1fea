/**
 * TFLite's affine quantization, read back into float:
 *
 *   real = scale · (q − zero_point)
 *
 * with one (scale, zero point) for the whole tensor or one per index of the
 * quantized dimension (per-channel: TFLite's int8 convolution weights are
 * quantized per output channel, dimension 0 of OHWI, dimension 3 of a
 * depthwise 1HWC kernel).
 *
 * An activation tensor's quantization is also a clamp: a uint8 tensor holds
 * only [scale·(0 − z), scale·(255 − z)]. Converters that quantize a network
 * leave ReLU and ReLU6 to that range (the operator's fused activation is
 * NONE), so the range is where the activation is read from:
 *
 *   zero point = the type's lowest value (the range starts at 0)
 *     and its top is 6 within one step     relu6
 *     and any other top                     relu   (the float network does not saturate at that top)
 *   a range that reaches below 0            linear
 */
import type { Activation } from "../ir/graph.js";
import type { TfliteQuantization } from "./tflite.js";

/** The stored integer range of each quantized TensorType. */
export const INTEGER_RANGE: Readonly<Record<string, readonly [number, number]>> = {
  UINT8: [0, 255],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  UINT16: [0, 65535],
  INT32: [-(2 ** 31), 2 ** 31 - 1],
};

/** One scale and zero point for a whole activation tensor, with its type's range. */
export interface TensorQuantization {
  readonly scale: number;
  readonly zeroPoint: number;
  readonly qmin: number;
  readonly qmax: number;
}

/** A tensor's per-tensor quantization (undefined when it is float, per-channel, or the scale is unusable). */
export function perTensor(type: string, q: TfliteQuantization | undefined): TensorQuantization | undefined {
  const range = INTEGER_RANGE[type];
  if (q === undefined || range === undefined || q.scale.length !== 1) return undefined;
  const scale = q.scale[0]!;
  if (!(scale > 0 && Number.isFinite(scale))) return undefined;
  return { scale, zeroPoint: q.zeroPoint[0] ?? 0, qmin: range[0], qmax: range[1] };
}

/** The real interval a quantized tensor can hold. */
export function realRange(q: TensorQuantization): readonly [number, number] {
  return [q.scale * (q.qmin - q.zeroPoint), q.scale * (q.qmax - q.zeroPoint)];
}

/** The clamp a quantized activation tensor's range applies (see the file comment), or undefined for a range that is not an activation's. */
export function rangeActivation(q: TensorQuantization): Activation | undefined {
  const hi = realRange(q)[1];
  if (!(hi > 0)) return undefined;
  if (q.zeroPoint > q.qmin) return "linear";
  if (q.zeroPoint < q.qmin) return undefined;
  return Math.abs(hi - 6) <= q.scale ? "relu6" : "relu";
}

/** `[0, 5.9998]` for messages. */
export function formatRange(q: TensorQuantization): string {
  const [lo, hi] = realRange(q);
  const f = (x: number): string => String(Number(x.toPrecision(5)));
  return `[${f(lo)}, ${f(hi)}]`;
}

/**
 * Dequantize stored values (row-major, of `shape`) with per-tensor or
 * per-channel parameters. Throws a message (string) when the parameters do
 * not fit the shape or a scale is not a finite number ≥ 0.
 */
export function dequantize(values: Float64Array, shape: readonly number[], q: TfliteQuantization): Float32Array | string {
  const n = q.scale.length;
  for (const s of q.scale) if (!(s >= 0 && Number.isFinite(s))) return `quantization scale ${s} is not a finite number ≥ 0`;
  const out = new Float32Array(values.length);
  if (n === 1) {
    const s = q.scale[0]!;
    const z = q.zeroPoint[0] ?? 0;
    for (let i = 0; i < values.length; i++) out[i] = s * (values[i]! - z);
    return out;
  }
  const d = q.dimension;
  if (!(d >= 0 && d < shape.length && shape[d] === n)) return `${n} scales do not fit dimension ${d} of shape [${shape.join(", ")}]`;
  let inner = 1;
  for (let i = d + 1; i < shape.length; i++) inner *= shape[i]!;
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % n;
    out[i] = q.scale[c]! * (values[i]! - (q.zeroPoint[c] ?? 0));
  }
  return out;
}
