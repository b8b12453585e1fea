/** `dropout P` — the identity at inference; kept in the IR so that reports show it. */
import { formatNumber } from "../diagnostics.js";
import { NO_COST, type OpDef } from "./types.js";

export const dropout: OpDef<"dropout"> = {
  kind: "dropout",
  arity: 1,
  infer: (node, [input]) => ({ node: { ...node, shape: input! } }),
  channels: (_node, [c]) => c!,
  cost: () => NO_COST,
  category: () => "none",
  describe: (node) => formatNumber(node.attrs.rate),
};
