/**
 * Pooling and softmax: simple loops with the shapes inlined.
 *
 *   avgpool   mean over the window's in-bounds cells (padded cells are not
 *             counted, as TensorFlow's SAME average pooling); global = over H×W
 *   maxpool   max over the window's in-bounds cells
 *   softmax   over the channels of each pixel, after subtracting their maximum
 *   argmax    the index of each pixel's first largest channel, as a float
 */
import { affine, Code, plus, type NonNull } from "./code.js";
import type { Shape } from "../../ir/graph.js";

export interface Pool {
  readonly max: boolean;
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** The window ("global": the whole input), stride and leading pads. */
  readonly kernel: readonly [number, number] | "global";
  readonly stride: readonly [number, number];
  readonly top: number;
  readonly left: number;
  readonly x: number;
  readonly y: number;
  /** "!" after each read of m in TypeScript, "" in JavaScript. */
  readonly nonNull: NonNull;
}

export function poolCode(p: Pool): Code {
  const code = new Code();
  const [H, W, C] = p.inShape;
  const [OH, OW] = p.outShape;
  const start = p.max ? "-Infinity" : "0";
  const add = (v: string): string => (p.max ? `if (${v} > s) s = ${v};` : `s += ${v};`);
  if (p.kernel === "global") {
    code.line(`// one value per channel, over all ${H * W} pixels`);
    code.block(`for (let c = 0; c < ${C}; c++)`, () => {
      code.line(`let s = ${start};`);
      code.block(`for (let x = ${plus("c", p.x)}, end = ${plus("c", p.x + H * W * C)}; x < end; x += ${C})`, () => {
        code.line(`const v = m[x]${p.nonNull};`);
        code.line(add("v"));
      });
      code.line(`m[${plus("c", p.y)}] = ${p.max ? "s" : `s / ${H * W}`};`);
    });
    return code;
  }
  const [KH, KW] = p.kernel;
  const [SH, SW] = p.stride;
  code.line("// each window clipped to the input: padded cells take no part");
  code.block(`for (let oh = 0; oh < ${OH}; oh++)`, () => {
    code.line(`const ih = ${plus(`oh * ${SH}`, -p.top)}, h0 = ih < 0 ? 0 : ih, h1 = ih + ${KH} > ${H} ? ${H} : ih + ${KH};`);
    code.block(`for (let ow = 0; ow < ${OW}; ow++)`, () => {
      code.line(`const iw = ${plus(`ow * ${SW}`, -p.left)}, w0 = iw < 0 ? 0 : iw, w1 = iw + ${KW} > ${W} ? ${W} : iw + ${KW};`);
      if (!p.max) code.line("const count = (h1 - h0) * (w1 - w0);");
      code.line(`const y = ${plus(`(oh * ${OW} + ow) * ${C}`, p.y)};`);
      code.block(`for (let c = 0; c < ${C}; c++)`, () => {
        code.line(`let s = ${start};`);
        code.block("for (let h = h0; h < h1; h++)", () => {
          code.block(`for (let w = w0, x = ${plus(`(h * ${W} + w0) * ${C} + c`, p.x)}; w < w1; w++, x += ${C})`, () => {
            code.line(`const v = m[x]${p.nonNull};`);
            code.line(add("v"));
          });
        });
        code.line(`m[y + c] = ${p.max ? "s" : "s / count"};`);
      });
    });
  });
  return code;
}

export function softmaxCode(shape: Shape, x: number, y: number, nonNull: NonNull): Code {
  const code = new Code();
  const [H, W, C] = shape;
  const pixels = H * W;
  const body = (xs: string | number, ys: string | number): void => {
    const xc = typeof xs === "number" ? plus("c", xs) : `${xs} + c`;
    const yc = typeof ys === "number" ? plus("c", ys) : `${ys} + c`;
    code.line("let max = -Infinity;");
    code.block(`for (let c = 0; c < ${C}; c++)`, () => {
      code.line(`const v = m[${xc}]${nonNull};`);
      code.line("if (v > max) max = v;");
    });
    code.line("let total = 0;");
    code.line(`for (let c = 0; c < ${C}; c++) total += Math.exp(m[${xc}]${nonNull} - max);`);
    code.line(`for (let c = 0; c < ${C}; c++) m[${yc}] = Math.exp(m[${xc}]${nonNull} - max) / total;`);
  };
  if (pixels === 1) body(x, y);
  else {
    code.block(`for (let p = 0; p < ${pixels}; p++)`, () => {
      code.line(`const x = ${affine(x, "p", C)}, y = ${affine(y, "p", C)};`);
      body("x", "y");
    });
  }
  return code;
}

/** y[p] = the first c with x[p][c] largest, for every pixel p. */
export function argmaxCode(shape: Shape, x: number, y: number, nonNull: NonNull): Code {
  const code = new Code();
  const [H, W, C] = shape;
  code.block(`for (let p = 0, x = ${x}; p < ${H * W}; p++, x += ${C})`, () => {
    code.line(`let best = 0, max = m[x]${nonNull};`);
    code.block(`for (let c = 1; c < ${C}; c++)`, () => {
      code.line(`const v = m[x + c]${nonNull};`);
      code.block("if (v > max)", () => {
        code.line("max = v;");
        code.line("best = c;");
      });
    });
    code.line(`m[${plus("p", y)}] = best;`);
  });
  return code;
}
