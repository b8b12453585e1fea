/**
 * The names a model's outputs go by, in `graph.outputs` order — one rule for
 * every target that names them (the ONNX model's graph outputs, the PyTorch
 * module's OUTPUT_NAMES):
 *
 *   - an `output` statement's or `--outputs`' name (`graph.outputNames`);
 *   - else the tensor's own: `input` for the input, the input tensor's for a
 *     dropout or a linear activation (identities, which ONNX leaves out),
 *     `probabilities` for the softmax that is a network's one output, else
 *     the layer's id;
 *   - a name that is `input`, or that an earlier output took, becomes
 *     `<name>.output` (`<id>.output` for a default one), numbered from `.2`
 *     when that is taken too.
 */
import { InternalError } from "../ir/diagnostics.js";
import type { Graph, Node } from "../ir/graph.js";

/** The name the tensor `id` has in an emitted model before any output statement renames it. */
export function defaultTensorName(graph: Graph, id: string): string {
  const byId = new Map<string, Node>(graph.nodes.map((n) => [n.id, n]));
  const name = (id: string): string => {
    const n = byId.get(id);
    if (n === undefined) throw new InternalError(`output '${id}' names no node`);
    if (n.op === "input") return "input";
    if (n.op === "dropout" || (n.op === "activation" && n.attrs.act === "linear")) return name(n.inputs[0]!);
    if (n.op === "softmax" && isSoleSoftmaxOutput(graph, n)) return "probabilities";
    return n.id;
  };
  return name(id);
}

/** Whether `n` is a softmax and the network's one output (its tensor is then `probabilities`). */
export function isSoleSoftmaxOutput(graph: Graph, n: Node): boolean {
  return n.op === "softmax" && graph.outputs.length === 1 && graph.outputs[0] === n.id;
}

/**
 * Every output's final name (see the header). `tensorName` gives an output
 * tensor's own name in the target: by default the float model's
 * (defaultTensorName); the integer ONNX model passes its lowering's, where a
 * softmax without quantization, like a dropout, passes its input on.
 */
export function outputNames(graph: Graph, tensorName: (id: string) => string = (id) => defaultTensorName(graph, id)): readonly string[] {
  if (graph.outputs.length === 0) throw new InternalError("the graph has no outputs");
  const names = graph.outputNames;
  if (names !== undefined && names.length !== graph.outputs.length) throw new InternalError(`${graph.outputs.length} outputs with ${names.length} names`);
  const finals: string[] = [];
  graph.outputs.forEach((id, i) => {
    const wanted = names?.[i] ?? tensorName(id);
    if (wanted !== "input" && !finals.includes(wanted)) {
      finals.push(wanted);
      return;
    }
    const base = `${names?.[i] ?? id}.output`;
    let name = base;
    for (let k = 2; finals.includes(name); k++) name = `${base}.${k}`;
    finals.push(name);
  });
  return finals;
}
