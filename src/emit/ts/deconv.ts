/**
 * Transposed convolution, gathered per output pixel:
 *
 *   y[oh, ow, oc] = act( bias[oc] + Σ x[iy, ix, ic] · K[ic, oc, i, j] )
 *
 * over the taps (i, j) and input cells with iy·sh + i − top = oh and
 * ix·sw + j − left = ow — the cells that scatter into (oh, ow). For a given
 * output row only the taps i ≡ (oh + top) mod sh land on it, each from input
 * row iy = (oh + top − i) / sh; the same along W. Gathering (instead of
 * scattering every input cell into the output) keeps each sum in a local
 * variable, added up in float64 and stored once, and lets the layer write its
 * channels into a wider tensor (a concatenation's buffer).
 *
 * Weights lie as a GEMM's (gemm.ts): panels of NR output channels, each
 * [k][nr] with the reduction index k = (i·KW + j)·C + ic — tap-major,
 * input channels innermost, as a convolution's — the bias [oc] apart. An
 * output pixel's NR sums of a panel stay in registers while the taps that
 * land on it stream past.
 */
import { affine, Code, plus, type NonNull } from "./code.js";
import { NR } from "./gemm.js";
import { activate } from "./layer.js";
import type { Activation, Shape } from "../../ir/graph.js";

/** Output channels per panel of the weights (and sums per output pixel kept at once). */
export const DECONV_NR = NR;

export interface Deconv {
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  /** The crop of the full output: its first `top` rows and `left` columns are not computed. */
  readonly top: number;
  readonly left: number;
  readonly x: number;
  readonly y: number;
  /** Floats from one output pixel to the next (the output's channels, or a concatenation's). */
  readonly yStride: number;
  /** Offsets in m of the kernel (panels of DECONV_NR channels, each [k][nr]) and the bias [oc]. */
  readonly weights: number;
  readonly bias: number;
  readonly act: Activation;
  readonly nonNull: NonNull;
}

export function deconvCode(d: Deconv): Code {
  const code = new Code();
  const [H, W, C] = d.inShape;
  const [OH, OW, OC] = d.outShape;
  const [KH, KW] = d.kernel;
  const [SH, SW] = d.stride;
  const K = KH * KW * C;
  const nr = DECONV_NR;
  const nn = d.nonNull;
  /** The first tap along an axis that lands on output index `o` ((o + before) mod stride), and the input index tap `t` reads. */
  const first = (o: string, before: number, stride: number): string => (stride === 1 ? "0" : before === 0 ? `${o} % ${stride}` : `(${plus(o, before)}) % ${stride}`);
  const source = (o: string, before: number, t: string, stride: number): string => (stride === 1 ? `${plus(o, before)} - ${t}` : `(${plus(o, before)} - ${t}) / ${stride}`);
  /** The sums of output channels [n0, n0 + width) of pixel (oh, ow), their panel at w. */
  const panel = (width: number): void => {
    const acc = (j: number): string => `a${j}`;
    code.line(`let ${Array.from({ length: width }, (_, j) => `${acc(j)} = m[${plus("b", j)}]${nn}`).join(", ")};`);
    code.block(`for (let i = i0; i < ${KH}; i += ${SH})`, () => {
      code.line(`const iy = ${source("oh", d.top, "i", SH)};`);
      code.line(`if (iy < 0 || iy >= ${H}) continue;`);
      code.block(`for (let j = j0; j < ${KW}; j += ${SW})`, () => {
        code.line(`const ix = ${source("ow", d.left, "j", SW)};`);
        code.line(`if (ix < 0 || ix >= ${W}) continue;`);
        code.line(`const x = ${plus(`(iy * ${W} + ix) * ${C}`, d.x)}, k = w + (i * ${KW} + j) * ${C * width};`);
        code.block(`for (let ic = 0, t = k; ic < ${C}; ic++, t += ${width})`, () => {
          code.line(`const v = m[x + ic]${nn};`);
          code.line(Array.from({ length: width }, (_, j) => `${acc(j)} += v * m[${plus("t", j)}]${nn};`).join(" "));
        });
      });
    });
    for (let j = 0; j < width; j++) code.line(`m[${plus("y", j)}] = ${activate(d.act, acc(j))};`);
  };
  const nFull = OC - (OC % nr);
  const nTail = OC % nr;
  code.line(`// each output pixel gathers the taps that land on it: tap i reads input row (oh + ${d.top} − i) / ${SH}, tap j column (ow + ${d.left} − j) / ${SW}`);
  code.block(`for (let oh = 0; oh < ${OH}; oh++)`, () => {
    code.line(`const i0 = ${first("oh", d.top, SH)};`);
    code.block(`for (let ow = 0; ow < ${OW}; ow++)`, () => {
      code.line(`const j0 = ${first("ow", d.left, SW)}, p = ${affine(d.y, `(oh * ${OW} + ow)`, d.yStride)};`);
      if (nFull > nr) {
        code.block(`for (let n = 0; n < ${nFull}; n += ${nr})`, () => {
          code.line(`const w = ${d.weights} + n * ${K}, b = ${d.bias} + n, y = p + n;`);
          panel(nr);
        });
      } else if (nFull === nr) {
        code.block("", () => {
          code.line(`const w = ${d.weights}, b = ${d.bias}, y = p;`);
          panel(nr);
        });
      }
      if (nTail > 0) {
        code.block("", () => {
          code.line(`const w = ${d.weights + nFull * K}, b = ${d.bias + nFull}, y = ${plus("p", nFull)};`);
          panel(nTail);
        });
      }
    });
  });
  return code;
}
