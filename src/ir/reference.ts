/**
 * The reference evaluator: runs a shaped, weighted graph in float64, node by
 * node, batch item by batch item, with plain nested loops. It is the yardstick
 * that every emitter (ONNX, generated TypeScript) and the batch-norm-fusion
 * certificate are measured against, so it favours being obviously right over
 * being fast.
 *
 * Activations are HWC per batch item (index (h·W + w)·C + c); a batch is the
 * items one after another. Weights are float32 tensors in ONNX's layouts (see
 * LayerWeights in graph.ts); every product and sum is done in float64 on their
 * exact values.
 *
 * Per op:
 *
 *   input      the given tensor, converted to float64
 *   conv       y[oh,ow,oc] = Σ_{kh,kw,ic} x[oh·sh − top + kh, ow·sw − left + kw, ic] · K[oc,ic,kh,kw]
 *              (cells outside the input read as 0; pads are the ones shape
 *              inference recorded, never recomputed), then the epilogue below
 *   depthwise  the same per channel c with K[c,0,kh,kw], then the epilogue
 *   epilogue   1. + bias[c]                                   if the node has a bias
 *              2. γ·(v − mean)/√(variance + ε) + β            if the node has bn
 *              3. relu max(0,v) | relu6 min(max(0,v),6) | linear v |
 *                 hswish v·relu6(v+3)/6 | hsigmoid relu6(v+3)/6 | sigmoid 1/(1+e^−v)
 *              The bias is added to the convolution's sum *before* batch-norm,
 *              as a Keras/PyTorch Conv(bias=True) → BatchNorm stack does. What
 *              is applied follows the weights (bias, bn), not attrs.norm: a
 *              node after BN fusion has a bias and no bn.
 *   avgpool    mean over the window's in-bounds cells only — padded cells are
 *              not counted (TensorFlow SAME average pooling, ONNX
 *              count_include_pad=0); `global` is the mean over H×W
 *   maxpool    max over the window's in-bounds cells; `global` over H×W
 *   fc         x flattened channel-major (feature c·H·W + h·W + w, as ONNX
 *              Flatten on NCHW), y[o] = Σ_i K[o,i]·x[i] + bias[o]; bias required
 *   softmax    over channels at each (h, w), after subtracting their maximum
 *   dropout    identity (inference)
 *   add        y = a + b, b the same shape or 1×1×C broadcast over H and W
 *   mul        y = a · b, likewise
 *   concat     the inputs' channels one after another at each (h, w)
 *   resize     per axis, the source coordinate of output index o (in → out):
 *              align_corners o·(in − 1)/(out − 1) (0 when out = 1), half_pixel
 *              (o + ½)·in/out − ½, asymmetric o·in/out. bilinear: src clamped to
 *              [0, in − 1], lo = ⌊src⌋, hi = min(lo + 1, in − 1), blended by src − lo
 *              along H then W. nearest: ⌊src⌋ (asymmetric), ⌊(o + ½)·in/out⌋
 *              (half_pixel), round half up (align_corners), clamped to in − 1
 *   deconv     y[iy·sh + i − top, ix·sw + j − left, oc] += x[iy, ix, ic] · K[ic, oc, i, j]
 *              over every input cell and tap that lands inside, then the epilogue
 *   activation the activation below, elementwise
 *   argmax     the index of the first largest channel at each (h, w)
 *   dilation   conv and depthwise read x[oh·sh − top + kh·dh, ow·sw − left + kw·dw, …]
 *
 * Malformed graphs (missing shapes, pads or weights, tensors whose shapes do
 * not fit the node, an input of the wrong length) are compiler bugs and throw
 * InternalError.
 */
import { InternalError } from "./diagnostics.js";
import type {
  Activation,
  ConvNode,
  DeconvNode,
  DepthwiseNode,
  FcNode,
  Graph,
  LayerWeights,
  Node,
  Pads,
  Pair,
  PoolNode,
  ResizeNode,
  Shape,
  Tensor,
} from "./graph.js";
import { resizeAxis } from "./ops/resize.js";
import { dilated } from "./ops/window.js";
import { liveness } from "./liveness.js";
import { arityProblem } from "./ops/index.js";

