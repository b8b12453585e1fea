/**
 * The runtimes mnc's emitted code is measured against, each given the same
 * compiled network (seeded weights, batch-norm fused):
 *
 * - onnxruntime-node, one thread (the native anchor), on mnc's ONNX output;
 * - onnxruntime-web (WebAssembly, one thread) in Node, on the same ONNX;
 * - TensorFlow.js with its pure-JS `cpu` backend and its `wasm` backend, running
 *   the same graph with tfjs-core ops, each node on the tensors its `inputs` name
 *   (the TFJS table below, one entry per IR op): fused convolutions with bias and
 *   activation — h-swish and hard sigmoid, which tfjs-core cannot fuse, as ops
 *   after a linear convolution — with TF SAME padding and dilations, transposed
 *   convolutions (conv2dTranspose, the IR's crop as its padding), residual adds
 *   and gates broadcast over H and W, concatenation along channels, bilinear and
 *   nearest resizes in the IR's sampling conventions, standalone activations and
 *   argmax.
 *
 * Every runner takes an NHWC float32 input and returns the network's first
 * output; `toHwc` puts it in HWC order (ONNX's outputs are NCHW) outside the timing.
 * bench/peers-check.ts checks the TensorFlow.js graph against the reference
 * evaluator on random graphs.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { CompileResult } from "../src/index.js";
import { emitOnnx } from "../src/emit/onnx/index.js";
import type { Activation, Graph, Node, NodeOf, OpKind, ResizeCoords, ResizeMode, Shape } from "../src/ir/graph.js";
import { dilated, slide } from "../src/ir/ops/window.js";
import { referenceLayer } from "../src/ir/reference.js";

export interface Runner {
  readonly name: string;
  /** One inference (timed): the first output, in the runtime's layout. */
  run(input: Float32Array): Promise<Float32Array> | Float32Array;
  /** The last run's output in HWC order, where the runtime's layout differs (not timed). */
  toHwc?(output: Float32Array): Float32Array;
  dispose?(): void;
}

const require = createRequire(import.meta.url);

function onnxBytes(r: CompileResult): Uint8Array {
  return emitOnnx({ graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "bench", inputLayout: "nhwc" });
}

function inputDims(g: Graph): [number, number, number, number] {
  const [h, w, c] = g.nodes[0]!.shape!;
  return [1, h, w, c];
}

/** An ONNX output [1, C, H, W] in HWC order ([1, C] and [1, C, 1, 1] are already). */
function nchwToHwc(data: Float32Array, dims: readonly number[]): Float32Array {
  if (dims.length !== 4 || dims[2]! * dims[3]! === 1) return data;
  const [, C, H, W] = dims as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) out[p * C + c] = data[c * H * W + p]!;
  return out;
}

type OrtTensor = { readonly data: unknown; readonly dims: readonly number[] };

/** The first output of an onnxruntime session, its dims kept for toHwc. */
function ortRunner(name: string, run: (input: Float32Array) => Promise<Record<string, OrtTensor>>, outputName: string): Runner {
  let dims: readonly number[] = [];
  return {
    name,
    async run(input) {
      const out = (await run(input))[outputName]!;
      dims = out.dims;
      return out.data as Float32Array;
    },
    toHwc: (output) => nchwToHwc(output, dims),
  };
}

export async function onnxruntimeNode(r: CompileResult): Promise<Runner> {
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(onnxBytes(r), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
  const dims = inputDims(r.graph!);
  return ortRunner("onnxruntime-node (1 thread)", (x) => session.run({ input: new ort.Tensor("float32", x, dims) }), session.outputNames[0]!);
}

export async function onnxruntimeWeb(r: CompileResult): Promise<Runner> {
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = join(dirname(require.resolve("onnxruntime-web")), "/");
  const session = await ort.InferenceSession.create(onnxBytes(r), { executionProviders: ["wasm"] });
  const dims = inputDims(r.graph!);
  return ortRunner("onnxruntime-web (wasm, 1 thread)", (x) => session.run({ input: new ort.Tensor("float32", x, dims) }), session.outputNames[0]!);
}

type Tf = typeof import("@tensorflow/tfjs-core");
type T = import("@tensorflow/tfjs-core").Tensor;
type T4 = import("@tensorflow/tfjs-core").Tensor4D;
type FusedActivation = "linear" | "relu" | "relu6" | "sigmoid";

/** The activations tfjs-core fuses into a convolution, as separate ops (a standalone activation). */
const FUSED_OP: Readonly<Record<FusedActivation, (tf: Tf, x: T) => T>> = {
  linear: (_tf, x) => x,
  relu: (tf, x) => tf.relu(x),
  relu6: (tf, x) => tf.relu6(x),
  sigmoid: (tf, x) => tf.sigmoid(x),
};

/**
 * Each activation in TensorFlow.js: the one a fused convolution applies (tfjs-core fuses linear,
 * relu, relu6 and sigmoid), then any ops after it. A Record, so that a new activation is a type error
 * here until it is given.
 */
const TFJS_ACTIVATION: Readonly<Record<Activation, { readonly fused: FusedActivation; readonly after?: (tf: Tf, x: T) => T }>> = {
  relu: { fused: "relu" },
  relu6: { fused: "relu6" },
  linear: { fused: "linear" },
  sigmoid: { fused: "sigmoid" },
  hswish: { fused: "linear", after: (tf, x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)) },
  hsigmoid: { fused: "linear", after: (tf, x) => tf.div(tf.relu6(tf.add(x, 3)), 6) },
};

