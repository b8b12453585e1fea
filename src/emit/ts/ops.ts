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
import { depthwiseCode } from "./depthwise.js";
import { broadcastMulCode, elementwiseCode } from "./elementwise.js";
import { gemmCode, gemmScratch, tile, type GemmSource } from "./gemm.js";
import { actName, expectKernel, kernelOf, padsOf, size, type LayerContext, type OpEmitter, type Operand } from "./layer.js";
import { poolCode, softmaxCode } from "./pool.js";

const shape = (s: Shape): string => s.join("x");

/** A conv node's GEMM geometry: pixels, reduction length, channels, and where its rows come from. */
export function convGeometry(node: NodeOf<"conv">, inShape: Shape, outShape: Shape, x: number): { p: number; k: number; n: number; source: GemmSource } {
  const [H, W, C] = inShape;
  const [OH, OW, OC] = outShape;
  const [KH, KW] = node.attrs.kernel;
  const [SH, SW] = node.attrs.stride;
  const [top, left, bottom, right] = padsOf(node);
  const pointwise = KH === 1 && KW === 1 && SH === 1 && SW === 1 && top + left + bottom + right === 0;
  const source: GemmSource = pointwise
    ? { kind: "rows", x }
    : { kind: "patches", x, h: H, w: W, c: C, kh: KH, kw: KW, sh: SH, sw: SW, top, left, oh: OH, ow: OW };
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
    const kind = g.source.kind === "rows" ? "pointwise conv 1x1" : `conv ${KH}x${KW}${SH === 1 && SW === 1 ? "" : ` stride ${SH === SW ? SH : `${SH}x${SW}`}`}`;
    const pads = padsOf(node);
    return {
      summary: `${kind}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}, ${actName(node.attrs.act)}${fusedSummary(ctx)}`,
      doc: [
        `As a matrix multiply: ${group(g.p)} pixels × ${group(g.k)} → ${group(g.n)} channels${g.source.kind === "patches" ? `, pads [${pads.join(", ")}]` : ""}.`,
        `Weights at ${weights} (${group(g.n * g.k)} floats in panels [k][${nr}]), bias at ${b}.`,
        ...fusedDoc(ctx),
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
    return {
      summary: `depthwise ${KH}x${KW}${SH === 1 && SW === 1 ? "" : ` stride ${SH === SW ? SH : `${SH}x${SW}`}`}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}, ${actName(node.attrs.act)}${fusedSummary(ctx)}`,
      doc: [`Pads [${padsOf(node).join(", ")}]. Weights at ${weights} ([kh][kw][c]), bias at ${b}.`, ...fusedDoc(ctx)],
      body: depthwiseCode({
        inShape: ctx.inShape,
        outShape: ctx.outShape,
        kernel: [KH, KW],
        stride: [SH, SW],
        top,
        left,
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
    if (size(a.shape) !== size(ctx.outShape) || size(b.shape) !== size(ctx.outShape)) {
      throw new InternalError(`emit ts: add '${node.id}' of ${shape(a.shape)} and ${shape(b.shape)} into ${shape(ctx.outShape)}`);
    }
    return {
      summary: `add, ${shape(ctx.outShape)}: ${node.inputs[0]} + ${node.inputs[1]}`,
      doc: [],
      body: elementwiseCode("+", size(ctx.outShape), a.x, b.x, ctx.y, ctx.nonNull),
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
    if (size(x.shape) !== size(ctx.outShape) || g.shape[2] !== C || !(same || size(g.shape) === C)) {
      throw new InternalError(`emit ts: mul '${node.id}' of ${shape(x.shape)} and ${shape(g.shape)} into ${shape(ctx.outShape)}`);
    }
    return {
      summary: same ? `multiply, ${shape(ctx.outShape)}` : `multiply by a per-channel gate, ${shape(ctx.outShape)} · ${shape(g.shape)}`,
      doc: [],
      body: same ? elementwiseCode("*", size(ctx.outShape), x.x, g.x, ctx.y, ctx.nonNull) : broadcastMulCode(H * W, C, x.x, g.x, ctx.y, ctx.nonNull),
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
  deconv: unsupported("deconv"),
  concat: unsupported("concat"),
  resize: unsupported("resize"),
  activation: unsupported("activation"),
  argmax: unsupported("argmax"),
};

function unsupported<K extends OpKind>(op: K): OpEmitter<K> {
  return {
    scratch: () => 0,
    emit(node) {
      throw new InternalError(`emit ts: ${op} '${node.id}' has no kernel`);
    },
  };
}

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

export function emitterOf<K extends OpKind>(node: NodeOf<K>): OpEmitter<K> {
  return emitters[node.op as K];
}

