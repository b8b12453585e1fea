/**
 * fuse-batch-norm — fold each layer's batch-norm into its convolution.
 *
 *   Before:  y = act( γ · (W∗x + b − μ) / √(σ² + ε) + β )       conv → BN → act
 *   After:   y = act( W′∗x + b′ )                                 conv with bias → act
 *
 *   with s = γ / √(σ² + ε) per output channel c:
 *     W′[c, …] = W[c, …] · s[c]
 *     b′[c]    = (b[c] − μ[c]) · s[c] + β[c]        (b = 0 when the layer had no bias)
 *
 * Exact in real arithmetic; the folded tensors are computed in float64 and
 * stored in float32. Applies to full, depthwise and pointwise convolutions
 * (a depthwise kernel [C, 1, kh, kw] scales per channel like any other).
 * Idempotent: a fused layer has no batch-norm left to fold. The certificate
 * (certify-fusion.ts) checks the result numerically on every compile.
 */
import type { LayerWeights, Node } from "../ir/graph.js";
import type { Pass } from "./types.js";

export const fuseBatchNorm: Pass = {
  name: "fuse-batch-norm",
  run(graph) {
    const nodes: Node[] = graph.nodes.map((n) => {
      if ((n.op !== "conv" && n.op !== "depthwise" && n.op !== "deconv") || n.attrs.norm !== "batchnorm" || n.weights?.bn === undefined) return n;
      return { ...n, attrs: { ...n.attrs, norm: "none" }, weights: fold(n.weights, n.op === "deconv" ? 1 : 0) } as Node;
    });
    return { ...graph, nodes };
  },
};

/**
 * Fold batch-norm into the kernel and bias. The output channel is the kernel's
 * axis 0 (OIHW, C1HW) or, for a transposed convolution, axis 1 ([in, out, kh, kw]).
 */
export function fold(w: LayerWeights, channelAxis: 0 | 1 = 0): LayerWeights {
  const bn = w.bn!;
  const channels = bn.gamma.data.length;
  const kernel = new Float32Array(w.kernel.data.length);
  const bias = new Float32Array(channels);
  // The kernel as [outer, channels, inner] around its channel axis.
  const outer = channelAxis === 0 ? 1 : w.kernel.shape[0]!;
  const inner = w.kernel.data.length / (outer * channels);
  for (let c = 0; c < channels; c++) {
    const s = bn.gamma.data[c]! / Math.sqrt(bn.variance.data[c]! + bn.epsilon);
    for (let o = 0; o < outer; o++) {
      const start = (o * channels + c) * inner;
      for (let i = start; i < start + inner; i++) kernel[i] = w.kernel.data[i]! * s;
    }
    bias[c] = ((w.bias?.data[c] ?? 0) - bn.mean.data[c]!) * s + bn.beta.data[c]!;
  }
  return { kernel: { shape: w.kernel.shape, data: kernel }, bias: { shape: [channels], data: bias } };
}
