/**
 * The cost report as data: what every format (text, Markdown, CSV, JSON, HTML)
 * prints. Built from a verified graph and its cost analysis; exact integers
 * throughout. The JSON format is this object, as documented in docs/report.md.
 */
import { formatNumber } from "../../ir/diagnostics.js";
import type { Graph, Node, Shape } from "../../ir/graph.js";
import type { CostCategory } from "../../ir/ops/index.js";
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import { effectiveWidth } from "../../passes/scale-width.js";
import { VERSION } from "../../version.js";

/** Bytes per activation element and per float32 parameter. */
const FLOAT32 = 4;

export const CONVENTION = [
  "A mult-add is one multiply-accumulate of a convolution or fully connected layer; bias adds, batch-norm, activations, pooling and softmax are not counted. FLOPs = 2 × mult-adds.",
  "params = weights + biases of the network as written, before batch-norm fusion; bnParams = 4 per normalised channel (γ, β, mean, variance).",
  "Keras total = params + bnParams, of which the moving mean and variance (bnParams / 2) are non-trainable.",
  "Weight memory is that of the deployed model, after batch-norm fusion gives each normalised layer a bias: float32 stores every weight and bias in 4 bytes; int8 stores weights in 1 byte and biases in 4 (int32), as TensorFlow Lite quantizes.",
  "Activation memory is float32, batch 1; the peak is the largest input + output held at once by a layer-by-layer schedule.",
] as const;

export interface ReportLayer {
  readonly name: string;
  readonly op: Node["op"];
  /** Human description: `conv 3x3/2`, `dw 3x3`, `pw`, `avgpool global`, … */
  readonly layer: string;
  /** Which row of Table 2 it counts in. */
  readonly type: CostCategory;
  readonly inputShape: Shape | null;
  readonly outputShape: Shape;
  /** The width multiplier that sets this layer's channels (null where α does not apply). */
  readonly width: number | null;
  readonly multAdds: number;
  readonly weights: number;
  readonly biases: number;
  readonly params: number;
  readonly bnParams: number;
  readonly activationBytes: number;
  /** Input + output bytes held while this layer runs. */
  readonly liveBytes: number;
  readonly line: number;
}

export interface TypeRow {
  readonly type: Exclude<CostCategory, "none">;
  readonly label: string;
  readonly multAdds: number;
  readonly weights: number;
  /** Percent of the total, unrounded. */
  readonly multAddsShare: number;
  readonly weightsShare: number;
}

export interface Report {
  readonly mnc: string;
  readonly network: string;
  readonly alpha: number;
  readonly resolution: readonly [number, number];
  readonly input: Shape;
  readonly output: Shape;
  readonly convention: readonly string[];
  readonly totals: {
    readonly multAdds: number;
    readonly flops: number;
    readonly weights: number;
    readonly biases: number;
    readonly params: number;
    readonly bnParams: number;
    readonly kerasTotal: number;
    readonly kerasTrainable: number;
    readonly kerasNonTrainable: number;
    readonly deployedParams: number;
    readonly weightBytesFloat32: number;
    readonly weightBytesInt8: number;
    readonly peakActivationBytes: number;
    /** The layer at which the peak occurs. */
    readonly peakActivationLayer: string;
  };
  readonly byType: readonly TypeRow[];
  readonly layers: readonly ReportLayer[];
}

const TYPE_LABELS: Record<Exclude<CostCategory, "none">, string> = {
  conv1x1: "Conv 1x1",
  depthwise: "Conv DW",
  conv: "Conv (full, not 1x1)",
  fc: "Fully connected",
  elementwise: "Elementwise (add, mul)",
};

