/**
 * The op table. `tsc` refuses to build until every op kind has an entry, so
 * adding an op is: its file, one line here, one entry per emitter, a test.
 */
import type { Node, NodeOf, OpKind, Shape } from "../graph.js";
import { add } from "./add.js";
import { avgpool } from "./avgpool.js";
import { conv } from "./conv.js";
import { depthwise } from "./depthwise.js";
import { dropout } from "./dropout.js";
import { fc } from "./fc.js";
import { input } from "./input.js";
import { maxpool } from "./maxpool.js";
import { mul } from "./mul.js";
import { softmax } from "./softmax.js";
import type { Cost, CostCategory, InferResult, OpDef } from "./types.js";

export type { Cost, CostCategory, OpDef } from "./types.js";

export const ops: { readonly [K in OpKind]: OpDef<K> } = {
  input,
  conv,
  depthwise,
  avgpool,
  maxpool,
  fc,
  softmax,
  dropout,
  add,
  mul,
};

/** Dispatch helpers: the op table indexed by a node of any kind. */
function def<K extends OpKind>(node: NodeOf<K>): OpDef<K> {
  return ops[node.op as K];
}

export function arityOf(node: Node): number {
  return def(node).arity;
}

export function inferNode(node: Node, inputs: readonly Shape[], sources: readonly Node[]): InferResult<OpKind> {
  return def(node).infer(node as never, inputs, sources) as InferResult<OpKind>;
}

export function channelsOf(node: Node, inputs: readonly number[]): number {
  return def(node).channels(node as never, inputs);
}

export function costOf(node: Node, inputs: readonly Shape[]): Cost {
  return def(node).cost(node as never, inputs);
}

export function categoryOf(node: Node): CostCategory {
  return def(node).category(node as never);
}

export function describeNode(node: Node): string {
  return def(node).describe(node as never);
}
