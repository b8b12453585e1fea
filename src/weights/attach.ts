/** What both importers (by name, by dataflow) do once a layer's tensors are found. */
import { error, type Diagnostic } from "../ir/diagnostics.js";
import type { LayerWeights, Node, WeightedNode } from "../ir/graph.js";
import type { RawTensor } from "./types.js";

/** Attach `w`, dropping the batch-norm of a layer whose weights come folded. */
export function attach(n: WeightedNode, w: LayerWeights): Node {
  if (n.op !== "fc" && n.attrs.norm === "batchnorm" && w.bn === undefined) {
    return { ...n, attrs: { ...n.attrs, norm: "none" }, weights: w } as Node;
  }
  return { ...n, weights: w } as Node;
}

/** Whether every value of `t` is finite; reports the first that is not (MN4008). */
export function finite(t: RawTensor, n: WeightedNode, diagnostics: Diagnostic[]): boolean {
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i]!)) {
      diagnostics.push(error("weightNotFinite", n.span, n.id, t.name, i));
      return false;
    }
  }
  return true;
}

export const formatShape = (shape: readonly number[]): string => `[${shape.join(", ")}]`;
