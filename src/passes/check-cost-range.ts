/**
 * check-cost-range — an analysis run with the front end (so `mnc check` sees
 * it, not only `mnc report`): every layer's costs and the running totals must
 * stay exact integers (at most 2^53 − 1). The first layer whose own figure, or
 * whose running total, leaves that range is reported at its source line.
 *
 *   input 1048576x1048576x3; pw 1048576   →   MN3017 at the pw: 3.5e18 mult-adds
 */
import { error } from "../ir/diagnostics.js";
import type { Shape } from "../ir/graph.js";
import { costOf, type Cost } from "../ir/ops/index.js";
import type { Pass } from "./types.js";

const FIGURES: Readonly<Record<string, (c: Cost) => number>> = {
  "mult-adds": (c) => c.multAdds,
  "elementwise operations": (c) => c.elementwise,
  params: (c) => c.weights + c.biases,
  "batch-norm parameters": (c) => c.bnParams,
};

export const checkCostRange: Pass = {
  name: "check-cost-range",
  run(graph, { diagnostics }) {
    const shapes = new Map<string, Shape>();
    const totals = new Map<string, number>();
    for (const node of graph.nodes) {
      if (node.shape === undefined) return graph;
      const cost = costOf(node, node.inputs.map((id) => shapes.get(id)!));
      for (const [what, figure] of Object.entries(FIGURES)) {
        const own = figure(cost);
        const total = (totals.get(what) ?? 0) + own;
        totals.set(what, total);
        if (!Number.isSafeInteger(own)) {
          diagnostics.push(error("costRange", node.span, node.id, what, own, false));
          return graph;
        }
        if (!Number.isSafeInteger(total)) {
          diagnostics.push(error("costRange", node.span, node.id, what, total, true));
          return graph;
        }
      }
      shapes.set(node.id, node.shape);
    }
    return graph;
  },
};
