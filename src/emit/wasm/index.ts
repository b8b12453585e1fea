/**
 * A whole network as one WebAssembly module of SIMD kernels that mnc
 * generates itself (writer.ts, kernels.ts): no toolchain, no dependency.
 *
 *   const { wasm, memoryBytes, layout } = compileNetworkWasm(graph);
 *   const memory = new WebAssembly.Memory({ initial: layout.memoryPages });
 *   new Float32Array(memory.buffer, layout.weights, layout.weightsBytes / 4).set(packWeights(graph));
 *   const { exports } = await WebAssembly.instantiate(wasm, { env: { memory } });
 *   new Float32Array(memory.buffer, layout.input, n).set(images);   // NHWC, batch items back to back
 *   exports.run(batch);                                              // batch ≤ layout.maxBatch
 *   new Float32Array(memory.buffer, layout.output, batch * outputFloats)  // the last node's output
 *
 * The module imports `env.memory` (at least layout.memoryPages pages) and
 * nothing else; softmax runs inside it with an exp of its own.
 *
 * Memory layout (byte offsets, each region 64-byte aligned, in this order):
 *
 *   weights   every weighted layer's packed tensors, one after another in
 *             graph order (packWeights; see the pack* functions in kernels.ts)
 *   a, b      two ping-pong activation buffers of one batch item each, sized
 *             for the largest intermediate activation, channel stride
 *             roundUp(C, 4) with zeros in the padding lanes
 *   input     maxBatch items of the input node's shape, NHWC, unpadded
 *   output    maxBatch items of the last node's shape, NHWC, unpadded
 *
 * `run(batch)` loops over the batch items; for each it calls the layer
 * kernels in graph order, the first reading the item's input, the last
 * writing its output, the others alternating between a and b. Every kernel
 * is also exported under its step's name (the node id; `pad_input` and
 * `copy_output` for the re-striding copies), taking (input, output) byte
 * addresses, so that a host can time or call layers one by one. A batch
 * larger than maxBatch traps.
 *
 * Speed note for hosts: V8 compiles a module lazily, first with its baseline
 * compiler, and replaces a function with optimised code only after it has
 * run for a while — the first `run` of MobileNetV1 1.0-224 takes about 8×
 * as long as the following ones. Run once on any input after instantiating.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Graph, LayerWeights, Node, NodeOf, OpKind, Shape } from "../../ir/graph.js";
import { fold } from "../../passes/fuse-batch-norm.js";
import {
  convKernel,
  copyKernel,
  DEFAULT_TUNING,
  depthwiseFloats,
  expFunction,
  gemmTile,
  globalPoolKernel,
  packConv,
  packDepthwise,
  packFc,
  packPointwise,
  panelFloats,
  pointwiseKernel,
  roundUp4,
  softmaxKernel,
  windowKernel,
  type AddHelper,
  type Tuning,
} from "./kernels.js";
import { FunctionBody, ModuleWriter, PAGE_BYTES } from "./writer.js";

export { packPointwise, packDepthwise, packConv, packFc, DEFAULT_TUNING, type Tuning } from "./kernels.js";

export interface WasmOptions {
  /** Batch items the input and output regions hold (default 1). */
  readonly maxBatch?: number;
  /** Register blocking and loop shapes (default DEFAULT_TUNING). */
  readonly tuning?: Tuning;
}

/** Where a step reads or writes. */
export type Region = "input" | "output" | "a" | "b";

export type KernelKind = "pointwise" | "conv" | "depthwise" | "avgpool" | "maxpool" | "global-avgpool" | "global-maxpool" | "fc" | "softmax" | "copy";

export interface WasmStep {
  /** The export name of its kernel: the node id, or `pad_input` / `copy_output`. */
  readonly name: string;
  readonly kernel: KernelKind;
  readonly from: Region;
  readonly to: Region;
  /** Byte addresses of its input and output for batch item 0. */
  readonly input: number;
  readonly output: number;
  /** Shapes [H, W, C] read and written, and the channel strides (floats per pixel) in memory. */
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly inStride: number;
  readonly outStride: number;
  /** Multiply-adds per batch item (0 for pooling, softmax, copies). */
  readonly multAdds: number;
  /** Its packed weights in the weights region: byte offset and float count. */
  readonly weights?: {
    readonly offset: number;
    readonly floats: number;
    /** GEMM kernels (pointwise, conv, fc): the width of a full weight panel, 4·nv (see packPanels). */
    readonly panel?: number;
  };
}

