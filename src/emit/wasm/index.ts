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
 *   new Float32Array(memory.buffer, layout.output, batch * outputFloats)  // graph.outputs[0]
 *   layout.outputs[k]: graph.outputs[k]'s region (offset, bytes per item, shape)
 *
 * The module imports `env.memory` (at least layout.memoryPages pages) and
 * nothing else; softmax runs inside it with an exp of its own. Its code
 * depends on the graph's shapes only, not on the weights. A network with a
 * resize also carries a data segment: its sampling tables, written into
 * the tables region when the module is instantiated.
 *
 * Memory layout (byte offsets, each region 64-byte aligned, in this order):
 *
 *   weights   every weighted layer's packed tensors, one after another in
 *             graph order (packWeights; see the pack* functions in kernels.ts)
 *   buffers   activation buffers of one batch item each (two at least; as
 *             many as the values live at once need), all sized for the
 *             largest value they hold, channel stride roundUp(C, 4) with
 *             zeros in the padding lanes (or act(0) after a sigmoid or hard
 *             sigmoid: no kernel lets a padding lane reach a real channel)
 *   scratch   what a step needs while it runs, the largest of them: the
 *             SE-scaled weights of a step that folds a gate (see below), a
 *             narrow transposed convolution's regrouped weights, an
 *             upsampling's two resampled rows; empty when none needs any
 *   input     maxBatch items of the input node's shape, NHWC, unpadded
 *   outputs   per graph output, in graph.outputs order: maxBatch items of
 *             its shape, NHWC, unpadded (the first is `output`)
 *   tables    every resize's sampling tables (resizeTables), one after
 *             another; absent without a resize
 *
 * Steps. Each node is a step, except that a dropout is none (its readers
 * read its input) and a pointwise convolution takes into its step
 *
 *   - the residual `add` that is its only reader, when both of the add's
 *     operands have its shape: the GEMM's epilogue adds the other operand
 *     to each output vector as it stores it, over that operand's buffer
 *     when it dies there; and
 *   - the SE `mul` it reads, when that is the mul's only reader and folding
 *     pays (foldPays): the gate scales the weights into scratch, W'[k, n] =
 *     gate[k]·W[k, n], and the GEMM runs on those.
 *
 * Other adds and muls get plain vector kernels, broadcast ones (a 1×1×C
 * second operand over the map) their own. Memory follows the one
 * liveness analysis (src/ir/liveness.ts), run on the graph of steps: an
 * output goes to the lowest-numbered free buffer, or over an operand of an
 * elementwise step that dies at that step; a buffer is free once its
 * value's last reader has run. On a chain that is the ping-pong of two
 * buffers; a residual's input stays in its buffer across the block's body.
 *
 * Outputs: the step that makes an output's value writes it straight into
 * that output's region when no later step reads it and it can write the
 * unpadded stride; else a copy step (`copy_output`, `copy_output.k` for
 * graph.outputs[k]) follows it. So an output that later steps read (DeepLab's
 * 33×33 scores, resized into its logits) is copied out as soon as it is made,
 * and its buffer is free once its readers have run.
 *
 * `run(batch)` loops over the batch items; for each it calls the steps'
 * kernels in order, the first reading the item's input, the last writing its
 * output. Every kernel is also exported under its step's name (the node id —
 * a fused step's is its convolution's; `pad_input`, `copy_input`,
 * `copy_output` and `copy_output.k` for the copies), taking (x, y): the byte
 * addresses of its first operand and of its output; further operands (a
 * concat's other inputs too) are read at addresses
 * compiled into it (WasmStep.operands). So a host can time or call steps
 * one by one. A batch larger than maxBatch traps.
 *
 * Speed note for hosts: V8 compiles a module lazily, first with its baseline
 * compiler, and replaces a function with optimised code only after it has
 * run for a while — the first `run` of MobileNetV1–V3 at 1.0-224 takes 2–6×
 * as long as the following ones. Run once on any input after instantiating.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Graph, LayerWeights, Node, NodeOf, OpKind, Pair, Shape } from "../../ir/graph.js";
import { liveness } from "../../ir/liveness.js";
import { fold } from "../../passes/fuse-batch-norm.js";
import {
  activationKernel,
  argmaxKernel,
  concatKernel,
  convKernel,
  DECONV_NARROW,
  deconvKernel,
  deconvPhase,
  deconvScratchFloats,
  copyKernel,
  DEFAULT_TUNING,
  depthwiseFloats,
  elementwiseKernel,
  expFunction,
  gemmTile,
  globalPoolKernel,
  packConv,
  packDeconv,
  packDepthwise,
  packFc,
  packPointwise,
  panelFloats,
  pointwiseKernel,
  resizeKernel,
  resizeScratchFloats,
  resizeTables,
  roundUp4,
  scaleKernel,
  softmaxKernel,
  windowKernel,
  type AddHelper,
  type Tuning,
} from "./kernels.js";
import { FunctionBody, ModuleWriter, PAGE_BYTES } from "./writer.js";

export { packPointwise, packDepthwise, packConv, packDeconv, packFc, DEFAULT_TUNING, type Tuning } from "./kernels.js";

export interface WasmOptions {
  /** Batch items the input and output regions hold (default 1). */
  readonly maxBatch?: number;
  /** Register blocking and loop shapes (default DEFAULT_TUNING). */
  readonly tuning?: Tuning;
  /**
   * Which nodes share a step (see groupNodes): `auto` (the default) fuses
   * residual adds into the pointwise convolutions that feed them and SE
   * gates into the ones that read them where foldPays; `all` folds every
   * such gate; `none` gives every node its own step (plain add and mul
   * kernels) — for measuring what fusion buys, and for tests.
   */
  readonly fuse?: "auto" | "all" | "none";
}

