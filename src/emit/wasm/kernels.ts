/**
 * WebAssembly SIMD kernels for the layers of MobileNet-style networks, each
 * generated for one layer: every shape, stride, pad, weight address and
 * activation is a constant in the code. A kernel is a function
 * `(x: i32, y: i32) → ()` of the byte addresses of one batch item's input and
 * output activation in the shared memory; weights, and the further operands
 * of elementwise work (a residual, an SE gate), are read at the absolute
 * addresses given in its spec.
 *
 * Activations are NHWC float32 with a channel stride (floats from one pixel
 * to the next). Inside a network every buffer uses the padded stride
 * Cs = roundUp(C, 4). Every vector kernel writes whole vectors, whose
 * padding lanes come out as act(0 + 0) (zero weights, zero bias): 0, except
 * ½ after a sigmoid or hard sigmoid; the scalar ones (softmax, copy) write
 * zeros there. No kernel lets a padding lane reach a real channel: the GEMMs
 * reduce over the first C lanes only (fc over all of them, against zero
 * weights), the others work lane by lane. Kernels that splat input values one
 * at a time (pointwise, conv, fc) read any stride, so they also read the
 * network's unpadded input directly; the ones that are vectorised across
 * channels (depthwise, pooling, elementwise) need Cs = roundUp(C, 4) — a
 * `copy` kernel pads the input for them.
 *
 * The kernels, and how their weights are packed (see pack* below):
 *
 *   pointwise    1x1 stride-1 conv and fc: a register-blocked GEMM
 *                Y[p, n] = act(bias[n] + Σ_k X[p, k]·W[k, n]), a tile of MR
 *                pixels × NV vectors of 4 output channels in registers; it
 *                can add a residual in its epilogue, y = act(…) + r, and read
 *                its input times an SE gate by scaling its weights first
 *   conv         any other full convolution, direct (no im2col): the same tile
 *                over MR neighbouring output pixels, its taps at constant offsets
 *   depthwise    vectorised across channels, windows split by row and column
 *                into an interior without bounds checks and a border whose
 *                clipped windows are resolved when the code is generated
 *   pool         windowed average (padding not counted) and max (padding
 *                ignored) on the same scheme; globalPool for `global`
 *   elementwise  a + b or a · b of two tensors of one layout (residual adds)
 *   scale        x · gate or x + gate, the gate 1×1×C broadcast over the pixels (SE)
 *   softmax      scalar, over the channels of each pixel, in f64 with an exp
 *                of its own (no imports)
 *   copy         re-strides an activation (pads the input, compacts the output)
 *
 * and those of graph networks:
 *
 *   dilated      depthwise and conv take a dilation: taps D apart, border
 *                runs by axisRuns; a depthwise block takes outputs D apart so
 *                that the columns it loads still serve several outputs
 *   deconv       transposed convolution, gathered per output phase on the
 *                conv tiles (packDeconv: a convolution's panels); at most 3
 *                output channels sum over input channel vectors instead
 *   resize       bilinear / nearest from per-axis tables (resizeTables, a
 *                data segment); upsampling in two passes through scratch rows
 *   concat       channel slices at any lane, pixel by pixel
 *   activation   ACTIVATION_CODE over a tensor
 *   argmax       vectorised over channels, then across lanes
 *
 * Every convolution applies its activation as it stores, through the
 * ACTIVATION_CODE table (sigmoid with a vectorised exp, expVector).
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Activation, Pads, Pair, ResizeCoords, ResizeMode } from "../../ir/graph.js";
import { resizeAxis } from "../../ir/ops/resize.js";
import { FunctionBody, type Local, type ValType } from "./writer.js";

// ── tuning ─────────────────────────────────────────────────────────────────

/**
 * Register blocking and loop shapes. The defaults were measured with V8 on
 * x86-64 (16 xmm registers), whose compiler issues every load of a basic
 * block before the arithmetic that uses them: a tile must therefore fit its
 * accumulators and one reduction step's inputs (mr splats, nv weight
 * vectors) in the registers at once, and the reduction loop is not unrolled
 * (each iteration is its own basic block). Spilling costs a factor of two.
 */
export interface Tuning {
  /** Pixels per GEMM tile. */
  readonly mr: number;
  /** Vectors of 4 output channels per GEMM tile (layers with fewer pixels than mr get more, within `registers`). */
  readonly nv: number;
  /** v128 values a tile may keep live: mr·nv accumulators + mr splats + nv weights. */
  readonly registers: number;
  /** Reduction steps per loop iteration. */
  readonly unroll: number;
  /** Bytes of input rows per GEMM chunk (kept in L2 while every panel passes over them). */
  readonly chunkBytes: number;
  /** Output pixels per depthwise / pooling block. */
  readonly dwBlock: number;
}

export const DEFAULT_TUNING: Tuning = {
  mr: 4,
  nv: 2,
  registers: 14,
  unroll: 1,
  chunkBytes: 256 * 1024,
  dwBlock: 4,
};

/** The tile of a GEMM over `pixels` output pixels: mr pixels × nv vectors of 4 channels. */
export function gemmTile(pixels: number, t: Tuning = DEFAULT_TUNING): { readonly mr: number; readonly nv: number } {
  if (pixels >= t.mr) return { mr: t.mr, nv: t.nv };
  const mr = Math.max(1, pixels);
  // The most vectors that fit: mr·nv + mr + nv ≤ registers.
  const nv = Math.max(1, Math.floor((t.registers - mr) / (mr + 1)));
  return { mr, nv };
}

export const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

// ── weight packing ─────────────────────────────────────────────────────────

/**
 * GEMM weights in panels of 4·nv output channels (the last panel may be
 * narrower: the rest of the channels, rounded up to 4). A panel of width B
 * holds B bias values, then for each reduction index k its B weights:
 *
 *   panel j:  [bias: B][k = 0: B][k = 1: B] … [k = K−1: B]      (1 + K)·B floats
 *
 * Channels past `n` (up to the multiple of 4) are zero. `weight(k, o)` gives
 * the weight of reduction index k for output channel o; `bias(o)` its bias.
 */
export function packPanels(n: number, k: number, nv: number, weight: (k: number, o: number) => number, bias: (o: number) => number): Float32Array {
  const np = roundUp4(n);
  const out = new Float32Array(panelFloats(np, k));
  let at = 0;
  for (let o0 = 0; o0 < np; o0 += 4 * nv) {
    const b = Math.min(4 * nv, np - o0);
    for (let i = 0; i < b; i++) out[at + i] = o0 + i < n ? bias(o0 + i) : 0;
    for (let kk = 0; kk < k; kk++) {
      const row = at + (1 + kk) * b;
      for (let i = 0; i < b; i++) if (o0 + i < n) out[row + i] = weight(kk, o0 + i);
    }
    at += (1 + k) * b;
  }
  return out;
}

/** Floats of packPanels' output: (1 + K) rows of all roundUp4(n) channels. */
export function panelFloats(n: number, k: number): number {
  return (1 + k) * roundUp4(n);
}

/**
 * A pointwise kernel (OIHW [out, in, 1, 1], row-major data) and its bias as
 * GEMM panels (see packPanels): W[k = input channel][n = output channel].
 */
export function packPointwise(kernel: Float32Array, out: number, inChannels: number, bias: Float32Array | undefined, nv: number): Float32Array {
  if (kernel.length !== out * inChannels) throw new InternalError(`wasm: a ${out}x${inChannels} pointwise kernel has ${kernel.length} values`);
  return packPanels(out, inChannels, nv, (k, o) => kernel[o * inChannels + k]!, (o) => bias?.[o] ?? 0);
}

/**
 * A full convolution (OIHW [out, in, kh, kw]) as GEMM panels whose reduction
 * index is k = (kh·KW + kw)·C + c — tap-major, channels innermost, the
 * order of an NHWC receptive field.
 */
export function packConv(kernel: Float32Array, out: number, inChannels: number, [kh, kw]: Pair, bias: Float32Array | undefined, nv: number): Float32Array {
  if (kernel.length !== out * inChannels * kh * kw) throw new InternalError(`wasm: a conv kernel has ${kernel.length} values`);
  return packTaps(out, inChannels, kh * kw, (o, c, t) => kernel[(o * inChannels + c) * kh * kw + t]!, bias, nv);
}

/**
 * A transposed convolution's kernel (ONNX ConvTranspose's [in, out, kh, kw])
 * as GEMM panels of its output channels, laid out as packConv lays out a
 * convolution's: reduction index k = (i·KW + j)·C + c for tap (i, j) and
 * input channel c, weight K[c, o, i, j]. The kernel (deconvKernel) reads, for
 * each output phase, the rows of the taps that reach it; the taps are not
 * flipped in the packing.
 */
export function packDeconv(kernel: Float32Array, inChannels: number, out: number, [kh, kw]: Pair, bias: Float32Array | undefined, nv: number): Float32Array {
  if (kernel.length !== out * inChannels * kh * kw) throw new InternalError(`wasm: a deconv kernel has ${kernel.length} values`);
  return packTaps(out, inChannels, kh * kw, (o, c, t) => kernel[(c * out + o) * kh * kw + t]!, bias, nv);
}

/** GEMM panels over reduction index k = t·C + c (tap-major, channels innermost), weight(o, c, t) for output o. */
function packTaps(out: number, inChannels: number, taps: number, weight: (o: number, c: number, t: number) => number, bias: Float32Array | undefined, nv: number): Float32Array {
  return packPanels(
    out,
    taps * inChannels,
    nv,
    (k, o) => {
      const t = Math.floor(k / inChannels);
      return weight(o, k - t * inChannels, t);
    },
    (o) => bias?.[o] ?? 0,
  );
}

/**
 * A fully connected kernel ([out, C·H·W], features channel-major as ONNX
 * Flatten orders them) as GEMM panels over the NHWC input as it lies in
 * memory: k = (h·W + w)·stride + c, with zero rows for the padding lanes
 * c ≥ C.
 */
export function packFc(kernel: Float32Array, out: number, [h, w, c]: readonly [number, number, number], stride: number, bias: Float32Array | undefined, nv: number): Float32Array {
  const features = h * w * c;
  if (kernel.length !== out * features) throw new InternalError(`wasm: an fc kernel has ${kernel.length} values`);
  return packPanels(
    out,
    h * w * stride,
    nv,
    (k, o) => {
      const p = Math.floor(k / stride);
      const ch = k - p * stride;
      return ch < c ? kernel[o * features + ch * h * w + p]! : 0;
    },
    (o) => bias?.[o] ?? 0,
  );
}

/**
 * A depthwise kernel ([C, 1, kh, kw]) and its bias, tap-major with channels
 * innermost, padded to Cs = roundUp4(C) with zeros:
 *
 *   [bias: Cs][tap (0,0): Cs][tap (0,1): Cs] … [tap (kh−1, kw−1): Cs]
 */
export function packDepthwise(kernel: Float32Array, channels: number, [kh, kw]: Pair, bias: Float32Array | undefined): Float32Array {
  const taps = kh * kw;
  if (kernel.length !== channels * taps) throw new InternalError(`wasm: a depthwise kernel has ${kernel.length} values`);
  const cs = roundUp4(channels);
  const out = new Float32Array((1 + taps) * cs);
  for (let c = 0; c < channels; c++) {
    out[c] = bias?.[c] ?? 0;
    for (let t = 0; t < taps; t++) out[(1 + t) * cs + c] = kernel[c * taps + t]!;
  }
  return out;
}

