/**
 * Quantized ONNX: a graph that carries quantization (`Node.quant`,
 * `LayerWeights.quantized`: a `--quantized` import of an 8-bit TFLite file,
 * or post-training quantization) emitted in QDQ form — the float ops of the
 * float emitter (index.ts), each between DequantizeLinear of its inputs and
 * QuantizeLinear of its output, the form ONNX Runtime fuses into its integer
 * kernels (QLinearConv, QLinearAdd, QLinearGlobalAveragePool, …) at its
 * default optimisation level.
 *
 * Every IR node's output is a tensor of stored integers (uint8 or int8) under
 * the node's id, with `<id>.scale` and `<id>.zero_point` beside it; a
 * consumer reads `<id>.dequantized`, one DequantizeLinear per tensor:
 *
 *   input            the graph's input holds the stored integers (uint8 for
 *                    the TFLite models: the photo's bytes), `input.scale` and
 *                    `input.zero_point` its quantization
 *   conv, depthwise  Conv(DQ(x), DQ(<id>.weight), DQ(<id>.bias)) → Q
 *                    weight: the stored uint8/int8 kernel, per-channel
 *                    (axis 0) when its quantization is; bias: int32 at scale
 *                    s_x·s_w, zero point 0
 *   fc               Flatten of the stored integers, then Gemm(transB = 1)
 *                    with the same weight and bias → Q
 *   avgpool, maxpool, add, mul, softmax, activation
 *                    the float node between DQ and Q
 *   dropout          nothing: its consumers read its input's integers, as
 *                    the integer reference passes them on; so does a softmax
 *                    without quantization (a file whose graph ends at the
 *                    logits)
 *
 * A layer's activation, as the integer reference applies it
 * (ir/reference-int.ts):
 *
 *   linear, relu, relu6  a clamp of the requantized value to
 *                    activationRange(y, act). When that is the type's whole
 *                    range (relu6 on scale 6/255, zero point 0: every TFLite
 *                    model's) the Q alone does it and no node is written;
 *                    otherwise Q → DQ → Relu/Clip → Q on the same
 *                    quantization, which clamps the integers exactly and
 *                    leaves the convolution's Q to fuse
 *   hswish, hsigmoid, sigmoid  Q into the layer's linear-output quantization
 *                    (`<id>.linear`), DQ, the float activation, Q: the
 *                    table quantize(act(dequantize(q))) the reference looks up
 *
 * Ops the integer reference does not run (deconv, concat, resize, argmax)
 * have no quantized form here: `unsupportedQuantizedNode` names the first
 * one, for the caller to report before emitting.
 */
import { InternalError } from "../../ir/diagnostics.js";
import { QUANTIZED_RANGE, type Activation, type Graph, type Node, type NodeOf, type OpKind, type Quantization, type QuantizedType } from "../../ir/graph.js";
import { activationRange, integerProblem, isTableActivation } from "../../ir/reference-int.js";
import type { Context, EmittedTensor, Intermediate, Lowered } from "./index.js";
import { INT32, INT8, UINT8, floatTensor, integerTensor, node, type Dim, type INodeProto, type ITensorProto } from "./proto.js";

/** Whether a graph carries quantization (then it is emitted in integers). */
export function isQuantizedGraph(graph: Graph): boolean {
  return graph.nodes.some((n) => n.quant !== undefined);
}

/** ONNX's element type of each quantized type. */
const ELEM_TYPE: { readonly [T in QuantizedType]: typeof UINT8 | typeof INT8 } = { uint8: UINT8, int8: INT8 };

/** A tensor of stored integers and the initializers that hold its quantization. */
interface QuantizedTensor extends EmittedTensor {
  readonly quant: Quantization;
  /** The names of its scale and zero point initializers. */
  readonly scale: string;
  readonly zeroPoint: string;
}

/** What a layer adds, gathered as it is lowered. */
interface Group {
  readonly nodes: INodeProto[];
  readonly initializers: ITensorProto[];
  readonly intermediates: Intermediate[];
}

/** The float emitter's lowering of one node, in a context whose tensors are the node's dequantized inputs. */
export type FloatLowering = (n: Node, ctx: Context) => Lowered;

interface State {
  readonly ctx: Context;
  readonly lowerFloat: FloatLowering;
  /** Each IR node's output as stored integers. */
  readonly tensors: Map<string, QuantizedTensor>;
  /** The float tensor that dequantizes each stored tensor, once made. */
  readonly dequantized: Map<string, string>;
}

type QuantizedLowering<K extends OpKind> = (n: NodeOf<K>, state: State) => Lowered;

/**
 * The quantized lowering of a graph: `lower` for each node in order, and the
 * metadata that tells how to read the model's integers.
 */
