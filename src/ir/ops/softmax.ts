/** `softmax` — softmax over channels. Shape unchanged; no mult-adds (by convention), no parameters. */
import { NO_COST, type OpDef } from "./types.js";

export const softmax: OpDef<"softmax"> = {
  kind: "softmax",
  arity: 1,
  infer: (node, [input]) => ({ node: { ...node, shape: input! } }),
  channels: (_node, [c]) => c!,
  cost: () => NO_COST,
  category: () => "none",
  describe: () => "",
};
