/**
 * The integer SIMD kernels of the int8 module (index.ts), and the packing
 * functions its `init()` runs. Each kernel is generated for one step's
 * shapes and constants; the arithmetic is src/ir/reference-int.ts's in its
 * `xnnpack` rounding, lane for lane:
 *
 *   acc  = Σ (x − x_zp)(w − w_zp) + bias                           int32
 *   v    = f32(acc) · f32(M)                                         f32x4.convert, f32x4.mul
 *   v    = min(max(v, lo − y_zp), hi − y_zp)                         f32x4.pmax/pmin
 *   y    = bits(v + 1.5·2^23) − (bits(1.5·2^23) − y_zp)              round half to even, + y_zp
 *
 * The clamp comes before the rounding (the bounds are integers, so it
 * commutes with it) and keeps |v| < 2^22, where adding 1.5·2^23 rounds to
 * an integer half to even exactly as f32x4.nearest would; the sum's bits
 * are then that integer plus a constant. Narrowing (i16x8.narrow_i32x4_s,
 * i8x16.narrow_i16x8_s/u) never saturates after the clamp.
 *
 * Activations are stored as the model stores them (uint8 or int8), one
 * byte per channel, channel stride `stride(C)` = roundUp(C, 16) bytes in
 * the activation buffers; lanes past C hold whatever a kernel wrote there
 * and no kernel lets them reach a real channel (a GEMM's padding weights
 * are 0, the other kernels are per channel).
 *
 * Packed layouts (written by the pack functions from the canonical blob,
 * src/weights/int8.ts, at `init()`):
 *
 *   GEMM (conv, fc)  per block of 16 output channels: 16 int32 biases
 *                    with x_zp folded in (bias − x_zp·Σ_k (w − w_zp)),
 *                    16 f32 multipliers, then per pair of reduction
 *                    indices k, k+1: 16 channels × (w_k − w_zp, w_k+1 − w_zp)
 *                    as int16 — the second operand of i32x4.dot_i16x8_s
 *                    against a splat of (x_k, x_k+1). k runs over taps then
 *                    channels ((i·KW + j)·C + c), padded with zeros to kp.
 *   GEMM of one      (an fc, or a convolution whose output is one pixel:
 *   output pixel     each weight is read once per run) the same per block,
 *                    in bytes: 16 int32 biases with x_zp folded in, 16 f32
 *                    multipliers, 16 int32 weight zero points, then per
 *                    pair of k, 4 vectors × 4 channels × (w_k, w_k+1) as
 *                    the blob stores them (widened by the load); the sum
 *                    starts at bias − w_zp·Σ_k x_k, so that
 *                    Σ x·w − w_zp·Σ x = Σ x·(w − w_zp) (modulo 2^32, as
 *                    every sum here). Half the bytes of an int16 panel.
 *   depthwise        per group of 8 channels: 8 int32 biases, 8 f32
 *                    multipliers, 8 int32 biases with x_zp folded in
 *                    (bias − x_zp·Σ_t (w_t − w_zp)), then per pair of taps
 *                    (t, t+1) two int16 vectors of 4 channels ×
 *                    (w_t − w_zp, w_t+1 − w_zp) (an odd last tap paired with
 *                    0): i32x4.dot_i16x8_s against the two taps' inputs
 *                    interleaved (i16x8 unpack low / high, one punpck each).
 *                    A sliding 3×3 kernel (dwSliding) pairs its taps by
 *                    column (dwTapOrder): (0,j)·(1,j), (2,0)·(2,1), (2,2).
 *                    A pair-row kernel (pairRowKernel) holds 12 pairs: per
 *                    parity of its top row, per column j, the two rows of
 *                    the pair-row it reads first and of the next one —
 *                    even: (w0j, w1j), (w2j, 0); odd: (0, w0j), (w1j, w2j).
 */
import { InternalError } from "../../../ir/diagnostics.js";
import { QUANTIZED_RANGE, type QuantizedType } from "../../../ir/graph.js";
import { FunctionBody, type Local } from "../writer.js";

/** Output channels per GEMM weight block (four i32x4 accumulators). */
export const GEMM_BLOCK = 16;
/** Channels per depthwise group (one i16x8 of inputs). */
export const DW_GROUP = 8;

export const stride = (c: number): number => Math.ceil(c / 16) * 16;
export const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Bytes of a GEMM layer's packed weights: n output channels over a reduction of kp (a multiple of 8), as int16 or (one output pixel) as bytes. */
export function gemmPackedBytes(n: number, kp: number, bytes: boolean): number {
  return Math.ceil(n / GEMM_BLOCK) * gemmPanelBytes(kp, bytes);
}
export function gemmPanelBytes(kp: number, bytes: boolean): number {
  return gemmPanelHeader(bytes) + (kp / 2) * gemmPairBytes(bytes);
}
/** A panel's per-channel int32 and f32 words before its weights: biases, multipliers and (bytes) weight zero points. */
const gemmPanelHeader = (bytes: boolean): number => GEMM_BLOCK * (bytes ? 12 : 8);
/** A panel's bytes per pair of k: 16 channels × 2 weights. */
const gemmPairBytes = (bytes: boolean): number => (bytes ? 32 : 64);
/** Where a byte panel's weight zero points start. */
const GEMM_WZP = GEMM_BLOCK * 8;
/** Whether a GEMM reads byte panels: one output pixel, so that each weight is read once per run. */
export const gemmBytePanels = (pixels: number): boolean => pixels === 1;
export function dwPackedBytes(c: number, taps: number, pairRows = false): number {
  return Math.ceil(c / DW_GROUP) * dwGroupBytes(taps, pairRows);
}
export function dwGroupBytes(taps: number, pairRows = false): number {
  return DW_TAPS + (pairRows ? DW_PAIR_ROW_PAIRS : Math.ceil(taps / 2)) * 32;
}
/** Pairs of weight vectors per group of a pair-row 3×3 kernel: per parity of its top row, per column, the pair-row holding that row and the next. */
const DW_PAIR_ROW_PAIRS = 12;
/** Offsets in a depthwise group: biases, multipliers, biases with x_zp folded in, the pairs of taps. */
const DW_BIAS = 0;
const DW_M = 32;
const DW_FOLDED = 64;
const DW_TAPS = 96;

/** i8x16.shuffle lanes interleaving the low (high) four i16 lanes of two vectors, a0 b0 a1 b1 … (V8: punpcklwd, punpckhwd). */
const UNPACK_LOW_16 = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const UNPACK_HIGH_16 = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];

const MAGIC = 12582912; // 1.5·2^23
const MAGIC_BITS = 0x4b400000;

/** How a kernel's int32 accumulators become stored outputs. */
export interface Requant {
  /** The clamp on the stored output, activation included. */
  readonly lo: number;
  readonly hi: number;
  readonly zeroPoint: number;
  readonly type: QuantizedType;
  /**
   * Whether |acc·M| < 2^22 holds for every accumulator the layer can make
   * (its weights and biases bound it): then the float clamp is left out
   * and the activation's clamp is an i8x16 min/max of the stored bytes.
   */
  readonly bounded?: boolean;
  /** The one multiplier of a per-tensor layer (a constant instead of a load). */
  readonly uniform?: number;
}

/**
 * acc (i32x4 on the stack) × the f32x4 multiplier → stored values as i32x4
 * (see the header). The multiplier is the layer's one constant (`r.uniform`)
 * or, per channel, what `m` pushes; the constants come from locals that
 * requantConstants set once at the kernel's start.
 */
function requantize(f: FunctionBody, r: Requant, c: RequantConstants, m: () => void): void {
  f.f32x4ConvertI32x4S();
  if (c.uniform !== undefined) f.localGet(c.uniform);
  else m();
  f.f32x4Mul();
  if (r.bounded !== true) {
    f.f32x4Const(r.lo - r.zeroPoint).f32x4Pmax();
    f.f32x4Const(r.hi - r.zeroPoint).f32x4Pmin();
  }
  f.localGet(c.magic).f32x4Add().localGet(c.bits).i32x4Sub();
}

/** requantize's constants held in locals (a v128.const at each use costs V8 several instructions): the uniform multiplier where there is one, 1.5·2^23 and its bits less y_zp. */
interface RequantConstants {
  readonly uniform: Local | undefined;
  readonly magic: Local;
  readonly bits: Local;
}
function requantConstants(f: FunctionBody, r: Requant): RequantConstants {
  const c = { uniform: r.uniform === undefined ? undefined : f.local("v128"), magic: f.local("v128"), bits: f.local("v128") };
  if (c.uniform !== undefined) f.f32x4Const(r.uniform!).localSet(c.uniform);
  f.f32x4Const(MAGIC).localSet(c.magic);
  f.i32x4Const(MAGIC_BITS - r.zeroPoint, MAGIC_BITS - r.zeroPoint, MAGIC_BITS - r.zeroPoint, MAGIC_BITS - r.zeroPoint).localSet(c.bits);
  return c;
}

/** Two i16x8 on the stack → sixteen stored bytes, clamped to the activation's range when requantize left that out. */
function narrowBytes(f: FunctionBody, type: QuantizedType, r?: Requant): void {
  if (type === "uint8") f.i8x16NarrowI16x8U();
  else f.i8x16NarrowI16x8S();
  if (r === undefined || r.bounded !== true) return;
  const [lo, hi] = QUANTIZED_RANGE[type];
  const u = type === "uint8";
  if (r.lo > lo) {
    f.i32Const(r.lo).i8x16Splat();
    if (u) f.i8x16MaxU();
    else f.i8x16MaxS();
  }
  if (r.hi < hi) {
    f.i32Const(r.hi).i8x16Splat();
    if (u) f.i8x16MinU();
    else f.i8x16MinS();
  }
}

/** Load 8 stored bytes widened to i16x8. */
function load8x8(f: FunctionBody, type: QuantizedType, offset = 0): void {
  if (type === "uint8") f.v128Load8x8U(offset);
  else f.v128Load8x8S(offset);
}

/** A depthwise kernel's input row `row` (what `row` pushes): its address, or the x_zp row at `padding` where it lies outside [0, s.input[0]). */
function inputRow(f: FunctionBody, s: DepthwiseSpec, x: Local, row: () => void, padding: number): void {
  row();
  f.i32Const(s.input[1] * s.xStride).i32Mul().localGet(x).i32Add();
  f.i32Const(padding);
  row();
  f.i32Const(s.input[0]).i32LtU();
  f.select();
}