export function quantizedLowering(ctx: Context, lowerFloat: FloatLowering): { lower(n: Node): Lowered; metadata(outputNames: readonly string[]): Record<string, string> } {
  const state: State = { ctx, lowerFloat, tensors: new Map(), dequantized: new Map() };
  return {
    lower(n) {
      const lowering = LOWER[n.op] as QuantizedLowering<OpKind> | null;
      if (lowering === null) throw new InternalError(`'${n.id}' (${n.op}) has no quantized ONNX form (check with unsupportedQuantizedNode first)`);
      return lowering(n as NodeOf<OpKind>, state);
    },
    metadata(outputNames) {
      const input = ctx.graph.nodes.find((n) => n.op === "input")!;
      const entries: Record<string, string> = { "mnc.quantization": "QDQ; real = scale * (q - zero_point)", "mnc.input.quantization": quantText(tensorOf(input.id, state).quant) };
      ctx.graph.outputs.forEach((id, i) => {
        entries[`mnc.output.${outputNames[i]!}.quantization`] = quantText(tensorOf(id, state).quant);
      });
      return entries;
    },
  };
}

/** `uint8 scale=0.0078125 zero_point=128`. */
function quantText(q: Quantization): string {
  return `${q.type} scale=${q.scale[0]!} zero_point=${q.zeroPoint[0]!}`;
}

/** Why a graph cannot be emitted in integers: its first such node, and why; undefined when it can. */
export function unsupportedQuantizedNode(graph: Graph): { readonly node: Node; readonly reason: string } | undefined {
  const problem = integerProblem(graph);
  if (problem !== undefined) return problem;
  const unlowered = graph.nodes.find((n) => LOWER[n.op] === null);
  return unlowered === undefined ? undefined : { node: unlowered, reason: `${unlowered.op} layers have no integer ONNX form yet` };
}

function tensorOf(id: string, state: State): QuantizedTensor {
  const t = state.tensors.get(id);
  if (t === undefined) throw new InternalError(`'${id}' was not emitted as a quantized tensor`);
  return t;
}

function group(): Group {
  return { nodes: [], initializers: [], intermediates: [] };
}

/** The scale and zero point initializers of a per-tensor quantization. */
function parameters(name: string, q: Quantization, g: Group): { scale: string; zeroPoint: string } {
  const scale = `${name}.scale`;
  const zeroPoint = `${name}.zero_point`;
  g.initializers.push(floatTensor(scale, [], new Float32Array([q.scale[0]!])), integerTensor(zeroPoint, [], ELEM_TYPE[q.type], [q.zeroPoint[0]!]));
  return { scale, zeroPoint };
}

/** The float tensor of a stored one: `<name>.dequantized`, made by the first layer that reads it. */
function dequantize(t: QuantizedTensor, n: Node, state: State, g: Group): string {
  const made = state.dequantized.get(t.name);
  if (made !== undefined) return made;
  const name = `${t.name}.dequantized`;
  g.nodes.push(node("DequantizeLinear", `${t.name}.dequantize`, [t.name, t.scale, t.zeroPoint], [name], {}, state.ctx.doc(n)));
  g.intermediates.push({ name, dims: t.dims });
  state.dequantized.set(t.name, name);
  return name;
}

/** QuantizeLinear of float `x` into `q`, as the stored tensor `name`. */
function quantizeInto(x: string, name: string, q: Quantization, dims: Dim[], n: Node, state: State, g: Group): QuantizedTensor {
  const p = parameters(name, q, g);
  g.nodes.push(node("QuantizeLinear", `${name}.quantize`, [x, p.scale, p.zeroPoint], [name], {}, state.ctx.doc(n)));
  return { name, dims, elemType: ELEM_TYPE[q.type], quant: q, ...p };
}

/** The layer's lowering from a group and its output tensor (registered as the node's). */
function finish(n: Node, t: QuantizedTensor, g: Group, state: State): Lowered {
  state.tensors.set(n.id, t);
  return { nodes: g.nodes, initializers: g.initializers, output: t.name, dims: t.dims, elemType: t.elemType!, intermediates: g.intermediates };
}

/** A node whose consumers read its input's integers (dropout; a softmax the file computes no quantization for). */
function passThrough(n: Node, state: State): Lowered {
  return finish(n, tensorOf(n.inputs[0]!, state), group(), state);
}

/** Rename tensors in nodes (inputs and outputs). */
function renamed(nodes: readonly INodeProto[], names: ReadonlyMap<string, string>): INodeProto[] {
  const to = (s: string): string => names.get(s) ?? s;
  return nodes.map((x) => ({ ...x, input: (x.input ?? []).map(to), output: (x.output ?? []).map(to) }));
}

