/**
 * The TypeScript target's op table: one entry per op kind, so that `tsc`
 * refuses to build until every op has a kernel here.
 *
 * The weights' values are not here: they are in the weights file, packed
 * for the WebAssembly kernels (with any batch-norm the pipeline left folded
 * by the same `fold` as the fuse-batch-norm pass), and createModel unpacks
 * them into the places these kernels reserve (see wasm.ts).
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { NodeOf, OpKind, Shape } from "../../ir/graph.js";
import { group } from "./code.js";
import { DECONV_NR, deconvCode } from "./deconv.js";
import { depthwiseCode } from "./depthwise.js";
import { activationCode, broadcastCode, concatCode, elementwiseCode } from "./elementwise.js";
import { gemmCode, gemmScratch, tile, type GemmSource } from "./gemm.js";
import { actName, expectKernel, kernelOf, padsOf, size, type LayerContext, type OpEmitter, type Operand } from "./layer.js";
import { argmaxCode, poolCode, softmaxCode } from "./pool.js";
import { resizeCode, resizeTables } from "./resize.js";

const shape = (s: Shape): string => s.join("x");

/** A conv node's GEMM geometry: pixels, reduction length, channels, and where its rows come from. */
export function convGeometry(node: NodeOf<"conv">, inShape: Shape, outShape: Shape, x: number): { p: number; k: number; n: number; source: GemmSource } {
  const [H, W, C] = inShape;
  const [OH, OW, OC] = outShape;
  const [KH, KW] = node.attrs.kernel;
  const [SH, SW] = node.attrs.stride;
  const [top, left, bottom, right] = padsOf(node);
  const [DH, DW] = node.attrs.dilation ?? [1, 1];
  const pointwise = KH === 1 && KW === 1 && SH === 1 && SW === 1 && top + left + bottom + right === 0;
  const source: GemmSource = pointwise
    ? { kind: "rows", x }
    : { kind: "patches", x, h: H, w: W, c: C, kh: KH, kw: KW, sh: SH, sw: SW, top, left, dh: DH, dw: DW, oh: OH, ow: OW };
  return { p: OH * OW, k: KH * KW * C, n: OC, source };
}

const conv: OpEmitter<"conv"> = {
  scratch: (node, inShape, outShape) => gemmScratch(convGeometry(node, inShape, outShape, 0)),
  emit(node, ctx) {
    const [, , C] = ctx.inShape;
    const [, , OC] = ctx.outShape;
    const [KH, KW] = node.attrs.kernel;
    const [SH, SW] = node.attrs.stride;
    const g = convGeometry(node, ctx.inShape, ctx.outShape, ctx.x);
    expectKernel(node, kernelOf(node), [OC, C, KH, KW]);
    // Panels [k][nr] with X̂'s k = (kh·KW + kw)·C + ic, unpacked from the weights file by createModel.
    const { nr } = tile(g.p);
    const weights = ctx.place(g.n * g.k, `${node.id} kernel`, nr);
    const b = ctx.place(g.n, `${node.id} bias`);
    const kind = g.source.kind === "rows" ? "pointwise conv 1x1" : `conv ${KH}x${KW}${strideText(SH, SW)}${dilationText(node.attrs.dilation)}`;
    const pads = padsOf(node);
    return {
      summary: `${kind}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}, ${actName(node.attrs.act)}${fusedSummary(ctx)}`,
      doc: [
        `As a matrix multiply: ${group(g.p)} pixels × ${group(g.k)} → ${group(g.n)} channels${g.source.kind === "patches" ? `, pads [${pads.join(", ")}]` : ""}.`,
        `Weights at ${weights} (${group(g.n * g.k)} floats in panels [k][${nr}]), bias at ${b}.`,
        ...fusedDoc(ctx),
        ...stridedDoc(ctx),
      ],
      body: gemmCode({
        ...g,
        weights,
        bias: b,
        y: ctx.y,
        scratch: ctx.scratch,
        act: node.attrs.act,
        nonNull: ctx.nonNull,
        ...(ctx.residual === undefined ? {} : { residual: ctx.residual.x - ctx.y }),
        ...(ctx.scale === undefined ? {} : { scale: ctx.scale.x }),
        ...(ctx.yStride === undefined ? {} : { yStride: ctx.yStride }),
      }),
      multAdds: g.p * g.k * g.n,
    };
  },
};

