/**
 * The safetensors reader and writer: round trips are bit-exact, the writer is
 * deterministic, files built byte by byte from the format description read
 * correctly (F32, F64, F16, BF16), every malformed file is a WeightFileError
 * that says what is wrong, and mutated files never throw anything else.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WeightFileError } from "../src/weights/errors.js";
import { isSafetensors, readSafetensors, writeSafetensors, type SafetensorsFile } from "../src/weights/safetensors.js";
import type { RawTensor } from "../src/weights/types.js";

const runs = { seed: 42, numRuns: 300 };

// ── helpers ────────────────────────────────────────────────────────────────

/** An 8-byte little-endian u64. */
function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A file: the header length, the header text as UTF-8, the byte buffer. */
function file(header: string, buffer: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new TextEncoder().encode(header);
  return concat(u64(BigInt(h.length)), h, buffer);
}

function f32Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setFloat32(4 * i, x, true));
  return b;
}

function f64Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(8 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setFloat64(8 * i, x, true));
  return b;
}

function u16Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(2 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setUint16(2 * i, x, true));
  return b;
}

function f32FromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

function bitsOf(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

/** The WeightFileError that reading `bytes` throws (fails the test if it throws anything else, or nothing). */
function readError(bytes: Uint8Array): WeightFileError {
  try {
    readSafetensors(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(WeightFileError);
    return e as WeightFileError;
  }
  throw new Error("expected a WeightFileError, but the file was read");
}

function expectFileError(bytes: Uint8Array, message: RegExp): WeightFileError {
  const e = readError(bytes);
  expect(e.message).toMatch(message);
  return e;
}

/** A file with one F32 tensor "t" whose entry is `entry` and whose buffer is `buffer`. */
function oneEntry(entry: string, buffer: Uint8Array = f32Bytes([1, 2])): Uint8Array {
  return file(`{"t":${entry}}`, buffer);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** What a successful read must always satisfy. */
function wellFormed(f: SafetensorsFile): void {
  const names = new Set<string>();
  for (const t of f.tensors) {
    expect(t.name).not.toBe("");
    expect(names.has(t.name)).toBe(false);
    names.add(t.name);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.data.length).toBe(product(t.shape));
  }
  for (const v of Object.values(f.metadata)) expect(typeof v).toBe("string");
}

/** Exact value of IEEE binary16 bits, computed arithmetically (independently of the reader). */
function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const sample: RawTensor[] = [
  { name: "conv1.weight", shape: [2, 1, 1, 3], data: new Float32Array([0.5, -1, 2, 3.25, 1e-3, -7]) },
  { name: "conv1.bias", shape: [2], data: new Float32Array([0.125, -0.125]) },
  { name: "scalar", shape: [], data: new Float32Array([42]) },
  { name: "empty", shape: [3, 0], data: new Float32Array(0) },
];

// ── round trip and determinism ─────────────────────────────────────────────

describe("writeSafetensors → readSafetensors", () => {
  it("gives back the names, shapes, data bits and metadata", () => {
    const special = f32FromBits([
      0x7fc00000, // quiet NaN
      0x7fc00001, // quiet NaN with a payload
      0xffc12345, // negative NaN with a payload
      0x7f800001, // signalling NaN
      0x80000000, // −0
      0x7f800000, // +∞
      0xff800000, // −∞
      0x00000001, // smallest subnormal
      0x7f7fffff, // largest finite
    ]);
    const tensors: RawTensor[] = [...sample, { name: "special/π ünïcode", shape: [3, 3], data: special }];
    const metadata = { format: "pt", "": "empty key", ["__proto__"]: "not a prototype", note: "ünïcode \"quoted\" \\ \n newline 🙂" };
    const back = readSafetensors(writeSafetensors(tensors, metadata));
    expect(back.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
    expect(back.tensors.map((t) => t.shape)).toEqual(tensors.map((t) => t.shape));
    back.tensors.forEach((t, i) => expect(bitsOf(t.data)).toEqual(bitsOf(tensors[i]!.data)));
    expect(Object.keys(metadata)).toContain("__proto__"); // a computed key is an own property
    expect(Object.keys(back.metadata).sort()).toEqual(Object.keys(metadata).sort());
    for (const [k, v] of Object.entries(metadata)) expect(Object.getOwnPropertyDescriptor(back.metadata, k)?.value).toBe(v);
    expect(Object.getPrototypeOf(back.metadata)).toBe(Object.prototype);
  });

  it("reads a file without metadata as empty metadata, and a file without tensors as none", () => {
    expect(readSafetensors(writeSafetensors(sample)).metadata).toEqual({});
    const none = readSafetensors(writeSafetensors([]));
    expect(none.tensors).toEqual([]);
    expect(none.metadata).toEqual({});
  });

  it("round-trips random tensors exactly (property)", () => {
    const tensor = fc
      .array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 })
      .chain((shape) => fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: product(shape), maxLength: product(shape) }).map((bits) => ({ shape, bits })));
    const input = fc.tuple(
      fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }), tensor), { selector: ([n]) => n, maxLength: 6 }).map((ts) => ts.filter(([n]) => n !== "__metadata__")),
      fc.dictionary(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), { maxKeys: 4, noNullPrototype: true }),
    );
    fc.assert(
      fc.property(input, ([entries, metadata]) => {
        const tensors: RawTensor[] = entries.map(([name, t]) => ({ name, shape: t.shape, data: f32FromBits(t.bits) }));
        const bytes = writeSafetensors(tensors, metadata);
        expect(isSafetensors(bytes)).toBe(true);
        const back = readSafetensors(bytes);
        expect(back.tensors.map((t) => [t.name, t.shape, bitsOf(t.data)])).toEqual(tensors.map((t) => [t.name, t.shape, bitsOf(t.data)]));
        expect({ ...back.metadata }).toEqual({ ...metadata });
        expect(writeSafetensors(back.tensors, back.metadata)).toEqual(bytes);
      }),
      runs,
    );
  });
});

