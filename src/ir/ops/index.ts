/**
 * The op table. `tsc` refuses to build until every op kind has an entry, so
 * adding an op is: its file, one line here, one entry per emitter, a test.
 */
import type { Node, NodeOf, OpKind, Shape } from "../graph.js";
import { activation } from "./activation.js";
import { add } from "./add.js";
import { argmax } from "./argmax.js";
import { concat } from "./concat.js";
import { deconv } from "./deconv.js";
import { avgpool } from "./avgpool.js";
import { conv } from "./conv.js";
import { depthwise } from "./depthwise.js";
import { dropout } from "./dropout.js";
import { fc } from "./fc.js";
import { input } from "./input.js";
import { maxpool } from "./maxpool.js";
import { mul } from "./mul.js";
import { resize } from "./resize.js";
import { softmax } from "./softmax.js";
import type { Cost, CostCategory, InferResult, OpDef } from "./types.js";

export type { Cost, CostCategory, OpDef } from "./types.js";

export const ops: { readonly [K in OpKind]: OpDef<K> } = {
  input,
  conv,
  depthwise,
  deconv,
  avgpool,
  maxpool,
  fc,
  softmax,
  dropout,
  add,
  mul,
  concat,
  resize,
  activation,
  argmax,
};

/** Dispatch helpers: the op table indexed by a node of any kind. */
function def<K extends OpKind>(node: NodeOf<K>): OpDef<K> {
  return ops[node.op as K];
}

/** Why a node's input count is wrong for its op, or undefined when it is right. */
export function arityProblem(node: Node): string | undefined {
  const arity = def(node).arity;
  const n = node.inputs.length;
  if (typeof arity === "number") return n === arity ? undefined : `expected ${arity} input${arity === 1 ? "" : "s"}, found ${n}`;
  return n >= arity.min ? undefined : `expected at least ${arity.min} inputs, found ${n}`;
}

export function inferNode(node: Node, inputs: readonly Shape[], sources: readonly Node[], earlier: ReadonlyMap<string, Node>): InferResult<OpKind> {
  return def(node).infer(node as never, inputs, sources, earlier) as InferResult<OpKind>;
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