/**
 * Where a step reads or writes: the input region, an output region (the
 * batch item's: `output` for graph.outputs[0], `output.k` for graph.outputs[k]),
 * or activation buffer i.
 */
export type Region = "input" | "output" | `output.${number}` | number;

/** The region of graph.outputs[k]. */
export function outputRegion(k: number): "output" | `output.${number}` {
  return k === 0 ? "output" : `output.${k}`;
}

export type KernelKind =
  | "pointwise"
  | "conv"
  | "depthwise"
  | "deconv"
  | "avgpool"
  | "maxpool"
  | "global-avgpool"
  | "global-maxpool"
  | "fc"
  | "softmax"
  | "add"
  | "mul"
  | "resize"
  | "concat"
  | "activation"
  | "argmax"
  | "copy";

/** A value a step reads: the node that made it, and where it lies for batch item 0. */
export interface Operand {
  readonly node: string;
  readonly region: Region;
  readonly address: number;
}

export interface WasmStep {
  /** The export name of its kernel: the node id (a fused step: its pointwise convolution's), or `pad_input` / `copy_input` / `copy_output` / `copy_output.k`. */
  readonly name: string;
  readonly kernel: KernelKind;
  /**
   * The graph nodes whose work it does, in graph order: one, or a pointwise
   * convolution with the SE scaling it reads and the residual add it feeds
   * (fused); none for copies.
   */
  readonly nodes: readonly string[];
  /** The node whose value it writes (a copy: the node whose value it copies). */
  readonly writes: string;
  /** Where its first operand (the kernel's x parameter) lies and where it writes (y). */
  readonly from: Region;
  readonly to: Region;
  /** Byte addresses of its first operand and its output for batch item 0. */
  readonly input: number;
  readonly output: number;
  /**
   * Every value it reads: the first operand, then those at fixed addresses
   * compiled into its code (a fused residual or SE gate, an add's or mul's
   * second operand), always activation buffers.
   */
  readonly operands: readonly Operand[];
  /** Shapes [H, W, C] read (first operand) and written, and the channel strides (floats per pixel) in memory. */
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly inStride: number;
  readonly outStride: number;
  /** Multiply-adds per batch item (0 for pooling, softmax, elementwise ops, copies). */
  readonly multAdds: number;
  /** Elementwise additions and multiplications per batch item (residual adds and SE scaling, fused or not). */
  readonly elementwise: number;
  /** Its packed weights in the weights region: byte offset and float count. */
  readonly weights?: {
    readonly offset: number;
    readonly floats: number;
    /** GEMM kernels (pointwise, conv, fc): the width of a full weight panel, 4·nv (see packPanels). */
    readonly panel?: number;
  };
}

/** One of the graph's outputs: its node id, region (byte offset), bytes per batch item and shape. */
export interface WasmOutput {
  readonly id: string;
  readonly offset: number;
  readonly bytes: number;
  readonly shape: Shape;
}

export interface WasmLayout {
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly maxBatch: number;
  /** Input region: byte offset, and bytes per batch item (H·W·C·4). */
  readonly input: number;
  readonly inputBytes: number;
  /** The first output's region (graph.outputs[0]): byte offset, and bytes per batch item. */
  readonly output: number;
  readonly outputBytes: number;
  /**
   * Every output in graph.outputs order, each with its own region of
   * maxBatch items (NHWC, unpadded): the first is output / outputBytes /
   * outputShape, the others follow it, each 64-byte aligned.
   */
  readonly outputs: readonly WasmOutput[];
  /** Weights region: byte offset and length (packWeights(graph).length · 4). */
  readonly weights: number;
  readonly weightsBytes: number;
  /** The activation buffers' byte offsets (at least two), and the length of each. */
  readonly buffers: readonly number[];
  readonly bufferBytes: number;
  /** Scratch for fused SE gates' scaled weights: byte offset and length (0 when no step folds a gate). */
  readonly scratch: number;
  readonly scratchBytes: number;
  /**
   * The resizes' sampling tables (resizeTables), after the last output
   * region: byte offset and length (0 when there is no resize). The module
   * writes them itself when it is instantiated (a data segment).
   */
  readonly tables: number;
  readonly tablesBytes: number;
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
  if (p.tables.length > 0) m.addData(p.layout.tables, p.tables);
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

// ── fusion: which nodes share a step ───────────────────────────────────────

/**
 * One step of the module before memory is planned: the node that picks the
 * kernel (`head`), the value it produces (`id`) and the values it reads
 * (`inputs`, dropouts resolved to what they pass on). A pointwise
 * convolution can take two more nodes into its step:
 *
 *   gate      the SE `mul` it reads (its only reader), when folding the gate
 *             into the weights costs less than scaling the tensor (foldPays):
 *             inputs [tensor, gate, …]
 *   residual  the `add` that is its only reader, whose other operand exists
 *             by then: y = act(conv) + other in the GEMM's epilogue, no
 *             store and reload of the projection; inputs [… , other], id the add's
 */
interface Unit {
  readonly head: Node;
  readonly id: string;
  readonly inputs: readonly string[];
  readonly nodes: readonly string[];
  readonly gate?: string;
  readonly residual?: string;
}

/**
 * Whether folding an SE gate into a pointwise convolution's weights pays:
 * the fold scales k·n weights (and writes them to scratch) where a separate
 * scaling pass would multiply pixels·k values and store them; the fold also
 * saves that pass's call and its reload of the tensor. So it pays while
 * n ≤ pixels (MobileNetV3's SE blocks at 28×28 and 14×14 at 224, the plain
 * mul at 7×7: measured in docs/wasm.md).
 */
export function foldPays(pixels: number, n: number): boolean {
  return n <= pixels;
}

/** A 1x1 stride-1 convolution: the GEMM kernel. */
function pointwise(node: Node): NodeOf<"conv"> | undefined {
  return node.op === "conv" && node.attrs.kernel[0] === 1 && node.attrs.kernel[1] === 1 && node.attrs.stride[0] === 1 && node.attrs.stride[1] === 1 ? node : undefined;
}

/** Group the graph's nodes into steps (see Unit), and the dropout-resolved id of every node. */
function groupNodes(graph: Graph, fuse: "auto" | "all" | "none"): { readonly units: readonly Unit[]; readonly source: (id: string) => string } {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const node = (id: string): Node => {
    const n = byId.get(id);
    if (n === undefined) throw new InternalError(`wasm: no node '${id}'`);
    return n;
  };
  const sources = new Map<string, string>();
  const source = (id: string): string => {
    const s = sources.get(id);
    if (s === undefined) throw new InternalError(`wasm: '${id}' is read before it is made`);
    return s;
  };
  const readers = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const id of n.inputs) readers.set(id, [...(readers.get(id) ?? []), n]);
  const outputs = new Set(graph.outputs);
  /** The one node that reads `id`, if it has exactly one reader and is no output. */
  const soleReader = (id: string): Node | undefined => {
    const r = readers.get(id) ?? [];
    return r.length === 1 && !outputs.has(id) ? r[0] : undefined;
  };