/** `bytes` (a multiple of 16) at `at` set to the byte `value`: a padding row of x_zp, or zeros. */
function fillBytes(f: FunctionBody, at: number, bytes: number, value: number): void {
  if (bytes % 16 !== 0) throw new InternalError(`int8 wasm: filling ${bytes} bytes, not whole vectors`);
  const p = f.local("i32");
  const v = f.local("v128");
  f.i32Const(value).i8x16Splat().localSet(v);
  f.i32Const(at).localSet(p);
  repeat(f, bytes / 16, () => {
    f.localGet(p).localGet(v).v128Store();
    bump(f, p, 16);
  });
}

/** A counted loop: body runs `count` times (count ≥ 1, known here). */
function repeat(f: FunctionBody, count: number, body: () => void): void {
  if (count <= 0) return;
  if (count === 1) {
    body();
    return;
  }
  const i = f.local("i32");
  f.i32Const(count).localSet(i);
  f.loop((top) => {
    body();
    f.localGet(i).i32Const(1).i32Sub().localTee(i).brIf(top);
  });
}

/** local += k */
function bump(f: FunctionBody, l: Local, k: number): void {
  if (k !== 0) f.localGet(l).i32Const(k).i32Add().localSet(l);
}

// ── GEMM: convolutions and fc ──────────────────────────────────────────────

export interface GemmSpec {
  /** Input [H, W, C], its channel stride in bytes and stored type. */
  readonly input: readonly [number, number, number];
  readonly xStride: number;
  readonly xType: QuantizedType;
  readonly xZeroPoint: number;
  /** The weights' stored type (a byte panel widens them as it loads them). */
  readonly wType: QuantizedType;
  /** Output [OH, OW, N] and its channel stride in bytes (≥ roundUp(N, 16)). */
  readonly output: readonly [number, number, number];
  readonly yStride: number;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly dilation: readonly [number, number];
  /** Top and left padding (SAME pads hold x_zp). */
  readonly pads: readonly [number, number];
  /** Absolute addresses of the packed weights and of the scratch the widened inputs go to. */
  readonly weights: number;
  readonly scratch: number;
  readonly requant: Requant;
  /** Pixels per register tile. */
  readonly mr: number;
  /** Bytes of widened rows per pass over the weight blocks. */
  readonly chunkBytes: number;
  /** A table activation: the 256-byte table's address, applied to the stored outputs (requant then yields the linear output's). */
  readonly table?: TableSpec;
  /** Vectors of 4 channels per tile (4: a whole block, 2: half of one), k pairs per loop iteration, and whether the tile's weight vectors are held while the pixels' splats stream (else the splats are held). */
  readonly nv: 2 | 4;
  readonly unroll: number;
  readonly holdWeights: boolean;
}

/** The reduction length rounded up to whole i16x8 vectors. */
export const gemmK = (kh: number, kw: number, c: number): number => roundUp(kh * kw * c, 8);

/** Scratch bytes a GEMM step needs: one row of kp int16 per output pixel of one pass (a 1×1 convolution: chunkBytes of rows; another: whole output rows of ow pixels), and slack. */
export function gemmScratchBytes(pixels: number, kp: number, pointwise: boolean, chunkBytes: number, mr: number, ow: number): number {
  const rows = pointwise ? Math.min(pixels, Math.max(mr, Math.floor(chunkBytes / (kp * 2) / mr) * mr)) : gemmPassRows(pixels / ow, ow, kp, chunkBytes) * ow;
  return rows * kp * 2 + 32;
}

/** Output rows per pass of a convolution that is not 1×1 (its im2col rows: about chunkBytes). */
export function gemmPassRows(oh: number, ow: number, kp: number, chunkBytes: number): number {
  return Math.max(1, Math.min(oh, Math.floor(chunkBytes / (ow * kp * 2))));
}

/** Whether a convolution reads its input rows as they are (1×1, stride 1, unpadded). */
export function isPointwise(s: Pick<GemmSpec, "kernel" | "stride" | "pads" | "input" | "output">): boolean {
  return s.kernel[0] === 1 && s.kernel[1] === 1 && s.stride[0] === 1 && s.stride[1] === 1 && s.pads[0] === 0 && s.pads[1] === 0 && s.input[0] === s.output[0] && s.input[1] === s.output[1];
}

/**
 * A convolution or fc as one int8 GEMM: (1) every output pixel's receptive
 * field, widened to int16, into a row of scratch (the im2col; a plain
 * widening for a 1×1 convolution); (2) per block of 16 output channels,
 * register tiles of mr pixels × 16 channels accumulated with
 * i32x4.dot_i16x8_s over pairs of k, requantized in the epilogue and stored
 * as 16 bytes per pixel. One output pixel reads byte panels (see the
 * header), its accumulators starting at bias − w_zp·Σ_k x_k.
 */