/** An activation on its own (a standalone `sigmoid`, or after an op tfjs-core cannot fuse it into). */
function activate(tf: Tf, act: Activation, x: T): T {
  const { fused, after } = TFJS_ACTIVATION[act];
  const y = FUSED_OP[fused](tf, x);
  return after === undefined ? y : after(tf, y);
}

/**
 * tf.image.resizeBilinear / resizeNearestNeighbor's (alignCorners, halfPixelCenters) flags for each of
 * the IR's sampling conventions. Their arithmetic is not the reference's: tfjs-core computes the source
 * coordinate as (in/out ratio) × o in floating point, so where the exact coordinate is a whole number
 * (or, aligning corners, a half) a nearest resize may land on the neighbouring cell; bilinear blends are
 * continuous and agree to rounding (bench/peers-check.ts sweeps every size pair up to 24 → 48). Which
 * cells a resize reads depends only on its sizes, so each resize is probed once, on its own sizes, when
 * the graph is built, and refused (Unsupported) if TensorFlow.js would read other cells.
 */
const TFJS_RESIZE: Readonly<Record<ResizeCoords, { readonly alignCorners: boolean; readonly halfPixelCenters: boolean }>> = {
  align_corners: { alignCorners: true, halfPixelCenters: false },
  half_pixel: { alignCorners: false, halfPixelCenters: true },
  asymmetric: { alignCorners: false, halfPixelCenters: false },
};

/** A node TensorFlow.js cannot run as the IR defines it: the peer refuses the network rather than approximate it. */
export class Unsupported extends Error {
  override readonly name = "Unsupported";
}

export function tfjsResize(tf: Tf, mode: ResizeMode, coords: ResizeCoords, x: T4, size: [number, number]): T4 {
  const { alignCorners, halfPixelCenters } = TFJS_RESIZE[coords];
  return mode === "bilinear" ? tf.image.resizeBilinear(x, size, alignCorners, halfPixelCenters) : tf.image.resizeNearestNeighbor(x, size, alignCorners, halfPixelCenters);
}

/**
 * Where TensorFlow.js resizes `in → out` along one axis other than the reference does ("H 6→47"),
 * on a ramp (each cell its index + 1): a wrong source cell is off by at least 1, a wrong blend by its error.
 */
function resizeMismatch(tf: Tf, n: NodeOf<"resize">, input: Shape): string | undefined {
  for (const axis of [0, 1] as const) {
    const from = input[axis];
    const to = n.shape![axis];
    const inShape: Shape = axis === 0 ? [from, 1, 1] : [1, from, 1];
    const outShape: Shape = axis === 0 ? [to, 1, 1] : [1, to, 1];
    const ramp = Float64Array.from({ length: from }, (_, i) => i + 1);
    const want = new Float64Array(to);
    referenceLayer({ ...n, shape: outShape }, [inShape], outShape)(ramp, want);
    const got = tf.tidy(() => tfjsResize(tf, n.attrs.mode, n.attrs.coords, tf.tensor4d(Float32Array.from(ramp), [1, ...inShape]), [outShape[0], outShape[1]]).dataSync());
    const worst = want.reduce((m, v, i) => Math.max(m, Math.abs(got[i]! - v) / v), 0);
    if (worst > 1e-5) return `${axis === 0 ? "H" : "W"} ${from}→${to}`;
  }
  return undefined;
}

/** A node as tfjs-core ops: given the tensors its `inputs` name, its output. */
type Step = (xs: readonly T[]) => T;
interface Lowering {
  readonly tf: Tf;
  /** The shape of the tensor a node reads. */
  readonly shapeOf: (id: string) => Shape;
}

const one = (f: (x: T) => T): Step => (xs) => f(xs[0]!);

