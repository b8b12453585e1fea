/** `softmax` — softmax over channels. Shape unchanged; no mult-adds (by convention), no parameters. */
import { NO_COST, type OpDef } from "./types.js";

export const softmax: OpDef<"softmax"> = {
  kind: "softmax",
  infer: (node, input) => (input === undefined ? { node } : { node: { ...node, shape: input } }),
  cost: () => NO_COST,
  category: () => "none",
  describe: () => "",
};