export function gemmKernel(s: GemmSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const x = f.param(0);
  const y = f.param(1);
  const [IH, IW, C] = s.input;
  const [OH, OW, N] = s.output;
  const [KH, KW] = s.kernel;
  const kp = gemmK(KH, KW, C);
  const rowBytes = kp * 2;
  const pixels = OH * OW;
  const chunks = Math.ceil(C / 8);
  const bytes = gemmBytePanels(pixels);
  const pairBytes = gemmPairBytes(bytes);

  // (1) widen / im2col
  const src = f.local("i32");
  const dst = f.local("i32");
  f.i32Const(s.scratch).localSet(dst);
  const pointwise = isPointwise(s);
  /** A 1×1 convolution's next `count` input rows widened into the scratch's first rows (each pass of the GEMM widens its own, while they are in cache). */
  const widen = (count: number): void => {
    f.i32Const(s.scratch).localSet(dst);
    repeat(f, count, () => {
      for (let q = 0; q < chunks; q++) {
        f.localGet(dst);
        f.localGet(src);
        load8x8(f, s.xType, q * 8);
        f.v128Store(q * 16);
      }
      bump(f, src, s.xStride);
      bump(f, dst, rowBytes);
    });
  };
  /** A convolution's next n output rows' receptive fields into the scratch's first rows (each pass of the GEMM makes its own, so that they are in cache). */
  let im2colRows: ((n: number) => void) | undefined;
  if (pointwise) {
    f.localGet(x).localSet(src);
  } else {
    const oy = f.local("i32");
    const ox = f.local("i32");
    const iy = f.local("i32");
    const ix = f.local("i32");
    const zp = f.local("v128");
    f.i32Const(s.xZeroPoint).i16x8Splat().localSet(zp);
    const [SH, SW] = s.stride;
    const [DH, DW] = s.dilation;
    const [top, left] = s.pads;
    /** Output columns [from, to) of row oy, each tap bounds-checked (x_zp outside). */
    const checked = (from: number, to: number): void => {
      if (to <= from) return;
      f.i32Const(from).localSet(ox);
      f.loop((cols) => {
        for (let i = 0; i < KH; i++) {
          f.localGet(oy).i32Const(SH).i32Mul().i32Const(i * DH - top).i32Add().localSet(iy);
          for (let j = 0; j < KW; j++) {
            const at = (i * KW + j) * C * 2;
            f.localGet(ox).i32Const(SW).i32Mul().i32Const(j * DW - left).i32Add().localSet(ix);
            f.localGet(iy).i32Const(IH).i32LtU().localGet(ix).i32Const(IW).i32LtU().i32And();
            f.if(
              () => {
                f.localGet(iy).i32Const(IW).i32Mul().localGet(ix).i32Add().i32Const(s.xStride).i32Mul().localGet(x).i32Add().localSet(src);
                for (let q = 0; q < chunks; q++) {
                  f.localGet(dst);
                  f.localGet(src);
                  load8x8(f, s.xType, q * 8);
                  f.v128Store(at + q * 16);
                }
              },
              () => {
                for (let q = 0; q < chunks; q++) f.localGet(dst).localGet(zp).v128Store(at + q * 16);
              },
            );
          }
        }
        bump(f, dst, rowBytes);
        f.localGet(ox).i32Const(1).i32Add().localTee(ox).i32Const(to).i32LtS().brIf(cols);
      });
    };
    // Columns whose taps all lie inside the row: [ca, cb); rows whose taps all lie inside: the test below.
    const ca = Math.min(OW, Math.max(0, Math.ceil(left / SW)));
    const cb = Math.max(ca, Math.min(OW, Math.floor((IW - 1 - (KW - 1) * DW + left) / SW) + 1));
    /** One output row's receptive fields (row oy) into the rows at dst. */
    const row = (): void => {
      if (IH - (KH - 1) * DH <= 0) {
        checked(0, OW);
        return;
      }
      // oy·SH − top ≥ 0 and oy·SH − top + (KH − 1)·DH < IH
      f.localGet(oy).i32Const(SH).i32Mul().i32Const(-top).i32Add().i32Const(IH - (KH - 1) * DH).i32LtU();
      f.if(
        () => {
          checked(0, ca);
          if (cb > ca) {
            // every tap at a constant offset from the window's corner
            f.localGet(oy).i32Const(SH).i32Mul().i32Const(-top).i32Add().i32Const(IW).i32Mul().i32Const(ca * SW - left).i32Add().i32Const(s.xStride).i32Mul().localGet(x).i32Add().localSet(src);
            repeat(f, cb - ca, () => {
              for (let i = 0; i < KH; i++)
                for (let j = 0; j < KW; j++)
                  for (let q = 0; q < chunks; q++) {
                    f.localGet(dst);
                    f.localGet(src);
                    load8x8(f, s.xType, (i * DH * IW + j * DW) * s.xStride + q * 8);
                    f.v128Store((i * KW + j) * C * 2 + q * 16);
                  }
              bump(f, src, SW * s.xStride);
              bump(f, dst, rowBytes);
            });
          }
          checked(cb, OW);
        },
        () => checked(0, OW),
      );
    };
    f.i32Const(0).localSet(oy);
    im2colRows = (n: number): void => {
      f.i32Const(s.scratch).localSet(dst);
      repeat(f, n, () => {
        row();
        bump(f, oy, 1);
      });
    };
  }

  // (2) the GEMM
  const blocks = Math.ceil(N / GEMM_BLOCK);
  const panelBytes = gemmPanelBytes(kp, bytes);
  const panel = f.local("i32");
  const yb = f.local("i32");
  const xr = f.local("i32");
  const yr = f.local("i32");
  const xp = f.local("i32");
  const wp = f.local("i32");
  const mr = Math.max(1, Math.min(s.mr, pixels));
  // The last block's first 8 channels alone (N mod 16 ≤ 8): twice the pixels per tile, the same 8 accumulators.
  const mrHalf = Math.max(1, Math.min(2 * s.mr, pixels));
  const accs = Array.from({ length: Math.max(mr, mrHalf) }, () => [0, 1, 2, 3].map(() => f.local("v128")));
  const xs = Array.from({ length: Math.max(mr, mrHalf) }, () => f.local("v128"));
  const w = f.local("v128");
  const rc = requantConstants(f, s.requant);
  /** A byte panel's Σ_k x_k of the one pixel, in every lane. */
  const xsum = bytes ? f.local("v128") : undefined;
  /** Weight vector v (4 channels × 2 k) of k pair u, relative to wp: int16 as packed, or bytes widened. */
  const weight = (u: number, v: number): void => {
    f.localGet(wp);
    if (bytes) load8x8(f, s.wType, u * pairBytes + v * 8);
    else f.v128Load(u * pairBytes + v * 16);
  };

  const nv = s.nv;
  const halves = GEMM_BLOCK / 4 / nv;
  const ws = Array.from({ length: nv }, () => f.local("v128"));
  // the pairs of k that hold weights: a reduction of odd length (a stem of 3 channels: 27) ends on a pair half zero, and the rows' zero padding to kp is never read
  const pairs = Math.ceil((KH * KW * C) / 2);
  const unroll = Math.min(s.unroll, pairs);
  /** One k pair u (relative to xp, wp): the tile's splats and dots. */
  const step = (rows: number, vs: readonly number[], u: number): void => {
    if (s.holdWeights) {
      vs.forEach((v, i) => {
        weight(u, v);
        f.localSet(ws[i]!);
      });
      for (let p = 0; p < rows; p++) {
        f.localGet(xp).v128Load32Splat(p * rowBytes + u * 4).localSet(xs[p]!);
        vs.forEach((v, i) => f.localGet(accs[p]![v]!).localGet(xs[p]!).localGet(ws[i]!).i32x4DotI16x8S().i32x4Add().localSet(accs[p]![v]!));
      }
      return;
    }
    for (let p = 0; p < rows; p++) f.localGet(xp).v128Load32Splat(p * rowBytes + u * 4).localSet(xs[p]!);
    for (const v of vs) {
      weight(u, v);
      f.localSet(w);
      for (let p = 0; p < rows; p++) f.localGet(accs[p]![v]!).localGet(xs[p]!).localGet(w).i32x4DotI16x8S().i32x4Add().localSet(accs[p]![v]!);
    }
  };
  /** A tile of `rows` pixels × the vectors `vs` (of 4 channels) of the current block. */
  const tile = (rows: number, vs: readonly number[]): void => {
    for (let p = 0; p < rows; p++)
      for (const v of vs) {
        f.localGet(panel).v128Load(16 * v);
        if (xsum !== undefined) f.localGet(xsum).localGet(panel).v128Load(GEMM_WZP + 16 * v).i32x4Mul().i32x4Sub();
        f.localSet(accs[p]![v]!);
      }
    f.localGet(xr).localSet(xp);
    f.localGet(panel).i32Const(gemmPanelHeader(bytes)).i32Add().localSet(wp);
    repeat(f, Math.floor(pairs / unroll), () => {
      for (let u = 0; u < unroll; u++) step(rows, vs, u);
      bump(f, xp, 4 * unroll);
      bump(f, wp, pairBytes * unroll);
    });
    for (let u = 0; u < pairs % unroll; u++) step(rows, vs, u);
    for (let p = 0; p < rows; p++) {
      f.localGet(yr);
      for (let half = 0; half < vs.length / 2; half++) {
        for (const v of vs.slice(2 * half, 2 * half + 2)) {
          f.localGet(accs[p]![v]!);
          requantize(f, s.requant, rc, () => f.localGet(panel).v128Load(64 + 16 * v));
        }
        f.i16x8NarrowI32x4S();
      }
      if (vs.length === 4) {
        narrowBytes(f, s.requant.type, s.requant);
        f.v128Store(p * s.yStride);
      } else {
        f.localGet(w);
        narrowBytes(f, s.requant.type, s.requant);
        f.v128Store64Lane(0, p * s.yStride + vs[0]! * 4);
      }
    }
  };
  /** The tiles of a block: all of it, or (the last block of a layer whose N mod 16 is at most 8) its first 8 channels. */
  const tiles = (rows: number, half: boolean): void => {
    if (half) tile(rows, [0, 1]);
    else for (let h = 0; h < halves; h++) tile(rows, Array.from({ length: nv }, (_, i) => h * nv + i));
  };
  const lastHalf = N % GEMM_BLOCK > 0 && N % GEMM_BLOCK <= 8;

  // Chunks of pixels whose widened rows stay in cache while every weight block passes over them.
  const chunk = Math.max(mr, Math.floor(s.chunkBytes / rowBytes / mr) * mr);
  const xc = f.local("i32");
  const yc = f.local("i32");
  const pass = (count: number, rows = 0): void => {
    if (pointwise) widen(count);
    else im2colRows?.(rows);
    if (xsum !== undefined) sumRow(f, s.scratch, KH * KW * C, xsum);
    f.i32Const(s.scratch).localSet(xc);
    f.i32Const(s.weights).localSet(panel);
    f.localGet(yc).localSet(yb);
    const block = (half: boolean): void => {
      const rows = half ? mrHalf : mr;
      f.localGet(xc).localSet(xr);
      f.localGet(yb).localSet(yr);
      repeat(f, Math.floor(count / rows), () => {
        tiles(rows, half);
        bump(f, xr, rows * rowBytes);
        bump(f, yr, rows * s.yStride);
      });
      if (count % rows !== 0) tiles(count % rows, half);
      bump(f, panel, panelBytes);
      bump(f, yb, GEMM_BLOCK);
    };
    repeat(f, lastHalf ? blocks - 1 : blocks, () => block(false));
    if (lastHalf) block(true);
    bump(f, xc, count * rowBytes);
    bump(f, yc, count * s.yStride);
  };
  f.i32Const(s.scratch).localSet(xc);
  f.localGet(y).localSet(yc);
  if (pointwise) {
    repeat(f, Math.floor(pixels / chunk), () => pass(chunk));
    if (pixels % chunk !== 0) pass(pixels % chunk);
  } else {
    // whole output rows per pass
    const rows = gemmPassRows(OH, OW, kp, s.chunkBytes);
    repeat(f, Math.floor(OH / rows), () => pass(rows * OW, rows));
    if (OH % rows !== 0) pass((OH % rows) * OW, OH % rows);
  }
  if (s.table !== undefined) tableLoop(f, y, y, pixels, N, s.yStride, s.yStride, s.table);
  return f;
}

/** Σ of the first k int16 of the row at `at` (lanes past k masked off) into every lane of `sum`. */
function sumRow(f: FunctionBody, at: number, k: number, sum: Local): void {
  const p = f.local("i32");
  const ones = f.local("v128");
  f.i32Const(1).i16x8Splat().localSet(ones);
  f.i32x4Const(0, 0, 0, 0).localSet(sum);
  f.i32Const(at).localSet(p);
  // pairs of int16 summed into int32 lanes: a dot product with ones
  repeat(f, Math.floor(k / 8), () => {
    f.localGet(sum).localGet(p).v128Load().localGet(ones).i32x4DotI16x8S().i32x4Add().localSet(sum);
    bump(f, p, 16);
  });
  if (k % 8 !== 0) {
    const mask = Array.from({ length: 8 }, (_, i) => (i < k % 8 ? 1 : 0));
    f.localGet(sum).localGet(p).v128Load();
    f.i32x4Const(mask[0]! | (mask[1]! << 16), mask[2]! | (mask[3]! << 16), mask[4]! | (mask[5]! << 16), mask[6]! | (mask[7]! << 16));
    f.i32x4DotI16x8S().i32x4Add().localSet(sum);
  }
  // the four lanes' total in every lane
  f.localGet(sum).localGet(sum).localGet(sum).i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).i32x4Add().localSet(sum);
  f.localGet(sum).localGet(sum).localGet(sum).i8x16Shuffle([4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]).i32x4Add().localSet(sum);
}

// ── depthwise ──────────────────────────────────────────────────────────────

export interface DepthwiseSpec {
  readonly input: readonly [number, number, number];
  readonly xStride: number;
  readonly xType: QuantizedType;
  readonly xZeroPoint: number;
  readonly output: readonly [number, number, number];
  readonly yStride: number;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly pads: readonly [number, number];
  readonly weights: number;
  /** A row of x_zp bytes (IW·xStride + 16), filled on entry: the rows above and below the input. */
  readonly scratch: number;
  readonly requant: Requant;
  readonly table?: TableSpec;
  /** Read the input through pair-rows (dwPairRows): the weights packed in that layout, the scratch as long as depthwiseScratchBytes says with its `pairRows` given. */
  readonly pairRows?: boolean;
}

/**
 * Whether a depthwise layer can read its input as pair-rows: a 3×3 kernel at
 * dilation 1 and vertical stride 1, where each pair-row serves four output
 * rows (at stride 2 it serves two, and the sliding kernel is as fast). The
 * caller also wants an input whose pixels are whole vectors, and rows wide
 * enough that converting them and loading each sweep's weights pay off.
 */
export function dwPairRows(s: Pick<DepthwiseSpec, "kernel" | "stride" | "dilation">): boolean {
  return s.kernel[0] === 3 && s.kernel[1] === 3 && s.dilation[0] === 1 && s.dilation[1] === 1 && s.stride[0] === 1;
}

/** Pixels of a pair-row: the input's columns with the left padding before them and whatever the last output reaches past them. */
function pairRowPixels(iw: number, ow: number, sw: number, left: number): number {
  return Math.max(iw + left, (ow - 1) * sw + 3);
}

/** Whether a depthwise layer's inside columns slide (a 3×3 kernel at horizontal stride and dilation 1; see depthwiseKernel). */
export function dwSliding(s: Pick<DepthwiseSpec, "kernel" | "stride" | "dilation">): boolean {
  return s.kernel[0] === 3 && s.kernel[1] === 3 && (s.stride[1] === 1 || s.stride[1] === 2) && s.dilation[1] === 1;
}

/**
 * The order of the taps (i·KW + j) in a depthwise group's pairs: row-major, or
 * for a sliding 3×3 kernel the columns' upper pairs (0,j)·(1,j), then (2,0)·(2,1), (2,2).
 */
export function dwTapOrder(sliding: boolean, taps: number): readonly number[] {
  return sliding ? [0, 3, 1, 4, 2, 5, 6, 7, 8] : Array.from({ length: taps }, (_, t) => t);
}

