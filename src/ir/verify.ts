/**
 * The IR's invariants, checked after building and after every pass. A
 * violation is a compiler bug, reported as an internal error — never as a
 * diagnostic, which is for the user's mistakes.
 */
import { InternalError } from "./diagnostics.js";
import { isWeighted, type Graph, type Node } from "./graph.js";
import { weightProblem } from "./weights.js";
import { arityProblem, inferNode } from "./ops/index.js";

const ID = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export interface VerifyOptions {
  /** Every node must have a shape, and it must be the one its op's rule gives. */
  readonly shaped: boolean;
}

export function verify(graph: Graph, options: VerifyOptions, after = "build"): void {
  const fail = (node: Node | undefined, message: string): never => {
    throw new InternalError(`IR invariant broken after ${after}${node ? ` at '${node.id}'` : ""}: ${message}`);
  };
  if (!(graph.alpha > 0) || !Number.isFinite(graph.alpha)) fail(undefined, `alpha is ${graph.alpha}`);
  const first = graph.nodes[0];
  if (first === undefined || first.op !== "input") fail(first, "the first node must be the input");
  const seen = new Map<string, Node>();
  for (const node of graph.nodes) {
    if (!ID.test(node.id)) fail(node, "malformed id");
    if (seen.has(node.id)) fail(node, "duplicate id");
    if (node.op === "input" && node !== first) fail(node, "a second input");
    const arity = arityProblem(node);
    if (arity !== undefined) fail(node, arity);
    for (const id of node.inputs) if (!seen.has(id)) fail(node, `input '${id}' is not an earlier node`);
    if (node.op === "resize" && node.attrs.target.kind === "like" && !seen.has(node.attrs.target.of)) fail(node, `its size follows '${node.attrs.target.of}', which is not an earlier node`);
    if (node.op === "conv" || node.op === "deconv") {
      const a = node.attrs;
      const size = a.size;
      if (size.kind === "filters" && (!isCount(size.filters) || !(size.width.scale > 0))) fail(node, "filters and width scale must be positive");
      if (size.kind === "ratio" && !(size.ratio.num / size.ratio.den > 0)) fail(node, "a ratio must be positive");
      if (size.kind === "ratio" && !seen.has(size.of)) fail(node, `its width follows '${size.of}', which is not an earlier node`);
      if (options.shaped && !isCount(a.channels)) fail(node, "channels must be positive integers");
    }
    if (options.shaped && node.op === "add" && node.attrs.when !== "always") fail(node, "a conditional add survived scale-width");
    if ("kernel" in node.attrs && node.attrs.kernel !== "global" && !node.attrs.kernel.every(isCount)) fail(node, "bad kernel");
    if ("stride" in node.attrs && node.attrs.stride !== "kernel" && !node.attrs.stride.every(isCount)) fail(node, "bad stride");
    if ("dilation" in node.attrs && node.attrs.dilation !== undefined && !node.attrs.dilation.every(isCount)) fail(node, "bad dilation");
    if (options.shaped) {
      if (node.shape === undefined || !node.shape.every(isCount)) fail(node, "missing or invalid shape");
      const sources = node.inputs.map((id) => seen.get(id)!);
      const input = sources[0]?.shape;
      const again = inferNode(node, sources.map((s) => s.shape!), sources, seen);
      if ("error" in again) fail(node, `its shape rule fails: ${again.error.message}`);
      else if (JSON.stringify({ ...again.node, weights: undefined }) !== JSON.stringify({ ...node, weights: undefined })) fail(node, "shape or pads disagree with its op's rule");
      if (isWeighted(node) && node.weights !== undefined) {
        const problem = weightProblem(node, input!, node.weights);
        if (problem !== undefined) fail(node, `weights: ${problem}`);
      }
    }
    seen.set(node.id, node);
  }
  if (graph.outputs.length === 0) fail(undefined, "the graph has no outputs");
  for (const id of graph.outputs) if (!seen.has(id)) fail(undefined, `the output '${id}' is not a node`);
  // Liveness: every node's value is read by a later node or is an output.
  const read = new Set([...graph.outputs, ...graph.nodes.flatMap((n) => n.inputs)]);
  for (const node of graph.nodes) if (!read.has(node.id)) fail(node, "its value is never read (a dead node)");
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}
