/**
 * The tensor shapes each weighted node must carry, in the layouts of
 * graph.ts (OIHW, C1HW, [in, out, kh, kw] for a transposed conv, [out, in]), and a check used by the verifier and the
 * importers.
 */
import type { LayerWeights, Shape, Tensor, WeightedNode } from "./graph.js";

export interface ExpectedShapes {
  readonly kernel: readonly number[];
  /** Output channels: the length of a bias and of every batch-norm vector. */
  readonly channels: number;
}

/** Shapes for a node whose input has shape `input`. */
export function expectedShapes(node: WeightedNode, input: Shape): ExpectedShapes {
  switch (node.op) {
    case "conv":
      return { kernel: [node.attrs.channels, input[2], node.attrs.kernel[0], node.attrs.kernel[1]], channels: node.attrs.channels };
    case "depthwise":
      return { kernel: [input[2], 1, node.attrs.kernel[0], node.attrs.kernel[1]], channels: input[2] };
    case "deconv":
      return { kernel: [input[2], node.attrs.channels, node.attrs.kernel[0], node.attrs.kernel[1]], channels: node.attrs.channels };
    case "fc":
      return { kernel: [node.attrs.units, input[0] * input[1] * input[2]], channels: node.attrs.units };
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function tensor(shape: readonly number[], data?: Float32Array): Tensor {
  const size = shape.reduce((p, d) => p * d, 1);
  return { shape, data: data ?? new Float32Array(size) };
}

/** What is wrong with a node's weights, or undefined if they fit. */
export function weightProblem(node: WeightedNode, input: Shape, w: LayerWeights): string | undefined {
  const e = expectedShapes(node, input);
  const check = (what: string, t: Tensor | undefined, shape: readonly number[]): string | undefined => {
    if (t === undefined) return `${what} is missing`;
    if (!sameShape(t.shape, shape)) return `${what} is [${t.shape.join(", ")}], expected [${shape.join(", ")}]`;
    if (t.data.length !== shape.reduce((p, d) => p * d, 1)) return `${what} holds ${t.data.length} values for shape [${shape.join(", ")}]`;
    return undefined;
  };
  const problems = [
    check("kernel", w.kernel, e.kernel),
    w.bias === undefined ? undefined : check("bias", w.bias, [e.channels]),
    node.op === "fc" && w.bias === undefined ? "an fc layer needs a bias" : undefined,
    node.op !== "fc" && node.attrs.norm === "none" && w.bias === undefined ? "a layer without batch-norm needs a bias" : undefined,
    node.op !== "fc" && node.attrs.norm === "batchnorm" && w.bn === undefined ? "batch-norm parameters are missing" : undefined,
    node.op !== "fc" && node.attrs.norm === "none" && w.bn !== undefined ? "batch-norm parameters on a layer without batch-norm" : undefined,
    ...(w.bn === undefined
      ? []
      : [check("gamma", w.bn.gamma, [e.channels]), check("beta", w.bn.beta, [e.channels]), check("mean", w.bn.mean, [e.channels]), check("variance", w.bn.variance, [e.channels])]),
  ];
  return problems.find((p) => p !== undefined);
}