export interface WasmLayout {
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly maxBatch: number;
  /** Input region: byte offset, and bytes per batch item (H·W·C·4). */
  readonly input: number;
  readonly inputBytes: number;
  /** Output region: byte offset, and bytes per batch item. */
  readonly output: number;
  readonly outputBytes: number;
  /** Weights region: byte offset and length (packWeights(graph).length · 4). */
  readonly weights: number;
  readonly weightsBytes: number;
  /** The ping-pong buffers' byte offsets and their length each. */
  readonly buffers: readonly [a: number, b: number];
  readonly bufferBytes: number;
  /** The memory the module needs: bytes (a whole number of pages) and pages. */
  readonly memoryBytes: number;
  readonly memoryPages: number;
  readonly steps: readonly WasmStep[];
}

export interface WasmNetwork {
  readonly wasm: Uint8Array;
  readonly memoryBytes: number;
  readonly layout: WasmLayout;
}

/** WebAssembly's 32-bit memories hold at most 65,536 pages of 64 KiB: 4 GiB. */
export const MAX_MEMORY_PAGES = 65536;

/**
 * Build the module for a shaped, weighted graph (batch-norm fused or not).
 * Its memory must fit WebAssembly's 4 GiB: check wasmLayout(graph).memoryPages first.
 */
export function compileNetworkWasm(graph: Graph, options: WasmOptions = {}): WasmNetwork {
  const p = plan(graph, options);
  if (p.layout.memoryPages > MAX_MEMORY_PAGES) throw new InternalError(`wasm: the network needs ${p.layout.memoryBytes} bytes of memory, more than 4 GiB`);
  const m = new ModuleWriter();
  m.importMemory("env", "memory", p.layout.memoryPages);
  const needsExp = p.layout.steps.some((s) => s.kernel === "softmax");
  const exp = needsExp ? m.addFunction(expFunction()) : -1;
  const indices = p.kernels.map((k) => m.addFunction(k(exp, (f) => m.addFunction(f))));
  const run = m.addFunction(runFunction(p.layout, indices));
  m.exportFunction("run", run);
  p.layout.steps.forEach((s, i) => m.exportFunction(s.name, indices[i]!));
  return { wasm: m.encode(), memoryBytes: p.layout.memoryBytes, layout: p.layout };
}

/** The module's memory layout and steps, without generating its code. */
export function wasmLayout(graph: Graph, options: WasmOptions = {}): WasmLayout {
  return plan(graph, options).layout;
}

/** The weights region's contents: every weighted step's packed tensors at its offset (relative to layout.weights). */
export function packWeights(graph: Graph, options: WasmOptions = {}): Float32Array {
  const p = plan(graph, options);
  const out = new Float32Array(p.layout.weightsBytes / 4);
  p.layout.steps.forEach((s, i) => {
    const pack = p.packs[i];
    if (s.weights === undefined || pack === undefined) return;
    const data = pack();
    if (data.length !== s.weights.floats) throw new InternalError(`wasm: '${s.name}' packed ${data.length} floats, planned ${s.weights.floats}`);
    out.set(data, (s.weights.offset - p.layout.weights) / 4);
  });
  return out;
}

// ── planning ───────────────────────────────────────────────────────────────

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const size = (s: Shape): number => s[0] * s[1] * s[2];

interface Plan {
  readonly layout: WasmLayout;
  /** Per step: its kernel, given the function index of exp. */
  readonly kernels: readonly ((exp: number, addHelper: AddHelper) => FunctionBody)[];
  /** Per step: its packed weights (weighted steps only). */
  readonly packs: readonly ((() => Float32Array) | undefined)[];
}

/** A step before addresses are known: the weights' offset is relative to the weights region. */
interface Draft {
  readonly name: string;
  readonly kernel: KernelKind;
  readonly from: Region;
  to: Region;
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly inStride: number;
  outStride: number;
  readonly multAdds: number;
  readonly floats: number;
  /** GEMM kernels: the width of a full weight panel. */
  readonly panel?: number;
  /** The kernel, given the absolute weights address, the output stride and exp's index. */
  readonly build: (weights: number, outStride: number, exp: number, addHelper: AddHelper) => FunctionBody;
  readonly pack?: () => Float32Array;
  /** Whether the kernel can write any output stride (else roundUp4(C)). */
  readonly anyStride: boolean;
}