/**
 * Run the graph in float64. `input` is NHWC [batch, H, W, C] of the input
 * node's shape; returns the graph's first output (runReferenceOutputs gives all), [batch, H, W, C]
 * flattened in HWC order per batch item. Each value is freed after its last
 * reader has run (the liveness analysis every planner uses).
 */
export function runReference(graph: Graph, input: Float32Array | Float64Array, batch = 1): Float64Array {
  const output = graph.outputs[0];
  if (output === undefined) throw new InternalError("reference: the graph has no outputs");
  const out = evaluate(graph, input, batch, false).get(output);
  if (out === undefined) throw new InternalError(`reference: no value for the output '${output}'`);
  return out;
}

/** Every output of the graph, in `graph.outputs` order. */
export function runReferenceOutputs(graph: Graph, input: Float32Array | Float64Array, batch = 1): Float64Array[] {
  const values = evaluate(graph, input, batch, false);
  return graph.outputs.map((id) => {
    const v = values.get(id);
    if (v === undefined) throw new InternalError(`reference: no value for the output '${id}'`);
    return v;
  });
}

/**
 * The same as runReference, returning every node's output by id (each
 * [batch, H, W, C] in HWC order per item), for layer-by-layer comparisons.
 */
export function traceReference(graph: Graph, input: Float32Array | Float64Array, batch = 1): Map<string, Float64Array> {
  return evaluate(graph, input, batch, true);
}

function evaluate(graph: Graph, input: Float32Array | Float64Array, batch: number, keepAll: boolean): Map<string, Float64Array> {
  if (!Number.isInteger(batch) || batch < 1) throw new InternalError(`reference: batch must be a positive integer, not ${batch}`);
  const first = graph.nodes[0];
  if (first === undefined || first.op !== "input") throw new InternalError("reference: the first node must be the input");
  const dies = keepAll ? undefined : lifetimes(graph);

  const values = new Map<string, Float64Array>();
  const shapes = new Map<string, Shape>();
  graph.nodes.forEach((node, step) => {
    if (shapes.has(node.id)) throw new InternalError(`reference: two nodes are named '${node.id}'`);
    const shape = shapeOf(node);
    if (node.op === "input") {
      if (node !== first) throw new InternalError(`reference: '${node.id}' is a second input`);
      const expected = batch * size(shape);
      if (input.length !== expected) {
        throw new InternalError(
          `reference: the input has ${input.length} values; batch ${batch} of ${shape.join("x")} needs ${expected}`,
        );
      }
      values.set(node.id, Float64Array.from(input));
      shapes.set(node.id, shape);
      return;
    }
    const arity = arityProblem(node);
    if (arity !== undefined) throw new InternalError(`reference: '${node.id}': ${arity}`);
    const xs = node.inputs.map((id) => {
      const x = values.get(id);
      const inShape = shapes.get(id);
      if (x === undefined || inShape === undefined) {
        throw new InternalError(`reference: '${node.id}' reads '${id}', which is not an earlier node`);
      }
      return { x, shape: inShape, size: size(inShape) };
    });
    const layer = prepare(node, xs.map((v) => v.shape), shape);
    const outSize = size(shape);
    const y = new Float64Array(batch * outSize);
    for (let b = 0; b < batch; b++) {
      const items = xs.map((v) => v.x.subarray(b * v.size, (b + 1) * v.size));
      layer(items[0]!, y.subarray(b * outSize, (b + 1) * outSize), items[1], items);
    }
    values.set(node.id, y);
    shapes.set(node.id, shape);
    for (const id of dies?.[step] ?? []) values.delete(id);
  });
  return values;
}

/** When each value may be freed; undefined for a malformed graph, which the evaluation loop then reports precisely. */
function lifetimes(graph: Graph): readonly (readonly string[])[] | undefined {
  try {
    return liveness(graph).dies;
  } catch (e) {
    if (e instanceof InternalError) return undefined;
    throw e;
  }
}

/**
 * Computes one batch item: reads x (the first input's HWC) and x2 (the
 * second's, for binary ops) — `all` holds every input, for concat — and
 * writes y (the node's HWC).
 */
