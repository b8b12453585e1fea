/**
 * The ONNX emitter: a verified, weighted graph → ModelProto bytes.
 *
 * Each IR node becomes a small group of ONNX nodes — Conv (group = C for
 * depthwise, explicit asymmetric pads for TF SAME, the node's dilations),
 * ConvTranspose for a transposed convolution, BatchNormalization when
 * batch-norm was kept, the activation (ACTIVATION below, also for a
 * standalone activation), Add for a residual or skip, Mul for
 * squeeze-and-excitation (an [N, C, 1, 1] operand broadcasts over H and W),
 * Concat on channels, Resize (or Gather: see `resize`), ArgMax then Cast to
 * float — whose last output carries the layer's stable name, so value_info,
 * node names and initializers (the same names as mnc's safetensors:
 * `sep_3.pw.weight`) all line up with reports and `--dump-ir`. The emitter
 * follows the graph: a node reads the tensors its `inputs` produced, and the
 * model's outputs are `graph.outputs`, in order, under `graph.outputNames` (an
 * `output` statement's, `--outputs`', or the last layer's own; `nameOutputs`). Input
 * `input` is float32 [N, C, H, W] with a symbolic batch N (or [N, H, W, C]
 * with --input-layout nhwc, transposed inside the model). With
 * `embedPreprocessing` it holds raw pixels (0–255) and the model normalises
 * them first, Sub(mean) then Div(std), with the input's declared
 * normalisation.
 *
 * A graph that carries quantization (Node.quant) is emitted in integers
 * instead: each of these node groups between DequantizeLinear and
 * QuantizeLinear, on stored uint8/int8 tensors (quantized.ts).
 *
 * Deterministic: no timestamps, fixed field order — the same graph gives the
 * same bytes. Pure: it returns bytes; the CLI writes them.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Graph, Node, NodeOf, OpKind, Shape, Activation, ResizeCoords, ResizeMode } from "../../ir/graph.js";
import { resizeAxis } from "../../ir/ops/resize.js";
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import type { FusionCertificate } from "../../passes/certify-fusion.js";
import { VERSION } from "../../version.js";
import { isSoleSoftmaxOutput, outputNames } from "../output-names.js";
import { isQuantizedGraph, quantizedLowering } from "./quantized.js";
import { FLOAT, INT64, floatTensor, int64Tensor, node, onnx, valueInfo, type AttributeValue, type Dim, type INodeProto, type ITensorProto, type IValueInfoProto } from "./proto.js";

export const DEFAULT_OPSET = 13;
export const MAX_OPSET = 17;
/** ONNX IR version 8 (ONNX 1.10 – 1.12): read by every current runtime and checker. */
export const IR_VERSION = 8;

export interface OnnxOptions {
  /** The source file, for doc strings and metadata. */
  readonly sourceFile: string;
  /** The source text, to quote each layer's line in its doc string. */
  readonly sourceText?: string;
  readonly opset?: number;
  readonly inputLayout?: "nchw" | "nhwc";
  /**
   * Take raw pixels (0–255) and apply the input's declared normalisation inside the model:
   * `input.centred = Sub(input, input.mean)`, `input.normalised = Div(input.centred, input.std)`
   * (`--embed-preprocessing`). The graph's input must declare one (`input … mean=M std=S`).
   */
  readonly embedPreprocessing?: boolean;
}

/** The normalisation the model would embed is not declared: a caller's mistake, checked before emitting. */
export function preprocessingOf(graph: Graph): { readonly mean: number; readonly std: number } | undefined {
  const input = graph.nodes.find((n) => n.op === "input");
  return input?.op === "input" ? input.attrs.normalisation : undefined;
}

export interface OnnxInput {
  readonly graph: Graph;
  readonly costs: CostAnalysis;
  readonly certificate?: FusionCertificate;
}

/** What one layer contributes to the ONNX graph. */
export interface Lowered {
  readonly nodes: INodeProto[];
  readonly initializers: ITensorProto[];
  /** The tensor that holds the layer's output. */
  readonly output: string;
  /** The output's dims (batch symbolic). */
  readonly dims: Dim[];
  /** The output's element type: float32 unless said otherwise (a quantized model's stored integers). */
  readonly elemType?: number;
  /** Intermediate tensors worth a value_info (e.g. a conv's output before its activation). */
  readonly intermediates: Intermediate[];
}