/** Where the planner stands: the activation the next layer reads, and how to add steps. */
interface PlanContext {
  readonly tuning: Tuning;
  /** The region holding the current activation, its shape and channel stride. */
  readonly current: { readonly region: Region; readonly shape: Shape; readonly stride: number };
  /** Append a step reading the current activation; its output (stride roundUp4(C)) becomes current. */
  add(d: Omit<Draft, "from" | "to" | "inShape" | "inStride" | "outStride">): void;
  /** Vector kernels over channels read stride roundUp4(C): pad the network input for them first. */
  padded(): void;
}

/** One entry per op kind, so that tsc refuses to build until every op has a plan here. */
const PLANNERS: { readonly [K in OpKind]: (node: NodeOf<K>, ctx: PlanContext) => void } = {
  input(node) {
    throw new InternalError(`wasm: '${node.id}' is a second input`);
  },
  dropout() {
    // The identity at inference: no step; the next layer reads the same activation.
  },
  conv(node, ctx) {
    const { shape: inShape, stride: xStride } = ctx.current;
    const [H, W, C] = inShape;
    const outShape = shapeOf(node);
    const [OH, OW, OC] = outShape;
    const w = weightsOf(node);
    const [KH, KW] = node.attrs.kernel;
    const [SH, SW] = node.attrs.stride;
    const act = node.attrs.act;
    const tuning = ctx.tuning;
    if (KH === 1 && KW === 1 && SH === 1 && SW === 1) {
      const { nv } = gemmTile(H * W, tuning);
      ctx.add({
        name: node.id,
        kernel: "pointwise",
        outShape,
        multAdds: H * W * C * OC,
        floats: panelFloats(OC, C),
        panel: 4 * nv,
        anyStride: false,
        build: (weights, _s, _e, addHelper) => pointwiseKernel({ pixels: H * W, k: C, xStride, n: OC, weights, act, tuning }, addHelper),
        pack: () => packPointwise(w.kernel.data, OC, C, w.bias?.data, nv),
      });
      return;
    }
    const pads = padsOf(node, node.attrs.pads);
    const { nv } = gemmTile(OW, tuning);
    ctx.add({
      name: node.id,
      kernel: "conv",
      outShape,
      multAdds: OH * OW * OC * KH * KW * C,
      floats: panelFloats(OC, KH * KW * C),
      panel: 4 * nv,
      anyStride: false,
      build: (weights) => convKernel({ input: inShape, xStride, output: outShape, kernel: [KH, KW], stride: [SH, SW], pads, weights, act, tuning }),
      pack: () => packConv(w.kernel.data, OC, C, [KH, KW], w.bias?.data, nv),
    });
  },
  depthwise(node, ctx) {
    ctx.padded();
    const inShape = ctx.current.shape;
    const C = inShape[2];
    const [OH, OW] = shapeOf(node);
    const w = weightsOf(node);
    const a = node.attrs;
    const pads = padsOf(node, a.pads);
    const tuning = ctx.tuning;
    ctx.add({
      name: node.id,
      kernel: "depthwise",
      outShape: shapeOf(node),
      multAdds: OH * OW * C * a.kernel[0] * a.kernel[1],
      floats: depthwiseFloats(C, a.kernel),
      anyStride: false,
      build: (weights) => windowKernel({ op: "depthwise", input: inShape, output: [OH, OW], kernel: a.kernel, stride: a.stride, pads, weights, act: a.act, tuning }),
      pack: () => packDepthwise(w.kernel.data, C, a.kernel, w.bias?.data),
    });
  },
  avgpool: (node, ctx) => planPool(node, ctx),
  maxpool: (node, ctx) => planPool(node, ctx),
  fc(node, ctx) {
    const { shape: inShape, stride: xStride } = ctx.current;
    const [H, W, C] = inShape;
    const w = weightsOf(node);
    if (w.bias === undefined) throw new InternalError(`wasm: fc '${node.id}' has no bias`);
    const bias = w.bias.data;
    const units = node.attrs.units;
    // The reduction runs over the input as it lies in memory, padding lanes included (their weights are 0).
    const k = H * W * xStride;
    const tuning = ctx.tuning;
    const { nv } = gemmTile(1, tuning);
    ctx.add({
      name: node.id,
      kernel: "fc",
      outShape: shapeOf(node),
      multAdds: H * W * C * units,
      floats: panelFloats(units, k),
      panel: 4 * nv,
      anyStride: false,
      build: (weights, _s, _e, addHelper) => pointwiseKernel({ pixels: 1, k, xStride: k, n: units, weights, act: "linear", tuning }, addHelper),
      pack: () => packFc(w.kernel.data, units, inShape, xStride, bias, nv),
    });
  },
  softmax(node, ctx) {
    const { shape, stride: xStride } = ctx.current;
    const [H, W, C] = shape;
    ctx.add({
      name: node.id,
      kernel: "softmax",
      outShape: shapeOf(node),
      multAdds: 0,
      floats: 0,
      anyStride: true,
      build: (_w, outStride, exp) => softmaxKernel({ pixels: H * W, channels: C, xStride, yStride: outStride }, exp),
    });
  },
};