const depthwise: OpEmitter<"depthwise"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const [, , C] = ctx.inShape;
    const [KH, KW] = node.attrs.kernel;
    const [SH, SW] = node.attrs.stride;
    const [top, left] = padsOf(node);
    if (ctx.outShape[2] !== C) throw new InternalError(`emit ts: depthwise '${node.id}' maps ${C} channels to ${ctx.outShape[2]}`);
    expectKernel(node, kernelOf(node), [C, 1, KH, KW]);
    const weights = ctx.place(KH * KW * C, `${node.id} kernel`);
    const b = ctx.place(C, `${node.id} bias`);
    const dilation = node.attrs.dilation;
    return {
      summary: `depthwise ${KH}x${KW}${strideText(SH, SW)}${dilationText(dilation)}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}, ${actName(node.attrs.act)}${fusedSummary(ctx)}`,
      doc: [`Pads [${padsOf(node).join(", ")}]. Weights at ${weights} ([kh][kw][c]), bias at ${b}.`, ...fusedDoc(ctx)],
      body: depthwiseCode({
        inShape: ctx.inShape,
        outShape: ctx.outShape,
        kernel: [KH, KW],
        stride: [SH, SW],
        top,
        left,
        ...(dilation === undefined ? {} : { dilation }),
        x: ctx.x,
        y: ctx.y,
        weights,
        bias: b,
        act: node.attrs.act,
        nonNull: ctx.nonNull,
        ...(ctx.residual === undefined ? {} : { residual: ctx.residual.x - ctx.y }),
      }),
      multAdds: size(ctx.outShape) * KH * KW,
    };
  },
};

function pool<K extends "avgpool" | "maxpool">(kind: K): OpEmitter<K> {
  return {
    scratch: () => 0,
    emit(n, ctx) {
      const node = n as NodeOf<"avgpool" | "maxpool">;
      const a = node.attrs;
      const global = a.kernel === "global";
      const kernel = a.kernel === "global" ? ("global" as const) : a.kernel;
      const stride = a.kernel === "global" ? ([1, 1] as const) : a.stride === "kernel" ? a.kernel : a.stride;
      const [top, left] = global ? [0, 0] : padsOf(node);
      if (ctx.outShape[2] !== ctx.inShape[2]) throw new InternalError(`emit ts: pool '${node.id}' changes the channel count`);
      const window = kernel === "global" ? "global" : `${kernel[0]}x${kernel[1]}${stride[0] === kernel[0] && stride[1] === kernel[1] ? "" : ` stride ${stride.join("x")}`}`;
      return {
        summary: `${kind === "maxpool" ? "max" : "average"} pool ${window}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}`,
        doc: [],
        body: poolCode({ max: kind === "maxpool", inShape: ctx.inShape, outShape: ctx.outShape, kernel, stride, top, left, x: ctx.x, y: ctx.y, nonNull: ctx.nonNull }),
        multAdds: 0,
      };
    },
  };
}

const fc: OpEmitter<"fc"> = {
  scratch: (node, inShape) => gemmScratch({ p: 1, k: size(inShape), source: { kind: "rows", x: 0 } }),
  emit(node, ctx) {
    const [H, W, C] = ctx.inShape;
    const units = node.attrs.units;
    const features = H * W * C;
    if (size(ctx.outShape) !== units) throw new InternalError(`emit ts: fc '${node.id}' has output ${shape(ctx.outShape)} for ${units} units`);
    expectKernel(node, kernelOf(node), [units, features]);
    // Panels [k][nr] over the activation in HWC order (the kernel's features are channel-major,
    // c·H·W + h·W + w: the weights file already has them in the order the activation lies in).
    const { nr } = tile(1);
    const weights = ctx.place(units * features, `${node.id} kernel`, nr);
    const b = ctx.place(units, `${node.id} bias`);
    return {
      summary: `fully connected, ${shape(ctx.inShape)} → ${units}`,
      doc: [
        `Weights at ${weights} (${group(units * features)} floats in panels [k][${nr}], the inputs in HWC order), bias at ${b}.`,
      ],
      body: gemmCode({ p: 1, k: features, n: units, source: { kind: "rows", x: ctx.x }, weights, bias: b, y: ctx.y, scratch: ctx.scratch, act: "linear", nonNull: ctx.nonNull }),
      multAdds: features * units,
    };
  },
};