export function buildReport(graph: Graph, costs: CostAnalysis): Report {
  const widths = new Map<string, number | null>();
  const layers: ReportLayer[] = costs.layers.map((l) => {
    const n = l.node;
    let width: number | null = null;
    if (n.op === "conv") width = n.attrs.size.kind === "filters" ? effectiveWidth(graph.alpha, n.attrs.size) : null;
    else if (n.op === "depthwise") width = widths.get(n.inputs[0] ?? "") ?? null;
    widths.set(n.id, width);
    const elements = (s: Shape | undefined): number => (s === undefined ? 0 : s[0] * s[1] * s[2]);
    const activationBytes = elements(l.outputShape) * FLOAT32;
    return {
      name: n.id,
      op: n.op,
      layer: describeLayer(n),
      type: l.category,
      inputShape: l.inputShape ?? null,
      outputShape: l.outputShape,
      width: width === null ? null : Number(formatNumber(width)),
      multAdds: l.multAdds,
      weights: l.weights,
      biases: l.biases,
      params: l.params,
      bnParams: l.bnParams,
      activationBytes,
      liveBytes: elements(l.inputShape) * FLOAT32 + activationBytes,
      line: n.span.line,
    };
  });
  const t = costs.totals;
  const fusedBiases = t.bnParams / 4;
  const deployedBiases = t.biases + fusedBiases;
  let peak = layers[0]!;
  for (const l of layers) if (l.liveBytes > peak.liveBytes) peak = l;
  const byType = (Object.keys(TYPE_LABELS) as (keyof typeof TYPE_LABELS)[]).map((type) => {
    const c = costs.byCategory[type];
    return {
      type,
      label: TYPE_LABELS[type],
      multAdds: c.multAdds,
      weights: c.weights,
      multAddsShare: t.multAdds === 0 ? 0 : (100 * c.multAdds) / t.multAdds,
      weightsShare: t.weights === 0 ? 0 : (100 * c.weights) / t.weights,
    };
  });
  const input = graph.nodes[0]!.shape!;
  return {
    mnc: VERSION,
    network: graph.name,
    alpha: graph.alpha,
    resolution: [input[0], input[1]],
    input,
    output: graph.nodes[graph.nodes.length - 1]!.shape!,
    convention: CONVENTION,
    totals: {
      multAdds: t.multAdds,
      flops: 2 * t.multAdds,
      weights: t.weights,
      biases: t.biases,
      params: t.params,
      bnParams: t.bnParams,
      kerasTotal: t.params + t.bnParams,
      kerasTrainable: t.params + t.bnParams / 2,
      kerasNonTrainable: t.bnParams / 2,
      deployedParams: t.weights + deployedBiases,
      weightBytesFloat32: (t.weights + deployedBiases) * FLOAT32,
      weightBytesInt8: t.weights + deployedBiases * 4,
      peakActivationBytes: peak.liveBytes,
      peakActivationLayer: peak.name,
    },
    byType,
    layers,
  };
}

/** `conv 3x3/2`, `dw 3x3`, `pw`, `avgpool global`, `fc`, … */
export function describeLayer(n: Node): string {
  const stride = (s: readonly [number, number]): string => (s[0] === 1 && s[1] === 1 ? "" : s[0] === s[1] ? `/${s[0]}` : `/${s[0]}x${s[1]}`);
  switch (n.op) {
    case "input":
      return "input";
    case "conv":
      return n.attrs.kernel[0] === 1 && n.attrs.kernel[1] === 1 ? `pw${stride(n.attrs.stride)}` : `conv ${n.attrs.kernel.join("x")}${stride(n.attrs.stride)}`;
    case "depthwise":
      return `dw ${n.attrs.kernel.join("x")}${stride(n.attrs.stride)}`;
    case "avgpool":
    case "maxpool": {
      const a = n.attrs;
      if (a.kernel === "global") return `${n.op} global`;
      return `${n.op} ${a.kernel.join("x")}${stride(a.stride === "kernel" ? a.kernel : a.stride)}`;
    }
    case "fc":
      return "fc";
    case "softmax":
      return "softmax";
    case "dropout":
      return "dropout";
    case "add":
      return "add";
    case "mul":
      return "mul";
  }
}
