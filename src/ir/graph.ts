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

export type Activation = "relu" | "relu6" | "linear";
export type Norm = "batchnorm" | "none";
export type Padding = "same" | "valid";

export const ACTIVATIONS: readonly Activation[] = ["relu", "relu6", "linear"];
export const NORMS: readonly Norm[] = ["batchnorm", "none"];
export const PADDINGS: readonly Padding[] = ["same", "valid"];

/** How a width multiplier applies to one layer. */
export interface WidthRule {
  /** Product of the enclosing `width A { … }` regions and the layer's own `width=` option. */
  readonly scale: number;
  /** `width=fixed`: the network's α does not apply (regions and scale still do not). */
  readonly fixed: boolean;
}

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
 *   fc         kernel [out, in]           in = C·H·W, flattened channel-major as ONNX Flatten does on NCHW
 *
 * `bias` [out] exists when the layer has one (norm=none, or after fusion);
 * `bn` exists exactly when the node's norm is batchnorm.
 */
export interface LayerWeights {
  readonly kernel: Tensor;
  readonly bias?: Tensor;
  readonly bn?: BatchNormWeights;
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
}

export interface InputNode extends NodeBase {
  readonly op: "input";
  readonly attrs: {
    /** The shape as written in the source. */
    readonly declared: Shape;
    /** The shape after the resolution pass (equal to `declared` before it). */
    readonly size: Shape;
  };
}

export interface ConvNode extends NodeBase {
  readonly op: "conv";
  /** Set by init-weights or import-weights. */
  readonly weights?: LayerWeights;
  readonly attrs: {
    readonly kernel: Pair;
    readonly stride: Pair;
    readonly padding: Padding;
    /** Filters as written, before the width multiplier. */
    readonly filters: number;
    /** Output channels after the width multiplier (== filters before scale-width). */
    readonly channels: number;
    readonly width: WidthRule;
    readonly norm: Norm;
    readonly act: Activation;
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

/** Nodes that carry tensors. */
export type WeightedNode = ConvNode | DepthwiseNode | FcNode;

export function isWeighted(node: Node): node is WeightedNode {
  return node.op === "conv" || node.op === "depthwise" || node.op === "fc";
}

export type Node = InputNode | ConvNode | DepthwiseNode | AvgPoolNode | MaxPoolNode | FcNode | SoftmaxNode | DropoutNode;
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
  /** Where α came from, for messages. */
  readonly alphaSpan?: Span;
  /** Resolved network parameters, in declaration order. */
  readonly params: readonly { readonly name: string; readonly value: Value }[];
  readonly nodes: readonly Node[];
}

export function formatShape(s: Shape): string {
  return `${s[0]}x${s[1]}x${s[2]}`;
}

export function formatPair(p: Pair): string {
  return `${p[0]}x${p[1]}`;
}
