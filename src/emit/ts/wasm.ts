/**
 * The WebAssembly SIMD kernels inside a generated TypeScript module: the
 * module mnc builds for the network (src/emit/wasm), and the table that
 * tells the generated code where each layer's weights go in its memory.
 *
 * Both kernel sets read one weights file, laid out for the TypeScript
 * kernels (4-wide GEMM panels, bias apart, dense channels). The WebAssembly
 * kernels want their own packing (wider panels with the bias first, channels
 * padded to 4), so createModel repacks each tensor once, driven by the table
 * built here; the file, its fingerprint and `--no-wasm` modules stay the same.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Graph } from "../../ir/graph.js";
import { compileNetworkWasm, type WasmStep } from "../wasm/index.js";
import type { WasmDepthwise, WasmPanels, WasmSpec } from "./runtime.js";
import type { PackedTensor } from "./weights-file.js";

export interface EmbeddedWasm {
  readonly bytes: Uint8Array;
  readonly spec: WasmSpec;
}

/**
 * Compile the network's kernels and map every weighted step to the tensors
 * the TypeScript emitter packed (`tensors`, offsets in m; the weights region
 * starts at `weightsAt`).
 */
export function embedWasm(graph: Graph, tensors: readonly PackedTensor[], weightsAt: number): EmbeddedWasm {
  const { wasm, layout } = compileNetworkWasm(graph, { maxBatch: 1 });
  const byName = new Map(tensors.map((t) => [t.what, t]));
  const find = (step: WasmStep, part: "kernel" | "bias"): PackedTensor => {
    const t = byName.get(`${step.name} ${part}`);
    if (t === undefined) throw new InternalError(`emit ts: the WebAssembly step '${step.name}' has no ${part} in the weights file`);
    return t;
  };
  const out: (WasmPanels | WasmDepthwise)[] = [];
  for (const step of layout.steps) {
    if (step.weights === undefined) continue;
    const kernel = find(step, "kernel");
    const bias = find(step, "bias");
    const at = step.weights.offset / 4;
    const from = { kernel: kernel.offset - weightsAt, bias: bias.offset - weightsAt };
    if (step.kernel === "depthwise") {
      const channels = step.inShape[2];
      const taps = kernel.length / channels;
      if (!Number.isInteger(taps) || bias.length !== channels) throw new InternalError(`emit ts: depthwise '${step.name}' has ${kernel.length} weights for ${channels} channels`);
      out.push({ kind: "depthwise", layer: step.name, at, ...from, channels, taps });
      continue;
    }
    const n = step.outShape[2];
    const panel = step.weights.panel;
    if (panel === undefined || kernel.panel === undefined) throw new InternalError(`emit ts: '${step.name}' has no panel width`);
    const k = kernel.length / n;
    // fc reads its input as it lies in WebAssembly memory: `inStride` lanes per pixel, `C` of them real.
    const [channels, stride] = step.kernel === "fc" ? [step.inShape[2], step.inStride] : [k, k];
    if (!Number.isInteger(k) || bias.length !== n || k % channels !== 0) throw new InternalError(`emit ts: '${step.name}' has ${kernel.length} weights for ${n} outputs`);
    out.push({ kind: "panels", layer: step.name, at, ...from, n, k, nr: kernel.panel, panel, channels, stride });
  }
  return {
    bytes: wasm,
    spec: {
      bytes: wasm.length,
      pages: layout.memoryPages,
      input: layout.input,
      output: layout.output,
      tensors: out,
      steps: layout.steps.map((s) => ({ name: s.name, input: s.input, output: s.output })),
    },
  };
}