describe("writeSafetensors", () => {
  it("writes the same bytes for the same input", () => {
    const a = writeSafetensors(sample, { format: "mnc", version: "1" });
    const b = writeSafetensors(
      sample.map((t) => ({ name: t.name, shape: [...t.shape], data: t.data.slice() })),
      { version: "1", format: "mnc" },
    );
    expect(b).toEqual(a);
  });

  it("lays out the header and data exactly as documented", () => {
    const bytes = writeSafetensors(
      [
        { name: "b", shape: [2], data: new Float32Array([1, -2]) },
        { name: "a", shape: [1, 1], data: new Float32Array([0.5]) },
      ],
      { z: "last", format: "mnc" },
    );
    const json = '{"__metadata__":{"format":"mnc","z":"last"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}';
    const n = Math.ceil(json.length / 8) * 8;
    expect(n % 8).toBe(0);
    const expected = concat(u64(BigInt(n)), new TextEncoder().encode(json.padEnd(n, " ")), new Uint8Array([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f]));
    expect(Array.from(bytes)).toEqual(Array.from(expected));
  });

  it("pads every header with spaces to a multiple of 8, so float data is aligned", () => {
    for (let k = 1; k <= 9; k++) {
      const bytes = writeSafetensors([{ name: "x".repeat(k), shape: [1], data: new Float32Array([1]) }]);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      expect(header).toMatch(/^\{[^ ]*\} {0,7}$/);
      expect(JSON.parse(header)).toEqual({ ["x".repeat(k)]: { dtype: "F32", shape: [1], data_offsets: [0, 4] } });
      expect(bytes.length).toBe(8 + n + 4);
    }
  });

  it("copies data from a Float32Array view into a larger buffer", () => {
    const big = new Float32Array([9, 1, 2, 3, 9]);
    const view = big.subarray(1, 4);
    const back = readSafetensors(writeSafetensors([{ name: "v", shape: [3], data: view }]));
    expect(Array.from(back.tensors[0]!.data)).toEqual([1, 2, 3]);
  });

  it("rejects programming errors with a plain Error", () => {
    const t = (name: string, shape: number[] = [1], data = new Float32Array(1)): RawTensor => ({ name, shape, data });
    const cases: [() => unknown, RegExp][] = [
      [() => writeSafetensors([t("a"), t("b"), t("a")]), /duplicate .*"a"/],
      [() => writeSafetensors([t("")]), /non-empty/],
      [() => writeSafetensors([t("__metadata__")]), /reserved/],
      [() => writeSafetensors([t("a", [2, 2], new Float32Array(3))]), /4 elements but data has 3/],
      [() => writeSafetensors([t("a", [-1], new Float32Array(0))]), /non-negative integers/],
      [() => writeSafetensors([t("a", [1.5], new Float32Array(1))]), /non-negative integers/],
      [() => writeSafetensors([t("bad\ud800")]), /surrogate/],
      [() => writeSafetensors([], { k: 1 as unknown as string }), /must be a string/],
      [() => writeSafetensors([{ name: "a", shape: [1], data: [1] as unknown as Float32Array }]), /Float32Array/],
    ];
    for (const [f, message] of cases) {
      expect(f).toThrow(message);
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect(e).not.toBeInstanceOf(WeightFileError);
      }
    }
  });
});

