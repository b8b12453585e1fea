/**
 * A quantized network as one WebAssembly module of integer SIMD kernels
 * (kernels.ts), bit-exact with the integer reference
 * (`runReferenceInt(graph, input, "xnnpack")`, src/ir/reference-int.ts) on
 * every op it compiles.
 *
 *   const { wasm, layout } = compileNetworkWasmInt8(graph, { maxBatch });
 *   const memory = new WebAssembly.Memory({ initial: layout.memoryPages });
 *   const { exports } = await WebAssembly.instantiate(wasm, { env: { memory } });
 *   new Uint8Array(memory.buffer, layout.blob, layout.blobBytes).set(int8Blob(graph).bytes);
 *   exports.init();                                                   // pack the weights (once)
 *   new Uint8Array(memory.buffer, layout.input, batch * layout.inputBytes).set(images);
 *   exports.run(batch);                                               // batch ≤ layout.maxBatch
 *   layout.outputs[k]: graph.outputs[k]'s region (offset, bytes per item, shape)
 *
 * The host writes the canonical int8 weights blob (src/weights/int8.ts:
 * int8Blob(graph).bytes) at `blob` after instantiating and before `init()`;
 * `init()` zeroes the packed-weights region and unpacks every layer into it
 * (see kernels.ts: GEMM panels of (w − w_zp) as int16 with x_zp folded into
 * the biases, depthwise groups, each with its f32 multipliers). The blob
 * region is read by `init()` only, and shares its bytes with the activation
 * buffers and the scratch: the first run writes over it, so `init()` comes
 * once, after the blob is written and before the first run. Input and
 * outputs hold stored values (uint8 or int8, the model's types), one byte
 * each, HWC unpadded, maxBatch items back to back.
 *
 * Memory layout (byte offsets, each region 64-byte aligned, in this order):
 *
 *   params    per weighted layer its weight zero points (int32) and
 *             multipliers (f32) per output channel; each softmax's float
 *             table — constants of the graph, written by a data segment
 *             when the module is instantiated
 *   weights   the packed weights init() writes
 *   blob      where the host writes int8Blob(graph).bytes, at the start of
 *             the buffers and scratch below (as long as the longer of the two)
 *   buffers   activation buffers of one batch item, each the size of the
 *             largest value, channel stride roundUp(C, 16) bytes; a value
 *             goes to the lowest-numbered buffer free at its step (the one
 *             liveness analysis, src/ir/liveness.ts, on the graph of steps)
 *   scratch   the widened (int16) receptive fields a GEMM step reads, a
 *             depthwise step's row of x_zp
 *   input     maxBatch items of the input's stored bytes
 *   outputs   per graph output: maxBatch items of its stored bytes
 *
 * Steps. Every node is one step, except that a dropout, and a softmax the
 * model has no quantization for (the integer reference passes its input
 * on), are none; `copy_input` re-strides the input first when an add reads
 * it, and `copy_output` (`copy_output.k` for graph.outputs[k]) writes each
 * output, unpadded, into its region. Kernels by op:
 *
 *   conv, fc     an int8 GEMM (gemmKernel): each output pixel's receptive
 *                field widened to int16 rows (a 1×1 convolution's input row
 *                as it is, pass by pass), tiles of mr pixels × 16 channels
 *                accumulated with i32x4.dot_i16x8_s, requantized in the
 *                epilogue
 *   depthwise    8 channels at a time, two taps per i32x4.dot_i16x8_s
 *                (depthwiseKernel); a 3×3 kernel at horizontal stride 1 or 2
 *                slides along the row, carrying its widened columns; one at
 *                vertical stride 1 whose output rows are at least
 *                Int8Tuning.dwPairRowsWidth wide first rewrites its input two
 *                rows at a time as int16 pairs (pairRowKernel)
 *   avgpool      window sums, M per window as the reference computes it
 *   maxpool      window maxima, requantized when the quantization changes
 *   add          XNNPACK's vadd with its 20-bit multipliers
 *   mul          an SE gate (1×1×C broadcast) or same shapes, requantized
 *   activation   the 256-entry table (activationTable); a conv's or
 *                depthwise's hswish / hsigmoid / sigmoid the same table
 *                after requantizing into QuantizedWeights.linear
 *   softmax      TFLite's float table, scalar
 *
 * `run(batch)` loops over the batch items and calls the steps' kernels in
 * order; every kernel is also exported under its step's name (the node id,
 * or copy_input / copy_output / copy_output.k) taking (x, y): the byte
 * addresses of its first operand and its output for one item (further
 * operands, an add's second, are compiled in), so a host can time steps one
 * by one. A batch larger than maxBatch traps. Ops the module has no kernel
 * for yet (int8UnsupportedNode) make compileNetworkWasmInt8 throw, naming
 * the layer. Pure: no I/O.
 */