function planPool(node: NodeOf<"avgpool" | "maxpool">, ctx: PlanContext): void {
  ctx.padded();
  const inShape = ctx.current.shape;
  const outShape = shapeOf(node);
  const a = node.attrs;
  const op = node.op;
  if (a.kernel === "global") {
    ctx.add({ name: node.id, kernel: `global-${op}`, outShape, multAdds: 0, floats: 0, anyStride: false, build: () => globalPoolKernel({ op, input: inShape }) });
    return;
  }
  const kernel = a.kernel;
  const stride = a.stride === "kernel" ? kernel : a.stride;
  const pads = padsOf(node, a.pads);
  const tuning = ctx.tuning;
  ctx.add({
    name: node.id,
    kernel: op,
    outShape,
    multAdds: 0,
    floats: 0,
    anyStride: false,
    build: () => windowKernel({ op, input: inShape, output: [outShape[0], outShape[1]], kernel, stride, pads, tuning }),
  });
}

function plan(graph: Graph, options: WasmOptions): Plan {
  const tuning = options.tuning ?? DEFAULT_TUNING;
  const maxBatch = options.maxBatch ?? 1;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InternalError(`wasm: maxBatch must be a positive integer, not ${maxBatch}`);
  const first = graph.nodes[0];
  if (first === undefined || first.op !== "input") throw new InternalError("wasm: the first node must be the input");
  const inputShape = shapeOf(first);

  const drafts: Draft[] = [];
  let current: PlanContext["current"] = { region: "input", shape: inputShape, stride: inputShape[2] };
  const ctx: PlanContext = {
    tuning,
    get current() {
      return current;
    },
    add(d) {
      const to: Region = current.region === "a" ? "b" : "a";
      const stride = roundUp4(d.outShape[2]);
      drafts.push({ ...d, from: current.region, to, inShape: current.shape, inStride: current.stride, outStride: stride });
      current = { region: to, shape: d.outShape, stride };
    },
    padded() {
      const [h, w, c] = current.shape;
      const from = current.stride;
      if (from === roundUp4(c)) return;
      ctx.add({
        name: "pad_input",
        kernel: "copy",
        outShape: current.shape,
        multAdds: 0,
        floats: 0,
        anyStride: true,
        build: (_w, outStride) => copyKernel({ pixels: h * w, channels: c, xStride: from, yStride: outStride }),
      });
    },
  };
  for (const node of graph.nodes.slice(1)) plannerOf(node)(node, ctx);

  // The last step writes the output region when it can write the unpadded stride; else a copy does.
  const outputShape = current.shape;
  const last = drafts[drafts.length - 1];
  if (last !== undefined && (last.anyStride || roundUp4(outputShape[2]) === outputShape[2])) {
    last.to = "output";
    last.outStride = outputShape[2];
  } else {
    const [h, w, c] = outputShape;
    const from = current.stride;
    drafts.push({
      name: "copy_output",
      kernel: "copy",
      from: current.region,
      to: "output",
      inShape: outputShape,
      outShape: outputShape,
      inStride: from,
      outStride: c,
      multAdds: 0,
      floats: 0,
      anyStride: true,
      build: (_w, outStride) => copyKernel({ pixels: h * w, channels: c, xStride: from, yStride: outStride }),
    });
  }

  // Addresses.
  let weightsBytes = 0;
  const weightOffsets = drafts.map((d) => {
    if (d.floats === 0) return undefined;
    const at = weightsBytes;
    weightsBytes = align(at + 4 * d.floats);
    return at;
  });
  const weights = 0;
  const bufferBytes = align(Math.max(16, ...drafts.filter((d) => d.to === "a" || d.to === "b").map((d) => 4 * d.outShape[0] * d.outShape[1] * d.outStride)));
  const a = weights + weightsBytes;
  const b = a + bufferBytes;
  const inputBytes = 4 * size(inputShape);
  const outputBytes = 4 * size(outputShape);
  const input = b + bufferBytes;
  const output = align(input + maxBatch * inputBytes);
  const end = output + maxBatch * outputBytes;
  const memoryPages = Math.max(1, Math.ceil(end / PAGE_BYTES));
  const address: Record<Region, number> = { input, output, a, b };

  const steps: WasmStep[] = drafts.map((d, i) => {
    const at = weightOffsets[i];
    return {
      name: d.name,
      kernel: d.kernel,
      from: d.from,
      to: d.to,
      input: address[d.from],
      output: address[d.to],
      inShape: d.inShape,
      outShape: d.outShape,
      inStride: d.inStride,
      outStride: d.outStride,
      multAdds: d.multAdds,
      ...(at === undefined ? {} : { weights: { offset: weights + at, floats: d.floats, ...(d.panel === undefined ? {} : { panel: d.panel }) } }),
    };
  });
  const layout: WasmLayout = {
    inputShape,
    outputShape,
    maxBatch,
    input,
    inputBytes,
    output,
    outputBytes,
    weights,
    weightsBytes,
    buffers: [a, b],
    bufferBytes,
    memoryBytes: memoryPages * PAGE_BYTES,
    memoryPages,
    steps,
  };
  return {
    layout,
    kernels: drafts.map((d, i) => (exp: number, addHelper: AddHelper) => d.build(weights + (weightOffsets[i] ?? 0), d.outStride, exp, addHelper)),
    packs: drafts.map((d) => d.pack),
  };
}

