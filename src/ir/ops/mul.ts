/**
 * `mul` — y = a · b, where b has a's shape or is 1×1×C and is broadcast over
 * H and W: squeeze-and-excitation's channel scaling (a is the tensor, b its
 * gate) and `mul NAME`, a gate from a named tensor (see binary.ts).
 *
 *   shape:       [H, W, C] · [1, 1, C] → [H, W, C]
 *   elementwise: H·W·C multiplications (not mult-adds);  no parameters
 */
import { InternalError } from "../diagnostics.js";
import { formatShape } from "../graph.js";
import { inferBinary } from "./binary.js";
import { NO_COST, type OpDef } from "./types.js";

export const mul: OpDef<"mul"> = {
  kind: "mul",
  arity: 2,
  infer(node, [a, b], sources) {
    if (a === undefined || b === undefined) return { node };
    // An SE's multiply always has a gate of the tensor's channels; only `mul NAME` can be wrong.
    return inferBinary(node, a, b, sources, "mul", () => {
      throw new InternalError(`'${node.id}' multiplies ${formatShape(a)} by ${formatShape(b)}`);
    });
  },
  channels: (_node, [c]) => c!,
  cost: (node) => (node.shape === undefined ? NO_COST : { ...NO_COST, elementwise: node.shape[0] * node.shape[1] * node.shape[2] }),
  category: () => "elementwise",
  describe: () => "",
};
