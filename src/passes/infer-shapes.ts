/**
 * infer-shapes — every node's output shape [H, W, C] and, for windowed ops,
 * its explicit pads [top, left, bottom, right] (TensorFlow SAME: 0 before and
 * 1 after for a stride-2 3x3 window on an even input).
 *
 *   Before:  conv_0 = conv 3x3 s2x2 32 same         (input 224x224x3)
 *   After:   conv_0 = conv 3x3 s2x2 32 same[0,0,1,1] → 112x112x32
 *
 * One forward loop; each node's rule (in its op's file under src/ir/ops) sees
 * the shapes of all its inputs. Stops at the first layer whose shape cannot
 * be computed (a window that does not fit, a residual whose sides differ).
 */
import type { Node } from "../ir/graph.js";
import { inferNode } from "../ir/ops/index.js";
import type { Pass } from "./types.js";

export const inferShapes: Pass = {
  name: "infer-shapes",
  run(graph, { diagnostics }) {
    const shaped = new Map<string, Node>();
    const nodes: Node[] = [];
    for (const node of graph.nodes) {
      const sources = node.inputs.map((id) => shaped.get(id)!);
      const r = inferNode(node, sources.map((s) => s.shape!), sources, shaped);
      if ("error" in r) {
        diagnostics.push(r.error);
        return graph;
      }
      shaped.set(node.id, r.node);
      nodes.push(r.node);
    }
    return { ...graph, nodes };
  },
};
