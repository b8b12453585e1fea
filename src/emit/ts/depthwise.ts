/**
 * Depthwise convolution, direct, on NHWC activations:
 *
 *   y[oh, ow, c] = act( bias[c] + Σ_{kh,kw} x[oh·sh − top + kh·dh, ow·sw − left + kw·dw, c] · K[kh, kw, c] )
 *
 * (dh = dw = 1 but for a dilated, atrous, convolution).
 *
 * Weights lie tap-major, [kh][kw][c], the bias [c] apart, so that the
 * innermost loop runs over channels with unit stride in the input, the
 * weights and the output alike (vectorisable over channels).
 *
 * The output is split in two at compile time. The interior — outputs whose
 * window lies wholly inside the input — runs without a single bounds check,
 * the taps at constant offsets, DW_BLOCK neighbouring outputs per step so
 * that each loaded weight and each loaded input serves several outputs. The
 * border — outputs whose window reaches into the padding — clips each window
 * to the input, as the reference does.
 *
 * A residual add fused into the layer adds the other operand (laid out as the
 * output) to each value as it is stored.
 */
import { affine, Code, plus, type NonNull } from "./code.js";
import { activateAndAdd } from "./layer.js";
import type { Activation, Shape } from "../../ir/graph.js";

/** Neighbouring outputs along a row computed together in the interior. */
export const DW_BLOCK = 4;
/** Windows with more taps than this run as loops over the taps (the code would be too long unrolled). */
export const MAX_UNROLLED_TAPS = 49;
/**
 * The border gets code of its own per class of clipped window (as the
 * interior does) when the window has at most this many taps and the padding
 * makes at most MAX_BORDER_REGIONS classes — the common 3x3 with pads of 1;
 * otherwise one loop clips each window as it goes.
 */
export const MAX_SPECIALISED_BORDER_TAPS = 9;
export const MAX_BORDER_REGIONS = 8;

export interface Depthwise {
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly top: number;
  readonly left: number;
  /** Dilation [dh, dw]: the taps dh rows and dw columns apart (absent: adjacent). */
  readonly dilation?: readonly [number, number];
  readonly x: number;
  readonly y: number;
  /** Offsets in m of the kernel [kh][kw][c] and the bias [c]. */
  readonly weights: number;
  readonly bias: number;
  readonly act: Activation;
  /** "!" after each read of m in TypeScript, "" in JavaScript. */
  readonly nonNull: NonNull;
  /** A fused residual add: the other operand lies at y + residual, laid out as the output. */
  readonly residual?: number;
}

/** Outputs along one axis that see the same taps: [lo, hi) reads taps [k0, k1). */
interface AxisClass {
  readonly lo: number;
  readonly hi: number;
  readonly k0: number;
  readonly k1: number;
}

/**
 * Group the outputs of one axis by the taps of their window that fall inside
 * the input: the interior (all taps) and, around it, the few rows or columns
 * whose window reaches into the padding. Tap t of output o reads input
 * o·stride − before + t·dilation.
 */
export function axisClasses(outSize: number, inSize: number, k: number, stride: number, before: number, dilation = 1): AxisClass[] {
  const out: AxisClass[] = [];
  for (let o = 0; o < outSize; o++) {
    const i0 = o * stride - before;
    const k0 = Math.max(0, Math.ceil(-i0 / dilation));
    const k1 = Math.max(k0, Math.min(k, Math.ceil((inSize - i0) / dilation)));
    const last = out[out.length - 1];
    if (last !== undefined && last.k0 === k0 && last.k1 === k1 && last.hi === o) out[out.length - 1] = { ...last, hi: o + 1 };
    else out.push({ lo: o, hi: o + 1, k0, k1 });
  }
  return out;
}

const range = (lo: number, hi: number): string => (hi - lo === 1 ? `${lo}` : `${lo}…${hi - 1}`);

