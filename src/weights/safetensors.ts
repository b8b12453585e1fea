/**
 * The safetensors weight format (Hugging Face): a reader that treats its input
 * as hostile and a writer whose output depends only on its input.
 *
 * Layout of a file:
 *
 *   bytes 0..8      N, the header length, an unsigned 64-bit little-endian integer
 *   bytes 8..8+N    the header, UTF-8 JSON: an object mapping each tensor name to
 *                   {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}
 *                   plus an optional "__metadata__" object of string → string.
 *                   It starts with '{' and may be padded at the end with spaces.
 *   bytes 8+N..     the byte buffer; offsets are relative to its start, `end` is
 *                   one past the last byte. The tensors must cover it exactly:
 *                   no overlaps, no holes, nothing after the last tensor.
 *
 * Values are little-endian and row-major. mnc reads F32, F64, F16 and BF16
 * tensors (converted to float32) and writes F32 only.
 *
 * The reader parses the header with its own small JSON parser, because
 * JSON.parse silently keeps the last of two equal keys and cannot tell `1` from
 * `1.0`; the format forbids the first and offsets must be plain integers.
 */
import { WeightFileError } from "./errors.js";
import type { RawTensor } from "./types.js";

/** What a safetensors file holds. */
export interface SafetensorsFile {
  /** The tensors, in the order of their data in the byte buffer. */
  readonly tensors: readonly RawTensor[];
  /** The `__metadata__` strings; empty when the file has none. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The largest header accepted, as in the reference implementation: parsing a larger JSON text is a denial of service. */
const MAX_HEADER_BYTES = 100_000_000;
/** Nesting deeper than this is never needed by a valid header (object → entry → shape is 3). */
const MAX_DEPTH = 64;
const METADATA_KEY = "__metadata__";

/** Element size in bits of every dtype the format defines. */
const DTYPE_BITS: ReadonlyMap<string, number> = new Map([
  ["BOOL", 8],
  ["F4", 4],
  ["F6_E2M3", 6],
  ["F6_E3M2", 6],
  ["U8", 8],
  ["I8", 8],
  ["F8_E5M2", 8],
  ["F8_E4M3", 8],
  ["F8_E8M0", 8],
  ["I16", 16],
  ["U16", 16],
  ["F16", 16],
  ["BF16", 16],
  ["I32", 32],
  ["U32", 32],
  ["F32", 32],
  ["C64", 64],
  ["F64", 64],
  ["I64", 64],
  ["U64", 64],
]);

type FloatDtype = "F32" | "F64" | "F16" | "BF16";
const FLOAT_BYTES: Readonly<Record<FloatDtype, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

function isFloatDtype(d: string): d is FloatDtype {
  return d === "F32" || d === "F64" || d === "F16" || d === "BF16";
}

// ---------------------------------------------------------------------------
// Sniffing
// ---------------------------------------------------------------------------

/**
 * Whether `bytes` looks like a safetensors file: a header length that fits in
 * the file and under the limit, and a header that starts with '{'. Cheap; it
 * does not parse the header.
 */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = headerLength(bytes);
  return n !== undefined && n >= 2 && n <= MAX_HEADER_BYTES && 8 + n <= bytes.length && bytes[8] === 0x7b;
}

