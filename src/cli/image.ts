/**
 * Network inputs for `mnc run`: a raw tensor of the network's input size, or a
 * JPEG/PNG photo decoded (JPEG with libjpeg-turbo's arithmetic, as Pillow and
 * TensorFlow decode it) and prepared by the library's image loader (centre
 * square, Pillow-style bilinear resize, (pixel − mean) / std).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { PNG } from "pngjs";
import type { InputNormalisation, Shape } from "../ir/graph.js";
import { createJpegDecoder, imageTensor, ImageInputError, isJpeg, JPEG_WASM_PATH, normalise, type Normalisation, type RgbaImage } from "../image/index.js";

export { ImageInputError as InputError, type Normalisation };

/** Decode `bytes` into an NHWC float32 tensor of `shape` (batch 1). */
export function loadInput(bytes: Uint8Array, shape: Shape, norm: Normalisation): Float32Array {
  const [h, w, c] = shape;
  const size = h * w * c;
  if (bytes.length === size) return normalise(bytes, c, norm);
  if (bytes.length === 4 * size && !isJpeg(bytes) && !isPng(bytes)) {
    // Raw float32, little-endian, already normalised.
    const out = new Float32Array(size);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < size; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  let image: RgbaImage;
  if (isJpeg(bytes)) image = decodeJpeg(bytes);
  else if (isPng(bytes)) image = decodePng(bytes);
  else {
    throw new ImageInputError(
      `not an input for a ${h}x${w}x${c} network: expected ${size.toLocaleString("en-US")} bytes (uint8 HWC), ${(4 * size).toLocaleString("en-US")} bytes (float32 HWC), a JPEG or a PNG; found ${bytes.length.toLocaleString("en-US")} bytes`,
    );
  }
  return imageTensor(image, shape, norm);
}

function isPng(b: Uint8Array): boolean {
  return b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

const MAX_PIXELS = 100_000_000;

let jpegDecoder: ((bytes: Uint8Array) => RgbaImage) | undefined;

/** JPEG → RGBA, the decoder's WebAssembly read from the installed @jsquash/jpeg package. */
export function decodeJpeg(bytes: Uint8Array): RgbaImage {
  if (jpegDecoder === undefined) {
    const wasm = readFileSync(createRequire(import.meta.url).resolve(JPEG_WASM_PATH));
    jpegDecoder = createJpegDecoder(new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength));
  }
  if (bytes.length > 4) {
    // Check the size in the frame header before decoding.
    const dims = jpegSize(bytes);
    if (dims !== undefined && dims.width * dims.height > MAX_PIXELS) throw new ImageInputError(`cannot decode the JPEG: ${dims.width}x${dims.height} is too large`);
  }
  return jpegDecoder(bytes);
}

/** Width and height from the first start-of-frame marker, if one is found. */
function jpegSize(b: Uint8Array): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    const length = (b[i + 2]! << 8) | b[i + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]! };
    }
    i += 2 + length;
  }
  return undefined;
}

function decodePng(bytes: Uint8Array): RgbaImage {
  try {
    const d = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (d.width * d.height > MAX_PIXELS) throw new Error(`${d.width}x${d.height} is too large`);
    return { width: d.width, height: d.height, data: new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.byteLength) };
  } catch (e) {
    throw new ImageInputError(`cannot decode the PNG: ${(e as Error).message}`);
  }
}

/** --mean/--std given on the command line, each overriding the network's declaration. */
export interface NormalisationOverride {
  readonly mean?: number;
  readonly std?: number;
}

/** The normalisation `mnc run` applies: the flags, else the network's `input … mean= std=`, else none. */
export function runNormalisation(declared: InputNormalisation | undefined, flags: NormalisationOverride): Normalisation {
  return { mean: flags.mean ?? declared?.mean ?? 0, std: flags.std ?? declared?.std ?? 1 };
}

/**
 * A warning when the input tensor's values lie far outside what the network's
 * declared normalisation gives a photo, (0 − mean) / std to (255 − mean) / std:
 * raw 0–255 values fed where [-1, 1] is expected, or --mean/--std that do
 * not match the network.
 */
export function normalisationWarning(input: Float32Array, declared: InputNormalisation | undefined): string | undefined {
  if (declared === undefined || input.length === 0) return undefined;
  const lo = (0 - declared.mean) / declared.std;
  const hi = (255 - declared.mean) / declared.std;
  let min = Infinity;
  let max = -Infinity;
  for (const v of input) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const slack = 0.25 * (hi - lo);
  if (min >= lo - slack && max <= hi + slack) return undefined;
  const f = (x: number): string => String(Number(x.toPrecision(4)));
  return `the input's values span [${f(min)}, ${f(max)}], but the network declares mean=${declared.mean} std=${declared.std}, which puts pixels in [${f(lo)}, ${f(hi)}]: is the input normalised for this network?`;
}
