/**
 * `concat a b …` — tensors joined along channels, in the order written (the
 * current tensor first); their heights and widths must agree.
 *
 *   shape:       [H, W, C1] ⧺ [H, W, C2] ⧺ … → [H, W, C1 + C2 + …]
 *   channels:    the sum, so α reaches a concat through its inputs
 *   elementwise: H·W·ΣC values written;  no parameters
 */
import { errorWith } from "../diagnostics.js";
import { formatShape } from "../graph.js";
import { NO_COST, type OpDef } from "./types.js";

export const concat: OpDef<"concat"> = {
  kind: "concat",
  arity: { min: 2 },
  infer(node, inputs, sources) {
    if (inputs.some((s) => s === undefined)) return { node };
    const first = inputs[0]!;
    const bad = inputs.findIndex((s) => s[0] !== first[0] || s[1] !== first[1]);
    if (bad >= 0) {
      const related = [sources[0], sources[bad]].filter((s) => s !== undefined).map((s) => ({ message: `'${s.id}' makes ${formatShape(s.shape!)}`, span: s.span }));
      return { error: errorWith("operandShape", node.span, related, node.id, "concatenate", inputs.map(formatShape), "the same height and width") };
    }
    return { node: { ...node, shape: [first[0], first[1], inputs.reduce((c, s) => c + s[2], 0)] } };
  },
  channels: (_node, cs) => cs.reduce((a, b) => a + b, 0),
  cost: (node) => (node.shape === undefined ? NO_COST : { ...NO_COST, elementwise: node.shape[0] * node.shape[1] * node.shape[2] }),
  category: () => "elementwise",
  describe: () => "",
};
