/**
 * The cost report as data: what every format (text, Markdown, CSV, JSON, HTML)
 * prints. Built from a verified graph and its cost analysis; exact integers
 * throughout. The JSON format is this object, as documented in docs/report.md.
 */
import { formatNumber, InternalError } from "../../ir/diagnostics.js";
import type { Graph, Node, Shape } from "../../ir/graph.js";
import { liveness, peakLive } from "../../ir/liveness.js";
import type { CostCategory } from "../../ir/ops/index.js";
import { formatDilation, formatStride } from "../../ir/ops/window.js";
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import { effectiveWidth } from "../../passes/scale-width.js";
import { VERSION } from "../../version.js";

/** Bytes per activation element and per float32 parameter. */
const FLOAT32 = 4;

const MULT_ADDS =
  "A mult-add is one multiply-accumulate of a convolution (squeeze-and-excitation's 1x1 convolutions included) or fully connected layer; bias adds, batch-norm, activations, pooling, softmax and elementwise operations are not counted. FLOPs = 2 × mult-adds.";
const ELEMENTWISE =
  "Elementwise operations are the additions of residual connections and the multiplications of squeeze-and-excitation scaling, one per output element; they are counted apart from mult-adds.";
const PARAMS = "params = weights + biases of the network as written, before batch-norm fusion; bnParams = 4 per normalised channel (γ, β, mean, variance).";
const KERAS =
  "Keras total = params + bnParams, of which the moving mean and variance (bnParams / 2) are non-trainable; torchvision counts params + γ, β (params + bnParams / 2), the same figure as Keras' trainable count.";
const WEIGHT_MEMORY =
  "Weight memory is that of the deployed model, after batch-norm fusion gives each normalised layer a bias: float32 stores every weight and bias in 4 bytes; int8 stores weights in 1 byte and biases in 4 (int32), as TensorFlow Lite quantizes.";
const ACTIVATION_MEMORY =
  "Activation memory is float32, batch 1, in the layer-by-layer schedule: while a layer runs, its inputs, its output and every earlier output a later layer still reads (a residual connection's input) are held; the peak is the largest such sum. On a chain that is a layer's input + output.";

export const CONVENTION = [MULT_ADDS, ELEMENTWISE, PARAMS, KERAS, WEIGHT_MEMORY, ACTIVATION_MEMORY] as const;

/** Bytes of one channel's quantization parameters: a float32 scale and an int32 zero point, as TensorFlow Lite Micro holds them. */
export const QUANT_PARAM_BYTES = 8;
/** Bytes of an int32 bias and of an int8/uint8 value. */
const INT32 = 4;
const INT8 = 1;

/** What the int8 figures say, each said only by a report that has them (a quantized graph, or `--int8`). */
const INT8_MEMORY: Readonly<Record<Int8Memory["basis"], string>> = {
  quantized:
    "int8 weight memory is that of the quantized model as stored: each weighted layer's kernel in 1 byte per value (uint8 or int8), its int32 biases in 4, and its kernel's scale and zero point (a float32 and an int32, 8 bytes) per quantized channel. int8 activation memory counts every tensor in 1 byte, batch 1, in the same layer-by-layer schedule as the float32 figure: the peak is the least arena TensorFlow Lite Micro must hold for the activations (its planner may add scratch buffers and alignment).",
  estimate:
    "int8 weight memory is what 8-bit quantization would store, as TensorFlow Lite's converter quantizes: each weighted layer's kernel in 1 byte per value, a deployed bias per output channel in 4 (int32), and a scale and zero point (a float32 and an int32, 8 bytes) per output channel (per-channel weights). int8 activation memory counts every tensor in 1 byte, batch 1, in the same layer-by-layer schedule as the float32 figure: the peak is the least arena TensorFlow Lite Micro must hold for the activations (its planner may add scratch buffers and alignment).",
};

/** A layer's int8 memory (present with the report's `int8`). */
export interface Int8Layer {
  /** Stored kernel values, 1 byte each. */
  readonly kernelBytes: number;
  /** int32 biases, 4 bytes each. */
  readonly biasBytes: number;
  /** The kernel's scales and zero points, 8 bytes per quantized channel. */
  readonly quantBytes: number;
  /** kernelBytes + biasBytes + quantBytes. */
  readonly weightBytes: number;
  /** Its output in bytes, 1 per value. */
  readonly activationBytes: number;
  /** Bytes of every tensor live while the layer runs, 1 per value (src/ir/liveness.ts). */
  readonly liveBytes: number;
}

