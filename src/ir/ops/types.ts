import type { Diagnostic } from "../diagnostics.js";
import type { Node, NodeOf, OpKind, Shape } from "../graph.js";

/** What a layer costs, by the convention stated in every report. */
export interface Cost {
  /** Multiply-accumulates of convolutions and fully connected layers. */
  readonly multAdds: number;
  /**
   * Elementwise work, one per output value: additions and multiplications
   * between tensors (residual adds, SE scaling, skips), and the values a
   * resize, concat, standalone activation or argmax writes; not mult-adds.
   */
  readonly elementwise: number;
  readonly weights: number;
  readonly biases: number;
  /** 4 per normalised channel: γ, β, mean, variance. */
  readonly bnParams: number;
}

export const NO_COST: Cost = { multAdds: 0, elementwise: 0, weights: 0, biases: 0, bnParams: 0 };

/** Layer types in the form of the paper's Table 2, plus the elementwise ops of residual and SE blocks. */
export type CostCategory = "conv1x1" | "depthwise" | "conv" | "fc" | "elementwise" | "none";

export type InferResult<K extends OpKind> = { readonly node: NodeOf<K> } | { readonly error: Diagnostic };

/** Everything about one op: its arity, shape rule, costs and how it prints. */
export interface OpDef<K extends OpKind> {
  readonly kind: K;
  /** How many inputs a node of this op reads: exactly this many, or (`concat`) at least `min`. */
  readonly arity: number | { readonly min: number };
  /**
   * The node with `shape` (and derived attributes such as pads) set, given its
   * inputs' shapes (one per entry of `node.inputs`), the nodes that produce
   * them (for messages that point at them), and the shapes of every earlier
   * node (a `resize to=NAME` takes its size from one it does not read).
   */
  infer(node: NodeOf<K>, inputs: readonly Shape[], sources: readonly Node[], earlier: ReadonlyMap<string, Node>): InferResult<K>;
  /** Output channels given the inputs' channels (scale-width runs this before shapes exist). */
  channels(node: NodeOf<K>, inputs: readonly number[]): number;
  /** Costs of a shaped node whose inputs have these shapes. */
  cost(node: NodeOf<K>, inputs: readonly Shape[]): Cost;
  category(node: NodeOf<K>): CostCategory;
  /** Attributes as text for the IR dump, e.g. `3x3/2 32→32 same[0,0,1,1] bn relu`. */
  describe(node: NodeOf<K>): string;
}
