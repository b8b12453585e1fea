/**
 * Convolutions and fully connected layers as a cache-blocked, register-blocked
 * matrix multiply, specialised for one layer's shapes:
 *
 *   Y[p, n] = act( bias[n] + Σ_k X̂[p, k] · Ŵ[k, n] )      p: output pixel, n: output channel
 *
 * where row p of X̂ is pixel p's receptive field in (kh, kw, ic) order — for a
 * pointwise convolution simply the input pixel's channels, for a full
 * convolution its KH×KW×C patch (cells in the padding read as 0; a dilated
 * convolution's taps dh rows and dw columns apart), for a fully connected
 * layer the whole flattened input (one "pixel").
 *
 * Blocking, outermost first:
 *
 *   chunk   pixels [c, c + PC): their rows of X̂ are packed into the scratch
 *           area, MR pixels interleaved (panel[k][i]), sized to stay in L2
 *   panel   output channels [n, n + NR): their weights Ŵ[k][n…n+NR) are
 *           contiguous in the weights region (packed at compile time), and
 *           stay in L1 while every block of the chunk streams past
 *   block   MR pixels × NR channels: MR·NR accumulators live in registers
 *           for the whole k loop, which loads MR + NR values for MR·NR
 *           multiply-adds; bias and activation are applied as they are stored,
 *           and a residual fused into the layer is added then too
 *
 * A full convolution is "direct": no im2col matrix exists, only the chunk's
 * panel, and pixels whose window lies inside the input are packed without
 * bounds checks. With one pixel (fc) and unit stride there is nothing to pack.
 * A squeeze-and-excitation scale fused into a pointwise convolution is applied
 * as the rows are packed: X̂[p, k] = x[p, k] · gate[k]. A layer that writes
 * into a concatenation's buffer stores pixel p's channels `yStride` floats
 * after pixel p − 1's.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Activation } from "../../ir/graph.js";
import { affine, Code, group, plus, type NonNull } from "./code.js";
import { activateAndAdd, interior } from "./layer.js";

/** Pixels per register block (rows of the micro-kernel). */
export const MR = 3;
/** Output channels per register block, and the width of a packed weight panel. */
export const NR = 4;
/** Output channels per block when there is a single pixel (fc): more accumulators, no pixel reuse. */
export const NR_SINGLE = 8;
/** Windows with more taps than this are copied with loops rather than one statement per tap. */
export const MAX_UNROLLED_TAPS = 49;
/** Floats of packed input per chunk: about 192 KiB, so that a chunk stays in L2. */
export const CHUNK_FLOATS = 48 * 1024;

/** Where X̂'s rows come from. */
export type GemmSource =
  /** Pixel p's row is the K floats at x + p·K (pointwise stride 1, fc). */
  | { readonly kind: "rows"; readonly x: number }
  /** Pixel p's row is its KH×KW×C patch of an H×W×C input at x. */
  | {
      readonly kind: "patches";
      readonly x: number;
      readonly h: number;
      readonly w: number;
      readonly c: number;
      readonly kh: number;
      readonly kw: number;
      readonly sh: number;
      readonly sw: number;
      readonly top: number;
      readonly left: number;
      /** Dilation: the taps of the window dh rows and dw columns apart (1: adjacent). */
      readonly dh: number;
      readonly dw: number;
      /** Output width (pixels per output row). */
      readonly ow: number;
      /** Output height. */
      readonly oh: number;
    };

export interface Gemm {
  /** Output pixels, reduction length, output channels. */
  readonly p: number;
  readonly k: number;
  readonly n: number;
  readonly source: GemmSource;
  /**
   * Offsets in m: the weights in panels of nr channels, each [k][nr] (panel j at j·nr·k, the last one
   * [k][n mod nr] when nr does not divide n), bias [n], output [p][n], scratch.
   */
  readonly weights: number;
  readonly bias: number;
  readonly y: number;
  readonly scratch: number;
  readonly act: Activation;
  /** "!" after each read of m in TypeScript, "" in JavaScript. */
  readonly nonNull: NonNull;
  /** A fused residual add: the other operand lies at y + residual, laid out as the output [p][n]. */
  readonly residual?: number;
  /**
   * Floats from one output pixel to the next (default n): a layer writing its channels into a wider
   * tensor (a concatenation's buffer, y then being the offset of its first channel there).
   */
  readonly yStride?: number;
  /** A fused channel scale (rows only): row k of X̂ is multiplied by m[scale + k] as it is packed. */
  readonly scale?: number;
}

/** The register block for a layer with `p` pixels. */
export function tile(p: number): { readonly mr: number; readonly nr: number } {
  return p >= MR ? { mr: MR, nr: NR } : { mr: p, nr: p === 1 ? NR_SINGLE : NR };
}