/** The x_zp row, and for a pair-row kernel its two pair-rows (int16, four bytes per channel). */
export function depthwiseScratchBytes(iw: number, xStride: number, pairRows?: { ow: number; sw: number; left: number }): number {
  const zpRow = roundUp(iw * xStride + 16, 16);
  return pairRows === undefined ? zpRow : zpRow + 2 * pairRowPixels(iw, pairRows.ow, pairRows.sw, pairRows.left) * xStride * 4;
}

/**
 * Depthwise convolution, 8 channels at a time: per output row the KH input
 * row addresses (the x_zp row where a row lies in the padding), per group
 * of 8 channels and output pixel two taps per i32x4.dot_i16x8_s on their
 * inputs interleaved. Columns that reach into the padding get code of
 * their own with only their valid taps (x − x_zp); a 3×3 kernel at
 * horizontal stride 1 or 2 slides through the inside columns, carrying
 * each column's widened, interleaved upper rows to the outputs that share it.
 */
export function depthwiseKernel(s: DepthwiseSpec): FunctionBody {
  if (s.pairRows === true) return pairRowKernel(s);
  const f = new FunctionBody(["i32", "i32"]);
  const x = f.param(0);
  const y = f.param(1);
  const [, IW, C] = s.input;
  const [OH, OW] = s.output;
  const [KH, KW] = s.kernel;
  const [SH, SW] = s.stride;
  const [DH, DW] = s.dilation;
  const [top, left] = s.pads;
  const taps = KH * KW;
  const groups = Math.ceil(C / DW_GROUP);
  const groupBytes = dwGroupBytes(taps);
  const sliding = dwSliding(s);
  const order = dwTapOrder(sliding, taps);

  // The padding row.
  fillBytes(f, s.scratch, depthwiseScratchBytes(IW, s.xStride), s.xZeroPoint);

  const oy = f.local("i32");
  const iy = f.local("i32");
  const rows = Array.from({ length: KH }, () => f.local("i32"));
  const bases = Array.from({ length: KH }, () => f.local("i32"));
  const g = f.local("i32");
  const wg = f.local("i32");
  const zp = f.local("v128");
  const accLo = f.local("v128");
  const accHi = f.local("v128");
  const xoff = f.local("i32");
  const yp = f.local("i32");
  const ox = f.local("i32");
  f.i32Const(s.xZeroPoint).i16x8Splat().localSet(zp);

  const yx = f.local("i32");
  // Columns whose taps all lie inside: [a, b).
  const a = Math.min(OW, Math.max(0, Math.ceil(left / SW)));
  const b = Math.max(a, Math.min(OW, Math.floor((IW - 1 - (KW - 1) * DW + left) / SW) + 1));

  const xa = f.local("v128");
  const xb = f.local("v128");
  const zero = f.local("v128");
  f.i32x4Const(0, 0, 0, 0).localSet(zero);
  const rc = requantConstants(f, s.requant);
  /** The requantized low and high accumulators stored as 8 bytes at the address `yAt` pushes. */
  const store = (yAt: () => void): void => {
    yAt();
    f.localGet(accLo);
    requantize(f, s.requant, rc, () => f.localGet(wg).v128Load(DW_M));
    f.localGet(accHi);
    requantize(f, s.requant, rc, () => f.localGet(wg).v128Load(DW_M + 16));
    f.i16x8NarrowI32x4S();
    f.localGet(zero); // any second operand: only the low 8 bytes are stored
    narrowBytes(f, s.requant.type, s.requant);
    f.v128Store64Lane(0);
  };

  /**
   * One output pixel: taps j of each row at base_i + offset(j) (undefined:
   * outside, its input 0). At the edges x − x_zp against the plain biases;
   * inside, x as it is against the folded ones (rows outside read the x_zp
   * row either way). Two taps per i32x4.dot_i16x8_s: their inputs
   * interleaved against the pair's weights, the low four channels and the
   * high four.
   */
  const pixel = (offsetOf: (j: number) => number | undefined, edge: boolean, yAt: () => void): void => {
    f.localGet(wg).v128Load(edge ? DW_BIAS : DW_FOLDED).localSet(accLo);
    f.localGet(wg).v128Load(edge ? DW_BIAS + 16 : DW_FOLDED + 16).localSet(accHi);
    /** The input of the tap at position q of the order (x − x_zp at the edges) into `into`; false when it lies outside. */
    const load = (q: number, into: Local): boolean => {
      if (q >= taps) return false;
      const tap = order[q]!;
      const off = offsetOf(tap % KW);
      if (off === undefined) return false;
      f.localGet(bases[Math.floor(tap / KW)]!);
      load8x8(f, s.xType, off);
      if (edge) f.localGet(zp).i16x8Sub();
      f.localSet(into);
      return true;
    };
    for (let p = 0; 2 * p < taps; p++) {
      const hasA = load(2 * p, xa);
      const hasB = load(2 * p + 1, xb);
      if (!hasA && !hasB) continue;
      const a = hasA ? xa : zero;
      const b = hasB ? xb : zero;
      f.localGet(accLo).localGet(a).localGet(b).i8x16Shuffle(UNPACK_LOW_16).localGet(wg).v128Load(DW_TAPS + 32 * p).i32x4DotI16x8S().i32x4Add().localSet(accLo);
      f.localGet(accHi).localGet(a).localGet(b).i8x16Shuffle(UNPACK_HIGH_16).localGet(wg).v128Load(DW_TAPS + 32 * p + 16).i32x4DotI16x8S().i32x4Add().localSet(accHi);
    }
    store(yAt);
  };

  // The sliding interior of a 3×3 kernel at horizontal stride and dilation 1: an output's
  // columns s, s+1, s+2 are its neighbour's s+1, s+2, s+3, so each column's two upper rows
  // are widened and interleaved once (the pairs (0,j)·(1,j) of the tap order) and carried
  // in registers to the next two outputs; the bottom row pairs (2,0)·(2,1), and (2,2) with
  // zero. Per output: 3 widening loads and 6 unpacks instead of 9 and 10.
  // Three sets of carried registers, unrolled by three so that they rotate by name.
  const vs = sliding ? [0, 1, 2].map(() => [f.local("v128"), f.local("v128")]) : [];
  const x2 = sliding ? [0, 1, 2].map(() => f.local("v128")) : [];
  const widen = (row: number, col: number): void => {
    f.localGet(bases[row]!);
    load8x8(f, s.xType, col * s.xStride);
  };
  /** Column `col`'s rows 0 and 1 widened and interleaved into v (low four channels, high four), and its row 2 widened into x. */
  const column = (col: number, v: readonly Local[], x: Local): void => {
    widen(0, col);
    f.localSet(xa);
    widen(1, col);
    f.localSet(xb);
    f.localGet(xa).localGet(xb).i8x16Shuffle(UNPACK_LOW_16).localSet(v[0]!);
    f.localGet(xa).localGet(xb).i8x16Shuffle(UNPACK_HIGH_16).localSet(v[1]!);
    widen(2, col);
    f.localSet(x);
  };
  /** One output from the columns in sets r0, r1, r2, stored k outputs after yx. */
  const slideDots = (r0: number, r1: number, r2: number, k: number): void => {
    for (const [h, acc, unpack] of [
      [0, accLo, UNPACK_LOW_16],
      [1, accHi, UNPACK_HIGH_16],
    ] as const) {
      f.localGet(wg).v128Load(DW_FOLDED + 16 * h);
      [r0, r1, r2].forEach((r, p) => f.localGet(vs[r]![h]!).localGet(wg).v128Load(DW_TAPS + 32 * p + 16 * h).i32x4DotI16x8S().i32x4Add());
      f.localGet(x2[r0]!).localGet(x2[r1]!).i8x16Shuffle(unpack).localGet(wg).v128Load(DW_TAPS + 32 * 3 + 16 * h).i32x4DotI16x8S().i32x4Add();
      f.localGet(x2[r2]!).localGet(zero).i8x16Shuffle(unpack).localGet(wg).v128Load(DW_TAPS + 32 * 4 + 16 * h).i32x4DotI16x8S().i32x4Add();
      f.localSet(acc);
    }
    store(() => void f.localGet(yx).i32Const(k * s.yStride).i32Add());
  };
  /**
   * Stride 1: output k of an iteration unrolled by three reads columns k, k+1, k+2
   * (relative to the bases), set k mod 3 holding column k, and widens column k+2.
   * Stride 2: output k of an iteration unrolled by two reads columns 2k, 2k+1, 2k+2,
   * column 2k carried in set k mod 2, 2k+1 widened into set 2, 2k+2 into the other carried set.
   */
  const slideOutput = (k: number): void => {
    if (SW === 1) {
      const [r0, r1, r2] = [k % 3, (k + 1) % 3, (k + 2) % 3];
      column(k + 2, vs[r2]!, x2[r2]!);
      slideDots(r0, r1, r2, k);
      return;
    }
    const r0 = k % 2;
    const r2 = 1 - r0;
    column(2 * k + 1, vs[2]!, x2[2]!);
    column(2 * k + 2, vs[r2]!, x2[r2]!);
    slideDots(r0, 2, r2, k);
  };
  const slide = (count: number): void => {
    const unroll = SW === 1 ? 3 : 2;
    column(0, vs[0]!, x2[0]!);
    if (SW === 1) column(1, vs[1]!, x2[1]!);
    repeat(f, Math.floor(count / unroll), () => {
      for (let k = 0; k < unroll; k++) slideOutput(k);
      for (let i = 0; i < KH; i++) bump(f, bases[i]!, unroll * SW * s.xStride);
      bump(f, yx, unroll * s.yStride);
    });
    for (let k = 0; k < count % unroll; k++) slideOutput(k);
  };

  f.i32Const(0).localSet(oy);
  f.localGet(y).localSet(yp);
  f.loop((rowLoop) => {
    for (let i = 0; i < KH; i++) {
      f.localGet(oy).i32Const(SH).i32Mul().i32Const(i * DH - top).i32Add().localSet(iy);
      inputRow(f, s, x, () => void f.localGet(iy), s.scratch);
      f.localSet(rows[i]!);
    }
    f.i32Const(s.weights).localSet(wg);
    f.i32Const(0).localSet(g);
    f.loop((groupLoop) => {
      // bases_i = row_i + 8g (+ the column's offset in the immediate or xoff)
      const setBases = (extra: boolean): void => {
        for (let i = 0; i < KH; i++) {
          f.localGet(rows[i]!).localGet(g).i32Const(DW_GROUP).i32Mul().i32Add();
          if (extra) f.localGet(xoff).i32Add();
          f.localSet(bases[i]!);
        }
      };
      const yAtStatic = (o: number) => (): void => {
        f.localGet(yp).localGet(g).i32Const(DW_GROUP).i32Mul().i32Add().i32Const(o * s.yStride).i32Add();
      };
      const edge = (o: number): void => {
        setBases(false);
        pixel(
          (j) => {
            const ix = o * SW - left + j * DW;
            return ix >= 0 && ix < IW ? ix * s.xStride : undefined;
          },
          true,
          yAtStatic(o),
        );
      };
      for (let o = 0; o < a; o++) edge(o);
      if (b > a) {
        // bases_i = row_i + 8g + (a·SW − left)·xStride, then SW pixels on per column
        f.i32Const((a * SW - left) * s.xStride).localSet(xoff);
        setBases(true);
        f.localGet(yp).localGet(g).i32Const(DW_GROUP).i32Mul().i32Add().i32Const(a * s.yStride).i32Add().localSet(yx);
        if (sliding) slide(b - a);
        else {
          f.i32Const(a).localSet(ox);
          f.loop((colLoop) => {
            pixel(
              (j) => j * DW * s.xStride,
              false,
              () => void f.localGet(yx),
            );
            for (let i = 0; i < KH; i++) bump(f, bases[i]!, SW * s.xStride);
            bump(f, yx, s.yStride);
            f.localGet(ox).i32Const(1).i32Add().localTee(ox).i32Const(b).i32LtS().brIf(colLoop);
          });
        }
      }
      for (let o = b; o < OW; o++) edge(o);
      bump(f, wg, groupBytes);
      f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(groups).i32LtS().brIf(groupLoop);
    });
    bump(f, yp, OW * s.yStride);
    f.localGet(oy).i32Const(1).i32Add().localTee(oy).i32Const(OH).i32LtS().brIf(rowLoop);
  });
  if (s.table !== undefined) tableLoop(f, y, y, OH * OW, C, s.yStride, s.yStride, s.table);
  return f;
}