export function depthwiseFloats(channels: number, [kh, kw]: Pair): number {
  return (1 + kh * kw) * roundUp4(channels);
}

// ── specs ──────────────────────────────────────────────────────────────────

/** Y[p, n] = act(bias[n] + Σ_k X[p·xStride + k]·W[k, n]) for p < pixels, n < n (written up to roundUp4(n)). */
export interface PointwiseSpec {
  readonly pixels: number;
  /** Reduction length (input channels; for fc, H·W·stride). */
  readonly k: number;
  /** Floats from one input pixel to the next. */
  readonly xStride: number;
  /** Output channels; the output's stride is roundUp4(n). */
  readonly n: number;
  /** Byte address of the packPanels weights. */
  readonly weights: number;
  readonly act: Activation;
  /**
   * A residual fused into the epilogue: the byte address of a tensor laid
   * out as the output (pixels × roundUp4(n)), added after the activation,
   * y = act(…) + r. It may be the output itself (computed in place).
   */
  readonly residual?: number;
  /**
   * A squeeze-and-excitation gate fused into the prologue: the input is read
   * as X[p, k]·gate[k] by scaling the weights instead, W'[k, n] = gate[k]·W[k, n],
   * written at `scratch` (panelFloats(n, k) floats) once per call; `gate`
   * is the byte address of k floats.
   */
  readonly gate?: { readonly address: number; readonly scratch: number };
  readonly tuning?: Tuning;
}

/** A full KH×KW convolution of an H×W×C input (channel stride xStride) into OH×OW×roundUp4(N). */
export interface ConvSpec {
  readonly input: readonly [h: number, w: number, c: number];
  readonly xStride: number;
  readonly output: readonly [h: number, w: number, c: number];
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pads: Pads;
  /** Taps this far apart (atrous convolution); absent means 1×1. */
  readonly dilation?: Pair;
  /** Byte address of the packConv weights. */
  readonly weights: number;
  readonly act: Activation;
  readonly tuning?: Tuning;
}

/** A depthwise convolution or a windowed pool of an H×W×C input with stride roundUp4(C) (so is the output's). */
export interface WindowSpec {
  readonly op: "depthwise" | "avgpool" | "maxpool";
  readonly input: readonly [h: number, w: number, c: number];
  readonly output: readonly [h: number, w: number];
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pads: Pads;
  /** Taps this far apart (depthwise only; absent means 1×1). */
  readonly dilation?: Pair;
  /** Byte address of the packDepthwise weights (depthwise only). */
  readonly weights?: number;
  readonly act?: Activation;
  readonly tuning?: Tuning;
}

/** Mean or max over all H×W pixels of an input with stride roundUp4(C); output 1×1×roundUp4(C). */
export interface GlobalPoolSpec {
  readonly op: "avgpool" | "maxpool";
  readonly input: readonly [h: number, w: number, c: number];
}

/** Softmax over the first `channels` values of each pixel; zeros in the output's padding lanes. */
export interface SoftmaxSpec {
  readonly pixels: number;
  readonly channels: number;
  readonly xStride: number;
  readonly yStride: number;
}

/** Copy `channels` values per pixel from stride xStride to stride yStride, zero-filling lanes past `channels`. */
export interface CopySpec {
  readonly pixels: number;
  readonly channels: number;
  readonly xStride: number;
  readonly yStride: number;
}

// ── code-generation helpers ────────────────────────────────────────────────

/** A kernel function under construction: the body, its two address parameters, and a few loop helpers. */
export class Kernel {
  readonly f: FunctionBody;
  readonly x: Local;
  readonly y: Local;
  private readonly v128s = new Map<string, Local>();

  /** Parameters: x and y first (byte addresses), then any others. */
  constructor(params: readonly ValType[] = ["i32", "i32"]) {
    this.f = new FunctionBody(params);
    this.x = this.f.param(0);
    this.y = this.f.param(1);
  }

  /** A v128 local by name, allocated once per function (register names, in effect). */
  v(key: string): Local {
    let l = this.v128s.get(key);
    if (l === undefined) {
      l = this.f.local("v128");
      this.v128s.set(key, l);
    }
    return l;
  }

  /** A fresh i32 local set to base + add (base a local, or an absolute address). */
  pointer(base: Local | number, add = 0): Local {
    const l = this.f.local("i32");
    this.set(l, base, add);
    return l;
  }

  set(l: Local, base: Local | number, add = 0): void {
    if (typeof base === "number") {
      this.f.i32Const(base + add).localSet(l);
      return;
    }
    this.f.localGet(base);
    if (add !== 0) this.f.i32Const(add).i32Add();
    this.f.localSet(l);
  }

  bump(l: Local, add: number): void {
    if (add !== 0) this.f.localGet(l).i32Const(add).i32Add().localSet(l);
  }

  /** Run `body` `count` times (a count-down loop; no loop at all for 0 or 1). */
  repeat(count: number, body: () => void): void {
    if (count <= 0) return;
    if (count === 1) {
      body();
      return;
    }
    const n = this.f.local("i32");
    this.f.i32Const(count).localSet(n);
    this.f.loop((top) => {
      body();
      this.f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(top);
    });
  }

  /** Leave act(v) of the v128 local `l` on the stack. */
  activated(l: Local, act: Activation): void {
    ACTIVATION_CODE[act](this, l);
  }
}

// ── activations ────────────────────────────────────────────────────────────

/**
 * Each activation as vector code: leaves act(v) of a v128 local on the stack
 * (temporaries are the kernel's named locals `act.*`, `exp.*`). A Record, so
 * that tsc refuses to build until a new activation has its code here.
 *
 *   relu      pmax(0, v)                              one maxps on x86
 *   relu6     pmin(6, pmax(0, v))
 *   linear    v
 *   hswish    v · pmin(6, pmax(0, v + 3)) · (1/6)      a product by 1/6 rather than a division:
 *   hsigmoid  pmin(6, pmax(0, v + 3)) · (1/6)          within 2 ulp of (v·relu6(v+3))/6
 *   sigmoid   e = e^−|v| (expVector), q = 1/(1 + e); v ≥ 0 ? q : e·q
 *             (e/(1+e) = 1/(1+e^−v) for v < 0 without forming e^|v|, so no
 *             overflow and no cancellation). Relative error below 2e−7
 *             (1.9e−7 measured, under 2 ulp) wherever the result is a
 *             normal float32 (v ≥ −87.3); below that the argument is
 *             clamped at EXP_MIN and the absolute error is under 1.2e−38
 */
export const ACTIVATION_CODE: Readonly<Record<Activation, (g: Kernel, v: Local) => void>> = {
  linear(g, v) {
    g.f.localGet(v);
  },
  relu(g, v) {
    g.f.f32x4Const(0).localGet(v).f32x4Pmax();
  },
  relu6(g, v) {
    g.f.f32x4Const(6).f32x4Const(0).localGet(v).f32x4Pmax().f32x4Pmin();
  },
  hswish(g, v) {
    g.f.localGet(v);
    hardGate(g, v);
    g.f.f32x4Mul();
  },
  hsigmoid(g, v) {
    hardGate(g, v);
  },
  sigmoid(g, v) {
    const f = g.f;
    const e = g.v("act.e");
    const q = g.v("act.q");
    // e = e^−|v|, its argument clamped at EXP_MIN (below it e^x is no normal float32)
    f.f32x4Const(EXP_MIN).localGet(v).f32x4Abs().f32x4Neg().f32x4Pmax();
    expVector(g);
    f.localSet(e);
    f.f32x4Const(1).f32x4Const(1).localGet(e).f32x4Add().f32x4Div().localSet(q);
    // bitselect(q, e·q, v ≥ 0)
    f.localGet(q).localGet(e).localGet(q).f32x4Mul().localGet(v).f32x4Const(0).f32x4Ge().v128Bitselect();
  },
};

/** relu6(v + 3) · (1/6) on the stack: hard sigmoid, and h-swish's factor. */
function hardGate(g: Kernel, v: Local): void {
  g.f.f32x4Const(6).f32x4Const(0).localGet(v).f32x4Const(3).f32x4Add().f32x4Pmax().f32x4Pmin().f32x4Const(1 / 6).f32x4Mul();
}

/** The smallest argument expVector takes: ln(2^−126), where e^x leaves the normal float32s (2^n needs n ≥ −126). */
export const EXP_MIN = -87.33654;
/** The largest: 2^n with n ≤ 127. */
export const EXP_MAX = 88.3;

/**
 * e^x of the four f32 lanes on the stack, x in [EXP_MIN, EXP_MAX] (the
 * caller clamps), leaving e^x: Cephes' expf, vectorised. x = n·ln2 + r with
 * n = nearest(x·log2 e) and r = x − n·C1 − n·C2 (ln2 split in two so that
 * n·C1 is exact; |r| ≤ ln2/2), e^r ≈ 1 + r + r²·P(r) with P Cephes' degree-5
 * minimax polynomial, and 2^n built from the exponent bits,
 * (n + 127) << 23. Relative error against float64 below 1e−7 (about one
 * ulp; 8.1e−8 the worst measured over 2^20 points of [EXP_MIN, EXP_MAX],
 * test/wasm.test.ts holds it under 1.5e−7).
 */
export function expVector(g: Kernel): void {
  const f = g.f;
  const x = g.v("exp.x");
  const n = g.v("exp.n");
  const r = g.v("exp.r");
  f.localSet(x);
  f.localGet(x).f32x4Const(Math.LOG2E).f32x4Mul().f32x4Nearest().localSet(n);
  f.localGet(x).localGet(n).f32x4Const(0.693359375).f32x4Mul().f32x4Sub().localGet(n).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Sub().localSet(r);
  f.f32x4Const(1.98756915e-4);
  for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) f.localGet(r).f32x4Mul().f32x4Const(c).f32x4Add();
  // (P(r)·r² + r + 1) · 2^n
  f.localGet(r).f32x4Mul().localGet(r).f32x4Mul().localGet(r).f32x4Add().f32x4Const(1).f32x4Add();
  f.localGet(n).f32x4Const(127).f32x4Add().i32x4TruncSatF32x4S().i32Const(23).i32x4Shl();
  f.f32x4Mul();
}

/** One contiguous run of reduction steps: step i reads x at +xOffset + 4i and weights row at +wOffset + i·rowBytes. */
interface Segment {
  readonly x: number;
  readonly w: number;
  readonly count: number;
}

interface Tile {
  readonly mr: number;
  readonly nv: number;
  /** Address of pixel 0's reduction origin; pixel m is xPixel bytes further per m. */
  readonly x: Local;
  readonly xPixel: number;
  /** Address of the panel (its bias; reduction rows follow). */
  readonly w: Local;
  readonly segments: readonly Segment[];
  readonly y: Local;
  readonly yPixel: number;
  readonly act: Activation;
  /** A tensor laid out as the output, added after the activation (a fused residual): its address for the tile's first pixel. */
  readonly r?: Local;
}

/**
 * One register tile: mr·nv accumulators start at the panel's bias, take
 * every reduction step (mr splatted inputs × nv weight vectors), and are
 * stored through the activation.
 */
