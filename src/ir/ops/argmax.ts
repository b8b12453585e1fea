/**
 * `argmax` — the index of the largest channel at each pixel (the first on a
 * tie), as a float: a segmentation head's class map.
 *
 *   shape:       [H, W, C] → [H, W, 1]
 *   elementwise: H·W·C values compared;  no parameters
 */
import { NO_COST, type OpDef } from "./types.js";

export const argmax: OpDef<"argmax"> = {
  kind: "argmax",
  arity: 1,
  infer: (node, [input]) => (input === undefined ? { node } : { node: { ...node, shape: [input[0], input[1], 1] } }),
  channels: () => 1,
  cost: (node, [input]) => (input === undefined || node.shape === undefined ? NO_COST : { ...NO_COST, elementwise: input[0] * input[1] * input[2] }),
  category: () => "elementwise",
  describe: () => "over channels",
};
