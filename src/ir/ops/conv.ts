/**
 * `conv KxK N`, `pw N` — a full convolution (pw is its 1x1 case), followed by
 * batch-norm and an activation unless `norm=none` / `act=linear`.
 *
 *   shape:     [H, W, M] → [ceil(H/s), ceil(W/s), N]           (pad=same)
 *   channels:  N as scale-width resolved it from the layer's ChannelRule
 *   dilation:  `dilation=D` spreads the taps D apart: the window spans (Dk − 1)·D + 1
 *              cells and SAME pads by that span, (Dk − 1)·D/2 each side for odd Dk
 *   mult-adds: Dk·Dk·M·N·Df·Df, with Df the output size (a dilated conv counts the same)
 *   weights:   Dk·Dk·M·N;  biases: N without batch-norm, 0 with it (β takes the bias's place)
 *   bnParams:  4·N  (γ, β, mean, variance)
 */
import { error } from "../diagnostics.js";
import { formatPair, formatShape, type ChannelRule, type Norm, type Pair, type WidthRule } from "../graph.js";
import { NO_COST, type Cost, type OpDef } from "./types.js";
import { dilated, formatDilation, formatPads, formatStride, slide } from "./window.js";

export const conv: OpDef<"conv"> = {
  kind: "conv",
  arity: 1,
  infer(node, [input]) {
    if (input === undefined) return { node };
    const a = node.attrs;
    const r = slide([input[0], input[1]], dilated(a.kernel, a.dilation), a.stride, a.padding);
    if (r === undefined) return { error: error("emptyOutput", node.span, node.id, formatPair(a.kernel), formatShape(input)) };
    return { node: { ...node, shape: [r.out[0], r.out[1], a.channels], attrs: { ...a, pads: r.pads } } };
  },
  channels: (node) => node.attrs.channels,
  cost: (node, [input]) => (input === undefined || node.shape === undefined ? NO_COST : kernelCost(node.attrs, input[2], node.shape[0] * node.shape[1])),
  category: (node) => (node.attrs.kernel[0] === 1 && node.attrs.kernel[1] === 1 ? "conv1x1" : "conv"),
  describe(node) {
    const a = node.attrs;
    return `${formatPair(a.kernel)}${formatStride(a.stride)}${formatDilation(a.dilation)} ${describeChannels(a.channels, a.size)} ${a.padding}${formatPads(a.pads)}${norm(a.norm)} ${a.act}${describeWidth(a.size)}`;
  },
};

/** `384 (512 scaled)`, `144 (6×input)`, `88 (88/24×bneck_2)`, `72` for an exact copy. */
export function describeChannels(channels: number, size: ChannelRule): string {
  if (size.kind === "filters") return channels === size.filters ? `${channels}` : `${channels} (${size.filters} scaled)`;
  const r = size.ratio;
  const ratio = r.den === 1 ? `${r.num}` : `${r.num}/${r.den}`;
  return size.role === "excite" ? `${channels} (=${size.of})` : `${channels} (${ratio}×${size.of})`;
}

const ALPHA_TEXT: Readonly<Record<WidthRule["alpha"], string>> = { scaled: "", fixed: " width=fixed", grow: " width=grow" };

export function describeWidth(size: ChannelRule): string {
  if (size.kind !== "filters") return "";
  return ALPHA_TEXT[size.width.alpha] + (size.width.scale !== 1 ? ` width×${size.width.scale}` : "");
}

/**
 * A convolution's costs: K·K·Cin·Cout weights, each used once per position
 * (an output pixel for conv, an input pixel for deconv), and a bias or four
 * batch-norm values per output channel.
 */
export function kernelCost(a: { readonly kernel: Pair; readonly channels: number; readonly norm: Norm }, inChannels: number, positions: number): Cost {
  const weights = a.kernel[0] * a.kernel[1] * inChannels * a.channels;
  return {
    ...NO_COST,
    multAdds: weights * positions,
    weights,
    biases: a.norm === "none" ? a.channels : 0,
    bnParams: a.norm === "batchnorm" ? 4 * a.channels : 0,
  };
}

export function norm(n: "batchnorm" | "none"): string {
  return n === "batchnorm" ? " bn" : "";
}
