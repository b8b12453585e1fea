/**
 * The images of `mnc quantize --calibrate DIR` / `--eval DIR`: every file of
 * the folder (not its subfolders, nor names starting with '.'), in name
 * order, each read as `mnc run --input` reads one (image.ts: a JPEG or PNG
 * photo, centre-cropped and resized to the network's input, or raw uint8 /
 * float32 HWC of exactly the input's size), and the stored integers a
 * quantized network takes for it.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { isJpeg, isPng } from "../image/index.js";
import type { InputNormalisation, Quantization, Shape } from "../ir/graph.js";
import { quantize } from "../ir/reference-int.js";
import { InputError, loadInput, runNormalisation } from "./image.js";
import { READ_LIMITS, ReadError, readBounded } from "./read.js";

/** One image of a folder, ready for both networks. */
export interface FolderImage {
  readonly path: string;
  /** Normalised as the network declares (the float network's input). */
  readonly float: Float32Array;
  readonly bytes: Uint8Array;
  /** A photo or raw uint8 pixels (not a float32 tensor). */
  readonly pixels: boolean;
}

/** A folder's images, or the message saying why they cannot be used. */
export function readImageFolder(dir: string, flag: string, shape: Shape, declared: InputNormalisation | undefined): FolderImage[] | string {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith(".") && !e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOTDIR" ? `${flag} '${dir}' is a file, not a folder of images` : code === "ENOENT" ? `${flag} '${dir}': no such folder` : `${flag} '${dir}': cannot list the folder (${code ?? String(e)})`;
  }
  if (names.length === 0) return `${flag} '${dir}' holds no images (JPEG, PNG, or raw ${shape.join("x")} uint8 or float32 HWC)`;
  const images: FolderImage[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const bytes = readBounded(path, "input", READ_LIMITS.input);
      images.push({ path, bytes, float: loadInput(bytes, shape, runNormalisation(declared, {})), pixels: !isFloatTensor(bytes, shape) });
    } catch (e) {
      if (e instanceof ReadError) return `cannot read '${path}': ${e.message}`;
      if (e instanceof InputError) return `${path}: ${e.message}`;
      throw e;
    }
  }
  return images;
}

/**
 * The stored integers a quantized network takes for an input file: a photo's
 * pixels or raw uint8 bytes are the stored values of a uint8 input and, less
 * 128, of an int8 one (the input quantization reads the normalisation);
 * raw float32 values are quantized with the input's scale and zero point.
 */
export function storedInput(bytes: Uint8Array, shape: Shape, q: Quantization): Int32Array {
  const values = loadInput(bytes, shape, { mean: 0, std: 1 });
  const float = isFloatTensor(bytes, shape);
  return Int32Array.from(values, (v) => (float ? quantize(v, q) : Math.min(255, Math.max(0, Math.round(v))) - (q.type === "int8" ? 128 : 0)));
}

/** Whether an input file is a raw float32 tensor (not a photo, not uint8 pixels). */
function isFloatTensor(bytes: Uint8Array, shape: Shape): boolean {
  return bytes.length === 4 * shape[0] * shape[1] * shape[2] && !isJpeg(bytes) && !isPng(bytes);
}