/**
 * A 3×3 depthwise kernel (dilation 1, any stride and padding) that first
 * rewrites its input rows two by two as pair-rows: per pixel and group of 8
 * channels, (x − x_zp) of the even row and of the odd row interleaved as
 * int16, channels 0–3 then 4–7, so that one i32x4.dot_i16x8_s takes a
 * column's two rows of four channels with no unpack. An output whose top
 * input row r0 is even reads the pair-row r0/2 against (w0, w1) and the next
 * against (w2, 0); an odd r0 reads pair-row (r0 − 1)/2 against (0, w0) and
 * the next against (w1, w2): the weights hold both parities. Padding is 0 in
 * the pair-rows (rows outside read the x_zp row; the columns around the row
 * are zeroed), so every output is computed alike against the plain biases.
 * Two pair-rows are live at a time (a ring of two). Each half of a group
 * (4 channels) sweeps a row of outputs with its 6 weight vectors, bias and
 * multipliers held in registers.
 */
function pairRowKernel(s: DepthwiseSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const x = f.param(0);
  const y = f.param(1);
  const [, IW, C] = s.input;
  const [OH, OW] = s.output;
  const [SH, SW] = s.stride;
  const [top, left] = s.pads;
  const groups = Math.ceil(C / DW_GROUP);
  const groupBytes = dwGroupBytes(9, true);
  const P = s.xStride * 4; // bytes per pixel of a pair-row
  const PW = pairRowPixels(IW, OW, SW, left);
  const slotBytes = PW * P;
  const zpRowBytes = depthwiseScratchBytes(IW, s.xStride);
  const ring = s.scratch + zpRowBytes;

  // The x_zp row, and the padding columns of both pair-rows: 0.
  fillBytes(f, s.scratch, zpRowBytes, s.xZeroPoint);
  for (let slot = 0; slot < 2; slot++) {
    for (const [from, to] of [
      [0, left],
      [IW + left, PW],
    ] as const) {
      if (to > from) fillBytes(f, ring + slot * slotBytes + from * P, (to - from) * P, 0);
    }
  }
  const p = f.local("i32");

  // convert(): rows 2·next and 2·next + 1 (the x_zp row where outside) into pair-row slot next & 1.
  const m = f.local("i32");
  const next = f.local("i32");
  const ra = f.local("i32");
  const rb = f.local("i32");
  const dst = f.local("i32");
  const zp = f.local("v128");
  const va = f.local("v128");
  const vb = f.local("v128");
  f.i32Const(s.xZeroPoint).i16x8Splat().localSet(zp);
  const convert = (): void => {
    inputRow(f, s, x, () => void f.localGet(next).i32Const(1).i32Shl(), s.scratch);
    f.localSet(ra);
    inputRow(f, s, x, () => void f.localGet(next).i32Const(1).i32Shl().i32Const(1).i32Add(), s.scratch);
    f.localSet(rb);
    f.localGet(next).i32Const(1).i32And().i32Const(slotBytes).i32Mul().i32Const(ring + left * P).i32Add().localSet(dst);
    repeat(f, (IW * s.xStride) / 8, () => {
      f.localGet(ra);
      load8x8(f, s.xType);
      f.localGet(zp).i16x8Sub().localSet(va);
      f.localGet(rb);
      load8x8(f, s.xType);
      f.localGet(zp).i16x8Sub().localSet(vb);
      f.localGet(dst).localGet(va).localGet(vb).i8x16Shuffle(UNPACK_LOW_16).v128Store();
      f.localGet(dst).localGet(va).localGet(vb).i8x16Shuffle(UNPACK_HIGH_16).v128Store(16);
      bump(f, ra, 8);
      bump(f, rb, 8);
      bump(f, dst, 32);
    });
  };

  const oy = f.local("i32");
  const r0 = f.local("i32");
  const b1 = f.local("i32");
  const b2 = f.local("i32");
  const c1 = f.local("i32");
  const c2 = f.local("i32");
  const yrow = f.local("i32");
  const yx = f.local("i32");
  const wset = f.local("i32");
  const wg = f.local("i32");
  const g = f.local("i32");
  const h = f.local("i32");
  const acc = f.local("v128");
  const bias = f.local("v128");
  const mult = f.local("v128");
  const ws = Array.from({ length: 6 }, () => f.local("v128"));
  const rc = requantConstants(f, s.requant);

  // the first pair-row the first output reads
  f.i32Const(-top).i32Const(1).i32ShrS().localSet(next);
  f.i32Const(0).localSet(oy);
  f.localGet(y).localSet(yrow);
  f.loop((rowLoop) => {
    f.localGet(oy).i32Const(SH).i32Mul().i32Const(-top).i32Add().localSet(r0);
    f.localGet(r0).i32Const(1).i32ShrS().localSet(m);
    // pair-rows m and m + 1 converted
    f.block((ready) => {
      f.loop((more) => {
        f.localGet(next).localGet(m).i32Const(1).i32Add().i32GtS().brIf(ready);
        convert();
        bump(f, next, 1);
        f.br(more);
      });
    });
    f.localGet(m).i32Const(1).i32And().i32Const(slotBytes).i32Mul().i32Const(ring).i32Add().localSet(b1);
    f.localGet(m).i32Const(1).i32Add().i32Const(1).i32And().i32Const(slotBytes).i32Mul().i32Const(ring).i32Add().localSet(b2);
    // the weights of r0's parity: the odd set after the even one
    f.localGet(r0).i32Const(1).i32And().i32Const(6 * 32).i32Mul().localSet(wset);
    f.i32Const(s.weights).localSet(wg);
    f.i32Const(0).localSet(g);
    f.loop((groupLoop) => {
      f.i32Const(0).localSet(h);
      f.loop((halfLoop) => {
        // the half's weights, bias and multipliers
        f.localGet(wg).localGet(h).i32Const(16).i32Mul().i32Add().localTee(p);
        f.v128Load(DW_BIAS).localSet(bias);
        f.localGet(p).v128Load(DW_M).localSet(mult);
        f.localGet(p).localGet(wset).i32Add().localSet(p);
        ws.forEach((w, k) => f.localGet(p).v128Load(DW_TAPS + 32 * k).localSet(w));
        // c1, c2: the half's vectors in pair-rows m and m + 1 at the first output's first column
        f.localGet(g).i32Const(32).i32Mul().localGet(h).i32Const(16).i32Mul().i32Add().localTee(p);
        f.localGet(b1).i32Add().localSet(c1);
        f.localGet(p).localGet(b2).i32Add().localSet(c2);
        f.localGet(yrow).localGet(g).i32Const(DW_GROUP).i32Mul().i32Add().localGet(h).i32Const(4).i32Mul().i32Add().localSet(yx);
        /** Output k (of the iteration) requantized, as i32x4 on the stack. */
        const output = (k: number): void => {
          f.localGet(bias);
          for (let j = 0; j < 3; j++) {
            const at = (k * SW + j) * P;
            f.localGet(c1).v128Load(at).localGet(ws[2 * j]!).i32x4DotI16x8S().i32x4Add();
            f.localGet(c2).v128Load(at).localGet(ws[2 * j + 1]!).i32x4DotI16x8S().i32x4Add();
          }
          requantize(f, s.requant, rc, () => f.localGet(mult));
        };
        /** Outputs 0 and 1 narrowed together: one pack per step for both, then each one's four bytes. */
        repeat(f, Math.floor(OW / 2), () => {
          output(0);
          output(1);
          f.i16x8NarrowI32x4S().localTee(va).localGet(va);
          narrowBytes(f, s.requant.type, s.requant);
          f.localSet(vb);
          f.localGet(yx).localGet(vb).v128Store32Lane(0);
          f.localGet(yx).localGet(vb).v128Store32Lane(1, s.yStride);
          bump(f, c1, 2 * SW * P);
          bump(f, c2, 2 * SW * P);
          bump(f, yx, 2 * s.yStride);
        });
        if (OW % 2 === 1) {
          output(0);
          f.localTee(acc).localGet(acc).i16x8NarrowI32x4S().localTee(va).localGet(va);
          narrowBytes(f, s.requant.type, s.requant);
          f.localSet(vb);
          f.localGet(yx).localGet(vb).v128Store32Lane(0);
        }
        f.localGet(h).i32Const(1).i32Add().localTee(h).i32Const(2).i32LtS().brIf(halfLoop);
      });
      bump(f, wg, groupBytes);
      f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(groups).i32LtS().brIf(groupLoop);
    });
    bump(f, yrow, OW * s.yStride);
    f.localGet(oy).i32Const(1).i32Add().localTee(oy).i32Const(OH).i32LtS().brIf(rowLoop);
  });
  if (s.table !== undefined) tableLoop(f, y, y, OH * OW, C, s.yStride, s.yStride, s.table);
  return f;
}

// ── table activations ──────────────────────────────────────────────────────