import { InternalError } from "../../../ir/diagnostics.js";
import { QUANTIZED_RANGE, type Activation, type Graph, type Node, type OpKind, type Quantization, type QuantizedWeights, type Shape } from "../../../ir/graph.js";
import { liveness } from "../../../ir/liveness.js";
import { activationRange, activationTable, firstNonIntegerNode, isTableActivation, multiplier, softmaxTable, xnnpackAddParameters, type AddParameters } from "../../../ir/reference-int.js";
import { int8Layout, type Int8Layer } from "../../../weights/int8.js";
import { FunctionBody, ModuleWriter, PAGE_BYTES } from "../writer.js";
import {
  addKernel,
  avgpoolKernel,
  copyKernel,
  maxpoolKernel,
  mulKernel,
  tableKernel,
  depthwiseKernel,
  depthwiseScratchBytes,
  DW_PACK,
  dwPackedBytes,
  dwPairRows,
  dwSliding,
  gemmK,
  gemmKernel,
  gemmBytePanels,
  gemmPackedBytes,
  gemmScratchBytes,
  isPointwise,
  packDepthwiseFunction,
  packGemmFunction,
  softmaxKernel,
  stride,
  zeroKernel,
  type Requant,
} from "./kernels.js";

export interface Int8WasmLayout {
  readonly memoryPages: number;
  readonly maxBatch: number;
  /** Where the host writes the canonical int8 weights blob (src/weights/int8.ts: int8Blob(graph).bytes) before calling `init()`. */
  readonly blob: number;
  readonly blobBytes: number;
  /** maxBatch items of the input's stored values, one byte each (uint8 or int8, the input's type), HWC unpadded. */
  readonly input: number;
  /** Bytes per item. */
  readonly inputBytes: number;
  /** Per graph output (graph.outputs order): maxBatch items of stored values, one byte each, HWC unpadded. */
  readonly outputs: readonly { readonly offset: number; readonly bytes: number; readonly shape: Shape }[];
  /** The steps in run order: export name, kernel kind, the nodes whose work it does, multiply-adds per item. */
  readonly steps: readonly Int8Step[];
}

export type Int8KernelKind = "gemm" | "depthwise" | "avgpool" | "maxpool" | "add" | "mul" | "activation" | "softmax" | "copy";

export interface Int8Step {
  /** The export name of its kernel. */
  readonly name: string;
  readonly kernel: Int8KernelKind;
  /** The graph nodes whose work it does (none for copies). */
  readonly nodes: readonly string[];
  /** Byte addresses of its first operand and of its output for batch item 0: the kernel's (x, y). */
  readonly input: number;
  readonly output: number;
  /** Multiply-adds per batch item. */
  readonly multAdds: number;
}

export interface Int8WasmOptions {
  /** Batch items the input and output regions hold (default 1). */
  readonly maxBatch?: number;
  /** GEMM blocking (default INT8_TUNING). */
  readonly tuning?: Int8Tuning;
}

/** The GEMM's blocking (for measurements; every setting computes the same bytes). */
export interface Int8Tuning {
  /** Pixels per register tile. */
  readonly mr: number;
  /** Vectors of 4 output channels per tile: a whole block of 16, or half of one. */
  readonly nv: 2 | 4;
  /** Pairs of k per iteration of the reduction loop. */
  readonly unroll: number;
  /** Hold the tile's weight vectors while the pixels' splats stream (else the splats are held). */
  readonly holdWeights: boolean;
  /** Bytes of widened input rows per pass over the weight blocks. */
  readonly chunkBytes: number;
  /** The least output width at which a 3×3 depthwise layer of vertical stride 1 reads its input as pair-rows (pairRowKernel) instead of sliding. */
  readonly dwPairRowsWidth: number;
}

/**
 * Measured on V8 (docs/wasm.md): 2 pixels × 16 channels is 8 accumulators,
 * 2 splats and a weight vector; bigger tiles spill, and an unrolled
 * reduction lets TurboFan hoist every load of the body to its top and spill.
 */
export const INT8_TUNING: Int8Tuning = { mr: 2, nv: 4, unroll: 1, holdWeights: false, chunkBytes: 64 * 1024, dwPairRowsWidth: 28 };

/** The first node the int8 module cannot compile: it has a kernel for every op the integer reference runs (firstNonIntegerNode). */
export function int8UnsupportedNode(graph: Graph): Node | undefined {
  return firstNonIntegerNode(graph);
}

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
/** Bytes after every region that a kernel's last vector may run into. */
const SLACK = 32;

type Region = "input" | number | `output.${number}`;

/** A value as it lies in memory. */
interface Value {
  readonly id: string;
  readonly shape: Shape;
  readonly quant: Quantization;
  /** Bytes per pixel. */
  readonly stride: number;
  region?: Region;
}

/** What a kernel's code needs once addresses are known. */
interface Addresses {
  readonly weights: number;
  /** The blob region (init() reads it; the buffers and scratch share its bytes). */
  readonly blob: number;
  readonly scratch: number;
  readonly params: number;
  address(v: Value): number;
}

