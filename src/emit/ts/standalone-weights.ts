/**
 * The weights file of a module that carries the TypeScript kernels alone
 * because the WebAssembly planner (src/emit/wasm) cannot lay out its network:
 * today, a network with `add` or `mul` nodes (residual connections,
 * squeeze-and-excitation), until the WebAssembly kernels implement them.
 *
 * It is the same format as the WebAssembly weights region (wasm.ts): every
 * weighted layer in graph order, packed by src/emit/wasm's own packing
 * functions (GEMM panels with the bias first, here 4 channels wide; depthwise
 * [bias][taps] in rows of roundUp4(C)), each tensor aligned to 16 floats. So
 * the generated module unpacks it with the same code and the same per-layer
 * table; only the table's numbers differ.
 */
import { InternalError } from "../../ir/diagnostics.js";
import { isWeighted, type Graph, type Shape } from "../../ir/graph.js";
import { fold } from "../../passes/fuse-batch-norm.js";
import { packConv, packDepthwise, packFc } from "../wasm/index.js";
import type { DepthwiseWeights, GemmWeights } from "./runtime.js";
import { alignUp, type PackedTensor } from "./weights-file.js";

/** Output channels per GEMM panel in this file (the WebAssembly packing's nv = 1). */
const PANEL = 4;

export interface StandaloneWeights {
  /** The file's floats (after its header). */
  readonly floats: Float32Array;
  /** Where each layer's tensors lie in the file and in the TypeScript kernels' memory. */
  readonly table: readonly (GemmWeights | DepthwiseWeights)[];
  /** Per weighted layer: [name, kind, byte offset, floats, panel width], for the layout fingerprint. */
  readonly tensors: readonly (readonly [string, string, number, number, number])[];
}

/** Lay out and pack the weights of every weighted layer; `tensors` are the TypeScript kernels' places for them. */
export function standaloneWeights(graph: Graph, tensors: readonly PackedTensor[]): StandaloneWeights {
  const byName = new Map(tensors.map((t) => [t.what, t]));
  const shapes = new Map(graph.nodes.map((n) => [n.id, n.shape]));
  const shapeOf = (id: string): Shape => {
    const s = shapes.get(id);
    if (s === undefined) throw new InternalError(`emit ts: '${id}' has no shape (run infer-shapes first)`);
    return s;
  };
  const used = new Set<string>();
  const find = (layer: string, part: "kernel" | "bias"): PackedTensor => {
    const t = byName.get(`${layer} ${part}`);
    if (t === undefined) throw new InternalError(`emit ts: the TypeScript kernels have no ${part} for '${layer}'`);
    used.add(t.what);
    return t;
  };
  const parts: { at: number; data: Float32Array }[] = [];
  const table: (GemmWeights | DepthwiseWeights)[] = [];
  const printed: [string, string, number, number, number][] = [];
  let end = 0;
  for (const node of graph.nodes) {
    if (!isWeighted(node)) continue;
    if (node.weights === undefined) throw new InternalError(`emit ts: '${node.id}' has no weights`);
    const w = node.weights.bn === undefined ? node.weights : fold(node.weights);
    const [H, W, C] = shapeOf(node.inputs[0]!);
    const kernel = find(node.id, "kernel");
    const bias = find(node.id, "bias");
    const at = end;
    let data: Float32Array;
    if (node.op === "depthwise") {
      const [KH, KW] = node.attrs.kernel;
      data = packDepthwise(w.kernel.data, C, [KH, KW], w.bias?.data);
      table.push({ kind: "depthwise", layer: node.id, at, kernel: kernel.offset, bias: bias.offset, channels: C, taps: KH * KW });
    } else {
      const n = node.op === "fc" ? node.attrs.units : shapeOf(node.id)[2];
      const k = node.op === "fc" ? H * W * C : node.attrs.kernel[0] * node.attrs.kernel[1] * C;
      data = node.op === "fc" ? packFc(w.kernel.data, n, [H, W, C], C, w.bias?.data, 1) : packConv(w.kernel.data, n, C, node.attrs.kernel, w.bias?.data, 1);
      if (kernel.panel === undefined) throw new InternalError(`emit ts: '${node.id}' has no panel width`);
      // fc reads its input as it lies in the TypeScript memory: C lanes per pixel, all real.
      table.push({ kind: "panels", layer: node.id, at, kernel: kernel.offset, bias: bias.offset, n, k, nr: kernel.panel, panel: PANEL, channels: node.op === "fc" ? C : k, stride: node.op === "fc" ? C : k });
    }
    parts.push({ at, data });
    printed.push([node.id, node.op, 4 * at, data.length, node.op === "depthwise" ? 0 : PANEL]);
    end = alignUp(at + data.length);
  }
  const orphan = tensors.find((t) => !used.has(t.what));
  if (orphan !== undefined) throw new InternalError(`emit ts: '${orphan.what}' has no place in the weights file`);
  const floats = new Float32Array(end);
  for (const p of parts) floats.set(p.data, p.at);
  return { floats, table, tensors: printed };
}
