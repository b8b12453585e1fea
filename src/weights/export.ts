/**
 * A network's tensors under mnc's stable names — the safetensors layout that
 * `mnc weights export` writes and `--weights` reads back:
 *
 *   <layer>.weight                          conv OIHW, depthwise C1HW, fc [out, in] (in channel-major)
 *   <layer>.bias                            when the layer has one
 *   <layer>.bn.gamma|beta|mean|variance     when the layer has batch-norm
 *
 * with metadata: format "mnc", the mnc version, network, alpha, resolution,
 * layouts, and bn_epsilon (one ε for the whole file).
 */
import { InternalError } from "../ir/diagnostics.js";
import { isWeighted, type Graph } from "../ir/graph.js";
import { VERSION } from "../version.js";
import { writeSafetensors } from "./safetensors.js";
import type { RawTensor } from "./types.js";

export function namedTensors(graph: Graph): { tensors: RawTensor[]; metadata: Record<string, string> } {
  const tensors: RawTensor[] = [];
  const epsilons = new Set<number>();
  for (const n of graph.nodes) {
    if (!isWeighted(n)) continue;
    const w = n.weights;
    if (w === undefined) throw new InternalError(`'${n.id}' has no weights to export`);
    tensors.push({ name: `${n.id}.weight`, ...w.kernel });
    if (w.bias !== undefined) tensors.push({ name: `${n.id}.bias`, ...w.bias });
    if (w.bn !== undefined) {
      epsilons.add(w.bn.epsilon);
      for (const k of ["gamma", "beta", "mean", "variance"] as const) tensors.push({ name: `${n.id}.bn.${k}`, ...w.bn[k] });
    }
  }
  if (epsilons.size > 1) throw new InternalError("layers with different batch-norm ε cannot share one file");
  const input = graph.nodes[0]!.shape!;
  const metadata: Record<string, string> = {
    format: "mnc",
    mnc: VERSION,
    network: graph.name,
    alpha: String(graph.alpha),
    resolution: `${input[0]}x${input[1]}`,
    layout: "conv OIHW; depthwise C1HW; fc [out, in] with in flattened channel-major (C, H, W)",
    ...(epsilons.size === 1 ? { bn_epsilon: String([...epsilons][0]) } : {}),
  };
  return { tensors, metadata };
}

export function exportSafetensors(graph: Graph): Uint8Array {
  const { tensors, metadata } = namedTensors(graph);
  return writeSafetensors(tensors, metadata);
}
