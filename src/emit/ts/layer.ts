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
import type { Code } from "./code.js";

/** Where one layer works, in floats of the module's memory `m`. */
export interface LayerContext {
  /** The layer's function name (a sanitised IR id). */
  readonly name: string;
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** Offset of the input activation (HWC). */
  readonly x: number;
  /** Offset of the output activation (HWC). */
  readonly y: number;
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
  /** Mult-adds per image, for the doc comment. */
  readonly multAdds: number;
}

export interface OpEmitter<K extends OpKind> {
  /** Floats of scratch memory the layer needs (0 for most). */
  scratch(node: NodeOf<K>, inShape: Shape, outShape: Shape): number;
  /**
   * The layer's code; `null` for a layer that runs no code: `input` (run()
   * copies the input in) and `dropout` (identity: its output is its input's
   * buffer).
   */
  emit(node: NodeOf<K>, ctx: LayerContext): LayerCode | null;
}

/** An activation applied to a JS expression that is a plain variable (evaluated more than once). */
export function activate(act: Activation, v: string): string {
  switch (act) {
    case "relu":
      return `${v} > 0 ? ${v} : 0`;
    case "relu6":
      return `${v} > 0 ? (${v} < 6 ? ${v} : 6) : 0`;
    case "linear":
      return v;
  }
}

/** The node's kernel (its shape is what the emitter checks; its values go to the weights file). */
export function kernelOf(node: NodeOf<"conv" | "depthwise" | "fc">): Tensor {
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

export function padsOf(node: NodeOf<"conv" | "depthwise" | "avgpool" | "maxpool">): readonly [number, number, number, number] {
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
