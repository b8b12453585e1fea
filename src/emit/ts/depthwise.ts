/**
 * Depthwise convolution, direct, on NHWC activations:
 *
 *   y[oh, ow, c] = act( bias[c] + Σ_{kh,kw} x[oh·sh − top + kh, ow·sw − left + kw, c] · K[kh, kw, c] )
 *
 * Weights are packed tap-major, [kh][kw][c] then bias [c], so that the
 * innermost loop runs over channels with unit stride in the input, the
 * weights and the output alike (vectorisable over channels).
 *
 * The output is split in two at compile time. The interior — outputs whose
 * window lies wholly inside the input — runs without a single bounds check,
 * the taps at constant offsets, DW_BLOCK neighbouring outputs per step so
 * that each loaded weight and each loaded input serves several outputs. The
 * border — outputs whose window reaches into the padding — clips each window
 * to the input, as the reference does.
 */
import { Code, plus } from "./code.js";
import { activate, interior } from "./layer.js";
import type { Activation, Shape } from "../../ir/graph.js";

/** Neighbouring outputs along a row computed together in the interior. */
export const DW_BLOCK = 4;

export interface Depthwise {
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly top: number;
  readonly left: number;
  readonly x: number;
  readonly y: number;
  /** Offsets in m of the kernel [kh][kw][c] and the bias [c]. */
  readonly weights: number;
  readonly bias: number;
  readonly act: Activation;
}

/** Pack a [C, 1, kh, kw] kernel tap-major: [kh][kw][c]. */
export function packDepthwise(kernel: Float32Array, c: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(c * kh * kw);
  for (let ch = 0; ch < c; ch++) {
    for (let t = 0; t < kh * kw; t++) out[t * c + ch] = kernel[ch * kh * kw + t]!;
  }
  return out;
}

export function depthwiseCode(d: Depthwise): Code {
  const code = new Code();
  const [H, W, C] = d.inShape;
  const [OH, OW] = d.outShape;
  const [KH, KW] = d.kernel;
  const [SH, SW] = d.stride;
  const [oh0, oh1] = interior(OH, H, KH, SH, d.top);
  const [ow0, ow1] = interior(OW, W, KW, SW, d.left);
  const hasInterior = oh0 < oh1 && ow0 < ow1;
  const taps = KH * KW;

  if (hasInterior) {
    code.line(`// interior: rows ${oh0}…${oh1 - 1}, columns ${ow0}…${ow1 - 1}; every tap inside the input`);
    code.block(`for (let oh = ${oh0}; oh < ${oh1}; oh++)`, () => {
      code.line(`const xr = ${d.x} + (${plus(`oh * ${SH}`, -d.top)}) * ${W * C}${d.left === 0 ? "" : ` - ${d.left * C}`}, yr = ${d.y} + oh * ${OW * C};`);
      const width = ow1 - ow0;
      const block = Math.min(DW_BLOCK, width);
      code.line(`let ow = ${ow0};`);
      if (block > 1) {
        code.block(`for (; ow <= ${ow1 - block}; ow += ${block})`, () => run(block));
      }
      if (block === 1 || width % block !== 0) code.block(`for (; ow < ${ow1}; ow++)`, () => run(1));
    });
  }

  /** `count` outputs starting at column ow of row oh (interior). */
  function run(count: number): void {
    code.line(`const x = xr + ow * ${SW * C}, y = yr + ow * ${C};`);
    code.block(`for (let c = 0; c < ${C}; c++)`, () => {
      code.line(`const xc = x + c, yc = y + c, wc = ${d.weights} + c;`);
      // Hoist the weights into registers when there are few enough taps.
      const hoist = taps <= 9;
      if (hoist) {
        code.line(`const ${Array.from({ length: taps }, (_, t) => `k${t} = m[${plus("wc", t * C)}]!`).join(", ")};`);
      }
      code.line(`const b = m[${d.bias} + c]!;`);
      code.line(`let ${Array.from({ length: count }, (_, j) => `s${j} = b`).join(", ")};`);
      // Each input value is loaded once and used by every output whose window holds it.
      const uses = new Map<number, { j: number; t: number }[]>();
      for (let j = 0; j < count; j++) {
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            const off = (kh * W + j * SW + kw) * C;
            const list = uses.get(off) ?? [];
            list.push({ j, t: kh * KW + kw });
            uses.set(off, list);
          }
        }
      }
      for (const off of [...uses.keys()].sort((a, b) => a - b)) {
        const list = uses.get(off)!;
        const w = (t: number): string => (hoist ? `k${t}` : `m[${plus("wc", t * C)}]!`);
        if (list.length === 1) {
          const u = list[0]!;
          code.line(`s${u.j} += m[${plus("xc", off)}]! * ${w(u.t)};`);
        } else {
          code.line(`{ const v = m[${plus("xc", off)}]!; ${list.map((u) => `s${u.j} += v * ${w(u.t)};`).join(" ")} }`);
        }
      }
      for (let j = 0; j < count; j++) code.line(`m[${plus("yc", j * C)}] = ${activate(d.act, `s${j}`)};`);
    });
  }

  const everything = !hasInterior;
  const border = everything || oh0 > 0 || oh1 < OH || ow0 > 0 || ow1 < OW;
  if (border) {
    code.line(everything ? "// every window reaches into the padding: clip each to the input" : "// border: windows that reach into the padding, clipped to the input");
    code.block(`for (let oh = 0; oh < ${OH}; oh++)`, () => {
      code.line(`const ih = ${plus(`oh * ${SH}`, -d.top)}, kh0 = ih < 0 ? -ih : 0, kh1 = ih + ${KH} > ${H} ? ${H} - ih : ${KH};`);
      if (!everything) code.line(`const inner = oh >= ${oh0} && oh < ${oh1};`);
      code.block(`for (let ow = 0; ow < ${OW}; ow++)`, () => {
        if (!everything) code.line(`if (inner && ow === ${ow0}) { ow = ${ow1 - 1}; continue; }`);
        code.line(`const iw = ${plus(`ow * ${SW}`, -d.left)}, kw0 = iw < 0 ? -iw : 0, kw1 = iw + ${KW} > ${W} ? ${W} - iw : ${KW};`);
        code.line(`const y = ${d.y} + (oh * ${OW} + ow) * ${C};`);
        code.block(`for (let c = 0; c < ${C}; c++)`, () => {
          code.line(`let s = m[${d.bias} + c]!;`);
          code.block("for (let kh = kh0; kh < kh1; kh++)", () => {
            code.line(`const x = ${d.x} + ((ih + kh) * ${W} + iw) * ${C} + c, w = ${d.weights} + kh * ${KW * C} + c;`);
            code.line(`for (let kw = kw0; kw < kw1; kw++) s += m[x + kw * ${C}]! * m[w + kw * ${C}]!;`);
          });
          code.line(`m[y + c] = ${activate(d.act, "s")};`);
        });
      });
    });
  }
  return code;
}
