/**
 * scale-resolution — the resolution multiplier ρ.
 *
 *   Before:  input 224x224x3
 *   After:   input 160x160x3          (--resolution 160, or --rho 0.714: round(224·0.714) = 160)
 *
 * Only the input's H and W change; every later size follows from shape
 * inference with TensorFlow's SAME arithmetic (ceil(in / stride)), so a stride
 * that no longer divides evenly still gives the sizes TensorFlow gives.
 */
import { error, type Diagnostic } from "../ir/diagnostics.js";
import { MAX_SIZE } from "../ir/evaluate.js";
import type { Node, Shape } from "../ir/graph.js";
import type { Pass } from "./types.js";

export const scaleResolution: Pass = {
  name: "scale-resolution",
  run(graph, { options, diagnostics }) {
    const { resolution, rho } = options;
    if (resolution === undefined && rho === undefined) return graph;
    if (resolution !== undefined && rho !== undefined) {
      diagnostics.push(error("resolutionConflict", undefined));
      return graph;
    }
    if (resolution !== undefined && (!Number.isInteger(resolution) || resolution <= 0)) {
      diagnostics.push(error("notPositiveInteger", undefined, "the resolution", resolution));
      return graph;
    }
    if (rho !== undefined && !(rho > 0 && Number.isFinite(rho))) {
      diagnostics.push(error("rhoNotPositive", undefined, rho));
      return graph;
    }
    return { ...graph, nodes: graph.nodes.map((n) => (n.op === "input" ? resize(n, resolution, rho, diagnostics) : n)) };
  },
};

function resize(node: Extract<Node, { op: "input" }>, resolution: number | undefined, rho: number | undefined, diagnostics: Diagnostic[]): Node {
  const [h, w, c] = node.attrs.declared;
  const size: Shape = resolution !== undefined ? [resolution, resolution, c] : [Math.round(h * rho!), Math.round(w * rho!), c];
  if (size[0] < 1 || size[1] < 1) {
    diagnostics.push(error("inputTooSmall", node.span, size[0], size[1]));
    return node;
  }
  if (size[0] > MAX_SIZE || size[1] > MAX_SIZE) {
    diagnostics.push(error("sizeLimit", node.span, "the input size", Math.max(size[0], size[1]), MAX_SIZE));
    return node;
  }
  return { ...node, attrs: { ...node.attrs, size } };
}