export type Layer = (x: Float64Array, y: Float64Array, x2?: Float64Array, all?: readonly Float64Array[]) => void;

/**
 * One node on its own, with exactly the arithmetic runReference gives it: the
 * node is validated against its inputs' shapes and its own (`node.shape` is not
 * read), and the returned function computes one batch item. For per-layer
 * comparisons on inputs of any fitting size (the batch-norm-fusion certificate
 * runs each fused layer on one window).
 */
export function referenceLayer(node: Node, inShapes: readonly Shape[], outShape: Shape): Layer {
  const arity = arityProblem({ ...node, inputs: inShapes.map((_, i) => `${i}`) });
  if (arity !== undefined) throw new InternalError(`reference: '${node.id}' given ${inShapes.length} input shapes: ${arity}`);
  return prepare(node, inShapes, outShape);
}

/** Validate a node against its inputs' shapes and return the function that evaluates it. */
function prepare(node: Node, inShapes: readonly Shape[], outShape: Shape): Layer {
  const inShape = inShapes[0]!;
  switch (node.op) {
    case "input":
      throw new InternalError(`reference: '${node.id}' is a second input`);
    case "conv":
      return convLayer(node, inShape, outShape);
    case "depthwise":
      return depthwiseLayer(node, inShape, outShape);
    case "avgpool":
    case "maxpool":
      return poolLayer(node, inShape, outShape);
    case "fc":
      return fcLayer(node, inShape, outShape);
    case "softmax":
      expectShape(node, outShape, inShape, "its output shape");
      return softmax(inShape);
    case "dropout":
      expectShape(node, outShape, inShape, "its output shape");
      return (x, y) => y.set(x);
    case "add":
      return binaryLayer(node, inShape, inShapes[1]!, outShape, (a, b) => a + b);
    case "mul":
      return binaryLayer(node, inShape, inShapes[1]!, outShape, (a, b) => a * b);
    case "concat":
      return concatLayer(node, inShapes, outShape);
    case "resize":
      return resizeLayer(node, inShape, outShape);
    case "deconv":
      return deconvLayer(node, inShape, outShape);
    case "activation": {
      expectShape(node, outShape, inShape, "its output shape");
      const f = activation(node, node.attrs.act);
      return (x, y) => {
        for (let i = 0; i < y.length; i++) y[i] = f(x[i]!);
      };
    }
    case "argmax":
      return argmaxLayer(node, inShape, outShape);
  }
}

/** y = a ∘ b, with b the same shape as a or 1×1×C (broadcast over H and W). */
function binaryLayer(node: Node, a: Shape, b: Shape, outShape: Shape, f: (a: number, b: number) => number): Layer {
  expectShape(node, outShape, a, "its output shape");
  const C = a[2];
  if (b[0] === 1 && b[1] === 1 && !(a[0] === 1 && a[1] === 1)) {
    expectShape(node, b, [1, 1, C], "its second input's shape");
    return (x, y, g) => {
      for (let i = 0; i < y.length; i++) y[i] = f(x[i]!, g![i % C]!);
    };
  }
  expectShape(node, b, a, "its second input's shape");
  return (x, y, x2) => {
    for (let i = 0; i < y.length; i++) y[i] = f(x[i]!, x2![i]!);
  };
}

function concatLayer(node: Node, inShapes: readonly Shape[], outShape: Shape): Layer {
  const [H, W] = outShape;
  const widths = inShapes.map((s) => {
    expectShape(node, s, [H, W, s[2]], "an input's shape");
    return s[2];
  });
  const total = widths.reduce((a, b) => a + b, 0);
  if (total !== outShape[2]) throw new InternalError(`reference: concat '${node.id}' has ${outShape[2]} channels for inputs of ${total}`);
  return (_x, y, _x2, all) => {
    for (let p = 0; p < H * W; p++) {
      let at = p * total;
      all!.forEach((v, i) => {
        const c = widths[i]!;
        for (let k = 0; k < c; k++) y[at + k] = v[p * c + k]!;
        at += c;
      });
    }
  };
}

