import type { Diagnostic } from "../diagnostics.js";
import type { NodeOf, OpKind, Shape } from "../graph.js";

/** What a layer costs, by the convention stated in every report. */
export interface Cost {
  /** Multiply-accumulates of convolutions and fully connected layers. */
  readonly multAdds: number;
  readonly weights: number;
  readonly biases: number;
  /** 4 per normalised channel: γ, β, mean, variance. */
  readonly bnParams: number;
}

export const NO_COST: Cost = { multAdds: 0, weights: 0, biases: 0, bnParams: 0 };

/** Layer types in the form of the paper's Table 2. */
export type CostCategory = "conv1x1" | "depthwise" | "conv" | "fc" | "none";

export type InferResult<K extends OpKind> = { readonly node: NodeOf<K> } | { readonly error: Diagnostic };

/** Everything about one op: its shape rule, its costs and how it prints. */
export interface OpDef<K extends OpKind> {
  readonly kind: K;
  /** The node with `shape` (and derived attributes such as pads) set, given its input's shape. */
  infer(node: NodeOf<K>, input: Shape | undefined): InferResult<K>;
  /** Costs of a shaped node whose input has shape `input`. */
  cost(node: NodeOf<K>, input: Shape | undefined): Cost;
  category(node: NodeOf<K>): CostCategory;
  /** Attributes as text for the IR dump, e.g. `3x3/2 32→32 same[0,0,1,1] bn relu`. */
  describe(node: NodeOf<K>): string;
}
