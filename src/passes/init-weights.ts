/**
 * init-weights — deterministic tensors for every weighted layer that has none,
 * from a seed (--seed N): He-normal kernels (std √(2 / fan-in)), and batch-norm
 * statistics that are deliberately *not* the identity — γ ∈ [0.5, 1.5),
 * β ~ N(0, 0.1), mean ~ N(0, 0.2), variance ∈ [0.5, 2) — so that batch-norm
 * fusion is exercised on real numbers. Each layer draws from its own stream,
 * keyed by its name: adding a layer never changes another layer's weights.
 *
 *   Before:  conv_0 = conv 3x3/2 32 bn relu            (no tensors)
 *   After:   conv_0 … weights { kernel [32,3,3,3], bn { γ, β, mean, variance [32], ε 0.001 } }
 */
import { InternalError } from "../ir/diagnostics.js";
import { isWeighted, type LayerWeights, type Node, type Shape, type Tensor, type WeightedNode } from "../ir/graph.js";
import { Random } from "../ir/random.js";
import { expectedShapes } from "../ir/weights.js";
import type { Pass } from "./types.js";

export const DEFAULT_SEED = 1;
/** TF-Slim's batch-norm ε. */
export const BN_EPSILON = 0.001;

export const initWeights: Pass = {
  name: "init-weights",
  run(graph, { options }) {
    const seed = options.seed ?? DEFAULT_SEED;
    const shapes = new Map<string, Shape>();
    const nodes: Node[] = graph.nodes.map((n) => {
      if (n.shape === undefined) throw new InternalError(`init-weights needs shapes; '${n.id}' has none`);
      shapes.set(n.id, n.shape);
      if (!isWeighted(n) || n.weights !== undefined) return n;
      const input = shapes.get(n.inputs[0] ?? "");
      if (input === undefined) throw new InternalError(`'${n.id}' has no input shape`);
      return { ...n, weights: seededWeights(n, input, seed) };
    });
    return { ...graph, nodes };
  },
};

export function seededWeights(node: WeightedNode, input: Shape, seed: number): LayerWeights {
  const rng = new Random(seed, node.id);
  const e = expectedShapes(node, input);
  const fanIn = e.kernel.slice(1).reduce((p, d) => p * d, 1);
  // fc: std √(1 / fan-in) keeps logits moderate; convolutions: He-normal for ReLU.
  const std = Math.sqrt((node.op === "fc" ? 1 : 2) / fanIn);
  const fill = (shape: readonly number[], draw: () => number): Tensor => {
    const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = draw();
    return { shape, data };
  };
  const kernel: Tensor = { shape: e.kernel, data: new Float32Array(e.kernel.reduce((p, d) => p * d, 1)) };
  rng.fillNormal(kernel.data, std);
  const hasBn = node.op !== "fc" && node.attrs.norm === "batchnorm";
  const c = [e.channels];
  if (!hasBn) return { kernel, bias: fill(c, () => rng.uniform(-0.1, 0.1)) };
  return {
    kernel,
    bn: {
      gamma: fill(c, () => rng.uniform(0.5, 1.5)),
      beta: fill(c, () => 0.1 * rng.normal()),
      mean: fill(c, () => 0.2 * rng.normal()),
      variance: fill(c, () => rng.uniform(0.5, 2)),
      epsilon: BN_EPSILON,
    },
  };
}