function resizeLayer(node: ResizeNode, [H, W, C]: Shape, outShape: Shape): Layer {
  const [OH, OW, OC] = outShape;
  if (OC !== C) throw new InternalError(`reference: resize '${node.id}' has ${OC} output channels for ${C} input channels`);
  const { mode, coords } = node.attrs;
  const ys = resizeAxis(mode, coords, H, OH);
  const xs = resizeAxis(mode, coords, W, OW);
  return (x, y) => {
    for (let oh = 0; oh < OH; oh++) {
      const y0 = ys.lo[oh]!, y1 = ys.hi[oh]!, fy = ys.frac[oh]!;
      for (let ow = 0; ow < OW; ow++) {
        const x0 = xs.lo[ow]!, x1 = xs.hi[ow]!, fx = xs.frac[ow]!;
        for (let c = 0; c < C; c++) {
          const tl = x[(y0 * W + x0) * C + c]!, tr = x[(y0 * W + x1) * C + c]!;
          const bl = x[(y1 * W + x0) * C + c]!, br = x[(y1 * W + x1) * C + c]!;
          const top = tl + (tr - tl) * fx;
          const bottom = bl + (br - bl) * fx;
          y[(oh * OW + ow) * C + c] = top + (bottom - top) * fy;
        }
      }
    }
  };
}

function deconvLayer(node: DeconvNode, [H, W, C]: Shape, outShape: Shape): Layer {
  const [KH, KW] = node.attrs.kernel;
  const [SH, SW] = node.attrs.stride;
  const [OH, OW, OC] = outShape;
  const [top, left, bottom, right] = padsOf(node, node.attrs.pads);
  if ((H - 1) * SH + KH - top - bottom !== OH || (W - 1) * SW + KW - left - right !== OW) {
    throw new InternalError(`reference: deconv '${node.id}': ${H}x${W} with ${KH}x${KW}/${SH}x${SW} and pads [${top},${left},${bottom},${right}] does not give ${OH}x${OW}`);
  }
  const w = weightsOf(node);
  expectTensor(node, "kernel", w.kernel, [C, OC, KH, KW]);
  const K = w.kernel.data;
  const finish = epilogue(node, w, OC, node.attrs.act);
  const sums = new Float64Array(OH * OW * OC);
  return (x, y) => {
    sums.fill(0);
    for (let ih = 0; ih < H; ih++) {
      for (let iw = 0; iw < W; iw++) {
        for (let ic = 0; ic < C; ic++) {
          const v = x[(ih * W + iw) * C + ic]!;
          for (let i = 0; i < KH; i++) {
            const oh = ih * SH + i - top;
            if (oh < 0 || oh >= OH) continue;
            for (let j = 0; j < KW; j++) {
              const ow = iw * SW + j - left;
              if (ow < 0 || ow >= OW) continue;
              const at = (oh * OW + ow) * OC;
              for (let oc = 0; oc < OC; oc++) sums[at + oc]! += v * K[((ic * OC + oc) * KH + i) * KW + j]!;
            }
          }
        }
      }
    }
    for (let p = 0; p < OH * OW; p++) for (let oc = 0; oc < OC; oc++) y[p * OC + oc] = finish(sums[p * OC + oc]!, oc);
  };
}

function argmaxLayer(node: Node, [H, W, C]: Shape, outShape: Shape): Layer {
  expectShape(node, outShape, [H, W, 1], "its output shape");
  return (x, y) => {
    for (let p = 0; p < H * W; p++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (x[p * C + c]! > x[p * C + best]!) best = c;
      y[p] = best;
    }
  };
}

// ── convolutions ───────────────────────────────────────────────────────────

