/**
 * The PyTorch target: a verified, weighted graph → one readable Python file
 * (PyTorch only) defining the network as an nn.Module, to train it where
 * researchers train and bring the weights back to mnc.
 *
 *   emitPyTorch(compile(source, { fuseBatchNorm: false }).unfused, { sourceFile }) → Python text
 *
 * The file holds: a header docstring; constants (NETWORK, INPUT_SHAPE,
 * OUTPUT_NAMES, BN_EPSILON, BN_MOMENTUM, MNC_METADATA); small helper modules
 * (runtime.ts: BatchNorm, Conv, and ConvTranspose, pooling and resize helpers
 * where the network has them); one class for the network, whose __init__
 * creates each layer under its mnc id (nested modules per "." of the id, so
 * that `model.state_dict()` keys are mnc's safetensors names) and whose
 * forward follows the graph node by node, one named local per tensor;
 * create_model(); the safetensors reader and writer; load_mnc_weights and
 * save_mnc_weights.
 *
 * The graph should be the unfused one: batch-norm stays a trainable module
 * with its running statistics. forward takes what the ONNX model takes by
 * default (float32 NCHW, normalised) and returns what it returns: one tensor,
 * or a tuple in `graph.outputs` order; an fc's output is [N, units] as after
 * ONNX's Gemm, and a spatial op reading one sees [N, units, 1, 1].
 *
 * Each op is rendered through the OPS table and each activation through
 * ACTIVATION, so that tsc refuses a new op or activation until it has a
 * PyTorch rendering. Pads are the IR's (set by infer-shapes from
 * src/ir/ops/window.ts), never recomputed.
 *
 * Pure and deterministic: same graph and options, same text.
 */
import { InternalError } from "../../ir/diagnostics.js";
import { isWeighted, type Activation, type Graph, type Node, type NodeOf, type OpKind, type Pads, type Pair, type Shape } from "../../ir/graph.js";
import { describeNode } from "../../ir/ops/index.js";
import { namedTensors } from "../../weights/export.js";
import { VERSION } from "../../version.js";
import { outputNames } from "../output-names.js";
import { className, isPlainPath, LAYER_TENSOR_NAMES, Locals } from "./names.js";
import { AVG_POOL_SAME, BATCH_NORM, CONV, CONV_TRANSPOSE, IMPORTS, initWeights, MAX_POOL_SAME, ODD_PATHS, RESIZE, SAFETENSORS, type RuntimeNeeds } from "./runtime.js";

export interface PyTorchOptions {
  /** The `.mn` file; its base name goes into the header docstring. */
  readonly sourceFile: string;
}

/** TF-Slim's and mnc's batch-norm ε, for a network without batch-norm. */
const DEFAULT_EPSILON = 0.001;
/** Keras' moving-average decay 0.99, torchvision MobileNetV3's momentum. */
const BN_MOMENTUM = 0.01;

/** A tensor in forward(): its local name and rank (2 for an fc's [N, F], else 4). */
interface Local {
  readonly name: string;
  readonly rank: 2 | 4;
}

interface Context {
  readonly epsilon: number;
  readonly tensors: Map<string, Local>;
  readonly shapes: Map<string, Shape>;
  /** The expression that reaches a layer's module in forward (`self.bneck_1.dw`). */
  module(n: Node): string;
}

/** The file's optional helpers a node's expression may call. */
type Helper = "maxPoolSame" | "avgPoolSame" | "resize";

/** What one node contributes: a module for __init__ (a layer) and the expression forward assigns. */
interface Rendering {
  /** The constructor expression of the node's module, for layers (weighted nodes, dropout). */
  readonly module?: string;
  /** The expression computing the node's output from its inputs' locals. */
  readonly expr: string;
  readonly rank: 2 | 4;
  /** The helper the expression calls, which the file must then define. */
  readonly helper?: Helper;
}

type Render<K extends OpKind> = (n: NodeOf<K>, ctx: Context) => Rendering;