/** A tensor inside a layer's node group: float32 unless `elemType` says otherwise (int64 indices and shapes). */
export interface Intermediate {
  readonly name: string;
  readonly dims: Dim[];
  readonly elemType?: number;
}

export interface Context {
  readonly graph: Graph;
  readonly options: OnnxOptions;
  readonly opset: number;
  /** The tensor name, dims and element type (float32 when absent) of each IR node's output. */
  readonly tensors: Map<string, EmittedTensor>;
  readonly shared: Map<string, ITensorProto>;
  doc(n: Node): string;
}

/** An IR node's output as emitted. */
export interface EmittedTensor {
  readonly name: string;
  readonly dims: Dim[];
  readonly elemType?: number;
}

const N = "N";

export function emitOnnx(input: OnnxInput, options: OnnxOptions): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(buildModel(input, options) as never)).finish();
}

/** The ModelProto as a plain object (what `emitOnnx` encodes). */
export function buildModel(input: OnnxInput, options: OnnxOptions): object {
  const { graph } = input;
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < DEFAULT_OPSET || opset > MAX_OPSET) throw new InternalError(`opset ${opset} is outside ${DEFAULT_OPSET}..${MAX_OPSET}`);
  const lines = options.sourceText?.split(/\r\n|\r|\n/) ?? [];
  const ctx: Context = {
    graph,
    options,
    opset,
    tensors: new Map(),
    shared: new Map(),
    doc: (n) => {
      const text = lines[n.span.line - 1]?.trim();
      return `${options.sourceFile}:${n.span.line}:${n.span.column}${text ? `: ${text}` : ""}`;
    },
  };
  const nodes: INodeProto[] = [];
  const initializers: ITensorProto[] = [];
  const infos: IValueInfoProto[] = [];
  let graphInput: IValueInfoProto | undefined;
  // A graph that carries quantization is emitted in integers (quantized.ts); a float graph as below.
  const quantized = isQuantizedGraph(graph) ? quantizedLowering(ctx, lower) : undefined;
  for (const n of graph.nodes) {
    const lowered = quantized === undefined ? lower(n, ctx) : quantized.lower(n);
    nodes.push(...lowered.nodes);
    initializers.push(...lowered.initializers);
    ctx.tensors.set(n.id, { name: lowered.output, dims: lowered.dims, ...(lowered.elemType === undefined ? {} : { elemType: lowered.elemType }) });
    for (const t of lowered.intermediates) infos.push(valueInfo(t.name, t.dims, t.elemType));
    if (n.op === "input") {
      const [h, w, c] = n.shape!;
      graphInput = valueInfo("input", options.inputLayout === "nhwc" ? [N, h, w, c] : [N, c, h, w], lowered.elemType);
    } else if (lowered.output !== ctx.tensors.get(n.inputs[0] ?? "")?.name) {
      infos.push(valueInfo(lowered.output, lowered.dims, lowered.elemType));
    }
  }
  if (graphInput === undefined) throw new InternalError("the graph has no input node");
  const named = nameOutputs(ctx, { nodes, initializers, infos });
  const outputInfos = named.outputs;
  const hidden = new Set(["input", ...outputInfos.map((o) => o.name)]);
  const valueInfos = named.infos.filter((v) => !hidden.has(v.name!));

  const inputNode = graph.nodes.find((n) => n.op === "input")!;
  const shape = inputNode.shape!;
  const t = input.costs.totals;
  const metadata: Record<string, string> = {
    "mnc.version": VERSION,
    "mnc.source": options.sourceFile,
    "mnc.network": graph.name,
    "mnc.alpha": String(graph.alpha),
    "mnc.resolution": `${shape[0]}x${shape[1]}`,
    "mnc.input_layout": options.inputLayout ?? "nchw",
    ...(options.embedPreprocessing === true ? { "mnc.preprocessing": preprocessingText(graph) } : {}),
    "mnc.mult_adds": String(t.multAdds),
    "mnc.params": String(t.params),
    "mnc.bn_fusion": input.certificate === undefined ? "not fused" : "fused",
    ...(input.certificate === undefined ? {} : { "mnc.bn_fusion_max_relative_error": input.certificate.maxRelativeError.toExponential(3) }),
    ...(quantized === undefined ? {} : quantized.metadata(outputInfos.map((o) => o.name!))),
  };
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "mnc",
    producerVersion: VERSION,
    docString: `${graph.name}, compiled by mnc ${VERSION} from ${options.sourceFile}`,
    graph: {
      name: graph.name,
      node: named.nodes,
      initializer: named.initializers,
      input: [graphInput],
      output: outputInfos,
      valueInfo: valueInfos,
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
}

