/**
 * infer-shapes — every node's output shape [H, W, C] and, for windowed ops,
 * its explicit pads [top, left, bottom, right] (TensorFlow SAME: 0 before and
 * 1 after for a stride-2 3x3 window on an even input).
 *
 *   Before:  conv_0 = conv 3x3 s2x2 32 same         (input 224x224x3)
 *   After:   conv_0 = conv 3x3 s2x2 32 same[0,0,1,1] → 112x112x32
 *
 * One forward loop; the rule of each op lives in its file under src/ir/ops.
 * Stops at the first layer whose shape cannot be computed.
 */
import type { Node, Shape } from "../ir/graph.js";
import { inferNode } from "../ir/ops/index.js";
import type { Pass } from "./types.js";

export const inferShapes: Pass = {
  name: "infer-shapes",
  run(graph, { diagnostics }) {
    const shapes = new Map<string, Shape>();
    const nodes: Node[] = [];
    for (const node of graph.nodes) {
      const inputId = node.inputs[0];
      const input = inputId === undefined ? undefined : shapes.get(inputId);
      const r = inferNode(node, input);
      if ("error" in r) {
        diagnostics.push(r.error);
        return graph;
      }
      if (r.node.shape !== undefined) shapes.set(node.id, r.node.shape);
      nodes.push(r.node);
    }
    return { ...graph, nodes };
  },
};
