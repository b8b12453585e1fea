/**
 * The IR: a flat, immutable graph of layers in topological order.
 *
 * A node is one layer as a deployment runtime sees it: a convolution carries its
 * batch-norm and activation as attributes (norm, act), the way TF-Slim's conv2d
 * does, so that a report row, a weight name and an ONNX node group all share one
 * stable id (`conv_0`, `sep_3.dw`, `sep_3.pw`, `fc_14`). Passes never mutate a
 * graph; they build a new one.
 */
import type { Span } from "./span.js";

/** [H, W, C] — an activation's height, width and channels (batch excluded). */
export type Shape = readonly [h: number, w: number, c: number];
/** [height, width] of a kernel or stride. */
export type Pair = readonly [number, number];
/** Explicit zero padding [top, left, bottom, right], as ONNX orders `pads` for 2-D. */
export type Pads = readonly [top: number, left: number, bottom: number, right: number];

/**
 * What follows a convolution's batch-norm:
 *   relu      max(0, x)
 *   relu6     min(max(0, x), 6)
 *   linear    x
 *   hswish    x · relu6(x + 3) / 6          (MobileNetV3's h-swish)
 *   hsigmoid  relu6(x + 3) / 6              (MobileNetV3's hard sigmoid, the SE gate)
 *   sigmoid   1 / (1 + e^−x)
 * Every target dispatches on it through a `Record<Activation, …>` table.
 */
export type Activation = "relu" | "relu6" | "linear" | "hswish" | "hsigmoid" | "sigmoid";
export type Norm = "batchnorm" | "none";
export type Padding = "same" | "valid";
/** How α rounds a layer's channels: Keras' floor, TF-Slim's floor with a minimum of 8, or MobileNetV2's make_divisible(v, 8). */
export type WidthRounding = "floor" | "min8" | "div8";

/** Every activation, in the order messages list them (a Record so that adding one is a compile error until it is listed). */
const ACTIVATION_SET: Readonly<Record<Activation, true>> = { relu: true, relu6: true, linear: true, hswish: true, hsigmoid: true, sigmoid: true };
export const ACTIVATIONS = Object.keys(ACTIVATION_SET) as readonly Activation[];
const ROUNDING_SET: Readonly<Record<WidthRounding, true>> = { floor: true, min8: true, div8: true };
export const WIDTH_ROUNDINGS = Object.keys(ROUNDING_SET) as readonly WidthRounding[];
export const NORMS: readonly Norm[] = ["batchnorm", "none"];
export const PADDINGS: readonly Padding[] = ["same", "valid"];

/**
 * How the network's α applies to one layer: `scaled` (the default) multiplies
 * by α, `fixed` (`width=fixed`) not at all, `grow` (`width=grow`) by max(α, 1).
 */
export type AlphaMode = "scaled" | "fixed" | "grow";

/** How a width multiplier applies to one layer. */
export interface WidthRule {
  /** Product of the enclosing `width A { … }` regions and the layer's own numeric `width=` option. */
  readonly scale: number;
  readonly alpha: AlphaMode;
}

/** An exact fraction num/den (den > 0), so that `expand=88/24` on 24 channels is 88, not 87.99…. */
export interface Ratio {
  readonly num: number;
  readonly den: number;
}

/**
 * Where a convolution's output channel count comes from; scale-width resolves
 * it into `channels`.
 *
 *   filters  `conv KxK N`, `pw N`: N times the layer's multiplier, rounded by the network's rule
 *   ratio    a multiple of another tensor's channels, taken after α: a bottleneck's
 *            expansion (T × its input), an SE squeeze (R × the SE's input), both
 *            rounded by the network's rule; an SE excite (1 × the SE's input, exact)
 */
export type ChannelRule =
  | { readonly kind: "filters"; readonly filters: number; readonly width: WidthRule }
  | { readonly kind: "ratio"; readonly of: string; readonly ratio: Ratio; readonly role: RatioRole };

/** What a ratio width is for: an expansion and an SE squeeze round by the network's rule; an SE excite is exact. */
export type RatioRole = "expand" | "squeeze" | "excite";

