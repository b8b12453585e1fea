/**
 * analyze-costs — an analysis, not a transform: Graph → per-layer and total
 * costs, by one stated convention:
 *
 * - a mult-add is one multiply-accumulate of a convolution or fully connected
 *   layer (SE's 1x1 convolutions included); bias adds, batch-norm,
 *   activations, pooling and softmax are not counted;
 * - elementwise = the additions of residual connections and the
 *   multiplications of SE scaling, one per output element, apart from mult-adds;
 * - params = weights + biases of the network as written (before BN fusion);
 * - bnParams = 4 per normalised channel (γ, β, mean, variance).
 */
import { InternalError } from "../ir/diagnostics.js";
import type { Graph, Node, Shape } from "../ir/graph.js";
import { categoryOf, costOf, type Cost, type CostCategory } from "../ir/ops/index.js";

export interface LayerCost extends Cost {
  readonly node: Node;
  /** The first input's shape (undefined for the input layer). */
  readonly inputShape: Shape | undefined;
  /** Every input's shape. */
  readonly inputShapes: readonly Shape[];
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

const zero = (): { multAdds: number; elementwise: number; weights: number; biases: number; bnParams: number; params: number } => ({
  multAdds: 0,
  elementwise: 0,
  weights: 0,
  biases: 0,
  bnParams: 0,
  params: 0,
});

export function analyzeCosts(graph: Graph): CostAnalysis {
  const shapes = new Map<string, Shape>();
  const layers: LayerCost[] = [];
  const totals = zero();
  const byCategory: Record<CostCategory, ReturnType<typeof zero>> = {
    conv1x1: zero(),
    depthwise: zero(),
    conv: zero(),
    fc: zero(),
    elementwise: zero(),
    none: zero(),
  };
  for (const node of graph.nodes) {
    if (node.shape === undefined) throw new InternalError(`analyze-costs needs shapes; '${node.id}' has none`);
    const inputs = node.inputs.map((id) => shapes.get(id)!);
    const input = inputs[0];
    const cost = costOf(node, inputs);
    const category = categoryOf(node);
    const params = cost.weights + cost.biases;
    layers.push({ node, inputShape: input, inputShapes: inputs, outputShape: node.shape, category, ...cost, params });
    for (const acc of [totals, byCategory[category]]) {
      acc.multAdds += cost.multAdds;
      acc.elementwise += cost.elementwise;
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