/** The lowered model, before or after its outputs are named. */
interface Body {
  readonly nodes: readonly INodeProto[];
  readonly initializers: readonly ITensorProto[];
  readonly infos: readonly IValueInfoProto[];
}

/**
 * The graph's outputs, in `graph.outputs` order, and the body renamed to fit
 * them.
 *
 * The names are src/emit/output-names.ts's (the one rule every target
 * follows). Without `outputNames` (one default output) an output is its
 * tensor, as lowered: `probabilities` after a softmax, else the node's id.
 * With them the output carries its name: the tensor that holds it is
 * renamed, so that the node making it writes `logits` or `features`. An
 * output that cannot take its tensor's place — the graph's input passed
 * through, or a tensor already output — is an Identity of it. Another tensor
 * that happens to carry a chosen name (a node id such as `pw_0`, given as the
 * name of another tensor) moves aside to `<name>.tensor`.
 */
function nameOutputs(ctx: Context, body: Body): Body & { readonly outputs: IValueInfoProto[] } {
  const { graph } = ctx;
  const chosen = outputNames(graph, (id) => {
    const t = ctx.tensors.get(id);
    if (t === undefined) throw new InternalError(`output '${id}' names no node`);
    return t.name;
  });
  const initializers = [...body.initializers, ...ctx.shared.values()];
  const taken = new Set(["input", ...initializers.map((t) => t.name!), ...body.nodes.flatMap((n) => n.output ?? [])]);
  const finals: string[] = [];
  const rename = new Map<string, string>();
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 2; taken.has(name) || finals.includes(name) || [...rename.values()].includes(name); k++) name = `${base}.${k}`;
    return name;
  };
  /** Tensors that hold an output under their own (maybe new) name. */
  const holders = new Set<string>();
  const identities: { from: string; to: string }[] = [];
  const outputs = graph.outputs.map((id, i) => {
    const t = ctx.tensors.get(id);
    if (t === undefined) throw new InternalError(`output '${id}' names no node`);
    const name = chosen[i]!;
    if (t.name === "input" || holders.has(t.name)) {
      identities.push({ from: t.name, to: name });
    } else {
      holders.add(t.name);
      if (name !== t.name) rename.set(t.name, name);
    }
    finals.push(name);
    return valueInfo(name, t.dims, t.elemType);
  });
  // A chosen name that another tensor carries: that tensor (not moving already, not the output's own holder) moves aside.
  for (const name of finals) if (taken.has(name) && !rename.has(name) && !holders.has(name)) rename.set(name, fresh(`${name}.tensor`));
  const to = (name: string): string => rename.get(name) ?? name;
  return {
    nodes: [
      ...body.nodes.map((n) => (rename.size === 0 ? n : { ...n, input: (n.input ?? []).map(to), output: (n.output ?? []).map(to) })),
      ...identities.map(({ from, to: name }) => node("Identity", name, [to(from)], [name])),
    ],
    initializers: rename.size === 0 ? initializers : initializers.map((t) => ({ ...t, name: to(t.name!) })),
    infos: rename.size === 0 ? body.infos : body.infos.map((v) => ({ ...v, name: to(v.name!) })),
    outputs,
  };
}

/** The metadata's account of the embedded preprocessing. */
function preprocessingText(graph: Graph): string {
  const norm = preprocessingOf(graph);
  if (norm === undefined) throw new InternalError("embedPreprocessing: the input declares no normalisation");
  return `input: raw pixels 0-255; the model computes (input - ${norm.mean}) / ${norm.std}`;
}

function nchw(s: Shape): Dim[] {
  return [N, s[2], s[0], s[1]];
}

/** The tensor that a node's `index`-th input (an IR node id) was emitted as. */
function inputOf(n: Node, ctx: Context, index = 0): EmittedTensor {
  const id = n.inputs[index];
  const t = id === undefined ? undefined : ctx.tensors.get(id);
  if (t === undefined) throw new InternalError(`'${n.id}' reads input ${index} ('${id ?? ""}'), a tensor that was not emitted`);
  return t;
}