/** Each activation as a module (a layer's `act=`; null: none) and as a call on a tensor (a standalone activation; null: the identity). */
const ACTIVATION: { readonly [A in Activation]: { readonly module: string | null; readonly call: ((x: string) => string) | null } } = {
  linear: { module: null, call: null },
  relu: { module: "nn.ReLU()", call: (x) => `F.relu(${x})` },
  relu6: { module: "nn.ReLU6()", call: (x) => `F.relu6(${x})` },
  // x · relu6(x + 3) / 6 and relu6(x + 3) / 6: PyTorch's hardswish and hardsigmoid are mnc's hswish and hsigmoid.
  hswish: { module: "nn.Hardswish()", call: (x) => `F.hardswish(${x})` },
  hsigmoid: { module: "nn.Hardsigmoid()", call: (x) => `F.hardsigmoid(${x})` },
  sigmoid: { module: "nn.Sigmoid()", call: (x) => `torch.sigmoid(${x})` },
};

const tuple = (values: readonly number[]): string => (values.length === 1 ? `(${values[0]},)` : `(${values.join(", ")})`);
/** A number as Python reads back the same double (JavaScript's shortest round-trip form is valid Python). */
const num = (v: number): string => {
  if (!Number.isFinite(v)) throw new InternalError(`${v} has no Python literal here`);
  return String(v);
};
/** A Python string literal (JSON's escapes are Python's). */
const str = (s: string): string => JSON.stringify(s);

const symmetric = (p: Pads): boolean => p[0] === p[2] && p[1] === p[3];
/** IR pads [top, left, bottom, right] → F.pad's (left, right, top, bottom). */
const fPad = (p: Pads): string => tuple([p[1], p[3], p[0], p[2]]);

function padsOf(n: Node, pads: Pads | undefined): Pads {
  if (pads === undefined) throw new InternalError(`pytorch: '${n.id}' has no pads (run infer-shapes first)`);
  return pads;
}

function shapeOf(n: Node): Shape {
  if (n.shape === undefined) throw new InternalError(`pytorch: '${n.id}' has no shape (run infer-shapes first)`);
  return n.shape;
}

/** The input's local, as [N, C, H, W]: an fc's [N, F] made [N, F, 1, 1] as ONNX's Reshape does. */
function spatial(n: Node, ctx: Context, index = 0): string {
  const t = input(n, ctx, index);
  return t.rank === 4 ? t.name : `${t.name}[:, :, None, None]`;
}

function input(n: Node, ctx: Context, index = 0): Local {
  const id = n.inputs[index];
  const t = id === undefined ? undefined : ctx.tensors.get(id);
  if (t === undefined) throw new InternalError(`pytorch: '${n.id}' reads input ${index} ('${id ?? ""}'), which is not an earlier tensor`);
  return t;
}

function inputChannels(n: Node, ctx: Context): number {
  const s = ctx.shapes.get(n.inputs[0] ?? "");
  if (s === undefined) throw new InternalError(`pytorch: '${n.id}' has no input shape`);
  return s[2];
}

/** The keyword arguments a weighted layer's epilogue adds: bias, bn, act. */
function epilogue(n: NodeOf<"conv"> | NodeOf<"depthwise"> | NodeOf<"deconv">, ctx: Context, channels: number): string[] {
  const w = n.weights;
  const hasBias = w === undefined ? n.attrs.norm === "none" : w.bias !== undefined;
  const hasBn = w === undefined ? n.attrs.norm === "batchnorm" : w.bn !== undefined;
  const eps = w?.bn?.epsilon ?? ctx.epsilon;
  const act = ACTIVATION[n.attrs.act].module;
  return [
    ...(hasBias ? ["bias=True"] : []),
    ...(hasBn ? [`bn=BatchNorm(${channels}${eps === ctx.epsilon ? "" : `, eps=${num(eps)}`})`] : []),
    ...(act === null ? [] : [`act=${act}`]),
  ];
}