/** run(batch): for each item, every step's kernel with the item's input and output addresses. */
function runFunction(layout: WasmLayout, indices: readonly number[]): FunctionBody {
  const f = new FunctionBody(["i32"]);
  const batch = f.param(0);
  const x = f.local("i32");
  const y = f.local("i32");
  f.localGet(batch).i32Const(layout.maxBatch).i32GtS().if(() => f.unreachable());
  f.localGet(batch).i32Const(0).i32GtS().if(() => {
    f.i32Const(layout.input).localSet(x);
    f.i32Const(layout.output).localSet(y);
    f.loop((top) => {
      layout.steps.forEach((s, i) => {
        for (const r of [s.from, s.to]) {
          if (r === "input") f.localGet(x);
          else if (r === "output") f.localGet(y);
          else f.i32Const(r === "a" ? layout.buffers[0] : layout.buffers[1]);
        }
        f.call(indices[i]!);
      });
      f.localGet(x).i32Const(layout.inputBytes).i32Add().localSet(x);
      f.localGet(y).i32Const(layout.outputBytes).i32Add().localSet(y);
      f.localGet(batch).i32Const(1).i32Sub().localTee(batch).brIf(top);
    });
  });
  return f;
}

// ── graph access ───────────────────────────────────────────────────────────

function plannerOf<K extends OpKind>(node: NodeOf<K>): (node: NodeOf<K>, ctx: PlanContext) => void {
  return PLANNERS[node.op as K];
}

function shapeOf(node: Node): Shape {
  if (node.shape === undefined) throw new InternalError(`wasm: '${node.id}' has no shape (run infer-shapes first)`);
  return node.shape;
}

function padsOf(node: Node, pads: readonly [number, number, number, number] | undefined): readonly [number, number, number, number] {
  if (pads === undefined) throw new InternalError(`wasm: '${node.id}' has no pads (run infer-shapes first)`);
  return pads;
}

/** The layer's kernel and bias, with any batch-norm folded in (as fuse-batch-norm does). */
function weightsOf(node: Node & { readonly weights?: LayerWeights }): LayerWeights {
  if (node.weights === undefined) throw new InternalError(`wasm: '${node.id}' has no weights`);
  return node.weights.bn === undefined ? node.weights : fold(node.weights);
}
