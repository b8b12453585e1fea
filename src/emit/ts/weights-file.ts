/**
 * The weights file of a generated module (`OUT.weights.bin`), and the packer
 * that lays the weights out for the kernels.
 *
 *   offset  size  field
 *   0       4     magic "MNCW"
 *   4       4     format version, u32 LE (2)
 *   8       4     layout fingerprint, u32 LE: FNV-1a of the packing layout
 *   12      4     float count F, u32 LE
 *   16      4·F   the packed weights, float32 LE: the WebAssembly kernels' weights region
 *                 (src/emit/wasm), which the TypeScript kernels unpack (src/emit/ts/wasm.ts)
 *
 * The module refuses a file whose magic, version, fingerprint or size differ
 * from its own, so a weights file from another network (or another mnc
 * packing) cannot be loaded by mistake. Tensors are aligned to 16 floats
 * (64 bytes, a cache line) within the module's memory.
 */
import { InternalError } from "../../ir/diagnostics.js";

export const MAGIC = 0x57434e4d; // "MNCW" read as u32 LE
export const FORMAT_VERSION = 2;
export const HEADER_BYTES = 16;
/** Alignment of each tensor, in floats. */
export const ALIGN = 16;

export function alignUp(n: number, to = ALIGN): number {
  return Math.ceil(n / to) * to;
}

export interface PackedTensor {
  readonly what: string;
  /** Offset in the module's memory. */
  readonly offset: number;
  readonly length: number;
  /** A GEMM kernel's panel width (floats per row of a panel), when the tensor is one. */
  readonly panel?: number;
}

/**
 * Places the TypeScript kernels' packed tensors at aligned offsets from `base` (the weights region of
 * their memory). Their values come from the weights file at run time (see wasm.ts).
 */
export class WeightPacker {
  readonly tensors: PackedTensor[] = [];
  private end = 0;

  constructor(readonly base: number) {
    if (base % ALIGN !== 0) throw new InternalError(`emit ts: the weights region at ${base} is not aligned`);
  }

  add(length: number, what: string, panel?: number): number {
    const at = alignUp(this.end);
    this.end = at + length;
    this.tensors.push({ what, offset: this.base + at, length, ...(panel === undefined ? {} : { panel }) });
    return this.base + at;
  }

  /** Floats in the region (the last tensor's end, aligned). */
  get length(): number {
    return alignUp(this.end);
  }
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Header + little-endian floats. */
export function encodeWeights(floats: Float32Array, fingerprint: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + floats.length * 4);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setUint32(8, fingerprint, true);
  view.setUint32(12, floats.length, true);
  for (let i = 0; i < floats.length; i++) view.setFloat32(HEADER_BYTES + 4 * i, floats[i]!, true);
  return bytes;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding (no Buffer, no btoa: the compiler core runs in a browser too). */
export function base64(bytes: Uint8Array): string {
  const codes = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  const alphabet = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
  let o = 0;
  for (let i = 0; i < bytes.length; i += 3) {
    const rest = bytes.length - i;
    const n = (bytes[i]! << 16) | ((rest > 1 ? bytes[i + 1]! : 0) << 8) | (rest > 2 ? bytes[i + 2]! : 0);
    codes[o++] = alphabet[(n >> 18) & 63]!;
    codes[o++] = alphabet[(n >> 12) & 63]!;
    codes[o++] = rest > 1 ? alphabet[(n >> 6) & 63]! : 61; // "="
    codes[o++] = rest > 2 ? alphabet[n & 63]! : 61;
  }
  const parts: string[] = [];
  for (let i = 0; i < codes.length; i += 8192) parts.push(String.fromCharCode(...codes.subarray(i, i + 8192)));
  return parts.join("");
}