  const units: Unit[] = [];
  const made = new Set<string>();
  const folded = new Map<string, NodeOf<"mul">>();
  const taken = new Set<string>();
  for (const n of graph.nodes) {
    if (n.op === "input") {
      if (n !== graph.nodes[0]) throw new InternalError(`wasm: '${n.id}' is a second input`);
      sources.set(n.id, n.id);
      made.add(n.id);
      continue;
    }
    if (n.op === "dropout") {
      // The identity at inference: no step; its readers read what it reads.
      sources.set(n.id, source(n.inputs[0]!));
      continue;
    }
    sources.set(n.id, n.id);
    if (taken.has(n.id)) continue;
    if (n.op === "mul") {
      const sole = soleReader(n.id);
      const reader = sole === undefined ? undefined : pointwise(sole);
      const [tensor, gate] = [shapeOf(node(n.inputs[0]!)), shapeOf(node(n.inputs[1]!))];
      const pays = fuse === "all" || (fuse === "auto" && reader !== undefined && foldPays(tensor[0] * tensor[1], reader.attrs.channels));
      if (reader !== undefined && reader.inputs[0] === n.id && gate[0] === 1 && gate[1] === 1 && pays) {
        folded.set(reader.id, n);
        taken.add(n.id);
        continue;
      }
    }
    if (pointwise(n) !== undefined) {
      const mul = folded.get(n.id);
      const inputs = mul === undefined ? [source(n.inputs[0]!)] : [source(mul.inputs[0]!), source(mul.inputs[1]!)];
      // The add it alone feeds, if its other operand is made already (a residual's input always is).
      const add = soleReader(n.id);
      // Only an add of two tensors of one shape: a 1×1×C operand broadcast over the map is no residual.
      const sameShapes = add !== undefined && add.inputs.every((id) => sameShape(shapeOf(node(id)), shapeOf(n)));
      const otherId = add?.op === "add" && sameShapes && add.inputs.filter((id) => id === n.id).length === 1 ? add.inputs.find((id) => id !== n.id) : undefined;
      const other = otherId !== undefined && sources.has(otherId) ? source(otherId) : undefined;
      const fused = fuse !== "none" && add !== undefined && other !== undefined && made.has(other);
      if (fused) taken.add(add.id);
      const id = fused ? add.id : n.id;
      units.push({
        head: n,
        id,
        inputs: fused ? [...inputs, other] : inputs,
        nodes: [...(mul === undefined ? [] : [mul.id]), n.id, ...(fused ? [add.id] : [])],
        ...(mul === undefined ? {} : { gate: inputs[1]! }),
        ...(fused ? { residual: other } : {}),
      });
      made.add(id);
      continue;
    }
    units.push({ head: n, id: n.id, inputs: n.inputs.map(source), nodes: [n.id] });
    made.add(n.id);
  }
  return { units, source };
}

// ── planning ───────────────────────────────────────────────────────────────

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const size = (s: Shape): number => s[0] * s[1] * s[2];

interface Plan {
  readonly layout: WasmLayout;
  /** The tables region's contents, at layout.tables. */
  readonly tables: Uint8Array;
  /** Per step: its kernel, given the function index of exp. */
  readonly kernels: readonly ((exp: number, addHelper: AddHelper) => FunctionBody)[];
  /** Per step: its packed weights (weighted steps only). */
  readonly packs: readonly ((() => Float32Array) | undefined)[];
}

/** A value as it lies in memory: who made it, where, its shape and channel stride. */
interface Value {
  readonly node: string;
  readonly region: Region;
  readonly shape: Shape;
  readonly stride: number;
}

/** What a kernel's code needs once addresses are known. */
interface BuildArgs {
  /** Absolute address of its packed weights. */
  readonly weights: number;
  readonly outStride: number;
  /** Function index of exp (softmax). */
  readonly exp: number;
  readonly addHelper: AddHelper;
  /** The scratch region's address. */
  readonly scratch: number;
  /** The address of this step's tables (StepSpec.tables). */
  readonly tables: number;
  /** The address of a value in an activation buffer. */
  address(v: Value): number;
}