/**
 * The float emitter's nodes for `n` on its dequantized inputs (`inputs`, by
 * IR id), with the layer's own output renamed `float` and the other tensors
 * in `names` renamed; returns that output's name (the layer's id, or
 * `probabilities`), its dims and the float emitter's initializers.
 */
function floatNodes(n: Node, inputs: ReadonlyMap<string, EmittedTensor>, float: string, state: State, g: Group, names: ReadonlyMap<string, string> = new Map()): { output: string; dims: Dim[]; initializers: ITensorProto[] } {
  const lowered = state.lowerFloat(n, { ...state.ctx, tensors: new Map(inputs) });
  if (lowered.nodes.length === 0) throw new InternalError(`'${n.id}' lowered to no float node`);
  g.nodes.push(...renamed(lowered.nodes, new Map([...names, [lowered.output, float]])));
  g.intermediates.push(...lowered.intermediates, { name: float, dims: lowered.dims });
  return { output: lowered.output, dims: lowered.dims, initializers: lowered.initializers };
}

/** The float node between DequantizeLinear of its inputs and QuantizeLinear into the node's quantization. */
function between(n: Node, state: State): Lowered {
  const g = group();
  const inputs = new Map(n.inputs.map((id) => [id, { name: dequantize(tensorOf(id, state), n, state, g), dims: tensorOf(id, state).dims }] as const));
  const float = `${n.id}.float`;
  const f = floatNodes(n, inputs, float, state, g);
  g.initializers.push(...f.initializers);
  return finish(n, quantizeInto(float, f.output, quantOf(n), f.dims, n, state, g), g, state);
}

function quantOf(n: Node): Quantization {
  if (n.quant === undefined) throw new InternalError(`'${n.id}' (${n.op}) has no quantization`);
  return n.quant;
}

/**
 * A standalone activation: the reference maps every stored value through
 * activationTable(act, x, y), so DQ → the float activation → Q; a linear
 * one between equal quantizations passes the integers on, and between
 * different ones is DQ → Q.
 */
function activation(n: NodeOf<"activation">, state: State): Lowered {
  if (n.attrs.act !== "linear") return between(n, state);
  const x = tensorOf(n.inputs[0]!, state);
  const q = quantOf(n);
  if (sameQuantization(x.quant, q)) return passThrough(n, state);
  const g = group();
  return finish(n, quantizeInto(dequantize(x, n, state, g), n.id, q, x.dims, n, state, g), g, state);
}

function sameQuantization(a: Quantization, b: Quantization): boolean {
  return a.type === b.type && a.scale[0] === b.scale[0] && a.zeroPoint[0] === b.zeroPoint[0];
}

/**
 * conv, depthwise, fc: the float emitter's Conv or Gemm reading the
 * dequantized input (an fc's flattened first, as stored integers),
 * `<id>.weight` (stored integers, per-channel on axis 0 when quantized so)
 * and `<id>.bias` (int32, scale s_x·s_w), then the activation (see the
 * file's header).
 */