interface Step {
  readonly name: string;
  readonly kernel: Int8KernelKind;
  readonly nodes: readonly string[];
  readonly x: Value;
  /** Operands at fixed addresses (an add's second). */
  readonly fixed: readonly Value[];
  readonly y: Value;
  readonly multAdds: number;
  readonly scratch: number;
  /** Packed bytes in the weights region, and the params (zero points, multipliers) it reads while packing. */
  readonly packedBytes: number;
  readonly params?: Uint8Array;
  readonly build: (a: Addresses) => FunctionBody;
  /** init()'s call that packs this step's weights. */
  readonly pack?: (f: FunctionBody, a: Addresses, fns: { readonly gemm: number; readonly dw: number }) => void;
}

/** Build the int8 module of a quantized graph (every node carrying `quant`, weighted layers `weights.quantized`). */
export function compileNetworkWasmInt8(graph: Graph, options: Int8WasmOptions = {}): { wasm: Uint8Array; layout: Int8WasmLayout } {
  const maxBatch = options.maxBatch ?? 1;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InternalError(`int8 wasm: maxBatch ${maxBatch}`);
  const bad = int8UnsupportedNode(graph);
  if (bad !== undefined) throw new InternalError(`int8 wasm: no integer kernel for '${bad.id}' (${bad.op})`);
  const steps = planSteps(graph, options.tuning ?? INT8_TUNING);
  const input = graph.nodes[0]!;
  const inShape = shapeOf(input);
  const inputBytes = inShape[0] * inShape[1] * inShape[2];

  // Buffers: the one liveness analysis on the graph of steps (node 0 the input, node i + 1 step i).
  const live = liveness({
    ...graph,
    nodes: [input, ...steps.map((s) => ({ ...input, id: s.y.id, inputs: [s.x, ...s.fixed].map((v) => v.id) }))],
    outputs: [],
  });
  const owner: (string | undefined)[] = [];
  let bufferBytes = 0;
  steps.forEach((s, i) => {
    // free what died at earlier steps (step index i+1 in the liveness graph: the input is node 0)
    if (i > 0) for (const id of live.dies[i]!) for (let b = 0; b < owner.length; b++) if (owner[b] === id) owner[b] = undefined;
    if (s.y.region !== undefined) return; // an output region
    let b = owner.findIndex((o) => o === undefined);
    if (b < 0) {
      owner.push(undefined);
      b = owner.length - 1;
    }
    owner[b] = s.y.id;
    s.y.region = b;
    bufferBytes = Math.max(bufferBytes, s.y.shape[0] * s.y.shape[1] * s.y.stride);
  });
  const buffers = Math.max(1, owner.length);
  bufferBytes = align(bufferBytes + SLACK);

  // Regions.
  const params = concat(steps.map((s) => s.params ?? new Uint8Array(0)).map((p) => padTo(p, 16)));
  let at = 0;
  const paramsAt = at;
  at = align(at + params.length);
  const weightsAt = at;
  const packedAt = new Map<string, number>();
  const paramAt = new Map<string, number>();
  let p = 0;
  let w = 0;
  for (const s of steps) {
    packedAt.set(s.name, weightsAt + w);
    w += align(s.packedBytes);
    paramAt.set(s.name, paramsAt + p);
    p += padTo(s.params ?? new Uint8Array(0), 16).length;
  }
  const weightsBytes = align(w);
  at += weightsBytes;
  // The blob is read by init() only: it shares its bytes with the buffers and the scratch, which
  // the steps write over once init() has packed it.
  const blobLayout = int8Layout(graph);
  const blobAt = at;
  const bufferAt = Array.from({ length: buffers }, (_, b) => at + b * bufferBytes);
  const scratchAt = at + buffers * bufferBytes;
  at = Math.max(align(scratchAt + Math.max(0, ...steps.map((s) => s.scratch)) + SLACK), align(blobAt + blobLayout.bytes + SLACK));
  const inputAt = at;
  at = align(at + maxBatch * inputBytes + SLACK);
  const outputs = graph.outputs.map((id) => {
    const shape = shapeOf(nodeById(graph, id));
    const bytes = shape[0] * shape[1] * shape[2];
    const offset = at;
    at = align(at + maxBatch * bytes + SLACK);
    return { offset, bytes, shape };
  });
  const memoryBytes = Math.ceil(at / PAGE_BYTES) * PAGE_BYTES;
  const memoryPages = memoryBytes / PAGE_BYTES;

  const address = (v: Value): number => {
    const r = v.region;
    if (typeof r === "number") return bufferAt[r]!;
    if (r === "input") return inputAt;
    if (r === undefined) throw new InternalError(`int8 wasm: '${v.id}' has no region`);
    return outputs[Number(r.slice("output.".length))]!.offset;
  };

  // The module.
  const m = new ModuleWriter();
  m.importMemory("env", "memory", memoryPages);
  const gemmPack = m.addFunction(packGemmFunction());
  const dwPack = m.addFunction(packDepthwiseFunction());
  const zero = m.addFunction(zeroKernel(weightsAt, weightsBytes));
  const indices = steps.map((s) => m.addFunction(s.build({ weights: packedAt.get(s.name)!, blob: blobAt, scratch: scratchAt, params: paramAt.get(s.name)!, address })));
  const init = new FunctionBody([]);
  init.call(zero);
  for (const s of steps) s.pack?.(init, { weights: packedAt.get(s.name)!, blob: blobAt, scratch: scratchAt, params: paramAt.get(s.name)!, address }, { gemm: gemmPack, dw: dwPack });
  const run = new FunctionBody(["i32"]);
  {
    const f = run;
    const batch = f.param(0);
    const item = f.local("i32");
    f.localGet(batch).i32Const(maxBatch).i32GtS().if(() => void f.unreachable());
    f.localGet(batch).i32Const(0).i32GtS().if(() => {
      f.loop((top) => {
        steps.forEach((s, i) => {
          for (const v of [s.x, s.y]) {
            f.i32Const(address(v));
            if (v.region === "input") f.localGet(item).i32Const(inputBytes).i32Mul().i32Add();
            else if (typeof v.region === "string") f.localGet(item).i32Const(outputs[Number(v.region.slice("output.".length))]!.bytes).i32Mul().i32Add();
          }
          f.call(indices[i]!);
        });
        f.localGet(item).i32Const(1).i32Add().localTee(item).localGet(batch).i32LtS().brIf(top);
      });
    });
  }
  m.exportFunction("init", m.addFunction(init));
  m.exportFunction("run", m.addFunction(run));
  steps.forEach((s, i) => m.exportFunction(s.name, indices[i]!));
  if (params.length > 0) m.addData(paramsAt, params);
  const layout: Int8WasmLayout = {
    memoryPages,
    maxBatch,
    blob: blobAt,
    blobBytes: blobLayout.bytes,
    input: inputAt,
    inputBytes,
    outputs,
    steps: steps.map((s) => ({ name: s.name, kernel: s.kernel, nodes: s.nodes, input: address(s.x), output: address(s.y), multAdds: s.multAdds })),
  };
  return { wasm: m.encode(), layout };
}

