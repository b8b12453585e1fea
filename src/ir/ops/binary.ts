/**
 * The shape rule of the elementwise binary ops `add` and `mul`: two tensors of
 * one shape, or a tensor and a 1×1×C operand broadcast over its H and W. The
 * broadcast operand is put second (both ops commute), so that every target
 * sees one form.
 */
import { errorWith, type Diagnostic } from "../diagnostics.js";
import { formatShape, type Node, type Shape } from "../graph.js";

export type BinaryResult<N extends Node> = { readonly node: N } | { readonly error: Diagnostic };

export function inferBinary<N extends Node>(node: N, a: Shape, b: Shape, sources: readonly Node[], verb: string, mismatch: () => Diagnostic): BinaryResult<N> {
  const same = a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
  if (same) return { node: { ...node, shape: a } };
  const isVector = (s: Shape): boolean => s[0] === 1 && s[1] === 1;
  if (a[2] === b[2] && isVector(b)) return { node: { ...node, shape: a } };
  if (a[2] === b[2] && isVector(a)) return { node: { ...node, inputs: [node.inputs[1]!, node.inputs[0]!], shape: b } };
  if (node.origin === verb) {
    const related = sources.map((s) => ({ message: `'${s.id}' makes ${formatShape(s.shape!)}`, span: s.span }));
    return { error: errorWith("operandShape", node.span, related, node.id, verb, [a, b].map(formatShape), "one shape, or one of them 1x1xC with the other's channels") };
  }
  return { error: mismatch() };
}
