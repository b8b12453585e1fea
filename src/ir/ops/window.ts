/**
 * Sliding-window arithmetic shared by convolutions and pooling, with
 * TensorFlow's SAME rule: out = ceil(in / stride); the total padding is
 * max((out − 1)·stride + k − in, 0), split floor(total/2) before and the
 * rest after — so a stride-2 3x3 window on an even input pads 0 before, 1 after.
 */
import type { Padding, Pads, Pair } from "../graph.js";

export interface WindowResult {
  readonly out: Pair;
  readonly pads: Pads;
}

/** Output size and explicit pads along H and W, or undefined if the window does not fit. */
export function slide(input: Pair, kernel: Pair, stride: Pair, padding: Padding): WindowResult | undefined {
  const h = axis(input[0], kernel[0], stride[0], padding);
  const w = axis(input[1], kernel[1], stride[1], padding);
  if (h === undefined || w === undefined) return undefined;
  return { out: [h.out, w.out], pads: [h.before, w.before, h.after, w.after] };
}

function axis(size: number, k: number, s: number, padding: Padding): { out: number; before: number; after: number } | undefined {
  if (padding === "valid") {
    if (size < k) return undefined;
    return { out: Math.floor((size - k) / s) + 1, before: 0, after: 0 };
  }
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

export function formatPads(p: Pads | undefined): string {
  return p === undefined ? "" : `[${p.join(",")}]`;
}

/** `/2` for a square stride of 2, `/2x1` otherwise, nothing for 1. */
export function formatStride(s: Pair): string {
  if (s[0] === 1 && s[1] === 1) return "";
  return s[0] === s[1] ? `/${s[0]}` : `/${s[0]}x${s[1]}`;
}

/** The cells a dilated kernel spans: (k − 1)·d + 1 per axis. */
export function dilated(kernel: Pair, dilation: Pair | undefined): Pair {
  if (dilation === undefined) return kernel;
  return [(kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1];
}

/** ` dil2` for a square dilation of 2, ` dil2x1` otherwise, nothing without one. */
export function formatDilation(d: Pair | undefined): string {
  if (d === undefined || (d[0] === 1 && d[1] === 1)) return "";
  return d[0] === d[1] ? ` dil${d[0]}` : ` dil${d[0]}x${d[1]}`;
}
