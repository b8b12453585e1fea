/**
 * Shared rule of the pooling ops: a window over each channel.
 * `global` covers the whole input (a 1x1 output); otherwise the stride
 * defaults to the window (non-overlapping) and pad to valid.
 */
import { error } from "../diagnostics.js";
import { formatPair, formatShape, type Pair, type PoolNode } from "../graph.js";
import { NO_COST, type OpDef } from "./types.js";
import { formatPads, formatStride, slide } from "./window.js";

export function poolOp<K extends "avgpool" | "maxpool">(kind: K): OpDef<K> {
  return {
    kind,
    arity: 1,
    infer(node, [input]) {
      if (input === undefined) return { node };
      const p = node as PoolNode<K>;
      const a = p.attrs;
      if (a.kernel === "global") {
        return { node: { ...node, shape: [1, 1, input[2]], attrs: { ...a, pads: [0, 0, 0, 0] } } };
      }
      const stride: Pair = a.stride === "kernel" ? a.kernel : a.stride;
      const r = slide([input[0], input[1]], a.kernel, stride, a.padding);
      if (r === undefined) return { error: error("emptyOutput", p.span, p.id, formatPair(a.kernel), formatShape(input)) };
      return { node: { ...node, shape: [r.out[0], r.out[1], input[2]], attrs: { ...a, pads: r.pads } } };
    },
    channels: (_node, [c]) => c!,
    cost: () => NO_COST,
    category: () => "none",
    describe(node) {
      const a = (node as PoolNode<K>).attrs;
      if (a.kernel === "global") return "global";
      const stride = a.stride === "kernel" ? a.kernel : a.stride;
      return `${formatPair(a.kernel)}${formatStride(stride)} ${a.padding}${formatPads(a.pads)}`;
    },
  };
}