// ── steps ──────────────────────────────────────────────────────────────────

function planSteps(graph: Graph, tuning: Int8Tuning): Step[] {
  const input = graph.nodes[0];
  if (input === undefined || input.op !== "input") throw new InternalError("int8 wasm: the graph does not start with its input");
  if (graph.nodes.some((n, i) => i > 0 && n.op === "input")) throw new InternalError("int8 wasm: a second input");
  const blob = new Map(int8Layout(graph).layers.map((l) => [l.node, l]));
  const values = new Map<string, Value>();
  const inputValue: Value = { id: input.id, shape: shapeOf(input), quant: quantOf(input), stride: shapeOf(input)[2], region: "input" };
  values.set(input.id, inputValue);
  const steps: Step[] = [];
  // An add or mul reads its operands with the buffers' stride: re-stride the input first if one does.
  const passes = (n: Node): boolean => n.op === "dropout" || (n.op === "softmax" && n.quant === undefined);
  const inputs = new Set([input.id]);
  for (const n of graph.nodes) if (passes(n) && inputs.has(n.inputs[0]!)) inputs.add(n.id);
  if (graph.nodes.some((n) => (n.op === "add" || n.op === "mul") && n.inputs.some((id) => inputs.has(id)))) {
    const [H, W, C] = inputValue.shape;
    const y: Value = { id: "copy_input", shape: inputValue.shape, quant: inputValue.quant, stride: stride(C) };
    steps.push(copyStep("copy_input", inputValue, y, H * W));
    values.set(input.id, y);
  }
  const value = (id: string): Value => {
    const v = values.get(id);
    if (v === undefined) throw new InternalError(`int8 wasm: '${id}' is read before it is made`);
    return v;
  };
  for (const node of graph.nodes) {
    if (node.op === "input") continue;
    if (passes(node)) {
      values.set(node.id, value(node.inputs[0]!));
      continue;
    }
    const step = STEPS[node.op](node as never, { value, blob, graph, tuning });
    values.set(node.id, step.y);
    steps.push(step);
  }
  graph.outputs.forEach((id, k) => {
    const v = value(id);
    const [H, W, C] = v.shape;
    const y: Value = { id: `${id}@output.${k}`, shape: v.shape, quant: v.quant, stride: C, region: `output.${k}` };
    steps.push(copyStep(k === 0 ? "copy_output" : `copy_output.${k}`, v, y, H * W));
  });
  return steps;
}

function copyStep(name: string, x: Value, y: Value, pixels: number): Step {
  return {
    name,
    kernel: "copy",
    nodes: [],
    x,
    fixed: [],
    y,
    multAdds: 0,
    scratch: 0,
    packedBytes: 0,
    build: () => copyKernel(pixels, x.shape[2], x.stride, y.stride),
  };
}

