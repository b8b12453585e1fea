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
 * tensors (converted to float32) and writes F32; a quantized file's I8, U8 and
 * I32 tensors are read (exactly, beside their float32 conversion) when the
 * caller asks for integers, and written.
 *
 * The reader parses the header with its own small JSON parser, because
 * JSON.parse silently keeps the last of two equal keys and cannot tell `1` from
 * `1.0`; the format forbids the first and offsets must be plain integers.
 */
import { WeightFileError } from "./errors.js";
import type { IntegerDtype, IntegerTensor, RawTensor } from "./types.js";

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

/** Every dtype the format defines; mnc reads the float ones below. */
const KNOWN_DTYPES: ReadonlySet<string> = new Set(["BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F16", "BF16", "F32", "F64", "C64"]);

type FloatDtype = "F32" | "F64" | "F16" | "BF16";
const FLOAT_BYTES: Readonly<Record<FloatDtype, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

function isFloatDtype(d: string): d is FloatDtype {
  return d === "F32" || d === "F64" || d === "F16" || d === "BF16";
}

/** The integer dtypes of a quantized file: bytes per element and the range of values. */
const INTEGER_DTYPES: Readonly<Record<IntegerDtype, { readonly bytes: number; readonly min: number; readonly max: number }>> = {
  I8: { bytes: 1, min: -128, max: 127 },
  U8: { bytes: 1, min: 0, max: 255 },
  I32: { bytes: 4, min: -(2 ** 31), max: 2 ** 31 - 1 },
};

function isIntegerDtype(d: string): d is IntegerDtype {
  return Object.prototype.hasOwnProperty.call(INTEGER_DTYPES, d);
}