/**
 * A rank-2 [N, F] tensor (after fc) fed to a spatial op is reshaped back to
 * [N, F, 1, 1] (`<id>.reshape`, or `<id>.reshape.<index>` for an elementwise
 * op's inputs).
 */
function spatialInput(n: Node, ctx: Context, out: INodeProto[], inits: ITensorProto[], index = 0, suffix = "reshape"): string {
  const t = inputOf(n, ctx, index);
  if (t.dims.length === 4) return t.name;
  const shapeName = `${n.id}.${suffix}.shape`;
  inits.push(int64Tensor(shapeName, [0, Number(t.dims[1]), 1, 1]));
  const name = `${n.id}.${suffix}`;
  out.push(node("Reshape", name, [t.name, shapeName], [name], {}, ctx.doc(n)));
  return name;
}

/** What an activation adds after a layer's convolution (and batch-norm): nodes ending in the tensor `output`. */
interface ActivationNodes {
  readonly nodes: INodeProto[];
  readonly intermediates: Intermediate[];
}

/** hard-sigmoid relu6(x + 3)/6 = max(0, min(1, x/6 + 1/2)): ONNX HardSigmoid's alpha and beta. */
const HARD_SIGMOID = { alpha: { float: 1 / 6 }, beta: { float: 0.5 } } as const;
/** The first opset with HardSwish. */
export const HARDSWISH_OPSET = 14;

type ActivationLowering = (x: string, output: string, n: Node, dims: Dim[], ctx: Context) => ActivationNodes;

/**
 * Each activation's ONNX nodes, reading `x` and writing `output`; `null` for
 * none (linear: the layer's last node writes `output` itself).
 *
 *   relu      Relu
 *   relu6     Clip(x, 0, 6), the bounds as shared scalar initializers
 *   hswish    HardSwish (opset ≥ 14); at opset 13 x · HardSigmoid(x, α=1/6, β=1/2)
 *   hsigmoid  HardSigmoid(α=1/6, β=1/2)
 *   sigmoid   Sigmoid
 */
const ACTIVATION: { readonly [A in Activation]: ActivationLowering | null } = {
  linear: null,
  relu: (x, output, n, _dims, ctx) => ({ nodes: [node("Relu", `${n.id}.relu`, [x], [output], {}, ctx.doc(n))], intermediates: [] }),
  relu6(x, output, n, _dims, ctx) {
    for (const [name, value] of [["relu6.min", 0], ["relu6.max", 6]] as const) {
      if (!ctx.shared.has(name)) ctx.shared.set(name, floatTensor(name, [], new Float32Array([value])));
    }
    return { nodes: [node("Clip", `${n.id}.relu6`, [x, "relu6.min", "relu6.max"], [output], {}, ctx.doc(n))], intermediates: [] };
  },
  hswish(x, output, n, dims, ctx) {
    if (ctx.opset >= HARDSWISH_OPSET) return { nodes: [node("HardSwish", `${n.id}.hswish`, [x], [output], {}, ctx.doc(n))], intermediates: [] };
    const gate = `${n.id}.hswish.gate`;
    return {
      nodes: [node("HardSigmoid", gate, [x], [gate], HARD_SIGMOID, ctx.doc(n)), node("Mul", `${n.id}.hswish`, [x, gate], [output], {}, ctx.doc(n))],
      intermediates: [{ name: gate, dims }],
    };
  },
  hsigmoid: (x, output, n, _dims, ctx) => ({ nodes: [node("HardSigmoid", `${n.id}.hsigmoid`, [x], [output], HARD_SIGMOID, ctx.doc(n))], intermediates: [] }),
  sigmoid: (x, output, n, _dims, ctx) => ({ nodes: [node("Sigmoid", `${n.id}.sigmoid`, [x], [output], {}, ctx.doc(n))], intermediates: [] }),
};

