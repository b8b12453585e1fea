/**
 * `mul` — y = a · b, where b has a's shape or is 1×1×C and is broadcast over
 * H and W: squeeze-and-excitation's channel scaling (a is the tensor, b its gate).
 *
 *   shape:       [H, W, C] · [1, 1, C] → [H, W, C]
 *   elementwise: H·W·C multiplications (not mult-adds);  no parameters
 */
import { InternalError } from "../diagnostics.js";
import { formatShape } from "../graph.js";
import { NO_COST, type OpDef } from "./types.js";

export const mul: OpDef<"mul"> = {
  kind: "mul",
  arity: 2,
  infer(node, [a, b]) {
    if (a === undefined || b === undefined) return { node };
    const same = a[0] === b[0] && a[1] === b[1];
    const broadcast = b[0] === 1 && b[1] === 1;
    // The builder makes a mul only for SE, whose gate always has the tensor's channels.
    if (a[2] !== b[2] || !(same || broadcast)) throw new InternalError(`'${node.id}' multiplies ${formatShape(a)} by ${formatShape(b)}`);
    return { node: { ...node, shape: a } };
  },
  channels: (_node, [c]) => c!,
  cost: (node) => (node.shape === undefined ? NO_COST : { ...NO_COST, elementwise: node.shape[0] * node.shape[1] * node.shape[2] }),
  category: () => "elementwise",
  describe: () => "",
};
