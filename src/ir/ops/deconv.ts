/**
 * `deconv KxK N stride=S` — a transposed convolution (ONNX ConvTranspose,
 * MediaPipe's Convolution2DTransposeBias): input cell (y, x) adds
 * w[i, j]·in[y, x] into output cell (y·s + i − top, x·s + j − left).
 *
 *   shape:     pad=same:  [H, W, M] → [H·s, W·s, N]; the full (H − 1)·s + K
 *                         rows are cropped by K − s, floor half at the top
 *                         (TensorFlow's conv2d_transpose SAME); K ≥ s
 *              pad=valid: [H, W, M] → [(H − 1)·s + K, …, N]
 *   mult-adds: K·K·M·N·H·W (every input cell times every tap)
 *   weights:   K·K·M·N;  biases: N without batch-norm;  bnParams: 4·N
 */
import { error } from "../diagnostics.js";
import { formatPair, type Pads } from "../graph.js";
import { describeChannels, describeWidth, kernelCost, norm } from "./conv.js";
import { NO_COST, type OpDef } from "./types.js";
import { formatPads, formatStride } from "./window.js";

export const deconv: OpDef<"deconv"> = {
  kind: "deconv",
  arity: 1,
  infer(node, [input]) {
    if (input === undefined) return { node };
    const a = node.attrs;
    const axis = (i: 0 | 1): { out: number; before: number; after: number } | undefined => {
      const full = (input[i] - 1) * a.stride[i] + a.kernel[i];
      if (a.padding === "valid") return { out: full, before: 0, after: 0 };
      const crop = a.kernel[i] - a.stride[i];
      if (crop < 0) return undefined;
      return { out: input[i] * a.stride[i], before: Math.floor(crop / 2), after: crop - Math.floor(crop / 2) };
    };
    const h = axis(0);
    const w = axis(1);
    if (h === undefined || w === undefined) return { error: error("deconvKernel", node.span, node.id, formatPair(a.kernel), formatPair(a.stride)) };
    const pads: Pads = [h.before, w.before, h.after, w.after];
    return { node: { ...node, shape: [h.out, w.out, a.channels], attrs: { ...a, pads } } };
  },
  channels: (node) => node.attrs.channels,
  cost: (node, [input]) => (input === undefined || node.shape === undefined ? NO_COST : kernelCost(node.attrs, input[2], input[0] * input[1])),
  category: () => "conv",
  describe(node) {
    const a = node.attrs;
    return `transposed ${formatPair(a.kernel)}${formatStride(a.stride)} ${describeChannels(a.channels, a.size)} ${a.padding}${formatPads(a.pads)}${norm(a.norm)} ${a.act}${describeWidth(a.size)}`;
  },
};