/** The network's int8 weight and activation memory. */
export interface Int8Memory {
  /** `quantized`: the integers a quantized graph stores; `estimate`: what 8-bit per-channel quantization of a float graph would store. */
  readonly basis: "quantized" | "estimate";
  readonly kernelBytes: number;
  readonly biasBytes: number;
  readonly quantBytes: number;
  readonly weightBytes: number;
  /** The peak of live int8 tensors: what TensorFlow Lite Micro's arena must hold at least. */
  readonly peakActivationBytes: number;
  readonly peakActivationLayer: string;
  readonly peakActivationLive: readonly string[];
}

export interface ReportOptions {
  /** Add the int8 figures to a float graph's report (a quantized graph's report always has them). */
  readonly int8?: boolean;
}

/**
 * What a graph network adds to the convention, each said only by a network that
 * has it (so that a network without it reads as it always has).
 */
const GRAPH_CONVENTION: readonly { readonly has: (f: GraphFeatures) => boolean; readonly text: string }[] = [
  {
    has: (f) => f.dilation,
    text: "A dilated convolution counts as a convolution of its kernel (Dk·Dk·M·N·Df·Df; its taps are spread apart, not added): dilation changes the pads and the receptive field, not the cost.",
  },
  {
    has: (f) => f.deconv,
    text: "A transposed convolution (deconv) counts K·K·M·N·Hin·Win mult-adds, every input cell times every tap, with Hin, Win its input's size; it is counted as Conv (full, not 1x1).",
  },
  {
    has: (f) => f.graphElementwise.length > 0,
    text: "In a graph, elementwise operations also count, one per output element, an add or mul of named tensors (a skip, a gate), a concat's and a resize's values written, a standalone activation's values, and an argmax's values compared (one per input element); they are counted apart from mult-adds.",
  },
  {
    has: (f) => f.outputs > 1,
    text: "A network with several outputs holds each of them in activation memory from the layer that makes it to the end.",
  },
];

/** The graph features a network has, which decide its extra convention lines and labels. */
interface GraphFeatures {
  readonly dilation: boolean;
  readonly deconv: boolean;
  /** Elementwise ops beyond residual adds and SE multiplies, by name, in the order of ELEMENTWISE_OPS. */
  readonly graphElementwise: readonly string[];
  readonly outputs: number;
}

/** The name of each elementwise op kind in the by-type label, or null for ops that are not elementwise. */
const ELEMENTWISE_NAMES: Readonly<Record<Node["op"], string | null>> = {
  input: null,
  conv: null,
  depthwise: null,
  deconv: null,
  avgpool: null,
  maxpool: null,
  fc: null,
  softmax: null,
  dropout: null,
  add: "add",
  mul: "mul",
  concat: "concat",
  resize: "resize",
  activation: "activation",
  argmax: "argmax",
};
const ELEMENTWISE_ORDER = ["add", "mul", "concat", "resize", "activation", "argmax"] as const;

function graphFeatures(graph: Graph, roles: ReadonlyMap<string, SeRole>): GraphFeatures {
  const dilated = (d: readonly [number, number] | undefined): boolean => d !== undefined && (d[0] !== 1 || d[1] !== 1);
  const extra = new Set<string>();
  for (const n of graph.nodes) {
    const name = ELEMENTWISE_NAMES[n.op];
    if (name === null) continue;
    // A residual connection's add and an SE block's scaling are the convention's own elementwise operations.
    if ((n.op === "add" && n.origin !== "add") || (n.op === "mul" && roles.get(n.id) === "scale")) continue;
    extra.add(name);
  }
  return {
    dilation: graph.nodes.some((n) => (n.op === "conv" || n.op === "depthwise") && dilated(n.attrs.dilation)),
    deconv: graph.nodes.some((n) => n.op === "deconv"),
    graphElementwise: ELEMENTWISE_ORDER.filter((name) => extra.has(name)),
    outputs: graph.outputs.length,
  };
}

