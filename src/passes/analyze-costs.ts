/**
 * analyze-costs — an analysis, not a transform: Graph → per-layer and total
 * costs, by one stated convention:
 *
 * - a mult-add is one multiply-accumulate of a convolution or fully connected
 *   layer; bias adds, batch-norm, activations, pooling and softmax are not counted;
 * - params = weights + biases of the network as written (before BN fusion);
 * - bnParams = 4 per normalised channel (γ, β, mean, variance).
 */
import { InternalError } from "../ir/diagnostics.js";
import type { Graph, Node, Shape } from "../ir/graph.js";
import { categoryOf, costOf, type Cost, type CostCategory } from "../ir/ops/index.js";

export interface LayerCost extends Cost {
  readonly node: Node;
  readonly inputShape: Shape | undefined;
  readonly outputShape: Shape;
  readonly category: CostCategory;
  readonly params: number;
}

export interface CostTotals extends Cost {
  readonly params: number;
}

export interface CostAnalysis {
  readonly layers: readonly LayerCost[];
  readonly totals: CostTotals;
  readonly byCategory: Readonly<Record<CostCategory, CostTotals>>;
}

const zero = (): { multAdds: number; weights: number; biases: number; bnParams: number; params: number } => ({
  multAdds: 0,
  weights: 0,
  biases: 0,
  bnParams: 0,
  params: 0,
});

export function analyzeCosts(graph: Graph): CostAnalysis {
  const shapes = new Map<string, Shape>();
  const layers: LayerCost[] = [];
  const totals = zero();
  const byCategory: Record<CostCategory, ReturnType<typeof zero>> = { conv1x1: zero(), depthwise: zero(), conv: zero(), fc: zero(), none: zero() };
  for (const node of graph.nodes) {
    if (node.shape === undefined) throw new InternalError(`analyze-costs needs shapes; '${node.id}' has none`);
    const input = node.inputs[0] === undefined ? undefined : shapes.get(node.inputs[0]);
    const cost = costOf(node, input);
    const category = categoryOf(node);
    const params = cost.weights + cost.biases;
    layers.push({ node, inputShape: input, outputShape: node.shape, category, ...cost, params });
    for (const acc of [totals, byCategory[category]]) {
      acc.multAdds += cost.multAdds;
      acc.weights += cost.weights;
      acc.biases += cost.biases;
      acc.bnParams += cost.bnParams;
      acc.params += params;
    }
    shapes.set(node.id, node.shape);
  }
  for (const v of [totals.multAdds, totals.params, totals.bnParams]) {
    if (!Number.isSafeInteger(v)) throw new InternalError(`cost total ${v} is beyond exact integer range`);
  }
  return { layers, totals, byCategory };
}