/** `inputs[0] ⊕ inputs[1]` (Add, or Mul whose [N, C, 1, 1] gate broadcasts over H and W as numpy does). */
function elementwise(opType: "Add" | "Mul", n: NodeOf<"add"> | NodeOf<"mul">, ctx: Context): Lowered {
  const a = inputOf(n, ctx, 0);
  const b = inputOf(n, ctx, 1);
  const out: INodeProto[] = [];
  const inits: ITensorProto[] = [];
  // Both [N, F] (fc outputs) stay rank 2; otherwise a rank-2 input is made [N, F, 1, 1] so that it lines up with NCHW.
  const flat = a.dims.length === 2 && b.dims.length === 2;
  const x = flat ? a.name : spatialInput(n, ctx, out, inits, 0, "reshape.0");
  const y = flat ? b.name : spatialInput(n, ctx, out, inits, 1, "reshape.1");
  out.push(node(opType, n.id, [x, y], [n.id], {}, ctx.doc(n)));
  return { nodes: out, initializers: inits, output: n.id, dims: flat ? a.dims : nchw(n.shape!), intermediates: [] };
}

/**
 * A weighted layer: its main node (`opType` with `attrs`) reads the input,
 * `<id>.weight` and `<id>.bias` when there is one, then BatchNormalization
 * when batch-norm was kept and the activation; the last of them writes the
 * layer's id (the main node writes `<id>.conv` when anything follows it).
 */
function weightedLayer(n: NodeOf<"conv"> | NodeOf<"depthwise"> | NodeOf<"deconv">, ctx: Context, opType: "Conv" | "ConvTranspose", attrs: Readonly<Record<string, AttributeValue>>): Lowered {
  const w = n.weights;
  if (w === undefined) throw new InternalError(`'${n.id}' has no weights`);
  const out: INodeProto[] = [];
  const inits: ITensorProto[] = [];
  const x = spatialInput(n, ctx, out, inits);
  const dims = nchw(n.shape!);
  const activation = ACTIVATION[n.attrs.act];
  const after = activation === null ? [] : ["act"];
  const steps = [...(w.bn !== undefined ? ["bn"] : []), ...after];
  const convOut = steps.length === 0 ? n.id : `${n.id}.conv`;
  inits.push(floatTensor(`${n.id}.weight`, w.kernel.shape, w.kernel.data));
  const convInputs = [x, `${n.id}.weight`];
  if (w.bias !== undefined) {
    inits.push(floatTensor(`${n.id}.bias`, w.bias.shape, w.bias.data));
    convInputs.push(`${n.id}.bias`);
  }
  out.push(node(opType, n.id, convInputs, [convOut], attrs, ctx.doc(n)));
  const intermediates: Intermediate[] = convOut === n.id ? [] : [{ name: convOut, dims }];
  let current = convOut;
  if (w.bn !== undefined) {
    const bnOut = after.length === 0 ? n.id : `${n.id}.bn`;
    for (const k of ["gamma", "beta", "mean", "variance"] as const) inits.push(floatTensor(`${n.id}.bn.${k}`, w.bn[k].shape, w.bn[k].data));
    out.push(
      node("BatchNormalization", `${n.id}.bn`, [current, `${n.id}.bn.gamma`, `${n.id}.bn.beta`, `${n.id}.bn.mean`, `${n.id}.bn.variance`], [bnOut], { epsilon: { float: w.bn.epsilon } }, ctx.doc(n)),
    );
    if (bnOut !== n.id) intermediates.push({ name: bnOut, dims });
    current = bnOut;
  }
  if (activation !== null) {
    const act = activation(current, n.id, n, dims, ctx);
    out.push(...act.nodes);
    intermediates.push(...act.intermediates);
  }
  return { nodes: out, initializers: inits, output: n.id, dims, intermediates };
}

/** Conv; a depthwise one with group = C; `dilations` the node's (1×1 when it has none). */
function convLike(n: NodeOf<"conv"> | NodeOf<"depthwise">, ctx: Context): Lowered {
  const a = n.attrs;
  const inputChannels = inputOf(n, ctx).dims[1] as number;
  const group = n.op === "depthwise" ? inputChannels : 1;
  return weightedLayer(n, ctx, "Conv", { dilations: [...(a.dilation ?? [1, 1])], group, kernel_shape: [...a.kernel], pads: [...a.pads!], strides: [...a.stride] });
}

/**
 * ConvTranspose with the weights as they are ([in, out, kh, kw]) and the
 * node's crop as `pads`: ONNX's output size s·(in − 1) + K − begin − end is
 * exactly the IR's, so no output_padding or output_shape is needed.
 */
function deconv(n: NodeOf<"deconv">, ctx: Context): Lowered {
  const a = n.attrs;
  return weightedLayer(n, ctx, "ConvTranspose", { kernel_shape: [...a.kernel], pads: [...a.pads!], strides: [...a.stride] });
}