/** A 256-entry activation table (activationTable in src/ir/reference-int.ts) as bytes: entry q − lo of the input type's range. */
export interface TableSpec {
  readonly address: number;
  /** The type of the values looked up (int8: the index is the byte + 128, i.e. its top bit flipped). */
  readonly from: QuantizedType;
}

/** y[p, c] = table[x[p, c]] for `pixels` pixels of `channels` bytes, scalar (in place when x = y). */
function tableLoop(f: FunctionBody, x: Local, y: Local, pixels: number, channels: number, xStride: number, yStride: number, t: TableSpec): void {
  const src = f.local("i32");
  const dst = f.local("i32");
  const c = f.local("i32");
  f.localGet(x).localSet(src);
  f.localGet(y).localSet(dst);
  repeat(f, pixels, () => {
    f.i32Const(0).localSet(c);
    f.loop((top) => {
      f.localGet(dst).localGet(c).i32Add();
      f.localGet(src).localGet(c).i32Add().i32Load8U();
      if (t.from === "int8") f.i32Const(0x80).i32Xor();
      f.i32Load8U(t.address);
      f.i32Store8();
      f.localGet(c).i32Const(1).i32Add().localTee(c).i32Const(channels).i32LtS().brIf(top);
    });
    bump(f, src, xStride);
    bump(f, dst, yStride);
  });
}

/** A standalone activation: every stored value through its table. */
export function tableKernel(pixels: number, channels: number, xStride: number, yStride: number, t: TableSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  tableLoop(f, f.param(0), f.param(1), pixels, channels, xStride, yStride, t);
  return f;
}

// ── mul ────────────────────────────────────────────────────────────────────

export interface MulSpec {
  readonly pixels: number;
  readonly channels: number;
  readonly stride: number;
  readonly aType: QuantizedType;
  readonly bType: QuantizedType;
  readonly aZeroPoint: number;
  readonly bZeroPoint: number;
  /** The second operand's address; broadcast: one pixel (1×1×C, an SE gate) for every pixel of a. */
  readonly b: number;
  readonly broadcast: boolean;
  readonly requant: Requant;
}

/** y = requantize((a − a_zp)·(b − b_zp)) + y_zp, 8 lanes at a time (i32x4.extmul of int16 lanes). */
export function mulKernel(s: MulSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const a = f.param(0);
  const y = f.param(1);
  const rc = requantConstants(f, s.requant);
  const bp = f.local("i32");
  const va = f.local("v128");
  const vb = f.local("v128");
  const azp = f.local("v128");
  const bzp = f.local("v128");
  f.i32Const(s.aZeroPoint).i16x8Splat().localSet(azp);
  f.i32Const(s.bZeroPoint).i16x8Splat().localSet(bzp);
  const eight = (): void => {
    f.localGet(a);
    load8x8(f, s.aType);
    f.localGet(azp).i16x8Sub().localSet(va);
    f.localGet(bp);
    load8x8(f, s.bType);
    f.localGet(bzp).i16x8Sub().localSet(vb);
    f.localGet(y);
    f.localGet(va).localGet(vb).i32x4ExtmulLowI16x8S();
    requantize(f, s.requant, rc, () => undefined);
    f.localGet(va).localGet(vb).i32x4ExtmulHighI16x8S();
    requantize(f, s.requant, rc, () => undefined);
    f.i16x8NarrowI32x4S();
    f.localGet(va);
    narrowBytes(f, s.requant.type, s.requant);
    f.v128Store64Lane(0);
  };
  const groups = Math.ceil(s.channels / 8);
  if (!s.broadcast) {
    f.i32Const(s.b).localSet(bp);
    repeat(f, Math.ceil((s.pixels * s.stride) / 8), () => {
      eight();
      bump(f, a, 8);
      bump(f, bp, 8);
      bump(f, y, 8);
    });
  } else {
    repeat(f, s.pixels, () => {
      f.i32Const(s.b).localSet(bp);
      for (let q = 0; q < groups; q++) {
        eight();
        bump(f, a, 8);
        bump(f, bp, 8);
        bump(f, y, 8);
      }
      bump(f, a, s.stride - groups * 8);
      bump(f, y, s.stride - groups * 8);
    });
  }
  return f;
}

// ── max pool ───────────────────────────────────────────────────────────────

export interface MaxPoolSpec {
  readonly input: readonly [number, number, number];
  readonly xStride: number;
  readonly xType: QuantizedType;
  readonly xZeroPoint: number;
  readonly output: readonly [number, number, number];
  readonly yStride: number;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly pads: readonly [number, number];
  /** Absent when input and output share a quantization (the max as it is); else requantize(max − x_zp) + y_zp. */
  readonly requant?: Requant;
}

/** Max pool: the largest stored value of each window's in-bounds cells, 8 channels at a time as int16. */
export function maxpoolKernel(s: MaxPoolSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const x = f.param(0);
  const y = f.param(1);
  const rc = s.requant === undefined ? undefined : requantConstants(f, s.requant);
  const [IH, IW, C] = s.input;
  const [OH, OW] = s.output;
  const [KH, KW] = s.kernel;
  const [SH, SW] = s.stride;
  const [top, left] = s.pads;
  const groups = Math.ceil(C / 8);
  const oy = f.local("i32");
  const ox = f.local("i32");
  const y0 = f.local("i32");
  const y1 = f.local("i32");
  const x0 = f.local("i32");
  const x1 = f.local("i32");
  const iy = f.local("i32");
  const ix = f.local("i32");
  const g = f.local("i32");
  const m = f.local("v128");
  const yp = f.local("i32");
  const a = f.local("i32");
  const b = f.local("i32");
  const clampTo = (lo: number, hi: number): void => {
    // the i32 on the stack into [lo, hi]
    f.localTee(a).i32Const(lo).localGet(a).i32Const(lo).i32GtS().select().localTee(b).i32Const(hi).localGet(b).i32Const(hi).i32LtS().select();
  };
  f.localGet(y).localSet(yp);
  f.i32Const(0).localSet(oy);
  f.loop((rowLoop) => {
    f.localGet(oy).i32Const(SH).i32Mul().i32Const(top).i32Sub();
    clampTo(0, IH);
    f.localSet(y0);
    f.localGet(oy).i32Const(SH).i32Mul().i32Const(KH - top).i32Add();
    clampTo(0, IH);
    f.localSet(y1);
    f.i32Const(0).localSet(ox);
    f.loop((colLoop) => {
      f.localGet(ox).i32Const(SW).i32Mul().i32Const(left).i32Sub();
      clampTo(0, IW);
      f.localSet(x0);
      f.localGet(ox).i32Const(SW).i32Mul().i32Const(KW - left).i32Add();
      clampTo(0, IW);
      f.localSet(x1);
      f.i32Const(0).localSet(g);
      f.loop((groupLoop) => {
        f.i32Const(-32768).i16x8Splat().localSet(m);
        f.localGet(y0).localSet(iy);
        f.loop((yLoop) => {
          f.localGet(x0).localSet(ix);
          f.loop((xLoop) => {
            f.localGet(m);
            f.localGet(iy).i32Const(IW).i32Mul().localGet(ix).i32Add().i32Const(s.xStride).i32Mul().localGet(x).i32Add().localGet(g).i32Const(8).i32Mul().i32Add();
            load8x8(f, s.xType);
            f.i16x8MaxS().localSet(m);
            f.localGet(ix).i32Const(1).i32Add().localTee(ix).localGet(x1).i32LtS().brIf(xLoop);
          });
          f.localGet(iy).i32Const(1).i32Add().localTee(iy).localGet(y1).i32LtS().brIf(yLoop);
        });
        f.localGet(yp).localGet(ox).i32Const(s.yStride).i32Mul().i32Add().localGet(g).i32Const(8).i32Mul().i32Add();
        const r = s.requant;
        if (r === undefined) {
          f.localGet(m).localGet(m);
          narrowBytes(f, s.xType);
        } else {
          f.localGet(m).i32x4ExtendLowI16x8S().i32Const(s.xZeroPoint).i32x4Splat().i32x4Sub();
          requantize(f, r, rc!, () => undefined);
          f.localGet(m).i32x4ExtendHighI16x8S().i32Const(s.xZeroPoint).i32x4Splat().i32x4Sub();
          requantize(f, r, rc!, () => undefined);
          f.i16x8NarrowI32x4S().localGet(m);
          narrowBytes(f, r.type, r);
        }
        f.v128Store64Lane(0);
        f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(groups).i32LtS().brIf(groupLoop);
      });
      f.localGet(ox).i32Const(1).i32Add().localTee(ox).i32Const(OW).i32LtS().brIf(colLoop);
    });
    bump(f, yp, OW * s.yStride);
    f.localGet(oy).i32Const(1).i32Add().localTee(oy).i32Const(OH).i32LtS().brIf(rowLoop);
  });
  return f;
}

// ── average pool ───────────────────────────────────────────────────────────

export interface PoolSpec {
  readonly input: readonly [number, number, number];
  readonly xStride: number;
  readonly xType: QuantizedType;
  readonly xZeroPoint: number;
  readonly output: readonly [number, number, number];
  readonly yStride: number;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly pads: readonly [number, number];
  /** f32(s_x) and f32(s_y): M = f32(s_x) / f32(f32(s_y)·count), per window as the reference computes it. */
  readonly sx: number;
  readonly sy: number;
  readonly requant: Requant;
}