interface StepContext {
  value(id: string): Value;
  readonly blob: ReadonlyMap<string, Int8Layer>;
  readonly graph: Graph;
  readonly tuning: Int8Tuning;
}

type Planner<K extends OpKind> = (node: Extract<Node, { op: K }>, ctx: StepContext) => Step;

const refuse =
  (what: string) =>
  (node: Node): Step => {
    throw new InternalError(`int8 wasm: no integer kernel for '${node.id}' (${what})`);
  };

/** One entry per op kind, so that tsc refuses to build until every op is planned or refused here. */
const STEPS: { readonly [K in OpKind]: Planner<K> } = {
  input: refuse("a second input"),
  dropout: refuse("dropout"),
  conv: (node, ctx) => gemmStep(node, ctx),
  fc: (node, ctx) => gemmStep(node, ctx),
  depthwise(node, ctx) {
    const x = ctx.value(node.inputs[0]!);
    const yq = quantOf(node);
    const outShape = shapeOf(node);
    const [OH, OW, C] = outShape;
    const a = node.attrs;
    const taps = a.kernel[0] * a.kernel[1];
    const q = quantizedOf(node);
    const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(C) };
    const pads = a.pads ?? [0, 0, 0, 0];
    const { lq, table } = tableOf(node, a.act, yq);
    const ms = Array.from({ length: C }, (_, c) => multiplier(x.quant.scale[0]!, q.kernelQuant.scale[q.kernelQuant.scale.length > 1 ? c : 0]!, lq.scale[0]!, "xnnpack"));
    const dilation = a.dilation ?? [1, 1];
    const pairRows = dwPairRows({ kernel: a.kernel, stride: a.stride, dilation }) && OW >= ctx.tuning.dwPairRowsWidth && x.stride % 16 === 0;
    const mode = pairRows ? DW_PACK.pairRows : dwSliding({ kernel: a.kernel, stride: a.stride, dilation }) ? DW_PACK.sliding : DW_PACK.rowMajor;
    return {
      name: node.id,
      kernel: "depthwise",
      nodes: [node.id],
      x,
      fixed: [],
      y,
      multAdds: OH * OW * C * taps,
      scratch: depthwiseScratchBytes(x.shape[1], x.stride, pairRows ? { ow: OW, sw: a.stride[1], left: pads[1] } : undefined),
      packedBytes: dwPackedBytes(C, taps, pairRows),
      params: concat([channelParams(q.kernelQuant, C, (c) => ms[c]!), table ?? new Uint8Array(0)]),
      build: (ad) =>
        depthwiseKernel({
          input: x.shape,
          xStride: x.stride,
          xType: x.quant.type,
          xZeroPoint: x.quant.zeroPoint[0]!,
          output: outShape,
          yStride: y.stride,
          kernel: a.kernel,
          stride: a.stride,
          dilation,
          pads: [pads[0], pads[1]],
          weights: ad.weights,
          scratch: ad.scratch,
          requant: requantOf(lq, a.act, ms, accBound(q, C, x.quant)),
          ...(table === undefined ? {} : { table: { address: ad.params + 8 * C, from: lq.type } }),
          pairRows,
        }),
      pack: (f, ad, fns) => {
        const l = blobOf(ctx, node.id);
        f.i32Const(blobAddress(ad, l.kernel.offset)).i32Const(q.bias === undefined ? -1 : blobAddress(ad, l.bias.offset)).i32Const(ad.weights).i32Const(ad.params);
        f.i32Const(C).i32Const(taps).i32Const(x.quant.zeroPoint[0]!).i32Const(q.kernelQuant.type === "int8" ? 1 : 0);
        f.i32Const(mode).call(fns.dw);
      },
    };
  },
  avgpool(node, ctx) {
    const x = ctx.value(node.inputs[0]!);
    const yq = quantOf(node);
    const outShape = shapeOf(node);
    const [IH, IW] = x.shape;
    const a = node.attrs;
    const kernel: readonly [number, number] = a.kernel === "global" ? [IH, IW] : a.kernel;
    const strides: readonly [number, number] = a.stride === "kernel" ? kernel : a.stride;
    const pads = a.pads ?? [0, 0, 0, 0];
    const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(outShape[2]) };
    const [lo, hi] = QUANTIZED_RANGE[yq.type];
    return {
      name: node.id,
      kernel: "avgpool",
      nodes: [node.id],
      x,
      fixed: [],
      y,
      multAdds: 0,
      scratch: 0,
      packedBytes: 0,
      build: () =>
        avgpoolKernel({
          input: x.shape,
          xStride: x.stride,
          xType: x.quant.type,
          xZeroPoint: x.quant.zeroPoint[0]!,
          output: outShape,
          yStride: y.stride,
          kernel,
          stride: strides,
          pads: [pads[0], pads[1]],
          sx: x.quant.scale[0]!,
          sy: yq.scale[0]!,
          requant: { lo, hi, zeroPoint: yq.zeroPoint[0]!, type: yq.type },
        }),
    };
  },
  add(node, ctx) {
    const a = ctx.value(node.inputs[0]!);
    const b = ctx.value(node.inputs[1]!);
    const yq = quantOf(node);
    const outShape = shapeOf(node);
    const [H, W, C] = outShape;
    const broadcast = b.shape[0] === 1 && b.shape[1] === 1 && (H !== 1 || W !== 1);
    if (a.stride !== stride(C) || b.stride !== stride(C)) throw new InternalError(`int8 wasm: '${node.id}' reads an operand of another stride`);
    const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(C) };
    const p = xnnpackAddParams(a.quant, b.quant, yq);
    return {
      name: node.id,
      kernel: "add",
      nodes: [node.id],
      x: a,
      fixed: [b],
      y,
      multAdds: 0,
      scratch: 0,
      packedBytes: 0,
      build: (ad) => addKernel({ pixels: H * W, channels: C, stride: y.stride, aType: a.quant.type, bType: b.quant.type, b: ad.address(b), broadcast, ...p, yZeroPoint: yq.zeroPoint[0]!, yType: yq.type }),
    };
  },
  softmax(node, ctx) {
    const x = ctx.value(node.inputs[0]!);
    const yq = quantOf(node);
    const outShape = shapeOf(node);
    const [H, W, C] = outShape;
    const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(C) };
    const table = softmaxTable(x.quant);
    const [lo, hi] = QUANTIZED_RANGE[yq.type];
    return {
      name: node.id,
      kernel: "softmax",
      nodes: [node.id],
      x,
      fixed: [],
      y,
      multAdds: 0,
      scratch: 0,
      packedBytes: 0,
      params: new Uint8Array(table.buffer),
      build: (ad) => softmaxKernel({ pixels: H * W, channels: C, xStride: x.stride, yStride: y.stride, xType: x.quant.type, table: ad.params, sy: yq.scale[0]!, yZeroPoint: yq.zeroPoint[0]!, lo, hi }),
    };
  },
  maxpool(node, ctx) {
    const x = ctx.value(node.inputs[0]!);
    const yq = quantOf(node);
    const outShape = shapeOf(node);
    const [IH, IW] = x.shape;
    const a = node.attrs;
    const kernel: readonly [number, number] = a.kernel === "global" ? [IH, IW] : a.kernel;
    const strides: readonly [number, number] = a.stride === "kernel" ? kernel : a.stride;
    const pads = a.pads ?? [0, 0, 0, 0];
    const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(outShape[2]) };
    const same = x.quant.scale[0] === yq.scale[0] && x.quant.zeroPoint[0] === yq.zeroPoint[0];
    const m = multiplier(x.quant.scale[0]!, 1, yq.scale[0]!, "xnnpack");
    const [lo, hi] = QUANTIZED_RANGE[yq.type];
    const [xlo, xhi] = QUANTIZED_RANGE[x.quant.type];
    const xzp = x.quant.zeroPoint[0]!;
    return {
      ...plain(node, "maxpool", x, y),
      build: () =>
        maxpoolKernel({
          input: x.shape,
          xStride: x.stride,
          xType: x.quant.type,
          xZeroPoint: xzp,
          output: outShape,
          yStride: y.stride,
          kernel,
          stride: strides,
          pads: [pads[0], pads[1]],
          ...(same ? {} : { requant: { lo, hi, zeroPoint: yq.zeroPoint[0]!, type: yq.type, uniform: m, bounded: Math.abs(m) * Math.max(xhi - xzp, xzp - xlo) < BOUND } }),
        }),
    };
  },
  mul(node, ctx) {
    const a = ctx.value(node.inputs[0]!);
    const b = ctx.value(node.inputs[1]!);
    const yq = quantOf(node);
    const outShape = shapeOf(node);
    const [H, W, C] = outShape;
    const broadcast = b.shape[0] === 1 && b.shape[1] === 1 && (H !== 1 || W !== 1);
    if (a.stride !== stride(C) || b.stride !== stride(C)) throw new InternalError(`int8 wasm: '${node.id}' reads an operand of another stride`);
    const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(C) };
    const m = multiplier(a.quant.scale[0]!, b.quant.scale[0]!, yq.scale[0]!, "xnnpack");
    const [lo, hi] = QUANTIZED_RANGE[yq.type];
    const span = (q: Quantization): number => {
      const [l, h] = QUANTIZED_RANGE[q.type];
      return Math.max(h - q.zeroPoint[0]!, q.zeroPoint[0]! - l);
    };
    return {
      ...plain(node, "mul", a, y),
      fixed: [b],
      build: (ad) =>
        mulKernel({
          pixels: H * W,
          channels: C,
          stride: y.stride,
          aType: a.quant.type,
          bType: b.quant.type,
          aZeroPoint: a.quant.zeroPoint[0]!,
          bZeroPoint: b.quant.zeroPoint[0]!,
          b: ad.address(b),
          broadcast,
          requant: { lo, hi, zeroPoint: yq.zeroPoint[0]!, type: yq.type, uniform: m, bounded: Math.abs(m) * span(a.quant) * span(b.quant) < BOUND },
        }),
    };
  },
  activation(node, ctx) {
    const x = ctx.value(node.inputs[0]!);
    const yq = quantOf(node);
    const outShape = shapeOf(node);
    const [H, W, C] = outShape;
    const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(C) };
    return {
      ...plain(node, "activation", x, y),
      params: tableBytes(activationTable(node.attrs.act, x.quant, yq)),
      build: (ad) => tableKernel(H * W, C, x.stride, y.stride, { address: ad.params, from: x.quant.type }),
    };
  },
  deconv: refuse("deconv"),
  concat: refuse("concat"),
  resize: refuse("resize"),
  argmax: refuse("argmax"),
};