function pool(n: NodeOf<"avgpool"> | NodeOf<"maxpool">, ctx: Context): Lowered {
  const out: INodeProto[] = [];
  const inits: ITensorProto[] = [];
  const x = spatialInput(n, ctx, out, inits);
  const a = n.attrs;
  const dims = nchw(n.shape!);
  if (a.kernel === "global") {
    out.push(node(n.op === "avgpool" ? "GlobalAveragePool" : "GlobalMaxPool", n.id, [x], [n.id], {}, ctx.doc(n)));
  } else {
    const stride = a.stride === "kernel" ? a.kernel : a.stride;
    const attrs = { kernel_shape: [...a.kernel], pads: [...a.pads!], strides: [...stride] };
    if (n.op === "avgpool") out.push(node("AveragePool", n.id, [x], [n.id], { ...attrs, count_include_pad: 0 }, ctx.doc(n)));
    else out.push(node("MaxPool", n.id, [x], [n.id], attrs, ctx.doc(n)));
  }
  return { nodes: out, initializers: inits, output: n.id, dims, intermediates: [] };
}

/** ONNX Resize's `mode` for each IR mode. */
const RESIZE_MODE: { readonly [M in ResizeMode]: string } = { bilinear: "linear", nearest: "nearest" };

/**
 * The `nearest_mode` that takes the reference's source index from the
 * coordinate ONNX computes (coordinate_transformation_mode is the IR's
 * coords, under the same name):
 *
 *   asymmetric     x = o·in/out             the reference takes ⌊x⌋            floor
 *   half_pixel     x = (o + ½)·in/out − ½   ⌊(o + ½)·in/out⌋ = ⌊x + ½⌋         round_prefer_ceil
 *   align_corners  x = o·(in − 1)/(out − 1) rounded half up, ⌊x + ½⌋          round_prefer_ceil
 */
const NEAREST_MODE: { readonly [C in ResizeCoords]: string } = { asymmetric: "floor", half_pixel: "round_prefer_ceil", align_corners: "round_prefer_ceil" };

/**
 * resize → Resize(mode, coordinate_transformation_mode, nearest_mode), its
 * output size given by
 *
 *   scales  [1, 1, OH/H, OW/W], a constant, when OH and OW are whole
 *           multiples of H and W: ⌊H·f⌋ is exact;
 *   sizes   [N, C, OH, OW] otherwise, made at run time so that the batch stays
 *           symbolic: Shape(x) → Slice [0:2] → Concat with the constant
 *           [OH, OW]. A float scale such as 257/33 is not exact, and a
 *           runtime computing ⌊33 · 7.787879⌋ makes 256 rows.
 *
 * Nearest sampling at a ratio that is not a whole multiple, with half_pixel or
 * asymmetric coordinates, is not left to the runtime's float arithmetic: it
 * computes x from a float32 scale out/in, and where the exact x is a rounding
 * boundary (an integer for floor, a half-integer for round_prefer_ceil) it can
 * land an ulp short — ONNX Runtime maps row 1 of a 14 → 2 asymmetric resize to
 * row 6 instead of 7. There the node is a Gather along H, then along W, of the
 * reference's own source indices (int64 initializers `<id>.row_index` and
 * `<id>.column_index`; an axis whose indices are 0, 1, … is left out). Whole
 * multiples (x = o/f) and align_corners (o·(in − 1) divided once by out − 1)
 * give the exact x in float32, so they stay Resize.
 */
