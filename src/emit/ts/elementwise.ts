/**
 * Elementwise layers, where the planner did not fuse them into a neighbour:
 *
 *   add   y = a + b, same shapes (a residual connection)
 *   mul   y = x · g, g the same shape as x or [1, 1, C], broadcast over every
 *         pixel (squeeze-and-excitation's channel scaling)
 *
 * Each output value depends only on the input values at its own index (its
 * channel's, for the gate), so y may be one of the inputs' buffers.
 */
import { Code, plus, type NonNull } from "./code.js";

/** y[i] = a[i] op b[i] for i < n. */
export function elementwiseCode(op: "+" | "*", n: number, a: number, b: number, y: number, nonNull: NonNull): Code {
  const code = new Code();
  code.line(`for (let i = 0; i < ${n}; i++) m[${plus("i", y)}] = m[${plus("i", a)}]${nonNull} ${op} m[${plus("i", b)}]${nonNull};`);
  return code;
}

/** y[p][c] = x[p][c] · g[c] for `pixels` pixels of `channels` channels. */
export function broadcastMulCode(pixels: number, channels: number, x: number, gate: number, y: number, nonNull: NonNull): Code {
  const code = new Code();
  code.block(`for (let p = 0, x = ${x}, y = ${y}; p < ${pixels}; p++, x += ${channels}, y += ${channels})`, () => {
    code.line(`for (let c = 0; c < ${channels}; c++) m[y + c] = m[x + c]${nonNull} * m[${plus("c", gate)}]${nonNull};`);
  });
  return code;
}