/** "Elementwise (add, mul)", and the graph's other elementwise ops after them: "Elementwise (add, mul, concat, resize)". */
function elementwiseLabel(f: GraphFeatures): string {
  const names = ["add", "mul", ...f.graphElementwise.filter((n) => n !== "add" && n !== "mul")];
  return `Elementwise (${names.join(", ")})`;
}

/** The counting rules that apply to a sweep's figures (mult-adds, params, peak activation memory). */
export const SWEEP_CONVENTION = [MULT_ADDS, PARAMS, ACTIVATION_MEMORY] as const;

/** The part a layer plays in a squeeze-and-excitation block. */
export type SeRole = "pool" | "squeeze" | "excite" | "scale";

export interface ReportLayer {
  readonly name: string;
  readonly op: Node["op"];
  /** The layers whose outputs it reads, in order (none for the input). */
  readonly inputs: readonly string[];
  /** Human description: `conv 3x3/2`, `dw 3x3`, `pw`, `avgpool global`, `add (residual)`, `mul (SE scale)`, … */
  readonly layer: string;
  /** Which row of Table 2 it counts in. */
  readonly type: CostCategory;
  /** Whether the layer is part of a squeeze-and-excitation block (pool, squeeze, excite, scale). */
  readonly se: boolean;
  readonly inputShape: Shape | null;
  readonly outputShape: Shape;
  /**
   * The width multiplier that sets this layer's channels (null where α does not
   * apply, and for a convolution whose channels are a ratio of another tensor's).
   */
  readonly width: number | null;
  /**
   * For a convolution whose channels are a ratio of another tensor's (a
   * bottleneck's expansion, an SE squeeze or excite): that ratio, exactly as
   * written (`expand=88/24` → 88/24, `se=0.25` → 0.25/1); null otherwise.
   */
  readonly ratio: { readonly num: number; readonly den: number } | null;
  readonly multAdds: number;
  /** Additions of a residual connection, multiplications of SE scaling (not mult-adds). */
  readonly elementwise: number;
  readonly weights: number;
  readonly biases: number;
  readonly params: number;
  readonly bnParams: number;
  readonly activationBytes: number;
  /** Bytes of every tensor live while this layer runs (src/ir/liveness.ts): on a chain, input + output. */
  readonly liveBytes: number;
  readonly line: number;
  /** int8 weight and activation memory; present when the report has `int8`. */
  readonly int8?: Int8Layer;
}

export interface TypeRow {
  readonly type: Exclude<CostCategory, "none">;
  readonly label: string;
  readonly multAdds: number;
  readonly elementwise: number;
  readonly weights: number;
  /** Percent of the total, unrounded. */
  readonly multAddsShare: number;
  readonly weightsShare: number;
}

/** One of several outputs: its name (as `output` or --outputs gave it, else its layer's), the layer that makes it, its shape. */
export interface ReportOutput {
  readonly name: string;
  readonly layer: string;
  readonly shape: Shape;
}

export interface Report {
  readonly mnc: string;
  readonly network: string;
  readonly alpha: number;
  readonly resolution: readonly [number, number];
  readonly input: Shape;
  /** The output's shape; with several outputs, the first's. */
  readonly output: Shape;
  /** Every output, in order; present only when the network has several. */
  readonly outputs?: readonly ReportOutput[];
  readonly convention: readonly string[];
  readonly totals: {
    readonly multAdds: number;
    readonly flops: number;
    /** Mult-adds of the squeeze-and-excitation convolutions (included in multAdds). */
    readonly seMultAdds: number;
    /** Weights + biases of the squeeze-and-excitation convolutions (included in params). */
    readonly seParams: number;
    readonly elementwise: number;
    readonly weights: number;
    readonly biases: number;
    readonly params: number;
    readonly bnParams: number;
    /** params + γ, β: what torchvision counts (equal to kerasTrainable). */
    readonly torchvisionParams: number;
    readonly kerasTotal: number;
    readonly kerasTrainable: number;
    readonly kerasNonTrainable: number;
    readonly deployedParams: number;
    readonly weightBytesFloat32: number;
    readonly weightBytesInt8: number;
    readonly peakActivationBytes: number;
    /** The layer at which the peak occurs. */
    readonly peakActivationLayer: string;
    /** The tensors (layer outputs) live at the peak, in network order. */
    readonly peakActivationLive: readonly string[];
  };
  /** Table 2's rows; the elementwise row only when the network has add or mul layers. */
  readonly byType: readonly TypeRow[];
  readonly layers: readonly ReportLayer[];
  /** int8 weight and activation memory: for a quantized graph, and for a float one when asked (`--int8`). */
  readonly int8?: Int8Memory;
}