function gemmStep(node: Extract<Node, { op: "conv" | "fc" }>, ctx: StepContext): Step {
  const x = ctx.value(node.inputs[0]!);
  const yq = quantOf(node);
  const outShape = shapeOf(node);
  const [OH, OW, N] = outShape;
  const [IH, IW, C] = x.shape;
  const conv = node.op === "conv" ? node.attrs : undefined;
  const kernel: readonly [number, number] = conv?.kernel ?? [IH, IW];
  const strides: readonly [number, number] = conv?.stride ?? [1, 1];
  const pads = conv?.pads ?? [0, 0, 0, 0];
  const act = conv?.act ?? "linear";
  const taps = kernel[0] * kernel[1];
  const kp = gemmK(kernel[0], kernel[1], C);
  const q = quantizedOf(node);
  const y: Value = { id: node.id, shape: outShape, quant: yq, stride: stride(N) };
  const xzp = x.quant.zeroPoint[0]!;
  const { lq, table } = tableOf(node, act, yq);
  const ms = Array.from({ length: N }, (_, c) => multiplier(x.quant.scale[0]!, q.kernelQuant.scale[q.kernelQuant.scale.length > 1 ? c : 0]!, lq.scale[0]!, "xnnpack"));
  const bytePanels = gemmBytePanels(OH * OW);
  return {
    name: node.id,
    kernel: "gemm",
    nodes: [node.id],
    x,
    fixed: [],
    y,
    multAdds: OH * OW * N * taps * C,
    scratch: gemmScratchBytes(OH * OW, kp, isPointwise({ kernel, stride: strides, pads: [pads[0], pads[1]], input: x.shape, output: outShape }), ctx.tuning.chunkBytes, ctx.tuning.mr, OW),
    packedBytes: gemmPackedBytes(N, kp, bytePanels),
    params: concat([channelParams(q.kernelQuant, N, (c) => ms[c]!), table ?? new Uint8Array(0)]),
    build: (ad) =>
      gemmKernel({
        input: x.shape,
        xStride: x.stride,
        xType: x.quant.type,
        xZeroPoint: xzp,
        wType: q.kernelQuant.type,
        output: outShape,
        yStride: y.stride,
        kernel,
        stride: strides,
        dilation: conv?.dilation ?? [1, 1],
        pads: [pads[0], pads[1]],
        weights: ad.weights,
        scratch: ad.scratch,
        requant: requantOf(lq, act, ms, accBound(q, N, x.quant)),
        ...ctx.tuning,
        ...(table === undefined ? {} : { table: { address: ad.params + 8 * N, from: lq.type } }),
      }),
    pack: (f, ad, fns) => {
      const l = blobOf(ctx, node.id);
      f.i32Const(blobAddress(ad, l.kernel.offset)).i32Const(q.bias === undefined ? -1 : blobAddress(ad, l.bias.offset)).i32Const(ad.weights).i32Const(ad.params);
      f.i32Const(N).i32Const(C * taps).i32Const(C).i32Const(taps).i32Const(kp).i32Const(xzp).i32Const(q.kernelQuant.type === "int8" ? 1 : 0);
      f.i32Const(bytePanels ? 1 : 0).call(fns.gemm);
    },
  };
}

