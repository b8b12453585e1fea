/**
 * `dw KxK` — a depthwise convolution: one Dk×Dk filter per input channel
 * (ONNX Conv with group = channels), then batch-norm and an activation.
 *
 *   shape:     [H, W, M] → [ceil(H/s), ceil(W/s), M]           (pad=same)
 *   mult-adds: Dk·Dk·M·Df·Df (dilated or not; `dilation=D` as for conv)
 *   weights:   Dk·Dk·M;  biases: M without batch-norm;  bnParams: 4·M
 */
import { error } from "../diagnostics.js";
import { formatPair, formatShape } from "../graph.js";
import { norm } from "./conv.js";
import { NO_COST, type OpDef } from "./types.js";
import { dilated, formatDilation, formatPads, formatStride, slide } from "./window.js";

export const depthwise: OpDef<"depthwise"> = {
  kind: "depthwise",
  arity: 1,
  infer(node, [input]) {
    if (input === undefined) return { node };
    const a = node.attrs;
    const r = slide([input[0], input[1]], dilated(a.kernel, a.dilation), a.stride, a.padding);
    if (r === undefined) return { error: error("emptyOutput", node.span, node.id, formatPair(a.kernel), formatShape(input)) };
    return { node: { ...node, shape: [r.out[0], r.out[1], input[2]], attrs: { ...a, pads: r.pads } } };
  },
  channels: (_node, [c]) => c!,
  cost(node, [input]) {
    if (input === undefined || node.shape === undefined) return NO_COST;
    const a = node.attrs;
    const channels = input[2];
    const weights = a.kernel[0] * a.kernel[1] * channels;
    return {
      ...NO_COST,
      multAdds: weights * node.shape[0] * node.shape[1],
      weights,
      biases: a.norm === "none" ? channels : 0,
      bnParams: a.norm === "batchnorm" ? 4 * channels : 0,
    };
  },
  category: () => "depthwise",
  describe(node) {
    const a = node.attrs;
    return `${formatPair(a.kernel)}${formatStride(a.stride)}${formatDilation(a.dilation)} ${a.padding}${formatPads(a.pads)}${norm(a.norm)} ${a.act}`;
  },
};
