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
import { checkImageSize, createJpegDecoder, imageTensor, ImageInputError, isJpeg, isPng, jpegSize, JPEG_WASM_PATH, normalise, pngSize, type Normalisation, type RgbaImage } from "../image/index.js";

export { ImageInputError as InputError, type Normalisation };

/**
 * Decode `bytes` into an NHWC float32 tensor of `shape` (batch 1). Bytes that
 * start like a JPEG (FF D8 FF) or a PNG (its signature) are decoded as one,
 * whatever their length; any other bytes must be the raw tensor.
 */
export function loadInput(bytes: Uint8Array, shape: Shape, norm: Normalisation): Float32Array {
  const [h, w, c] = shape;
  if (isJpeg(bytes)) return imageTensor(decodeJpeg(bytes), shape, norm);
  if (isPng(bytes)) return imageTensor(decodePng(bytes), shape, norm);
  const size = h * w * c;
  if (bytes.length === size) return normalise(bytes, c, norm);
  if (bytes.length === 4 * size) {
    // Raw float32, little-endian, already normalised.
    const out = new Float32Array(size);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < size; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  throw new ImageInputError(
    `not an input for a ${h}x${w}x${c} network: expected ${size.toLocaleString("en-US")} bytes (uint8 HWC), ${(4 * size).toLocaleString("en-US")} bytes (float32 HWC), a JPEG or a PNG; found ${bytes.length.toLocaleString("en-US")} bytes`,
  );
}

let jpegDecoder: ((bytes: Uint8Array) => RgbaImage) | undefined;

/**
 * JPEG → RGBA, the decoder's WebAssembly read from the installed @jsquash/jpeg
 * package; the size in the frame header is checked against the pixel limit first.
 */
export function decodeJpeg(bytes: Uint8Array): RgbaImage {
  checkImageSize("JPEG", jpegSize(bytes));
  if (jpegDecoder === undefined) {
    const wasm = readFileSync(createRequire(import.meta.url).resolve(JPEG_WASM_PATH));
    jpegDecoder = createJpegDecoder(new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength));
  }
  return jpegDecoder(bytes);
}

/** PNG → RGBA, the size in the IHDR chunk checked against the pixel limit first. */
export function decodePng(bytes: Uint8Array): RgbaImage {
  checkImageSize("PNG", pngSize(bytes));
  try {
    const d = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
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