const TYPE_LABELS: Record<Exclude<CostCategory, "none">, string> = {
  conv1x1: "Conv 1x1",
  depthwise: "Conv DW",
  conv: "Conv (full, not 1x1)",
  fc: "Fully connected",
  elementwise: "Elementwise (add, mul)",
};

/**
 * Whether a width multiplier passes through a layer unchanged to the next
 * (its output has its first input's channels), for a depthwise layer's width.
 */
const KEEPS_CHANNELS: Readonly<Record<Node["op"], boolean>> = {
  input: false,
  conv: false,
  depthwise: true,
  avgpool: true,
  maxpool: true,
  fc: false,
  softmax: true,
  dropout: true,
  add: true,
  mul: true,
  deconv: false,
  concat: false,
  resize: true,
  activation: true,
  argmax: false,
};

const elements = (s: Shape | undefined): number => (s === undefined ? 0 : s[0] * s[1] * s[2]);

/** A weighted layer's int8 bytes: its stored integers when it has them, else what per-channel 8-bit quantization would store. */
function int8Weights(n: Node, l: CostAnalysis["layers"][number]): Pick<Int8Layer, "kernelBytes" | "biasBytes" | "quantBytes"> {
  const q = "weights" in n ? n.weights?.quantized : undefined;
  if (q !== undefined) return { kernelBytes: q.kernel.data.length * INT8, biasBytes: (q.bias?.length ?? 0) * INT32, quantBytes: q.kernelQuant.scale.length * QUANT_PARAM_BYTES };
  if (l.weights === 0) return { kernelBytes: 0, biasBytes: 0, quantBytes: 0 };
  // After batch-norm fusion every normalised channel has a bias; one scale and zero point per output channel.
  return { kernelBytes: l.weights * INT8, biasBytes: (l.biases + l.bnParams / 4) * INT32, quantBytes: l.outputShape[2] * QUANT_PARAM_BYTES };
}

