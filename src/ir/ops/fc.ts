/**
 * `fc N` — fully connected, with bias, no batch-norm, no activation; never
 * scaled by α. Its input is flattened: H·W·C features (C after a global pool).
 *
 *   shape:     [H, W, C] → [1, 1, N]
 *   mult-adds: H·W·C·N;  weights: H·W·C·N;  biases: N
 */
import { NO_COST, type OpDef } from "./types.js";

export const fc: OpDef<"fc"> = {
  kind: "fc",
  arity: 1,
  infer: (node) => ({ node: { ...node, shape: [1, 1, node.attrs.units] } }),
  channels: (node) => node.attrs.units,
  cost(node, [input]) {
    const weights = input![0] * input![1] * input![2] * node.attrs.units;
    return { ...NO_COST, multAdds: weights, weights, biases: node.attrs.units };
  },
  category: () => "fc",
  describe: (node) => `${node.attrs.units}`,
};