/** Average pool: Σ (x − x_zp) over each window's in-bounds cells, 8 channels at a time, requantized with the window's M. */
export function avgpoolKernel(s: PoolSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const x = f.param(0);
  const y = f.param(1);
  const rc = requantConstants(f, s.requant);
  const [IH, IW, C] = s.input;
  const [OH, OW] = s.output;
  const [KH, KW] = s.kernel;
  const [SH, SW] = s.stride;
  const [top, left] = s.pads;
  const groups = Math.ceil(C / DW_GROUP);
  const oy = f.local("i32");
  const ox = f.local("i32");
  const y0 = f.local("i32");
  const y1 = f.local("i32");
  const x0 = f.local("i32");
  const x1 = f.local("i32");
  const iy = f.local("i32");
  const ix = f.local("i32");
  const count = f.local("i32");
  const m = f.local("v128");
  const g = f.local("i32");
  const p = f.local("i32");
  const v = f.local("v128");
  const accLo = f.local("v128");
  const accHi = f.local("v128");
  const yp = f.local("i32");
  const maxI = (): void => {
    // max of the two i32 on the stack
    const b = f.local("i32");
    const a = f.local("i32");
    f.localSet(b).localSet(a);
    f.localGet(a).localGet(b).localGet(a).localGet(b).i32GtS().select();
  };
  const minI = (): void => {
    const b = f.local("i32");
    const a = f.local("i32");
    f.localSet(b).localSet(a);
    f.localGet(a).localGet(b).localGet(a).localGet(b).i32LtS().select();
  };
  f.localGet(y).localSet(yp);
  f.i32Const(0).localSet(oy);
  f.loop((rowLoop) => {
    f.localGet(oy).i32Const(SH).i32Mul().i32Const(top).i32Sub().localTee(y0).i32Const(KH).i32Add().i32Const(IH);
    minI();
    f.localSet(y1);
    f.localGet(y0).i32Const(0);
    maxI();
    f.localSet(y0);
    f.i32Const(0).localSet(ox);
    f.loop((colLoop) => {
      f.localGet(ox).i32Const(SW).i32Mul().i32Const(left).i32Sub().localTee(x0).i32Const(KW).i32Add().i32Const(IW);
      minI();
      f.localSet(x1);
      f.localGet(x0).i32Const(0);
      maxI();
      f.localSet(x0);
      f.localGet(y1).localGet(y0).i32Sub().localGet(x1).localGet(x0).i32Sub().i32Mul().localSet(count);
      f.f32Const(Math.fround(s.sx)).f32Const(Math.fround(s.sy)).localGet(count).f32ConvertI32S().f32Mul().f32Div().f32x4Splat().localSet(m);
      f.i32Const(0).localSet(g);
      f.loop((groupLoop) => {
        f.i32x4Const(0, 0, 0, 0).localTee(accLo).localSet(accHi);
        f.localGet(y0).localSet(iy);
        f.loop((yLoop) => {
          f.localGet(x0).localSet(ix);
          f.loop((xLoop) => {
            f.localGet(iy).i32Const(IW).i32Mul().localGet(ix).i32Add().i32Const(s.xStride).i32Mul().localGet(x).i32Add().localGet(g).i32Const(8).i32Mul().i32Add().localSet(p);
            f.localGet(p);
            load8x8(f, s.xType);
            f.localSet(v);
            f.localGet(accLo).localGet(v).i32x4ExtendLowI16x8S().i32x4Add().localSet(accLo);
            f.localGet(accHi).localGet(v).i32x4ExtendHighI16x8S().i32x4Add().localSet(accHi);
            f.localGet(ix).i32Const(1).i32Add().localTee(ix).localGet(x1).i32LtS().brIf(xLoop);
          });
          f.localGet(iy).i32Const(1).i32Add().localTee(iy).localGet(y1).i32LtS().brIf(yLoop);
        });
        f.localGet(yp).localGet(ox).i32Const(s.yStride).i32Mul().i32Add().localGet(g).i32Const(8).i32Mul().i32Add();
        for (const acc of [accLo, accHi]) {
          f.localGet(acc).localGet(count).i32Const(s.xZeroPoint).i32Mul().i32x4Splat().i32x4Sub();
          requantize(f, s.requant, rc, () => f.localGet(m));
        }
        f.i16x8NarrowI32x4S();
        f.localGet(v);
        narrowBytes(f, s.requant.type);
        f.v128Store64Lane(0);
        f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(groups).i32LtS().brIf(groupLoop);
      });
      f.localGet(ox).i32Const(1).i32Add().localTee(ox).i32Const(OW).i32LtS().brIf(colLoop);
    });
    bump(f, yp, OW * s.yStride);
    f.localGet(oy).i32Const(1).i32Add().localTee(oy).i32Const(OH).i32LtS().brIf(rowLoop);
  });
  return f;
}

// ── add ────────────────────────────────────────────────────────────────────

export interface AddSpec {
  /** Pixels, and the channel stride (bytes) of a, b and y alike. */
  readonly pixels: number;
  readonly channels: number;
  readonly stride: number;
  readonly aType: QuantizedType;
  readonly bType: QuantizedType;
  /** The second operand's address; broadcast: one pixel (1×1×C) for every pixel of a. */
  readonly b: number;
  readonly broadcast: boolean;
  /** XNNPACK's vadd parameters: multipliers, bias (with both zero points) and shift. */
  readonly ma: number;
  readonly mb: number;
  readonly bias: number;
  readonly shift: number;
  readonly yZeroPoint: number;
  readonly yType: QuantizedType;
}

/** XNNPACK's quantized add: y = ((bias + a·m_a + b·m_b) >> shift) + y_zp, saturated, 8 lanes at a time. */
export function addKernel(s: AddSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const a = f.param(0);
  const y = f.param(1);
  const bp = f.local("i32");
  const va = f.local("v128");
  const vb = f.local("v128");
  const ma = f.local("v128");
  const mb = f.local("v128");
  const bias = f.local("v128");
  const zp = f.local("v128");
  f.i32Const(s.ma).i32x4Splat().localSet(ma);
  f.i32Const(s.mb).i32x4Splat().localSet(mb);
  f.i32Const(s.bias).i32x4Splat().localSet(bias);
  f.i32Const(s.yZeroPoint).i16x8Splat().localSet(zp);
  const eight = (): void => {
    f.localGet(a);
    load8x8(f, s.aType);
    f.localSet(va);
    f.localGet(bp);
    load8x8(f, s.bType);
    f.localSet(vb);
    f.localGet(y);
    for (const half of ["low", "high"] as const) {
      const ext = (): void => void (half === "low" ? f.i32x4ExtendLowI16x8S() : f.i32x4ExtendHighI16x8S());
      f.localGet(bias);
      f.localGet(va);
      ext();
      f.localGet(ma).i32x4Mul().i32x4Add();
      f.localGet(vb);
      ext();
      f.localGet(mb).i32x4Mul().i32x4Add();
      f.i32Const(s.shift).i32x4ShrS();
    }
    f.i16x8NarrowI32x4S().localGet(zp).i16x8AddSatS();
    f.localGet(va);
    narrowBytes(f, s.yType);
    f.v128Store64Lane(0);
  };
  if (!s.broadcast) {
    f.i32Const(s.b).localSet(bp);
    repeat(f, Math.ceil((s.pixels * s.stride) / 8), () => {
      eight();
      bump(f, a, 8);
      bump(f, bp, 8);
      bump(f, y, 8);
    });
  } else {
    const groups = Math.ceil(s.channels / 8);
    repeat(f, s.pixels, () => {
      f.i32Const(s.b).localSet(bp);
      for (let q = 0; q < groups; q++) {
        eight();
        bump(f, a, 8);
        bump(f, bp, 8);
        bump(f, y, 8);
      }
      bump(f, a, s.stride - groups * 8);
      bump(f, y, s.stride - groups * 8);
    });
  }
  return f;
}

// ── softmax ────────────────────────────────────────────────────────────────

export interface SoftmaxSpec {
  readonly pixels: number;
  readonly channels: number;
  readonly xStride: number;
  readonly yStride: number;
  readonly xType: QuantizedType;
  /** The 256 float32 entries exp(−s_x·d), at this address. */
  readonly table: number;
  readonly sy: number;
  readonly yZeroPoint: number;
  readonly lo: number;
  readonly hi: number;
}

/** TFLite's quantized softmax, scalar: the max, the float32 sum of table entries in channel order, each output floor(t·inv + 0.5) + y_zp. */
export function softmaxKernel(s: SoftmaxSpec): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const x = f.param(0);
  const y = f.param(1);
  const c = f.local("i32");
  const max = f.local("i32");
  const q = f.local("i32");
  const sum = f.local("f32");
  const inv = f.local("f32");
  const r = f.local("i32");
  const load = (): void => void (s.xType === "uint8" ? f.i32Load8U() : f.i32Load8S());
  /** The table entry of channel c: t[max − x[c]]. */
  const entry = (): void => {
    f.localGet(max).localGet(x).localGet(c).i32Add();
    load();
    f.i32Sub().i32Const(4).i32Mul().i32Const(s.table).i32Add().f32Load();
  };
  const channels = (body: () => void): void => {
    f.i32Const(0).localSet(c);
    f.loop((top) => {
      body();
      f.localGet(c).i32Const(1).i32Add().localTee(c).i32Const(s.channels).i32LtS().brIf(top);
    });
  };
  repeat(f, s.pixels, () => {
    f.i32Const(-1000).localSet(max);
    channels(() => {
      f.localGet(x).localGet(c).i32Add();
      load();
      f.localTee(q).localGet(max).localGet(q).localGet(max).i32GtS().select().localSet(max);
    });
    f.f32Const(0).localSet(sum);
    channels(() => {
      f.localGet(sum);
      entry();
      f.f32Add().localSet(sum);
    });
    f.f32Const(1).localGet(sum).f32Const(Math.fround(s.sy)).f32Mul().f32Div().localSet(inv);
    channels(() => {
      f.localGet(y).localGet(c).i32Add();
      entry();
      f.localGet(inv).f32Mul().f64PromoteF32().f64Const(0.5).f64Add().f64Floor().i32TruncF64S().i32Const(s.yZeroPoint).i32Add().localSet(r);
      f.i32Const(s.lo).localGet(r).localGet(r).i32Const(s.lo).i32LtS().select().localSet(r);
      f.i32Const(s.hi).localGet(r).localGet(r).i32Const(s.hi).i32GtS().select();
      f.i32Store8();
    });
    bump(f, x, s.xStride);
    bump(f, y, s.yStride);
  });
  return f;
}

// ── copies ─────────────────────────────────────────────────────────────────

/**
 * Copy `pixels` pixels of `channels` bytes from stride xStride to stride
 * yStride, 16 bytes at a time in order (each pixel's overrun is rewritten
 * by the next; the last one's lands in the region's slack).
 */
export function copyKernel(pixels: number, channels: number, xStride: number, yStride: number): FunctionBody {
  const f = new FunctionBody(["i32", "i32"]);
  const x = f.param(0);
  const y = f.param(1);
  const chunks = Math.ceil(channels / 16);
  repeat(f, pixels, () => {
    for (let q = 0; q < chunks; q++) f.localGet(y).localGet(x).v128Load(16 * q).v128Store(16 * q);
    bump(f, x, xStride);
    bump(f, y, yStride);
  });
  return f;
}

// ── packing (init) ─────────────────────────────────────────────────────────

/**
 * pack_gemm(src, bias, dst, params, n, k, c, taps, kp, xzp, signed, bytes):
 * a conv's or fc's blob kernel [n, c·taps] (OIHW: k = c·taps + t) and int32
 * biases (bias = −1: none) into GEMM panels at dst, int16 or (bytes = 1)
 * byte panels (see the header); params holds n int32 weight zero points,
 * then n f32 multipliers.
 */