/** A float32 tensor in row-major order. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Batch-norm parameters of one layer: y = γ·(x − mean)/√(variance + ε) + β, per channel. */
export interface BatchNormWeights {
  readonly gamma: Tensor;
  readonly beta: Tensor;
  readonly mean: Tensor;
  readonly variance: Tensor;
  readonly epsilon: number;
}

/**
 * The trained (or seeded) tensors of a conv, depthwise or fc node, in ONNX's
 * layouts, converted once at import:
 *
 *   conv       kernel [out, in, kh, kw]   (OIHW)
 *   depthwise  kernel [C, 1, kh, kw]      (ONNX Conv with group = C)
 *   deconv     kernel [in, out, kh, kw]   (ONNX ConvTranspose)
 *   fc         kernel [out, in]           in = C·H·W, flattened channel-major as ONNX Flatten does on NCHW
 *
 * `bias` [out] exists when the layer has one (norm=none, or after fusion);
 * `bn` exists exactly when the node's norm is batchnorm.
 */
export interface LayerWeights {
  readonly kernel: Tensor;
  readonly bias?: Tensor;
  readonly bn?: BatchNormWeights;
  /** The stored integers of a quantized layer (`quantized: true` imports); `kernel` and `bias` are then their dequantized values. */
  readonly quantized?: QuantizedWeights;
}

/** The integer types a quantized tensor is stored in. */
export type QuantizedType = "uint8" | "int8";

/** The stored range of each quantized type. */
export const QUANTIZED_RANGE: Readonly<Record<QuantizedType, readonly [number, number]>> = { uint8: [0, 255], int8: [-128, 127] };

/**
 * Affine quantization of a tensor: real = scale · (q − zeroPoint), q an
 * integer of `type`'s range. Per-tensor: one scale and one zero point.
 * Per-channel (weights only): one of each per index of axis 0 of the kernel
 * in mnc's layout (a conv's output channel in OIHW, a depthwise kernel's
 * channel in C1HW, an fc's output in [out, in]).
 */
export interface Quantization {
  readonly type: QuantizedType;
  /** Every scale is finite and > 0. */
  readonly scale: readonly number[];
  /** As many as the scales, each within the type's range. */
  readonly zeroPoint: readonly number[];
}

/**
 * A quantized layer's tensors as stored, in the same layouts as
 * LayerWeights' float ones:
 *
 *   kernel  the stored integers, quantized by `kernelQuant`
 *   bias    int32, real = bias · s_input · s_kernel[c] (zero point 0)
 *
 * The integer reference (ir/reference-int.ts) computes
 * Σ (x − x_zp)(w − w_zp) + bias in int32 and requantizes it into the node's
 * output quantization (`Node.quant`).
 */
export interface QuantizedWeights {
  readonly kernel: { readonly shape: readonly number[]; readonly data: Int32Array };
  readonly kernelQuant: Quantization;
  readonly bias?: Int32Array;
  /**
   * A layer whose activation is not a clamp (hswish, hsigmoid, sigmoid):
   * the quantization of its linear output. The layer requantizes its
   * accumulator into `linear`, then looks the result up in
   * activationTable(act, linear, node.quant) (ir/reference-int.ts). Absent
   * for linear, relu and relu6, which clamp the requantized value.
   */
  readonly linear?: Quantization;
}

interface NodeBase {
  /** Stable, source-derived name: ONNX node name, weight-name prefix, report row. */
  readonly id: string;
  /** Ids of the nodes this one reads (earlier in the graph). */
  readonly inputs: readonly string[];
  /** The statement that produced the node. */
  readonly span: Span;
  /** The `.mn` op or block statement the node came from (`separable`, `dws`, …). */
  readonly origin: string;
  /** Output shape; set by infer-shapes, absent before it. */
  readonly shape?: Shape;
  /**
   * The quantization of the node's output (an activation: per-tensor), set
   * when a quantized model is imported with `quantized: true`; absent on
   * every float graph.
   */
  readonly quant?: Quantization;
}

export interface InputNode extends NodeBase {
  readonly op: "input";
  readonly attrs: {
    /** The shape as written in the source. */
    readonly declared: Shape;
    /** The shape after the resolution pass (equal to `declared` before it). */
    readonly size: Shape;
    /** `mean=M std=S`: the network expects (pixel − M) / S; absent when not declared. */
    readonly normalisation?: InputNormalisation;
  };
}

