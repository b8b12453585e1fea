/**
 * A small WebAssembly binary writer: just what mnc's generated kernels need,
 * written from the specification (core binary format, plus the fixed-width
 * SIMD instructions of WebAssembly 2.0; no relaxed SIMD, no other proposals).
 *
 *   const m = new ModuleWriter();
 *   m.importMemory("env", "memory", 1);
 *   const f = new FunctionBody(["i32", "i32"], ["i32"]);
 *   f.localGet(f.param(0)).localGet(f.param(1)).i32Add();
 *   m.exportFunction("add", m.addFunction(f));
 *   const bytes = m.encode();                 // deterministic: same calls, same bytes
 *
 * A module is: one type per distinct signature (section 1), imports (2: an
 * optional memory, then functions), defined functions (3), exports (7) and
 * code (10). Sections are written in the order the specification requires.
 *
 * Structured control flow takes callbacks that receive a Label; `br(label)`
 * and `brIf(label)` turn a label into the relative depth the binary format
 * wants, so no caller ever counts nesting levels by hand.
 */
import { InternalError } from "../../ir/diagnostics.js";

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

const VALTYPE: Readonly<Record<ValType, number>> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** A parameter or local of one function. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/** A branch target: the block, loop or if that created it (see FunctionBody.br). */
export interface Label {
  /** Position in the control stack (0 = outermost construct of the body). */
  readonly level: number;
}

// ── primitive encodings ────────────────────────────────────────────────────