function resize(n: NodeOf<"resize">, ctx: Context): Lowered {
  const out: INodeProto[] = [];
  const inits: ITensorProto[] = [];
  const x = spatialInput(n, ctx, out, inits);
  const d = inputOf(n, ctx).dims;
  const [H, W] = d.length === 4 ? [d[2] as number, d[3] as number] : [1, 1];
  const [OH, OW, C] = n.shape!;
  const dims = nchw(n.shape!);
  const { mode, coords } = n.attrs;
  const whole = OH % H === 0 && OW % W === 0;
  const intermediates: Intermediate[] = [];
  if (mode === "nearest" && coords !== "align_corners" && !whole) {
    // Rows first ([N, C, OH, W], `<id>.rows`), then columns; an axis whose indices are 0, 1, … is left out.
    const axes = [
      { axis: 2, indices: nearestSources(n, H, OH), index: `${n.id}.row_index`, output: `${n.id}.rows`, dims: [N, C, OH, W] },
      { axis: 3, indices: nearestSources(n, W, OW), index: `${n.id}.column_index`, output: n.id, dims },
    ].filter((a) => a.indices.length !== (a.axis === 2 ? H : W) || a.indices.some((v, i) => v !== i));
    let current = x;
    for (const a of axes) {
      const output = a === axes[axes.length - 1] ? n.id : a.output;
      inits.push(int64Tensor(a.index, a.indices));
      out.push(node("Gather", output, [current, a.index], [output], { axis: a.axis }, ctx.doc(n)));
      if (output !== n.id) intermediates.push({ name: output, dims: a.dims });
      current = output;
    }
    return { nodes: out, initializers: inits, output: n.id, dims, intermediates };
  }
  const attrs = { coordinate_transformation_mode: coords, mode: RESIZE_MODE[mode], ...(mode === "nearest" ? { nearest_mode: NEAREST_MODE[coords] } : {}) };
  if (whole) {
    inits.push(floatTensor(`${n.id}.scales`, [4], new Float32Array([1, 1, OH / H, OW / W])));
    out.push(node("Resize", n.id, [x, "", `${n.id}.scales`], [n.id], attrs, ctx.doc(n)));
    return { nodes: out, initializers: inits, output: n.id, dims, intermediates };
  }
  const shape = `${n.id}.shape`;
  const batchChannels = `${n.id}.batch_channels`;
  const sizes = `${n.id}.sizes`;
  for (const [name, value] of [["slice.batch_channels.starts", 0], ["slice.batch_channels.ends", 2]] as const) {
    if (!ctx.shared.has(name)) ctx.shared.set(name, int64Tensor(name, [value]));
  }
  inits.push(int64Tensor(`${n.id}.size`, [OH, OW]));
  out.push(
    node("Shape", shape, [x], [shape], {}, ctx.doc(n)),
    node("Slice", batchChannels, [shape, "slice.batch_channels.starts", "slice.batch_channels.ends"], [batchChannels], {}, ctx.doc(n)),
    node("Concat", sizes, [batchChannels, `${n.id}.size`], [sizes], { axis: 0 }, ctx.doc(n)),
    node("Resize", n.id, [x, "", "", sizes], [n.id], attrs, ctx.doc(n)),
  );
  intermediates.push({ name: shape, dims: [4], elemType: INT64 }, { name: batchChannels, dims: [2], elemType: INT64 }, { name: sizes, dims: [4], elemType: INT64 });
  return { nodes: out, initializers: inits, output: n.id, dims, intermediates };
}

/** The input row (or column) each of `outSize` nearest-resized rows copies: resizeAxis, the rule the reference follows. */
function nearestSources(n: NodeOf<"resize">, inSize: number, outSize: number): number[] {
  return Array.from(resizeAxis(n.attrs.mode, n.attrs.coords, inSize, outSize).lo);
}

