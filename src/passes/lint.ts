/**
 * lint — an analysis: warnings for networks that are legal but probably not
 * what was meant. It reads a shaped graph and never changes it; a warning never
 * stops the pipeline (the CLI fails on one only with --warnings-as-errors).
 *
 *   MN6001  input 3x224x224          channels first, where mnc reads HxWxC
 *   MN6002  width 50                 α above 4
 *   MN6003  input 225x225x3, stride 2   a stride that does not divide the size it strides
 *                                      (the size less one, in a network that resizes with align_corners)
 *   MN6004  labels, last layer a conv   labels for a network that ends without a classifier
 */
import { warning, type Diagnostic } from "../ir/diagnostics.js";
import type { Graph, Node, Pair } from "../ir/graph.js";

export interface LintOptions {
  /** Class names, one per output (`--labels`): the network should end in a classifier. */
  readonly labels?: readonly string[];
}

/** α above this is almost surely a mistake (the paper's largest is 1; MobileNetV3 goes to 1.4 in some tables). */
export const MAX_PLAUSIBLE_ALPHA = 4;

/** The warnings of a graph after shape inference, in graph order. */
export function lint(graph: Graph, options: LintOptions = {}): Diagnostic[] {
  const layout = channelsFirst(graph);
  // A channels-first input explains any stride that does not divide its sizes: say only that.
  return [...layout, ...largeAlpha(graph), ...(layout.length > 0 ? [] : strideRemainder(graph)), ...notClassifier(graph, options)];
}

/** `input 3x224x224`: a first dimension that looks like channels (1, 3 or 4) before two larger ones. */
function channelsFirst(graph: Graph): Diagnostic[] {
  const input = graph.nodes[0];
  if (input?.op !== "input") return [];
  const [h, w, c] = input.attrs.declared;
  const looksLikeChannels = h === 1 || h === 3 || h === 4;
  return looksLikeChannels && w > 4 && c > 4 ? [warning("inputChannelsFirst", input.span, h, w, c)] : [];
}

function largeAlpha(graph: Graph): Diagnostic[] {
  return graph.alpha > MAX_PLAUSIBLE_ALPHA ? [warning("widthTooLarge", graph.alphaSpan, graph.alpha)] : [];
}

/** The stride of a windowed node, or undefined for nodes without one (and global pools). */
function strideOf(node: Node): Pair | undefined {
  switch (node.op) {
    case "conv":
    case "depthwise":
      return node.attrs.stride;
    case "avgpool":
    case "maxpool":
      if (node.attrs.kernel === "global") return undefined;
      return node.attrs.stride === "kernel" ? node.attrs.kernel : node.attrs.stride;
    default:
      return undefined;
  }
}

/**
 * The first layer whose stride does not divide its input's height or width
 * (a size of 1 has nothing to misalign). When every strided layer pads SAME,
 * the advice names the nearest input size that every stride divides.
 */
function strideRemainder(graph: Graph): Diagnostic[] {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const strided = graph.nodes.flatMap((n) => {
    const stride = strideOf(n);
    return stride === undefined || (stride[0] === 1 && stride[1] === 1) ? [] : [{ node: n, stride }];
  });
  // A network that resizes with aligned corners (DeepLab) wants sizes k·stride + 1: its grids then
  // share their corners at every depth (257 → 129 → 65 → 33), which is what align_corners assumes.
  const corners = alignsCorners(graph);
  const misfit = (size: number, stride: number): boolean => size > 1 && (corners ? (size - 1) % stride : size % stride) !== 0;
  for (const { node, stride } of strided) {
    const input = byId.get(node.inputs[0]!)?.shape;
    if (input === undefined || node.shape === undefined) continue;
    if (!misfit(input[0], stride[0]) && !misfit(input[1], stride[1])) continue;
    const s = stride[0] === stride[1] ? String(stride[0]) : `${stride[0]}x${stride[1]}`;
    const h = misfit(input[0], stride[0]);
    const rounded = `${h ? input[0] : input[1]}/${h ? stride[0] : stride[1]} rounded ${node.shape[h ? 0 : 1] * (h ? stride[0] : stride[1]) > (h ? input[0] : input[1]) ? "up" : "down"}`;
    return [warning("strideRemainder", node.span, node.id, s, `${input[0]}x${input[1]}`, `${node.shape[0]}x${node.shape[1]}`, rounded, advice(graph, strided, corners), corners)];
  }
  return [];
}