/** Unsigned LEB128 of a non-negative integer below 2^32. */
export function uleb(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new InternalError(`wasm: ${value} is not a u32`);
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of an integer in [−2^31, 2^31) (the immediate of i32.const). */
export function sleb(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new InternalError(`wasm: ${value} is not an i32`);
  const out: number[] = [];
  let v = value;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** Signed LEB128 of a bigint in [−2^63, 2^63) (the immediate of i64.const). */
export function sleb64(value: bigint): number[] {
  if (value < -(1n << 63n) || value >= 1n << 63n) throw new InternalError(`wasm: ${value} is not an i64`);
  const out: number[] = [];
  let v = value;
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A name: its UTF-8 length, then its bytes. */
export function name(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [...uleb(bytes.length), ...bytes];
}

function f32Bytes(value: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, value, true);
  return [...b];
}

function f64Bytes(value: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, value, true);
  return [...b];
}

/** A vector: the count, then the items' bytes. */
function vec(items: readonly (readonly number[])[]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, content: readonly number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** log2 of a natural alignment in bytes, as memarg wants it. */
function log2Align(bytes: number): number {
  const a = Math.log2(bytes);
  if (!Number.isInteger(a)) throw new InternalError(`wasm: alignment ${bytes} is not a power of two`);
  return a;
}

// ── function bodies ────────────────────────────────────────────────────────

/**
 * One function's signature, locals and instructions. Every instruction method
 * appends its encoding and returns `this`, so code reads like the text format:
 *
 *   f.localGet(x).i32Const(4).i32Add().localSet(x);
 */
export class FunctionBody {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  private readonly locals: ValType[] = [];
  private readonly code: number[] = [];
  /** Open blocks, loops and ifs, innermost last. */
  private depth = 0;

  constructor(params: readonly ValType[], results: readonly ValType[] = []) {
    this.params = params;
    this.results = results;
  }

  param(i: number): Local {
    const type = this.params[i];
    if (type === undefined) throw new InternalError(`wasm: the function has no parameter ${i}`);
    return { index: i, type };
  }

  /** A new local of the given type (zero-initialised on entry, as wasm does). */
  local(type: ValType): Local {
    this.locals.push(type);
    return { index: this.params.length + this.locals.length - 1, type };
  }

  /** The body as the code section wants it: locals (runs of one type), instructions, end. */
  encode(): number[] {
    if (this.depth !== 0) throw new InternalError(`wasm: ${this.depth} block(s) left open`);
    const runs: number[][] = [];
    let i = 0;
    while (i < this.locals.length) {
      const type = this.locals[i]!;
      let j = i;
      while (j < this.locals.length && this.locals[j] === type) j++;
      runs.push([...uleb(j - i), VALTYPE[type]]);
      i = j;
    }
    const body = [...vec(runs), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }

  /** Bytes of instructions emitted so far (a measure of code size). */
  get size(): number {
    return this.code.length;
  }

  private op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  private simd(opcode: number, ...immediates: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...immediates);
  }

  private memarg(offset: number, alignBytes: number): number[] {
    return [...uleb(log2Align(alignBytes)), ...uleb(offset)];
  }

  // control

  /** `block … end`; `br(label)` inside jumps past the end. */
  block(body: (label: Label) => void): this {
    return this.structured(0x02, body);
  }

  /** `loop … end`; `br(label)` inside jumps back to the start. */
  loop(body: (label: Label) => void): this {
    return this.structured(0x03, body);
  }

  /** `if … [else …] end` on the i32 on the stack. */
  if(then: (label: Label) => void, otherwise?: (label: Label) => void): this {
    const label: Label = { level: this.depth };
    this.op(0x04, 0x40);
    this.depth++;
    then(label);
    if (otherwise !== undefined) {
      this.op(0x05);
      otherwise(label);
    }
    this.depth--;
    return this.op(0x0b);
  }

  private structured(opcode: number, body: (label: Label) => void): this {
    const label: Label = { level: this.depth };
    this.op(opcode, 0x40);
    this.depth++;
    body(label);
    this.depth--;
    return this.op(0x0b);
  }

  private relative(label: Label): number {
    const d = this.depth - 1 - label.level;
    if (d < 0) throw new InternalError("wasm: branch to a label that is not open");
    return d;
  }

  br(label: Label): this {
    return this.op(0x0c, ...uleb(this.relative(label)));
  }

  brIf(label: Label): this {
    return this.op(0x0d, ...uleb(this.relative(label)));
  }

  unreachable(): this {
    return this.op(0x00);
  }

  return(): this {
    return this.op(0x0f);
  }

  call(funcIndex: number): this {
    return this.op(0x10, ...uleb(funcIndex));
  }

  drop(): this {
    return this.op(0x1a);
  }

  select(): this {
    return this.op(0x1b);
  }

  // locals

  localGet(l: Local): this {
    return this.op(0x20, ...uleb(l.index));
  }

  localSet(l: Local): this {
    return this.op(0x21, ...uleb(l.index));
  }

  localTee(l: Local): this {
    return this.op(0x22, ...uleb(l.index));
  }

  // memory (offset: the memarg's constant byte offset, added to the address on the stack)

  i32Load(offset = 0): this {
    return this.op(0x28, ...this.memarg(offset, 4));
  }

  f32Load(offset = 0): this {
    return this.op(0x2a, ...this.memarg(offset, 4));
  }

  f64Load(offset = 0): this {
    return this.op(0x2b, ...this.memarg(offset, 8));
  }

  i32Store(offset = 0): this {
    return this.op(0x36, ...this.memarg(offset, 4));
  }

  f32Store(offset = 0): this {
    return this.op(0x38, ...this.memarg(offset, 4));
  }

  f64Store(offset = 0): this {
    return this.op(0x39, ...this.memarg(offset, 8));
  }

  // constants

  /** An i32 constant; values in [2^31, 2^32) (high addresses) are written as their two's complement. */
  i32Const(value: number): this {
    return this.op(0x41, ...sleb(value >= 0x80000000 && value <= 0xffffffff ? value - 0x100000000 : value));
  }

  i64Const(value: bigint): this {
    return this.op(0x42, ...sleb64(value));
  }

  f32Const(value: number): this {
    return this.op(0x43, ...f32Bytes(value));
  }

  f64Const(value: number): this {
    return this.op(0x44, ...f64Bytes(value));
  }

  // i32

  i32Eqz(): this {
    return this.op(0x45);
  }
  i32Eq(): this {
    return this.op(0x46);
  }
  i32Ne(): this {
    return this.op(0x47);
  }
  i32LtS(): this {
    return this.op(0x48);
  }
  i32LtU(): this {
    return this.op(0x49);
  }
  i32GtS(): this {
    return this.op(0x4a);
  }
  i32GtU(): this {
    return this.op(0x4b);
  }
  i32LeS(): this {
    return this.op(0x4c);
  }
  i32GeS(): this {
    return this.op(0x4e);
  }
  i32Add(): this {
    return this.op(0x6a);
  }
  i32Sub(): this {
    return this.op(0x6b);
  }
  i32Mul(): this {
    return this.op(0x6c);
  }
  i32And(): this {
    return this.op(0x71);
  }
  i32Or(): this {
    return this.op(0x72);
  }
  i32Shl(): this {
    return this.op(0x74);
  }
  i32ShrS(): this {
    return this.op(0x75);
  }

  // f32

  f32Lt(): this {
    return this.op(0x5d);
  }
  f32Gt(): this {
    return this.op(0x5e);
  }
  f32Add(): this {
    return this.op(0x92);
  }
  f32Sub(): this {
    return this.op(0x93);
  }
  f32Mul(): this {
    return this.op(0x94);
  }
  f32Div(): this {
    return this.op(0x95);
  }
  f32Min(): this {
    return this.op(0x96);
  }
  f32Max(): this {
    return this.op(0x97);
  }

  // f64 and conversions

  f64Lt(): this {
    return this.op(0x63);
  }
  f64Gt(): this {
    return this.op(0x64);
  }
  f64Nearest(): this {
    return this.op(0x9e);
  }
  f64Add(): this {
    return this.op(0xa0);
  }
  f64Sub(): this {
    return this.op(0xa1);
  }
  f64Mul(): this {
    return this.op(0xa2);
  }
  f64Div(): this {
    return this.op(0xa3);
  }
  f64Max(): this {
    return this.op(0xa5);
  }
  i32TruncF64S(): this {
    return this.op(0xaa);
  }
  i64ExtendI32S(): this {
    return this.op(0xac);
  }
  f32DemoteF64(): this {
    return this.op(0xb6);
  }
  f64ConvertI32S(): this {
    return this.op(0xb7);
  }
  f64PromoteF32(): this {
    return this.op(0xbb);
  }
  f64ReinterpretI64(): this {
    return this.op(0xbf);
  }
  i64Add(): this {
    return this.op(0x7c);
  }
  i64Shl(): this {
    return this.op(0x86);
  }

  // SIMD (v128 = four f32 lanes here)

  v128Load(offset = 0): this {
    return this.simd(0x00, ...this.memarg(offset, 16));
  }
  /** Load one f32 and broadcast it to all four lanes. */
  v128Load32Splat(offset = 0): this {
    return this.simd(0x09, ...this.memarg(offset, 4));
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b, ...this.memarg(offset, 16));
  }
  /** A v128 constant of four f32 lanes. */
  f32x4Const(a: number, b = a, c = a, d = a): this {
    return this.simd(0x0c, ...f32Bytes(a), ...f32Bytes(b), ...f32Bytes(c), ...f32Bytes(d));
  }
  /** A v128 constant of four i32 lanes (lane masks: −1 all ones, 0 all zeros). */
  i32x4Const(a: number, b: number, c: number, d: number): this {
    const bytes = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    return this.simd(0x0c, ...bytes(a), ...bytes(b), ...bytes(c), ...bytes(d));
  }
  f32x4Splat(): this {
    return this.simd(0x13);
  }
  /**
   * i8x16.shuffle of the two vectors on the stack, given as f32 lanes: lane i
   * of the result is lane lanes[i] of a ‖ b (0–3 from a, 4–7 from b).
   */
  f32x4Shuffle(lanes: readonly [number, number, number, number]): this {
    if (lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 7)) throw new InternalError(`wasm: f32 shuffle lanes ${lanes.join(",")}`);
    return this.simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }
  f32x4ExtractLane(lane: number): this {
    return this.simd(0x1f, lane);
  }
  f32x4ReplaceLane(lane: number): this {
    return this.simd(0x20, lane);
  }
  f32x4Add(): this {
    return this.simd(0xe4);
  }
  f32x4Sub(): this {
    return this.simd(0xe5);
  }
  f32x4Mul(): this {
    return this.simd(0xe6);
  }
  f32x4Div(): this {
    return this.simd(0xe7);
  }
  /** IEEE-style min/max (NaN-propagating; slower on x86 than pmin/pmax). */
  f32x4Min(): this {
    return this.simd(0xe8);
  }
  f32x4Max(): this {
    return this.simd(0xe9);
  }
  /** Pseudo-minimum b < a ? b : a — one `minps` on x86. */
  f32x4Pmin(): this {
    return this.simd(0xea);
  }
  /** Pseudo-maximum a < b ? b : a — one `maxps` on x86. */
  f32x4Pmax(): this {
    return this.simd(0xeb);
  }
  f32x4Abs(): this {
    return this.simd(0xe0);
  }
  f32x4Neg(): this {
    return this.simd(0xe1);
  }
  /** Round to the nearest integer, ties to even (`roundps` on x86). */
  f32x4Nearest(): this {
    return this.simd(0x6a);
  }
  /** Lane mask: all ones where a = b (false for NaN). */
  f32x4Eq(): this {
    return this.simd(0x41);
  }
  /** Lane mask: all ones where a > b (false for NaN). */
  f32x4Gt(): this {
    return this.simd(0x44);
  }
  /** Lane mask: all ones where a ≥ b (false for NaN). */
  f32x4Ge(): this {
    return this.simd(0x46);
  }
  /** Per bit: c ? a : b, for (a, b, c) on the stack. */
  v128Bitselect(): this {
    return this.simd(0x52);
  }
  v128And(): this {
    return this.simd(0x4e);
  }
  /** f32 lanes to i32, truncated toward zero, saturating (NaN → 0). */
  i32x4TruncSatF32x4S(): this {
    return this.simd(0xf8);
  }
  i32x4Add(): this {
    return this.simd(0xae);
  }
  /** Shift every i32 lane left by the i32 on the stack (mod 32). */
  i32x4Shl(): this {
    return this.simd(0xab);
  }

  // Integer SIMD (the int8 kernels, int8/): lanes as the instruction names them

  /** Load 8 bytes and sign-extend each to an i16 lane. */
  v128Load8x8S(offset = 0): this {
    return this.simd(0x01, ...this.memarg(offset, 8));
  }
  /** Load 8 bytes and zero-extend each to an i16 lane. */
  v128Load8x8U(offset = 0): this {
    return this.simd(0x02, ...this.memarg(offset, 8));
  }
  /** Load one i16 and broadcast it to all eight lanes. */
  v128Load16Splat(offset = 0): this {
    return this.simd(0x08, ...this.memarg(offset, 2));
  }
  /** Load 8 bytes into the low half, zeros in the high half. */
  v128Load64Zero(offset = 0): this {
    return this.simd(0x5d, ...this.memarg(offset, 8));
  }
  /** Store lane `lane` of the vector as 64 bits. */
  v128Store64Lane(lane: number, offset = 0): this {
    return this.simd(0x5b, ...this.memarg(offset, 8), lane);
  }
  /** Store lane `lane` of the vector as 32 bits. */
  v128Store32Lane(lane: number, offset = 0): this {
    return this.simd(0x5a, ...this.memarg(offset, 4), lane);
  }
  /** Store lane `lane` of the vector as 8 bits. */
  v128Store8Lane(lane: number, offset = 0): this {
    return this.simd(0x58, ...this.memarg(offset, 1), lane);
  }
  v128Or(): this {
    return this.simd(0x50);
  }
  i8x16Splat(): this {
    return this.simd(0x0f);
  }
  i16x8Splat(): this {
    return this.simd(0x10);
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  /** i8x16.shuffle: byte i of the result is byte lanes[i] of a ‖ b (0–15 from a, 16–31 from b). */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) throw new InternalError(`wasm: byte shuffle lanes ${lanes.join(",")}`);
    return this.simd(0x0d, ...lanes);
  }
  /** Lane i of the result is lane idx[i] of a, or 0 where idx[i] ≥ 16 (for (a, idx) on the stack). */
  i8x16Swizzle(): this {
    return this.simd(0x0e);
  }
  i8x16ExtractLaneU(lane: number): this {
    return this.simd(0x16, lane);
  }
  i32x4ExtractLane(lane: number): this {
    return this.simd(0x1b, lane);
  }
  i8x16Sub(): this {
    return this.simd(0x71);
  }
  i8x16MinS(): this {
    return this.simd(0x76);
  }
  i8x16MinU(): this {
    return this.simd(0x77);
  }
  i8x16MaxS(): this {
    return this.simd(0x78);
  }
  i8x16MaxU(): this {
    return this.simd(0x79);
  }
  /** Two i16x8 to sixteen i8 lanes, saturating signed. */
  i8x16NarrowI16x8S(): this {
    return this.simd(0x65);
  }
  /** Two i16x8 to sixteen u8 lanes, saturating unsigned. */
  i8x16NarrowI16x8U(): this {
    return this.simd(0x66);
  }
  /** Two i32x4 to eight i16 lanes, saturating signed. */
  i16x8NarrowI32x4S(): this {
    return this.simd(0x85);
  }
  i16x8ExtendLowI8x16S(): this {
    return this.simd(0x87);
  }
  i16x8ExtendHighI8x16S(): this {
    return this.simd(0x88);
  }
  i16x8ExtendLowI8x16U(): this {
    return this.simd(0x89);
  }
  i16x8ExtendHighI8x16U(): this {
    return this.simd(0x8a);
  }
  i16x8Add(): this {
    return this.simd(0x8e);
  }
  i16x8AddSatS(): this {
    return this.simd(0x8f);
  }
  i16x8Sub(): this {
    return this.simd(0x91);
  }
  i16x8MaxS(): this {
    return this.simd(0x98);
  }
  i16x8MinS(): this {
    return this.simd(0x96);
  }
  i32x4ExtendLowI16x8S(): this {
    return this.simd(0xa7);
  }
  i32x4ExtendHighI16x8S(): this {
    return this.simd(0xa8);
  }
  /** Shift every i32 lane right, arithmetically, by the i32 on the stack (mod 32). */
  i32x4ShrS(): this {
    return this.simd(0xac);
  }
  i32x4Sub(): this {
    return this.simd(0xb1);
  }
  i32x4Mul(): this {
    return this.simd(0xb5);
  }
  i32x4MinS(): this {
    return this.simd(0xb6);
  }
  i32x4MaxS(): this {
    return this.simd(0xb8);
  }
  /** Products of the i16 lanes, adjacent pairs summed into four i32 lanes. */
  i32x4DotI16x8S(): this {
    return this.simd(0xba);
  }
  /** The low four i16 lanes' products as i32 lanes. */
  i32x4ExtmulLowI16x8S(): this {
    return this.simd(0xbc);
  }
  /** The high four i16 lanes' products as i32 lanes. */
  i32x4ExtmulHighI16x8S(): this {
    return this.simd(0xbd);
  }
  /** i32 lanes to f32, rounded to nearest. */
  f32x4ConvertI32x4S(): this {
    return this.simd(0xfa);
  }

  // Scalar loads and stores of narrow integers, and the conversions the int8 kernels use

  i32Load8S(offset = 0): this {
    return this.op(0x2c, ...this.memarg(offset, 1));
  }
  i32Load8U(offset = 0): this {
    return this.op(0x2d, ...this.memarg(offset, 1));
  }
  i32Load16S(offset = 0): this {
    return this.op(0x2e, ...this.memarg(offset, 2));
  }
  i32Store8(offset = 0): this {
    return this.op(0x3a, ...this.memarg(offset, 1));
  }
  i32Store16(offset = 0): this {
    return this.op(0x3b, ...this.memarg(offset, 2));
  }
  i32GeU(): this {
    return this.op(0x4f);
  }
  i32ShrU(): this {
    return this.op(0x76);
  }
  i32Xor(): this {
    return this.op(0x73);
  }
  i32DivU(): this {
    return this.op(0x6e);
  }
  i32RemU(): this {
    return this.op(0x70);
  }
  f32ConvertI32S(): this {
    return this.op(0xb2);
  }
  f64Floor(): this {
    return this.op(0x9c);
  }
}