const pairArg = (name: string, p: Pair, omit: Pair): string[] => (p[0] === omit[0] && p[1] === omit[1] ? [] : [`${name}=${tuple(p)}`]);

function conv(n: NodeOf<"conv"> | NodeOf<"depthwise">, ctx: Context): Rendering {
  const a = n.attrs;
  const cin = inputChannels(n, ctx);
  const cout = n.op === "depthwise" ? cin : n.attrs.channels;
  const pads = padsOf(n, a.pads);
  const padding = symmetric(pads) ? pairArg("padding", [pads[0], pads[1]], [0, 0]) : [`pad=${fPad(pads)}`];
  const args = [
    `${cin}`,
    `${cout}`,
    tuple(a.kernel),
    ...pairArg("stride", a.stride, [1, 1]),
    ...padding,
    ...pairArg("dilation", a.dilation ?? [1, 1], [1, 1]),
    ...(n.op === "depthwise" ? [`groups=${cin}`] : []),
    ...epilogue(n, ctx, cout),
  ];
  return { module: `Conv(${args.join(", ")})`, expr: `${ctx.module(n)}(${spatial(n, ctx)})`, rank: 4 };
}

function deconv(n: NodeOf<"deconv">, ctx: Context): Rendering {
  const a = n.attrs;
  const cin = inputChannels(n, ctx);
  const pads = padsOf(n, a.pads);
  const crop = symmetric(pads) ? pairArg("padding", [pads[0], pads[1]], [0, 0]) : [`crop=${tuple(pads)}`];
  const args = [`${cin}`, `${a.channels}`, tuple(a.kernel), ...pairArg("stride", a.stride, [1, 1]), ...crop, ...epilogue(n, ctx, a.channels)];
  return { module: `ConvTranspose(${args.join(", ")})`, expr: `${ctx.module(n)}(${spatial(n, ctx)})`, rank: 4 };
}

function pool(n: NodeOf<"avgpool"> | NodeOf<"maxpool">, ctx: Context): Rendering {
  const a = n.attrs;
  const x = spatial(n, ctx);
  const max = n.op === "maxpool";
  if (a.kernel === "global") return { expr: max ? `F.adaptive_max_pool2d(${x}, 1)` : `F.adaptive_avg_pool2d(${x}, 1)`, rank: 4 };
  const stride = a.stride === "kernel" ? a.kernel : a.stride;
  const pads = padsOf(n, a.pads);
  const k = tuple(a.kernel);
  const s = tuple(stride);
  if (!symmetric(pads)) return { expr: `${max ? "max_pool_same" : "avg_pool_same"}(${x}, ${k}, ${s}, ${fPad(pads)})`, rank: 4, helper: max ? "maxPoolSame" : "avgPoolSame" };
  const padded = pads[0] !== 0 || pads[1] !== 0;
  const padding = padded ? `, padding=${tuple([pads[0], pads[1]])}` : "";
  // Padded cells take no part in the mean (TensorFlow SAME, ONNX count_include_pad=0); max pooling pads with −inf.
  if (max) return { expr: `F.max_pool2d(${x}, ${k}, ${s}${padding})`, rank: 4 };
  return { expr: `F.avg_pool2d(${x}, ${k}, ${s}${padding}${padded ? ", count_include_pad=False" : ""})`, rank: 4 };
}

/** `a + b` / `a * b`: two fc outputs stay [N, F]; otherwise NCHW, a [N, C, 1, 1] operand broadcasting over H and W. */
function binary(op: "+" | "*", n: NodeOf<"add"> | NodeOf<"mul">, ctx: Context): Rendering {
  const a = input(n, ctx, 0);
  const b = input(n, ctx, 1);
  if (a.rank === 2 && b.rank === 2) return { expr: `${a.name} ${op} ${b.name}`, rank: 2 };
  return { expr: `${spatial(n, ctx, 0)} ${op} ${spatial(n, ctx, 1)}`, rank: 4 };
}

