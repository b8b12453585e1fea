/**
 * The TypeScript target's op table: one entry per op kind, so that `tsc`
 * refuses to build until every op has a kernel here.
 *
 * Batch-norm: the pipeline normally folds it (the graph's conv/depthwise
 * nodes have `norm: "none"` and a bias). A graph compiled with
 * `fuseBatchNorm: false` still carries `bn`; this emitter folds it with the
 * same `fold` as the fuse-batch-norm pass, so both graphs give the same code.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { NodeOf, OpKind, Shape } from "../../ir/graph.js";
import { fold } from "../../passes/fuse-batch-norm.js";
import { group } from "./code.js";
import { depthwiseCode, packDepthwise } from "./depthwise.js";
import { gemmCode, gemmScratch, packGemmWeights, tile, type GemmSource } from "./gemm.js";
import { actName, expectKernel, padsOf, size, weightsOf, type OpEmitter } from "./layer.js";
import { poolCode, softmaxCode } from "./pool.js";

const shape = (s: Shape): string => s.join("x");

/** A conv node's GEMM geometry: pixels, reduction length, channels, and where its rows come from. */
function convGeometry(node: NodeOf<"conv">, inShape: Shape, outShape: Shape, x: number): { p: number; k: number; n: number; source: GemmSource } {
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
    const { kernel, bias } = weightsOf(node, fold);
    expectKernel(node, kernel, [OC, C, KH, KW]);
    const K = kernel.data;
    // X̂'s k = (kh·KW + kw)·C + ic  ←  OIHW [n][ic][kh][kw]
    const packed = packGemmWeights(
      (n, k) => {
        const ic = k % C;
        const tap = (k - ic) / C;
        return K[(n * C + ic) * KH * KW + tap]!;
      },
      g.p,
      g.k,
      g.n,
    );
    const weights = ctx.pack(packed, `${node.id} kernel`, tile(g.p).nr);
    const b = ctx.pack(bias, `${node.id} bias`);
    const kind = g.source.kind === "rows" ? "pointwise conv 1x1" : `conv ${KH}x${KW}${SH === 1 && SW === 1 ? "" : ` stride ${SH === SW ? SH : `${SH}x${SW}`}`}`;
    const pads = padsOf(node);
    return {
      summary: `${kind}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}, ${actName(node.attrs.act)}`,
      doc: [
        `As a matrix multiply: ${group(g.p)} pixels × ${group(g.k)} → ${group(g.n)} channels${g.source.kind === "patches" ? `, pads [${pads.join(", ")}]` : ""}.`,
        `Weights at ${weights} (${group(packed.length)} floats, packed in panels [k][n]), bias at ${b}.`,
      ],
      body: gemmCode({ ...g, weights, bias: b, y: ctx.y, scratch: ctx.scratch, act: node.attrs.act }),
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
    const { kernel, bias } = weightsOf(node, fold);
    expectKernel(node, kernel, [C, 1, KH, KW]);
    const packed = packDepthwise(kernel.data, C, KH, KW);
    const weights = ctx.pack(packed, `${node.id} kernel`);
    const b = ctx.pack(bias, `${node.id} bias`);
    return {
      summary: `depthwise ${KH}x${KW}${SH === 1 && SW === 1 ? "" : ` stride ${SH === SW ? SH : `${SH}x${SW}`}`}, ${shape(ctx.inShape)} → ${shape(ctx.outShape)}, ${actName(node.attrs.act)}`,
      doc: [`Pads [${padsOf(node).join(", ")}]. Weights at ${weights} ([kh][kw][c]), bias at ${b}.`],
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
        body: poolCode({ max: kind === "maxpool", inShape: ctx.inShape, outShape: ctx.outShape, kernel, stride, top, left, x: ctx.x, y: ctx.y }),
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
    const { kernel, bias } = weightsOf(node, fold);
    expectKernel(node, kernel, [units, features]);
    const K = kernel.data;
    // The activation is HWC; the kernel's features are channel-major (c·H·W + h·W + w).
    // Permute the columns at compile time so the kernel reads the activation in order.
    const packed = packGemmWeights(
      (n, k) => {
        const c = k % C;
        const hw = (k - c) / C;
        return K[n * features + c * H * W + hw]!;
      },
      1,
      features,
      units,
    );
    const weights = ctx.pack(packed, `${node.id} kernel`, tile(1).nr);
    const b = ctx.pack(bias, `${node.id} bias`);
    return {
      summary: `fully connected, ${shape(ctx.inShape)} → ${units}`,
      doc: [
        `Weights at ${weights} (${group(packed.length)} floats, packed in panels [k][n], the inputs in HWC order), bias at ${b}.`,
      ],
      body: gemmCode({ p: 1, k: features, n: units, source: { kind: "rows", x: ctx.x }, weights, bias: b, y: ctx.y, scratch: ctx.scratch, act: "linear" }),
      multAdds: features * units,
    };
  },
};

const softmax: OpEmitter<"softmax"> = {
  scratch: () => 0,
  emit(_node, ctx) {
    return {
      summary: `softmax over ${ctx.inShape[2]} channels, ${shape(ctx.inShape)}`,
      doc: [],
      body: softmaxCode(ctx.inShape, ctx.x, ctx.y),
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
};

export function emitterOf<K extends OpKind>(node: NodeOf<K>): OpEmitter<K> {
  return emitters[node.op as K];
}

