/**
 * The ONNX emitter: a verified, weighted graph → ModelProto bytes.
 *
 * Each IR node becomes a small group of ONNX nodes — Conv (group = C for
 * depthwise, explicit asymmetric pads for TF SAME), BatchNormalization when
 * batch-norm was kept, the activation (ACTIVATION below), Add for a residual,
 * Mul for squeeze-and-excitation — whose last output carries the layer's
 * stable name, so value_info, node names and initializers (the same names as
 * mnc's safetensors: `sep_3.pw.weight`) all line up with reports and
 * `--dump-ir`. The emitter follows the graph: a node reads the tensors its
 * `inputs` produced, and the model's outputs are `graph.outputs`. Input
 * `input` is float32 [N, C, H, W] with a symbolic batch N (or [N, H, W, C]
 * with --input-layout nhwc, transposed inside the model). With
 * `embedPreprocessing` it holds raw pixels (0–255) and the model normalises
 * them first, Sub(mean) then Div(std), with the input's declared
 * normalisation.
 *
 * Deterministic: no timestamps, fixed field order — the same graph gives the
 * same bytes. Pure: it returns bytes; the CLI writes them.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Graph, Node, NodeOf, OpKind, Shape, Activation } from "../../ir/graph.js";
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import type { FusionCertificate } from "../../passes/certify-fusion.js";
import { VERSION } from "../../version.js";
import { floatTensor, int64Tensor, node, onnx, valueInfo, type Dim, type INodeProto, type ITensorProto, type IValueInfoProto } from "./proto.js";

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
interface Lowered {
  readonly nodes: INodeProto[];
  readonly initializers: ITensorProto[];
  /** The tensor that holds the layer's output. */
  readonly output: string;
  /** The output's dims (batch symbolic). */
  readonly dims: Dim[];
  /** Intermediate tensors worth a value_info (e.g. a conv's output before its activation). */
  readonly intermediates: { name: string; dims: Dim[] }[];
}

interface Context {
  readonly graph: Graph;
  readonly options: OnnxOptions;
  readonly opset: number;
  /** The tensor name and dims of each IR node's output. */
  readonly tensors: Map<string, { name: string; dims: Dim[] }>;
  readonly shared: Map<string, ITensorProto>;
  doc(n: Node): string;
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
  for (const n of graph.nodes) {
    const lowered = lower(n, ctx);
    nodes.push(...lowered.nodes);
    initializers.push(...lowered.initializers);
    ctx.tensors.set(n.id, { name: lowered.output, dims: lowered.dims });
    for (const t of lowered.intermediates) infos.push(valueInfo(t.name, t.dims));
    if (n.op === "input") {
      const [h, w, c] = n.shape!;
      graphInput = valueInfo("input", options.inputLayout === "nhwc" ? [N, h, w, c] : [N, c, h, w]);
    } else if (lowered.output !== ctx.tensors.get(n.inputs[0] ?? "")?.name) {
      infos.push(valueInfo(lowered.output, lowered.dims));
    }
  }
  if (graphInput === undefined) throw new InternalError("the graph has no input node");
  if (graph.outputs.length === 0) throw new InternalError("the graph has no outputs");
  const outputInfos: IValueInfoProto[] = [];
  for (const id of graph.outputs) {
    const t = ctx.tensors.get(id);
    if (t === undefined) throw new InternalError(`output '${id}' names no node`);
    let name = t.name;
    // An output that is the graph's input, or a tensor already output, gets its own name.
    if (name === "input" || outputInfos.some((o) => o.name === name)) {
      name = `${id}.output`;
      nodes.push(node("Identity", name, [t.name], [name]));
    }
    outputInfos.push(valueInfo(name, t.dims));
  }
  const hidden = new Set(["input", ...outputInfos.map((o) => o.name)]);
  const valueInfos = infos.filter((v) => !hidden.has(v.name!));

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
  };
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "mnc",
    producerVersion: VERSION,
    docString: `${graph.name}, compiled by mnc ${VERSION} from ${options.sourceFile}`,
    graph: {
      name: graph.name,
      node: nodes,
      initializer: [...initializers, ...[...ctx.shared.values()]],
      input: [graphInput],
      output: outputInfos,
      valueInfo: valueInfos,
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
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
function inputOf(n: Node, ctx: Context, index = 0): { name: string; dims: Dim[] } {
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
  readonly intermediates: { name: string; dims: Dim[] }[];
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

function convLike(n: NodeOf<"conv"> | NodeOf<"depthwise">, ctx: Context): Lowered {
  const w = n.weights;
  if (w === undefined) throw new InternalError(`'${n.id}' has no weights`);
  const out: INodeProto[] = [];
  const inits: ITensorProto[] = [];
  const x = spatialInput(n, ctx, out, inits);
  const a = n.attrs;
  const inputChannels = inputOf(n, ctx).dims[1] as number;
  const group = n.op === "depthwise" ? inputChannels : 1;
  const dims = nchw(n.shape!);
  const activation = ACTIVATION[a.act];
  const after = activation === null ? [] : ["act"];
  const steps = [...(w.bn !== undefined ? ["bn"] : []), ...after];
  const convOut = steps.length === 0 ? n.id : `${n.id}.conv`;
  inits.push(floatTensor(`${n.id}.weight`, w.kernel.shape, w.kernel.data));
  const convInputs = [x, `${n.id}.weight`];
  if (w.bias !== undefined) {
    inits.push(floatTensor(`${n.id}.bias`, w.bias.shape, w.bias.data));
    convInputs.push(`${n.id}.bias`);
  }
  const pads = a.pads!;
  out.push(
    node("Conv", n.id, convInputs, [convOut], { dilations: [1, 1], group, kernel_shape: [...a.kernel], pads: [...pads], strides: [...a.stride] }, ctx.doc(n)),
  );
  const intermediates = convOut === n.id ? [] : [{ name: convOut, dims }];
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

const LOWER: { readonly [K in OpKind]: (n: NodeOf<K>, ctx: Context) => Lowered } = {
  input(n, ctx) {
    const dims = nchw(n.shape!);
    const nodes: INodeProto[] = [];
    const initializers: ITensorProto[] = [];
    const intermediates: { name: string; dims: Dim[] }[] = [];
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
    // A network whose one output is a softmax outputs `probabilities`.
    const outputs = ctx.graph.outputs;
    const output = outputs.length === 1 && outputs[0] === n.id ? "probabilities" : n.id;
    return { nodes: [node("Softmax", n.id, [x.name], [output], { axis: 1 }, ctx.doc(n))], initializers: [], output, dims: x.dims, intermediates: [] };
  },
  dropout(n, ctx) {
    // The identity at inference: its consumers read its input.
    const x = inputOf(n, ctx);
    return { nodes: [], initializers: [], output: x.name, dims: x.dims, intermediates: [] };
  },
  add: (n, ctx) => elementwise("Add", n, ctx),
  mul: (n, ctx) => elementwise("Mul", n, ctx),
  deconv: unsupported,
  concat: unsupported,
  resize: unsupported,
  activation: unsupported,
  argmax: unsupported,
};

function unsupported(n: Node): Lowered {
  throw new InternalError(`onnx: ${n.op} '${n.id}' has no lowering`);
}

function lower(n: Node, ctx: Context): Lowered {
  return (LOWER[n.op] as (n: Node, ctx: Context) => Lowered)(n, ctx);
}
