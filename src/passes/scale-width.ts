/**
 * scale-width — the width multiplier α, and every width that depends on it.
 *
 *   Before:  pw 512                   (α = 0.75, inside no width region)
 *   After:   pw 384                   channels = floor(512 · 0.75)
 *
 *   Before:  bneck_3.expand  pw (6×input)   bneck_3.add (if channels match)
 *   After:   bneck_3.expand  pw 144         bneck_3.add            (input 24, project 24)
 *        or  bneck_3.expand  pw 96          — no add; its readers read bneck_3.project
 *                                           (input 16, project 24)
 *
 * One forward loop over the graph, knowing each node's output channels:
 * - `filters` convolutions (conv, pw, a bottleneck's projection):
 *   round(filters · α_layer), with α_layer = α · (enclosing `width A { … }`
 *   regions) · (the layer's numeric `width=`), α replaced by 1 for
 *   `width=fixed` and by max(α, 1) for `width=grow`;
 * - `ratio` convolutions: round(T · C) of the named tensor's channels C, *not*
 *   multiplied by α again (a bottleneck's expansion, an SE squeeze), or
 *   exactly C (an SE excite); T · C below 1 is an error;
 * - a bottleneck's add stays where its two inputs have the same channels and
 *   is removed otherwise (its readers then read its second input).
 * Depthwise layers, pools and elementwise ops keep their input's channels;
 * fc and the input are never scaled. Rounding is the network's rule
 * (`width A rounding=R`, floor by default) unless --width-rounding overrides
 * it; ratios are exact fractions (`88/24` of 24 channels is 88). Reads only
 * the rules, never `channels`, so running it twice gives the same graph.
 */
import { error, errorWith, InternalError, type Diagnostic } from "../ir/diagnostics.js";
import { MAX_SIZE } from "../ir/evaluate.js";
import type { AlphaMode, ChannelRule, ConvNode, DeconvNode, Graph, Node, Ratio, WidthRounding } from "../ir/graph.js";
import { channelsOf } from "../ir/ops/index.js";
import type { Pass } from "./types.js";

export const scaleWidth: Pass = {
  name: "scale-width",
  run(graph, { options, diagnostics }) {
    const rounding = options.widthRounding ?? graph.rounding;
    const channels = new Map<string, number>();
    /** Removed adds → the tensor their readers read instead. */
    const renamed = new Map<string, string>();
    const read = (id: string): string => renamed.get(id) ?? id;
    const nodes: Node[] = [];
    const before = diagnostics.length;
    for (const original of graph.nodes) {
      let n = original.inputs.some((i) => renamed.has(i)) ? ({ ...original, inputs: original.inputs.map(read) } as Node) : original;
      if (n.op === "conv" && n.attrs.size.kind === "ratio" && renamed.has(n.attrs.size.of)) {
        n = { ...n, attrs: { ...n.attrs, size: { ...n.attrs.size, of: read(n.attrs.size.of) } } };
      }
      if (n.op === "resize" && n.attrs.target.kind === "like" && renamed.has(n.attrs.target.of)) {
        n = { ...n, attrs: { ...n.attrs, target: { ...n.attrs.target, of: read(n.attrs.target.of) } } };
      }
      const inputs = n.inputs.map((i) => channels.get(i));
      if (inputs.some((c) => c === undefined)) return graph; // an earlier layer failed; reported there
      const known = inputs as number[];
      if (n.op === "conv" || n.op === "deconv") {
        const c = convChannels(graph, n, channels, rounding, diagnostics);
        if (c === undefined) continue;
        if (c !== n.attrs.channels) n = { ...n, attrs: { ...n.attrs, channels: c } };
      } else if (n.op === "add" && n.attrs.when === "channels-match") {
        if (known[0] !== known[1]) {
          renamed.set(n.id, n.inputs[1]!);
          continue;
        }
        n = { ...n, attrs: { when: "always" } };
      }
      channels.set(n.id, channelsOf(n, known));
      nodes.push(n);
    }
    if (diagnostics.length > before) return graph;
    return { ...graph, nodes, outputs: graph.outputs.map(read) };
  },
};

/** The multiplier α_layer of a `filters` width (see the header). */
export function effectiveWidth(alpha: number, rule: Extract<ChannelRule, { kind: "filters" }>): number {
  return ALPHA[rule.width.alpha](alpha) * rule.width.scale;
}

const ALPHA: Readonly<Record<AlphaMode, (alpha: number) => number>> = {
  scaled: (alpha) => alpha,
  fixed: () => 1,
  grow: (alpha) => Math.max(alpha, 1),
};

function convChannels(
  graph: Graph,
  n: ConvNode | DeconvNode,
  channels: ReadonlyMap<string, number>,
  rounding: WidthRounding,
  diagnostics: Diagnostic[],
): number | undefined {
  const size = n.attrs.size;
  let c: number;
  if (size.kind === "filters") {
    const multiplier = effectiveWidth(graph.alpha, size);
    c = roundChannels(size.filters * multiplier, rounding);
    if (c <= 0) {
      const related = graph.alphaSpan === undefined || size.width.alpha !== "scaled" ? [] : [{ message: "the network's width is set here", span: graph.alphaSpan }];
      diagnostics.push(errorWith("widthRoundsToZero", n.span, related, n.id, size.filters, multiplier));
      return undefined;
    }
  } else {
    const base = channels.get(size.of);
    if (base === undefined) throw new InternalError(`scale-width: '${n.id}' takes its width from '${size.of}', which is not an earlier node`);
    const product = times(size.ratio, base);
    if (product < 1) {
      const what = size.role === "expand" ? "expand" : "se";
      diagnostics.push(error("channelsBelowOne", n.span, n.id, what, formatRatio(size.ratio), base, product));
      return undefined;
    }
    c = size.role === "excite" ? product : roundChannels(product, rounding);
    if (!Number.isInteger(c)) throw new InternalError(`scale-width: '${n.id}' has ${c} channels`);
  }
  if (c > MAX_SIZE) {
    diagnostics.push(error("sizeLimit", n.span, `${n.id}'s channel count`, c, MAX_SIZE));
    return undefined;
  }
  return c;
}

/** r · c, exact when r is a fraction of integers and the product is whole. */
function times(r: Ratio, c: number): number {
  return (r.num * c) / r.den;
}

function formatRatio(r: Ratio): string {
  return r.den === 1 ? `${r.num}` : `${r.num}/${r.den}`;
}

/** A layer's width `v` (channels × multiplier) as a whole number of channels, by the rounding rule. */
export function roundChannels(v: number, rounding: WidthRounding): number {
  return ROUNDING[rounding](v);
}

const ROUNDING: Readonly<Record<WidthRounding, (v: number) => number>> = {
  floor: (v) => Math.floor(v),
  // TF-Slim: max(int(d · α), min_depth = 8).
  min8: (v) => Math.max(Math.floor(v), 8),
  // MobileNetV2's _make_divisible(v, 8): nearest multiple of 8, at least 8, never below 90 % of v.
  div8: (v) => {
    const rounded = Math.max(8, Math.floor((v + 4) / 8) * 8);
    return rounded < 0.9 * v ? rounded + 8 : rounded;
  },
};