const add: OpEmitter<"add"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const [a, b] = operands(node, ctx);
    const [H, W, C] = ctx.outShape;
    const same = size(b.shape) === size(ctx.outShape);
    if (size(a.shape) !== size(ctx.outShape) || b.shape[2] !== C || !(same || (b.shape[0] === 1 && b.shape[1] === 1))) {
      throw new InternalError(`emit ts: add '${node.id}' of ${shape(a.shape)} and ${shape(b.shape)} into ${shape(ctx.outShape)}`);
    }
    return {
      summary: same ? `add, ${shape(ctx.outShape)}: ${node.inputs[0]} + ${node.inputs[1]}` : `add a per-channel value, ${shape(ctx.outShape)}: ${node.inputs[0]} + ${node.inputs[1]} (${shape(b.shape)})`,
      doc: [],
      body: same ? elementwiseCode("+", size(ctx.outShape), a.x, b.x, ctx.y, ctx.nonNull) : broadcastCode("+", H * W, C, a.x, b.x, ctx.y, ctx.nonNull),
      multAdds: 0,
    };
  },
};

const mul: OpEmitter<"mul"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const [x, g] = operands(node, ctx);
    const [H, W, C] = ctx.outShape;
    const same = size(g.shape) === size(ctx.outShape);
    if (size(x.shape) !== size(ctx.outShape) || g.shape[2] !== C || !(same || (g.shape[0] === 1 && g.shape[1] === 1))) {
      throw new InternalError(`emit ts: mul '${node.id}' of ${shape(x.shape)} and ${shape(g.shape)} into ${shape(ctx.outShape)}`);
    }
    return {
      summary: same ? `multiply, ${shape(ctx.outShape)}` : `multiply by a per-channel gate, ${shape(ctx.outShape)} · ${shape(g.shape)}`,
      doc: [],
      body: same ? elementwiseCode("*", size(ctx.outShape), x.x, g.x, ctx.y, ctx.nonNull) : broadcastCode("*", H * W, C, x.x, g.x, ctx.y, ctx.nonNull),
      multAdds: 0,
    };
  },
};

const deconv: OpEmitter<"deconv"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const [, , C] = ctx.inShape;
    const [, , OC] = ctx.outShape;
    const [KH, KW] = node.attrs.kernel;
    const [SH, SW] = node.attrs.stride;
    const [top, left] = padsOf(node);
    expectKernel(node, kernelOf(node), [C, OC, KH, KW]);
    // Panels [k][nr] with k = (kh·KW + kw)·C + ic, as a convolution's, unpacked from the weights file by createModel.
    const weights = ctx.place(OC * KH * KW * C, `${node.id} kernel`, DECONV_NR);
    const b = ctx.place(OC, `${node.id} bias`);
    return {
      summary: `transposed conv ${KH}x${KW}${strideText(SH, SW)}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}, ${actName(node.attrs.act)}`,
      doc: [`Cropped [${padsOf(node).join(", ")}]. Weights at ${weights} (${group(OC * KH * KW * C)} floats in panels [k][${DECONV_NR}]), bias at ${b}.`, ...stridedDoc(ctx)],
      body: deconvCode({
        inShape: ctx.inShape,
        outShape: ctx.outShape,
        kernel: [KH, KW],
        stride: [SH, SW],
        top,
        left,
        x: ctx.x,
        y: ctx.y,
        yStride: ctx.yStride ?? OC,
        weights,
        bias: b,
        act: node.attrs.act,
        nonNull: ctx.nonNull,
      }),
      multAdds: size(ctx.inShape) * OC * KH * KW,
    };
  },
};