function emitTile(g: Kernel, t: Tile, tuning: Tuning): void {
  const f = g.f;
  const acc = (m: number, v: number): Local => g.v(`acc${m}_${v}`);
  const rowBytes = 16 * t.nv;
  for (let v = 0; v < t.nv; v++) f.localGet(t.w).v128Load(16 * v).localSet(acc(0, v));
  for (let m = 1; m < t.mr; m++) for (let v = 0; v < t.nv; v++) f.localGet(acc(0, v)).localSet(acc(m, v));

  /** One reduction step: inputs at xBase + xOff (+ m·xPixel), weights at wBase + wOff. */
  const step = (xBase: Local, xOff: number, wBase: Local, wOff: number): void => {
    for (let m = 0; m < t.mr; m++) f.localGet(xBase).v128Load32Splat(xOff + m * t.xPixel).localSet(g.v(`s${m}`));
    for (let v = 0; v < t.nv; v++) {
      const w = g.v(`w${v}`);
      f.localGet(wBase).v128Load(wOff + 16 * v).localSet(w);
      for (let m = 0; m < t.mr; m++) {
        f.localGet(acc(m, v)).localGet(g.v(`s${m}`)).localGet(w).f32x4Mul().f32x4Add().localSet(acc(m, v));
      }
    }
  };

  for (const s of mergeSegments(t.segments, rowBytes)) {
    if (s.count === 1) {
      step(t.x, s.x, t.w, s.w);
      continue;
    }
    const u = Math.max(1, Math.min(tuning.unroll, s.count));
    const kx = g.pointer(t.x, s.x);
    const kw = g.pointer(t.w, s.w);
    g.repeat(Math.floor(s.count / u), () => {
      for (let i = 0; i < u; i++) step(kx, 4 * i, kw, i * rowBytes);
      g.bump(kx, 4 * u);
      g.bump(kw, u * rowBytes);
    });
    for (let i = 0; i < s.count % u; i++) step(kx, 4 * i, kw, i * rowBytes);
  }

  for (let m = 0; m < t.mr; m++) {
    for (let v = 0; v < t.nv; v++) {
      f.localGet(t.y);
      g.activated(acc(m, v), t.act);
      if (t.r !== undefined) f.localGet(t.r).v128Load(m * t.yPixel + 16 * v).f32x4Add();
      f.v128Store(m * t.yPixel + 16 * v);
    }
  }
}

/** Join segments that continue one another in both the input and the weights (a kernel row of an unpadded input). */
function mergeSegments(segments: readonly Segment[], rowBytes: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    const last = out[out.length - 1];
    if (last !== undefined && s.x === last.x + 4 * last.count && s.w === last.w + last.count * rowBytes) {
      out[out.length - 1] = { ...last, count: last.count + s.count };
    } else out.push(s);
  }
  return out;
}

/** Output indices along one axis whose windows see the same taps [lo, hi). */
interface Run {
  readonly first: number;
  readonly count: number;
  readonly lo: number;
  readonly hi: number;
}

/**
 * Split one axis's outputs into runs of equal clipped windows: in the usual
 * case a border run or two on each side and the interior (lo = 0, hi = k).
 * With a dilation d, tap t reads start + t·d: the taps inside [0, size) are
 * still one range [lo, hi), empty (lo = hi) where the dilated window
 * straddles the whole axis and no tap lands in it.
 */
export function axisRuns(size: number, out: number, k: number, stride: number, before: number, dilation = 1): Run[] {
  const runs: Run[] = [];
  for (let i = 0; i < out; i++) {
    const start = i * stride - before;
    let lo = Math.max(0, -start);
    let hi = Math.min(k, size - start);
    if (dilation !== 1) {
      lo = Math.max(0, Math.ceil(-start / dilation));
      hi = Math.max(lo, Math.min(k, Math.floor((size - 1 - start) / dilation) + 1));
    }
    const last = runs[runs.length - 1];
    if (last !== undefined && last.lo === lo && last.hi === hi) runs[runs.length - 1] = { ...last, count: last.count + 1 };
    else runs.push({ first: i, count: 1, lo, hi });
  }
  return runs;
}

// ── pointwise / fc: GEMM ───────────────────────────────────────────────────

/**
 * Loops, outermost first: chunks of pixels (their input rows stay in L2),
 * panels of 4·nv output channels (their weights stay in L1), tiles of mr
 * pixels. Pixels left over (pixels mod mr) get one narrower tile per panel,
 * after the chunks.
 */
/**
 * Adds a helper function to the module being built and returns its index. A
 * kernel's inner loops live in helpers that it calls many times per run: V8
 * optimises a WebAssembly function only from its next call on, so a helper
 * gets its optimised code while the first run is still going.
 */
export type AddHelper = (f: FunctionBody) => number;

export function pointwiseKernel(spec: PointwiseSpec, addHelper: AddHelper): FunctionBody {
  const tuning = spec.tuning ?? DEFAULT_TUNING;
  const g = new Kernel();
  const { mr, nv } = gemmTile(spec.pixels, tuning);
  const np = roundUp4(spec.n);
  const nb = 4 * nv;
  const fullPanels = Math.floor(np / nb);
  const tailNv = (np % nb) / 4;
  const xs = 4 * spec.xStride;
  const ys = 4 * np;
  const panelBytes = 4 * (1 + spec.k) * nb;
  const residual = spec.residual !== undefined;
  /** The whole reduction, for a panel of v vectors (its rows start after the bias). */
  const reduction = (v: number): Segment[] => [{ x: 0, w: 16 * v, count: spec.k }];

  /**
   * sweep(x, y, w, blocks[, r]): `blocks` tiles of `rows` pixels × one panel of v vectors, the tiles
   * one after another from x / y (and r, the residual), the panel at w. One helper per (v, rows).
   */
  const sweeps = new Map<string, number>();
  const sweep = (v: number, rows: number): number => {
    const key = `${v}x${rows}`;
    const known = sweeps.get(key);
    if (known !== undefined) return known;
    const h = new Kernel(residual ? ["i32", "i32", "i32", "i32", "i32"] : ["i32", "i32", "i32", "i32"]);
    const w = h.f.param(2);
    const blocks = h.f.param(3);
    const r = residual ? h.f.param(4) : undefined;
    h.f.loop((top) => {
      emitTile(h, { mr: rows, nv: v, x: h.x, xPixel: xs, w, segments: reduction(v), y: h.y, yPixel: ys, act: spec.act, ...(r === undefined ? {} : { r }) }, tuning);
      h.bump(h.x, rows * xs);
      h.bump(h.y, rows * ys);
      if (r !== undefined) h.bump(r, rows * ys);
      h.f.localGet(blocks).i32Const(1).i32Sub().localTee(blocks).brIf(top);
    });
    const index = addHelper(h.f);
    sweeps.set(key, index);
    return index;
  };

  // A fused gate: scale the weights into the scratch panels, then run on those.
  let weights = spec.weights;
  if (spec.gate !== undefined) {
    foldGate(g, { weights: spec.weights, scratch: spec.gate.scratch, gate: spec.gate.address, k: spec.k, fullPanels, nv, tailNv }, addHelper);
    weights = spec.gate.scratch;
  }
  // A fused residual lies at a fixed address: r = y + (residual − y at entry).
  let delta: Local | undefined;
  if (spec.residual !== undefined) {
    delta = g.f.local("i32");
    g.f.i32Const(spec.residual).localGet(g.y).i32Sub().localSet(delta);
  }

  /** Every panel over `blocks` tiles of `rows` pixels starting at xStart / yStart. */
  const panels = (xStart: Local, yStart: Local, blocks: number, rows: number): void => {
    const wp = g.pointer(weights);
    const yp = g.pointer(yStart);
    const call = (v: number): void => {
      g.f.localGet(xStart).localGet(yp).localGet(wp).i32Const(blocks);
      if (delta !== undefined) g.f.localGet(yp).localGet(delta).i32Add();
      g.f.call(sweep(v, rows));
    };
    g.repeat(fullPanels, () => {
      call(nv);
      g.bump(wp, panelBytes);
      g.bump(yp, 4 * nb);
    });
    if (tailNv > 0) call(tailNv);
  };

  const blocks = Math.floor(spec.pixels / mr);
  const perChunk = Math.max(1, Math.floor(tuning.chunkBytes / (mr * Math.max(xs, 4 * spec.k))));
  const xc = g.pointer(g.x);
  const yc = g.pointer(g.y);
  g.repeat(Math.floor(blocks / perChunk), () => {
    panels(xc, yc, perChunk, mr);
    g.bump(xc, perChunk * mr * xs);
    g.bump(yc, perChunk * mr * ys);
  });
  if (blocks % perChunk > 0) {
    panels(xc, yc, blocks % perChunk, mr);
    g.bump(xc, (blocks % perChunk) * mr * xs);
    g.bump(yc, (blocks % perChunk) * mr * ys);
  }
  if (spec.pixels % mr > 0) panels(xc, yc, 1, spec.pixels % mr);
  return g.f;
}

/**
 * W'[k, n] = gate[k]·W[k, n] for packPanels weights (the bias rows copied
 * as they are), from `weights` to `scratch`: one helper call per panel,
 * fold(src, dst, gate), whose loop over k scales a row of v vectors by one
 * splatted gate value, four rows per iteration.
 */
function foldGate(
  g: Kernel,
  spec: { readonly weights: number; readonly scratch: number; readonly gate: number; readonly k: number; readonly fullPanels: number; readonly nv: number; readonly tailNv: number },
  addHelper: AddHelper,
): void {
  const UNROLL = 4;
  const helper = (v: number): number => {
    const h = new Kernel(["i32", "i32", "i32"]);
    const f = h.f;
    const gp = f.param(2);
    const row = 16 * v;
    for (let i = 0; i < v; i++) f.localGet(h.y).localGet(h.x).v128Load(16 * i).v128Store(16 * i);
    h.bump(h.x, row);
    h.bump(h.y, row);
    const rows = (count: number): void => {
      for (let j = 0; j < count; j++) {
        const sj = h.v(`s${j}`);
        f.localGet(gp).v128Load32Splat(4 * j).localSet(sj);
        for (let i = 0; i < v; i++) f.localGet(h.y).localGet(h.x).v128Load(j * row + 16 * i).localGet(sj).f32x4Mul().v128Store(j * row + 16 * i);
      }
      h.bump(h.x, count * row);
      h.bump(h.y, count * row);
      h.bump(gp, 4 * count);
    };
    h.repeat(Math.floor(spec.k / UNROLL), () => rows(UNROLL));
    if (spec.k % UNROLL > 0) rows(spec.k % UNROLL);
    return addHelper(h.f);
  };
  const src = g.pointer(spec.weights);
  const dst = g.pointer(spec.scratch);
  const panelBytes = 4 * (1 + spec.k) * 4 * spec.nv;
  if (spec.fullPanels > 0) {
    const full = helper(spec.nv);
    g.repeat(spec.fullPanels, () => {
      g.f.localGet(src).localGet(dst).i32Const(spec.gate).call(full);
      g.bump(src, panelBytes);
      g.bump(dst, panelBytes);
    });
  }
  if (spec.tailNv > 0) g.f.localGet(src).localGet(dst).i32Const(spec.gate).call(helper(spec.tailNv));
}

// ── elementwise: residual add, SE scaling ──────────────────────────────────

/** y = x + other or x · other over `floats` floats (a multiple of 4); `other` a byte address. y may be x or other. */
export interface ElementwiseSpec {
  readonly op: "add" | "mul";
  readonly floats: number;
  readonly other: number;
}

