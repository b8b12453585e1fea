/**
 * Network inputs for `mnc run`: a raw tensor of the network's input size, or a
 * JPEG/PNG photo decoded, centre-cropped to a square, resized to the input with
 * a bilinear filter that antialiases when it shrinks (as Pillow's
 * `resize(…, BILINEAR)` does), and normalised as (pixel − mean) / std.
 */
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import type { Shape } from "../ir/graph.js";

export class InputError extends Error {}

export interface Normalisation {
  readonly mean: number;
  readonly std: number;
}

/** Decode `bytes` into an NHWC float32 tensor of `shape` (batch 1). */
export function loadInput(bytes: Uint8Array, shape: Shape, norm: Normalisation): Float32Array {
  const [h, w, c] = shape;
  const size = h * w * c;
  if (bytes.length === size) return normalise(bytes, norm);
  if (bytes.length === 4 * size && !isJpeg(bytes) && !isPng(bytes)) {
    // Raw float32, little-endian, already normalised.
    const out = new Float32Array(size);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < size; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  let image: { width: number; height: number; rgba: Uint8Array };
  if (isJpeg(bytes)) image = decodeJpeg(bytes);
  else if (isPng(bytes)) image = decodePng(bytes);
  else {
    throw new InputError(
      `not an input for a ${h}x${w}x${c} network: expected ${size.toLocaleString("en-US")} bytes (uint8 HWC), ${(4 * size).toLocaleString("en-US")} bytes (float32 HWC), a JPEG or a PNG; found ${bytes.length.toLocaleString("en-US")} bytes`,
    );
  }
  if (c !== 3 && c !== 1) throw new InputError(`a photo can feed a network with 1 or 3 input channels, not ${c}`);
  const square = centreCrop(image);
  return normalise(resize(square, w, h, c), norm);
}

function isJpeg(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

function isPng(b: Uint8Array): boolean {
  return b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

const MAX_PIXELS = 100_000_000;

function decodeJpeg(bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  try {
    const d = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
    return { width: d.width, height: d.height, rgba: d.data };
  } catch (e) {
    throw new InputError(`cannot decode the JPEG: ${(e as Error).message}`);
  }
}

function decodePng(bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  try {
    const d = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (d.width * d.height > MAX_PIXELS) throw new Error(`${d.width}x${d.height} is too large`);
    return { width: d.width, height: d.height, rgba: new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.byteLength) };
  } catch (e) {
    throw new InputError(`cannot decode the PNG: ${(e as Error).message}`);
  }
}

/** The largest centred square, as RGB planes interleaved (HWC, 3 channels). */
function centreCrop(image: { width: number; height: number; rgba: Uint8Array }): { size: number; rgb: Uint8Array } {
  const size = Math.min(image.width, image.height);
  const left = Math.floor((image.width - size) / 2);
  const top = Math.floor((image.height - size) / 2);
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const src = ((top + y) * image.width + left + x) * 4;
      const dst = (y * size + x) * 3;
      rgb[dst] = image.rgba[src]!;
      rgb[dst + 1] = image.rgba[src + 1]!;
      rgb[dst + 2] = image.rgba[src + 2]!;
    }
  }
  return { size, rgb };
}

/**
 * Separable triangle-filter resampling, horizontal pass then vertical, each
 * rounded to 8 bits like Pillow's; the filter widens by the scale factor when
 * shrinking, so every source pixel contributes (antialiasing).
 */
function resize(src: { size: number; rgb: Uint8Array }, outW: number, outH: number, channels: number): Uint8Array {
  const horizontal = pass(src.rgb, src.size, src.size, outW, "x");
  const both = pass(horizontal, outW, src.size, outH, "y");
  if (channels === 3) return both;
  const grey = new Uint8Array(outW * outH);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(0.299 * both[3 * i]! + 0.587 * both[3 * i + 1]! + 0.114 * both[3 * i + 2]!);
  return grey;
}

function pass(data: Uint8Array, width: number, height: number, outSize: number, axis: "x" | "y"): Uint8Array {
  const inSize = axis === "x" ? width : height;
  const outW = axis === "x" ? outSize : width;
  const outH = axis === "x" ? height : outSize;
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const taps: { start: number; weights: number[] }[] = [];
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const start = Math.max(0, Math.floor(centre - support));
    const end = Math.min(inSize, Math.ceil(centre + support));
    const weights: number[] = [];
    let total = 0;
    for (let i = start; i < end; i++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - centre) / support));
      weights.push(w);
      total += w;
    }
    taps.push({ start, weights: weights.map((w) => w / total) });
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const t = taps[axis === "x" ? x : y]!;
      for (let ch = 0; ch < 3; ch++) {
        let sum = 0;
        for (let k = 0; k < t.weights.length; k++) {
          const sx = axis === "x" ? t.start + k : x;
          const sy = axis === "x" ? y : t.start + k;
          sum += t.weights[k]! * data[(sy * width + sx) * 3 + ch]!;
        }
        out[(y * outW + x) * 3 + ch] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return out;
}

function normalise(pixels: Uint8Array, { mean, std }: Normalisation): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i]! - mean) / std;
  return out;
}