export function buildReport(graph: Graph, costs: CostAnalysis, options: ReportOptions = {}): Report {
  const quantized = graph.nodes.some((n) => n.quant !== undefined);
  const withInt8 = quantized || options.int8 === true;
  const roles = seRoles(graph);
  const features = graphFeatures(graph, roles);
  // The multiplier behind each tensor's channels: set by a `filters` convolution, carried by channel-keeping layers.
  const channelWidth = new Map<string, number | null>();
  const live = liveness(graph);
  const shapes = new Map(graph.nodes.map((n) => [n.id, n.shape]));
  const shapeOf = (id: string): Shape => {
    const s = shapes.get(id);
    if (s === undefined) throw new InternalError(`report: '${id}' has no shape`);
    return s;
  };
  const tensorBytes = (id: string): number => elements(shapeOf(id)) * FLOAT32;
  const layers: ReportLayer[] = costs.layers.map((l, step) => {
    const n = l.node;
    if (graph.nodes[step]?.id !== n.id) throw new InternalError(`report: the cost analysis is not of this graph ('${n.id}' at step ${step})`);
    let width: number | null = null;
    let ratio: ReportLayer["ratio"] = null;
    if (n.op === "conv" || n.op === "deconv") {
      if (n.attrs.size.kind === "filters") width = effectiveWidth(graph.alpha, n.attrs.size);
      else ratio = { num: n.attrs.size.ratio.num, den: n.attrs.size.ratio.den };
    } else if (n.op === "depthwise") width = channelWidth.get(n.inputs[0] ?? "") ?? null;
    channelWidth.set(n.id, KEEPS_CHANNELS[n.op] ? (channelWidth.get(n.inputs[0] ?? "") ?? null) : width);
    const role = roles.get(n.id);
    // The graph's node, not the cost analysis' (which is of the graph before weights): a quantized layer's integers are on it.
    const int8 = withInt8 ? int8Weights(graph.nodes[step]!, l) : undefined;
    return {
      name: n.id,
      op: n.op,
      inputs: n.inputs,
      layer: describeLayer(n, role),
      type: l.category,
      se: role !== undefined,
      inputShape: l.inputShape ?? null,
      outputShape: l.outputShape,
      width: width === null ? null : Number(formatNumber(width)),
      ratio,
      multAdds: l.multAdds,
      elementwise: l.elementwise,
      weights: l.weights,
      biases: l.biases,
      params: l.params,
      bnParams: l.bnParams,
      activationBytes: elements(l.outputShape) * FLOAT32,
      liveBytes: live.live[step]!.reduce((sum, id) => sum + tensorBytes(id), 0),
      line: n.span.line,
      ...(int8 === undefined
        ? {}
        : {
            int8: {
              ...int8,
              weightBytes: int8.kernelBytes + int8.biasBytes + int8.quantBytes,
              activationBytes: elements(l.outputShape) * INT8,
              liveBytes: live.live[step]!.reduce((sum, id) => sum + elements(shapeOf(id)) * INT8, 0),
            },
          }),
    };
  });
  const t = costs.totals;
  const fusedBiases = t.bnParams / 4;
  const deployedBiases = t.biases + fusedBiases;
  const peak = peakLive(graph, tensorBytes, live);
  const byType = (Object.keys(TYPE_LABELS) as (keyof typeof TYPE_LABELS)[])
    .filter((type) => type !== "elementwise" || layers.some((l) => l.type === type))
    .map((type): TypeRow => {
      const c = costs.byCategory[type];
      return {
        type,
        label: type === "elementwise" ? elementwiseLabel(features) : TYPE_LABELS[type],
        multAdds: c.multAdds,
        elementwise: c.elementwise,
        weights: c.weights,
        multAddsShare: t.multAdds === 0 ? 0 : (100 * c.multAdds) / t.multAdds,
        weightsShare: t.weights === 0 ? 0 : (100 * c.weights) / t.weights,
      };
    });
  const se = layers.filter((l) => l.se);
  const input = graph.nodes[0]!.shape!;
  const int8Peak = withInt8 ? peakLive(graph, (id) => elements(shapeOf(id)) * INT8, live) : undefined;
  const int8Sum = (key: "kernelBytes" | "biasBytes" | "quantBytes"): number => layers.reduce((sum, l) => sum + (l.int8?.[key] ?? 0), 0);
  return {
    mnc: VERSION,
    network: graph.name,
    alpha: graph.alpha,
    resolution: [input[0], input[1]],
    input,
    output: shapeOf(graph.outputs[0]!),
    ...(graph.outputs.length > 1 ? { outputs: graph.outputs.map((id, i) => ({ name: graph.outputNames?.[i] ?? id, layer: id, shape: shapeOf(id) })) } : {}),
    convention: [...CONVENTION, ...GRAPH_CONVENTION.filter((c) => c.has(features)).map((c) => c.text), ...(withInt8 ? [INT8_MEMORY[quantized ? "quantized" : "estimate"]] : [])],
    totals: {
      multAdds: t.multAdds,
      flops: 2 * t.multAdds,
      seMultAdds: se.reduce((sum, l) => sum + l.multAdds, 0),
      seParams: se.reduce((sum, l) => sum + l.params, 0),
      elementwise: t.elementwise,
      weights: t.weights,
      biases: t.biases,
      params: t.params,
      bnParams: t.bnParams,
      torchvisionParams: t.params + t.bnParams / 2,
      kerasTotal: t.params + t.bnParams,
      kerasTrainable: t.params + t.bnParams / 2,
      kerasNonTrainable: t.bnParams / 2,
      deployedParams: t.weights + deployedBiases,
      weightBytesFloat32: (t.weights + deployedBiases) * FLOAT32,
      weightBytesInt8: t.weights + deployedBiases * 4,
      peakActivationBytes: peak.bytes,
      peakActivationLayer: graph.nodes[peak.step]!.id,
      peakActivationLive: live.live[peak.step]!,
    },
    byType,
    layers,
    ...(int8Peak === undefined
      ? {}
      : {
          int8: {
            basis: quantized ? "quantized" : "estimate",
            kernelBytes: int8Sum("kernelBytes"),
            biasBytes: int8Sum("biasBytes"),
            quantBytes: int8Sum("quantBytes"),
            weightBytes: int8Sum("kernelBytes") + int8Sum("biasBytes") + int8Sum("quantBytes"),
            peakActivationBytes: int8Peak.bytes,
            peakActivationLayer: graph.nodes[int8Peak.step]!.id,
            peakActivationLive: live.live[int8Peak.step]!,
          },
        }),
  };
}