/**
 * The padding tfjs-core is given: the IR's explicit pads are TensorFlow's SAME (or VALID) for the
 * dilated window, which tfjs-core computes the same way; a node whose pads are not is a bench bug.
 */
function tfjsPadding(n: NodeOf<"conv"> | NodeOf<"depthwise">, input: Shape): "same" | "valid" {
  const tf = slide([input[0], input[1]], dilated(n.attrs.kernel, n.attrs.dilation), n.attrs.stride, n.attrs.padding);
  const pads = n.attrs.pads;
  if (tf === undefined || pads === undefined || tf.pads.some((p, i) => p !== pads[i])) {
    throw new Error(`${n.id}: pads [${pads?.join(",")}] are not TensorFlow's ${n.attrs.padding.toUpperCase()} on ${input.join("x")}`);
  }
  return n.attrs.padding;
}

function convLike(n: NodeOf<"conv"> | NodeOf<"depthwise">, { tf, shapeOf }: Lowering): Step {
  const w = n.weights!;
  if (w.bn !== undefined) throw new Error(`${n.id}: batch-norm is not fused`);
  const [o, i, kh, kw] = w.kernel.shape as [number, number, number, number];
  // OIHW → HWIO (conv), C1HW → HWC1 (depthwise), once.
  const filter = (n.op === "conv" ? tf.transpose(tf.tensor4d(w.kernel.data, [o, i, kh, kw]), [2, 3, 1, 0]) : tf.transpose(tf.tensor4d(w.kernel.data, [o, 1, kh, kw]), [2, 3, 0, 1])) as T4;
  const bias = tf.tensor1d(w.bias!.data);
  const pad = tfjsPadding(n, shapeOf(n.inputs[0]!));
  const strides: [number, number] = [n.attrs.stride[0], n.attrs.stride[1]];
  const dilations: [number, number] = [n.attrs.dilation?.[0] ?? 1, n.attrs.dilation?.[1] ?? 1];
  // Fused bias and activation, as TensorFlow.js' converter runs a MobileNet (FusedConv2D, FusedDepthwiseConv2dNative).
  const { fused: activation, after } = TFJS_ACTIVATION[n.attrs.act];
  const conv =
    n.op === "conv"
      ? (x: T): T => tf.fused.conv2d({ x: x as T4, filter, strides, pad, dilations, bias, activation })
      : (x: T): T => tf.fused.depthwiseConv2d({ x: x as T4, filter, strides, pad, dilations, bias, activation });
  return one(after === undefined ? conv : (x) => after(tf, conv(x)));
}

function pool(n: NodeOf<"avgpool"> | NodeOf<"maxpool">, { tf }: Lowering): Step {
  const a = n.attrs;
  if (a.kernel === "global") return one(n.op === "avgpool" ? (x) => tf.mean(x, [1, 2], true) : (x) => tf.max(x, [1, 2], true));
  const k: [number, number] = [a.kernel[0], a.kernel[1]];
  const s: [number, number] = a.stride === "kernel" ? k : [a.stride[0], a.stride[1]];
  // TensorFlow's SAME average pooling counts only the cells inside the input, as the IR does.
  const pad = a.padding;
  return one(n.op === "avgpool" ? (x) => tf.avgPool(x as T4, k, s, pad) : (x) => tf.maxPool(x as T4, k, s, pad));
}

