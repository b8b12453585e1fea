/**
 * import-weights — attach a weight file's tensors to the network's layers.
 *
 * - safetensors: by mnc's layer names — `<layer>.weight`, `<layer>.bias`,
 *   `<layer>.bn.gamma|beta|mean|variance` (ε from the metadata key
 *   `bn_epsilon`, default 0.001). Every tensor must be used.
 * - TFLite: the file's convolution and FC operators, in order, onto the
 *   network's conv, depthwise, pointwise and fc layers, in order; each checked
 *   by shape, stride, padding and activation.
 *
 * Weights with batch-norm already folded (a bias and no γ/β/mean/variance) are
 * accepted for a layer that declares batch-norm: the batch-norm is then the
 * identity and is dropped (the layer becomes norm=none with that bias).
 * A mismatch is an MN4xxx error naming the layer and its source line.
 */
import { error, type Diagnostic } from "../ir/diagnostics.js";
import { isWeighted, type Graph, type LayerWeights, type Node, type Shape, type Tensor, type WeightedNode } from "../ir/graph.js";
import { expectedShapes, sameShape } from "../ir/weights.js";
import type { OrderedLayer } from "../weights/source.js";
import { transpose } from "../weights/source.js";
import type { RawTensor } from "../weights/types.js";
import { BN_EPSILON } from "./init-weights.js";
import type { Pass } from "./types.js";

export const importWeights: Pass = {
  name: "import-weights",
  run(graph, { options, diagnostics }) {
    const source = options.weightSource;
    if (source === undefined) return graph;
    const before = diagnostics.length;
    const result = source.kind === "named" ? byName(graph, source.tensors, source.metadata, diagnostics) : inOrder(graph, source.layers, diagnostics);
    return diagnostics.length > before ? graph : result;
  },
};

const fmt = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

function inputShapes(graph: Graph): Map<string, Shape> {
  const out = new Map<string, Shape>();
  for (const n of graph.nodes) if (n.shape !== undefined) out.set(n.id, n.shape);
  return out;
}

function inputOf(n: Node, shapes: Map<string, Shape>): Shape {
  return shapes.get(n.inputs[0] ?? "")!;
}

/** Attach `w`, dropping the batch-norm of a layer whose weights come folded. */
function attach(n: WeightedNode, w: LayerWeights): Node {
  if (n.op !== "fc" && n.attrs.norm === "batchnorm" && w.bn === undefined) {
    return { ...n, attrs: { ...n.attrs, norm: "none" }, weights: w } as Node;
  }
  return { ...n, weights: w } as Node;
}

function finite(t: RawTensor, n: WeightedNode, diagnostics: Diagnostic[]): boolean {
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i]!)) {
      diagnostics.push(error("weightNotFinite", n.span, n.id, t.name, i));
      return false;
    }
  }
  return true;
}

function byName(graph: Graph, tensors: ReadonlyMap<string, RawTensor>, metadata: Readonly<Record<string, string>>, diagnostics: Diagnostic[]): Graph {
  const used = new Set<string>();
  const shapes = inputShapes(graph);
  const epsilonText = metadata["bn_epsilon"];
  const epsilon = epsilonText === undefined ? BN_EPSILON : Number(epsilonText);
  if (!(epsilon > 0)) diagnostics.push(error("weightFileUnreadable", undefined, "the metadata", `bn_epsilon is '${epsilonText}', not a positive number`));
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
    const hasBnTensors = [...tensors.keys()].some((k) => k.startsWith(`${n.id}.bn.`));
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

function inOrder(graph: Graph, layers: readonly OrderedLayer[], diagnostics: Diagnostic[]): Graph {
  const shapes = inputShapes(graph);
  const weighted = graph.nodes.filter(isWeighted);
  if (weighted.length !== layers.length) {
    diagnostics.push(error("weightLayerCount", graph.span, graph.name, weighted.length, layers.length));
    return graph;
  }
  const byId = new Map<string, Node>();
  // The same mismatch in every layer (ReLU where the file has ReLU6) is reported once, with a count.
  const mismatches = new Map<string, { index: number; more: number }>();
  weighted.forEach((n, i) => {
    const layer = layers[i]!;
    const input = inputOf(n, shapes);
    const e = expectedShapes(n, input);
    const mismatch = (what: string, expected: string, found: string): void => {
      const key = `${what}:${expected}:${found}`;
      const seen = mismatches.get(key);
      if (seen !== undefined) {
        seen.more++;
        return;
      }
      mismatches.set(key, { index: diagnostics.length, more: 0 });
      diagnostics.push(error("weightLayerMismatch", n.span, n.id, layer.label, what, expected, found));
    };
    // A 1x1 convolution on a 1x1 map is the same arithmetic as fc (TF-Slim's classifier).
    const fcAsConv = n.op === "fc" && layer.kind === "conv" && input[0] === 1 && input[1] === 1 && layer.kernel.shape[2] === 1 && layer.kernel.shape[3] === 1;
    if (layer.kind !== n.op && !fcAsConv) return mismatch("kind", n.op, layer.kind);
    let kernel: RawTensor = layer.kernel;
    if (fcAsConv) kernel = { ...kernel, shape: [kernel.shape[0]!, kernel.shape[1]!] };
    if (n.op === "fc" && layer.flattenHwc === true && sameShape(kernel.shape, e.kernel)) {
      // [out, H·W·C] in HWC order → [out, C·H·W] channel-major.
      const [h, w, c] = input;
      const out = kernel.shape[0]!;
      kernel = { ...kernel, data: transpose(kernel.data, [out, h, w, c], [0, 3, 1, 2]) };
    }
    if (!sameShape(kernel.shape, e.kernel)) return diagnostics.push(error("weightShapeMismatch", n.span, n.id, layer.label, fmt(e.kernel), fmt(kernel.shape)));
    if (n.op !== "fc") {
      const stride = n.attrs.stride;
      if (layer.stride !== undefined && (layer.stride[0] !== stride[0] || layer.stride[1] !== stride[1])) return mismatch("stride", stride.join("x"), layer.stride.join("x"));
      if (layer.padding !== undefined && layer.padding !== n.attrs.padding) return mismatch("padding", n.attrs.padding, layer.padding);
      if (layer.act !== undefined && layer.act !== n.attrs.act) return mismatch("activation", n.attrs.act, layer.act);
    } else if (layer.act !== undefined && layer.act !== "linear") {
      return mismatch("activation", "linear (fc has none)", layer.act);
    }
    if (layer.bias === undefined) return diagnostics.push(error("weightMissing", n.span, n.id, `a bias (${layer.label} has none)`));
    if (!sameShape(layer.bias.shape, [e.channels])) return diagnostics.push(error("weightShapeMismatch", n.span, n.id, `${layer.label} bias`, fmt([e.channels]), fmt(layer.bias.shape)));
    if (!finite(kernel, n, diagnostics) || !finite(layer.bias, n, diagnostics)) return;
    byId.set(n.id, attach(n, { kernel: { shape: kernel.shape, data: kernel.data }, bias: { shape: layer.bias.shape, data: layer.bias.data } }));
    return;
  });
  for (const { index, more } of mismatches.values()) {
    const d = diagnostics[index]!;
    if (more > 0) diagnostics[index] = { ...d, message: `${d.message} (and ${more} more layer${more === 1 ? "" : "s"} the same way)` };
  }
  return { ...graph, nodes: graph.nodes.map((n) => byId.get(n.id) ?? n) };
}
