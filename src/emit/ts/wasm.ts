/**
 * One weights file for both kernel sets of a generated module.
 *
 * The file holds the WebAssembly kernels' packed weights region
 * (src/emit/wasm: GEMM panels with the bias first, channels padded to 4 —
 * a transposed convolution's too, its reduction index (i·KW + j)·C + c as a
 * convolution's), packed at compile time, so that createModel copies it into
 * WebAssembly memory as it is. The TypeScript kernels read their own packing (4- or
 * 8-wide panels, the bias apart, dense channels); the table built here tells
 * the generated code where each layer's tensors go in the TypeScript memory,
 * and createModel unpacks them once when it picks those kernels. The file is
 * the same with or without `--no-wasm`.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { WasmLayout, WasmStep } from "../wasm/index.js";
import type { DepthwiseWeights, GemmWeights } from "./runtime.js";
import type { PackedTensor } from "./weights-file.js";

/**
 * Map every weighted step of the WebAssembly layout to the tensors the
 * TypeScript emitter packed (`tensors`, offsets in its memory m).
 */
export function weightTable(layout: WasmLayout, tensors: readonly PackedTensor[]): (GemmWeights | DepthwiseWeights)[] {
  const byName = new Map(tensors.map((t) => [t.what, t]));
  const used = new Set<string>();
  const find = (step: WasmStep, part: "kernel" | "bias"): PackedTensor => {
    const t = byName.get(`${step.name} ${part}`);
    if (t === undefined) throw new InternalError(`emit ts: the TypeScript kernels have no ${part} for '${step.name}'`);
    used.add(t.what);
    return t;
  };
  const out: (GemmWeights | DepthwiseWeights)[] = [];
  for (const step of layout.steps) {
    if (step.weights === undefined) continue;
    const kernel = find(step, "kernel");
    const bias = find(step, "bias");
    const at = (step.weights.offset - layout.weights) / 4;
    if (step.kernel === "depthwise") {
      const channels = step.inShape[2];
      const taps = kernel.length / channels;
      if (!Number.isInteger(taps) || bias.length !== channels) throw new InternalError(`emit ts: depthwise '${step.name}' has ${kernel.length} weights for ${channels} channels`);
      out.push({ kind: "depthwise", layer: step.name, at, kernel: kernel.offset, bias: bias.offset, channels, taps });
      continue;
    }
    const n = step.outShape[2];
    const panel = step.weights.panel;
    if (panel === undefined || kernel.panel === undefined) throw new InternalError(`emit ts: '${step.name}' has no panel width`);
    const k = kernel.length / n;
    // fc reads its input as it lies in WebAssembly memory: `inStride` lanes per pixel, `C` of them real.
    const [channels, stride] = step.kernel === "fc" ? [step.inShape[2], step.inStride] : [k, k];
    if (!Number.isInteger(k) || bias.length !== n || k % channels !== 0) throw new InternalError(`emit ts: '${step.name}' has ${kernel.length} weights for ${n} outputs`);
    out.push({ kind: "panels", layer: step.name, at, kernel: kernel.offset, bias: bias.offset, n, k, nr: kernel.panel, panel, channels, stride });
  }
  const orphan = tensors.find((t) => !used.has(t.what));
  if (orphan !== undefined) throw new InternalError(`emit ts: '${orphan.what}' has no place in the weights file`);
  return out;
}
