/**
 * scale-width — the width multiplier α.
 *
 *   Before:  pw 512                   (α = 0.75, inside no width region)
 *   After:   pw 384                   channels = floor(512 · 0.75)
 *
 * For each conv and pw layer (separable's pw included): channels =
 * round(filters · α_layer), with α_layer = α · (enclosing `width A { … }`
 * regions) · (the layer's `width=` option), or without α for `width=fixed`.
 * Depthwise layers keep their input's channels; fc and the input are never
 * scaled. Rounding is Keras' floor unless another rule is chosen. Reads only
 * `filters`, so running it twice gives the same graph.
 */
import { error, errorWith } from "../ir/diagnostics.js";
import { MAX_SIZE } from "../ir/evaluate.js";
import type { ConvNode } from "../ir/graph.js";
import type { Pass, WidthRounding } from "./types.js";

export const scaleWidth: Pass = {
  name: "scale-width",
  run(graph, { options, diagnostics }) {
    const rounding = options.widthRounding ?? "floor";
    const nodes = graph.nodes.map((n) => {
      if (n.op !== "conv") return n;
      const multiplier = effectiveWidth(graph.alpha, n);
      const channels = roundChannels(n.attrs.filters, multiplier, rounding);
      if (channels <= 0) {
        const related = graph.alphaSpan === undefined || n.attrs.width.fixed ? [] : [{ message: "the network's width is set here", span: graph.alphaSpan }];
        diagnostics.push(errorWith("widthRoundsToZero", n.span, related, n.id, n.attrs.filters, multiplier));
        return n;
      }
      if (channels > MAX_SIZE) {
        diagnostics.push(error("sizeLimit", n.span, `${n.id}'s channel count`, channels, MAX_SIZE));
        return n;
      }
      return channels === n.attrs.channels ? n : { ...n, attrs: { ...n.attrs, channels } };
    });
    return { ...graph, nodes };
  },
};

/** The multiplier that applies to one layer. */
export function effectiveWidth(alpha: number, node: ConvNode): number {
  return node.attrs.width.fixed ? node.attrs.width.scale : alpha * node.attrs.width.scale;
}

export function roundChannels(filters: number, multiplier: number, rounding: WidthRounding): number {
  const floor = Math.floor(filters * multiplier);
  switch (rounding) {
    case "floor":
      return floor;
    case "min8":
      // TF-Slim: max(int(d · α), min_depth = 8).
      return Math.max(floor, 8);
    case "div8": {
      // MobileNetV2's _make_divisible(v, 8): nearest multiple of 8, at least 8, never below 90 % of v.
      const v = filters * multiplier;
      let rounded = Math.max(8, Math.floor((v + 4) / 8) * 8);
      if (rounded < 0.9 * v) rounded += 8;
      return rounded;
    }
  }
}