/** An input's declared normalisation, the same for every channel. */
export interface InputNormalisation {
  readonly mean: number;
  readonly std: number;
}

export interface ConvNode extends NodeBase {
  readonly op: "conv";
  /** Set by init-weights or import-weights. */
  readonly weights?: LayerWeights;
  readonly attrs: {
    readonly kernel: Pair;
    readonly stride: Pair;
    readonly padding: Padding;
    /** How the output channels are set. */
    readonly size: ChannelRule;
    /** Output channels, set by scale-width (before it: the filters as written, or 0 for a ratio). */
    readonly channels: number;
    readonly norm: Norm;
    readonly act: Activation;
    /** `dilation=D`: the kernel's taps D apart (atrous convolution); absent means 1×1. */
    readonly dilation?: Pair;
    /** Explicit pads; set by infer-shapes. */
    readonly pads?: Pads;
  };
}

export interface DepthwiseNode extends NodeBase {
  readonly op: "depthwise";
  readonly weights?: LayerWeights;
  readonly attrs: {
    readonly kernel: Pair;
    readonly stride: Pair;
    readonly padding: Padding;
    readonly norm: Norm;
    readonly act: Activation;
    /** `dilation=D`; absent means 1×1. */
    readonly dilation?: Pair;
    readonly pads?: Pads;
  };
}

/**
 * `deconv KxK N stride=S` — a transposed convolution: every input cell
 * scatters K·K·N products into the output, out = in·s (pad=same, K ≥ s) or
 * (in − 1)·s + K (pad=valid). Its epilogue is a conv's (bias, bn, act).
 * Weights in ONNX ConvTranspose's layout [in, out, kh, kw].
 */
export interface DeconvNode extends NodeBase {
  readonly op: "deconv";
  readonly weights?: LayerWeights;
  readonly attrs: {
    readonly kernel: Pair;
    readonly stride: Pair;
    readonly padding: Padding;
    readonly size: ChannelRule;
    readonly channels: number;
    readonly norm: Norm;
    readonly act: Activation;
    /** The cropping [top, left, bottom, right] of the full (in − 1)·s + K output; set by infer-shapes. */
    readonly pads?: Pads;
  };
}

export interface PoolNode<K extends "avgpool" | "maxpool"> extends NodeBase {
  readonly op: K;
  readonly attrs: {
    /** The window, or "global" for the whole input. */
    readonly kernel: Pair | "global";
    readonly stride: Pair | "kernel";
    readonly padding: Padding;
    readonly pads?: Pads;
  };
}
export type AvgPoolNode = PoolNode<"avgpool">;
export type MaxPoolNode = PoolNode<"maxpool">;

export interface FcNode extends NodeBase {
  readonly op: "fc";
  readonly weights?: LayerWeights;
  readonly attrs: { readonly units: number };
}

export interface SoftmaxNode extends NodeBase {
  readonly op: "softmax";
  readonly attrs: Record<string, never>;
}

export interface DropoutNode extends NodeBase {
  readonly op: "dropout";
  readonly attrs: { readonly rate: number };
}

/**
 * `inputs[0] + inputs[1]`, elementwise: a residual connection or a skip; the
 * second operand may be 1×1×C, broadcast over H and W (infer-shapes puts a
 * broadcast operand second).
 * `when: "channels-match"` is a bottleneck's add before scale-width knows
 * whether its input and output widths agree; scale-width keeps it (as
 * `always`) or removes it. After scale-width every add is `always`.
 */
export interface AddNode extends NodeBase {
  readonly op: "add";
  readonly attrs: { readonly when: "always" | "channels-match" };
}

/**
 * `inputs[0] · inputs[1]`, where inputs[1] is either the same shape or
 * 1×1×C, broadcast over H and W (squeeze-and-excitation's channel scaling).
 */
export interface MulNode extends NodeBase {
  readonly op: "mul";
  readonly attrs: Record<string, never>;
}

/** `concat a b …` — the inputs joined along channels, in order; H and W must agree. */
export interface ConcatNode extends NodeBase {
  readonly op: "concat";
  readonly attrs: Record<string, never>;
}

