/**
 * `add` — y = a + b, elementwise: the residual connection of `residual { … }`
 * and of a stride-1 `bottleneck` whose input and output widths agree, and
 * `add NAME`, a skip from a named tensor. b may be 1×1×C, broadcast over H
 * and W (see binary.ts).
 *
 *   shape:       [H, W, C] + [H, W, C] (or [1, 1, C]) → [H, W, C]; any other
 *                pair is an error at the add's statement, pointing at the
 *                layers that made both sides
 *   elementwise: H·W·C additions (not mult-adds);  no parameters
 */
import { errorWith } from "../diagnostics.js";
import { formatShape } from "../graph.js";
import { inferBinary } from "./binary.js";
import { NO_COST, type OpDef } from "./types.js";

export const add: OpDef<"add"> = {
  kind: "add",
  arity: 2,
  infer(node, [a, b], sources) {
    if (a === undefined || b === undefined) return { node };
    return inferBinary(node, a, b, sources, "add", () => {
      const body = sources[1];
      const related = body === undefined ? [] : [{ message: `'${body.id}' makes ${formatShape(b)}`, span: body.span }];
      return errorWith("residualShape", node.span, related, node.id, formatShape(a), formatShape(b));
    });
  },
  channels: (_node, [c]) => c!,
  cost: (node) => (node.shape === undefined ? NO_COST : { ...NO_COST, elementwise: node.shape[0] * node.shape[1] * node.shape[2] }),
  category: () => "elementwise",
  describe: (node) => (node.attrs.when === "always" ? "" : "if channels match"),
};