/** Pixels per chunk: a multiple of MR, at least one block, at most all pixels. */
export function chunkPixels(p: number, k: number): number {
  const { mr } = tile(p);
  const blocks = Math.max(1, Math.floor(CHUNK_FLOATS / (k * mr)));
  return Math.min(blocks * mr, Math.ceil(p / mr) * mr);
}

/** Whether X̂ can be read in place (one pixel per block and rows already contiguous). */
function inPlace(g: Pick<Gemm, "p" | "source">): boolean {
  return tile(g.p).mr === 1 && g.source.kind === "rows";
}

/** Whether a channel scale can be fused into the packing of X̂ (rows that are packed, not read in place). */
export function packsRows(g: Pick<Gemm, "p" | "source">): boolean {
  return g.source.kind === "rows" && !inPlace(g);
}

/** Scratch floats a GEMM needs for its packed chunk. */
export function gemmScratch(g: Pick<Gemm, "p" | "k" | "source">): number {
  return inPlace(g) ? 0 : chunkPixels(g.p, g.k) * g.k;
}

/** The body of a layer function computing one GEMM. */
export function gemmCode(g: Gemm): Code {
  if (g.scale !== undefined && !packsRows(g)) throw new InternalError("emit ts: a channel scale is fused only into a GEMM that packs its rows");
  if (g.residual !== undefined && g.yStride !== undefined && g.yStride !== g.n) throw new InternalError("emit ts: a residual is fused only into a GEMM that writes its output densely");
  const { mr, nr } = tile(g.p);
  const code = new Code();
  const chunk = chunkPixels(g.p, g.k);
  const direct = inPlace(g);
  const chunks = Math.ceil(g.p / chunk);
  const nFull = g.n - (g.n % nr);
  const nTail = g.n % nr;
  const panels = (chunked: boolean): void => {
    if (nFull > nr) {
      code.block(`for (let n = 0; n < ${nFull}; n += ${nr})`, () => {
        code.line(`const w = ${g.weights} + n * ${g.k}, b = ${g.bias} + n;`);
        blocks(code, g, mr, nr, chunked, "n", direct);
      });
    } else if (nFull === nr) {
      code.block("", () => {
        code.line(`const w = ${g.weights}, b = ${g.bias};`);
        blocks(code, g, mr, nr, chunked, 0, direct);
      });
    }
    if (nTail > 0) {
      code.block("", () => {
        code.line(nFull === 0 ? `// all ${nTail} output channels at once` : `// the last ${nTail} output channel${nTail === 1 ? "" : "s"}`);
        code.line(`const w = ${g.weights + nFull * g.k}, b = ${g.bias + nFull};`);
        blocks(code, g, mr, nTail, chunked, nFull, direct);
      });
    }
  };
  if (chunks === 1) {
    if (!direct) packChunk(code, g, mr, "0", String(g.p));
    panels(false);
  } else {
    code.line(`// ${chunks} chunks of ${group(chunk)} pixels, each packed once and multiplied by every weight panel`);
    code.block(`for (let c = 0; c < ${g.p}; c += ${chunk})`, () => {
      code.line(`const cEnd = c + ${chunk} < ${g.p} ? c + ${chunk} : ${g.p};`);
      packChunk(code, g, mr, "c", "cEnd");
      panels(true);
    });
  }
  return code;
}

/**
 * The register blocks of one weight panel of width nr: for every mr pixels of
 * the chunk (or of the layer), mr·nr accumulators over the whole k loop,
 * then bias-initialised sums go through the activation into the output.
 */