// ── modules ────────────────────────────────────────────────────────────────

interface FunctionImport {
  readonly module: string;
  readonly name: string;
  readonly type: number;
}

/** Memory limits in 64 KiB pages. */
interface MemoryImport {
  readonly module: string;
  readonly name: string;
  readonly min: number;
  readonly max?: number;
}

export const PAGE_BYTES = 65536;

export class ModuleWriter {
  private readonly types: string[] = [];
  private readonly typeBytes: number[][] = [];
  private memory: MemoryImport | undefined;
  private readonly imports: FunctionImport[] = [];
  private readonly functions: { readonly type: number; readonly body: FunctionBody }[] = [];
  private readonly exports: { readonly name: string; readonly kind: number; readonly index: number }[] = [];
  private readonly data: { readonly offset: number; readonly bytes: Uint8Array }[] = [];

  /** The index of the function type params → results, added on first use. */
  type(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(",")}->${results.join(",")}`;
    const known = this.types.indexOf(key);
    if (known >= 0) return known;
    this.types.push(key);
    this.typeBytes.push([0x60, ...vec(params.map((p) => [VALTYPE[p]])), ...vec(results.map((r) => [VALTYPE[r]]))]);
    return this.types.length - 1;
  }

  /** Import the module's (only) memory, `min` pages at least, `max` at most if given. */
  importMemory(module: string, field: string, min: number, max?: number): void {
    if (this.memory !== undefined) throw new InternalError("wasm: the memory is already imported");
    this.memory = max === undefined ? { module, name: field, min } : { module, name: field, min, max };
  }

  /** Import a function; imports take the first function indices, so they must all come before addFunction. */
  importFunction(module: string, field: string, params: readonly ValType[], results: readonly ValType[]): number {
    if (this.functions.length > 0) throw new InternalError("wasm: import functions before defining any");
    this.imports.push({ module, name: field, type: this.type(params, results) });
    return this.imports.length - 1;
  }

  /** Define a function; returns its index (imports first, then definitions in order). */
  addFunction(body: FunctionBody): number {
    this.functions.push({ type: this.type(body.params, body.results), body });
    return this.imports.length + this.functions.length - 1;
  }

  exportFunction(field: string, index: number): void {
    if (this.exports.some((e) => e.name === field)) throw new InternalError(`wasm: two exports are named '${field}'`);
    this.exports.push({ name: field, kind: 0x00, index });
  }

  /**
   * An active data segment: `bytes` written into the (imported) memory at
   * `offset` when the module is instantiated (section 11).
   */
  addData(offset: number, bytes: Uint8Array): void {
    if (this.memory === undefined) throw new InternalError("wasm: data needs a memory");
    if (!Number.isInteger(offset) || offset < 0 || offset + bytes.length > 2 ** 32) throw new InternalError(`wasm: data at ${offset} lies outside a 32-bit memory`);
    this.data.push({ offset, bytes });
  }

  encode(): Uint8Array {
    const bytes: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const push = (part: readonly number[]): void => {
      for (const b of part) bytes.push(b);
    };
    if (this.typeBytes.length > 0) push(section(1, vec(this.typeBytes)));
    const imports: number[][] = [];
    if (this.memory !== undefined) {
      const m = this.memory;
      const limits = m.max === undefined ? [0x00, ...uleb(m.min)] : [0x01, ...uleb(m.min), ...uleb(m.max)];
      imports.push([...name(m.module), ...name(m.name), 0x02, ...limits]);
    }
    for (const f of this.imports) imports.push([...name(f.module), ...name(f.name), 0x00, ...uleb(f.type)]);
    if (imports.length > 0) push(section(2, vec(imports)));
    if (this.functions.length > 0) push(section(3, vec(this.functions.map((f) => uleb(f.type)))));
    if (this.exports.length > 0) push(section(7, vec(this.exports.map((e) => [...name(e.name), e.kind, ...uleb(e.index)]))));
    if (this.functions.length > 0) push(section(10, vec(this.functions.map((f) => f.body.encode()))));
    // Memory 0, offset (i32.const … end), the bytes.
    if (this.data.length > 0) push(section(11, vec(this.data.map((d) => [0x00, 0x41, ...sleb(d.offset | 0), 0x0b, ...uleb(d.bytes.length), ...d.bytes]))));
    return Uint8Array.from(bytes);
  }
}