/** A unit's step as its op's planner describes it. */
interface StepSpec {
  readonly kernel: KernelKind;
  /** The first operand: the kernel's x parameter. */
  readonly x: Value;
  /** Operands at fixed addresses (in activation buffers). */
  readonly fixed?: readonly Value[];
  readonly outShape: Shape;
  readonly multAdds: number;
  readonly elementwise?: number;
  /** Floats of packed weights, and the GEMM panel width. */
  readonly floats: number;
  readonly panel?: number;
  /** Floats of scratch it needs. */
  readonly scratch?: number;
  /** Constant tables it reads (a resize's sampling), placed in the tables region and written by a data segment. */
  readonly tables?: Uint8Array;
  /** Whether the kernel can write any output stride (else roundUp4(C)). */
  readonly anyStride: boolean;
  /** Operands it may overwrite (elementwise over the output's layout): its output goes there when one dies at this step. */
  readonly inPlace?: readonly Value[];
  readonly build: (a: BuildArgs) => FunctionBody;
  readonly pack?: () => Float32Array;
}

/** A step with its regions. */
interface Draft extends StepSpec {
  readonly name: string;
  readonly nodes: readonly string[];
  readonly writes: string;
  readonly to: Region;
  readonly outStride: number;
}

/** What an op's planner sees: the unit, and its operands where they lie. */
interface UnitContext {
  readonly tuning: Tuning;
  readonly unit: Unit;
  /** A value as it lies (kernels that read any stride). */
  value(id: string): Value;
  /** A value with channel stride roundUp4(C): the network input is re-strided (copied) first if it is not. */
  padded(id: string): Value;
  /** A value in an activation buffer with stride roundUp4(C), for an operand at a fixed address: the network input is copied first. */
  fixed(id: string): Value;
}

