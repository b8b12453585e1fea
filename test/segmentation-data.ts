/**
 * The shared segmentation data (../shared/data/deeplabv3_mobilenet_v2 and
 * selfie_segmentation_v3) as the real-model tests of every target read it:
 * the photos' raw network inputs, float32 ground-truth files, 8-bit masks.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { expect } from "vitest";
import type { Graph } from "../src/ir/graph.js";
import { shared } from "./helpers.js";

export const DEEPLAB_DATA = join(shared, "data", "deeplabv3_mobilenet_v2");
export const SELFIE_DATA = join(shared, "data", "selfie_segmentation_v3");

/** The photos both folders have, each as `images/<name>.rgb257` / `.rgb256` and ground truth. */
export const PHOTOS = ["segmentation_input", "grace_hopper", "burger", "pizza", "basketball", "cat", "mountain"] as const;

/** A float32 little-endian file. */
export function float32File(path: string): Float32Array {
  const b = readFileSync(path);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Float32Array.from({ length: b.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/** An 8-bit grayscale PNG's pixels (its first channel as pngjs decodes it to RGBA). */
export function grayPng(path: string): Uint8Array {
  const png = PNG.sync.read(readFileSync(path));
  return Uint8Array.from({ length: png.width * png.height }, (_, i) => png.data[4 * i]!);
}

/** Every photo's raw HWC bytes (`images/<name>.<extension>`), normalised as the network's input declares, one batch item after another. */
export function photoBatch(graph: Graph, folder: string, extension: string): Float32Array {
  const input = graph.nodes[0]!;
  if (input.op !== "input" || input.attrs.normalisation === undefined || input.shape === undefined) throw new Error("the network declares no normalisation");
  const { mean, std } = input.attrs.normalisation;
  const size = input.shape[0] * input.shape[1] * input.shape[2];
  const x = new Float32Array(PHOTOS.length * size);
  PHOTOS.forEach((name, i) => {
    const px = readFileSync(join(folder, "images", `${name}.${extension}`));
    expect(px.length).toBe(size);
    for (let j = 0; j < size; j++) x[i * size + j] = (px[j]! - mean) / std;
  });
  return x;
}

/** The largest |a − b| over two arrays of one length (a NaN anywhere counts as Infinity). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(m) ? Infinity : m;
}

/** The index of the first largest of each pixel's `channels` values, for `pixels` pixels from `offset`. */
export function argmaxes(x: ArrayLike<number>, channels: number, offset = 0, pixels = (x.length - offset) / channels): Uint8Array {
  const out = new Uint8Array(pixels);
  for (let p = 0; p < pixels; p++) {
    const at = offset + p * channels;
    let best = 0;
    for (let c = 1; c < channels; c++) if (x[at + c]! > x[at + best]!) best = c;
    out[p] = best;
  }
  return out;
}
