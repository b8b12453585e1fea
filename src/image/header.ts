/**
 * Image dimensions from the headers alone (PNG's IHDR, JPEG's start-of-frame
 * marker), read with every offset bounds-checked, so an image declaring more
 * pixels than the limit is refused before any pixel is decoded or any memory
 * is allocated for them (a decompression bomb: a few hundred bytes that claim
 * 25000×25000 pixels).
 */
import { ImageInputError } from "./preprocess.js";

/** The most pixels (width × height) a photo may declare: 50 megapixels, 200 MB as RGBA. */
export const MAX_IMAGE_PIXELS = 50_000_000;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The bytes start with the PNG signature. */
export function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v);
}

export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

/** Width and height from a PNG's IHDR chunk, which must come first. */
export function pngSize(b: Uint8Array): ImageSize {
  // signature (8), length (4), "IHDR" (4), width (4), height (4)
  if (b.length < 24 || b[12] !== 0x49 || b[13] !== 0x48 || b[14] !== 0x44 || b[15] !== 0x52) {
    throw new ImageInputError("cannot decode the PNG: it does not start with an IHDR chunk");
  }
  return { width: u32(b, 16), height: u32(b, 20) };
}

/**
 * Width and height from a JPEG's first start-of-frame marker. Markers are
 * found as libjpeg finds them (bytes other than 0xFF between segments are
 * skipped, fill bytes 0xFF are ignored), so the frame it would decode is the
 * one measured; a file with no frame header before its scan is refused.
 */
export function jpegSize(b: Uint8Array): ImageSize {
  let i = 2;
  for (;;) {
    while (i < b.length && b[i] !== 0xff) i++;
    while (i < b.length && b[i] === 0xff) i++;
    if (i >= b.length) break;
    const marker = b[i++]!;
    // Markers without a segment: TEM, RST0–7, SOI, EOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) continue;
    if (marker === 0xda) break; // start of scan, with no frame header before it
    if (i + 2 > b.length) break;
    const length = (b[i]! << 8) | b[i + 1]!;
    if (isStartOfFrame(marker)) {
      if (i + 7 > b.length) break;
      return { height: (b[i + 3]! << 8) | b[i + 4]!, width: (b[i + 5]! << 8) | b[i + 6]! };
    }
    if (length < 2) break;
    i += length;
  }
  throw new ImageInputError("cannot decode the JPEG: no frame header (SOF marker) before the image data");
}

/** SOF0–SOF15, leaving out DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/** Refuses an image whose declared size is empty or over MAX_IMAGE_PIXELS, before it is decoded. */
export function checkImageSize(format: "JPEG" | "PNG", size: ImageSize): void {
  const { width, height } = size;
  const pixels = width * height;
  if (pixels === 0) throw new ImageInputError(`cannot decode the ${format}: it declares ${width}x${height} pixels`);
  if (pixels > MAX_IMAGE_PIXELS) {
    throw new ImageInputError(
      `the ${format} declares ${width}x${height} pixels (${pixels.toLocaleString("en-US")}), over the limit of ${MAX_IMAGE_PIXELS.toLocaleString("en-US")} pixels`,
    );
  }
}