function blocks(code: Code, g: Gemm, mr: number, nr: number, chunked: boolean, n: "n" | number, direct: boolean): void {
  const step = mr * g.k;
  const partial = g.p % mr !== 0;
  const ys = g.yStride ?? g.n;
  const acc = (i: number, j: number): string => `a${i}${j}`;
  const yAt = (p: "p" | number): string => {
    const base = affine(g.y + (typeof n === "number" ? n : 0), p, ys);
    return typeof n === "number" ? base : `${base} + n`;
  };
  const body = (p: "p" | number): void => {
    code.line(`let ${Array.from({ length: nr }, (_, j) => `${acc(0, j)} = m[${plus("b", j)}]${g.nonNull}`).join(", ")};`);
    for (let i = 1; i < mr; i++) {
      code.line(`let ${Array.from({ length: nr }, (_, j) => `${acc(i, j)} = ${acc(0, j)}`).join(", ")};`);
    }
    code.block(`for (let xs = s, ws = w, end = s + ${step}; xs < end; xs += ${mr}, ws += ${nr})`, () => {
      code.line(`const ${Array.from({ length: nr }, (_, j) => `w${j} = m[${plus("ws", j)}]${g.nonNull}`).join(", ")};`);
      for (let i = 0; i < mr; i++) {
        code.line(`const x${i} = m[${plus("xs", i)}]${g.nonNull};`);
        code.line(Array.from({ length: nr }, (_, j) => `${acc(i, j)} += x${i} * w${j};`).join(" "));
      }
    });
    if (partial && p === "p") code.line(`const rows = ${g.p} - p;`);
    code.line(`const y = ${yAt(p)};`);
    const rowsHere = p === "p" ? mr : Math.min(mr, g.p - p);
    for (let i = 0; i < rowsHere; i++) {
      const store = (): void => {
        for (let j = 0; j < nr; j++) {
          const at = i * ys + j;
          code.line(`m[${plus("y", at)}] = ${activateAndAdd(g.act, acc(i, j), g.residual === undefined ? undefined : plus("y", at + g.residual), g.nonNull)};`);
        }
      };
      if (i > 0 && partial && p === "p") code.block(`if (rows > ${i})`, store);
      else store();
    }
  };
  if (!chunked && g.p <= mr) {
    // a single block
    code.block("", () => {
      code.line(`const s = ${direct ? g.source.x : g.scratch};`);
      body(0);
    });
    return;
  }
  const sStart = direct ? (chunked ? `${g.source.x} + c * ${g.k}` : String(g.source.x)) : String(g.scratch);
  code.block(`for (let p = ${chunked ? "c" : 0}, s = ${sStart}; p < ${chunked ? "cEnd" : g.p}; p += ${mr}, s += ${step})`, () => body("p"));
}

