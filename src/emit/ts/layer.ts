/**
 * What every layer emitter receives and returns, and the pieces of generated
 * code they share (activation epilogues, kernel shape checks).
 *
 * The generated module keeps every float in one Float32Array `m` (like a
 * WebAssembly linear memory): the activation buffers, a scratch area, then
 * the weights. A layer function reads and writes `m` at offsets fixed at
 * compile time, which it has inlined as constants, so a kernel touches a
 * single typed array whatever it reads.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Activation, Node, NodeOf, OpKind, Shape, Tensor } from "../../ir/graph.js";
import type { Code, Flavour, NonNull } from "./code.js";

/** A tensor the layer reads: its offset in `m` (HWC) and shape. */
export interface Operand {
  readonly x: number;
  readonly shape: Shape;
}

/** Where one layer works, in floats of the module's memory `m`. */
export interface LayerContext {
  /** The layer's function name (a sanitised IR id). */
  readonly name: string;
  /** The node's first input: its shape and offset (HWC). */
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly x: number;
  /** Every input of the node, in `inputs` order (the first is inShape at x). */
  readonly inputs: readonly Operand[];
  /** Offset of the output activation (HWC). */
  readonly y: number;
  /**
   * Floats from one output pixel to the next, when the layer writes its channels into a wider tensor
   * (a concatenation's buffer; y is then the offset of its first channel there). Absent: the output's
   * channels, densely. Only layers whose op is in STRIDED_OUTPUT get one.
   */
  readonly yStride?: number;
  /**
   * A concatenation's inputs that their producers already wrote into its buffer (in `inputs` order):
   * the layer copies only the others.
   */
  readonly placed?: readonly boolean[];
  /**
   * Fused into a convolution's or depthwise convolution's epilogue: the residual `add` that follows it
   * (its id, and the offset of the other operand, which has the output's shape). The layer then writes
   * act(…) + residual, the add's value, at y.
   */
  readonly residual?: { readonly add: string; readonly x: number };
  /**
   * Fused into a pointwise convolution's packing: the squeeze-and-excitation `mul` before it (its id,
   * and the offset of its [1, 1, C] gate); x is then the mul's first input, each channel scaled by
   * the gate as it is packed.
   */
  readonly scale?: { readonly mul: string; readonly x: number };
  /** "!" after each read of m (the TypeScript module), or "" (the JavaScript one). */
  readonly nonNull: NonNull;
  /** The module's language (for module-level constants with type annotations). */
  readonly flavour: Flavour;
  /** A fresh module-level name from `base` (for the layer's constants), reserved so that nothing else takes it. */
  unique(base: string): string;
  /** Offset of the scratch area (at least `scratch(…)` floats). */
  readonly scratch: number;
  /**
   * Reserve `floats` in the weights region for a tensor (a GEMM kernel with its panel width); returns
   * its offset in `m`. createModel fills it from the weights file.
   */
  place(floats: number, what: string, panel?: number): number;
}

/** One layer's generated function: a one-line summary for its doc comment, extra doc lines, the body. */
export interface LayerCode {
  readonly summary: string;
  readonly doc: readonly string[];
  readonly body: Code;
  /** Module-level constants the body reads (a resize's sampling tables), written before the function. */
  readonly constants?: Code;
  /** Mult-adds per image, for the doc comment. */
  readonly multAdds: number;
}

export interface OpEmitter<K extends OpKind> {
  /** Floats of scratch memory the layer needs (0 for most). */
  scratch(node: NodeOf<K>, inShape: Shape, outShape: Shape): number;
  /**
   * The layer's code; `null` for a layer that runs no code: `input` (run()
   * copies the input in), `dropout` (identity: its output is its input's
   * buffer) and a concatenation whose inputs were all written in place.
   */
  emit(node: NodeOf<K>, ctx: LayerContext): LayerCode | null;
}

/**
 * Every activation as generated code, applied to a plain variable `v` (evaluated more than once), as
 * graph.ts defines it: hswish x·relu6(x + 3)/6 and hsigmoid relu6(x + 3)/6 written with their two
 * clamps as branches. A Record, so that tsc refuses an activation this target forgets.
 */
const ACTIVATE: Readonly<Record<Activation, (v: string) => string>> = {
  relu: (v) => `${v} > 0 ? ${v} : 0`,
  relu6: (v) => `${v} > 0 ? (${v} < 6 ? ${v} : 6) : 0`,
  linear: (v) => v,
  hswish: (v) => `${v} <= -3 ? 0 : ${v} >= 3 ? ${v} : (${v} * (${v} + 3)) / 6`,
  hsigmoid: (v) => `${v} <= -3 ? 0 : ${v} >= 3 ? 1 : (${v} + 3) / 6`,
  sigmoid: (v) => `1 / (1 + Math.exp(-${v}))`,
};

/** An activation applied to a JS expression that is a plain variable (evaluated more than once). */
export function activate(act: Activation, v: string): string {
  return ACTIVATE[act](v);
}

/**
 * The value a fused layer stores: the activation of `v`, plus the residual at `residual` (an index
 * expression into m) when an add is fused into it.
 */
export function activateAndAdd(act: Activation, v: string, residual: string | undefined, nonNull: NonNull): string {
  if (residual === undefined) return activate(act, v);
  return act === "linear" ? `${v} + m[${residual}]${nonNull}` : `(${activate(act, v)}) + m[${residual}]${nonNull}`;
}

/** The node's kernel (its shape is what the emitter checks; its values go to the weights file). */
export function kernelOf(node: NodeOf<"conv" | "depthwise" | "deconv" | "fc">): Tensor {
  if (node.weights === undefined) throw new InternalError(`emit ts: ${node.op} '${node.id}' has no weights`);
  return node.weights.kernel;
}

export function expectKernel(node: Node, t: Tensor, shape: readonly number[]): void {
  const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  const n = shape.reduce((p, d) => p * d, 1);
  if (!same || t.data.length !== n) {
    throw new InternalError(`emit ts: '${node.id}' kernel has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
}

export function padsOf(node: NodeOf<"conv" | "depthwise" | "deconv" | "avgpool" | "maxpool">): readonly [number, number, number, number] {
  const p = node.attrs.pads;
  if (p === undefined) throw new InternalError(`emit ts: '${node.id}' has no pads (run infer-shapes first)`);
  return p;
}

export function size(s: Shape): number {
  return s[0] * s[1] * s[2];
}

/** `act` as it reads in a doc comment. */
export function actName(act: Activation): string {
  return act === "linear" ? "no activation" : act;
}

/**
 * The range of outputs along one axis whose whole window lies inside the
 * input: [lo, hi). Outside it a window reaches into the padding.
 */
export function interior(outSize: number, inSize: number, k: number, stride: number, before: number): readonly [number, number] {
  const lo = Math.min(outSize, Math.ceil(before / stride));
  const hi = Math.max(lo, Math.min(outSize, Math.floor((inSize - k + before) / stride) + 1));
  return [lo, hi];
}