export function depthwiseCode(d: Depthwise): Code {
  const code = new Code();
  const [H, W, C] = d.inShape;
  const [OH, OW] = d.outShape;
  const [KH, KW] = d.kernel;
  const [SH, SW] = d.stride;
  const [DH, DW] = d.dilation ?? [1, 1];
  const rows = axisClasses(OH, H, KH, SH, d.top, DH);
  const cols = axisClasses(OW, W, KW, SW, d.left, DW);
  const all = rows.flatMap((r) => cols.map((c) => ({ r, c, full: r.k1 - r.k0 === KH && c.k1 - c.k0 === KW })));
  const inner = all.find((g) => g.full);
  const border = all.filter((g) => !g.full);
  const unrolled = KH * KW <= MAX_UNROLLED_TAPS;
  const specialisedBorder = unrolled && KH * KW <= MAX_SPECIALISED_BORDER_TAPS && border.length <= MAX_BORDER_REGIONS;
  // The interior first: it is most of the work.
  const regions = [...(unrolled && inner !== undefined ? [inner] : []), ...(specialisedBorder ? border : [])];
  /** m[base + off] = the activated value (plus the residual, when an add is fused). */
  const store = (base: string, off: number, v: string): string =>
    `m[${plus(base, off)}] = ${activateAndAdd(d.act, v, d.residual === undefined ? undefined : plus(base, off + d.residual), d.nonNull)};`;
  const rowWord = (lo: number, hi: number): string => `${hi - lo === 1 ? "row" : "rows"} ${range(lo, hi)}`;
  const colWord = (lo: number, hi: number): string => `${hi - lo === 1 ? "column" : "columns"} ${range(lo, hi)}`;

  for (const { r, c, full } of regions) {
    code.line(
      full
        ? `// interior: ${rowWord(r.lo, r.hi)}, ${colWord(c.lo, c.hi)}; every tap inside the input`
        : `// border: ${rowWord(r.lo, r.hi)}, ${colWord(c.lo, c.hi)}; taps kh ${range(r.k0, r.k1)}, kw ${range(c.k0, c.k1)} (the others fall in the padding)`,
    );
    const taps: { kh: number; kw: number }[] = [];
    for (let kh = r.k0; kh < r.k1; kh++) for (let kw = c.k0; kw < c.k1; kw++) taps.push({ kh, kw });
    // x: the input cell under the window's top-left tap (possibly in the padding); y: the output.
    const rowBody = (oh: string | number): void => {
      const yr = `yr = ${affine(d.y, oh, OW * C)}`;
      code.line(taps.length > 0 ? `const xr = ${affine(d.x - (d.top * W + d.left) * C, oh, SH * W * C)}, ${yr};` : `const ${yr};`);
      const width = c.hi - c.lo;
      const block = Math.min(DW_BLOCK, width);
      if (width === 1) {
        run(1, taps, c.lo);
        return;
      }
      code.line(`let ow = ${c.lo};`);
      if (block > 1) code.block(`for (; ow <= ${c.hi - block}; ow += ${block})`, () => run(block, taps, "ow"));
      if (block === 1 || width % block !== 0) code.block(`for (; ow < ${c.hi}; ow++)`, () => run(1, taps, "ow"));
    };
    if (r.hi - r.lo === 1) code.block("", () => rowBody(r.lo));
    else code.block(`for (let oh = ${r.lo}; oh < ${r.hi}; oh++)`, () => rowBody("oh"));
  }

  /** `count` outputs starting at column ow of row oh, from the given taps. */
  function run(count: number, taps: readonly { kh: number; kw: number }[], ow: string | number): void {
    const at = (base: string, coef: number): string => (typeof ow === "number" ? plus(base, ow * coef) : `${base} + ow * ${coef}`);
    code.line(taps.length > 0 ? `const x = ${at("xr", SW * C)}, y = ${at("yr", C)};` : `const y = ${at("yr", C)};`);
    code.block(`for (let c = 0; c < ${C}; c++)`, () => {
      // Hoist the weights into registers when there are few enough taps.
      const hoist = taps.length <= 9;
      const tapIndex = (t: { kh: number; kw: number }): number => t.kh * KW + t.kw;
      if (taps.length > 0) {
        code.line(`const xc = x + c, wc = ${d.weights} + c;`);
        if (hoist) code.line(`const ${taps.map((t) => `k${tapIndex(t)} = m[${plus("wc", tapIndex(t) * C)}]${d.nonNull}`).join(", ")};`);
      }
      code.line(`const b = m[${plus("c", d.bias)}]${d.nonNull};`);
      code.line(`${taps.length > 0 ? "let" : "const"} ${Array.from({ length: count }, (_, j) => `s${j} = b`).join(", ")};`);
      // Each input value is loaded once and used by every output whose window holds it.
      const uses = new Map<number, { j: number; t: number }[]>();
      for (let j = 0; j < count; j++) {
        for (const t of taps) {
          const off = (t.kh * DH * W + j * SW + t.kw * DW) * C;
          const list = uses.get(off) ?? [];
          list.push({ j, t: tapIndex(t) });
          uses.set(off, list);
        }
      }
      const w = (t: number): string => (hoist ? `k${t}` : `m[${plus("wc", t * C)}]${d.nonNull}`);
      for (const off of [...uses.keys()].sort((a, b) => a - b)) {
        const list = uses.get(off)!;
        if (list.length === 1) {
          const u = list[0]!;
          code.line(`s${u.j} += m[${plus("xc", off)}]${d.nonNull} * ${w(u.t)};`);
        } else {
          code.line(`{ const v = m[${plus("xc", off)}]${d.nonNull}; ${list.map((u) => `s${u.j} += v * ${w(u.t)};`).join(" ")} }`);
        }
      }
      for (let j = 0; j < count; j++) code.line(store("y + c", j * C, `s${j}`));
    });
  }
  if (!specialisedBorder || !unrolled || inner === undefined) {
    const skip = unrolled && inner !== undefined ? inner : undefined;
    clipped(skip);
  }

  /** Every output outside `skip` (the interior already done), each window clipped to the input. */
  function clipped(skip: { r: AxisClass; c: AxisClass } | undefined): void {
    code.line(
      skip === undefined
        ? "// every output, each window clipped to the input (taps in the padding skipped)"
        : "// border: windows that reach into the padding, clipped to the input",
    );
    code.block(`for (let oh = 0; oh < ${OH}; oh++)`, () => {
      code.line(`const ih = ${plus(`oh * ${SH}`, -d.top)}, ${clip("kh", "ih", KH, H, DH)};`);
      if (skip !== undefined) code.line(`const inner = oh >= ${skip.r.lo} && oh < ${skip.r.hi};`);
      code.block(`for (let ow = 0; ow < ${OW}; ow++)`, () => {
        if (skip !== undefined) code.line(`if (inner && ow === ${skip.c.lo}) { ow = ${skip.c.hi - 1}; continue; }`);
        code.line(`const iw = ${plus(`ow * ${SW}`, -d.left)}, ${clip("kw", "iw", KW, W, DW)};`);
        code.line(`const y = ${plus(`(oh * ${OW} + ow) * ${C}`, d.y)};`);
        code.block(`for (let c = 0; c < ${C}; c++)`, () => {
          code.line(`let s = m[${plus("c", d.bias)}]${d.nonNull};`);
          code.block("for (let kh = kh0; kh < kh1; kh++)", () => {
            code.line(`const x = ${plus(`((${DH === 1 ? "ih + kh" : `ih + kh * ${DH}`}) * ${W} + iw) * ${C} + c`, d.x)}, w = ${plus(`kh * ${KW * C} + c`, d.weights)};`);
            code.line(`for (let kw = kw0; kw < kw1; kw++) s += m[x + kw * ${DW * C}]${d.nonNull} * m[w + kw * ${C}]${d.nonNull};`);
          });
          code.line(store("y + c", 0, "s"));
        });
      });
    });
  }
  return code;
}

/**
 * The taps [k0, k1) of a window starting at input index `i` (possibly in the padding) that fall
 * inside an axis of `size` cells, taps `dilation` apart: `k0 = …, k1 = …` as generated code.
 */
function clip(k: string, i: string, taps: number, size: number, dilation: number): string {
  if (dilation === 1) return `${k}0 = ${i} < 0 ? -${i} : 0, ${k}1 = ${i} + ${taps} > ${size} ? ${size} - ${i} : ${taps}`;
  const span = (taps - 1) * dilation + 1;
  return `${k}0 = ${i} < 0 ? ((${dilation - 1} - ${i}) / ${dilation}) | 0 : 0, ${k}1 = ${i} + ${span} > ${size} ? ((${size + dilation - 1} - ${i}) / ${dilation}) | 0 : ${taps}`;
}
