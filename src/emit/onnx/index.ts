/**
 * The ONNX emitter: a verified, weighted graph → ModelProto bytes.
 *
 * Each IR node becomes a small group of ONNX nodes — Conv (group = C for
 * depthwise, explicit asymmetric pads for TF SAME), BatchNormalization when
 * batch-norm was kept, Relu or Clip(0, 6) — whose last output carries the
 * layer's stable name, so value_info, node names and initializers (the same
 * names as mnc's safetensors: `sep_3.pw.weight`) all line up with reports and
 * `--dump-ir`. Input `input` is float32 [N, C, H, W] with a symbolic batch N
 * (or [N, H, W, C] with --input-layout nhwc, transposed inside the model).
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
  const lines = options.sourceText?.split(/\r?\n/) ?? [];
  const ctx: Context = {
    graph,
    options,
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
  const last = ctx.tensors.get(graph.nodes[graph.nodes.length - 1]!.id)!;
  const outputName = last.name;
  const outputInfo = valueInfo(outputName, last.dims);
  const valueInfos = infos.filter((v) => v.name !== outputName && v.name !== "input");

  const shape = graph.nodes[0]!.shape!;
  const t = input.costs.totals;
  const metadata: Record<string, string> = {
    "mnc.version": VERSION,
    "mnc.source": options.sourceFile,
    "mnc.network": graph.name,
    "mnc.alpha": String(graph.alpha),
    "mnc.resolution": `${shape[0]}x${shape[1]}`,
    "mnc.input_layout": options.inputLayout ?? "nchw",
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
      input: [graphInput!],
      output: [outputInfo],
      valueInfo: valueInfos,
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
}

function nchw(s: Shape): Dim[] {
  return [N, s[2], s[0], s[1]];
}

function inputOf(n: Node, ctx: Context): { name: string; dims: Dim[] } {
  const t = ctx.tensors.get(n.inputs[0] ?? "");
  if (t === undefined) throw new InternalError(`'${n.id}' reads a tensor that was not emitted`);
  return t;
}

/** A rank-2 [N, F] tensor (after fc) fed to a spatial op is reshaped back to [N, F, 1, 1]. */
function spatialInput(n: Node, ctx: Context, out: INodeProto[], inits: ITensorProto[]): string {
  const t = inputOf(n, ctx);
  if (t.dims.length === 4) return t.name;
  const shapeName = `${n.id}.reshape.shape`;
  inits.push(int64Tensor(shapeName, [0, Number(t.dims[1]), 1, 1]));
  const name = `${n.id}.reshape`;
  out.push(node("Reshape", name, [t.name, shapeName], [name], {}, ctx.doc(n)));
  return name;
}

function activation(act: Activation, n: Node, inputName: string, ctx: Context): { nodes: INodeProto[]; output: string } {
  if (act === "linear") return { nodes: [], output: inputName };
  if (act === "relu") return { nodes: [node("Relu", `${n.id}.relu`, [inputName], [n.id], {}, ctx.doc(n))], output: n.id };
  for (const [name, value] of [["relu6.min", 0], ["relu6.max", 6]] as const) {
    if (!ctx.shared.has(name)) ctx.shared.set(name, floatTensor(name, [], new Float32Array([value])));
  }
  return { nodes: [node("Clip", `${n.id}.relu6`, [inputName, "relu6.min", "relu6.max"], [n.id], {}, ctx.doc(n))], output: n.id };
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
  const after = a.act === "linear" ? [] : ["act"];
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
  const act = activation(a.act, n, current, ctx);
  out.push(...act.nodes);
  return { nodes: out, initializers: inits, output: act.output, dims, intermediates };
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
    if (ctx.options.inputLayout !== "nhwc") return { nodes: [], initializers: [], output: "input", dims, intermediates: [] };
    return { nodes: [node("Transpose", "input.nchw", ["input"], ["input.nchw"], { perm: [0, 3, 1, 2] }, ctx.doc(n))], initializers: [], output: "input.nchw", dims, intermediates: [] };
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
    // A network that ends in softmax outputs `probabilities`.
    const isLast = ctx.graph.nodes[ctx.graph.nodes.length - 1] === n;
    const output = isLast ? "probabilities" : n.id;
    return { nodes: [node("Softmax", n.id, [x.name], [output], { axis: 1 }, ctx.doc(n))], initializers: [], output, dims: x.dims, intermediates: [] };
  },
  dropout(n, ctx) {
    // The identity at inference: its consumers read its input.
    const x = inputOf(n, ctx);
    return { nodes: [], initializers: [], output: x.name, dims: x.dims, intermediates: [] };
  },
};

function lower(n: Node, ctx: Context): Lowered {
  return (LOWER[n.op] as (n: Node, ctx: Context) => Lowered)(n, ctx);
}
