/**
 * Resizing (bilinear or nearest), with the reference evaluator's arithmetic:
 *
 *   top    = tl + (tr − tl)·fx        tl, tr: row lo, columns lo and hi
 *   bottom = bl + (br − bl)·fx        bl, br: row hi
 *   y      = top + (bottom − top)·fy
 *
 * in float64 on the float32 inputs, stored once as float32. Per axis, the
 * source indices lo and hi and the weight f of every output index are
 * computed here at generation time (`resizeAxis` of src/ir/ops/resize.ts, the rule the reference
 * follows too, every coordinate convention) and written into the module as
 * constant tables — the weights as exact float64 literals — so that the
 * module samples where the reference does and blends with the same weights.
 * Nearest copies its one source cell.
 *
 * The tables hold element offsets rather than indices: lo·W·C and hi·W·C
 * for rows, lo·C and hi·C for columns (nearest: lo alone).
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { ResizeCoords, ResizeMode, Shape } from "../../ir/graph.js";
import { resizeAxis, type ResizeAxis as Axis } from "../../ir/ops/resize.js";
import { Code, plus, typesIn, type Flavour, type NonNull } from "./code.js";

export interface Resize {
  readonly mode: ResizeMode;
  readonly coords: ResizeCoords;
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly x: number;
  readonly y: number;
  /** Floats from one output pixel to the next (the output's channels, or a concatenation's). */
  readonly yStride: number;
  /** The names of the module-level tables this layer reads (unique in the module): row and column offsets, row and column weights. */
  readonly tables: { readonly y: string; readonly x: string; readonly fy: string; readonly fx: string };
  readonly nonNull: NonNull;
}

/** The layer's module-level constant tables: the offsets per output row and column (lo and hi; nearest: one) and, bilinear, the weights of hi. */
export function resizeTables(r: Resize, flavour: Flavour): Code {
  const T = typesIn(flavour);
  const [H, W, C] = r.inShape;
  const [OH, OW] = r.outShape;
  const ys = resizeAxis(r.mode, r.coords, H, OH);
  const xs = resizeAxis(r.mode, r.coords, W, OW);
  const offsets = (a: Axis, scale: number): string => {
    const out: number[] = [];
    for (let o = 0; o < a.lo.length; o++) out.push(...(r.mode === "bilinear" ? [a.lo[o]! * scale, a.hi[o]! * scale] : [a.lo[o]! * scale]));
    return out.join(", ");
  };
  const code = new Code();
  code.line(
    r.mode === "bilinear"
      ? "/** Per output row the offsets of its two source rows (lo, hi), per output column those of its two source columns, and the weights of hi. */"
      : "/** Per output row the offset of its source row, per output column that of its source column. */",
  );
  code.line(`const ${r.tables.y}${T(": Int32Array")} = new Int32Array([${offsets(ys, W * C)}]);`);
  code.line(`const ${r.tables.x}${T(": Int32Array")} = new Int32Array([${offsets(xs, C)}]);`);
  if (r.mode === "bilinear") {
    code.line(`const ${r.tables.fy}${T(": Float64Array")} = new Float64Array([${Array.from(ys.frac, String).join(", ")}]);`);
    code.line(`const ${r.tables.fx}${T(": Float64Array")} = new Float64Array([${Array.from(xs.frac, String).join(", ")}]);`);
  }
  return code;
}

export function resizeCode(r: Resize): Code {
  const [, , C] = r.inShape;
  const [OH, OW, OC] = r.outShape;
  if (OC !== C) throw new InternalError(`emit ts: a resize of ${C} channels to ${OC}`);
  const nn = r.nonNull;
  const t = r.tables;
  const code = new Code();
  code.block(`for (let oh = 0, y = ${r.y}; oh < ${OH}; oh++)`, () => {
    if (r.mode === "nearest") {
      code.line(`const r0 = ${plus(`${t.y}[oh]${nn}`, r.x)};`);
      code.block(`for (let ow = 0; ow < ${OW}; ow++, y += ${r.yStride})`, () => {
        code.line(`const x = r0 + ${t.x}[ow]${nn};`);
        code.line(`for (let c = 0; c < ${C}; c++) m[y + c] = m[x + c]${nn};`);
      });
      return;
    }
    code.line(`const r0 = ${plus(`${t.y}[2 * oh]${nn}`, r.x)}, r1 = ${plus(`${t.y}[2 * oh + 1]${nn}`, r.x)}, fy = ${t.fy}[oh]${nn};`);
    code.block(`for (let ow = 0; ow < ${OW}; ow++, y += ${r.yStride})`, () => {
      code.line(`const c0 = ${t.x}[2 * ow]${nn}, c1 = ${t.x}[2 * ow + 1]${nn}, fx = ${t.fx}[ow]${nn};`);
      code.line("const tl = r0 + c0, tr = r0 + c1, bl = r1 + c0, br = r1 + c1;");
      code.block(`for (let c = 0; c < ${C}; c++)`, () => {
        code.line(`const a = m[tl + c]${nn}, b = m[tr + c]${nn}, d = m[bl + c]${nn}, e = m[br + c]${nn};`);
        code.line("const top = a + (b - a) * fx;");
        code.line("const bottom = d + (e - d) * fx;");
        code.line("m[y + c] = top + (bottom - top) * fy;");
      });
    });
  });
  return code;
}
