/**
 * import-weights — attach a weight file's tensors to the network's layers.
 *
 * - safetensors: by mnc's layer names — `<layer>.weight`, `<layer>.bias`,
 *   `<layer>.bn.gamma|beta|mean|variance` (ε from the metadata key
 *   `bn_epsilon`, default 0.001). Every tensor must be used. A quantized
 *   file (metadata `quantization`, weights/quantized-safetensors.ts) keeps its
 *   integers with `quantized: true`, and runs float on its dequantized values
 *   without.
 * - TFLite: by dataflow — from the model's input tensor, each layer is the
 *   operator of its kind that reads its inputs' tensors; every operator must
 *   be accounted for, and each layer is checked by shape, stride, padding and
 *   activation (weights/match-tflite.ts). Quantized weights arrive
 *   dequantized (weights/source.ts).
 *
 * Weights with batch-norm already folded (a bias and no γ/β/mean/variance) are
 * accepted for a layer that declares batch-norm: the batch-norm is then the
 * identity and is dropped (the layer becomes norm=none with that bias).
 * A mismatch is an MN4xxx error naming the layer and its source line. When
 * there is one, a summary of what the file looks like — its width, classes,
 * activation, layers, input — and the options that would fit it comes first
 * (MN4011, weights/summary.ts).
 */
import { error, type Diagnostic } from "../ir/diagnostics.js";
import { isWeighted, type Graph, type LayerWeights, type Node, type Shape, type Tensor } from "../ir/graph.js";
import { expectedShapes, sameShape } from "../ir/weights.js";
import { attach, finite, formatShape as fmt } from "../weights/attach.js";
import { matchTflite } from "../weights/match-tflite.js";
import { importQuantized, QUANTIZATION_KEY } from "../weights/quantized-safetensors.js";
import { summarizeNamed, summarizeTflite } from "../weights/summary.js";
import type { RawTensor } from "../weights/types.js";
import { BN_EPSILON } from "./init-weights.js";
import type { Pass } from "./types.js";

export const importWeights: Pass = {
  name: "import-weights",
  run(graph, { options, diagnostics }) {
    const source = options.weightSource;
    if (source === undefined) return graph;
    const before = diagnostics.length;
    const result = source.kind === "named" ? byName(graph, source.tensors, source.metadata, diagnostics, options.quantized === true) : matchTflite(graph, source.graph, diagnostics, options.quantized === true);
    if (diagnostics.length === before) return result;
    // What the file looks like, before the per-layer details.
    const rounding = options.widthRounding ?? graph.rounding;
    const summary = source.kind === "named" ? summarizeNamed(graph, rounding, source.tensors) : summarizeTflite(graph, rounding, source.graph);
    if (summary !== undefined) diagnostics.splice(before, 0, summary);
    return graph;
  },
};

function inputShapes(graph: Graph): Map<string, Shape> {
  const out = new Map<string, Shape>();
  for (const n of graph.nodes) if (n.shape !== undefined) out.set(n.id, n.shape);
  return out;
}

function inputOf(n: Node, shapes: Map<string, Shape>): Shape {
  return shapes.get(n.inputs[0] ?? "")!;
}

function byName(graph: Graph, tensors: ReadonlyMap<string, RawTensor>, metadata: Readonly<Record<string, string>>, diagnostics: Diagnostic[], quantized: boolean): Graph {
  if (metadata[QUANTIZATION_KEY] !== undefined) return importQuantized(graph, tensors, metadata, diagnostics, quantized);
  const integer = [...tensors.values()].find((t) => t.integers !== undefined);
  if (integer !== undefined) {
    diagnostics.push(error("weightFileUnreadable", undefined, "the weights file", `tensor '${integer.name}' holds ${integer.integers!.dtype} integers, which only a quantized file (metadata '${QUANTIZATION_KEY}') has`));
    return graph;
  }
  if (quantized) {
    diagnostics.push(error("weightNotQuantized", graph.nodes[0]!.span, graph.nodes[0]!.id, "the file's tensors", `the safetensors file is a float one (no '${QUANTIZATION_KEY}' in its metadata)`));
    return graph;
  }
  const used = new Set<string>();
  const shapes = inputShapes(graph);
  const epsilonText = metadata["bn_epsilon"];
  const epsilon = epsilonText === undefined ? BN_EPSILON : Number(epsilonText);
  if (!(epsilon > 0 && Number.isFinite(epsilon))) diagnostics.push(error("weightFileUnreadable", undefined, "the metadata", `bn_epsilon is '${epsilonText}', not a positive finite number`));
  // The layers the file gives batch-norm tensors (`<layer>.bn.*`), found once rather than per layer.
  const bnLayers = new Set<string>();
  for (const k of tensors.keys()) {
    for (let i = k.indexOf(".bn."); i >= 0; i = k.indexOf(".bn.", i + 1)) bnLayers.add(k.slice(0, i));
  }
  const nodes = graph.nodes.map((n): Node => {
    if (!isWeighted(n)) return n;
    const e = expectedShapes(n, inputOf(n, shapes));
    const take = (suffix: string, shape: readonly number[], required: boolean): Tensor | undefined => {
      const name = `${n.id}.${suffix}`;
      const t = tensors.get(name);
      if (t === undefined) {
        if (required) diagnostics.push(error("weightMissing", n.span, n.id, name));
        return undefined;
      }
      used.add(name);
      if (!sameShape(t.shape, shape)) {
        diagnostics.push(error("weightShapeMismatch", n.span, n.id, name, fmt(shape), fmt(t.shape)));
        return undefined;
      }
      return finite(t, n, diagnostics) ? { shape: t.shape, data: t.data } : undefined;
    };
    const c = [e.channels];
    const kernel = take("weight", e.kernel, true);
    const hasBnTensors = bnLayers.has(n.id);
    const wantsBn = n.op !== "fc" && n.attrs.norm === "batchnorm";
    const bias = take("bias", c, !wantsBn || !hasBnTensors);
    let bn: LayerWeights["bn"];
    if (hasBnTensors) {
      if (!wantsBn) {
        diagnostics.push(error("weightMissing", n.span, n.id, `no batch-norm tensors (the layer has norm=none or is fc), but the file has ${n.id}.bn.*`));
      } else {
        const gamma = take("bn.gamma", c, true);
        const beta = take("bn.beta", c, true);
        const mean = take("bn.mean", c, true);
        const variance = take("bn.variance", c, true);
        if (variance !== undefined && !nonNegative(variance, `${n.id}.bn.variance`, n, diagnostics)) return n;
        if (gamma && beta && mean && variance) bn = { gamma, beta, mean, variance, epsilon };
      }
    }
    if (kernel === undefined) return n;
    return attach(n, { kernel, ...(bias === undefined ? {} : { bias }), ...(bn === undefined ? {} : { bn }) });
  });
  const unused = [...tensors.keys()].filter((k) => !used.has(k));
  if (unused.length > 0) diagnostics.push(error("weightsUnused", undefined, unused));
  return { ...graph, nodes };
}

/** A variance is at least 0: a negative one makes batch-norm's square root NaN. Reports the first (MN4012). */
function nonNegative(t: Tensor, name: string, n: Node, diagnostics: Diagnostic[]): boolean {
  const i = t.data.findIndex((v) => v < 0);
  if (i < 0) return true;
  diagnostics.push(error("negativeVariance", n.span, n.id, name, t.data[i]!, i));
  return false;
}