function alignsCorners(graph: Graph): boolean {
  return graph.nodes.some((n) => n.op === "resize" && n.attrs.coords === "align_corners");
}

function advice(graph: Graph, strided: readonly { node: Node; stride: Pair }[], corners: boolean): string {
  const input = graph.nodes[0];
  if (input?.op !== "input" || input.shape === undefined) return "";
  if (!strided.every(({ node }) => "padding" in node.attrs && node.attrs.padding === "same")) return "";
  const [fh, fw] = strided.reduce(([h, w], { stride }) => [h * stride[0], w * stride[1]], [1, 1]);
  const nearest = (size: number, factor: number): number => (corners ? Math.max(1, Math.round((size - 1) / factor)) * factor + 1 : Math.max(factor, Math.round(size / factor) * factor));
  const [h, w] = [nearest(input.shape[0], fh), nearest(input.shape[1], fw)];
  const factor = fh === fw ? `multiples of ${fh}` : `multiples of ${fh} and ${fw}`;
  return corners ? `; at ${h}x${w} (${factor}, plus 1, as its align_corners resizes assume) every stride divides evenly` : `; at ${h}x${w} (${factor}) every stride divides evenly`;
}

/** What a node is, in a few words, for messages. */
const DESCRIBE: Readonly<Record<Node["op"], (n: Node) => string>> = {
  input: () => "the input",
  conv: (n) => (n.op === "conv" ? `a ${n.attrs.kernel.join("x")} convolution to ${n.attrs.channels} channels` : "a convolution"),
  depthwise: () => "a depthwise convolution",
  avgpool: () => "an average pool",
  maxpool: () => "a max pool",
  fc: () => "a fully connected layer",
  softmax: () => "a softmax",
  dropout: () => "a dropout",
  add: (n) => (n.origin === "add" ? "an add" : "a residual add"),
  mul: (n) => (n.origin === "mul" ? "a multiply" : "a channel scaling"),
  deconv: () => "a transposed convolution",
  concat: () => "a concatenation",
  resize: () => "a resize",
  activation: (n) => (n.op === "activation" ? `a ${n.attrs.act}` : "an activation"),
  argmax: () => "an argmax",
};

/**
 * With labels, the network should end in a classifier: fc or softmax, or a
 * 1x1 convolution to as many channels as labels (possibly followed by pooling
 * or dropout, as SqueezeNet-style heads are, or by resizes, activations and an
 * argmax, as a segmentation head's per-pixel classifier is).
 */
function notClassifier(graph: Graph, options: LintOptions): Diagnostic[] {
  if (options.labels === undefined) return [];
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const last = byId.get(graph.outputs[0]!);
  if (last === undefined || last.op === "fc" || last.op === "softmax") return [];
  let node: Node | undefined = last;
  const passes = (n: Node): boolean => n.op === "avgpool" || n.op === "maxpool" || n.op === "dropout" || n.op === "resize" || n.op === "activation" || n.op === "argmax";
  while (node !== undefined && passes(node)) node = byId.get(node.inputs[0]!);
  if (node?.op === "conv" && node.attrs.kernel[0] === 1 && node.attrs.kernel[1] === 1 && node.attrs.channels === options.labels.length) return [];
  return [warning("notClassifier", last.span, last.id, DESCRIBE[last.op](last), options.labels.length)];
}