/**
 * The squeeze-and-excitation blocks, found by their structure rather than their
 * names: a `mul` of a tensor x by a 1×1×C gate that is computed from x itself —
 * walking back from the gate, every layer makes a 1×1 map until the walk
 * reaches x (through a global pool). Those layers (pool, squeeze, excite) are
 * its parts; the convolution that makes the gate is the excite, the others the
 * squeeze. A gate computed from another tensor (LR-ASPP's pooled branch, a
 * decoder's gate on a skip computed from the sum) is not an SE block: the walk
 * leaves the 1×1 maps before it meets x.
 */
export function seRoles(graph: Graph): ReadonlyMap<string, SeRole> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const roles = new Map<string, SeRole>();
  const oneByOne = (n: Node | undefined): boolean => n?.shape !== undefined && n.shape[0] === 1 && n.shape[1] === 1;
  for (const m of graph.nodes) {
    if (m.op !== "mul") continue;
    const [x, gate] = m.inputs;
    const g = byId.get(gate ?? "");
    if (x === undefined || g === undefined || !oneByOne(g)) continue;
    // Walk back from the gate through 1×1 maps; every way out of them must be x.
    const parts = new Set<string>();
    const stack = [g.id];
    let closed = true;
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (id === x || parts.has(id)) continue;
      const n = byId.get(id)!;
      if (n.inputs.length === 0 || !oneByOne(n)) {
        closed = false;
        break;
      }
      parts.add(id);
      stack.push(...n.inputs);
    }
    if (!closed) continue;
    roles.set(m.id, "scale");
    for (const id of parts) {
      const n = byId.get(id)!;
      roles.set(id, n.op === "conv" ? (id === g.id ? "excite" : "squeeze") : "pool");
    }
  }
  return roles;
}

/** `conv 3x3/2`, `dw 3x3`, `pw`, `avgpool global`, `fc`, …; an SE part says which: `pw (SE squeeze)`, `mul (SE scale)`. */
export function describeLayer(n: Node, role?: SeRole): string {
  const base = describeOp(n);
  if (role === undefined) return base;
  return role === "pool" ? `${base} (SE)` : `${base} (SE ${role})`;
}

function describeOp(n: Node): string {
  switch (n.op) {
    case "input":
      return "input";
    case "conv":
      return n.attrs.kernel[0] === 1 && n.attrs.kernel[1] === 1 ? `pw${formatStride(n.attrs.stride)}` : `conv ${n.attrs.kernel.join("x")}${formatStride(n.attrs.stride)}${formatDilation(n.attrs.dilation)}`;
    case "depthwise":
      return `dw ${n.attrs.kernel.join("x")}${formatStride(n.attrs.stride)}${formatDilation(n.attrs.dilation)}`;
    case "avgpool":
    case "maxpool": {
      const a = n.attrs;
      if (a.kernel === "global") return `${n.op} global`;
      return `${n.op} ${a.kernel.join("x")}${formatStride(a.stride === "kernel" ? a.kernel : a.stride)}`;
    }
    case "fc":
      return "fc";
    case "softmax":
      return "softmax";
    case "dropout":
      return "dropout";
    case "add":
      return n.origin === "add" ? "add" : "add (residual)";
    case "mul":
      return "mul";
    case "deconv":
      return `deconv ${n.attrs.kernel.join("x")}${formatStride(n.attrs.stride)}`;
    case "concat":
      return "concat";
    case "resize":
      return `resize ${n.attrs.mode}`;
    case "activation":
      return n.attrs.act;
    case "argmax":
      return "argmax";
  }
}