const concat: OpEmitter<"concat"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const [H, W, C] = ctx.outShape;
    let offset = 0;
    const parts = ctx.inputs.map((input, i) => {
      if (input.shape[0] !== H || input.shape[1] !== W) throw new InternalError(`emit ts: concat '${node.id}' joins ${shape(input.shape)} into ${shape(ctx.outShape)}`);
      const part = { x: input.x, channels: input.shape[2], offset, placed: ctx.placed?.[i] === true, id: node.inputs[i]! };
      offset += input.shape[2];
      return part;
    });
    if (offset !== C) throw new InternalError(`emit ts: concat '${node.id}' joins ${offset} channels into ${C}`);
    const copied = parts.filter((p) => !p.placed);
    if (copied.length === 0) return null;
    const placed = parts.filter((p) => p.placed);
    return {
      summary: `concatenate ${parts.length} tensors along channels, ${parts.map((p) => p.channels).join(" + ")} → ${shape(ctx.outShape)}`,
      doc: [
        ...(placed.length === 0 ? [] : [`Written in place by the layers that make them: ${placed.map((p) => `${p.id} (channels ${p.offset}…${p.offset + p.channels - 1})`).join(", ")}; copied here: the others.`]),
      ],
      body: concatCode(H * W, C, ctx.y, copied, ctx.nonNull),
      multAdds: 0,
    };
  },
};

const resize: OpEmitter<"resize"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const { mode, coords } = node.attrs;
    const r = {
      mode,
      coords,
      inShape: ctx.inShape,
      outShape: ctx.outShape,
      x: ctx.x,
      y: ctx.y,
      yStride: ctx.yStride ?? ctx.outShape[2],
      tables: { y: ctx.unique(`${ctx.name}_Y`), x: ctx.unique(`${ctx.name}_X`), fy: ctx.unique(`${ctx.name}_FY`), fx: ctx.unique(`${ctx.name}_FX`) },
      nonNull: ctx.nonNull,
    };
    return {
      summary: `${mode} resize (${coords.replace("_", " ")}), ${shape(ctx.inShape)} → ${shape(ctx.outShape)}`,
      doc: [`Source offsets per output row and column in ${r.tables.y} and ${r.tables.x}${mode === "bilinear" ? `, the weights in ${r.tables.fy} and ${r.tables.fx}` : ""}.`, ...stridedDoc(ctx)],
      body: resizeCode(r),
      constants: resizeTables(r, ctx.flavour),
      multAdds: 0,
    };
  },
};

const activation: OpEmitter<"activation"> = {
  scratch: () => 0,
  emit(node, ctx) {
    if (size(ctx.inShape) !== size(ctx.outShape)) throw new InternalError(`emit ts: activation '${node.id}' maps ${shape(ctx.inShape)} to ${shape(ctx.outShape)}`);
    return {
      summary: `${node.attrs.act}, ${shape(ctx.outShape)}`,
      doc: [],
      body: activationCode(node.attrs.act, size(ctx.outShape), ctx.x, ctx.y, ctx.nonNull),
      multAdds: 0,
    };
  },
};

const argmax: OpEmitter<"argmax"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const [H, W] = ctx.inShape;
    if (ctx.outShape[0] !== H || ctx.outShape[1] !== W || ctx.outShape[2] !== 1) throw new InternalError(`emit ts: argmax '${node.id}' maps ${shape(ctx.inShape)} to ${shape(ctx.outShape)}`);
    return {
      summary: `argmax over ${ctx.inShape[2]} channels, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}`,
      doc: [],
      body: argmaxCode(ctx.inShape, ctx.x, ctx.y, ctx.nonNull),
      multAdds: 0,
    };
  },
};

/** A two-input node's operands. */
function operands(node: NodeOf<"add" | "mul">, ctx: LayerContext): readonly [Operand, Operand] {
  const [a, b] = ctx.inputs;
  if (a === undefined || b === undefined || ctx.inputs.length !== 2) throw new InternalError(`emit ts: ${node.op} '${node.id}' has ${ctx.inputs.length} inputs`);
  return [a, b];
}

