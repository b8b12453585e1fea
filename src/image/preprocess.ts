/**
 * A photo as the network sees it: the largest centred square, resized to the
 * network's input with a bilinear filter that antialiases when it shrinks (as
 * Pillow's `resize(…, BILINEAR)` does), then normalised per channel as
 * (pixel − mean) / std. Pure: RGBA bytes in, an NHWC float32 tensor out.
 */

/** Decoded pixels: RGBA bytes, row by row (a browser's `ImageData` is one). */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint8ClampedArray;
}

/** (pixel − mean) / std; a number applies to every channel, a list gives one per channel. */
export interface Normalisation {
  readonly mean: number | readonly number[];
  readonly std: number | readonly number[];
}

export class ImageInputError extends Error {}

/** Centre-crop, resize to `height`×`width` and normalise: the network input for `channels` (1 or 3). */
export function imageTensor(image: RgbaImage, shape: readonly [number, number, number], norm: Normalisation): Float32Array {
  return normalise(imagePixels(image, shape), shape[2], norm);
}

/** The uint8 HWC pixels before normalisation (`.rgb224`-style): centre square, resized; grey for one channel. */
export function imagePixels(image: RgbaImage, shape: readonly [number, number, number]): Uint8Array {
  const [h, w, c] = shape;
  if (c !== 3 && c !== 1) throw new ImageInputError(`a photo can feed a network with 1 or 3 input channels, not ${c}`);
  if (!(image.width > 0 && image.height > 0) || image.data.length !== image.width * image.height * 4) {
    throw new ImageInputError(`an RGBA image of ${image.width}x${image.height} needs ${image.width * image.height * 4} bytes, not ${image.data.length}`);
  }
  const square = centreCrop(image);
  return resize(square, w, h, c);
}

/** (pixel − mean[channel]) / std[channel] over HWC pixels with `channels` channels. */
export function normalise(pixels: Uint8Array, channels: number, norm: Normalisation): Float32Array {
  const mean = perChannel(norm.mean, channels, "mean");
  const std = perChannel(norm.std, channels, "std");
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i]! - mean[i % channels]!) / std[i % channels]!;
  return out;
}

function perChannel(v: number | readonly number[], channels: number, what: string): readonly number[] {
  if (typeof v === "number") return new Array<number>(channels).fill(v);
  if (v.length === 1) return new Array<number>(channels).fill(v[0]!);
  if (v.length !== channels) throw new ImageInputError(`the ${what} has ${v.length} values for ${channels} channels`);
  return v;
}

/** The largest centred square, as RGB interleaved (HWC, 3 channels). */
function centreCrop(image: RgbaImage): { size: number; rgb: Uint8Array } {
  const size = Math.min(image.width, image.height);
  const left = Math.floor((image.width - size) / 2);
  const top = Math.floor((image.height - size) / 2);
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const src = ((top + y) * image.width + left + x) * 4;
      const dst = (y * size + x) * 3;
      rgb[dst] = image.data[src]!;
      rgb[dst + 1] = image.data[src + 1]!;
      rgb[dst + 2] = image.data[src + 2]!;
    }
  }
  return { size, rgb };
}

/**
 * Separable triangle-filter resampling, horizontal pass then vertical, as
 * Pillow's `ImagingResample` does it: the filter widens by the scale factor
 * when shrinking, so every source pixel contributes (antialiasing); the
 * weights are normalised, then fixed to 22 fractional bits, and each pass
 * rounds to 8 bits — the same integers, so the same pixels.
 */
function resize(src: { size: number; rgb: Uint8Array }, outW: number, outH: number, channels: number): Uint8Array {
  const horizontal = pass(src.rgb, src.size, src.size, outW, "x");
  const both = pass(horizontal, outW, src.size, outH, "y");
  if (channels === 3) return both;
  const grey = new Uint8Array(outW * outH);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(0.299 * both[3 * i]! + 0.587 * both[3 * i + 1]! + 0.114 * both[3 * i + 2]!);
  return grey;
}

const PRECISION_BITS = 32 - 8 - 2;

function pass(data: Uint8Array, width: number, height: number, outSize: number, axis: "x" | "y"): Uint8Array {
  const inSize = axis === "x" ? width : height;
  const outW = axis === "x" ? outSize : width;
  const outH = axis === "x" ? height : outSize;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1
  const taps: { start: number; weights: number[] }[] = [];
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const start = Math.max(0, Math.trunc(centre - support + 0.5));
    const end = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const weights: number[] = [];
    let total = 0;
    for (let i = start; i < end; i++) {
      const w = Math.max(0, 1 - Math.abs((i - centre + 0.5) / filterScale));
      weights.push(w);
      total += w;
    }
    const fixed = weights.map((w) => {
      const k = total === 0 ? w : w / total;
      return k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    });
    taps.push({ start, weights: fixed });
  }
  const half = 1 << (PRECISION_BITS - 1);
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const t = taps[axis === "x" ? x : y]!;
      for (let ch = 0; ch < 3; ch++) {
        let sum = half;
        for (let k = 0; k < t.weights.length; k++) {
          const sx = axis === "x" ? t.start + k : x;
          const sy = axis === "x" ? y : t.start + k;
          sum += t.weights[k]! * data[(sy * width + sx) * 3 + ch]!;
        }
        out[(y * outW + x) * 3 + ch] = sum <= 0 ? 0 : sum >= 256 * (1 << PRECISION_BITS) ? 255 : Math.floor(sum / (1 << PRECISION_BITS));
      }
    }
  }
  return out;
}