function convLayer(node: ConvNode, [H, W, C]: Shape, outShape: Shape): Layer {
  const [KH, KW] = node.attrs.kernel;
  const [SH, SW] = node.attrs.stride;
  const [DH, DW] = node.attrs.dilation ?? [1, 1];
  const [OH, OW, OC] = outShape;
  const pads = padsOf(node, node.attrs.pads);
  checkWindow(node, [H, W], dilated([KH, KW], node.attrs.dilation), [SH, SW], pads, outShape);
  const w = weightsOf(node);
  expectTensor(node, "kernel", w.kernel, [OC, C, KH, KW]);
  const K = w.kernel.data;
  const finish = epilogue(node, w, OC, node.attrs.act);
  const [top, left] = pads;
  // Strides of K[oc, ic, kh, kw].
  const kOc = C * KH * KW;
  const kIc = KH * KW;

  return (x, y) => {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        // Eight output channels at a time: eight sums, each added up in the same order as it would be
        // alone (the results are the same to the bit), that the processor can overlap.
        let oc = 0;
        for (; oc + 8 <= OC; oc += 8) {
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * SH - top + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * SW - left + kw * DW;
              if (iw < 0 || iw >= W) continue;
              const xAt = (ih * W + iw) * C; // x[ih, iw, 0]
              const kAt = oc * kOc + kh * KW + kw; // K[oc, 0, kh, kw]
              for (let ic = 0; ic < C; ic++) {
                const v = x[xAt + ic]!;
                const k = kAt + ic * kIc;
                s0 += v * K[k]!;
                s1 += v * K[k + kOc]!;
                s2 += v * K[k + 2 * kOc]!;
                s3 += v * K[k + 3 * kOc]!;
                s4 += v * K[k + 4 * kOc]!;
                s5 += v * K[k + 5 * kOc]!;
                s6 += v * K[k + 6 * kOc]!;
                s7 += v * K[k + 7 * kOc]!;
              }
            }
          }
          const at = (oh * OW + ow) * OC + oc;
          y[at] = finish(s0, oc);
          y[at + 1] = finish(s1, oc + 1);
          y[at + 2] = finish(s2, oc + 2);
          y[at + 3] = finish(s3, oc + 3);
          y[at + 4] = finish(s4, oc + 4);
          y[at + 5] = finish(s5, oc + 5);
          y[at + 6] = finish(s6, oc + 6);
          y[at + 7] = finish(s7, oc + 7);
        }
        for (; oc < OC; oc++) {
          let sum = 0;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * SH - top + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * SW - left + kw * DW;
              if (iw < 0 || iw >= W) continue;
              const xAt = (ih * W + iw) * C;
              const kAt = oc * kOc + kh * KW + kw;
              for (let ic = 0; ic < C; ic++) sum += x[xAt + ic]! * K[kAt + ic * kIc]!;
            }
          }
          y[(oh * OW + ow) * OC + oc] = finish(sum, oc);
        }
      }
    }
  };
}

function depthwiseLayer(node: DepthwiseNode, [H, W, C]: Shape, outShape: Shape): Layer {
  const [KH, KW] = node.attrs.kernel;
  const [SH, SW] = node.attrs.stride;
  const [DH, DW] = node.attrs.dilation ?? [1, 1];
  const [OH, OW, OC] = outShape;
  if (OC !== C) throw new InternalError(`reference: depthwise '${node.id}' has ${OC} output channels for ${C} input channels`);
  const pads = padsOf(node, node.attrs.pads);
  checkWindow(node, [H, W], dilated([KH, KW], node.attrs.dilation), [SH, SW], pads, outShape);
  const w = weightsOf(node);
  expectTensor(node, "kernel", w.kernel, [C, 1, KH, KW]);
  const K = w.kernel.data;
  const finish = epilogue(node, w, C, node.attrs.act);
  const [top, left] = pads;

  // One output pixel's sums, all channels: tap by tap, each channel's sum adds its taps in the
  // order it would alone (kh, then kw), with the channels innermost where x is contiguous.
  const sums = new Float64Array(C);
  return (x, y) => {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        sums.fill(0);
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH - top + kh * DH;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * SW - left + kw * DW;
            if (iw < 0 || iw >= W) continue;
            const xAt = (ih * W + iw) * C; // x[ih, iw, 0]
            const kAt = kh * KW + kw; // K[0, 0, kh, kw]
            for (let c = 0; c < C; c++) sums[c]! += x[xAt + c]! * K[c * KH * KW + kAt]!;
          }
        }
        for (let c = 0; c < C; c++) y[(oh * OW + ow) * C + c] = finish(sums[c]!, c);
      }
    }
  };
}