/**
 * y[p, c] = x[p, c]·gate[c] (or x[p, c] + gate[c] with op "add") over `pixels` pixels of stride
 * roundUp4(channels); `gate` a byte address (a 1×1×C tensor). y may be x.
 */
export interface ScaleSpec {
  readonly op?: "add" | "mul";
  readonly pixels: number;
  readonly channels: number;
  readonly gate: number;
}

const ELEMENTWISE_UNROLL = 4;

/** Vectors of the two operands combined, ELEMENTWISE_UNROLL per loop iteration, every load of an iteration before its stores. */
export function elementwiseKernel(spec: ElementwiseSpec): FunctionBody {
  if (spec.floats % 4 !== 0) throw new InternalError(`wasm: an elementwise kernel over ${spec.floats} floats`);
  const g = new Kernel();
  const f = g.f;
  const xp = g.pointer(g.x);
  const yp = g.pointer(g.y);
  const op = g.pointer(spec.other);
  const vectors = spec.floats / 4;
  const block = (count: number): void => {
    for (let i = 0; i < count; i++) {
      f.localGet(xp).v128Load(16 * i).localGet(op).v128Load(16 * i);
      if (spec.op === "add") f.f32x4Add();
      else f.f32x4Mul();
      f.localSet(g.v(`v${i}`));
    }
    for (let i = 0; i < count; i++) f.localGet(yp).localGet(g.v(`v${i}`)).v128Store(16 * i);
    g.bump(xp, 16 * count);
    g.bump(yp, 16 * count);
    g.bump(op, 16 * count);
  };
  g.repeat(Math.floor(vectors / ELEMENTWISE_UNROLL), () => block(ELEMENTWISE_UNROLL));
  if (vectors % ELEMENTWISE_UNROLL > 0) block(vectors % ELEMENTWISE_UNROLL);
  return f;
}

/**
 * Broadcast scaling. With at most 8 channel vectors the gate stays in
 * registers and each pixel is one straight run; otherwise each pixel loops
 * over its vectors, ELEMENTWISE_UNROLL at a time, reloading the gate (from L1).
 */
export function scaleKernel(spec: ScaleSpec): FunctionBody {
  const g = new Kernel();
  const f = g.f;
  const combine = (): void => {
    if (spec.op === "add") f.f32x4Add();
    else f.f32x4Mul();
  };
  const vectors = roundUp4(spec.channels) / 4;
  const px = 16 * vectors;
  const xp = g.pointer(g.x);
  const yp = g.pointer(g.y);
  if (vectors <= 8) {
    for (let i = 0; i < vectors; i++) f.i32Const(spec.gate).v128Load(16 * i).localSet(g.v(`g${i}`));
    g.repeat(spec.pixels, () => {
      for (let i = 0; i < vectors; i++) {
        f.localGet(yp).localGet(xp).v128Load(16 * i).localGet(g.v(`g${i}`));
        combine();
        f.v128Store(16 * i);
      }
      g.bump(xp, px);
      g.bump(yp, px);
    });
    return f;
  }
  const xi = f.local("i32");
  const yi = f.local("i32");
  const gi = f.local("i32");
  const block = (count: number): void => {
    for (let i = 0; i < count; i++) {
      f.localGet(xi).v128Load(16 * i).localGet(gi).v128Load(16 * i);
      combine();
      f.localSet(g.v(`v${i}`));
    }
    for (let i = 0; i < count; i++) f.localGet(yi).localGet(g.v(`v${i}`)).v128Store(16 * i);
    g.bump(xi, 16 * count);
    g.bump(yi, 16 * count);
    g.bump(gi, 16 * count);
  };
  g.repeat(spec.pixels, () => {
    g.set(xi, xp);
    g.set(yi, yp);
    g.set(gi, spec.gate);
    g.repeat(Math.floor(vectors / ELEMENTWISE_UNROLL), () => block(ELEMENTWISE_UNROLL));
    if (vectors % ELEMENTWISE_UNROLL > 0) block(vectors % ELEMENTWISE_UNROLL);
    g.bump(xp, px);
    g.bump(yp, px);
  });
  return f;
}

// ── full convolution, direct ───────────────────────────────────────────────

/**
 * Loops: output rows (grouped by the kernel rows their windows keep), panels
 * of output channels, columns (grouped the same way), tiles of mr
 * neighbouring pixels. A tile's taps are segments at constant offsets from
 * its first pixel's window origin, so the interior has no bounds checks and
 * a border tile simply has fewer taps.
 */
export function convKernel(spec: ConvSpec): FunctionBody {
  const tuning = spec.tuning ?? DEFAULT_TUNING;
  const g = new Kernel();
  const [H, W, C] = spec.input;
  const [OH, OW, N] = spec.output;
  const [KH, KW] = spec.kernel;
  const [SH, SW] = spec.stride;
  const [DH, DW] = spec.dilation ?? [1, 1];
  const [top, left] = spec.pads;
  const { mr, nv } = gemmTile(OW, tuning);
  const np = roundUp4(N);
  const nb = 4 * nv;
  const fullPanels = Math.floor(np / nb);
  const tailNv = (np % nb) / 4;
  const K = KH * KW * C;
  const px = 4 * spec.xStride;
  const rowBytes = W * px;
  const ys = 4 * np;
  const rows = axisRuns(H, OH, KH, SH, top, DH);
  const cols = axisRuns(W, OW, KW, SW, left, DW);

  const xr = g.f.local("i32");
  const yr = g.f.local("i32");
  const wp = g.f.local("i32");
  const yp = g.f.local("i32");
  const xb = g.f.local("i32");
  const yb = g.f.local("i32");

  for (const r of rows) {
    g.set(xr, g.x, (r.first * SH - top + r.lo * DH) * rowBytes);
    g.set(yr, g.y, r.first * OW * ys);
    g.repeat(r.count, () => {
      g.set(wp, spec.weights);
      g.set(yp, yr);
      const sweep = (v: number): void => {
        for (const c of cols) {
          const segments: Segment[] = [];
          for (let kh = r.lo; kh < r.hi; kh++) {
            for (let kw = c.lo; kw < c.hi; kw++) {
              segments.push({ x: ((kh - r.lo) * DH * W + (kw - c.lo) * DW) * px, w: 16 * v * (1 + (kh * KW + kw) * C), count: C });
            }
          }
          g.set(xb, xr, (c.first * SW - left + c.lo * DW) * px);
          g.set(yb, yp, c.first * ys);
          const tile = (rowsInTile: number): void =>
            emitTile(g, { mr: rowsInTile, nv: v, x: xb, xPixel: SW * px, w: wp, segments, y: yb, yPixel: ys, act: spec.act }, tuning);
          g.repeat(Math.floor(c.count / mr), () => {
            tile(mr);
            g.bump(xb, mr * SW * px);
            g.bump(yb, mr * ys);
          });
          if (c.count % mr > 0) tile(c.count % mr);
        }
      };
      g.repeat(fullPanels, () => {
        sweep(nv);
        g.bump(wp, 4 * (1 + K) * nb);
        g.bump(yp, 4 * nb);
      });
      if (tailNv > 0) sweep(tailNv);
      g.bump(xr, SH * rowBytes);
      g.bump(yr, OW * ys);
    });
  }
  return g.f;
}

// ── depthwise and windowed pooling ─────────────────────────────────────────

/**
 * Loops: output rows and columns grouped into runs of equal clipped windows
 * (see axisRuns), blocks of dwBlock neighbouring outputs, then the channel
 * vectors. Within a block each input column a kernel row needs is loaded
 * once and serves every output whose window covers it; each weight vector is
 * loaded once for the block.
 */