/**
 * Where a resize samples its input, per axis, for output index o (in → out):
 *   align_corners  src = o·(in − 1)/(out − 1)      (TF align_corners=True; DeepLab)
 *   half_pixel     src = (o + ½)·in/out − ½         (TF half_pixel_centers, Keras, PyTorch align_corners=False)
 *   asymmetric     src = o·in/out                   (TF's default, ONNX `asymmetric`)
 * Bilinear clamps src to [0, in − 1] and blends the two neighbours; nearest
 * takes floor(src) (asymmetric) or, for half_pixel, floor((o + ½)·in/out).
 */
export type ResizeCoords = "align_corners" | "half_pixel" | "asymmetric";
export type ResizeMode = "bilinear" | "nearest";
const COORDS_SET: Readonly<Record<ResizeCoords, true>> = { align_corners: true, half_pixel: true, asymmetric: true };
export const RESIZE_COORDS = Object.keys(COORDS_SET) as readonly ResizeCoords[];
const MODE_SET: Readonly<Record<ResizeMode, true>> = { bilinear: true, nearest: true };
export const RESIZE_MODES = Object.keys(MODE_SET) as readonly ResizeMode[];

/** How a resize's output size is set: a factor of its input's, or the size of another tensor. */
export type ResizeTarget = { readonly kind: "scale"; readonly factor: Pair } | { readonly kind: "like"; readonly of: string; readonly name: string };

/** `resize scale=F` / `resize to=NAME` — spatial resampling; channels unchanged. */
export interface ResizeNode extends NodeBase {
  readonly op: "resize";
  readonly attrs: { readonly mode: ResizeMode; readonly coords: ResizeCoords; readonly target: ResizeTarget };
}

/** `sigmoid`, `relu`, `hswish`, … as a statement of its own: an activation applied elementwise. */
export interface ActivationNode extends NodeBase {
  readonly op: "activation";
  readonly attrs: { readonly act: Activation };
}

/** `argmax` — at each (h, w), the index of the largest channel (the first on ties), as a float: H×W×1. */
export interface ArgmaxNode extends NodeBase {
  readonly op: "argmax";
  readonly attrs: Record<string, never>;
}

/** Nodes that carry tensors. */
export type WeightedNode = ConvNode | DepthwiseNode | DeconvNode | FcNode;

export function isWeighted(node: Node): node is WeightedNode {
  return node.op === "conv" || node.op === "depthwise" || node.op === "deconv" || node.op === "fc";
}

export type Node =
  | InputNode
  | ConvNode
  | DepthwiseNode
  | DeconvNode
  | AvgPoolNode
  | MaxPoolNode
  | FcNode
  | SoftmaxNode
  | DropoutNode
  | AddNode
  | MulNode
  | ConcatNode
  | ResizeNode
  | ActivationNode
  | ArgmaxNode;
export type OpKind = Node["op"];
export type NodeOf<K extends OpKind> = Extract<Node, { op: K }>;

/** A parameter's value after evaluation. */
export type Value =
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "shape"; readonly dims: readonly number[] }
  | { readonly kind: "word"; readonly word: string };

export interface Graph {
  readonly name: string;
  /** The network declaration. */
  readonly span: Span;
  /** The network-wide width multiplier α (from `width`, or --alpha). */
  readonly alpha: number;
  /** How widths round (`width A rounding=R`; floor when not given). */
  readonly rounding: WidthRounding;
  /** Where α came from, for messages. */
  readonly alphaSpan?: Span;
  /** Resolved network parameters, in declaration order. */
  readonly params: readonly { readonly name: string; readonly value: Value }[];
  /** Nodes in topological order: every node's inputs come before it. */
  readonly nodes: readonly Node[];
  /** The ids of the network's outputs, in order: the last layer, or the tensors an `output` statement names. */
  readonly outputs: readonly string[];
  /**
   * The outputs' names (ONNX output names, the module's result keys), one per
   * output: those of an `output` statement or `--outputs`, or the name the
   * network gave its last layer; absent for a stack whose last layer has none.
   */
  readonly outputNames?: readonly string[];
}

export function formatShape(s: Shape): string {
  return `${s[0]}x${s[1]}x${s[2]}`;
}

export function formatPair(p: Pair): string {
  return `${p[0]}x${p[1]}`;
}