/** bias, then batch-norm, then the activation, per output channel (see the file comment). */
function epilogue(node: Node, w: LayerWeights, channels: number, act: Activation): (v: number, c: number) => number {
  const bias = w.bias;
  if (bias !== undefined) expectTensor(node, "bias", bias, [channels]);
  const bn = w.bn;
  let std: Float64Array | undefined;
  if (bn !== undefined) {
    for (const name of ["gamma", "beta", "mean", "variance"] as const) expectTensor(node, `bn.${name}`, bn[name], [channels]);
    if (!(bn.epsilon >= 0) || !Number.isFinite(bn.epsilon)) {
      throw new InternalError(`reference: '${node.id}' has batch-norm epsilon ${bn.epsilon}`);
    }
    // √(variance + ε) per channel, computed once.
    std = new Float64Array(channels);
    for (let c = 0; c < channels; c++) std[c] = Math.sqrt(bn.variance.data[c]! + bn.epsilon);
  }
  const activate = activation(node, act);
  return (v, c) => {
    if (bias !== undefined) v += bias.data[c]!;
    if (bn !== undefined && std !== undefined) v = (bn.gamma.data[c]! * (v - bn.mean.data[c]!)) / std[c]! + bn.beta.data[c]!;
    return activate(v);
  };
}

function activation(node: Node, act: Activation): (v: number) => number {
  const f = ACTIVATION[act];
  if (f === undefined) throw new InternalError(`reference: '${node.id}' has unknown activation '${String(act)}'`);
  return f;
}

const relu6 = (v: number): number => Math.min(Math.max(0, v), 6);

/** Every activation in float64, as graph.ts defines it. */
export const ACTIVATION: Readonly<Record<Activation, (v: number) => number>> = {
  relu: (v) => Math.max(0, v),
  relu6,
  linear: (v) => v,
  hswish: (v) => (v * relu6(v + 3)) / 6,
  hsigmoid: (v) => relu6(v + 3) / 6,
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
};

// ── pooling ────────────────────────────────────────────────────────────────

function poolLayer(node: PoolNode<"avgpool" | "maxpool">, [H, W, C]: Shape, outShape: Shape): Layer {
  const a = node.attrs;
  // A global pool is a window over the whole input, without padding.
  const kernel: Pair = a.kernel === "global" ? [H, W] : a.kernel;
  const stride: Pair = a.kernel === "global" ? [1, 1] : a.stride === "kernel" ? a.kernel : a.stride;
  const pads: Pads = a.kernel === "global" ? [0, 0, 0, 0] : padsOf(node, a.pads);
  if (outShape[2] !== C) throw new InternalError(`reference: pool '${node.id}' has ${outShape[2]} output channels for ${C} input channels`);
  checkWindow(node, [H, W], kernel, stride, pads, outShape);
  const [KH, KW] = kernel;
  const [SH, SW] = stride;
  const [OH, OW] = outShape;
  const [top, left] = pads;
  const isMax = node.op === "maxpool";

  return (x, y) => {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        // The window clipped to the input: padded cells take no part.
        const h0 = Math.max(oh * SH - top, 0);
        const h1 = Math.min(oh * SH - top + KH, H);
        const w0 = Math.max(ow * SW - left, 0);
        const w1 = Math.min(ow * SW - left + KW, W);
        if (h1 <= h0 || w1 <= w0) {
          throw new InternalError(`reference: pool '${node.id}' has a window at (${oh}, ${ow}) that lies wholly in the padding`);
        }
        const count = (h1 - h0) * (w1 - w0);
        for (let c = 0; c < C; c++) {
          let acc = isMax ? -Infinity : 0;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const v = x[(ih * W + iw) * C + c]!;
              acc = isMax ? Math.max(acc, v) : acc + v;
            }
          }
          y[(oh * OW + ow) * C + c] = isMax ? acc : acc / count;
        }
      }
    }
  };
}

// ── fully connected, softmax ───────────────────────────────────────────────