export interface ReadOptions {
  /** Read I8, U8 and I32 tensors too (a quantized file's); without it they are an error. */
  readonly integers?: boolean;
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
// Header parsing
// ---------------------------------------------------------------------------

/** A problem in the header at index `pos` of its text; the message is complete. */
class HeaderProblem {
  constructor(
    readonly message: string,
    readonly pos: number,
  ) {}
}

/** A JSON syntax error. */
function syntax(message: string, pos: number): HeaderProblem {
  return new HeaderProblem(`header is not valid JSON: ${message}`, pos);
}

/** A tensor entry as written: each field either what the format wants or a description of what is there instead. */
interface EntryFields {
  dtype?: { readonly value: string } | { readonly bad: string };
  shape?: IntList;
  offsets?: IntList;
}

/** A JSON array that should hold non-negative integers, or the description of some other value. */
type IntList = { readonly ints: number[]; readonly count: number; readonly firstBad?: string } | { readonly bad: string };

interface ParsedHeader {
  readonly metadata: Readonly<Record<string, string>>;
  readonly entries: readonly { readonly name: string; readonly pos: number; readonly fields: EntryFields }[];
}

const PLAIN_STRING_RUN = /[^"\\\u0000-\u001f]*/y;
const PLAIN_INTEGER = /^(?:0|[1-9][0-9]*)$/;

/**
 * Reads the header text against the shape of a safetensors header while
 * checking strict RFC 8259 syntax. It keeps only what the format uses (names,
 * dtypes, shapes, offsets, metadata strings) and skips anything else without
 * building it, so memory stays proportional to what is kept; it stops at the
 * first problem. Duplicate keys and lone surrogate escapes are errors (as in
 * serde_json, the reference parser), and nesting is bounded so that no input
 * can exhaust the stack.
 */
class HeaderParser {
  private i = 0;

  constructor(private readonly text: string) {}

  parse(): ParsedHeader {
    let metadata: Readonly<Record<string, string>> = Object.freeze({});
    const entries: { name: string; pos: number; fields: EntryFields }[] = [];
    this.skipSpace();
    this.object(0, (name, keyPos) => {
      const pos = this.i;
      if (name === METADATA_KEY) metadata = this.metadata();
      else {
        if (name === "") throw new HeaderProblem("empty tensor name", keyPos);
        entries.push({ name, pos, fields: this.entry(name) });
      }
    });
    this.skipSpace();
    if (this.i < this.text.length) throw syntax(`unexpected ${this.describeChar()} after the end of the JSON object`, this.i);
    return { metadata, entries };
  }

  private metadata(): Readonly<Record<string, string>> {
    if (this.peek() !== 0x7b) throw new HeaderProblem(`"__metadata__" must be an object of strings, not ${this.describeValue(1)}`, this.i);
    const pairs: [string, string][] = [];
    this.object(1, (key) => {
      if (this.peek() !== 0x22) throw new HeaderProblem(`"__metadata__" value for ${quote(key)} must be a string, not ${this.describeValue(2)}`, this.i);
      pairs.push([key, this.string()]);
    });
    // fromEntries defines own properties, so a "__proto__" key is just a key.
    return Object.freeze(Object.fromEntries(pairs));
  }

  private entry(name: string): EntryFields {
    const pos = this.i;
    if (this.peek() !== 0x7b) throw new HeaderProblem(`tensor ${quote(name)}: entry must be an object, not ${this.describeValue(1)}`, pos);
    const fields: EntryFields = {};
    this.object(1, (key) => {
      if (key === "dtype") fields.dtype = this.peek() === 0x22 ? { value: this.string() } : { bad: this.describeValue(2) };
      else if (key === "shape") fields.shape = this.intList();
      else if (key === "data_offsets") fields.offsets = this.intList();
      else this.skipValue(2); // unknown fields are ignored, as by the reference implementation
    });
    return fields;
  }

  private intList(): IntList {
    if (this.peek() !== 0x5b) return { bad: this.describeValue(2) };
    const ints: number[] = [];
    let count = 0;
    let firstBad: string | undefined;
    this.array(2, () => {
      count++;
      const c = this.peek();
      if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        const raw = this.number();
        const x = Number(raw);
        if (firstBad === undefined && PLAIN_INTEGER.test(raw) && Number.isSafeInteger(x)) ints.push(x);
        else firstBad ??= raw;
      } else {
        const d = this.describeValue(3);
        firstBad ??= d;
      }
      if (firstBad !== undefined) ints.length = 0; // nothing more to keep
    });
    return firstBad === undefined ? { ints, count } : { ints, count, firstBad };
  }

  // ── JSON syntax ──────────────────────────────────────────────────────────

  private peek(): number {
    return this.text.charCodeAt(this.i); // NaN at the end
  }

  private describeChar(): string {
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

  private checkDepth(depth: number): void {
    if (depth > MAX_DEPTH) throw syntax(`nested more than ${MAX_DEPTH} levels deep`, this.i);
  }

  /** An object at the current '{'; `member` must consume each member's value. Duplicate keys are errors. */
  private object(depth: number, member: (key: string, keyPos: number) => void): void {
    this.checkDepth(depth);
    this.i++; // {
    const keys = new Set<string>();
    this.skipSpace();
    if (this.peek() === 0x7d) {
      this.i++;
      return;
    }
    for (;;) {
      this.skipSpace();
      if (this.peek() !== 0x22) throw syntax(`expected a string key, found ${this.describeChar()}`, this.i);
      const keyPos = this.i;
      const key = this.string();
      if (keys.has(key)) throw syntax(`duplicate key ${quote(key)} (the format does not allow duplicate keys)`, keyPos);
      keys.add(key);
      this.skipSpace();
      if (this.peek() !== 0x3a) throw syntax(`expected ':' after key ${quote(key)}, found ${this.describeChar()}`, this.i);
      this.i++;
      this.skipSpace();
      member(key, keyPos);
      this.skipSpace();
      const c = this.peek();
      this.i++;
      if (c === 0x2c) continue;
      if (c === 0x7d) return;
      this.i--;
      throw syntax(`expected ',' or '}' in an object, found ${this.describeChar()}`, this.i);
    }
  }

  /** An array at the current '['; `item` must consume each item. */
  private array(depth: number, item: () => void): void {
    this.checkDepth(depth);
    this.i++; // [
    this.skipSpace();
    if (this.peek() === 0x5d) {
      this.i++;
      return;
    }
    for (;;) {
      this.skipSpace();
      item();
      this.skipSpace();
      const c = this.peek();
      this.i++;
      if (c === 0x2c) continue;
      if (c === 0x5d) return;
      this.i--;
      throw syntax(`expected ',' or ']' in an array, found ${this.describeChar()}`, this.i);
    }
  }

  /** Consumes any value, keeping nothing. */
  private skipValue(depth: number): void {
    this.describeValue(depth);
  }

  /** Consumes any value and says what it was ("an array", "the number 3", "null", …). */
  private describeValue(depth: number): string {
    const c = this.peek();
    if (c === 0x7b) {
      this.object(depth, () => this.skipValue(depth + 1));
      return "an object";
    }
    if (c === 0x5b) {
      this.array(depth, () => this.skipValue(depth + 1));
      return "an array";
    }
    if (c === 0x22) {
      this.string();
      return "a string";
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return `the number ${this.number()}`;
    for (const word of ["true", "false", "null"]) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return word;
      }
    }
    throw syntax(`expected a JSON value, found ${this.describeChar()}`, this.i);
  }

  /** A number at the current position (RFC 8259 grammar), as written. */
  private number(): string {
    const t = this.text;
    const start = this.i;
    const digits = (): number => {
      const from = this.i;
      while (this.i < t.length && t.charCodeAt(this.i) >= 0x30 && t.charCodeAt(this.i) <= 0x39) this.i++;
      return this.i - from;
    };
    if (t.charCodeAt(this.i) === 0x2d) this.i++;
    if (t.charCodeAt(this.i) === 0x30) this.i++;
    else if (digits() === 0) throw syntax("invalid number: expected a digit", this.i);
    if (t.charCodeAt(this.i) === 0x2e) {
      this.i++;
      if (digits() === 0) throw syntax("invalid number: expected a digit after '.'", this.i);
    }
    const e = t.charCodeAt(this.i);
    if (e === 0x65 || e === 0x45) {
      this.i++;
      const sign = t.charCodeAt(this.i);
      if (sign === 0x2b || sign === 0x2d) this.i++;
      if (digits() === 0) throw syntax("invalid number: expected a digit in the exponent", this.i);
    }
    return t.slice(start, this.i);
  }

  /** A string at the current '"'. */
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
      if (this.i >= t.length) throw syntax("unterminated string", start);
      const c = t.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        break;
      }
      if (c < 0x20) throw syntax(`unescaped control character U+${c.toString(16).toUpperCase().padStart(4, "0")} in a string`, this.i);
      // A backslash.
      const e = t.charCodeAt(this.i + 1);
      const simple = ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        this.i += 2;
      } else if (e === 0x75 /* u */) {
        const hex = t.slice(this.i + 2, this.i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw syntax("invalid \\u escape in a string", this.i);
        out += String.fromCharCode(parseInt(hex, 16));
        this.i += 6;
      } else {
        throw syntax("invalid escape in a string", this.i);
      }
    }
    if (!isWellFormed(out)) throw syntax("string contains a lone UTF-16 surrogate escape", start);
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