/** One entry per op kind, so that tsc refuses to build until every op has a plan here. */
const PLANNERS: { readonly [K in OpKind]: (node: NodeOf<K>, ctx: UnitContext) => StepSpec } = {
  deconv(node, ctx) {
    const outShape = shapeOf(node);
    const [OH, OW, OC] = outShape;
    // Few output channels: summed over input channel vectors (deconvKernel's narrow form), any output
    // stride; it reads whole vectors, so a padded input (the GEMM form splats exactly C channels of any stride).
    const narrow = OC <= DECONV_NARROW;
    const x = narrow ? ctx.padded(ctx.unit.inputs[0]!) : ctx.value(ctx.unit.inputs[0]!);
    const inShape = x.shape;
    const C = inShape[2];
    const a = node.attrs;
    const pads = padsOf(node, a.pads);
    const tuning = ctx.tuning;
    const { nv } = gemmTile(Math.ceil(OW / a.stride[1]), tuning);
    return {
      kernel: "deconv",
      x,
      outShape,
      multAdds: deconvMultAdds(inShape, outShape, a.kernel, a.stride, pads),
      floats: panelFloats(OC, a.kernel[0] * a.kernel[1] * C),
      panel: 4 * nv,
      ...(narrow ? { scratch: deconvScratchFloats(C, OC, a.kernel) } : {}),
      anyStride: narrow,
      build: (b) =>
        deconvKernel({
          input: inShape,
          xStride: x.stride,
          output: [OH, OW, OC],
          kernel: a.kernel,
          stride: a.stride,
          pads,
          weights: b.weights,
          act: a.act,
          ...(narrow ? { narrow: { scratch: b.scratch, yStride: b.outStride } } : {}),
          tuning,
        }),
      pack: () => {
        const w = node.weights?.bn === undefined ? weightsOf(node) : fold(node.weights, 1);
        return packDeconv(w.kernel.data, C, OC, a.kernel, w.bias?.data, nv);
      },
    };
  },
  concat(node, ctx) {
    const [first, ...rest] = ctx.unit.inputs;
    const x = ctx.value(first!);
    const others = rest.map((id) => ctx.fixed(id));
    const [H, W] = shapeOf(node);
    return {
      kernel: "concat",
      x,
      fixed: others,
      outShape: shapeOf(node),
      multAdds: 0,
      floats: 0,
      anyStride: true,
      build: (a) =>
        concatKernel({
          pixels: H * W,
          parts: [{ channels: x.shape[2], stride: x.stride }, ...others.map((v) => ({ address: a.address(v), channels: v.shape[2], stride: v.stride }))],
          yStride: a.outStride,
        }),
    };
  },
  resize(node, ctx) {
    const x = ctx.padded(ctx.unit.inputs[0]!);
    const outShape = shapeOf(node);
    const [OH, OW] = outShape;
    const { mode, coords } = node.attrs;
    return {
      kernel: "resize",
      x,
      outShape,
      multAdds: 0,
      floats: 0,
      anyStride: true,
      tables: resizeTables(mode, coords, x.shape, [OH, OW]),
      scratch: resizeScratchFloats(mode, x.shape, [OH, OW]),
      build: (a) => resizeKernel({ mode, input: x.shape, output: [OH, OW], yStride: a.outStride, tables: a.tables, scratch: a.scratch }, a.addHelper),
    };
  },
  activation(node, ctx) {
    const x = ctx.padded(ctx.unit.inputs[0]!);
    const [H, W, C] = shapeOf(node);
    return {
      kernel: "activation",
      x,
      outShape: shapeOf(node),
      multAdds: 0,
      floats: 0,
      anyStride: false,
      inPlace: [x],
      build: () => activationKernel({ act: node.attrs.act, floats: H * W * roundUp4(C) }),
    };
  },
  argmax(node, ctx) {
    const x = ctx.value(ctx.unit.inputs[0]!);
    const [H, W, C] = x.shape;
    return {
      kernel: "argmax",
      x,
      outShape: shapeOf(node),
      multAdds: 0,
      floats: 0,
      anyStride: true,
      build: (a) => argmaxKernel({ pixels: H * W, channels: C, xStride: x.stride, yStride: a.outStride }),
    };
  },
  input(node) {
    throw new InternalError(`wasm: '${node.id}' is a second input`);
  },
  dropout(node) {
    throw new InternalError(`wasm: dropout '${node.id}' has no step (its readers read its input)`);
  },
  conv(node, ctx) {
    const x = ctx.value(ctx.unit.inputs[0]!);
    const inShape = x.shape;
    const xStride = x.stride;
    const [H, W, C] = inShape;
    const outShape = shapeOf(node);
    const [OH, OW, OC] = outShape;
    const [KH, KW] = node.attrs.kernel;
    const [SH, SW] = node.attrs.stride;
    const act = node.attrs.act;
    const tuning = ctx.tuning;
    if (pointwise(node) !== undefined) {
      const { nv } = gemmTile(H * W, tuning);
      const gate = ctx.unit.gate === undefined ? undefined : ctx.fixed(ctx.unit.gate);
      const residual = ctx.unit.residual === undefined ? undefined : ctx.fixed(ctx.unit.residual);
      return {
        kernel: "pointwise",
        x,
        fixed: [...(gate === undefined ? [] : [gate]), ...(residual === undefined ? [] : [residual])],
        outShape,
        multAdds: H * W * C * OC,
        elementwise: (gate === undefined ? 0 : H * W * C) + (residual === undefined ? 0 : H * W * OC),
        floats: panelFloats(OC, C),
        panel: 4 * nv,
        ...(gate === undefined ? {} : { scratch: panelFloats(OC, C) }),
        anyStride: false,
        // In place over the residual, unless the convolution also reads it (`residual { pw N }`): a
        // pixel's first panel would overwrite the input channels its other panels still read.
        ...(residual === undefined || residual.node === x.node ? {} : { inPlace: [residual] }),
        build: (a) =>
          pointwiseKernel(
            {
              pixels: H * W,
              k: C,
              xStride,
              n: OC,
              weights: a.weights,
              act,
              tuning,
              ...(residual === undefined ? {} : { residual: a.address(residual) }),
              ...(gate === undefined ? {} : { gate: { address: a.address(gate), scratch: a.scratch } }),
            },
            a.addHelper,
          ),
        pack: () => {
          const w = weightsOf(node);
          return packPointwise(w.kernel.data, OC, C, w.bias?.data, nv);
        },
      };
    }
    const pads = padsOf(node, node.attrs.pads);
    const { nv } = gemmTile(OW, tuning);
    return {
      kernel: "conv",
      x,
      outShape,
      multAdds: OH * OW * OC * KH * KW * C,
      floats: panelFloats(OC, KH * KW * C),
      panel: 4 * nv,
      anyStride: false,
      build: (a) =>
        convKernel({ input: inShape, xStride, output: outShape, kernel: [KH, KW], stride: [SH, SW], pads, ...dilationOf(node.attrs.dilation), weights: a.weights, act, tuning }),
      pack: () => {
        const w = weightsOf(node);
        return packConv(w.kernel.data, OC, C, [KH, KW], w.bias?.data, nv);
      },
    };
  },
  depthwise(node, ctx) {
    const x = ctx.padded(ctx.unit.inputs[0]!);
    const inShape = x.shape;
    const C = inShape[2];
    const [OH, OW] = shapeOf(node);
    const a = node.attrs;
    const pads = padsOf(node, a.pads);
    const tuning = ctx.tuning;
    return {
      kernel: "depthwise",
      x,
      outShape: shapeOf(node),
      multAdds: OH * OW * C * a.kernel[0] * a.kernel[1],
      floats: depthwiseFloats(C, a.kernel),
      anyStride: false,
      build: (b) =>
        windowKernel({ op: "depthwise", input: inShape, output: [OH, OW], kernel: a.kernel, stride: a.stride, pads, ...dilationOf(a.dilation), weights: b.weights, act: a.act, tuning }),
      pack: () => {
        const w = weightsOf(node);
        return packDepthwise(w.kernel.data, C, a.kernel, w.bias?.data);
      },
    };
  },
  avgpool: (node, ctx) => planPool(node, ctx),
  maxpool: (node, ctx) => planPool(node, ctx),
  fc(node, ctx) {
    const x = ctx.value(ctx.unit.inputs[0]!);
    const inShape = x.shape;
    const xStride = x.stride;
    const [H, W, C] = inShape;
    const units = node.attrs.units;
    // The reduction runs over the input as it lies in memory, padding lanes included (their weights are 0).
    const k = H * W * xStride;
    const tuning = ctx.tuning;
    const { nv } = gemmTile(1, tuning);
    return {
      kernel: "fc",
      x,
      outShape: shapeOf(node),
      multAdds: H * W * C * units,
      floats: panelFloats(units, k),
      panel: 4 * nv,
      anyStride: false,
      build: (a) => pointwiseKernel({ pixels: 1, k, xStride: k, n: units, weights: a.weights, act: "linear", tuning }, a.addHelper),
      pack: () => {
        const w = weightsOf(node);
        if (w.bias === undefined) throw new InternalError(`wasm: fc '${node.id}' has no bias`);
        return packFc(w.kernel.data, units, inShape, xStride, w.bias.data, nv);
      },
    };
  },
  softmax(node, ctx) {
    const x = ctx.value(ctx.unit.inputs[0]!);
    const [H, W, C] = x.shape;
    const xStride = x.stride;
    return {
      kernel: "softmax",
      x,
      outShape: shapeOf(node),
      multAdds: 0,
      floats: 0,
      anyStride: true,
      build: (a) => softmaxKernel({ pixels: H * W, channels: C, xStride, yStride: a.outStride }, a.exp),
    };
  },
  add(node, ctx) {
    const [first, second] = ctx.unit.inputs;
    const [H, W, C] = shapeOf(node);
    // x + b, b 1×1×C over the map: the operands do not commute (b is read per channel).
    const broadcast = broadcasts(ctx.value(second!).shape, shapeOf(node));
    let x = ctx.padded(first!);
    let other = broadcast ? ctx.fixed(second!) : ctx.padded(second!);
    // The kernel reads its second operand at a fixed address, so from a buffer: a + b = b + a.
    if (!broadcast && other.region === "input") {
      if (x.region !== "input") [x, other] = [other, x];
      else other = ctx.fixed(second!);
    }
    return {
      kernel: "add",
      x,
      fixed: [other],
      outShape: shapeOf(node),
      multAdds: 0,
      elementwise: H * W * C,
      floats: 0,
      anyStride: false,
      inPlace: broadcast ? [x] : [x, other],
      build: (a) =>
        broadcast
          ? scaleKernel({ op: "add", pixels: H * W, channels: C, gate: a.address(other) })
          : elementwiseKernel({ op: "add", floats: H * W * roundUp4(C), other: a.address(other) }),
    };
  },
  mul(node, ctx) {
    const [tensor, scale] = ctx.unit.inputs;
    const x = ctx.padded(tensor!);
    const gate = ctx.fixed(scale!);
    const [H, W, C] = shapeOf(node);
    const broadcast = broadcasts(gate.shape, shapeOf(node));
    return {
      kernel: "mul",
      x,
      fixed: [gate],
      outShape: shapeOf(node),
      multAdds: 0,
      elementwise: H * W * C,
      floats: 0,
      anyStride: false,
      inPlace: broadcast ? [x] : [x, gate],
      build: (a) =>
        broadcast
          ? scaleKernel({ pixels: H * W, channels: C, gate: a.address(gate) })
          : elementwiseKernel({ op: "mul", floats: H * W * roundUp4(C), other: a.address(gate) }),
    };
  },
};