function fcLayer(node: FcNode, [H, W, C]: Shape, outShape: Shape): Layer {
  const units = node.attrs.units;
  expectShape(node, outShape, [1, 1, units], "its output shape");
  const weights = weightsOf(node);
  const features = H * W * C;
  expectTensor(node, "kernel", weights.kernel, [units, features]);
  if (weights.bias === undefined) throw new InternalError(`reference: fc '${node.id}' has no bias`);
  expectTensor(node, "bias", weights.bias, [units]);
  if (weights.bn !== undefined) throw new InternalError(`reference: fc '${node.id}' has batch-norm weights`);
  const K = weights.kernel.data;
  const bias = weights.bias.data;

  return (x, y) => {
    for (let o = 0; o < units; o++) {
      let sum = 0;
      for (let c = 0; c < C; c++) {
        for (let h = 0; h < H; h++) {
          for (let w = 0; w < W; w++) {
            const feature = c * H * W + h * W + w; // channel-major, as Flatten on NCHW
            sum += K[o * features + feature]! * x[(h * W + w) * C + c]!;
          }
        }
      }
      y[o] = sum + bias[o]!;
    }
  };
}

function softmax([H, W, C]: Shape): Layer {
  return (x, y) => {
    for (let p = 0; p < H * W; p++) {
      const at = p * C;
      let max = -Infinity;
      for (let c = 0; c < C; c++) max = Math.max(max, x[at + c]!);
      let total = 0;
      for (let c = 0; c < C; c++) {
        const e = Math.exp(x[at + c]! - max);
        y[at + c] = e;
        total += e;
      }
      for (let c = 0; c < C; c++) y[at + c] = y[at + c]! / total;
    }
  };
}

// ── validation ─────────────────────────────────────────────────────────────

function shapeOf(node: Node): Shape {
  const s = node.shape;
  if (s === undefined) throw new InternalError(`reference: '${node.id}' has no shape (run infer-shapes first)`);
  if (s.length !== 3 || !s.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new InternalError(`reference: '${node.id}' has a malformed shape [${s.join(", ")}]`);
  }
  return s;
}

function size(s: Shape): number {
  return s[0] * s[1] * s[2];
}

function padsOf(node: Node, pads: Pads | undefined): Pads {
  if (pads === undefined) throw new InternalError(`reference: '${node.id}' has no pads (run infer-shapes first)`);
  if (pads.length !== 4 || !pads.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new InternalError(`reference: '${node.id}' has malformed pads [${pads.join(", ")}]`);
  }
  return pads;
}

/** The recorded output height and width must be the ones the window, stride and pads give. */
function checkWindow(node: Node, [H, W]: Pair, [KH, KW]: Pair, [SH, SW]: Pair, [top, left, bottom, right]: Pads, outShape: Shape): void {
  const oh = Math.floor((H + top + bottom - KH) / SH) + 1;
  const ow = Math.floor((W + left + right - KW) / SW) + 1;
  if (oh !== outShape[0] || ow !== outShape[1]) {
    throw new InternalError(
      `reference: '${node.id}': a ${KH}x${KW}/${SH}x${SW} window with pads [${top},${left},${bottom},${right}] on ${H}x${W} gives ${oh}x${ow}, but the node's shape is ${outShape.join("x")}`,
    );
  }
}

function weightsOf(node: ConvNode | DepthwiseNode | DeconvNode | FcNode): LayerWeights {
  if (node.weights === undefined) throw new InternalError(`reference: ${node.op} '${node.id}' has no weights`);
  return node.weights;
}

function expectTensor(node: Node, name: string, t: Tensor, shape: readonly number[]): void {
  const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!same) {
    throw new InternalError(`reference: '${node.id}' ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
  const n = shape.reduce((p, d) => p * d, 1);
  if (t.data.length !== n) {
    throw new InternalError(`reference: '${node.id}' ${name} has ${t.data.length} values for shape [${shape.join(", ")}]`);
  }
}

function expectShape(node: Node, actual: Shape, expected: Shape, what: string): void {
  if (actual[0] !== expected[0] || actual[1] !== expected[1] || actual[2] !== expected[2]) {
    throw new InternalError(`reference: '${node.id}' has ${what} ${actual.join("x")}, expected ${expected.join("x")}`);
  }
}