/**
 * A layer's table activation (hswish, hsigmoid, sigmoid): the quantization its
 * accumulators requantize into (QuantizedWeights.linear) and the table's bytes
 * (after the layer's params); a clamp activation requantizes straight into the output's.
 */
function tableOf(node: Extract<Node, { op: "conv" | "depthwise" | "fc" }>, act: Activation, yq: Quantization): { readonly lq: Quantization; readonly table?: Uint8Array } {
  if (!isTableActivation(act)) return { lq: yq };
  const lq = node.weights?.quantized?.linear;
  if (lq === undefined) throw new InternalError(`int8 wasm: '${node.id}' has a table activation but no linear-output quantization`);
  return { lq, table: tableBytes(activationTable(act, lq, yq)) };
}

/** A step of one node with no weights, scratch or params. */
function plain(node: Node, kernel: Int8KernelKind, x: Value, y: Value): Omit<Step, "build"> {
  return { name: node.id, kernel, nodes: [node.id], x, fixed: [], y, multAdds: 0, scratch: 0, packedBytes: 0 };
}

// ── constants ──────────────────────────────────────────────────────────────

/** |acc·M| below this needs no float clamp before rounding (kernels.ts: the 1.5·2^23 rounding holds below 2^22). */
const BOUND = 2 ** 22 - 1024;