/** Pack X̂'s rows of pixels [c, cEnd) into the scratch area, mr pixels interleaved: panel[k][i]. */
function packChunk(code: Code, g: Gemm, mr: number, c: string, cEnd: string): void {
  const s = g.source;
  const step = mr * g.k;
  if (s.kind === "rows") {
    const scale = g.scale;
    code.line(
      scale === undefined
        ? `// pack: scratch[block][k][i] = x[p + i][k], ${mr} pixels per block`
        : `// pack: scratch[block][k][i] = x[p + i][k] · gate[k], ${mr} pixels per block (the gate at ${scale})`,
    );
    code.block(`for (let p = ${c}, s = ${g.scratch}; p < ${cEnd}; p += ${mr}, s += ${step})`, () => {
      code.line(`const x = ${affine(s.x, "p", g.k)};`);
      const full = (): void => {
        code.block(`for (let k = 0, t = s; k < ${g.k}; k++, t += ${mr})`, () => {
          if (scale === undefined) {
            for (let i = 0; i < mr; i++) code.line(`m[${plus("t", i)}] = m[${plus("x + k", i * g.k)}]${g.nonNull};`);
            return;
          }
          code.line(`const g = m[${plus("k", scale)}]${g.nonNull};`);
          for (let i = 0; i < mr; i++) code.line(`m[${plus("t", i)}] = m[${plus("x + k", i * g.k)}]${g.nonNull} * g;`);
        });
      };
      if (g.p % mr === 0) full();
      else {
        code.ifElse(`p + ${mr} <= ${g.p}`, full, () => {
          code.line("// the last, partial block: missing pixels read as 0");
          const value = scale === undefined ? `m[x + i * ${g.k} + k]${g.nonNull}` : `m[x + i * ${g.k} + k]${g.nonNull} * m[${plus("k", scale)}]${g.nonNull}`;
          code.line(`for (let i = 0; i < ${mr}; i++) for (let k = 0; k < ${g.k}; k++) m[s + k * ${mr} + i] = p + i < ${g.p} ? ${value} : 0;`);
        });
      }
    });
    return;
  }
  const C = s.c;
  // A dilated window spans (k − 1)·d + 1 cells.
  const [ih0, ih1] = interior(s.oh, s.h, (s.kh - 1) * s.dh + 1, s.sh, s.top);
  const [iw0, iw1] = interior(s.ow, s.w, (s.kw - 1) * s.dw + 1, s.sw, s.left);
  const dilated = s.dh !== 1 || s.dw !== 1;
  if (g.k !== s.kh * s.kw * C) throw new InternalError(`emit ts: a ${s.kh}x${s.kw}x${C} patch is not ${g.k} long`);
  code.line(
    `// pack: scratch[block][k][i] = the ${s.kh}x${s.kw}x${C} patch of pixel p + i${dilated ? ` (taps ${s.dh}x${s.dw} apart)` : ""}, k = (kh·${s.kw} + kw)·${C} + ic; padding reads as 0`,
  );
  code.block("", () => {
    code.line(c === "0" ? "let oh = 0, ow = 0, s = " + g.scratch + ", i = 0;" : `let oh = (${c} / ${s.ow}) | 0, ow = ${c} - oh * ${s.ow}, s = ${g.scratch}, i = 0;`);
    code.block(`for (let p = ${c}; p < ${cEnd}; p++)`, () => {
      code.line(`const ih = ${plus(`oh * ${s.sh}`, -s.top)}, iw = ${plus(`ow * ${s.sw}`, -s.left)}, t = s + i;`);
      const inside = ih0 < ih1 && iw0 < iw1;
      const interiorCopy = (): void => {
        code.line(`const x = ${plus(C === 1 ? `ih * ${s.w} + iw` : `(ih * ${s.w} + iw) * ${C}`, s.x)};`);
        if (s.kh * s.kw > MAX_UNROLLED_TAPS && dilated) {
          // a large dilated window: copy tap by tap
          code.block(`for (let kh = 0, u = t; kh < ${s.kh}; kh++)`, () => {
            code.block(`for (let kw = 0, v = x + kh * ${s.dh * s.w * C}; kw < ${s.kw}; kw++, v += ${s.dw * C})`, () => {
              code.line(`for (let ic = 0; ic < ${C}; ic++, u += ${mr}) m[u] = m[v + ic]${g.nonNull};`);
            });
          });
          return;
        }
        if (s.kh * s.kw > MAX_UNROLLED_TAPS) {
          // a large window: copy row by row of the patch
          code.block(`for (let kh = 0, u = t; kh < ${s.kh}; kh++)`, () => {
            code.line(`for (let j = 0, v = x + kh * ${s.w * C}; j < ${s.kw * C}; j++, u += ${mr}) m[u] = m[v + j]${g.nonNull};`);
          });
          return;
        }
        for (let kh = 0; kh < s.kh; kh++) {
          for (let kw = 0; kw < s.kw; kw++) {
            const tap = (kh * s.kw + kw) * C;
            const from = (kh * s.dh * s.w + kw * s.dw) * C;
            if (C <= 4) {
              code.line(Array.from({ length: C }, (_, ic) => `m[${plus("t", (tap + ic) * mr)}] = m[${plus("x", from + ic)}]${g.nonNull};`).join(" "));
            } else {
              code.line(`for (let ic = 0, u = ${plus("t", tap * mr)}; ic < ${C}; ic++, u += ${mr}) m[u] = m[${plus("x", from)} + ic]${g.nonNull};`);
            }
          }
        }
      };
      const borderCopy = (): void => {
        code.line("// the window reaches into the padding");
        code.block(`for (let kh = 0; kh < ${s.kh}; kh++)`, () => {
          code.line(s.dh === 1 ? "const h = ih + kh;" : `const h = ih + kh * ${s.dh};`);
          code.block(`for (let kw = 0; kw < ${s.kw}; kw++)`, () => {
            code.line(`const w = ${s.dw === 1 ? "iw + kw" : `iw + kw * ${s.dw}`}, x = ${plus(C === 1 ? `h * ${s.w} + w` : `(h * ${s.w} + w) * ${C}`, s.x)};`);
            code.line(`const inside = h >= 0 && h < ${s.h} && w >= 0 && w < ${s.w};`);
            code.line(`for (let ic = 0, u = t + (kh * ${s.kw} + kw) * ${C * mr}; ic < ${C}; ic++, u += ${mr}) m[u] = inside ? m[x + ic]${g.nonNull} : 0;`);
          });
        });
      };
      if (!inside) borderCopy();
      else if (ih0 === 0 && ih1 === s.oh && iw0 === 0 && iw1 === s.ow) interiorCopy();
      else {
        const tests = [
          ih0 > 0 ? `oh >= ${ih0}` : "",
          ih1 < s.oh ? `oh < ${ih1}` : "",
          iw0 > 0 ? `ow >= ${iw0}` : "",
          iw1 < s.ow ? `ow < ${iw1}` : "",
        ].filter((t) => t !== "");
        code.ifElse(tests.join(" && "), interiorCopy, borderCopy);
      }
      code.line(`if (++ow === ${s.ow}) { ow = 0; oh++; }`);
      code.line(`if (++i === ${mr}) { i = 0; s += ${step}; }`);
    });
    if (g.p % mr !== 0) {
      code.line("// zero the rest of a partial last block");
      code.line(`if (i > 0) for (let k = 0; k < ${g.k}; k++) for (let j = i; j < ${mr}; j++) m[s + k * ${mr} + j] = 0;`);
    }
  });
}