/** The header length, or undefined when it is ≥ 2^32 (its high 32 bits are not 0). */
function headerLength(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  if (view.getUint32(4, true) !== 0) return undefined;
  return view.getUint32(0, true);
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/** A parsed JSON value, with the index in the header text where it starts. */
type Json =
  | { readonly kind: "object"; readonly pos: number; readonly members: ReadonlyMap<string, Json> }
  | { readonly kind: "array"; readonly pos: number; readonly items: readonly Json[] }
  | { readonly kind: "string"; readonly pos: number; readonly value: string }
  | { readonly kind: "number"; readonly pos: number; readonly raw: string }
  | { readonly kind: "literal"; readonly pos: number; readonly raw: "true" | "false" | "null" };

/** A JSON problem at index `pos` of the header text. */
class JsonError {
  constructor(
    readonly message: string,
    readonly pos: number,
  ) {}
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const PLAIN_STRING_RUN = /[^"\\\u0000-\u001f]*/y;

/**
 * A strict RFC 8259 parser: no duplicate keys in an object, no lone
 * surrogates in strings (serde_json, the reference parser, rejects both), and
 * bounded nesting so that no input can exhaust the stack.
 */
class JsonParser {
  private i = 0;

  constructor(private readonly text: string) {}

  parseDocument(): Json {
    this.skipSpace();
    const value = this.value(0);
    this.skipSpace();
    if (this.i < this.text.length) throw new JsonError(`unexpected ${this.describe()} after the end of the JSON object`, this.i);
    return value;
  }

  private describe(): string {
    if (this.i >= this.text.length) return "end of header";
    const c = this.text.codePointAt(this.i) ?? 0;
    return c >= 0x20 && c < 0x7f ? `'${String.fromCodePoint(c)}'` : `character U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.i < t.length) {
      const c = t.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.i++;
    }
  }

  private value(depth: number): Json {
    if (depth > MAX_DEPTH) throw new JsonError(`JSON nested more than ${MAX_DEPTH} levels deep`, this.i);
    const pos = this.i;
    const c = this.text.charCodeAt(this.i);
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x22) return { kind: "string", pos, value: this.string() };
    for (const raw of ["true", "false", "null"] as const) {
      if (this.text.startsWith(raw, this.i)) {
        this.i += raw.length;
        return { kind: "literal", pos, raw };
      }
    }
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (m !== null && m[0].length > 0) {
      this.i += m[0].length;
      return { kind: "number", pos, raw: m[0] };
    }
    throw new JsonError(`expected a JSON value, found ${this.describe()}`, pos);
  }

  private object(depth: number): Json {
    const pos = this.i;
    this.i++; // {
    const members = new Map<string, Json>();
    this.skipSpace();
    if (this.text.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return { kind: "object", pos, members };
    }
    for (;;) {
      this.skipSpace();
      if (this.text.charCodeAt(this.i) !== 0x22) throw new JsonError(`expected a string key, found ${this.describe()}`, this.i);
      const keyPos = this.i;
      const key = this.string();
      if (members.has(key)) throw new JsonError(`duplicate key ${JSON.stringify(key)} (the format does not allow duplicate keys)`, keyPos);
      this.skipSpace();
      if (this.text.charCodeAt(this.i) !== 0x3a) throw new JsonError(`expected ':' after key ${JSON.stringify(key)}, found ${this.describe()}`, this.i);
      this.i++;
      this.skipSpace();
      members.set(key, this.value(depth + 1));
      this.skipSpace();
      const c = this.text.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x7d) {
        this.i++;
        return { kind: "object", pos, members };
      }
      throw new JsonError(`expected ',' or '}' in an object, found ${this.describe()}`, this.i);
    }
  }

  private array(depth: number): Json {
    const pos = this.i;
    this.i++; // [
    const items: Json[] = [];
    this.skipSpace();
    if (this.text.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return { kind: "array", pos, items };
    }
    for (;;) {
      this.skipSpace();
      items.push(this.value(depth + 1));
      this.skipSpace();
      const c = this.text.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x5d) {
        this.i++;
        return { kind: "array", pos, items };
      }
      throw new JsonError(`expected ',' or ']' in an array, found ${this.describe()}`, this.i);
    }
  }

  /** A string starting at the current '"'. */
  private string(): string {
    const t = this.text;
    const start = this.i;
    this.i++; // "
    let out = "";
    for (;;) {
      PLAIN_STRING_RUN.lastIndex = this.i;
      const run = PLAIN_STRING_RUN.exec(t);
      const len = run === null ? 0 : run[0].length;
      out += t.slice(this.i, this.i + len);
      this.i += len;
      if (this.i >= t.length) throw new JsonError("unterminated string", start);
      const c = t.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        break;
      }
      if (c < 0x20) throw new JsonError(`unescaped control character U+${c.toString(16).toUpperCase().padStart(4, "0")} in a string`, this.i);
      // A backslash.
      const e = t.charCodeAt(this.i + 1);
      const simple = ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        this.i += 2;
      } else if (e === 0x75 /* u */) {
        const hex = t.slice(this.i + 2, this.i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonError("invalid \\u escape in a string", this.i);
        out += String.fromCharCode(parseInt(hex, 16));
        this.i += 6;
      } else {
        throw new JsonError("invalid escape in a string", this.i);
      }
    }
    if (!isWellFormed(out)) throw new JsonError("string contains a lone UTF-16 surrogate escape", start);
    return out;
  }
}

const ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x22, '"'],
  [0x5c, "\\"],
  [0x2f, "/"],
  [0x62, "\b"],
  [0x66, "\f"],
  [0x6e, "\n"],
  [0x72, "\r"],
  [0x74, "\t"],
]);

/** Whether `s` has no unpaired UTF-16 surrogate (String.prototype.isWellFormed, which ES2022 lacks). */
function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c >= 0xdc00) return false;
    const d = s.charCodeAt(i + 1);
    if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
    i++;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

interface Entry {
  readonly name: string;
  readonly dtype: FloatDtype;
  readonly shape: readonly number[];
  readonly numel: number;
  readonly begin: number;
  readonly end: number;
  /** Index of the entry in the header text, for messages. */
  readonly pos: number;
}

/**
 * Reads a safetensors file. Throws WeightFileError, and nothing else, for any
 * file that does not follow the format or holds a dtype other than F32, F64,
 * F16 and BF16. Allocates no more than the tensors' float32 data, which the
 * file's own size bounds.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) throw new WeightFileError(`not a safetensors file: ${bytes.length} bytes, too short to hold the 8-byte header length`, 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = view.getUint32(4, true);
  const n = view.getUint32(0, true);
  if (high !== 0 || n > MAX_HEADER_BYTES) {
    const shown = (BigInt(high) << 32n) | BigInt(n);
    throw new WeightFileError(`header length ${shown} is larger than the ${MAX_HEADER_BYTES}-byte limit`, 0);
  }
  if (8 + n > bytes.length) throw new WeightFileError(`header length ${n} runs past the end of the file (${bytes.length} bytes, so at most ${bytes.length - 8} bytes of header)`, 0);
  if (n === 0) throw new WeightFileError("header is empty (length 0); it must be a JSON object", 0);
  const first = bytes[8] ?? 0;
  if (first !== 0x7b) {
    const shown = first >= 0x20 && first < 0x7f ? `'${String.fromCharCode(first)}'` : `byte 0x${first.toString(16).padStart(2, "0")}`;
    throw new WeightFileError(`header must be a JSON object starting with '{', but starts with ${shown}`, 8);
  }

  const headerBytes = bytes.subarray(8, 8 + n);
  const bad = invalidUtf8At(headerBytes);
  if (bad >= 0) throw new WeightFileError(`header is not valid UTF-8 (byte 0x${(headerBytes[bad] ?? 0).toString(16).padStart(2, "0")} at header byte ${bad})`, 8 + bad);
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(headerBytes);
  // Only called for an error message: the file offset of index `pos` of the text.
  const fileOffset = (pos: number): number => 8 + new TextEncoder().encode(text.slice(0, pos)).length;

  let root: Json;
  try {
    root = new JsonParser(text).parseDocument();
  } catch (e) {
    if (e instanceof JsonError) throw new WeightFileError(`header is not valid JSON: ${e.message}`, fileOffset(e.pos));
    throw e;
  }
  if (root.kind !== "object") throw new WeightFileError(`header must be a JSON object, not ${describeKind(root)}`, 8);

  const bufferStart = 8 + n;
  const bufferLength = bytes.length - bufferStart;
  let metadata: Readonly<Record<string, string>> = Object.freeze({});
  const entries: Entry[] = [];
  for (const [name, value] of root.members) {
    if (name === METADATA_KEY) metadata = readMetadata(value, fileOffset);
    else entries.push(readEntry(name, value, bufferLength, fileOffset));
  }

  // Data order; among equal begins the empty tensors first, then header order.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of entries) {
    if (e.begin < covered) {
      throw new WeightFileError(`tensor ${quote(e.name)} data_offsets [${e.begin}, ${e.end}] overlap tensor ${quote(previous?.name ?? "")} which ends at ${covered}`, fileOffset(e.pos));
    }
    if (e.begin > covered) {
      throw new WeightFileError(`hole in the byte buffer: bytes ${covered}..${e.begin} belong to no tensor (the format does not allow holes)`, bufferStart + covered);
    }
    covered = e.end;
    previous = e;
  }
  if (covered !== bufferLength) {
    throw new WeightFileError(`${bufferLength - covered} trailing bytes after the last tensor: the tensors cover ${covered} of the ${bufferLength}-byte buffer`, bufferStart + covered);
  }

  const tensors = entries.map((e): RawTensor => Object.freeze({ name: e.name, shape: Object.freeze([...e.shape]), data: decode(bytes, bufferStart + e.begin, e) }));
  return Object.freeze({ tensors: Object.freeze(tensors), metadata });
}

function describeKind(v: Json): string {
  switch (v.kind) {
    case "object":
      return "an object";
    case "array":
      return "an array";
    case "string":
      return "a string";
    case "number":
      return `the number ${v.raw}`;
    case "literal":
      return v.raw;
  }
}

function quote(s: string): string {
  return JSON.stringify(s);
}

function readMetadata(value: Json, fileOffset: (pos: number) => number): Readonly<Record<string, string>> {
  if (value.kind !== "object") throw new WeightFileError(`"__metadata__" must be an object of strings, not ${describeKind(value)}`, fileOffset(value.pos));
  const pairs: [string, string][] = [];
  for (const [k, v] of value.members) {
    if (v.kind !== "string") throw new WeightFileError(`"__metadata__" value for ${quote(k)} must be a string, not ${describeKind(v)}`, fileOffset(v.pos));
    pairs.push([k, v.value]);
  }
  // fromEntries defines own properties, so a "__proto__" key is just a key.
  return Object.freeze(Object.fromEntries(pairs));
}

/** A non-negative integer written as plain digits that a double holds exactly, or undefined. */
function plainInteger(v: Json): number | undefined {
  if (v.kind !== "number" || !/^(?:0|[1-9][0-9]*)$/.test(v.raw)) return undefined;
  const x = Number(v.raw);
  return Number.isSafeInteger(x) ? x : undefined;
}

function readEntry(name: string, value: Json, bufferLength: number, fileOffset: (pos: number) => number): Entry {
  const fail = (what: string): never => {
    throw new WeightFileError(`tensor ${quote(name)}: ${what}`, fileOffset(value.pos));
  };
  if (name === "") fail("empty tensor name");
  if (value.kind !== "object") return fail(`entry must be an object, not ${describeKind(value)}`);

  const dtypeJson = value.members.get("dtype");
  const shapeJson = value.members.get("shape");
  const offsetsJson = value.members.get("data_offsets");
  if (dtypeJson === undefined) return fail(`missing "dtype"`);
  if (shapeJson === undefined) return fail(`missing "shape"`);
  if (offsetsJson === undefined) return fail(`missing "data_offsets"`);

  if (dtypeJson.kind !== "string") return fail(`"dtype" must be a string, not ${describeKind(dtypeJson)}`);
  const dtype = dtypeJson.value;
  if (!DTYPE_BITS.has(dtype)) return fail(`unknown dtype ${quote(dtype)}`);
  if (!isFloatDtype(dtype)) return fail(`dtype ${dtype} is not supported for weights (mnc reads F32, F64, F16 and BF16)`);

  if (shapeJson.kind !== "array") return fail(`"shape" must be an array of non-negative integers, not ${describeKind(shapeJson)}`);
  const shape: number[] = [];
  for (const d of shapeJson.items) {
    const x = plainInteger(d);
    if (x === undefined) return fail(`"shape" must hold non-negative integers, but has ${d.kind === "number" ? d.raw : describeKind(d)}`);
    shape.push(x);
  }

  if (offsetsJson.kind !== "array" || offsetsJson.items.length !== 2) {
    return fail(`"data_offsets" must be an array of two non-negative integers [begin, end], not ${offsetsJson.kind === "array" ? `an array of ${offsetsJson.items.length}` : describeKind(offsetsJson)}`);
  }
  const [bJson, eJson] = offsetsJson.items as [Json, Json];
  const begin = plainInteger(bJson);
  const end = plainInteger(eJson);
  if (begin === undefined || end === undefined) {
    const bad = begin === undefined ? bJson : eJson;
    return fail(`"data_offsets" must hold non-negative integers, but has ${bad.kind === "number" ? bad.raw : describeKind(bad)}`);
  }
  if (begin > end) return fail(`data_offsets [${begin}, ${end}] begin after they end`);
  if (end > bufferLength) return fail(`data_offsets [${begin}, ${end}] run past the end of the ${bufferLength}-byte buffer`);

  // Element count, stopping as soon as it cannot fit in the buffer (no overflow).
  const elementBytes = FLOAT_BYTES[dtype];
  const shown = `[${shape.join(", ")}]`;
  let numel = 1;
  if (shape.includes(0)) numel = 0;
  else {
    for (const d of shape) {
      numel *= d;
      if (numel * elementBytes > bufferLength) return fail(`shape ${shown} of ${dtype} needs more bytes than the ${bufferLength}-byte buffer holds`);
    }
  }
  const size = numel * elementBytes;
  if (size !== end - begin) return fail(`shape ${shown} of ${dtype} needs ${size} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
  return { name, dtype, shape, numel, begin, end, pos: value.pos };
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The tensor's values as a fresh float32 array; every bit pattern of F32, F16 and BF16 is kept, NaN payloads included. */
function decode(bytes: Uint8Array, start: number, e: Entry): Float32Array {
  const out = new Float32Array(e.numel);
  if (e.numel === 0) return out;
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, e.end - e.begin);
  const bits = new Uint32Array(out.buffer);
  switch (e.dtype) {
    case "F32":
      if (littleEndianHost) new Uint8Array(out.buffer).set(bytes.subarray(start, start + 4 * e.numel));
      else for (let i = 0; i < e.numel; i++) bits[i] = view.getUint32(4 * i, true);
      break;
    case "F64":
      for (let i = 0; i < e.numel; i++) out[i] = view.getFloat64(8 * i, true); // rounds to nearest float32
      break;
    case "F16":
      for (let i = 0; i < e.numel; i++) bits[i] = halfToFloatBits(view.getUint16(2 * i, true));
      break;
    case "BF16":
      for (let i = 0; i < e.numel; i++) bits[i] = (view.getUint16(2 * i, true) << 16) >>> 0;
      break;
  }
  return out;
}

/** IEEE 754 binary16 bits → the binary32 bits of the same value (exact: every half is a float). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // ±Inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // 112 = 127 − 15
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal: value = mant × 2^−24; normalise so the leading 1 is implicit.
  let e = 113; // exponent of 2^−14 in binary32, before the shifts below
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/**
 * Index of the first byte of `b` that does not start a well-formed UTF-8
 * sequence (Unicode's definition: no overlong forms, no surrogates, nothing
 * above U+10FFFF), or -1 when all of `b` is well formed.
 */
function invalidUtf8At(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + need >= b.length) return i;
    const second = b[i + 1] as number;
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= need; k++) {
      const x = b[i + k] as number;
      if (x < 0x80 || x > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/**
 * Writes F32 tensors as a safetensors file. The bytes depend only on the
 * arguments: tensors are laid out in the order given, the header lists
 * "__metadata__" first (keys sorted, omitted when there are none) and then the
 * tensors in order, with fixed key order inside each, and is padded with
 * spaces so that the byte buffer starts at a multiple of 8.
 *
 * Throws Error (a programming error, not a file error) for an empty,
 * duplicate or reserved tensor name, a string that is not well-formed
 * Unicode, a shape that is not a list of non-negative integers, or data whose
 * length differs from the shape's element count.
 */
export function writeSafetensors(tensors: readonly RawTensor[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort();
    for (const k of keys) {
      const v: unknown = metadata[k];
      if (typeof v !== "string") throw new Error(`safetensors metadata value for ${quote(k)} must be a string`);
      if (!isWellFormed(k) || !isWellFormed(v)) throw new Error(`safetensors metadata ${quote(k)} contains a lone UTF-16 surrogate`);
    }
    if (keys.length > 0) parts.push(`${quote(METADATA_KEY)}:{${keys.map((k) => `${quote(k)}:${quote(metadata[k] as string)}`).join(",")}}`);
  }

  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    const name: unknown = t.name;
    if (typeof name !== "string" || name === "") throw new Error("safetensors tensor name must be a non-empty string");
    if (name === METADATA_KEY) throw new Error(`safetensors tensor name ${quote(name)} is reserved for metadata`);
    if (!isWellFormed(name)) throw new Error(`safetensors tensor name ${quote(name)} contains a lone UTF-16 surrogate`);
    if (seen.has(name)) throw new Error(`duplicate safetensors tensor name ${quote(name)}`);
    seen.add(name);
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new Error(`tensor ${quote(name)}: shape [${t.shape.join(", ")}] must hold non-negative integers`);
      numel *= d;
    }
    if (Object.prototype.toString.call(t.data) !== "[object Float32Array]") throw new Error(`tensor ${quote(name)}: data must be a Float32Array`);
    if (numel !== t.data.length) throw new Error(`tensor ${quote(name)}: shape [${t.shape.join(", ")}] has ${numel} elements but data has ${t.data.length}`);
    const end = offset + 4 * numel;
    parts.push(`${quote(name)}:{"dtype":"F32","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }

  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  let at = 8 + headerLength;
  for (const t of tensors) {
    // Copy bit patterns, not values, so that NaN payloads survive.
    if (littleEndianHost) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
      at += t.data.byteLength;
    } else {
      const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
      for (let i = 0; i < bits.length; i++, at += 4) view.setUint32(at, bits[i] ?? 0, true);
    }
  }
  return out;
}