function planPool(node: NodeOf<"avgpool" | "maxpool">, ctx: UnitContext): StepSpec {
  const x = ctx.padded(ctx.unit.inputs[0]!);
  const inShape = x.shape;
  const outShape = shapeOf(node);
  const a = node.attrs;
  const op = node.op;
  if (a.kernel === "global") {
    return { kernel: `global-${op}`, x, outShape, multAdds: 0, floats: 0, anyStride: false, build: () => globalPoolKernel({ op, input: inShape }) };
  }
  const kernel = a.kernel;
  const stride = a.stride === "kernel" ? kernel : a.stride;
  const pads = padsOf(node, a.pads);
  const tuning = ctx.tuning;
  return {
    kernel: op,
    x,
    outShape,
    multAdds: 0,
    floats: 0,
    anyStride: false,
    build: () => windowKernel({ op, input: inShape, output: [outShape[0], outShape[1]], kernel, stride, pads, tuning }),
  };
}

/**
 * Steps and memory. The graph's nodes are grouped into steps (groupNodes),
 * and the liveness analysis of that graph of steps (src/ir/liveness.ts)
 * says when each value dies. Walking the steps in order, each output goes
 * to the lowest-numbered free activation buffer — or, for an elementwise
 * step, over an operand that dies at that very step — and a buffer is free
 * again once its value's last reader has run. On a chain this is the
 * ping-pong of two buffers; a residual's input stays in its buffer across
 * the block's body. The last step writes the output region when it can
 * write the unpadded stride; else a copy does.
 */
