/**
 * Elementwise layers, where the planner did not fuse them into a neighbour,
 * and the copies of a concatenation:
 *
 *   add         y = a + b, b the same shape as a (a residual connection, a
 *               skip) or [1, 1, C], broadcast over every pixel
 *   mul         y = x · g, g the same shape as x or [1, 1, C], broadcast over
 *               every pixel (squeeze-and-excitation's channel scaling)
 *   activation  y = act(x), one value at a time
 *   concat      each input's channels copied to their place in every pixel
 *
 * Each output value of add, mul and activation depends only on the input
 * values at its own index (its channel's, for a broadcast operand), so y may
 * be one of the inputs' buffers.
 */
import type { Activation } from "../../ir/graph.js";
import { Code, plus, type NonNull } from "./code.js";
import { activate } from "./layer.js";

/** y[i] = a[i] op b[i] for i < n. */
export function elementwiseCode(op: "+" | "*", n: number, a: number, b: number, y: number, nonNull: NonNull): Code {
  const code = new Code();
  code.line(`for (let i = 0; i < ${n}; i++) m[${plus("i", y)}] = m[${plus("i", a)}]${nonNull} ${op} m[${plus("i", b)}]${nonNull};`);
  return code;
}

/** y[p][c] = x[p][c] op g[c] for `pixels` pixels of `channels` channels. */
export function broadcastCode(op: "+" | "*", pixels: number, channels: number, x: number, gate: number, y: number, nonNull: NonNull): Code {
  const code = new Code();
  code.block(`for (let p = 0, x = ${x}, y = ${y}; p < ${pixels}; p++, x += ${channels}, y += ${channels})`, () => {
    code.line(`for (let c = 0; c < ${channels}; c++) m[y + c] = m[x + c]${nonNull} ${op} m[${plus("c", gate)}]${nonNull};`);
  });
  return code;
}

/** y[i] = act(x[i]) for i < n. */
export function activationCode(act: Activation, n: number, x: number, y: number, nonNull: NonNull): Code {
  const code = new Code();
  code.block(`for (let i = 0; i < ${n}; i++)`, () => {
    code.line(`const v = m[${plus("i", x)}]${nonNull};`);
    code.line(`m[${plus("i", y)}] = ${activate(act, "v")};`);
  });
  return code;
}

/**
 * A concatenation's copies: for every pixel of each input in `parts`, its `channels` values to
 * channels [offset, offset + channels) of the output pixel, `stride` floats apart.
 */
export function concatCode(pixels: number, stride: number, y: number, parts: readonly { readonly x: number; readonly channels: number; readonly offset: number }[], nonNull: NonNull): Code {
  const code = new Code();
  for (const part of parts) {
    const c = part.channels;
    code.block(`for (let p = 0, x = ${part.x}, y = ${y + part.offset}; p < ${pixels}; p++, x += ${c}, y += ${stride})`, () => {
      code.line(c === 1 ? `m[y] = m[x]${nonNull};` : `for (let c = 0; c < ${c}; c++) m[y + c] = m[x + c]${nonNull};`);
    });
  }
  return code;
}
