/**
 * `sigmoid`, `relu`, `relu6`, `hswish`, `hsigmoid` as statements of their own —
 * an activation that is not a convolution's epilogue (a head's per-pixel
 * sigmoid, an activation after an add).
 *
 *   shape:       unchanged
 *   elementwise: H·W·C values;  no parameters
 */
import { NO_COST, type OpDef } from "./types.js";

export const activation: OpDef<"activation"> = {
  kind: "activation",
  arity: 1,
  infer: (node, [input]) => (input === undefined ? { node } : { node: { ...node, shape: input } }),
  channels: (_node, [c]) => c!,
  cost: (node) => (node.shape === undefined ? NO_COST : { ...NO_COST, elementwise: node.shape[0] * node.shape[1] * node.shape[2] }),
  category: () => "elementwise",
  describe: (node) => node.attrs.act,
};