function plan(graph: Graph, options: WasmOptions): Plan {
  const tuning = options.tuning ?? DEFAULT_TUNING;
  const maxBatch = options.maxBatch ?? 1;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InternalError(`wasm: maxBatch must be a positive integer, not ${maxBatch}`);
  const first = graph.nodes[0];
  if (first === undefined || first.op !== "input") throw new InternalError("wasm: the first node must be the input");
  if (graph.outputs.length === 0) throw new InternalError("wasm: the graph has no outputs");
  const inputShape = shapeOf(first);

  const { units, source } = groupNodes(graph, options.fuse ?? "auto");
  /** Per output k: the step value it is (dropouts resolved). */
  const outputIds = graph.outputs.map(source);
  // The graph of steps: what liveness runs on (node i + 1 is units[i]). No outputs: each output is
  // copied to its region right after the step that makes it (or written there by that step), so a
  // value lives in a buffer only while steps read it.
  const steps: Graph = { ...graph, nodes: [first, ...units.map((u) => ({ ...u.head, id: u.id, inputs: u.inputs }) as Node)], outputs: [] };
  const live = liveness(steps);

  const drafts: Draft[] = [];
  const values = new Map<string, Value>([[first.id, { node: first.id, region: "input", shape: inputShape, stride: inputShape[2] }]]);
  /** Per activation buffer: the id of the value it holds, if any. */
  const holds: (string | undefined)[] = [];
  const acquire = (id: string): number => {
    let i = holds.indexOf(undefined);
    if (i < 0) i = holds.push(undefined) - 1;
    holds[i] = id;
    return i;
  };
  /** The network input copied into a buffer (padded to roundUp4(C)), made once, when a step first needs it. */
  let inputCopy: Value | undefined;
  const copyInput = (): Value => {
    if (inputCopy !== undefined) return inputCopy;
    const [h, w, c] = inputShape;
    const region = acquire(first.id);
    const outStride = roundUp4(c);
    const x = values.get(first.id)!;
    drafts.push({
      name: outStride === c ? "copy_input" : "pad_input",
      nodes: [],
      writes: first.id,
      kernel: "copy",
      x,
      outShape: inputShape,
      multAdds: 0,
      floats: 0,
      anyStride: true,
      to: region,
      outStride,
      build: (a) => copyKernel({ pixels: h * w, channels: c, xStride: x.stride, yStride: a.outStride }),
    });
    inputCopy = { node: first.id, region, shape: inputShape, stride: outStride };
    return inputCopy;
  };
  const value = (id: string): Value => {
    const v = values.get(id);
    if (v === undefined) throw new InternalError(`wasm: '${id}' is read before it is made`);
    return v;
  };
  const padded = (id: string): Value => {
    const v = value(id);
    return v.region === "input" && v.stride !== roundUp4(v.shape[2]) ? copyInput() : v;
  };
  const fixed = (id: string): Value => {
    const v = value(id);
    return v.region === "input" ? copyInput() : v;
  };

  /** Copy each output k whose value is `v` (and not yet in its region) to output region k. */
  const copyOutputs = (v: Value): void => {
    outputIds.forEach((id, k) => {
      const region = outputRegion(k);
      if (id !== v.node || v.region === region) return;
      const [h, w, c] = v.shape;
      drafts.push({
        name: k === 0 ? "copy_output" : `copy_output.${k}`,
        nodes: [],
        writes: id,
        kernel: "copy",
        x: v,
        outShape: v.shape,
        multAdds: 0,
        floats: 0,
        anyStride: true,
        to: region,
        outStride: c,
        build: (a) => copyKernel({ pixels: h * w, channels: c, xStride: v.stride, yStride: a.outStride }),
      });
    });
  };
  copyOutputs(values.get(first.id)!);

  units.forEach((unit, u) => {
    const step = u + 1;
    const spec = plannerOf(unit.head)(unit.head, { tuning, unit, value, padded, fixed });
    const [, , c] = spec.outShape;
    // A step writes its value straight into the first output region that wants it when no later step reads it.
    const k = outputIds.indexOf(unit.id);
    const direct = k >= 0 && live.lastUse.get(unit.id) === step && (spec.anyStride || roundUp4(c) === c);
    let to: Region;
    if (direct) to = outputRegion(k);
    else {
      const over = spec.inPlace?.find((v) => typeof v.region === "number" && live.lastUse.get(v.node) === step);
      to = over === undefined ? acquire(unit.id) : over.region;
      if (typeof to === "number") holds[to] = unit.id;
    }
    const outStride = direct ? c : roundUp4(c);
    drafts.push({ ...spec, name: unit.head.id, nodes: unit.nodes, writes: unit.id, to, outStride });
    const made: Value = { node: unit.id, region: to, shape: spec.outShape, stride: outStride };
    values.set(unit.id, made);
    copyOutputs(made);
    for (const id of live.dies[step] ?? []) {
      const at = holds.indexOf(id);
      if (at >= 0) holds[at] = undefined;
    }
  });
  const outputShapes = outputIds.map((id) => value(id).shape);
  const outputShape = outputShapes[0]!;

  // Addresses: weights, buffers, scratch, input, output.
  let weightsBytes = 0;
  const weightOffsets = drafts.map((d) => {
    if (d.floats === 0) return undefined;
    const at = weightsBytes;
    weightsBytes = align(at + 4 * d.floats);
    return at;
  });
  const weights = 0;
  const bufferBytes = align(Math.max(16, ...drafts.filter((d) => typeof d.to === "number").map((d) => 4 * d.outShape[0] * d.outShape[1] * d.outStride)));
  const buffers = Array.from({ length: Math.max(2, holds.length) }, (_, i) => weights + weightsBytes + i * bufferBytes);
  const scratch = buffers[buffers.length - 1]! + bufferBytes;
  const scratchBytes = align(4 * Math.max(0, ...drafts.map((d) => d.scratch ?? 0)));
  const inputBytes = 4 * size(inputShape);
  const outputBytes = 4 * size(outputShape);
  const input = scratch + scratchBytes;
  const output = align(input + maxBatch * inputBytes);
  let end = output + maxBatch * outputBytes;
  const outputs: WasmOutput[] = outputShapes.map((shape, k) => {
    const bytes = 4 * size(shape);
    const offset = k === 0 ? output : align(end);
    if (k > 0) end = offset + maxBatch * bytes;
    return { id: graph.outputs[k]!, offset, bytes, shape };
  });
  // Each step's tables, one after another, after the outputs.
  let tablesBytes = 0;
  const tableOffsets = drafts.map((d) => {
    if (d.tables === undefined) return 0;
    const at = tablesBytes;
    tablesBytes = align(at + d.tables.length);
    return at;
  });
  const tables = tablesBytes === 0 ? end : align(end);
  if (tablesBytes > 0) end = tables + tablesBytes;
  const tableBytes = new Uint8Array(tablesBytes);
  drafts.forEach((d, i) => {
    if (d.tables !== undefined) tableBytes.set(d.tables, tableOffsets[i]!);
  });
  const memoryPages = Math.max(1, Math.ceil(end / PAGE_BYTES));
  const address = (r: Region): number => {
    if (typeof r === "number") return buffers[r]!;
    if (r === "input") return input;
    return outputs[outputIndex(r)]!.offset;
  };
  const bufferAddress = (v: Value): number => {
    if (typeof v.region !== "number") throw new InternalError(`wasm: '${v.node}' is read at a fixed address but lies in the ${v.region} region`);
    return buffers[v.region]!;
  };

  const layoutSteps: WasmStep[] = drafts.map((d, i) => {
    const at = weightOffsets[i];
    const operand = (v: Value): Operand => ({ node: v.node, region: v.region, address: address(v.region) });
    return {
      name: d.name,
      kernel: d.kernel,
      nodes: d.nodes,
      writes: d.writes,
      from: d.x.region,
      to: d.to,
      input: address(d.x.region),
      output: address(d.to),
      operands: [operand(d.x), ...(d.fixed ?? []).map(operand)],
      inShape: d.x.shape,
      outShape: d.outShape,
      inStride: d.x.stride,
      outStride: d.outStride,
      multAdds: d.multAdds,
      elementwise: d.elementwise ?? 0,
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
    outputs,
    weights,
    weightsBytes,
    buffers,
    bufferBytes,
    scratch,
    scratchBytes,
    tables,
    tablesBytes,
    memoryBytes: memoryPages * PAGE_BYTES,
    memoryPages,
    steps: layoutSteps,
  };
  return {
    layout,
    tables: tableBytes,
    kernels: drafts.map(
      (d, i) => (exp: number, addHelper: AddHelper) =>
        d.build({ weights: weights + (weightOffsets[i] ?? 0), outStride: d.outStride, exp, addHelper, scratch, tables: tables + tableOffsets[i]!, address: bufferAddress }),
    ),
    packs: drafts.map((d) => d.pack),
  };
}

/** The k of an output region (`output` is 0, `output.k` is k). */
function outputIndex(r: "output" | `output.${number}`): number {
  return r === "output" ? 0 : Number(r.slice("output.".length));
}

/** run(batch): for each item, every step's kernel with the item's input and output addresses. */
function runFunction(layout: WasmLayout, indices: readonly number[]): FunctionBody {
  const f = new FunctionBody(["i32"]);
  const batch = f.param(0);
  const x = f.local("i32");
  const y = f.local("i32");
  // The further outputs' item addresses (none for a network of one output).
  const more = layout.outputs.slice(1).map(() => f.local("i32"));
  const ys = [y, ...more];
  f.localGet(batch).i32Const(layout.maxBatch).i32GtS().if(() => f.unreachable());
  f.localGet(batch).i32Const(0).i32GtS().if(() => {
    f.i32Const(layout.input).localSet(x);
    f.i32Const(layout.output).localSet(y);
    more.forEach((l, k) => f.i32Const(layout.outputs[k + 1]!.offset).localSet(l));
    f.loop((top) => {
      layout.steps.forEach((s, i) => {
        for (const r of [s.from, s.to]) {
          if (r === "input") f.localGet(x);
          else if (typeof r === "number") f.i32Const(layout.buffers[r]!);
          else f.localGet(ys[outputIndex(r)]!);
        }
        f.call(indices[i]!);
      });
      f.localGet(x).i32Const(layout.inputBytes).i32Add().localSet(x);
      f.localGet(y).i32Const(layout.outputBytes).i32Add().localSet(y);
      more.forEach((l, k) => f.localGet(l).i32Const(layout.outputs[k + 1]!.bytes).i32Add().localSet(l));
      f.localGet(batch).i32Const(1).i32Sub().localTee(batch).brIf(top);
    });
  });
  return f;
}

// ── graph access ───────────────────────────────────────────────────────────

function plannerOf<K extends OpKind>(node: NodeOf<K>): (node: NodeOf<K>, ctx: UnitContext) => StepSpec {
  return PLANNERS[node.op as K];
}

const sameShape = (a: Shape, b: Shape): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

/** Whether a binary op's second operand (of shape `b`) is a 1×1×C tensor broadcast over a larger map. */
function broadcasts(b: Shape, out: Shape): boolean {
  return b[0] * b[1] !== out[0] * out[1];
}

function shapeOf(node: Node): Shape {
  if (node.shape === undefined) throw new InternalError(`wasm: '${node.id}' has no shape (run infer-shapes first)`);
  return node.shape;
}

/** The products a transposed convolution's taps contribute inside its (cropped) output. */
function deconvMultAdds([H, W, C]: Shape, [OH, OW, OC]: Shape, [KH, KW]: Pair, [SH, SW]: Pair, [top, left]: readonly number[]): number {
  let taps = 0;
  for (let ry = 0; ry < SH; ry++) {
    for (let rx = 0; rx < SW; rx++) {
      const rows = deconvPhase(H, OH, KH, SH, top!, ry).runs;
      const cols = deconvPhase(W, OW, KW, SW, left!, rx).runs;
      for (const r of rows) for (const c of cols) taps += r.count * c.count * (r.hi - r.lo) * (c.hi - c.lo);
    }
  }
  return taps * C * OC;
}

/** A dilation for a kernel spec: none when absent or 1×1 (the undilated code). */
function dilationOf(d: Pair | undefined): { readonly dilation?: Pair } {
  return d === undefined || (d[0] === 1 && d[1] === 1) ? {} : { dilation: d };
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