/** An activation table's stored values as bytes. */
function tableBytes(table: Int32Array): Uint8Array {
  return Uint8Array.from(table, (v) => v & 0xff);
}

/** A layer's params: n int32 weight zero points, then n f32 multipliers. */
function channelParams(kq: Quantization, n: number, m: (c: number) => number): Uint8Array {
  const out = new Uint8Array(8 * n);
  const view = new DataView(out.buffer);
  const perChannel = kq.zeroPoint.length > 1;
  for (let c = 0; c < n; c++) {
    view.setInt32(4 * c, kq.zeroPoint[perChannel ? c : 0]!, true);
    view.setFloat32(4 * (n + c), m(c), true);
  }
  return out;
}

/**
 * A layer's requantization: its clamp, its multiplier when all channels
 * share one, and whether every accumulator it can make stays below 2^22
 * once scaled (then the kernels clamp bytes instead of floats).
 */
function requantOf(yq: Quantization, act: Activation, ms: readonly number[], bounds: readonly number[]): Requant {
  const [lo, hi] = isTableActivation(act) ? QUANTIZED_RANGE[yq.type] : activationRange(yq, act);
  const bounded = ms.every((m, c) => Math.abs(m) * bounds[c]! < BOUND);
  const uniform = ms.every((m) => m === ms[0]) ? ms[0] : undefined;
  return { lo, hi, zeroPoint: yq.zeroPoint[0]!, type: yq.type, bounded, ...(uniform === undefined ? {} : { uniform }) };
}

/** Per output channel: the largest |acc| its weights and bias allow, Σ |w − w_zp|·max|x − x_zp| + |bias|. */
function accBound(q: QuantizedWeights, n: number, xq: Quantization): number[] {
  const [lo, hi] = QUANTIZED_RANGE[xq.type];
  const zp = xq.zeroPoint[0]!;
  const xMax = Math.max(hi - zp, zp - lo);
  const per = q.kernel.data.length / n;
  const kq = q.kernelQuant;
  return Array.from({ length: n }, (_, c) => {
    const wzp = kq.zeroPoint[kq.zeroPoint.length > 1 ? c : 0]!;
    let sum = 0;
    for (let i = c * per; i < (c + 1) * per; i++) sum += Math.abs(q.kernel.data[i]! - wzp);
    return sum * xMax + Math.abs(q.bias?.[c] ?? 0);
  });
}

/** XNNPACK's vadd parameters (the reference's), within the shifts its kernel takes. */
function xnnpackAddParams(a: Quantization, b: Quantization, y: Quantization): AddParameters {
  const p = xnnpackAddParameters(a.scale[0]!, b.scale[0]!, y.scale[0]!, a.zeroPoint[0]!, b.zeroPoint[0]!);
  if (p.shift < 1 || p.shift > 30) throw new InternalError(`int8 wasm: an add's scale ratio gives a shift of ${p.shift}, outside what XNNPACK's vadd takes`);
  return p;
}

// ── graph access ───────────────────────────────────────────────────────────

function blobOf(ctx: StepContext, id: string): Int8Layer {
  const l = ctx.blob.get(id);
  if (l === undefined) throw new InternalError(`int8 wasm: '${id}' is not in the int8 blob`);
  return l;
}

/** The absolute address of a blob offset (the blob region follows the packed weights; see compileNetworkWasmInt8). */
function blobAddress(ad: Addresses, offset: number): number {
  return ad.blob + offset;
}

function shapeOf(node: Node): Shape {
  if (node.shape === undefined) throw new InternalError(`int8 wasm: '${node.id}' has no shape`);
  return node.shape;
}

function quantOf(node: Node): Quantization {
  if (node.quant === undefined) throw new InternalError(`int8 wasm: '${node.id}' has no quantization`);
  return node.quant;
}

function quantizedOf(node: Extract<Node, { op: "conv" | "depthwise" | "fc" }>) {
  const q = node.weights?.quantized;
  if (q === undefined) throw new InternalError(`int8 wasm: '${node.id}' has no quantized weights`);
  return q;
}

function nodeById(graph: Graph, id: string): Node {
  const n = graph.nodes.find((x) => x.id === id);
  if (n === undefined) throw new InternalError(`int8 wasm: no node '${id}'`);
  return n;
}

function padTo(bytes: Uint8Array, m: number): Uint8Array {
  if (bytes.length % m === 0) return bytes;
  const out = new Uint8Array(Math.ceil(bytes.length / m) * m);
  out.set(bytes);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