const OPS: { readonly [K in OpKind]: Render<K> } = {
  input: () => ({ expr: "x", rank: 4 }),
  conv,
  depthwise: conv,
  deconv,
  avgpool: pool,
  maxpool: pool,
  fc(n, ctx) {
    const s = ctx.shapes.get(n.inputs[0] ?? "");
    if (s === undefined) throw new InternalError(`pytorch: '${n.id}' has no input shape`);
    const features = s[0] * s[1] * s[2];
    const x = input(n, ctx);
    // Flattened channel-major, as ONNX Flatten on NCHW: mnc's fc weight layout [out, C·H·W].
    const flat = x.rank === 2 ? x.name : `torch.flatten(${x.name}, 1)`;
    return { module: `nn.Linear(${features}, ${n.attrs.units})`, expr: `${ctx.module(n)}(${flat})`, rank: 2 };
  },
  softmax(n, ctx) {
    const x = input(n, ctx);
    return { expr: `F.softmax(${x.name}, dim=1)`, rank: x.rank };
  },
  dropout(n, ctx) {
    const x = input(n, ctx);
    return { module: `nn.Dropout(${num(n.attrs.rate)})`, expr: `${ctx.module(n)}(${x.name})`, rank: x.rank };
  },
  add: (n, ctx) => binary("+", n, ctx),
  mul: (n, ctx) => binary("*", n, ctx),
  concat: (n, ctx) => ({ expr: `torch.cat([${n.inputs.map((_, i) => spatial(n, ctx, i)).join(", ")}], dim=1)`, rank: 4 }),
  resize(n, ctx) {
    const [h, w] = shapeOf(n);
    return { expr: `resize(${spatial(n, ctx)}, ${tuple([h, w])}, ${str(n.attrs.mode)}, ${str(n.attrs.coords)})`, rank: 4, helper: "resize" };
  },
  activation(n, ctx) {
    const call = ACTIVATION[n.attrs.act].call;
    // linear is the identity: the tensor as it is, rank and all (ONNX leaves it out too).
    if (call === null) {
      const x = input(n, ctx);
      return { expr: x.name, rank: x.rank };
    }
    return { expr: call(spatial(n, ctx)), rank: 4 };
  },
  argmax(n, ctx) {
    // The first largest channel, as the ONNX model's ArgMax (select_last_index = 0) then Cast to float.
    const x = spatial(n, ctx);
    return { expr: `torch.argmax(${x}, dim=1, keepdim=True).to(${x}.dtype)`, rank: 4 };
  },
};

function render(n: Node, ctx: Context): Rendering {
  return (OPS[n.op] as (n: Node, ctx: Context) => Rendering)(n, ctx);
}

/** Nodes that own a module in the tree: weighted layers and dropout (nn.Dropout, the identity in eval()). */
const isLayer = (n: Node): boolean => isWeighted(n) || n.op === "dropout";

/** The shape comment of a tensor: [N, C, H, W] or, for an fc's output, [N, F]. */
function shapeComment(s: Shape, rank: 2 | 4): string {
  return rank === 2 ? `[N, ${s[0] * s[1] * s[2]}]` : `[N, ${s[2]}, ${s[0]}, ${s[1]}]`;
}