/** What a convolution's summary says of the layers fused into it. */
function fusedSummary(ctx: LayerContext): string {
  return [ctx.scale === undefined ? "" : `, input scaled by ${ctx.scale.mul}`, ctx.residual === undefined ? "" : `, plus the residual (${ctx.residual.add})`].join("");
}

function fusedDoc(ctx: LayerContext): string[] {
  return [
    ...(ctx.scale === undefined ? [] : [`${ctx.scale.mul} fused: the input is ${ctx.x}, each channel multiplied by the gate at ${ctx.scale.x} as it is read.`]),
    ...(ctx.residual === undefined ? [] : [`${ctx.residual.add} fused: the residual at ${ctx.residual.x} is added as each value is stored; the result is ${ctx.residual.add}'s.`]),
  ];
}

/** ` dilation 2` (or `2x4`) for a dilated window, nothing otherwise. */
/** ` stride 2`, ` stride 2x1`, nothing for 1, in a layer's summary. */
function strideText(sh: number, sw: number): string {
  return sh === 1 && sw === 1 ? "" : ` stride ${sh === sw ? sh : `${sh}x${sw}`}`;
}

function dilationText(d: readonly [number, number] | undefined): string {
  if (d === undefined || (d[0] === 1 && d[1] === 1)) return "";
  return ` dilation ${d[0] === d[1] ? d[0] : `${d[0]}x${d[1]}`}`;
}

/** What a layer's doc says when it writes into a concatenation's buffer. */
function stridedDoc(ctx: LayerContext): string[] {
  return ctx.yStride === undefined ? [] : [`Written straight into a concatenation: its channels at ${ctx.y}, ${ctx.yStride} floats from one pixel to the next.`];
}

const softmax: OpEmitter<"softmax"> = {
  scratch: () => 0,
  emit(_node, ctx) {
    return {
      summary: `softmax over ${ctx.inShape[2]} channels, ${shape(ctx.inShape)}`,
      doc: [],
      body: softmaxCode(ctx.inShape, ctx.x, ctx.y, ctx.nonNull),
      multAdds: 0,
    };
  },
};

export const emitters: { readonly [K in OpKind]: OpEmitter<K> } = {
  input: { scratch: () => 0, emit: () => null },
  conv,
  depthwise,
  avgpool: pool("avgpool"),
  maxpool: pool("maxpool"),
  fc,
  softmax,
  dropout: { scratch: () => 0, emit: () => null },
  add,
  mul,
  deconv,
  concat,
  resize,
  activation,
  argmax,
};

/** Ops whose output is their input's buffer (no code runs). */
export const ALIASES_INPUT: { readonly [K in OpKind]: boolean } = {
  input: false,
  conv: false,
  depthwise: false,
  avgpool: false,
  maxpool: false,
  fc: false,
  softmax: false,
  dropout: true,
  add: false,
  mul: false,
  deconv: false,
  concat: false,
  resize: false,
  activation: false,
  argmax: false,
};

/**
 * Inputs whose buffer an op may write its output into when that input is read for the last time:
 * elementwise ops, whose every output value depends only on the inputs at its own index (a broadcast
 * gate is never written over: it is smaller than the output).
 */
export const IN_PLACE: { readonly [K in OpKind]: readonly number[] } = {
  input: [],
  conv: [],
  depthwise: [],
  avgpool: [],
  maxpool: [],
  fc: [],
  softmax: [],
  dropout: [],
  add: [0, 1],
  mul: [0],
  deconv: [],
  concat: [],
  resize: [],
  activation: [0],
  argmax: [],
};

/**
 * Ops whose layer can write its channels into a wider tensor (LayerContext.yStride): where the
 * planner lets the inputs of a concatenation be written straight into its buffer.
 */
export const STRIDED_OUTPUT: { readonly [K in OpKind]: boolean } = {
  input: false,
  conv: true,
  depthwise: false,
  avgpool: false,
  maxpool: false,
  fc: false,
  softmax: false,
  dropout: false,
  add: false,
  mul: false,
  deconv: true,
  concat: false,
  resize: true,
  activation: false,
  argmax: false,
};

export function emitterOf<K extends OpKind>(node: NodeOf<K>): OpEmitter<K> {
  return emitters[node.op as K];
}

