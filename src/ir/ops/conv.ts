/**
 * `conv KxK N`, `pw N` — a full convolution (pw is its 1x1 case), followed by
 * batch-norm and an activation unless `norm=none` / `act=linear`.
 *
 *   shape:     [H, W, M] → [ceil(H/s), ceil(W/s), N]           (pad=same)
 *   mult-adds: Dk·Dk·M·N·Df·Df, with Df the output size
 *   weights:   Dk·Dk·M·N;  biases: N without batch-norm, 0 with it (β takes the bias's place)
 *   bnParams:  4·N  (γ, β, mean, variance)
 */
import { error } from "../diagnostics.js";
import { formatPair, formatShape } from "../graph.js";
import { NO_COST, type OpDef } from "./types.js";
import { formatPads, formatStride, slide } from "./window.js";

export const conv: OpDef<"conv"> = {
  kind: "conv",
  infer(node, input) {
    if (input === undefined) return { node };
    const a = node.attrs;
    const r = slide([input[0], input[1]], a.kernel, a.stride, a.padding);
    if (r === undefined) return { error: error("emptyOutput", node.span, node.id, formatPair(a.kernel), formatShape(input)) };
    return { node: { ...node, shape: [r.out[0], r.out[1], a.channels], attrs: { ...a, pads: r.pads } } };
  },
  cost(node, input) {
    if (input === undefined || node.shape === undefined) return NO_COST;
    const a = node.attrs;
    const weights = a.kernel[0] * a.kernel[1] * input[2] * a.channels;
    return {
      multAdds: weights * node.shape[0] * node.shape[1],
      weights,
      biases: a.norm === "none" ? a.channels : 0,
      bnParams: a.norm === "batchnorm" ? 4 * a.channels : 0,
    };
  },
  category: (node) => (node.attrs.kernel[0] === 1 && node.attrs.kernel[1] === 1 ? "conv1x1" : "conv"),
  describe(node) {
    const a = node.attrs;
    const channels = a.channels === a.filters ? `${a.channels}` : `${a.channels} (${a.filters} scaled)`;
    const width = a.width.fixed ? " width=fixed" : a.width.scale !== 1 ? ` width×${a.width.scale}` : "";
    return `${formatPair(a.kernel)}${formatStride(a.stride)} ${channels} ${a.padding}${formatPads(a.pads)}${norm(a.norm)} ${a.act}${width}`;
  },
};

export function norm(n: "batchnorm" | "none"): string {
  return n === "batchnorm" ? " bn" : "";
}