function weighted(n: NodeOf<"conv"> | NodeOf<"depthwise"> | NodeOf<"fc">, state: State): Lowered {
  const qw = n.weights?.quantized;
  if (qw === undefined) throw new InternalError(`'${n.id}' has no quantized weights`);
  const g = group();
  let x = tensorOf(n.inputs[0]!, state);
  if (n.op === "fc" && x.dims.length !== 2) {
    // Flatten the stored integers, so that the Gemm reads a DequantizeLinear as ONNX Runtime's QDQ fusion wants.
    const flat = `${n.id}.flatten`;
    g.nodes.push(node("Flatten", flat, [x.name], [flat], { axis: 1 }, state.ctx.doc(n)));
    const dims = [x.dims[0]!, x.dims.slice(1).reduce<number>((a, d) => a * Number(d), 1)];
    g.intermediates.push({ name: flat, dims, elemType: x.elemType! });
    x = { ...x, name: flat, dims };
  }
  const xf = dequantize(x, n, state, g);
  // The stored weights and their DequantizeLinear, before the layer's node that reads them.
  const weight = `${n.id}.weight`;
  const bias = `${n.id}.bias`;
  const kq = qw.kernelQuant;
  const perChannel = kq.scale.length > 1;
  const channels = qw.kernel.shape[0]!;
  const axis: Readonly<Record<string, number>> = perChannel ? { axis: 0 } : {};
  const scaleDims = perChannel ? [channels] : [];
  g.initializers.push(
    integerTensor(weight, qw.kernel.shape, ELEM_TYPE[kq.type], qw.kernel.data),
    floatTensor(`${weight}.scale`, scaleDims, Float32Array.from(kq.scale)),
    integerTensor(`${weight}.zero_point`, scaleDims, ELEM_TYPE[kq.type], kq.zeroPoint),
  );
  g.nodes.push(node("DequantizeLinear", `${weight}.dequantize`, [weight, `${weight}.scale`, `${weight}.zero_point`], [`${weight}.dequantized`], axis, state.ctx.doc(n)));
  const names = new Map([[weight, `${weight}.dequantized`]]);
  if (qw.bias !== undefined) {
    // int32 at scale s_x·s_w (per channel when the kernel is), zero point 0.
    const sx = x.quant.scale[0]!;
    g.initializers.push(integerTensor(bias, [channels], INT32, qw.bias), floatTensor(`${bias}.scale`, scaleDims, Float32Array.from(perChannel ? kq.scale : [kq.scale[0]!], (s) => sx * s)));
    g.nodes.push(node("DequantizeLinear", `${bias}.dequantize`, [bias, `${bias}.scale`], [`${bias}.dequantized`], axis, state.ctx.doc(n)));
    names.set(bias, `${bias}.dequantized`);
  }
  const act: Activation = n.op === "fc" ? "linear" : n.attrs.act;
  // The float emitter's node without its activation (a branch per op, so that each keeps its own attrs type): the activation follows below.
  const linearNode: Node = n.op === "fc" ? n : n.op === "conv" ? { ...n, attrs: { ...n.attrs, act: "linear" } } : { ...n, attrs: { ...n.attrs, act: "linear" } };
  const float = `${n.id}.float`;
  const f = floatNodes(linearNode, new Map([[n.inputs[0]!, { name: xf, dims: x.dims }]]), float, state, g, names);
  g.initializers.push(...f.initializers.filter((t) => t.name !== weight && t.name !== bias));
  const yq = quantOf(n);
  if (isTableActivation(act)) {
    if (qw.linear === undefined) throw new InternalError(`'${n.id}' has a table activation but no linear-output quantization`);
    const linear = quantizeInto(float, `${n.id}.linear`, qw.linear, f.dims, n, state, g);
    g.intermediates.push({ name: linear.name, dims: f.dims, elemType: linear.elemType! });
    return finish(n, activate(n, act, linear, yq, state, g), g, state);
  }
  const [lo, hi] = activationRange(yq, act);
  const [min, max] = QUANTIZED_RANGE[yq.type];
  if (lo === min && hi === max) return finish(n, quantizeInto(float, n.id, yq, f.dims, n, state, g), g, state);
  // A clamp the output's range does not imply: on the stored integers, after the layer's own QuantizeLinear.
  const unclamped = quantizeInto(float, `${n.id}.unclamped`, yq, f.dims, n, state, g);
  g.intermediates.push({ name: unclamped.name, dims: f.dims, elemType: unclamped.elemType! });
  return finish(n, activate(n, act, unclamped, yq, state, g), g, state);
}

/** DQ(t) → the float emitter's activation `act` → Q into `q`, as the layer's output. */
function activate(n: Node, act: Activation, t: QuantizedTensor, q: Quantization, state: State, g: Group): QuantizedTensor {
  const a = { op: "activation", id: n.id, inputs: [t.name], attrs: { act }, span: n.span, origin: n.origin, shape: n.shape, quant: q } as NodeOf<"activation">;
  const activated = `${n.id}.activated`;
  const f = floatNodes(a, new Map([[t.name, { name: dequantize(t, n, state, g), dims: t.dims }]]), activated, state, g);
  g.initializers.push(...f.initializers);
  return quantizeInto(activated, n.id, q, f.dims, n, state, g);
}

const LOWER: { readonly [K in OpKind]: QuantizedLowering<K> | null } = {
  input(n, state) {
    const { ctx } = state;
    if (ctx.options.embedPreprocessing === true) throw new InternalError("a quantized model's input is its stored integers: it embeds no preprocessing");
    const lowered = state.lowerFloat(n, ctx);
    const q = quantOf(n);
    const g = group();
    const p = parameters("input", q, g);
    const t: QuantizedTensor = { name: lowered.output, dims: lowered.dims, elemType: ELEM_TYPE[q.type], quant: q, ...p };
    return finish(n, t, { nodes: lowered.nodes, initializers: [...lowered.initializers, ...g.initializers], intermediates: lowered.intermediates.map((i) => ({ ...i, elemType: ELEM_TYPE[q.type] })) }, state);
  },
  conv: weighted,
  depthwise: weighted,
  fc: weighted,
  avgpool: between,
  maxpool: between,
  add: between,
  mul: between,
  softmax: (n, state) => (n.quant === undefined ? passThrough(n, state) : between(n, state)),
  dropout: passThrough,
  activation,
  deconv: null,
  concat: null,
  resize: null,
  argmax: null,
};