// ── files built by hand from the format description ─────────────────────────

describe("readSafetensors on hand-built files", () => {
  it("reads F32, F16, BF16 and F64 tensors, unaligned, in data order, with metadata and space padding", () => {
    // Buffer layout: h (F16, 2×2 → 8 bytes), b (BF16, 3 → 6 bytes), f (F32 at offset 14, not 4-aligned), d (F64, 4).
    const half = [0x3c00, 0xc000, 0x7bff, 0x0001];
    const bf = [0x3f80, 0xc040, 0x4049];
    const f32 = [1.5, -0.0, Math.fround(Math.PI)];
    const f64 = [0.1, -2.5, 1e300, 1e-50];
    const buffer = concat(u16Bytes(half), u16Bytes(bf), f32Bytes(f32), f64Bytes(f64));
    expect(buffer.length).toBe(8 + 6 + 12 + 32);
    // Header order differs from data order on purpose.
    const header =
      '{"d": {"dtype": "F64", "shape": [4], "data_offsets": [26, 58]},\n' +
      ' "__metadata__": {"format": "pt", "source": "hand"},\n' +
      ' "f": {"shape": [3], "dtype": "F32", "data_offsets": [14, 26]},\n' +
      ' "h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},\n' +
      ' "b": {"dtype": "BF16", "shape": [3], "data_offsets": [8, 14]}}' +
      "       ";
    const r = readSafetensors(file(header, buffer));
    expect(r.metadata).toEqual({ format: "pt", source: "hand" });
    expect(r.tensors.map((t) => t.name)).toEqual(["h", "b", "f", "d"]);
    expect(r.tensors.map((t) => t.shape)).toEqual([[2, 2], [3], [3], [4]]);
    const [h, b, f, d] = r.tensors as [RawTensor, RawTensor, RawTensor, RawTensor];
    expect(Array.from(h.data)).toEqual([1, -2, 65504, 2 ** -24]);
    expect(Array.from(b.data)).toEqual([1, -3, 3.140625]);
    expect(Array.from(f.data)).toEqual([1.5, -0, Math.fround(Math.PI)]);
    expect(Object.is(f.data[1], -0)).toBe(true);
    expect(Array.from(d.data)).toEqual([Math.fround(0.1), -2.5, Infinity, 0]);
  });

  it("converts every F16 bit pattern to the exact float32 value", () => {
    const all = Array.from({ length: 0x10000 }, (_, i) => i);
    const r = readSafetensors(file(`{"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}}`, u16Bytes(all)));
    const data = r.tensors[0]!.data;
    for (const h of all) {
      const expected = halfValue(h);
      if (Number.isNaN(expected)) {
        expect(Number.isNaN(data[h])).toBe(true);
        // NaN payload and sign kept: top 10 mantissa bits of the float are the half's.
        expect(new Uint32Array(data.buffer)[h]).toBe((((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0);
      } else {
        expect(Object.is(data[h], expected), `half 0x${h.toString(16)}`).toBe(true);
      }
    }
  });

  it("converts every BF16 bit pattern to the float32 with those top 16 bits", () => {
    const all = Array.from({ length: 0x10000 }, (_, i) => i);
    const r = readSafetensors(file(`{"b":{"dtype":"BF16","shape":[256,256],"data_offsets":[0,131072]}}`, u16Bytes(all)));
    expect(bitsOf(r.tensors[0]!.data)).toEqual(all.map((x) => (x << 16) >>> 0));
  });

  it("rounds F64 to the nearest float32", () => {
    const values = [1 + 2 ** -24, 1 + 3 * 2 ** -24, 3.4028235677973366e38, -1e-46, NaN, -Infinity, 2 ** -149];
    const r = readSafetensors(file(`{"d":{"dtype":"F64","shape":[7],"data_offsets":[0,56]}}`, f64Bytes(values)));
    expect(Array.from(r.tensors[0]!.data)).toEqual(values.map((x) => Math.fround(x)));
  });

  it("accepts empty tensors anywhere, and scalars", () => {
    const header = '{"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e2":{"dtype":"BF16","shape":[5,0,7],"data_offsets":[4,4]},"e3":{"dtype":"F16","shape":[0],"data_offsets":[4,4]}}';
    const r = readSafetensors(file(header, f32Bytes([7])));
    expect(r.tensors.map((t) => [t.name, t.shape, Array.from(t.data)])).toEqual([
      ["e1", [0], []],
      ["s", [], [7]],
      ["e2", [5, 0, 7], []],
      ["e3", [0], []],
    ]);
  });

  it("accepts a header of just {} and ignores unknown fields in an entry", () => {
    expect(readSafetensors(file("{}")).tensors).toEqual([]);
    const r = readSafetensors(oneEntry('{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":{"x":[1,2,{"y":null}]}}'));
    expect(Array.from(r.tensors[0]!.data)).toEqual([1, 2]);
  });

  it("decodes JSON escapes in names and metadata", () => {
    const r = readSafetensors(file('{"__metadata__":{"k\\u00e9y":"a\\"b\\\\c\\/d\\n\\ud83d\\ude42"},"n\\u0041me":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32Bytes([1])));
    expect(r.tensors[0]!.name).toBe("nAme");
    expect(r.metadata).toEqual({ "kéy": 'a"b\\c/d\n🙂' });
  });

  it("treats \"__proto__\" as an ordinary name and metadata key", () => {
    const r = readSafetensors(file('{"__metadata__":{"__proto__":"x","constructor":"y"},"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32Bytes([3])));
    expect(r.tensors.map((t) => t.name)).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(r.metadata, "__proto__")?.value).toBe("x");
    expect(Object.getOwnPropertyDescriptor(r.metadata, "constructor")?.value).toBe("y");
    expect(Object.getPrototypeOf(r.metadata)).toBe(Object.prototype);
  });

  it("copies the data out of the file, and reads from a view at any byte offset", () => {
    const bytes = writeSafetensors([{ name: "w", shape: [3], data: new Float32Array([1, 2, 3]) }]);
    const host = new Uint8Array(bytes.length + 3);
    host.set(bytes, 3);
    const view = host.subarray(3);
    const r = readSafetensors(view);
    const data = r.tensors[0]!.data;
    expect(Array.from(data)).toEqual([1, 2, 3]);
    expect(data.buffer).not.toBe(host.buffer);
    host.fill(0);
    expect(Array.from(data)).toEqual([1, 2, 3]);
  });
});

// ── malformed files ────────────────────────────────────────────────────────

describe("readSafetensors rejects malformed files with a WeightFileError", () => {
  const good = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';

  it("a file too short for the header length", () => {
    expectFileError(new Uint8Array(0), /too short/);
    expectFileError(new Uint8Array([2, 0, 0, 0]), /4 bytes, too short/);
  });

  it("a header length larger than the file", () => {
    const e = expectFileError(concat(u64(100n), new TextEncoder().encode("{}")), /header length 100 runs past the end of the file \(10 bytes/);
    expect(e.offset).toBe(0);
    expectFileError(u64(1n), /runs past the end/);
  });

  it("a giant u64 header length, without allocating it", () => {
    expectFileError(concat(u64(0xffffffffffffffffn), new TextEncoder().encode("{}")), /header length 18446744073709551615 is larger than the 100000000-byte limit/);
    expectFileError(concat(u64(2n ** 32n), new TextEncoder().encode("{}")), /4294967296 is larger than the/);
    expectFileError(concat(u64(0x8000000000000002n), new TextEncoder().encode("{}")), /larger than the/);
    expectFileError(concat(u64(100_000_001n), new TextEncoder().encode("{}")), /100000001 is larger than the 100000000-byte limit/);
    expectFileError(concat(u64(100_000_000n), new TextEncoder().encode("{}")), /runs past the end/);
  });

  it("an empty header, or one that is not a JSON object", () => {
    expectFileError(u64(0n), /header is empty/);
    expectFileError(file("[1,2]"), /must be a JSON object starting with '\{', but starts with '\['/);
    expectFileError(file('"text"'), /must be a JSON object/);
    expectFileError(file(" {}"), /starts with ' '/);
    expectFileError(concat(u64(2n), new Uint8Array([0xef, 0xbb])), /starts with byte 0xef/);
  });

  it("a header that is not JSON", () => {
    expectFileError(file('{"t": }'), /not valid JSON: expected a JSON value, found '}'/);
    expectFileError(file('{"t":{},}'), /not valid JSON: expected a string key/);
    expectFileError(file("{'t':1}"), /not valid JSON: expected a string key, found '''/);
    expectFileError(file('{"t":[1 2]}'), /expected ',' or ']'/);
    expectFileError(file('{"__metadata__":{}} x'), /unexpected 'x' after the end/);
    expectFileError(file('{}{}'), /unexpected '\{' after the end/);
    expectFileError(file('{"t'), /unterminated string/);
    expectFileError(file('{"t":{"a":1'), /expected ',' or '}'.*end of header/);
    expectFileError(file('{"t":{"shape":[01]}}'), /expected ',' or '\]' in an array, found '1'/);
    expectFileError(file('{"t":NaN}'), /expected a JSON value/);
    expectFileError(file('{"a\tb":1}'), /unescaped control character U\+0009/);
    expectFileError(file('{"a\\qb":1}'), /invalid escape/);
    expectFileError(file('{"a\\u12G4":1}'), /invalid \\u escape/);
    expectFileError(file('{"a\\ud800":1}'), /lone UTF-16 surrogate/);
  });

  it("a header that is not UTF-8, reporting where", () => {
    const e = expectFileError(concat(u64(6n), new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])), /not valid UTF-8 \(byte 0xc3 at header byte 2\)/);
    expect(e.offset).toBe(10);
    expectFileError(concat(u64(5n), new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80])), /not valid UTF-8/); // encoded surrogate
    expectFileError(concat(u64(4n), new Uint8Array([0x7b, 0x22, 0xc0, 0x80])), /not valid UTF-8/); // overlong
    expectFileError(concat(u64(3n), new Uint8Array([0x7b, 0x22, 0xe2])), /not valid UTF-8/); // truncated
  });

  it("JSON nested absurdly deep, without exhausting the stack", () => {
    expectFileError(file(`{"t":${"[".repeat(100_000)}${"]".repeat(100_000)}}`), /nested more than 64 levels deep/);
  });

  it("duplicate keys at every level", () => {
    expectFileError(file(`{"t":${good},"u":${good},"t":${good}}`, f32Bytes([1, 2])), /duplicate key "t"/);
    expectFileError(oneEntry('{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}'), /duplicate key "dtype"/);
    expectFileError(file('{"__metadata__":{"a":"1","a":"2"}}'), /duplicate key "a"/);
    expectFileError(file('{"__metadata__":{},"__metadata__":{}}'), /duplicate key "__metadata__"/);
    // The same name spelled with an escape is the same key.
    expectFileError(file(`{"t":${good},"\\u0074":${good}}`, f32Bytes([1, 2])), /duplicate key "t"/);
  });

  it("entries that are not objects or miss a field", () => {
    expectFileError(oneEntry("[1]"), /tensor "t": entry must be an object, not an array/);
    expectFileError(oneEntry('{"shape":[2],"data_offsets":[0,8]}'), /tensor "t": missing "dtype"/);
    expectFileError(oneEntry('{"dtype":"F32","data_offsets":[0,8]}'), /tensor "t": missing "shape"/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2]}'), /tensor "t": missing "data_offsets"/);
    expectFileError(file(`{"":${good}}`, f32Bytes([1, 2])), /empty tensor name/);
  });

  it("a bad or unsupported dtype", () => {
    expectFileError(oneEntry('{"dtype":"F33","shape":[2],"data_offsets":[0,8]}'), /unknown dtype "F33"/);
    expectFileError(oneEntry('{"dtype":"f32","shape":[2],"data_offsets":[0,8]}'), /unknown dtype "f32"/);
    expectFileError(oneEntry('{"dtype":32,"shape":[2],"data_offsets":[0,8]}'), /"dtype" must be a string, not the number 32/);
    for (const d of ["I64", "I32", "I16", "I8", "U8", "BOOL", "U64", "F8_E4M3", "C64"]) {
      expectFileError(oneEntry(`{"dtype":"${d}","shape":[1],"data_offsets":[0,8]}`), new RegExp(`dtype ${d} is not supported for weights`));
    }
  });

  it("shapes and offsets that are not non-negative integers", () => {
    expectFileError(oneEntry('{"dtype":"F32","shape":2,"data_offsets":[0,8]}'), /"shape" must be an array/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}'), /"shape" must hold non-negative integers, but has -2/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}'), /but has 2\.0/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}'), /but has 1\.5/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}'), /but has 2e0/);
    expectFileError(oneEntry('{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}'), /but has a string/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}'), /but has 99999999999999999999/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2],"data_offsets":[-0,8]}'), /"data_offsets" must hold non-negative integers, but has -0/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}'), /but has 8\.5/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2],"data_offsets":[0,null]}'), /but has null/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}'), /two non-negative integers \[begin, end\], not an array of 3/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[2],"data_offsets":{"begin":0}}'), /two non-negative integers .* not an object/);
  });

  it("a shape whose size does not match the offsets", () => {
    const e = expectFileError(oneEntry('{"dtype":"F32","shape":[3],"data_offsets":[0,8]}', f32Bytes([1, 2])), /tensor "t": shape \[3\] of F32 needs 12 bytes, but data_offsets \[0, 8\] span 8/);
    expect(e.offset).toBe(8 + 5); // the entry's '{' after `{"t":`
    expectFileError(oneEntry('{"dtype":"F16","shape":[2],"data_offsets":[0,8]}'), /shape \[2\] of F16 needs 4 bytes, but data_offsets \[0, 8\] span 8/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[],"data_offsets":[0,8]}'), /shape \[\] of F32 needs 4 bytes/);
    // A product that would overflow is caught before it is computed in full.
    expectFileError(oneEntry('{"dtype":"F32","shape":[9007199254740991,9007199254740991,4],"data_offsets":[0,8]}'), /shape \[9007199254740991, 9007199254740991, 4\] of F32 needs more than 9007199254740991 bytes, but data_offsets \[0, 8\] span 8/);
  });

  it("offsets outside the buffer or reversed", () => {
    expectFileError(oneEntry('{"dtype":"F32","shape":[2],"data_offsets":[4,12]}'), /data_offsets \[4, 12\] run past the end of the 8-byte buffer/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}'), /run past the end/);
    expectFileError(oneEntry('{"dtype":"F32","shape":[0],"data_offsets":[8,4]}'), /data_offsets \[8, 4\] begin after they end/);
  });

  it("overlapping tensors", () => {
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
    expectFileError(file(header, f32Bytes([1, 2, 3])), /tensor "b" data_offsets \[4, 12\] overlap tensor "a" which ends at 8/);
    const same = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    expectFileError(file(same, f32Bytes([1])), /overlap tensor "a"/);
    const inside = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}';
    expectFileError(file(inside, f32Bytes([1, 2])), /tensor "z" .* overlap tensor "a"/);
  });

  it("a hole in the buffer", () => {
    const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    const bytes = file(header, f32Bytes([1, 2, 3]));
    const e = expectFileError(bytes, /hole in the byte buffer: bytes 4\.\.8 belong to no tensor/);
    expect(e.offset).toBe(bytes.length - 12 + 4);
    expectFileError(oneEntry('{"dtype":"F32","shape":[1],"data_offsets":[4,8]}'), /hole in the byte buffer: bytes 0\.\.4/);
  });

  it("bytes after the last tensor", () => {
    expectFileError(oneEntry('{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'), /4 trailing bytes after the last tensor: the tensors cover 4 of the 8-byte buffer/);
    expectFileError(file("{}", new Uint8Array([0])), /1 trailing bytes after the last tensor/);
    const valid = writeSafetensors(sample);
    expectFileError(concat(valid, new Uint8Array([0, 0, 0, 0])), /4 trailing bytes/);
  });

  it("metadata that is not an object of strings", () => {
    expectFileError(file('{"__metadata__":{"a":1}}'), /"__metadata__" value for "a" must be a string, not the number 1/);
    expectFileError(file('{"__metadata__":{"a":null}}'), /must be a string, not null/);
    expectFileError(file('{"__metadata__":{"a":{"b":"c"}}}'), /must be a string, not an object/);
    expectFileError(file('{"__metadata__":["a"]}'), /"__metadata__" must be an object of strings, not an array/);
    expectFileError(file('{"__metadata__":"a"}'), /must be an object of strings, not a string/);
  });

  it("every truncation of a valid file", () => {
    const bytes = writeSafetensors(sample, { format: "mnc" });
    for (let k = 0; k < bytes.length; k++) readError(bytes.subarray(0, k));
  });
});

// ── isSafetensors ──────────────────────────────────────────────────────────

describe("isSafetensors", () => {
  it("recognises written and hand-built files", () => {
    expect(isSafetensors(writeSafetensors(sample))).toBe(true);
    expect(isSafetensors(writeSafetensors([]))).toBe(true);
    expect(isSafetensors(file("{}"))).toBe(true);
  });

  it("rejects what cannot be a safetensors file", () => {
    expect(isSafetensors(new Uint8Array(0))).toBe(false);
    expect(isSafetensors(u64(2n))).toBe(false);
    expect(isSafetensors(file("[]"))).toBe(false);
    expect(isSafetensors(file(" {}"))).toBe(false);
    expect(isSafetensors(concat(u64(100n), new TextEncoder().encode("{}")))).toBe(false);
    expect(isSafetensors(concat(u64(0xffffffff00000002n), new TextEncoder().encode("{}")))).toBe(false);
    expect(isSafetensors(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]))).toBe(false); // PNG
    expect(isSafetensors(new TextEncoder().encode("network N { input 8x8x3 }"))).toBe(false);
  });
});

// ── fuzzing ────────────────────────────────────────────────────────────────

/** Reads `bytes`; passes if it reads a well-formed file or throws WeightFileError, fails on anything else. */
function readsOrRejects(bytes: Uint8Array): "read" | "rejected" {
  try {
    wellFormed(readSafetensors(bytes));
    return "read";
  } catch (e) {
    if (e instanceof WeightFileError) return "rejected";
    throw e;
  }
}

describe("readSafetensors on mutated and random input (fuzzing)", () => {
  const mixed = file(
    '{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},"f":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"d":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},"e":{"dtype":"F32","shape":[0],"data_offsets":[24,24]}}   ',
    concat(u16Bytes([0x3c00, 0x7e00]), u16Bytes([0x3f80, 0xff80]), f32Bytes([1, NaN]), f64Bytes([0.1])),
  );
  const sources = [writeSafetensors(sample, { format: "mnc", "ключ": "значение" }), mixed];

  it("the fuzz sources are valid", () => {
    for (const s of sources) expect(readsOrRejects(s)).toBe("read");
  });

  it("truncations always throw WeightFileError", () => {
    fc.assert(
      fc.property(fc.constantFrom(...sources.keys()), fc.nat(), (which, cut) => {
        const s = sources[which]!;
        readError(s.subarray(0, cut % s.length));
      }),
      runs,
    );
  });

  it("bit flips either read or throw WeightFileError", () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(fc.constantFrom(...sources.keys()), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }), (which, flips) => {
        const s = sources[which]!.slice();
        for (const [at, bit] of flips) s[at % s.length]! ^= 1 << bit;
        outcomes.add(readsOrRejects(s));
      }),
      runs,
    );
    // Flips in the data leave valid files; flips elsewhere break them: both happen.
    expect(outcomes).toEqual(new Set(["read", "rejected"]));
  });

  it("byte overwrites, insertions and deletions either read or throw WeightFileError", () => {
    const edit = fc.oneof(
      fc.tuple(fc.constant("set" as const), fc.nat(), fc.integer({ min: 0, max: 255 })),
      fc.tuple(fc.constant("insert" as const), fc.nat(), fc.integer({ min: 0, max: 255 })),
      fc.tuple(fc.constant("delete" as const), fc.nat(), fc.constant(0)),
    );
    fc.assert(
      fc.property(fc.constantFrom(...sources.keys()), fc.array(edit, { minLength: 1, maxLength: 4 }), (which, edits) => {
        let s = Array.from(sources[which]!);
        for (const [op, at, byte] of edits) {
          const i = at % (s.length + 1);
          if (op === "set") s[Math.min(i, s.length - 1)] = byte;
          else if (op === "insert") s = [...s.slice(0, i), byte, ...s.slice(i)];
          else s = [...s.slice(0, i), ...s.slice(i + 1)];
        }
        readsOrRejects(new Uint8Array(s));
      }),
      runs,
    );
  });

  it("random bytes either read or throw WeightFileError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        readsOrRejects(bytes);
      }),
      runs,
    );
  });

  it("random JSON headers over random buffers either read or throw WeightFileError", () => {
    fc.assert(
      fc.property(fc.json(), fc.uint8Array({ maxLength: 32 }), (json, buffer) => {
        readsOrRejects(file(json, buffer));
        readsOrRejects(file(`{"t":${json}}`, buffer));
        readsOrRejects(file(`{"__metadata__":${json}}`, buffer));
      }),
      runs,
    );
  });

  it("random header entries either read or throw WeightFileError", () => {
    const num = fc.oneof(fc.nat({ max: 40 }), fc.constantFrom("-1", "1.5", "1e1", "9007199254740993", "0"));
    const entry = fc.record({
      dtype: fc.constantFrom('"F32"', '"F16"', '"BF16"', '"F64"', '"I64"', '"X"', "1"),
      shape: fc.array(num, { maxLength: 3 }),
      offsets: fc.array(num, { minLength: 1, maxLength: 3 }),
    });
    let reads = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d"), entry), { maxLength: 4 }), fc.nat({ max: 48 }), (entries, size) => {
        const header = `{${entries.map(([n, e]) => `"${n}":{"dtype":${e.dtype},"shape":[${e.shape.join(",")}],"data_offsets":[${e.offsets.join(",")}]}`).join(",")}}`;
        if (readsOrRejects(file(header, new Uint8Array(size))) === "read") reads++;
      }),
      runs,
    );
    expect(reads).toBeGreaterThan(0);
  });
});
