/**
 * Liveness: when each tensor is last read. The one analysis behind every
 * memory planner (the TypeScript module's, the WebAssembly module's, the
 * reference evaluator's frees) and the report's peak activation memory.
 *
 * Step i runs node i. While it runs, the tensors live are its own output and
 * every earlier output still to be read by node i or a later node (the
 * graph's outputs are read "after the last step"). A tensor dies after the
 * step of its last reader. On a chain this is exactly "a layer's input and
 * output"; a skip connection keeps its tensor live across the body, as it
 * really is.
 */
import { InternalError } from "./diagnostics.js";
import type { Graph } from "./graph.js";

export interface Liveness {
  /** Per node id: the step of its last reader; `steps` (one past the last) for the graph's outputs. */
  readonly lastUse: ReadonlyMap<string, number>;
  /** Per step: the ids whose last reader is that step, so their memory is free after it, in graph order. */
  readonly dies: readonly (readonly string[])[];
  /** Per step: the ids live while it runs (its inputs, tensors still awaited, its own output), in graph order. */
  readonly live: readonly (readonly string[])[];
  readonly steps: number;
}

export function liveness(graph: Graph): Liveness {
  const steps = graph.nodes.length;
  const index = new Map<string, number>();
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    for (const id of node.inputs) {
      if (!index.has(id)) throw new InternalError(`liveness: '${node.id}' reads '${id}', which is not an earlier node`);
      lastUse.set(id, i);
    }
    index.set(node.id, i);
    lastUse.set(node.id, i); // never read: dead once made (the verifier refuses such nodes)
  });
  for (const id of graph.outputs) {
    if (!index.has(id)) throw new InternalError(`liveness: the output '${id}' is not a node`);
    lastUse.set(id, steps);
  }
  const dies: string[][] = graph.nodes.map(() => []);
  const live: string[][] = graph.nodes.map(() => []);
  graph.nodes.forEach((node, made) => {
    const last = lastUse.get(node.id)!;
    if (last < steps) dies[last]!.push(node.id);
    for (let s = made; s <= Math.min(last, steps - 1); s++) live[s]!.push(node.id);
  });
  return { lastUse, dies, live, steps };
}

/** The step at which the live tensors weigh the most, and that sum (bytes given per node id by `bytes`). */
export function peakLive(graph: Graph, bytes: (id: string) => number, l: Liveness = liveness(graph)): { readonly step: number; readonly bytes: number } {
  let peak = { step: 0, bytes: -1 };
  l.live.forEach((ids, step) => {
    const sum = ids.reduce((acc, id) => acc + bytes(id), 0);
    if (sum > peak.bytes) peak = { step, bytes: sum };
  });
  return peak;
}