export function emitPyTorch(graph: Graph, options: PyTorchOptions): string {
  const quantized = graph.nodes.find((n) => n.quant !== undefined);
  if (quantized !== undefined) throw new InternalError(`pytorch: '${quantized.id}' carries 8-bit quantization, which the PyTorch module does not run (it takes the float graph)`);
  const inputNode = graph.nodes[0];
  if (inputNode === undefined || inputNode.op !== "input") throw new InternalError("pytorch: the first node must be the input");
  const missing = graph.nodes.find((n) => isWeighted(n) && n.weights === undefined);
  if (missing !== undefined) throw new InternalError(`pytorch: '${missing.id}' has no weights (emitPyTorch takes compile()'s unfused graph)`);

  const { metadata } = namedTensors(graph);
  const epsilons = graph.nodes.flatMap((n) => (isWeighted(n) && n.weights?.bn !== undefined ? [n.weights.bn.epsilon] : []));
  const epsilon = epsilons[0] ?? DEFAULT_EPSILON;
  const locals = new Locals();
  const modules = new Map<string, string>();
  const layerKinds = new Map<string, "layer" | "container">();
  const init: string[] = [];
  let oddPaths = false;

  const placeLayer = (n: Node): string => {
    const parts = n.id.split(".");
    if (parts.some((p) => p === "")) throw new InternalError(`pytorch: layer '${n.id}' has an empty part in its id, which no module path can hold`);
    const plain = isPlainPath(parts);
    if (!plain) oddPaths = true;
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join(".");
      const kind = layerKinds.get(prefix);
      if (kind === "layer" && LAYER_TENSOR_NAMES.has(parts[i]!)) {
        throw new InternalError(`pytorch: layer '${n.id}' would sit inside layer '${prefix}' under the name of one of its tensors ('${parts[i]}')`);
      }
      if (kind === undefined) {
        layerKinds.set(prefix, "container");
        if (plain) init.push(`        self.${prefix} = nn.Module()`);
      }
    }
    if (layerKinds.has(n.id)) throw new InternalError(`pytorch: layer '${n.id}' has the id of a module already made for an earlier layer's path`);
    layerKinds.set(n.id, "layer");
    return plain ? `self.${n.id}` : `layer(self, ${str(n.id)})`;
  };

  const tensors = new Map<string, Local>();
  const shapes = new Map<string, Shape>();
  const ctx: Context = {
    epsilon,
    tensors,
    shapes,
    module: (n) => {
      const m = modules.get(n.id);
      if (m === undefined) throw new InternalError(`pytorch: '${n.id}' has no module`);
      return m;
    },
  };

  const forward: string[] = [];
  const needs = { convTranspose: false, linear: false };
  const helpers = new Set<Helper>();
  for (const n of graph.nodes) {
    const shape = shapeOf(n);
    if (isLayer(n)) modules.set(n.id, placeLayer(n));
    const r = render(n, ctx);
    if (r.module !== undefined) {
      const path = modules.get(n.id)!;
      init.push(path.startsWith("self.") ? `        ${path} = ${r.module}` : `        add_layer(self, ${str(n.id)}, ${r.module})`);
    }
    if (n.op === "deconv") needs.convTranspose = true;
    if (n.op === "fc") needs.linear = true;
    if (r.helper !== undefined) helpers.add(r.helper);
    shapes.set(n.id, shape);
    if (n.op === "input") {
      tensors.set(n.id, { name: "x", rank: 4 });
      continue;
    }
    const name = locals.name(n.id);
    tensors.set(n.id, { name, rank: r.rank });
    const what = describeNode(n);
    forward.push(`        ${name} = ${r.expr}  # ${n.op}${what === "" ? "" : ` ${what}`} -> ${shapeComment(shape, r.rank)}`);
  }
  const results = graph.outputs.map((id) => {
    const t = tensors.get(id);
    if (t === undefined) throw new InternalError(`pytorch: output '${id}' names no node`);
    return t;
  });
  const names = outputNames(graph);
  const runtime: RuntimeNeeds = { ...needs, maxPoolSame: helpers.has("maxPoolSame"), avgPoolSame: helpers.has("avgPoolSame"), resize: helpers.has("resize"), oddPaths };
  const cls = className(graph.name, ["BatchNorm", "Conv", "ConvTranspose"]);
  const [h, w, c] = shapeOf(inputNode);
  const outputsDoc = graph.outputs.map((id, i) => `${names[i]} ${shapeComment(shapes.get(id)!, results[i]!.rank)}`);
  const norm = inputNode.attrs.normalisation;
  const inputDoc = norm === undefined ? "as the network expects it (it declares no normalisation)" : `normalised as the input declares: (pixel - ${num(norm.mean)}) / ${num(norm.std)}`;
  const source = options.sourceFile.split(/[\\/]/).pop() ?? options.sourceFile;
  const ret = results.length === 1 ? results[0]!.name : `(${results.map((r) => r.name).join(", ")})`;

  const metadataLines = Object.entries(metadata)
    .filter(([k]) => k !== "bn_epsilon")
    .map(([k, v]) => `    ${str(k)}: ${str(v)},`);

  const parts: string[] = [
    `"""${graph.name}: the network as mnc sees it, as a PyTorch module.

Generated by mnc ${VERSION} from ${source}: alpha ${num(graph.alpha)}, input ${h}x${w}x${c}.
Needs PyTorch only (1.13 or later). Edit freely: this is an ordinary module.

  ${cls}: the network (nn.Module). forward(x) takes float32 NCHW
      [N, ${c}, ${h}, ${w}], as the ONNX model does, and returns ${results.length === 1 ? "its output" : "a tuple in OUTPUT_NAMES order"}.
  create_model(): the network, initialised as torchvision's MobileNets are.
  load_mnc_weights(model, path): mnc-named safetensors (mnc weights export).
  save_mnc_weights(model, path): safetensors that mnc compile --weights reads.

Conventions (docs/pytorch.md):
  - Every layer is a module under its mnc id, nested at each "." (bneck_2.expand
    is self.bneck_2.expand), so state_dict() keys are mnc's weight names:
    <layer>.weight, <layer>.bias, <layer>.bn.gamma|beta|mean|variance.
  - Weights in mnc's layouts: conv [out, in, kh, kw]; depthwise [C, 1, kh, kw]
    (groups = C); transposed conv [in, out, kh, kw]; fc [out, in], its input
    flattened channel-major (torch.flatten of NCHW).
  - TensorFlow SAME padding as mnc computed it for ${h}x${w}: asymmetric pads are an
    explicit F.pad, so trained weights behave the same in ONNX, TFLite-style
    runtimes and mnc's module. Other input sizes need the file emitted again.
  - Batch-norm: eps BN_EPSILON, momentum BN_MOMENTUM (Keras' 0.99 decay).
"""`,
    IMPORTS,
    `NETWORK = ${str(graph.name)}
ALPHA = ${num(graph.alpha)}
INPUT_SHAPE = ${tuple([c, h, w])}  # (C, H, W)
OUTPUT_NAMES = ${names.length === 1 ? `(${str(names[0]!)},)` : `(${names.map(str).join(", ")})`}
BN_EPSILON = ${num(epsilon)}
BN_MOMENTUM = ${num(BN_MOMENTUM)}
# What save_mnc_weights writes into the safetensors metadata (bn_epsilon is added from the modules).
MNC_METADATA = {
${metadataLines.join("\n")}
}
`,
    BATCH_NORM,
    CONV,
    ...(runtime.convTranspose ? [CONV_TRANSPOSE] : []),
    ...(runtime.maxPoolSame ? [MAX_POOL_SAME] : []),
    ...(runtime.avgPoolSame ? [AVG_POOL_SAME] : []),
    ...(runtime.resize ? [RESIZE] : []),
    ...(runtime.oddPaths ? [ODD_PATHS] : []),
    initWeights(runtime),
    `class ${cls}(nn.Module):
    """${graph.name} at alpha ${num(graph.alpha)}, input ${h}x${w}x${c}.

    forward(x): x float32 [N, ${c}, ${h}, ${w}], ${inputDoc}.
    Returns ${outputsDoc.length === 1 ? outputsDoc[0] : `(${outputsDoc.join(", ")})`}.
    """

    def __init__(self):
        super().__init__()
${init.join("\n")}
        init_weights(self)

    def forward(self, x):
${forward.join("\n")}
        return ${ret}
`,
    `def create_model():
    """The network, initialised as torchvision's MobileNets are (init_weights)."""
    return ${cls}()
`,
    SAFETENSORS,
  ];
  return parts.join("\n\n");
}