export function packGemmFunction(): FunctionBody {
  const f = new FunctionBody(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, bias, dst, params, n, k, c, taps, kp, xzp, signed, bytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => f.param(i)) as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const o = f.local("i32");
  const i = f.local("i32");
  const panel = f.local("i32");
  const lane = f.local("i32");
  const zp = f.local("i32");
  const sum = f.local("i32");
  const w = f.local("i32");
  /** w − w_zp */
  const d = f.local("i32");
  const kk = f.local("i32");
  const at = f.local("i32");
  const panelBytes = f.local("i32");
  f.localGet(bytes).if(
    () => void f.localGet(kp).i32Const(gemmPairBytes(true) / 2).i32Mul().i32Const(gemmPanelHeader(true)).i32Add().localSet(panelBytes),
    () => void f.localGet(kp).i32Const(gemmPairBytes(false) / 2).i32Mul().i32Const(gemmPanelHeader(false)).i32Add().localSet(panelBytes),
  );
  f.i32Const(0).localSet(o);
  f.block((done) => {
    f.localGet(n).i32Eqz().brIf(done);
    f.loop((outer) => {
      f.localGet(o).i32Const(GEMM_BLOCK).i32DivU().localGet(panelBytes).i32Mul().localGet(dst).i32Add().localSet(panel);
      f.localGet(o).i32Const(GEMM_BLOCK).i32RemU().localSet(lane);
      f.localGet(params).localGet(o).i32Const(4).i32Mul().i32Add().i32Load().localSet(zp);
      f.i32Const(0).localSet(sum);
      f.i32Const(0).localSet(i);
      f.loop((inner) => {
        f.localGet(src).localGet(o).localGet(k).i32Mul().i32Add().localGet(i).i32Add().localSet(at);
        f.localGet(signed).if(
          () => void f.localGet(at).i32Load8S().localSet(w),
          () => void f.localGet(at).i32Load8U().localSet(w),
        );
        f.localGet(w).localGet(zp).i32Sub().localSet(d);
        f.localGet(sum).localGet(d).i32Add().localSet(sum);
        // k' = (i mod taps)·c + i / taps
        f.localGet(i).localGet(taps).i32RemU().localGet(c).i32Mul().localGet(i).localGet(taps).i32DivU().i32Add().localSet(kk);
        f.localGet(bytes).if(
          () => {
            // panel + 12·16 + (k'>>1)·32 + (lane>>2)·8 + (lane&3)·2 + (k'&1): the stored byte
            f.localGet(panel).i32Const(gemmPanelHeader(true)).i32Add();
            f.localGet(kk).i32Const(1).i32ShrU().i32Const(gemmPairBytes(true)).i32Mul().i32Add();
            f.localGet(lane).i32Const(2).i32ShrU().i32Const(8).i32Mul().i32Add();
            f.localGet(lane).i32Const(3).i32And().i32Const(2).i32Mul().i32Add();
            f.localGet(kk).i32Const(1).i32And().i32Add();
            f.localGet(w).i32Store8();
          },
          () => {
            // panel + 8·16 + ((k'>>1)·16 + lane)·4 + (k'&1)·2: w − w_zp
            f.localGet(panel).i32Const(gemmPanelHeader(false)).i32Add();
            f.localGet(kk).i32Const(1).i32ShrU().i32Const(GEMM_BLOCK).i32Mul().localGet(lane).i32Add().i32Const(4).i32Mul().i32Add();
            f.localGet(kk).i32Const(1).i32And().i32Const(2).i32Mul().i32Add();
            f.localGet(d).i32Store16();
          },
        );
        f.localGet(i).i32Const(1).i32Add().localTee(i).localGet(k).i32LtS().brIf(inner);
      });
      // bias − x_zp·Σ (w − w_zp)
      f.localGet(panel).localGet(lane).i32Const(4).i32Mul().i32Add();
      f.localGet(bias).i32Const(-1).i32Eq().if(
        () => void f.i32Const(0).localSet(w),
        () => void f.localGet(bias).localGet(o).i32Const(4).i32Mul().i32Add().i32Load().localSet(w),
      );
      f.localGet(w).localGet(xzp).localGet(sum).i32Mul().i32Sub().i32Store();
      // the multiplier
      f.localGet(panel).localGet(lane).i32Const(4).i32Mul().i32Add();
      f.localGet(params).localGet(n).localGet(o).i32Add().i32Const(4).i32Mul().i32Add().i32Load();
      f.i32Store(4 * GEMM_BLOCK);
      // a byte panel's weight zero point
      f.localGet(bytes).if(() => void f.localGet(panel).localGet(lane).i32Const(4).i32Mul().i32Add().localGet(zp).i32Store(GEMM_WZP));
      f.localGet(o).i32Const(1).i32Add().localTee(o).localGet(n).i32LtS().brIf(outer);
    });
  });
  return f;
}

/** pack_dw's `mode`: the taps' order in a group. */
export const DW_PACK = { rowMajor: 0, sliding: 1, pairRows: 2 } as const;

/**
 * pack_dw(src, bias, dst, params, c, taps, xzp, signed, mode): a depthwise
 * layer's blob kernel [c, taps] and biases into groups of 8 channels at dst
 * (see the header): the taps row-major, in dwTapOrder's sliding order, or
 * (pair-rows) each tap twice, once per parity set (pairRowKernel).
 */
export function packDepthwiseFunction(): FunctionBody {
  const f = new FunctionBody(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, bias, dst, params, c, taps, xzp, signed, mode] = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => f.param(i)) as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const o = f.local("i32");
  const t = f.local("i32");
  const q = f.local("i32");
  const group = f.local("i32");
  const lane = f.local("i32");
  const zp = f.local("i32");
  const w = f.local("i32");
  const at = f.local("i32");
  const sum = f.local("i32");
  const groupBytes = f.local("i32");
  const ti = f.local("i32");
  const tj = f.local("i32");
  f.localGet(taps).i32Const(1).i32Add().i32Const(1).i32ShrU().i32Const(32).i32Mul().i32Const(DW_TAPS).i32Add();
  f.i32Const(DW_TAPS + DW_PAIR_ROW_PAIRS * 32);
  f.localGet(mode).i32Const(DW_PACK.pairRows).i32Ne().select().localSet(groupBytes);
  f.i32Const(0).localSet(o);
  f.block((done) => {
    f.localGet(c).i32Eqz().brIf(done);
    f.loop((outer) => {
      f.localGet(o).i32Const(DW_GROUP).i32DivU().localGet(groupBytes).i32Mul().localGet(dst).i32Add().localSet(group);
      f.localGet(o).i32Const(DW_GROUP).i32RemU().localSet(lane);
      f.localGet(params).localGet(o).i32Const(4).i32Mul().i32Add().i32Load().localSet(zp);
      f.i32Const(0).localSet(sum);
      f.i32Const(0).localSet(t);
      f.loop((inner) => {
        f.localGet(src).localGet(o).localGet(taps).i32Mul().i32Add().localGet(t).i32Add().localSet(at);
        f.localGet(signed).if(
          () => void f.localGet(at).i32Load8S().localSet(w),
          () => void f.localGet(at).i32Load8U().localSet(w),
        );
        f.localGet(w).localGet(zp).i32Sub().localSet(w);
        f.localGet(sum).localGet(w).i32Add().localSet(sum);
        /** w at position q (a pair's vectors, then its first or second int16): DW_TAPS + (q>>1)·32 + (lane>>2)·16 + (lane&3)·4 + (q&1)·2 */
        const put = (): void => {
          f.localGet(group).i32Const(DW_TAPS).i32Add().localGet(q).i32Const(1).i32ShrU().i32Const(32).i32Mul().i32Add();
          f.localGet(lane).i32Const(2).i32ShrU().i32Const(16).i32Mul().i32Add().localGet(lane).i32Const(3).i32And().i32Const(4).i32Mul().i32Add();
          f.localGet(q).i32Const(1).i32And().i32Const(2).i32Mul().i32Add();
          f.localGet(w).i32Store16();
        };
        f.localGet(t).i32Const(3).i32DivU().localSet(ti);
        f.localGet(t).i32Const(3).i32RemU().localSet(tj);
        f.localGet(mode).i32Const(DW_PACK.pairRows).i32Eq().if(
          () => {
            // even top row: pair 2j + (i = 2), at (i = 1); odd: pair 6 + 2j + (i ≥ 1), at (i ≠ 1)
            f.localGet(tj).i32Const(2).i32Mul().localGet(ti).i32Const(2).i32Eq().i32Add().i32Const(2).i32Mul();
            f.localGet(ti).i32Const(1).i32Eq().i32Add().localSet(q);
            put();
            f.localGet(tj).i32Const(2).i32Mul().i32Const(6).i32Add().localGet(ti).i32Const(1).i32GeU().i32Add().i32Const(2).i32Mul();
            f.localGet(ti).i32Const(1).i32Ne().i32Add().localSet(q);
            put();
          },
          () => {
            // q: the tap's position in dwTapOrder (sliding: t < 6 at (t mod 3)·2 + t / 3)
            f.localGet(tj).i32Const(2).i32Mul().localGet(ti).i32Add();
            f.localGet(t);
            f.localGet(mode).i32Const(DW_PACK.sliding).i32Eq().localGet(t).i32Const(6).i32LtU().i32And().select().localSet(q);
            put();
          },
        );
        f.localGet(t).i32Const(1).i32Add().localTee(t).localGet(taps).i32LtS().brIf(inner);
      });
      f.localGet(bias).i32Const(-1).i32Eq().if(
        () => void f.i32Const(0).localSet(w),
        () => void f.localGet(bias).localGet(o).i32Const(4).i32Mul().i32Add().i32Load().localSet(w),
      );
      f.localGet(lane).i32Const(4).i32Mul().localGet(group).i32Add().localSet(at);
      f.localGet(at).localGet(w).i32Store(DW_BIAS);
      f.localGet(at).localGet(w).localGet(xzp).localGet(sum).i32Mul().i32Sub().i32Store(DW_FOLDED);
      f.localGet(at);
      f.localGet(params).localGet(c).localGet(o).i32Add().i32Const(4).i32Mul().i32Add().i32Load();
      f.i32Store(DW_M);
      f.localGet(o).i32Const(1).i32Add().localTee(o).localGet(c).i32LtS().brIf(outer);
    });
  });
  return f;
}

/** Zero `bytes` (a multiple of 16) at `at`. */
export function zeroKernel(at: number, bytes: number): FunctionBody {
  const f = new FunctionBody([]);
  fillBytes(f, at, bytes, 0);
  return f;
}