/** Each IR op as tfjs-core ops (undefined: the node is the network's input). */
const TFJS: { readonly [K in OpKind]: (n: NodeOf<K>, c: Lowering) => Step | undefined } = {
  input: () => undefined,
  dropout: () => one((x) => x),
  conv: convLike,
  depthwise: convLike,
  deconv(n, { tf }) {
    const w = n.weights!;
    if (w.bn !== undefined) throw new Error(`${n.id}: batch-norm is not fused`);
    const [ic, oc, kh, kw] = w.kernel.shape as [number, number, number, number];
    // The IR's [in, out, kh, kw] (ONNX ConvTranspose) → tfjs-core's [kh, kw, out, in].
    const filter = tf.transpose(tf.tensor4d(w.kernel.data, [ic, oc, kh, kw]), [2, 3, 1, 0]) as T4;
    const bias = tf.tensor1d(w.bias!.data);
    const [OH, OW, OC] = n.shape!;
    // conv2dTranspose is the gradient of a conv2d from [OH, OW] whose pads are the IR's crop: output
    // cell (iy·s + i − top) gets x[iy]·K[i], and (H − 1)·s + K − top − bottom = OH.
    const [top, left, bottom, right] = n.attrs.pads!;
    const pad = top === 0 && left === 0 && bottom === 0 && right === 0 ? ("valid" as const) : ([[0, 0], [top, bottom], [left, right], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]);
    const strides: [number, number] = [n.attrs.stride[0], n.attrs.stride[1]];
    return one((x) => activate(tf, n.attrs.act, tf.add(tf.conv2dTranspose(x as T4, filter, [1, OH, OW, OC], strides, pad), bias)));
  },
  avgpool: pool,
  maxpool: pool,
  fc(n, { tf }) {
    const w = n.weights!;
    const [units, features] = w.kernel.shape as [number, number];
    const kernel = tf.transpose(tf.tensor2d(w.kernel.data, [units, features]));
    const bias = tf.tensor1d(w.bias!.data);
    // Channel-major flatten, as the IR (and ONNX) define it.
    return one((x) => tf.reshape(tf.add(tf.matMul(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [1, features]), kernel), bias), [1, 1, 1, units]));
  },
  softmax: (_n, { tf }) => one((x) => tf.softmax(x)),
  // [1, H, W, C] ∘ [1, 1, 1, C] (an SE gate, a pooled branch) broadcasts over H and W.
  add: (_n, { tf }) => ([a, b]) => tf.add(a!, b!),
  mul: (_n, { tf }) => ([a, b]) => tf.mul(a!, b!),
  concat: (_n, { tf }) => (xs) => tf.concat(xs as T4[], 3),
  resize(n, { tf, shapeOf }) {
    const wrong = resizeMismatch(tf, n, shapeOf(n.inputs[0]!));
    if (wrong !== undefined) throw new Unsupported(`${n.id}: TensorFlow.js resizes ${n.attrs.mode} ${n.attrs.coords} ${wrong} from other source cells than the IR`);
    const size: [number, number] = [n.shape![0], n.shape![1]];
    return one((x) => tfjsResize(tf, n.attrs.mode, n.attrs.coords, x as T4, size));
  },
  activation: (n, { tf }) => one((x) => activate(tf, n.attrs.act, x)),
  // The index of the first largest channel, as a float32 H×W×1 map.
  argmax: (_n, { tf }) => one((x) => tf.expandDims(tf.cast(tf.argMax(x, 3), "float32"), 3)),
};

/**
 * The network as tfjs-core ops, weights converted to TensorFlow's layouts once: one function per
 * node, applied to the tensors its `inputs` name. Returns every output, in `graph.outputs` order.
 */
export function tfjsModel(tf: Tf, graph: Graph): (x: T4) => T[] {
  const shapes = new Map(graph.nodes.map((n) => [n.id, n.shape!]));
  const lowering: Lowering = { tf, shapeOf: (id) => shapes.get(id)! };
  const steps: { readonly id: string; readonly inputs: readonly string[]; readonly f: Step }[] = [];
  for (const n of graph.nodes) {
    const f = (TFJS[n.op] as (n: Node, c: Lowering) => Step | undefined)(n, lowering);
    if (f !== undefined) steps.push({ id: n.id, inputs: n.inputs, f });
  }
  const input = graph.nodes[0]!.id;
  return (x) =>
    // tidy: every intermediate tensor is freed, the outputs kept.
    tf.tidy(() => {
      const values = new Map<string, T>([[input, x]]);
      for (const s of steps) values.set(s.id, s.f(s.inputs.map((id) => values.get(id)!)));
      return graph.outputs.map((id) => values.get(id)!);
    });
}

/** tfjs-core with one backend ready: `cpu`, or `wasm` on one thread. */
export async function tfjsWith(backend: "cpu" | "wasm"): Promise<Tf> {
  const tf = await import("@tensorflow/tfjs-core");
  if (backend === "cpu") await import("@tensorflow/tfjs-backend-cpu");
  else {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm")), "/"));
    wasm.setThreadsCount(1);
  }
  await tf.setBackend(backend);
  await tf.ready();
  return tf;
}

async function tfjs(r: CompileResult, backend: "cpu" | "wasm"): Promise<Runner> {
  const tf = await tfjsWith(backend);
  const model = tfjsModel(tf, r.graph!);
  const dims = inputDims(r.graph!);
  return {
    name: `TensorFlow.js ${backend}${backend === "wasm" ? " (1 thread)" : ""}`,
    async run(input) {
      const x = tf.tensor4d(input, dims);
      const ys = model(x);
      // The first output is the one compared and timed; the others are computed (the network's work) and dropped.
      const data = (await ys[0]!.data()) as Float32Array;
      x.dispose();
      for (const y of ys) y.dispose();
      return data;
    },
  };
}

export const tfjsCpu = (r: CompileResult): Promise<Runner> => tfjs(r, "cpu");
export const tfjsWasm = (r: CompileResult): Promise<Runner> => tfjs(r, "wasm");
