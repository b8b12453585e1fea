/** `input HxWxC [mean=M std=S]` — the image. The resolution pass rewrites `size`; nothing is computed. */
import { formatShape } from "../graph.js";
import { NO_COST, type OpDef } from "./types.js";

export const input: OpDef<"input"> = {
  kind: "input",
  arity: 0,
  infer: (node) => ({ node: { ...node, shape: node.attrs.size } }),
  channels: (node) => node.attrs.size[2],
  cost: () => NO_COST,
  category: () => "none",
  describe: (node) => {
    const { size, declared, normalisation } = node.attrs;
    const same = size.every((v, i) => v === declared[i]);
    const norm = normalisation === undefined ? "" : ` mean=${normalisation.mean} std=${normalisation.std}`;
    return (same ? formatShape(size) : `${formatShape(size)} (declared ${formatShape(declared)})`) + norm;
  },
};