const LOWER: { readonly [K in OpKind]: (n: NodeOf<K>, ctx: Context) => Lowered } = {
  input(n, ctx) {
    const dims = nchw(n.shape!);
    const nodes: INodeProto[] = [];
    const initializers: ITensorProto[] = [];
    const intermediates: Intermediate[] = [];
    let output = "input";
    if (ctx.options.embedPreprocessing === true) {
      // Raw pixels in: (pixel − mean) / std, elementwise, so in either layout before the transpose.
      const norm = n.attrs.normalisation;
      if (norm === undefined) throw new InternalError("embedPreprocessing: the input declares no normalisation (check with preprocessingOf first)");
      const [h, w, c] = n.shape!;
      const inputDims: Dim[] = ctx.options.inputLayout === "nhwc" ? [N, h, w, c] : dims;
      initializers.push(floatTensor("input.mean", [], new Float32Array([norm.mean])), floatTensor("input.std", [], new Float32Array([norm.std])));
      nodes.push(node("Sub", "input.centred", ["input", "input.mean"], ["input.centred"], {}, ctx.doc(n)));
      nodes.push(node("Div", "input.normalised", ["input.centred", "input.std"], ["input.normalised"], {}, ctx.doc(n)));
      intermediates.push({ name: "input.centred", dims: inputDims }, { name: "input.normalised", dims: inputDims });
      output = "input.normalised";
    }
    if (ctx.options.inputLayout !== "nhwc") return { nodes, initializers, output, dims, intermediates };
    nodes.push(node("Transpose", "input.nchw", [output], ["input.nchw"], { perm: [0, 3, 1, 2] }, ctx.doc(n)));
    return { nodes, initializers, output: "input.nchw", dims, intermediates };
  },
  conv: convLike,
  depthwise: convLike,
  avgpool: pool,
  maxpool: pool,
  fc(n, ctx) {
    const w = n.weights;
    if (w?.bias === undefined) throw new InternalError(`'${n.id}' has no weights or bias`);
    const x = inputOf(n, ctx);
    const out: INodeProto[] = [];
    let flat = x.name;
    if (x.dims.length !== 2) {
      flat = `${n.id}.flatten`;
      out.push(node("Flatten", `${n.id}.flatten`, [x.name], [flat], { axis: 1 }, ctx.doc(n)));
    }
    out.push(node("Gemm", n.id, [flat, `${n.id}.weight`, `${n.id}.bias`], [n.id], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 }, ctx.doc(n)));
    const features = w.kernel.shape[1]!;
    return {
      nodes: out,
      initializers: [floatTensor(`${n.id}.weight`, w.kernel.shape, w.kernel.data), floatTensor(`${n.id}.bias`, w.bias.shape, w.bias.data)],
      output: n.id,
      dims: [N, n.attrs.units],
      intermediates: flat === x.name ? [] : [{ name: flat, dims: [N, features] }],
    };
  },
  softmax(n, ctx) {
    const x = inputOf(n, ctx);
    // A network whose one output is a softmax outputs `probabilities` (src/emit/output-names.ts).
    const output = isSoleSoftmaxOutput(ctx.graph, n) ? "probabilities" : n.id;
    return { nodes: [node("Softmax", n.id, [x.name], [output], { axis: 1 }, ctx.doc(n))], initializers: [], output, dims: x.dims, intermediates: [] };
  },
  dropout(n, ctx) {
    // The identity at inference: its consumers read its input.
    const x = inputOf(n, ctx);
    return { nodes: [], initializers: [], output: x.name, dims: x.dims, intermediates: [] };
  },
  add: (n, ctx) => elementwise("Add", n, ctx),
  mul: (n, ctx) => elementwise("Mul", n, ctx),
  deconv,
  concat(n, ctx) {
    const out: INodeProto[] = [];
    const inits: ITensorProto[] = [];
    const parts = n.inputs.map((_, i) => spatialInput(n, ctx, out, inits, i, `reshape.${i}`));
    out.push(node("Concat", n.id, parts, [n.id], { axis: 1 }, ctx.doc(n)));
    return { nodes: out, initializers: inits, output: n.id, dims: nchw(n.shape!), intermediates: [] };
  },
  resize,
  activation(n, ctx) {
    const out: INodeProto[] = [];
    const inits: ITensorProto[] = [];
    const activation = ACTIVATION[n.attrs.act];
    // linear is the identity: its consumers read its input, as dropout's do.
    if (activation === null) {
      const x = inputOf(n, ctx);
      return { nodes: [], initializers: [], output: x.name, dims: x.dims, intermediates: [] };
    }
    const x = spatialInput(n, ctx, out, inits);
    const dims = nchw(n.shape!);
    const act = activation(x, n.id, n, dims, ctx);
    return { nodes: [...out, ...act.nodes], initializers: inits, output: n.id, dims, intermediates: act.intermediates };
  },
  argmax(n, ctx) {
    // ArgMax keeps the first largest channel (select_last_index = 0), as the IR does; its int64 index becomes a float32 value.
    const out: INodeProto[] = [];
    const inits: ITensorProto[] = [];
    const x = spatialInput(n, ctx, out, inits);
    const dims = nchw(n.shape!);
    const index = `${n.id}.index`;
    out.push(node("ArgMax", n.id, [x], [index], { axis: 1, keepdims: 1 }, ctx.doc(n)));
    out.push(node("Cast", `${n.id}.cast`, [index], [n.id], { to: FLOAT }, ctx.doc(n)));
    return { nodes: out, initializers: inits, output: n.id, dims, intermediates: [{ name: index, dims, elemType: INT64 }] };
  },
};

function lower(n: Node, ctx: Context): Lowered {
  return (LOWER[n.op] as (n: Node, ctx: Context) => Lowered)(n, ctx);
}