function quote(s: string): string {
  return JSON.stringify(s);
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

interface Entry {
  readonly name: string;
  readonly dtype: FloatDtype | IntegerDtype;
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
 * F16 and BF16. Nothing is allocated from a declared size before that size is
 * checked against the file: the header costs memory proportional to its
 * length, the tensors their float32 data.
 */
export function readSafetensors(bytes: Uint8Array, options: ReadOptions = {}): SafetensorsFile {
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
  // Only called for an error: the file offset of index `pos` of the text.
  const fileOffset = (pos: number): number => 8 + new TextEncoder().encode(text.slice(0, pos)).length;

  const bufferStart = 8 + n;
  const bufferLength = bytes.length - bufferStart;
  const entries: Entry[] = [];
  let metadata: Readonly<Record<string, string>>;
  try {
    const header = new HeaderParser(text).parse();
    metadata = header.metadata;
    for (const e of header.entries) entries.push(checkEntry(e.name, e.pos, e.fields, bufferLength, options.integers === true));
  } catch (e) {
    if (e instanceof HeaderProblem) throw new WeightFileError(e.message, fileOffset(e.pos));
    throw e;
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

  const tensors = entries.map((e): RawTensor => {
    if (!isIntegerDtype(e.dtype)) return Object.freeze({ name: e.name, shape: Object.freeze(e.shape), data: decode(bytes, bufferStart + e.begin, { ...e, dtype: e.dtype }) });
    const ints = decodeIntegers(bytes, bufferStart + e.begin, e.numel, e.dtype);
    return Object.freeze({ name: e.name, shape: Object.freeze(e.shape), data: Float32Array.from(ints), integers: Object.freeze({ dtype: e.dtype, data: ints }) });
  });
  return Object.freeze({ tensors: Object.freeze(tensors), metadata });
}

/** Checks one entry's fields against each other and the buffer. */
function checkEntry(name: string, pos: number, f: EntryFields, bufferLength: number, integers: boolean): Entry {
  const fail = (what: string): never => {
    throw new HeaderProblem(`tensor ${quote(name)}: ${what}`, pos);
  };
  if (f.dtype === undefined) return fail(`missing "dtype"`);
  if (f.shape === undefined) return fail(`missing "shape"`);
  if (f.offsets === undefined) return fail(`missing "data_offsets"`);

  if ("bad" in f.dtype) return fail(`"dtype" must be a string, not ${f.dtype.bad}`);
  const dtype = f.dtype.value;
  if (!KNOWN_DTYPES.has(dtype)) return fail(`unknown dtype ${quote(dtype)}`);
  if (!isFloatDtype(dtype) && !(integers && isIntegerDtype(dtype))) {
    return fail(`dtype ${dtype} is not supported for weights (mnc reads F32, F64, F16 and BF16${integers ? ", and I8, U8 and I32 in a quantized file" : ""})`);
  }

  if ("bad" in f.shape) return fail(`"shape" must be an array of non-negative integers, not ${f.shape.bad}`);
  if (f.shape.firstBad !== undefined) return fail(`"shape" must hold non-negative integers, but has ${withoutArticle(f.shape.firstBad)}`);
  const shape = f.shape.ints;

  if ("bad" in f.offsets || f.offsets.count !== 2) {
    return fail(`"data_offsets" must be an array of two non-negative integers [begin, end], not ${"bad" in f.offsets ? f.offsets.bad : `an array of ${f.offsets.count}`}`);
  }
  if (f.offsets.firstBad !== undefined) return fail(`"data_offsets" must hold non-negative integers, but has ${withoutArticle(f.offsets.firstBad)}`);
  const [begin, end] = f.offsets.ints as [number, number];
  if (begin > end) return fail(`data_offsets [${begin}, ${end}] begin after they end`);
  if (end > bufferLength) return fail(`data_offsets [${begin}, ${end}] run past the end of the ${bufferLength}-byte buffer`);

  // Element count, with no product ever leaving the range a double holds exactly.
  const elementBytes = isFloatDtype(dtype) ? FLOAT_BYTES[dtype] : INTEGER_DTYPES[dtype as IntegerDtype].bytes;
  const shown = `[${shape.join(", ")}]`;
  let numel = shape.includes(0) ? 0 : 1;
  for (const d of shape) {
    if (numel === 0) break;
    if (d > Math.floor(Number.MAX_SAFE_INTEGER / elementBytes / numel)) {
      return fail(`shape ${shown} of ${dtype} needs more than ${Number.MAX_SAFE_INTEGER} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    numel *= d;
  }
  const size = numel * elementBytes;
  if (size !== end - begin) return fail(`shape ${shown} of ${dtype} needs ${size} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
  return { name, dtype, shape, numel, begin, end, pos };
}

/** "the number -2" → "-2"; other descriptions unchanged. */
function withoutArticle(description: string): string {
  return description.startsWith("the number ") ? description.slice("the number ".length) : description;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The tensor's values as a fresh float32 array; every bit pattern of F32, F16 and BF16 is kept, NaN payloads included. */
function decode(bytes: Uint8Array, start: number, e: Entry & { readonly dtype: FloatDtype }): Float32Array {
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

/** An integer tensor's values. */
function decodeIntegers(bytes: Uint8Array, start: number, numel: number, dtype: IntegerDtype): Int32Array {
  const out = new Int32Array(numel);
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, numel * INTEGER_DTYPES[dtype].bytes);
  for (let i = 0; i < numel; i++) out[i] = dtype === "I8" ? view.getInt8(i) : dtype === "U8" ? view.getUint8(i) : view.getInt32(4 * i, true);
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
 * Writes F32 tensors (and integer ones, IntegerTensor) as a safetensors file. The bytes depend only on the
 * arguments: tensors are laid out in the order given, the header lists
 * "__metadata__" first (keys sorted, omitted when there are none) and then the
 * tensors in order, with fixed key order inside each, and is padded with
 * spaces so that the byte buffer starts at a multiple of 8.
 *
 * Throws Error (a programming error, not a file error) for an empty,
 * duplicate or reserved tensor name, a string that is not well-formed
 * Unicode, a shape that is not a list of non-negative integers, data whose
 * length differs from the shape's element count, an integer outside its
 * dtype's range, or a header over the limit that readers accept.
 */
export function writeSafetensors(tensors: readonly (RawTensor | IntegerTensor)[], metadata?: Readonly<Record<string, string>>): Uint8Array {
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
    const ints = integersOf(t);
    if (ints !== undefined) {
      const range = INTEGER_DTYPES[ints.dtype];
      if (range === undefined) throw new Error(`tensor ${quote(name)}: unknown integer dtype ${quote(String(ints.dtype))}`);
      if (numel !== ints.data.length) throw new Error(`tensor ${quote(name)}: shape [${t.shape.join(", ")}] has ${numel} elements but data has ${ints.data.length}`);
      const bad = ints.data.findIndex((v) => v < range.min || v > range.max);
      if (bad >= 0) throw new Error(`tensor ${quote(name)}: ${ints.data[bad]} (element ${bad}) is outside ${ints.dtype}'s range`);
      const end = offset + range.bytes * numel;
      parts.push(`${quote(name)}:{"dtype":"${ints.dtype}","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`);
      offset = end;
      continue;
    }
    const data = (t as RawTensor).data;
    if (Object.prototype.toString.call(data) !== "[object Float32Array]") throw new Error(`tensor ${quote(name)}: data must be a Float32Array`);
    if (numel !== data.length) throw new Error(`tensor ${quote(name)}: shape [${t.shape.join(", ")}] has ${numel} elements but data has ${data.length}`);
    const end = offset + 4 * numel;
    parts.push(`${quote(name)}:{"dtype":"F32","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }

  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) throw new Error(`safetensors header would be ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers accept`);
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  let at = 8 + headerLength;
  for (const t of tensors) {
    const ints = integersOf(t);
    if (ints !== undefined) {
      for (const v of ints.data) {
        if (ints.dtype === "I32") {
          view.setInt32(at, v, true);
          at += 4;
        } else out[at++] = v & 0xff;
      }
      continue;
    }
    const data = (t as RawTensor).data;
    // Copy bit patterns, not values, so that NaN payloads survive.
    if (littleEndianHost) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
      at += data.byteLength;
    } else {
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      for (let i = 0; i < bits.length; i++, at += 4) view.setUint32(at, bits[i] ?? 0, true);
    }
  }
  return out;
}

/** The integers to write: an IntegerTensor's, or a read tensor's that kept them. */
function integersOf(t: RawTensor | IntegerTensor): IntegerTensor["integers"] | undefined {
  return (t as { integers?: IntegerTensor["integers"] }).integers;
}