export function windowKernel(spec: WindowSpec): FunctionBody {
  const tuning = spec.tuning ?? DEFAULT_TUNING;
  const g = new Kernel();
  const f = g.f;
  const [H, W, C] = spec.input;
  const [OH, OW] = spec.output;
  const [KH, KW] = spec.kernel;
  const [SH, SW] = spec.stride;
  const [DH, DW] = spec.dilation ?? [1, 1];
  const [top, left] = spec.pads;
  const cs = roundUp4(C);
  const px = 4 * cs;
  const rowBytes = W * px;
  const vectors = cs / 4;
  const act = spec.act ?? "linear";
  if (spec.op === "depthwise" && spec.weights === undefined) throw new InternalError("wasm: a depthwise kernel needs its weights' address");
  if (spec.op !== "depthwise" && (DH !== 1 || DW !== 1)) throw new InternalError(`wasm: a dilated ${spec.op}`);
  const rows = axisRuns(H, OH, KH, SH, top, DH);
  const cols = axisRuns(W, OW, KW, SW, left, DW);
  // Under a dilation, outputs `spacing` apart read the same input columns (output o + spacing's tap t is
  // output o's tap t + spacing·SW/DW): a block takes mr outputs that far apart, so each column it loads
  // still serves several outputs; 1 without dilation (neighbouring outputs).
  const spacing = DW / gcd(SW, DW);

  const xr = f.local("i32");
  const yr = f.local("i32");
  const xb = f.local("i32");
  const yb = f.local("i32");
  const xc = f.local("i32");
  const yc = f.local("i32");
  const wc = f.local("i32");

  /** mr outputs `spacing` apart, the first at xb + xOff (its window origin) and yb + yOff. */
  const block = (mr: number, r: Run, c: Run, xOff = 0, yOff = 0): void => {
    const taps = (r.hi - r.lo) * (c.hi - c.lo);
    if (taps === 0 && spec.op !== "depthwise") throw new InternalError(`wasm: a ${spec.op} window lies wholly in the padding`);
    g.set(xc, xb, xOff);
    g.set(yc, yb, yOff);
    if (spec.op === "depthwise") g.set(wc, spec.weights ?? 0);
    g.repeat(vectors, () => {
      const acc = (m: number): Local => g.v(`acc${m}`);
      const started: boolean[] = [];
      if (spec.op === "depthwise") {
        f.localGet(wc).v128Load(0).localSet(acc(0));
        for (let m = 1; m < mr; m++) f.localGet(acc(0)).localSet(acc(m));
      } else if (spec.op === "avgpool") {
        for (let m = 0; m < mr; m++) f.f32x4Const(0).localSet(acc(m));
      }
      for (let kh = r.lo; kh < r.hi; kh++) {
        // The input columns this kernel row needs, relative to the block's first window origin.
        const needed = new Set<number>();
        const column = (m: number, kw: number): number => m * spacing * SW + (kw - c.lo) * DW;
        for (let m = 0; m < mr; m++) for (let kw = c.lo; kw < c.hi; kw++) needed.add(column(m, kw));
        for (const j of [...needed].sort((a, b) => a - b)) f.localGet(xc).v128Load((kh - r.lo) * DH * rowBytes + j * px).localSet(g.v(`x${j}`));
        for (let kw = c.lo; kw < c.hi; kw++) {
          if (spec.op === "depthwise") f.localGet(wc).v128Load(16 * vectors * (1 + kh * KW + kw)).localSet(g.v("w"));
          for (let m = 0; m < mr; m++) {
            const xv = g.v(`x${column(m, kw)}`);
            if (spec.op === "depthwise") f.localGet(acc(m)).localGet(xv).localGet(g.v("w")).f32x4Mul().f32x4Add();
            else if (spec.op === "avgpool") f.localGet(acc(m)).localGet(xv).f32x4Add();
            else if (started[m] === true) f.localGet(acc(m)).localGet(xv).f32x4Pmax();
            else f.localGet(xv);
            started[m] = true;
            f.localSet(acc(m));
          }
        }
      }
      for (let m = 0; m < mr; m++) {
        f.localGet(yc);
        if (spec.op === "depthwise") g.activated(acc(m), act);
        else if (spec.op === "avgpool") f.localGet(acc(m)).f32x4Const(taps).f32x4Div();
        else f.localGet(acc(m));
        f.v128Store(m * spacing * px);
      }
      g.bump(xc, 16);
      g.bump(yc, 16);
      if (spec.op === "depthwise") g.bump(wc, 16);
    });
  };

  for (const r of rows) {
    g.set(xr, g.x, (r.first * SH - top + r.lo * DH) * rowBytes);
    g.set(yr, g.y, r.first * OW * px);
    g.repeat(r.count, () => {
      for (const c of cols) {
        g.set(xb, xr, (c.first * SW - left + c.lo * DW) * px);
        g.set(yb, yr, c.first * px);
        if (spacing === 1) {
          const mr = Math.min(tuning.dwBlock, c.count);
          g.repeat(Math.floor(c.count / mr), () => {
            block(mr, r, c);
            g.bump(xb, mr * SW * px);
            g.bump(yb, mr * px);
          });
          if (c.count % mr > 0) block(c.count % mr, r, c);
          continue;
        }
        // Spans of mr·spacing outputs: per phase p < spacing, one block of outputs p, p + spacing, …
        const mr = Math.min(tuning.dwBlock, Math.ceil(c.count / spacing));
        const span = mr * spacing;
        g.repeat(Math.floor(c.count / span), () => {
          for (let p = 0; p < spacing; p++) block(mr, r, c, p * SW * px, p * px);
          g.bump(xb, span * SW * px);
          g.bump(yb, span * px);
        });
        const rest = c.count % span;
        for (let p = 0; p < Math.min(spacing, rest); p++) block(Math.ceil((rest - p) / spacing), r, c, p * SW * px, p * px);
      }
      g.bump(xr, SH * rowBytes);
      g.bump(yr, OW * px);
    });
  }
  return f;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Global average or max pooling: per channel vector, a loop over the pixels. */
export function globalPoolKernel(spec: GlobalPoolSpec): FunctionBody {
  const g = new Kernel();
  const f = g.f;
  const [H, W, C] = spec.input;
  const px = 4 * roundUp4(C);
  const pixels = H * W;
  const acc = g.v("acc");
  const xc = g.pointer(g.x);
  const yc = g.pointer(g.y);
  const xp = f.local("i32");
  g.repeat(roundUp4(C) / 4, () => {
    f.localGet(xc).v128Load(0).localSet(acc);
    g.set(xp, xc, px);
    g.repeat(pixels - 1, () => {
      f.localGet(acc).localGet(xp).v128Load(0);
      if (spec.op === "avgpool") f.f32x4Add();
      else f.f32x4Pmax();
      f.localSet(acc);
      g.bump(xp, px);
    });
    f.localGet(yc).localGet(acc);
    if (spec.op === "avgpool") f.f32x4Const(pixels).f32x4Div();
    f.v128Store(0);
    g.bump(xc, 16);
    g.bump(yc, 16);
  });
  return f;
}

// ── softmax, copy ──────────────────────────────────────────────────────────

/**
 * exp(x) in f64 for x ≤ 0 (softmax's shifted logits): x = n·ln2 + r with
 * |r| ≤ ln2/2, e^r by its Taylor series to degree 13 (error < 1e-16), and
 * 2^n built from the exponent bits. x is clamped at −708 so that 2^n stays
 * a normal number (e^−708 ≈ 3e−308 is zero as a float32 anyway).
 */
export function expFunction(): FunctionBody {
  const f = new FunctionBody(["f64"], ["f64"]);
  const x = f.param(0);
  const n = f.local("f64");
  const r = f.local("f64");
  const p = f.local("f64");
  const LN2_HI = 0.6931471803691238;
  const LN2_LO = 1.9082149292705877e-10;
  f.localGet(x).f64Const(-708).f64Max().localSet(x);
  f.localGet(x).f64Const(1 / Math.LN2).f64Mul().f64Nearest().localSet(n);
  f.localGet(x).localGet(n).f64Const(LN2_HI).f64Mul().f64Sub().localGet(n).f64Const(LN2_LO).f64Mul().f64Sub().localSet(r);
  // Horner: 1 + r(1 + r/2(1 + r/3(… (1 + r/13))))
  f.f64Const(1).localSet(p);
  for (let i = 13; i >= 1; i--) f.localGet(p).localGet(r).f64Mul().f64Const(1 / i).f64Mul().f64Const(1).f64Add().localSet(p);
  // p · 2^n, 2^n = bits((n + 1023) << 52)
  f.localGet(p).localGet(n).i32TruncF64S().i64ExtendI32S().i64Const(1023n).i64Add().i64Const(52n).i64Shl().f64ReinterpretI64().f64Mul();
  return f;
}

/**
 * Softmax per pixel, as the reference computes it: subtract the maximum,
 * exponentiate (expFunction, at function index `exp`), divide by the sum
 * (in f64) of the exponentials.
 */
export function softmaxKernel(spec: SoftmaxSpec, exp: number): FunctionBody {
  const g = new Kernel();
  const f = g.f;
  const xp = g.pointer(g.x);
  const yp = g.pointer(g.y);
  const max = f.local("f32");
  const total = f.local("f64");
  const e = f.local("f64");
  const i = f.local("i32");
  const C = spec.channels;
  /** for (i = 0; i < C; i++) body, with i in bytes (i·4). */
  const channels = (body: () => void): void => {
    f.i32Const(0).localSet(i);
    f.loop((top) => {
      body();
      f.localGet(i).i32Const(4).i32Add().localTee(i).i32Const(4 * C).i32LtS().brIf(top);
    });
  };
  g.repeat(spec.pixels, () => {
    f.localGet(xp).f32Load(0).localSet(max);
    channels(() => {
      f.localGet(max).localGet(xp).localGet(i).i32Add().f32Load(0).f32Max().localSet(max);
    });
    f.f64Const(0).localSet(total);
    channels(() => {
      // y[c] = exp(x[c] − max); total += y[c]
      f.localGet(yp).localGet(i).i32Add();
      f.localGet(xp).localGet(i).i32Add().f32Load(0).f64PromoteF32().localGet(max).f64PromoteF32().f64Sub().call(exp).localSet(e);
      f.localGet(e).f32DemoteF64().f32Store(0);
      f.localGet(total).localGet(e).f64Add().localSet(total);
    });
    channels(() => {
      f.localGet(yp).localGet(i).i32Add();
      f.localGet(yp).localGet(i).i32Add().f32Load(0).f64PromoteF32().localGet(total).f64Div().f32DemoteF64().f32Store(0);
    });
    for (let c = C; c < spec.yStride; c++) f.localGet(yp).f32Const(0).f32Store(4 * c);
    g.bump(xp, 4 * spec.xStride);
    g.bump(yp, 4 * spec.yStride);
  });
  return f;
}

/**
 * Re-stride an activation: `channels` floats per pixel copied, the rest of
 * the output stride zeroed — concatKernel with one part: whole vectors, then
 * the last C mod 4 floats one by one, so nothing is read or written outside
 * either tensor's pixel.
 */
export function copyKernel(spec: CopySpec): FunctionBody {
  return concatKernel({ pixels: spec.pixels, parts: [{ channels: spec.channels, stride: spec.xStride }], yStride: spec.yStride });
}

// ── graph heads: standalone activation, argmax, concat ─────────────────────

/** y = act(x) over `floats` floats (a multiple of 4). y may be x. */
export interface ActivationSpec {
  readonly act: Activation;
  readonly floats: number;
}

/** Vectors through ACTIVATION_CODE, ELEMENTWISE_UNROLL per loop iteration (every load of an iteration before its stores). */
export function activationKernel(spec: ActivationSpec): FunctionBody {
  if (spec.floats % 4 !== 0) throw new InternalError(`wasm: an activation kernel over ${spec.floats} floats`);
  const g = new Kernel();
  const f = g.f;
  const xp = g.pointer(g.x);
  const yp = g.pointer(g.y);
  const vectors = spec.floats / 4;
  const block = (count: number): void => {
    for (let i = 0; i < count; i++) f.localGet(xp).v128Load(16 * i).localSet(g.v(`v${i}`));
    for (let i = 0; i < count; i++) {
      f.localGet(yp);
      g.activated(g.v(`v${i}`), spec.act);
      f.v128Store(16 * i);
    }
    g.bump(xp, 16 * count);
    g.bump(yp, 16 * count);
  };
  g.repeat(Math.floor(vectors / ELEMENTWISE_UNROLL), () => block(ELEMENTWISE_UNROLL));
  if (vectors % ELEMENTWISE_UNROLL > 0) block(vectors % ELEMENTWISE_UNROLL);
  return f;
}

/** Per pixel, the index (as a float) of the first largest of `channels` values; zeros in the output's lanes 1 … yStride − 1. */
export interface ArgmaxSpec {
  readonly pixels: number;
  readonly channels: number;
  readonly xStride: number;
  readonly yStride: number;
}

/**
 * Vectorised over channels, as the reference compares: per lane, the largest
 * value so far and its channel, a vector replacing them only where strictly
 * greater (`f32x4.gt`, then bitselect), so each lane keeps the first of its
 * equal maxima; lanes past C read −∞. Then across the four lanes: the
 * maximum (two shuffles and pmax), and the smallest channel among the lanes
 * that hold it (two shuffles and min) — the first largest channel, as a
 * float. (With a NaN in channel 0 the reference answers 0 and this the
 * largest other channel; NaNs elsewhere never win in either.) A pixel's
 * vectors may read past its C channels into the next pixel (masked out).
 */
export function argmaxKernel(spec: ArgmaxSpec): FunctionBody {
  const g = new Kernel();
  const f = g.f;
  const xp = g.pointer(g.x);
  const yp = g.pointer(g.y);
  const C = spec.channels;
  const vectors = roundUp4(C) / 4;
  const best = g.v("best");
  const index = g.v("index");
  const v = g.v("v");
  const gt = g.v("gt");
  const t = g.v("t");
  /** The channel vector at xp + 16k on the stack, lanes past C as −∞. */
  const load = (k: number): void => {
    f.localGet(xp).v128Load(16 * k);
    const valid = C - 4 * k;
    if (valid < 4) {
      const lane = (l: number): number => (l < valid ? -1 : 0);
      f.f32x4Const(-Infinity);
      // An all-ones / all-zeros lane mask as f32 bits: −1 as i32 is NaN as f32, so build it from i32 lanes.
      f.i32x4Const(lane(0), lane(1), lane(2), lane(3));
      f.v128Bitselect();
    }
  };
  const xi = vectors > 16 ? f.local("i32") : undefined;
  const channel = g.v("channel");
  g.repeat(spec.pixels, () => {
    load(0);
    f.localSet(best);
    f.f32x4Const(0, 1, 2, 3).localSet(index);
    const step = (k: number | undefined): void => {
      if (k === undefined) f.localGet(xi!).v128Load(0);
      else load(k);
      f.localTee(v).localGet(best).f32x4Gt().localSet(gt);
      f.localGet(v).localGet(best).localGet(gt).v128Bitselect().localSet(best);
      if (k === undefined) f.localGet(channel);
      else f.f32x4Const(4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3);
      f.localGet(index).localGet(gt).v128Bitselect().localSet(index);
    };
    if (xi === undefined) {
      for (let k = 1; k < vectors; k++) step(k);
    } else {
      // Whole vectors in a loop (channels 4 … 4·(vectors − 1) − 1), the last one masked after it.
      g.set(xi, xp, 16);
      f.f32x4Const(4, 5, 6, 7).localSet(channel);
      g.repeat(vectors - 2, () => {
        step(undefined);
        g.bump(xi, 16);
        f.localGet(channel).f32x4Const(4).f32x4Add().localSet(channel);
      });
      step(vectors - 1);
    }
    // max over lanes, then the smallest channel holding it
    const fold = (l: Local, lanes: readonly [number, number, number, number], max: boolean): void => {
      f.localGet(l).localGet(l).localGet(l).f32x4Shuffle(lanes);
      if (max) f.f32x4Pmax();
      else f.f32x4Min();
    };
    fold(best, [2, 3, 0, 1], true);
    f.localSet(t);
    fold(t, [1, 0, 3, 2], true);
    f.localSet(t);
    f.localGet(index).f32x4Const(Infinity).localGet(best).localGet(t).f32x4Eq().v128Bitselect().localSet(t);
    fold(t, [2, 3, 0, 1], false);
    f.localSet(t);
    f.localGet(yp);
    fold(t, [1, 0, 3, 2], false);
    f.f32x4ExtractLane(0).f32Store(0);
    for (let c = 1; c < spec.yStride; c++) f.localGet(yp).f32Const(0).f32Store(4 * c);
    g.bump(xp, 4 * spec.xStride);
    g.bump(yp, 4 * spec.yStride);
  });
  return f;
}

/** One input of a concat: where it lies (the first at the kernel's x, the others at absolute byte addresses), its channels and stride. */
export interface ConcatPart {
  readonly address?: number;
  readonly channels: number;
  readonly stride: number;
}

/** The inputs' channels one after another per pixel, into a stride of yStride; zeros in the lanes past their sum. */
export interface ConcatSpec {
  readonly pixels: number;
  readonly parts: readonly ConcatPart[];
  readonly yStride: number;
}

/**
 * Pixel by pixel, each part's channels copied to their slice of the output
 * pixel: whole vectors (ELEMENTWISE_UNROLL per loop iteration beyond 8),
 * then its last C mod 4 channels one by one, so nothing is written outside
 * the slice and any slice offset works. Memory-bound: a load and a store per
 * vector.
 */
export function concatKernel(spec: ConcatSpec): FunctionBody {
  const g = new Kernel();
  const f = g.f;
  const yp = g.pointer(g.y);
  const parts = spec.parts.map((p, i) => ({ ...p, at: i === 0 ? g.pointer(g.x) : g.pointer(p.address ?? 0) }));
  if (spec.parts.slice(1).some((p) => p.address === undefined) || spec.parts[0]?.address !== undefined) throw new InternalError("wasm: a concat reads its first part at x, the others at fixed addresses");
  const total = spec.parts.reduce((s, p) => s + p.channels, 0);
  const xi = f.local("i32");
  const yi = f.local("i32");
  g.repeat(spec.pixels, () => {
    let offset = 0;
    for (const p of parts) {
      const vectors = Math.floor(p.channels / 4);
      if (vectors <= 8) {
        for (let i = 0; i < vectors; i++) f.localGet(yp).localGet(p.at).v128Load(16 * i).v128Store(4 * offset + 16 * i);
      } else {
        g.set(xi, p.at);
        g.set(yi, yp, 4 * offset);
        const block = (count: number): void => {
          for (let i = 0; i < count; i++) f.localGet(xi).v128Load(16 * i).localSet(g.v(`v${i}`));
          for (let i = 0; i < count; i++) f.localGet(yi).localGet(g.v(`v${i}`)).v128Store(16 * i);
          g.bump(xi, 16 * count);
          g.bump(yi, 16 * count);
        };
        g.repeat(Math.floor(vectors / ELEMENTWISE_UNROLL), () => block(ELEMENTWISE_UNROLL));
        if (vectors % ELEMENTWISE_UNROLL > 0) block(vectors % ELEMENTWISE_UNROLL);
      }
      for (let c = 4 * vectors; c < p.channels; c++) f.localGet(yp).localGet(p.at).f32Load(4 * c).f32Store(4 * (offset + c));
      offset += p.channels;
      g.bump(p.at, 4 * p.stride);
    }
    for (let c = total; c < spec.yStride; c++) f.localGet(yp).f32Const(0).f32Store(4 * c);
    g.bump(yp, 4 * spec.yStride);
  });
  return f;
}

// ── resize ─────────────────────────────────────────────────────────────────

/** Bytes of one resize table entry: i32 byte offset of lo, i32 byte offset of hi, f32 weight of hi. */
export const RESIZE_ENTRY = 12;
/** Bytes of a separable resize's row entry (see resizeTables). */
export const RESIZE_ROW_ENTRY = 32;

/**
 * Whether a resize blends rows of horizontally resampled source rows kept in
 * scratch (resizeKernel's separable form): bilinear, with more output rows
 * than input rows, so that each source row's horizontal pass serves several
 * output rows.
 */
export function separableResize(mode: ResizeMode, inRows: number, outRows: number): boolean {
  return mode === "bilinear" && outRows > inRows;
}

/** Floats of scratch a resize needs: two resampled rows in the separable form, else none. */
export function resizeScratchFloats(mode: ResizeMode, [H, , C]: readonly [number, number, number], [OH, OW]: readonly [number, number]): number {
  return separableResize(mode, H, OH) ? 2 * OW * roundUp4(C) : 0;
}

/**
 * A resize's two tables, rows then columns, little-endian, from the one
 * sampling rule every target follows (resizeAxis, src/ir/ops/resize.ts). Per output
 * column (RESIZE_ENTRY bytes): the byte offsets of its source pixels lo and
 * hi within a row (index · 4·roundUp4(C)) and fx. Per output row: in the
 * direct form (RESIZE_ENTRY bytes) the byte offsets of its source rows lo
 * and hi (index · W · 4·roundUp4(C)) and fy; in the separable form
 * (RESIZE_ROW_ENTRY bytes) the scratch offsets of the two resampled rows it
 * blends, fy, and the rows to resample first — [a, b, fy, n, src₁, dst₁,
 * src₂, dst₂]: n ≤ 2 source rows (byte offset in the input) resampled into
 * scratch slot dst (byte offset, 0 or one resampled row), as generation
 * works out which source rows the two slots already hold (output rows walk
 * the source rows in order).
 */
export function resizeTables(mode: ResizeMode, coords: ResizeCoords, [H, W, C]: readonly [number, number, number], [OH, OW]: readonly [number, number]): Uint8Array {
  const px = 4 * roundUp4(C);
  const separable = separableResize(mode, H, OH);
  const rowEntry = separable ? RESIZE_ROW_ENTRY : RESIZE_ENTRY;
  const out = new Uint8Array(rowEntry * OH + RESIZE_ENTRY * OW);
  const view = new DataView(out.buffer);
  const rows = resizeAxis(mode, coords, H, OH);
  if (separable) {
    const slotBytes = OW * px;
    const slots: number[] = [-1, -1];
    for (let o = 0; o < OH; o++) {
      const at = o * RESIZE_ROW_ENTRY;
      const need = [...new Set([rows.lo[o]!, rows.hi[o]!])];
      const work: [number, number][] = [];
      for (const r of need) {
        if (slots.includes(r)) continue;
        const slot = slots.findIndex((held) => !need.includes(held));
        slots[slot] = r;
        work.push([r * W * px, slot * slotBytes]);
      }
      view.setInt32(at, slots.indexOf(rows.lo[o]!) * slotBytes, true);
      view.setInt32(at + 4, slots.indexOf(rows.hi[o]!) * slotBytes, true);
      view.setFloat32(at + 8, rows.frac[o]!, true);
      view.setInt32(at + 12, work.length, true);
      work.forEach(([src, dst], i) => {
        view.setInt32(at + 16 + 8 * i, src, true);
        view.setInt32(at + 20 + 8 * i, dst, true);
      });
    }
  } else {
    for (let o = 0; o < OH; o++) {
      view.setInt32(o * RESIZE_ENTRY, rows.lo[o]! * W * px, true);
      view.setInt32(o * RESIZE_ENTRY + 4, rows.hi[o]! * W * px, true);
      view.setFloat32(o * RESIZE_ENTRY + 8, rows.frac[o]!, true);
    }
  }
  const cols = resizeAxis(mode, coords, W, OW);
  for (let o = 0, at = rowEntry * OH; o < OW; o++, at += RESIZE_ENTRY) {
    view.setInt32(at, cols.lo[o]! * px, true);
    view.setInt32(at + 4, cols.hi[o]! * px, true);
    view.setFloat32(at + 8, cols.frac[o]!, true);
  }
  return out;
}

/** Resample an H×W×C input of stride roundUp4(C) to OH×OW, writing a stride of yStride (roundUp4(C), or C in an output region). */
export interface ResizeSpec {
  readonly mode: ResizeMode;
  readonly input: readonly [h: number, w: number, c: number];
  readonly output: readonly [h: number, w: number];
  readonly yStride: number;
  /** Byte address of resizeTables' bytes. */
  readonly tables: number;
  /** Byte address of resizeScratchFloats floats (the separable form's two resampled rows). */
  readonly scratch?: number;
}

/**
 * Loops: output rows (a row's two source row addresses and fy from the row
 * table), output columns (the source pixels' offsets and fx from the column
 * table), channel vectors. Bilinear blends as the reference does,
 * top = tl + (tr − tl)·fx, bottom likewise, y = top + (bottom − top)·fy;
 * nearest copies the vectors of one source pixel. Up to 8 channel vectors
 * are unrolled; beyond, a loop of 4 at a time. Into a stride that is no
 * multiple of 4 (an output region) a pixel's last C mod 4 channels are
 * stored lane by lane, so nothing lands outside the pixel.
 */
export function resizeKernel(spec: ResizeSpec, addHelper: AddHelper): FunctionBody {
  if (separableResize(spec.mode, spec.input[0], spec.output[0])) return separableResizeKernel(spec, addHelper);
  const g = new Kernel();
  const f = g.f;
  const C = spec.input[2];
  const [OH, OW] = spec.output;
  const vectors = roundUp4(C) / 4;
  const ys = 4 * spec.yStride;
  const exact = spec.yStride % 4 !== 0;
  if (spec.yStride < C || (!exact && spec.yStride !== roundUp4(C))) throw new InternalError(`wasm: a resize of ${C} channels into a stride of ${spec.yStride}`);
  const bilinear = spec.mode === "bilinear";
  const yp = g.pointer(g.y);
  const rt = g.pointer(spec.tables);
  const ct = f.local("i32");
  const r0 = f.local("i32");
  const r1 = f.local("i32");
  const a0 = f.local("i32");
  const a1 = f.local("i32");
  const b0 = f.local("i32");
  const b1 = f.local("i32");
  const fx = g.v("fx");
  const fy = g.v("fy");
  const colTable = spec.tables + RESIZE_ENTRY * OH;

  /** One channel vector at byte offset `at` of the pixel: leave the output vector on the stack. */
  const vector = (base: readonly Local[], at: number): void => {
    const [p0, p1, q0, q1] = base;
    if (!bilinear) {
      f.localGet(p0!).v128Load(at);
      return;
    }
    const top = g.v("top");
    const tl = g.v("tl");
    f.localGet(p0!).v128Load(at).localTee(tl).localGet(p1!).v128Load(at).localGet(tl).f32x4Sub().localGet(fx).f32x4Mul().f32x4Add().localSet(top);
    f.localGet(q0!).v128Load(at).localTee(tl).localGet(q1!).v128Load(at).localGet(tl).f32x4Sub().localGet(fx).f32x4Mul().f32x4Add();
    f.localGet(top).f32x4Sub().localGet(fy).f32x4Mul().localGet(top).f32x4Add();
  };
  const xi = [f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32")];
  const yi = f.local("i32");
  /** One output pixel at yp from the source pixels a0, a1, b0, b1 (exactly C lanes into an unpadded stride). */
  const pixel = (): void => {
    f.localGet(r0).localGet(ct).i32Load(0).i32Add().localSet(a0);
    if (bilinear) {
      f.localGet(r0).localGet(ct).i32Load(4).i32Add().localSet(a1);
      f.localGet(r1).localGet(ct).i32Load(0).i32Add().localSet(b0);
      f.localGet(r1).localGet(ct).i32Load(4).i32Add().localSet(b1);
      f.localGet(ct).v128Load32Splat(8).localSet(fx);
    }
    const base = [a0, a1, b0, b1];
    if (vectors <= 8 || exact) {
      for (let v = 0; v < vectors; v++) {
        const lanes = C - 4 * v;
        if (exact && lanes < 4) {
          const out = g.v("out");
          vector(base, 16 * v);
          f.localSet(out);
          for (let l = 0; l < lanes; l++) f.localGet(yp).localGet(out).f32x4ExtractLane(l).f32Store(16 * v + 4 * l);
        } else {
          f.localGet(yp);
          vector(base, 16 * v);
          f.v128Store(16 * v);
        }
      }
      return;
    }
    base.forEach((b, i) => g.set(xi[i]!, b));
    g.set(yi, yp);
    const block = (count: number): void => {
      for (let v = 0; v < count; v++) {
        f.localGet(yi);
        vector(xi, 16 * v);
        f.v128Store(16 * v);
      }
      for (const p of bilinear ? xi : xi.slice(0, 1)) g.bump(p, 16 * count);
      g.bump(yi, 16 * count);
    };
    g.repeat(Math.floor(vectors / ELEMENTWISE_UNROLL), () => block(ELEMENTWISE_UNROLL));
    if (vectors % ELEMENTWISE_UNROLL > 0) block(vectors % ELEMENTWISE_UNROLL);
  };
  const row = (columns: number): void => {
    f.localGet(g.x).localGet(rt).i32Load(0).i32Add().localSet(r0);
    if (bilinear) {
      f.localGet(g.x).localGet(rt).i32Load(4).i32Add().localSet(r1);
      f.localGet(rt).v128Load32Splat(8).localSet(fy);
    }
    g.set(ct, colTable);
    g.repeat(columns, () => {
      pixel();
      g.bump(ct, RESIZE_ENTRY);
      g.bump(yp, ys);
    });
    g.bump(rt, RESIZE_ENTRY);
  };
  g.repeat(OH, () => row(OW));
  return f;
}

// ── transposed convolution ─────────────────────────────────────────────────

/** A transposed convolution of an H×W×C input (channel stride xStride) into OH×OW×roundUp4(N). */
export interface DeconvSpec {
  readonly input: readonly [h: number, w: number, c: number];
  readonly xStride: number;
  readonly output: readonly [h: number, w: number, c: number];
  readonly kernel: Pair;
  readonly stride: Pair;
  /** The crop [top, left, bottom, right] of the full (in − 1)·s + K output. */
  readonly pads: Pads;
  /** Byte address of the packDeconv weights. */
  readonly weights: number;
  readonly act: Activation;
  /**
   * With at most DECONV_NARROW output channels: the byte address of
   * deconvScratchFloats floats for the weights regrouped per output channel
   * and tap (see deconvKernel), and the output's channel stride (roundUp4(N),
   * or N in an output region).
   */
  readonly narrow?: { readonly scratch: number; readonly yStride: number };
  readonly tuning?: Tuning;
}

/** Output channels up to which a transposed convolution sums over input channel vectors (deconvKernel's narrow form). */
export const DECONV_NARROW = 3;

/** Floats of scratch the narrow form regroups its weights into: per output channel and tap, roundUp4(C). */
export function deconvScratchFloats(inChannels: number, out: number, [kh, kw]: Pair): number {
  return out * kh * kw * roundUp4(inChannels);
}

/** One axis of one output phase of a transposed convolution (see deconvPhase). */
interface Phase {
  /** Outputs in the phase: o = (q0 + q)·s + r − before for q < count. */
  readonly first: number;
  readonly count: number;
  /** Taps reaching it: kernel index r + (taps − 1 − u)·s for window tap u. */
  readonly taps: number;
  /** The gather window's runs over the input (tap u of output q reads input q − before' + u). */
  readonly runs: readonly Run[];
  /** Input index of window tap 0 of output q = 0. */
  readonly origin: number;
}

/**
 * The outputs o ≡ r − before (mod s) of one axis: y[o] gathers x[(o + before − i)/s]·K[i] over
 * the taps i ≡ o + before (mod s). With q = (o + before − r)/s and u = taps − 1 − (i − r)/s the
 * window over the input is q − (taps − 1) + u, stride 1: a plain convolution's window.
 */
export function deconvPhase(inSize: number, outSize: number, k: number, s: number, before: number, r: number): Phase {
  const taps = r < k ? Math.ceil((k - r) / s) : 0;
  const q0 = Math.ceil((before - r) / s);
  const q1 = Math.floor((outSize - 1 + before - r) / s);
  const count = Math.max(0, q1 - q0 + 1);
  const origin = q0 - (taps - 1);
  const runs = count === 0 ? [] : taps === 0 ? [{ first: 0, count, lo: 0, hi: 0 }] : axisRuns(inSize, count, taps, 1, -origin);
  return { first: q0 * s + r - before, count, taps, runs, origin };
}

/**
 * Gather form, one output phase (ry, rx) < (SH, SW) at a time: the outputs of
 * a phase see a fixed subset of the taps — a stride-1 convolution of the
 * input, which runs on the GEMM tiles of convKernel (mr neighbouring inputs
 * × nv vectors of output channels, taps as segments at constant offsets,
 * bias and activation in the epilogue), storing every SW-th output pixel of
 * every SH-th row. A 2×2 stride-2 kernel (MediaPipe's) makes each phase a
 * pointwise GEMM with one tap. No output is written twice and none is
 * accumulated in memory; a phase no tap reaches (K < s) is act(bias).
 */
export function deconvKernel(spec: DeconvSpec): FunctionBody {
  if (spec.narrow !== undefined) return narrowDeconvKernel(spec, spec.narrow);
  const tuning = spec.tuning ?? DEFAULT_TUNING;
  const g = new Kernel();
  const [H, W, C] = spec.input;
  const [OH, OW, N] = spec.output;
  const [KH, KW] = spec.kernel;
  const [SH, SW] = spec.stride;
  const [top, left] = spec.pads;
  const { mr, nv } = gemmTile(Math.ceil(OW / SW), tuning);
  const np = roundUp4(N);
  const nb = 4 * nv;
  const fullPanels = Math.floor(np / nb);
  const tailNv = (np % nb) / 4;
  const K = KH * KW * C;
  const px = 4 * spec.xStride;
  const rowBytes = W * px;
  const ys = 4 * np;

  const xr = g.f.local("i32");
  const yr = g.f.local("i32");
  const wp = g.f.local("i32");
  const yp = g.f.local("i32");
  const xb = g.f.local("i32");
  const yb = g.f.local("i32");

  for (let ry = 0; ry < SH; ry++) {
    const rowPhase = deconvPhase(H, OH, KH, SH, top, ry);
    for (let rx = 0; rx < SW; rx++) {
      const colPhase = deconvPhase(W, OW, KW, SW, left, rx);
      if (rowPhase.count === 0 || colPhase.count === 0) continue;
      for (const r of rowPhase.runs) {
        g.set(xr, g.x, Math.max(0, rowPhase.origin + r.first + r.lo) * rowBytes);
        g.set(yr, g.y, (rowPhase.first + r.first * SH) * OW * ys + colPhase.first * ys);
        g.repeat(r.count, () => {
          g.set(wp, spec.weights);
          g.set(yp, yr);
          const sweep = (v: number): void => {
            for (const c of colPhase.runs) {
              const segments: Segment[] = [];
              for (let uh = r.lo; uh < r.hi; uh++) {
                const i = ry + (rowPhase.taps - 1 - uh) * SH;
                for (let uw = c.lo; uw < c.hi; uw++) {
                  const j = rx + (colPhase.taps - 1 - uw) * SW;
                  segments.push({ x: ((uh - r.lo) * W + (uw - c.lo)) * px, w: 16 * v * (1 + (i * KW + j) * C), count: C });
                }
              }
              g.set(xb, xr, Math.max(0, colPhase.origin + c.first + c.lo) * px);
              g.set(yb, yp, c.first * SW * ys);
              const tile = (pixels: number): void => emitTile(g, { mr: pixels, nv: v, x: xb, xPixel: px, w: wp, segments, y: yb, yPixel: SW * ys, act: spec.act }, tuning);
              g.repeat(Math.floor(c.count / mr), () => {
                tile(mr);
                g.bump(xb, mr * px);
                g.bump(yb, mr * SW * ys);
              });
              if (c.count % mr > 0) tile(c.count % mr);
            }
          };
          g.repeat(fullPanels, () => {
            sweep(nv);
            g.bump(wp, 4 * (1 + K) * nb);
            g.bump(yp, 4 * nb);
          });
          if (tailNv > 0) sweep(tailNv);
          g.bump(xr, rowBytes);
          g.bump(yr, SH * OW * ys);
        });
      }
    }
  }
  return g.f;
}

/**
 * The narrow form, for N ≤ DECONV_NARROW output channels, where GEMM tiles
 * of 4 output channels would waste most lanes (MediaPipe's 16 → 1 mask):
 * vectorised over input channels instead. A prologue regroups the panel
 * weights into scratch, per output channel o and tap t the C weights
 * K[·, o, i, j] as roundUp4(C) floats (zero-padded). Then, phase by phase as
 * the GEMM form, a tile of 4 neighbouring inputs keeps one accumulator
 * vector per input; every tap's channel vectors multiply into it; a
 * transposing horizontal sum (shuffles) gives the 4 outputs' sums in one
 * vector, to which the bias and the activation apply at once; their lanes
 * are stored one by one (the outputs lie SW pixels apart), and the padding
 * lanes of a padded output get zeros. The input is read in whole vectors:
 * its stride must be roundUp4(C), its padding lanes finite (they meet zero
 * weights).
 */
function narrowDeconvKernel(spec: DeconvSpec, narrow: { readonly scratch: number; readonly yStride: number }): FunctionBody {
  const g = new Kernel();
  const f = g.f;
  const [H, W, C] = spec.input;
  const [OH, OW, N] = spec.output;
  const [KH, KW] = spec.kernel;
  const [SH, SW] = spec.stride;
  const [top, left] = spec.pads;
  const T = KH * KW;
  const cs = roundUp4(C);
  const vectors = cs / 4;
  const px = 4 * spec.xStride;
  const rowBytes = W * px;
  const ys = 4 * narrow.yStride;
  const panel = 4 * roundUp4(N);
  if (N > DECONV_NARROW || narrow.yStride < N || spec.xStride !== cs) throw new InternalError(`wasm: a narrow deconv of ${C} → ${N} channels, strides ${spec.xStride} → ${narrow.yStride}`);
  const slot = (o: number, t: number): number => narrow.scratch + 4 * (o * T + t) * cs;

  // Prologue: scratch[o][t][c] = W[(1 + t·C + c)·panel + o] (a float every `panel` bytes), zeros past C.
  const src = f.local("i32");
  const dst = f.local("i32");
  for (let o = 0; o < N; o++) {
    for (let t = 0; t < T; t++) {
      g.set(src, spec.weights, 4 * ((1 + t * C) * roundUp4(N) + o));
      g.set(dst, slot(o, t));
      g.repeat(C, () => {
        f.localGet(dst).localGet(src).f32Load(0).f32Store(0);
        g.bump(src, panel);
        g.bump(dst, 4);
      });
      for (let c = C; c < cs; c++) f.i32Const(slot(o, t)).f32Const(0).f32Store(4 * c);
    }
  }

  const xr = f.local("i32");
  const yr = f.local("i32");
  const xb = f.local("i32");
  const yb = f.local("i32");
  const xs = f.local("i32");
  const ws = f.local("i32");
  const acc = (m: number): Local => g.v(`acc${m}`);
  const w = g.v("w");
  const r = g.v("r");

  /** Four sums of four lanes each, [Σ a0, Σ a1, Σ a2, Σ a3], left on the stack. */
  const transposedSum = (): void => {
    const pair = (a: Local, b: Local, into: Local): void => {
      f.localGet(a).localGet(b).f32x4Shuffle([0, 4, 1, 5]).localGet(a).localGet(b).f32x4Shuffle([2, 6, 3, 7]).f32x4Add().localSet(into);
    };
    pair(acc(0), acc(1), g.v("s01"));
    pair(acc(2), acc(3), g.v("s23"));
    f.localGet(g.v("s01")).localGet(g.v("s23")).f32x4Shuffle([0, 1, 4, 5]).localGet(g.v("s01")).localGet(g.v("s23")).f32x4Shuffle([2, 3, 6, 7]).f32x4Add();
  };

  /** `pixels` (≤ 4) outputs SW apart: inputs at xb (+ px each), outputs at yb (+ SW·ys each). */
  const tile = (pixels: number, taps: readonly { readonly x: number; readonly t: number }[]): void => {
    for (let o = 0; o < N; o++) {
      for (let m = 0; m < 4; m++) f.f32x4Const(0).localSet(acc(m));
      for (const tap of taps) {
        const step = (xBase: Local, xOff: number, wBase: Local | undefined, wOff: number): void => {
          if (wBase === undefined) f.i32Const(0).v128Load(wOff).localSet(w);
          else f.localGet(wBase).v128Load(wOff).localSet(w);
          for (let m = 0; m < pixels; m++) f.localGet(acc(m)).localGet(xBase).v128Load(xOff + m * px).localGet(w).f32x4Mul().f32x4Add().localSet(acc(m));
        };
        if (vectors <= 8) {
          for (let v = 0; v < vectors; v++) step(xb, tap.x + 16 * v, undefined, slot(o, tap.t) + 16 * v);
        } else {
          g.set(xs, xb, tap.x);
          g.set(ws, slot(o, tap.t));
          g.repeat(vectors, () => {
            step(xs, 0, ws, 0);
            g.bump(xs, 16);
            g.bump(ws, 16);
          });
        }
      }
      transposedSum();
      f.i32Const(0).v128Load32Splat(spec.weights + 4 * o).f32x4Add().localSet(r);
      g.activated(r, spec.act);
      f.localSet(r);
      for (let m = 0; m < pixels; m++) f.localGet(yb).localGet(r).f32x4ExtractLane(m).f32Store(m * SW * ys + 4 * o);
    }
    for (let m = 0; m < pixels; m++) for (let c = N; c < narrow.yStride; c++) f.localGet(yb).f32Const(0).f32Store(m * SW * ys + 4 * c);
  };

  for (let ry = 0; ry < SH; ry++) {
    const rowPhase = deconvPhase(H, OH, KH, SH, top, ry);
    for (let rx = 0; rx < SW; rx++) {
      const colPhase = deconvPhase(W, OW, KW, SW, left, rx);
      if (rowPhase.count === 0 || colPhase.count === 0) continue;
      for (const rr of rowPhase.runs) {
        g.set(xr, g.x, Math.max(0, rowPhase.origin + rr.first + rr.lo) * rowBytes);
        g.set(yr, g.y, (rowPhase.first + rr.first * SH) * OW * ys + colPhase.first * ys);
        g.repeat(rr.count, () => {
          for (const c of colPhase.runs) {
            const taps: { x: number; t: number }[] = [];
            for (let uh = rr.lo; uh < rr.hi; uh++) {
              const i = ry + (rowPhase.taps - 1 - uh) * SH;
              for (let uw = c.lo; uw < c.hi; uw++) taps.push({ x: ((uh - rr.lo) * W + (uw - c.lo)) * px, t: i * KW + rx + (colPhase.taps - 1 - uw) * SW });
            }
            g.set(xb, xr, Math.max(0, colPhase.origin + c.first + c.lo) * px);
            g.set(yb, yr, c.first * SW * ys);
            g.repeat(Math.floor(c.count / 4), () => {
              tile(4, taps);
              g.bump(xb, 4 * px);
              g.bump(yb, 4 * SW * ys);
            });
            if (c.count % 4 > 0) tile(c.count % 4, taps);
          }
          g.bump(xr, rowBytes);
          g.bump(yr, SH * OW * ys);
        });
      }
    }
  }
  return f;
}

/**
 * The separable form of a bilinear upsampling: a helper resamples a source
 * row horizontally into one of two scratch rows (per output column and
 * channel vector: lo + (hi − lo)·fx, the reference's first blend), and each
 * output row is then one vertical blend of two scratch rows, a + (b − a)·fy:
 * two loads, three operations and a store per vector. The row table says
 * which source rows to resample before each output row (none while it
 * blends the same pair: 8 output rows of DeepLab's 33 → 257 share one).
 * Same arithmetic, in the same order, as the direct form.
 */
function separableResizeKernel(spec: ResizeSpec, addHelper: AddHelper): FunctionBody {
  const C = spec.input[2];
  const [OH, OW] = spec.output;
  const cs = roundUp4(C);
  const vectors = cs / 4;
  const ys = 4 * spec.yStride;
  const exact = spec.yStride % 4 !== 0;
  if (spec.scratch === undefined) throw new InternalError("wasm: a separable resize needs scratch");
  if (spec.yStride < C || (!exact && spec.yStride !== cs)) throw new InternalError(`wasm: a resize of ${C} channels into a stride of ${spec.yStride}`);
  const scratch = spec.scratch;
  const colTable = spec.tables + RESIZE_ROW_ENTRY * OH;

  // resample(x = source row, y = scratch row): every output column's vectors.
  const h = new Kernel();
  {
    const f = h.f;
    const ct = h.pointer(colTable);
    const a0 = f.local("i32");
    const a1 = f.local("i32");
    const fx = h.v("fx");
    const tl = h.v("tl");
    const blend = (at: number, yOff: number): void => {
      f.localGet(h.y).localGet(a0).v128Load(at).localTee(tl).localGet(a1).v128Load(at).localGet(tl).f32x4Sub().localGet(fx).f32x4Mul().f32x4Add().v128Store(yOff);
    };
    h.repeat(OW, () => {
      f.localGet(h.x).localGet(ct).i32Load(0).i32Add().localSet(a0);
      f.localGet(h.x).localGet(ct).i32Load(4).i32Add().localSet(a1);
      f.localGet(ct).v128Load32Splat(8).localSet(fx);
      if (vectors <= 8) {
        for (let v = 0; v < vectors; v++) blend(16 * v, 16 * v);
        h.bump(h.y, 16 * vectors);
      } else {
        h.repeat(vectors, () => {
          blend(0, 0);
          h.bump(a0, 16);
          h.bump(a1, 16);
          h.bump(h.y, 16);
        });
      }
      h.bump(ct, RESIZE_ENTRY);
    });
  }
  const resample = addHelper(h.f);

  const g = new Kernel();
  const f = g.f;
  const rt = g.pointer(spec.tables);
  const yp = g.pointer(g.y);
  const a = f.local("i32");
  const b = f.local("i32");
  const fy = g.v("fy");
  const top = g.v("top");
  /** a + (b − a)·fy at byte offset `at` of a and b, on the stack. */
  const blend = (at: number): void => {
    f.localGet(a).v128Load(at).localTee(top).localGet(b).v128Load(at).localGet(top).f32x4Sub().localGet(fy).f32x4Mul().f32x4Add();
  };
  const row = (): void => {
    for (const [k, src, dst] of [
      [0, 16, 20],
      [1, 24, 28],
    ] as const) {
      f.localGet(rt).i32Load(12).i32Const(k).i32GtS().if(() => {
        f.localGet(g.x).localGet(rt).i32Load(src).i32Add();
        f.localGet(rt).i32Load(dst).i32Const(scratch).i32Add();
        f.call(resample);
      });
    }
    f.localGet(rt).i32Load(0).i32Const(scratch).i32Add().localSet(a);
    f.localGet(rt).i32Load(4).i32Const(scratch).i32Add().localSet(b);
    f.localGet(rt).v128Load32Splat(8).localSet(fy);
    if (!exact) {
      // The padded output row lies as the scratch rows do: one run of OW·cs floats, 4 vectors at a time.
      const block = (count: number): void => {
        for (let v = 0; v < count; v++) {
          f.localGet(yp);
          blend(16 * v);
          f.v128Store(16 * v);
        }
        g.bump(a, 16 * count);
        g.bump(b, 16 * count);
        g.bump(yp, 16 * count);
      };
      g.repeat(Math.floor((OW * vectors) / ELEMENTWISE_UNROLL), () => block(ELEMENTWISE_UNROLL));
      if ((OW * vectors) % ELEMENTWISE_UNROLL > 0) block((OW * vectors) % ELEMENTWISE_UNROLL);
    } else {
      // An unpadded output: each pixel's last C mod 4 channels lane by lane.
      const pixel = (): void => {
        for (let v = 0; v < vectors; v++) {
          const lanes = C - 4 * v;
          if (lanes < 4) {
            const out = g.v("out");
            blend(16 * v);
            f.localSet(out);
            for (let l = 0; l < lanes; l++) f.localGet(yp).localGet(out).f32x4ExtractLane(l).f32Store(16 * v + 4 * l);
          } else {
            f.localGet(yp);
            blend(16 * v);
            f.v128Store(16 * v);
          }
        }
        g.bump(a, 16 * vectors);
        g.bump(b, 16 * vectors);
        g.bump(yp, ys);
      };
      g.repeat(OW, pixel);
    }
    g.bump(rt, RESIZE_ROW_ENTRY);
  };
  g.repeat(OH, row);
  return f;
}
