/**
 * Match a TFLite model to the network by following its tensors.
 *
 * The subgraph's input tensor is mnc's `input`. Then, node by node in mnc's
 * order, the operator that computes a node is the one that reads the tensors
 * of the node's inputs and is of the node's kind:
 *
 *   conv, pw      CONV_2D (dilation as the node's)
 *   dw            DEPTHWISE_CONV_2D (dilation as the node's)
 *   deconv        MediaPipe's CUSTOM Convolution2DTransposeBias (stride and padding from its custom options)
 *   fc            FULLY_CONNECTED, or a 1x1 CONV_2D on a 1x1 map (TF-Slim's classifiers)
 *   avgpool       AVERAGE_POOL_2D (its window covering the map: `avgpool global`), or MEAN over H and W
 *   maxpool       MAX_POOL_2D, or REDUCE_MAX over H and W
 *   add, mul      ADD, MUL reading both inputs' tensors, in either order (one may be a 1x1xC gate)
 *   concat        CONCATENATION along the channels, its inputs in the node's order
 *   resize        RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR: mode, sampling convention
 *                 (align_corners → align_corners, half_pixel_centers → half_pixel, neither →
 *                 asymmetric) and size as the node's
 *   activation    RELU, RELU6, HARD_SWISH or LOGISTIC standing alone (not folded into the
 *                 layer before: a layer read by an activation node keeps only its fused one)
 *   argmax        ARG_MAX over the channels (may be absent: a file may end at the scores)
 *   softmax       SOFTMAX (may be absent: the file's outputs are then logits, ranked alike)
 *   dropout       nothing (the identity at inference)
 *
 * Between them the walk passes through RESHAPE, SQUEEZE, DEQUANTIZE and
 * QUANTIZE, and through a RESIZE whose output is its input's size (the
 * identity in every convention: DeepLab's 33x33 → 33x33), and reads a PAD
 * followed by a VALID convolution as the padded convolution it is (its pads
 * must be mnc's). After an operator, RELU, RELU6,
 * HARD_SWISH and LOGISTIC operators and the hard-sigmoid chain converters
 * emit (ADD 3 → RELU6 → MUL 1/6, and x · that for h-swish) fold into the
 * layer's activation, which is checked against the network's, as are kernel
 * shapes, strides, dilations and padding. For a quantized tensor the output's range is
 * the activation too (quantization.ts).
 *
 * Every operator of the file must be accounted for: one the network does not
 * account for is MN4009, a layer the file has no operator for MN4010.
 */
import { error, errorWith, type Diagnostic } from "../ir/diagnostics.js";
import { isWeighted, QUANTIZED_RANGE, type Quantization, type QuantizedType, type Activation, type Graph, type LayerWeights, type Node, type NodeOf, type OpKind, type Pads, type ResizeNode, type Shape, type WeightedNode } from "../ir/graph.js";
import { expectedShapes, sameShape } from "../ir/weights.js";
import { attach, finite, formatShape } from "./attach.js";
import { formatRange, rangeActivation } from "./quantization.js";
import { outputChannels, transpose, type FileGraph, type FileOperator, type FileTensor, type StoredWeights } from "./source.js";
import type { TfliteOptions } from "./tflite.js";
import type { RawTensor } from "./types.js";

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

/** The values each activation can produce, and whether it is a clamp (of the identity) — what composing two needs. */
const ACTIVATION_RANGE: Readonly<Record<Activation, { readonly lo: number; readonly hi: number; readonly clamp: boolean }>> = {
  linear: { lo: -Infinity, hi: Infinity, clamp: true },
  relu: { lo: 0, hi: Infinity, clamp: true },
  relu6: { lo: 0, hi: 6, clamp: true },
  hswish: { lo: -0.375, hi: Infinity, clamp: false },
  hsigmoid: { lo: 0, hi: 1, clamp: false },
  sigmoid: { lo: 0, hi: 1, clamp: false },
};

/** `a` then `b`, as one activation, or undefined when no single activation is that. */
function compose(a: Activation | undefined, b: Activation | undefined): Activation | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (b === "linear") return a;
  if (a === "linear") return b;
  const ra = ACTIVATION_RANGE[a];
  const rb = ACTIVATION_RANGE[b];
  if (!rb.clamp) return undefined;
  if (rb.lo <= ra.lo && ra.hi <= rb.hi) return a; // the clamp changes nothing
  if (!ra.clamp) return undefined;
  const lo = Math.max(ra.lo, rb.lo);
  const hi = Math.min(ra.hi, rb.hi);
  return (Object.keys(ACTIVATION_RANGE) as Activation[]).find((k) => ACTIVATION_RANGE[k].clamp && ACTIVATION_RANGE[k].lo === lo && ACTIVATION_RANGE[k].hi === hi);
}

/** TFLite's fused activations. */
const FUSED: Readonly<Record<NonNullable<TfliteOptions["activation"]>, Activation | undefined>> = {
  NONE: "linear",
  RELU: "relu",
  RELU6: "relu6",
  RELU_N1_TO_1: undefined,
  TANH: undefined,
  SIGN_BIT: undefined,
};

/** Activation operators that fold into the layer before them. */
const ACTIVATION_OPS: Readonly<Record<string, Activation>> = { RELU: "relu", RELU6: "relu6", HARD_SWISH: "hswish", LOGISTIC: "sigmoid" };

/** Operators that leave values as they are: the walk passes through them. */
const PASS_THROUGH: ReadonlySet<string> = new Set(["RESHAPE", "SQUEEZE", "DEQUANTIZE", "QUANTIZE"]);

/** Resampling operators: the identity when the output is the input's size (passed through then). */
const RESIZES: Readonly<Record<string, ResizeNode["attrs"]["mode"]>> = { RESIZE_BILINEAR: "bilinear", RESIZE_NEAREST_NEIGHBOR: "nearest" };

/** What the file applies after an operator, and the tensor that holds the result. */
interface FileActivation {
  readonly act: Activation | undefined;
  /** For messages: `relu6`, `RELU_N1_TO_1`, `relu6 (the quantization range [0, 6] of 'T')`, `hsigmoid (ADD #4 → RELU6 #5 → MUL #6)`. */
  readonly text: string;
  readonly tensor: number;
  readonly ops: readonly FileOperator[];
}

// ---------------------------------------------------------------------------
// Rules, by mnc op
// ---------------------------------------------------------------------------

/** A candidate operator for a node, and how the walk reached it from the node's inputs. */
interface Candidate {
  readonly op: FileOperator;
  /** The pass-through operators (and the PAD) between the inputs' tensors and `op`. */
  readonly path: readonly FileOperator[];
  /** A PAD just before `op`: its spatial pads in mnc's order [top, left, bottom, right] (undefined when they cannot be read). */
  readonly pad?: { readonly op: FileOperator; readonly pads: Pads | undefined };
  /** For each of the node's inputs, the position among `op.reads` of the tensor it arrives as. */
  readonly positions: readonly number[];
}

/** An operator the walk reached from a tensor: how, and the tensor it reads there. */
interface Reached extends Omit<Candidate, "positions"> {
  readonly tensor: number;
}

/** [what, in the network, in the file] */
type Difference = readonly [string, string, string];

interface Rule<K extends OpKind> {
  /** The TFLite operators that compute the op. */
  readonly opcodes: readonly string[];
  /** Whether the file may lack it (the node then passes its input on). */
  readonly optional: (node: NodeOf<K>, input: Shape) => boolean;
  /** Whether the operator's output range, if quantized, says the activation. */
  readonly rangeAct: boolean;
  /** The activation the network applies after the op. */
  readonly act: (node: NodeOf<K>) => Activation;
  /** The activation the operator itself computes (a standalone activation operator), before what follows it. */
  readonly own?: (op: FileOperator) => Activation | undefined;
  /** Whether `op` computes this kind of node, beyond its opcode. */
  readonly accepts: (node: NodeOf<K>, op: FileOperator, input: Shape) => boolean;
  /** Differences of geometry (stride, padding, window), reported as MN4006. */
  readonly compare: (node: NodeOf<K>, c: Candidate, file: FileGraph) => Difference[];
}

const any = (): boolean => true;
const never = (): boolean => false;
const always = (): boolean => true;
const none = (): Difference[] => [];
const linear = (): Activation => "linear";
const samePair = (a: readonly number[], b: readonly number[]): boolean => a[0] === b[0] && a[1] === b[1];

function convDifferences(node: NodeOf<"conv"> | NodeOf<"depthwise">, c: Candidate): Difference[] {
  const out: Difference[] = [];
  const o = c.op.options;
  const a = node.attrs;
  const stride = [o.strideH ?? 1, o.strideW ?? 1];
  if (!samePair(stride, a.stride)) out.push(["stride", a.stride.join("x"), stride.join("x")]);
  const dilation = [o.dilationH ?? 1, o.dilationW ?? 1];
  const mncDilation = a.dilation ?? [1, 1];
  if (!samePair(dilation, mncDilation)) out.push(["dilation", mncDilation.join("x"), dilation.join("x")]);
  const padding = o.padding === "VALID" ? "valid" : "same";
  const pads = a.pads ?? [0, 0, 0, 0];
  if (c.pad !== undefined) {
    const found = `${c.pad.op.label} [${c.pad.pads?.join(",") ?? "?"}] then ${padding}`;
    if (padding !== "valid" || c.pad.pads === undefined || !c.pad.pads.every((p, i) => p === pads[i])) out.push(["padding", `${a.padding} [${pads.join(",")}]`, found]);
  } else if (padding !== a.padding && !(a.kernel[0] === 1 && a.kernel[1] === 1)) {
    // A 1x1 window pads nothing either way.
    out.push(["padding", a.padding, padding]);
  }
  return out;
}

/** The [H, W] of an NHWC activation tensor, when known. */
function spatial(file: FileGraph, tensor: number | undefined): readonly [number, number] | undefined {
  const s = tensor === undefined ? undefined : file.tensors[tensor]?.shape;
  if (s === undefined || s.length !== 4 || !(s[1]! > 0 && s[2]! > 0)) return undefined;
  return [s[1]!, s[2]!];
}

/** A transposed convolution's stride and padding (its kernel is checked by the weights' shape). */
function deconvDifferences(node: NodeOf<"deconv">, c: Candidate): Difference[] {
  const out: Difference[] = [];
  const o = c.op.options;
  const a = node.attrs;
  const stride = [o.strideH ?? 1, o.strideW ?? 1];
  if (!samePair(stride, a.stride)) out.push(["stride", a.stride.join("x"), stride.join("x")]);
  const padding = o.padding === "VALID" ? "valid" : "same";
  if (padding !== a.padding) out.push(["padding", a.padding, padding]);
  return out;
}

/** The channel axis of an NHWC tensor (its last), or undefined when its rank is unknown. */
function channelAxis(file: FileGraph, tensor: number | undefined): number | undefined {
  const rank = tensor === undefined ? 0 : (file.tensors[tensor]?.shape.length ?? 0);
  return rank > 0 ? rank - 1 : undefined;
}

/** `axis` normalised against `rank` (−1 is the last axis). */
const normalAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** The axis and the order of a CONCATENATION's inputs. */
function concatDifferences(node: NodeOf<"concat">, c: Candidate, file: FileGraph): Difference[] {
  const out: Difference[] = [];
  const last = channelAxis(file, c.op.outputs[0]);
  const axis = c.op.options.axis ?? 0;
  if (last === undefined || normalAxis(axis, last + 1) !== last) out.push(["axis", `channels (${last ?? 3})`, String(axis)]);
  if (c.positions.some((p, k) => p !== k)) {
    const order = node.inputs.map((_, k) => node.inputs[c.positions.indexOf(k)] ?? "?");
    out.push(["input order", node.inputs.join(", "), order.join(", ")]);
  }
  return out;
}

/** The sampling convention TFLite's flags give. */
function resizeCoords(o: FileOperator["options"]): string {
  const align = o.alignCorners === true;
  const half = o.halfPixelCenters === true;
  if (align && half) return "align_corners and half_pixel_centers";
  return align ? "align_corners" : half ? "half_pixel" : "asymmetric";
}

/** Mode, sampling convention and size of a RESIZE_*. */
function resizeDifferences(node: NodeOf<"resize">, c: Candidate, file: FileGraph): Difference[] {
  const out: Difference[] = [];
  const a = node.attrs;
  const mode = RESIZES[c.op.opcode];
  if (mode !== a.mode) out.push(["mode", a.mode, mode ?? c.op.opcode]);
  const coords = resizeCoords(c.op.options);
  if (coords !== a.coords) out.push(["coordinates", a.coords, coords]);
  const given = c.op.constants.get(1);
  const size = given !== undefined && given.length === 2 ? [given[0]!, given[1]!] : spatial(file, c.op.outputs[0]);
  const shape = node.shape;
  if (shape !== undefined && (size === undefined || !samePair(size, shape))) out.push(["size", `${shape[0]}x${shape[1]}`, size === undefined ? "unknown" : size.join("x")]);
  return out;
}

/** An ARG_MAX's axis: the channels. */
function argmaxDifferences(_node: NodeOf<"argmax">, c: Candidate, file: FileGraph): Difference[] {
  const axes = c.op.constants.get(1);
  const last = channelAxis(file, c.op.reads[0]);
  const axis = axes !== undefined && axes.length === 1 ? axes[0]! : undefined;
  if (axis !== undefined && last !== undefined && normalAxis(axis, last + 1) === last) return [];
  return [["axis", `channels (${last ?? 3})`, axis === undefined ? "unknown" : String(axis)]];
}

/** A resize to its input's own size: the identity. */
const identityResize = (node: NodeOf<"resize">, input: Shape): boolean => node.shape !== undefined && samePair(node.shape, input);

function poolDifferences(node: NodeOf<"avgpool"> | NodeOf<"maxpool">, c: Candidate, file: FileGraph): Difference[] {
  const a = node.attrs;
  const window = a.kernel === "global" ? "global" : a.kernel.join("x");
  const op = c.op;
  if (op.opcode === "MEAN" || op.opcode === "REDUCE_MAX") {
    const axes = op.constants.get(1);
    const rank = file.tensors[op.reads[0]!]?.shape.length ?? 4;
    const normal = axes === undefined ? [] : [...new Set(Array.from(axes, (x) => (x < 0 ? x + rank : x)))].sort();
    const found = `${op.opcode} over axes [${axes === undefined ? "?" : Array.from(axes).join(", ")}]`;
    if (!(normal.length === 2 && normal[0] === 1 && normal[1] === 2)) return [["window", window, found]];
    return a.kernel === "global" ? [] : [["window", window, "global"]];
  }
  const o = op.options;
  const filter = [o.filterH ?? 0, o.filterW ?? 0];
  const stride = [o.strideH ?? 1, o.strideW ?? 1];
  const map = spatial(file, op.reads[0]);
  const fileGlobal = map !== undefined && samePair(filter, map) && (o.padding === "VALID" || (stride[0]! >= map[0] && stride[1]! >= map[1]));
  if (a.kernel === "global") return fileGlobal ? [] : [["window", "global", `${filter.join("x")}${map === undefined ? "" : ` on a ${map.join("x")} map`}`]];
  const out: Difference[] = [];
  const mncStride = a.stride === "kernel" ? a.kernel : a.stride;
  if (!samePair(filter, a.kernel)) out.push(["window", window, filter.join("x")]);
  if (!samePair(stride, mncStride)) out.push(["stride", mncStride.join("x"), stride.join("x")]);
  const padding = o.padding === "VALID" ? "valid" : "same";
  if (padding !== a.padding) out.push(["padding", a.padding, padding]);
  return out;
}

const RULES: { readonly [K in OpKind]: Rule<K> } = {
  input: { opcodes: [], optional: never, rangeAct: false, act: linear, accepts: any, compare: none },
  conv: { opcodes: ["CONV_2D"], optional: never, rangeAct: true, act: (n) => n.attrs.act, accepts: any, compare: convDifferences },
  depthwise: { opcodes: ["DEPTHWISE_CONV_2D"], optional: never, rangeAct: true, act: (n) => n.attrs.act, accepts: any, compare: convDifferences },
  fc: {
    opcodes: ["FULLY_CONNECTED", "CONV_2D"],
    optional: never,
    rangeAct: true,
    act: linear,
    // A 1x1 convolution on a 1x1 map is the same arithmetic as fc (TF-Slim's classifiers).
    accepts: (_n, op, input) => op.opcode === "FULLY_CONNECTED" || (input[0] === 1 && input[1] === 1 && op.weights!.kernel.shape[2] === 1 && op.weights!.kernel.shape[3] === 1),
    compare: none,
  },
  avgpool: { opcodes: ["AVERAGE_POOL_2D", "MEAN"], optional: never, rangeAct: false, act: linear, accepts: any, compare: poolDifferences },
  maxpool: { opcodes: ["MAX_POOL_2D", "REDUCE_MAX"], optional: never, rangeAct: false, act: linear, accepts: any, compare: poolDifferences },
  add: { opcodes: ["ADD"], optional: never, rangeAct: false, act: linear, accepts: any, compare: none },
  mul: { opcodes: ["MUL"], optional: never, rangeAct: false, act: linear, accepts: any, compare: none },
  softmax: {
    opcodes: ["SOFTMAX"],
    optional: always,
    rangeAct: false,
    act: linear,
    accepts: any,
    compare: (_n, c) => (c.op.options.beta === undefined || c.op.options.beta === 1 ? [] : [["beta", "1", String(c.op.options.beta)]]),
  },
  dropout: { opcodes: [], optional: always, rangeAct: false, act: linear, accepts: any, compare: none },
  deconv: { opcodes: ["CUSTOM:Convolution2DTransposeBias"], optional: never, rangeAct: true, act: (n) => n.attrs.act, accepts: any, compare: deconvDifferences },
  concat: { opcodes: ["CONCATENATION"], optional: never, rangeAct: false, act: linear, accepts: any, compare: concatDifferences },
  // A resize by 1 is the identity, which a file may leave out (the walk passes through one it has).
  resize: { opcodes: Object.keys(RESIZES), optional: identityResize, rangeAct: false, act: linear, accepts: any, compare: resizeDifferences },
  activation: {
    opcodes: Object.keys(ACTIVATION_OPS),
    optional: never,
    rangeAct: true,
    act: (n) => n.attrs.act,
    own: (op) => ACTIVATION_OPS[op.opcode],
    accepts: any,
    compare: none,
  },
  argmax: { opcodes: ["ARG_MAX"], optional: always, rangeAct: false, act: linear, accepts: any, compare: argmaxDifferences },
};

function rule<K extends OpKind>(node: NodeOf<K>): Rule<K> {
  return RULES[node.op as K] as Rule<K>;
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

/** How deep the walk follows pass-through operators (a damaged file may loop). */
const MAX_PATH = 16;

class Walk {
  readonly claimed = new Set<number>();
  /** The tensor that holds each node's value. */
  readonly tensorOf = new Map<string, number>();
  readonly shapes = new Map<string, Shape>();
  readonly nodes = new Map<string, Node>();
  /** Optional nodes the file has no operator for (a softmax of a file that ends at the logits, a dropout). */
  readonly absent = new Set<string>();
  /** The stored integers of each weighted node's operator, when quantized. */
  readonly storedOf = new Map<string, StoredWeights>();
  /** MN4006 mismatches already reported, to count repeats instead. */
  private readonly mismatches = new Map<string, { index: number; more: number }>();
  /** The nodes whose value a standalone activation node reads: the file's activation operators after them are that node's. */
  private readonly activated = new Set<string>();

  constructor(
    readonly graph: Graph,
    readonly file: FileGraph,
    readonly diagnostics: Diagnostic[],
  ) {
    for (const n of graph.nodes) if (n.op === "activation") for (const i of n.inputs) this.activated.add(i);
  }

  /** Whether a standalone activation node reads `id`'s value. */
  readByActivation(id: string): boolean {
    return this.activated.has(id);
  }

  op(i: number): FileOperator {
    return this.file.operators[i]!;
  }

  tensorName(t: number): string {
    return this.file.tensors[t]?.name ?? `#${t}`;
  }

  /** Unclaimed operators reading `t`. */
  unclaimedConsumers(t: number): FileOperator[] {
    return (this.file.consumers[t] ?? []).filter((i) => !this.claimed.has(i)).map((i) => this.op(i));
  }

  /** A RESIZE_* whose output has its input's shape: the identity in every sampling convention. */
  identityResize(op: FileOperator): boolean {
    if (RESIZES[op.opcode] === undefined || op.reads.length !== 1 || op.outputs.length !== 1) return false;
    const a = this.file.tensors[op.reads[0]!]?.shape;
    const b = this.file.tensors[op.outputs[0]!]?.shape;
    return a !== undefined && b !== undefined && a.length === b.length && a.every((d, i) => d > 0 && d === b[i]);
  }

  /** Whether a pass-through operator only drops or adds dimensions of size 1, or flattens to [1, N] / [N]; or is an identity resize. */
  private passes(op: FileOperator): boolean {
    if (this.identityResize(op)) return true;
    if (!PASS_THROUGH.has(op.opcode) || op.reads.length !== 1 || op.outputs.length !== 1) return false;
    if (op.opcode !== "RESHAPE") return true;
    const a = this.file.tensors[op.reads[0]!]?.shape ?? [];
    const b = this.file.tensors[op.outputs[0]!]?.shape ?? [];
    const big = (s: readonly number[]): number[] => s.filter((d) => d !== 1);
    const known = (s: readonly number[]): boolean => s.length > 0 && s.every((d) => d > 0);
    if (!known(a) || !known(b)) return true;
    const sa = big(a);
    const sb = big(b);
    return (sa.length === sb.length && sa.every((d, i) => d === sb[i])) || sb.length <= 1;
  }

  /** The PAD's [top, left, bottom, right], if its paddings are [[0,0],[t,b],[l,r],[0,0]]. */
  private padsOf(op: FileOperator): Pads | undefined {
    const p = op.constants.get(1);
    if (p === undefined || p.length !== 8 || p[0] !== 0 || p[1] !== 0 || p[6] !== 0 || p[7] !== 0) return undefined;
    return [p[2]!, p[4]!, p[3]!, p[5]!];
  }

  /** Operators reachable from tensor `t` through pass-through operators (and at most one PAD), not yet claimed. */
  reach(t: number): Map<number, Reached> {
    const out = new Map<number, Reached>();
    const seen = new Set<number>();
    const visit = (tensor: number, path: FileOperator[], pad: Candidate["pad"]): void => {
      if (seen.has(tensor) || path.length > MAX_PATH) return;
      seen.add(tensor);
      for (const i of this.file.consumers[tensor] ?? []) {
        const op = this.op(i);
        if (pad === undefined && this.passes(op)) {
          visit(op.outputs[0]!, [...path, op], undefined);
        } else if (pad === undefined && op.opcode === "PAD" && op.reads.length === 1 && op.outputs.length === 1 && !this.claimed.has(i)) {
          visit(op.outputs[0]!, [...path, op], { op, pads: this.padsOf(op) });
        } else if (!this.claimed.has(i) && !out.has(i)) {
          out.set(i, { op, path, tensor, ...(pad === undefined ? {} : { pad }) });
        }
      }
    };
    visit(t, [], undefined);
    return out;
  }

  /** Candidates for `node`: operators of its kind that read the tensors of all its inputs. */
  candidates(node: Node, ins: readonly number[]): Candidate[] {
    const r = rule(node);
    const reached = ins.map((t) => this.reach(t));
    const input = this.shapes.get(node.inputs[0]!)!;
    const out: Candidate[] = [];
    for (const [i, c] of reached[0] ?? []) {
      if (!r.opcodes.includes(c.op.opcode) || c.op.reads.length !== ins.length || c.op.outputs.length !== 1) continue;
      if (c.pad !== undefined && node.op !== "conv" && node.op !== "depthwise") continue;
      const others = reached.slice(1).map((m) => m.get(i));
      if (others.some((o) => o === undefined)) continue;
      if (!r.accepts(node as never, c.op, input)) continue;
      // Where each input arrives among the operator's reads (an input read twice takes two places).
      const taken = new Set<number>();
      const positions = [c, ...others].map((o) => {
        const p = c.op.reads.findIndex((t, q) => t === o!.tensor && !taken.has(q));
        taken.add(p);
        return p;
      });
      const { tensor: _tensor, ...how } = c;
      out.push({ ...how, path: [...c.path, ...others.flatMap((o) => o!.path)], positions });
    }
    // Prefer an operator whose weights fit the layer; otherwise the first in the file.
    const fits = (c: Candidate): boolean => !isWeighted(node) || this.kernelFits(node, c.op, input);
    return out.sort((a, b) => Number(fits(b)) - Number(fits(a)) || a.op.index - b.op.index);
  }

  /** The kernel of `op` as `node` would take it, in mnc's layout. */
  kernelFor(node: WeightedNode, op: FileOperator, input: Shape): RawTensor | undefined {
    const w = op.weights;
    if (w === undefined) return undefined;
    let kernel = w.kernel;
    if (node.op === "fc" && w.kind === "conv") kernel = { ...kernel, shape: [kernel.shape[0]!, kernel.shape[1]!] };
    const e = expectedShapes(node, input);
    if (node.op === "fc" && w.kind === "fc" && sameShape(kernel.shape, e.kernel)) {
      // A FULLY_CONNECTED's [out, H·W·C] in HWC order → [out, C·H·W] channel-major.
      const [h, wd, c] = input;
      kernel = { ...kernel, data: transpose(kernel.data, [kernel.shape[0]!, h, wd, c], [0, 3, 1, 2]) };
    }
    return kernel;
  }

  /** The stored integers of `op` as `node` takes them: a FULLY_CONNECTED's [out, H·W·C] reordered channel-major as kernelFor does. */
  storedFor(node: WeightedNode, op: FileOperator, stored: StoredWeights): StoredWeights {
    const w = op.weights!;
    const input = this.shapes.get(node.inputs[0]!)!;
    if (node.op !== "fc" || w.kind !== "fc" || !sameShape(w.kernel.shape, expectedShapes(node, input).kernel)) return stored;
    const [h, wd, c] = input;
    return { ...stored, kernel: transpose(stored.kernel, [w.kernel.shape[0]!, h, wd, c], [0, 3, 1, 2]) };
  }

  kernelFits(node: WeightedNode, op: FileOperator, input: Shape): boolean {
    const w = op.weights;
    if (w === undefined) return false;
    const shape = node.op === "fc" && w.kind === "conv" ? w.kernel.shape.slice(0, 2) : w.kernel.shape;
    return sameShape(shape, expectedShapes(node, input).kernel);
  }

  /** Whether `op` could compute `node` given its input shape: its kind, and for weighted layers the output channels. */
  couldBe(node: Node, op: FileOperator, input: Shape | undefined): boolean {
    const r = rule(node);
    if (!r.opcodes.includes(op.opcode)) return false;
    if (!isWeighted(node)) return true;
    const w = op.weights;
    if (w === undefined || input === undefined) return false;
    return outputChannels(w) === expectedShapes(node, input).channels;
  }

  // -- activations ----------------------------------------------------------

  private constantNear(op: FileOperator, value: number): boolean {
    for (const c of op.constants.values()) {
      if (c.length > 0 && c.every((x) => Math.abs(x - value) <= 1e-3 * Math.abs(value))) return true;
    }
    return false;
  }

  /** The activation the file applies at `t` (the quantization range of a quantized tensor), for `withRange`. */
  private rangeAt(t: number): { act: Activation; text: string } | undefined {
    const q = this.file.tensors[t]?.quant;
    if (q === undefined) return undefined;
    const act = rangeActivation(q);
    if (act === undefined || act === "linear") return undefined;
    return { act, text: `the quantization range ${formatRange(q)} of '${this.tensorName(t)}'` };
  }

  /** ADD 3 → (RELU6) → MUL 1/6 (or DIV 6) from tensor `t`: the tensor holding hsigmoid(t) and the operators, or undefined. */
  private hardSigmoid(t: number): { end: number; ops: FileOperator[] } | undefined {
    const add = this.unclaimedConsumers(t).find((o) => o.opcode === "ADD" && o.reads.length === 1 && this.constantNear(o, 3));
    if (add === undefined) return undefined;
    let act = compose(FUSED[add.options.activation ?? "NONE"], this.rangeAt(add.outputs[0]!)?.act ?? "linear");
    let x = add.outputs[0]!;
    const ops = [add];
    for (let steps = 0; steps < MAX_PATH; steps++) {
      const next = this.unclaimedConsumers(x);
      if (next.length !== 1) return undefined;
      const op = next[0]!;
      if ((op.opcode === "RELU6" || op.opcode === "RELU") && op.reads.length === 1) {
        act = compose(compose(act, ACTIVATION_OPS[op.opcode]), this.rangeAt(op.outputs[0]!)?.act ?? "linear");
        x = op.outputs[0]!;
        ops.push(op);
        continue;
      }
      const scales = (op.opcode === "MUL" && this.constantNear(op, 1 / 6)) || (op.opcode === "DIV" && this.constantNear(op, 6));
      if (act !== "relu6" || !scales || op.reads.length !== 1 || (op.options.activation ?? "NONE") !== "NONE") return undefined;
      return { end: op.outputs[0]!, ops: [...ops, op] };
    }
    return undefined;
  }

  /**
   * Fold the activations the file applies after `op` (see the file comment);
   * with `follow` false only its fused activation and its output's range (the
   * operators after it belong to a standalone activation node).
   */
  activation(op: FileOperator, rangeAct: boolean, follow = true): FileActivation {
    const fused = op.options.activation ?? "NONE";
    let act = FUSED[fused];
    /** Where the activation comes from, beyond the operator's fused activation. */
    const sources: string[] = [];
    const ops: FileOperator[] = [];
    let t = op.outputs[0]!;
    const withRange = (): void => {
      const r = rangeAct ? this.rangeAt(t) : undefined;
      if (r === undefined) return;
      const before = act;
      act = compose(act, r.act);
      if (act !== before || before === "linear") sources.push(r.text);
    };
    const fold = (a: Activation, what: readonly FileOperator[], how: string): void => {
      act = compose(act, a);
      ops.push(...what);
      sources.push(how);
      withRange();
    };
    withRange();
    for (let steps = 0; follow && steps < MAX_PATH; steps++) {
      const next = this.unclaimedConsumers(t);
      const single = next.length === 1 ? next[0]! : undefined;
      const folded = single === undefined || single.reads.length !== 1 ? undefined : ACTIVATION_OPS[single.opcode];
      if (single !== undefined && folded !== undefined) {
        t = single.outputs[0]!;
        fold(folded, [single], single.label);
        continue;
      }
      const chain = this.hardSigmoid(t);
      if (chain === undefined) break;
      const spelled = chain.ops.map((o) => o.label).join(" → ");
      if (next.length === 1) {
        t = chain.end;
        fold("hsigmoid", chain.ops, spelled);
        continue;
      }
      const mul = next.find((o) => o.opcode === "MUL" && o.reads.length === 2 && o.reads.includes(t) && o.reads.includes(chain.end));
      if (next.length !== 2 || mul === undefined) break;
      t = mul.outputs[0]!;
      fold("hswish", [...chain.ops, mul], `x · (${spelled}) in ${mul.label}`);
    }
    const name = act ?? (sources.length === 0 ? fused : "an activation mnc does not have");
    const text = sources.length === 0 ? name : `${name} (${fused === "NONE" ? "" : `fused ${fused}, then `}${sources.join(", then ")})`;
    return { act, text, tensor: t, ops };
  }

  // -- reporting ------------------------------------------------------------

  /** Report a difference once, counting later layers that differ the same way (`same` groups them; the found text by default). */
  mismatch(n: Node, label: string, [what, expected, found]: Difference, same = found): void {
    const key = `${what}:${expected}:${same}`;
    const seen = this.mismatches.get(key);
    if (seen !== undefined) {
      seen.more++;
      return;
    }
    this.mismatches.set(key, { index: this.diagnostics.length, more: 0 });
    this.diagnostics.push(error("weightLayerMismatch", n.span, n.id, label, what, expected, found));
  }

  finishMismatches(): void {
    for (const { index, more } of this.mismatches.values()) {
      const d = this.diagnostics[index]!;
      if (more > 0) this.diagnostics[index] = { ...d, message: `${d.message} (and ${more} more layer${more === 1 ? "" : "s"} the same way)` };
    }
  }

  /** A standalone activation operator's own activation `own`, then `after` (what follows it), as one. */
  standalone(op: FileOperator, own: Activation | undefined, after: FileActivation): FileActivation {
    const act = compose(own, after.act);
    const name = act ?? "an activation mnc does not have";
    const text = after.ops.length === 0 && after.act === "linear" ? `${name} (${op.label})` : `${name} (${op.label}, then ${after.text})`;
    return { ...after, act, text };
  }

  /** `'T' (the value of 'x')` */
  describeTensor(t: number, node: string): string {
    return `'${this.tensorName(t)}' (the value of '${node}')`;
  }

  /** Why no operator computes `node`: an operator of the file in the way (MN4009), the layer absent from the file (MN4010), or another kind (MN4006). */
  diagnose(node: Node, ins: readonly number[]): void {
    const input = this.shapes.get(node.inputs[0]!);
    const from = this.describeTensor(ins[0]!, node.inputs[0]!);
    const next = [...this.reach(ins[0]!).values()].map((c) => c.op);
    // 1. An operator the network lacks, with this node's operator right after it.
    for (const x of next) {
      const ahead = this.lookAhead(x, (op) => this.couldBe(node, op, input));
      if (ahead !== undefined) {
        const context = `: '${node.id}' reads ${from}, which the file passes through ${x.label} before ${ahead.label}`;
        this.diagnostics.push(error("weightOperatorUnaccounted", node.span, opName(x), this.tensorName(x.outputs[0]!), context));
        return;
      }
    }
    // 2. This node is missing from the file: what the file does next is what the network does after it.
    const successors = this.graph.nodes.filter((m) => m.inputs.includes(node.id));
    for (const x of next) {
      const m = successors.find((s) => this.couldBe(s, x, node.shape));
      if (m !== undefined) {
        this.diagnostics.push(error("weightLayerAbsent", node.span, node.id, `: the file's ${from} goes straight to ${x.label}, which is '${m.id}'`));
        return;
      }
    }
    // 3. A weighted operator of another kind where the network has this layer.
    const other = next.find((x) => x.weights !== undefined && !rule(node).opcodes.includes(x.opcode));
    if (isWeighted(node) && other !== undefined) {
      this.diagnostics.push(error("weightLayerMismatch", node.span, node.id, other.label, "kind", node.op, other.weights!.kind));
      return;
    }
    const context =
      node.inputs.length > 1
        ? `: no operator of the file reads both ${ins.map((t, i) => this.describeTensor(t, node.inputs[i]!)).join(" and ")}`
        : next.length === 0
          ? `: nothing in the file reads ${from}`
          : `: the file's ${from} goes to ${next.map((x) => x.label).join(", ")}`;
    this.diagnostics.push(error("weightLayerAbsent", node.span, node.id, context));
  }

  /** An unclaimed operator within three steps after `start` that satisfies `want`. */
  private lookAhead(start: FileOperator, want: (op: FileOperator) => boolean): FileOperator | undefined {
    let frontier = [start];
    const seen = new Set<number>([start.index]);
    for (let depth = 0; depth < 3; depth++) {
      const following: FileOperator[] = [];
      for (const op of frontier) {
        for (const o of op.outputs) {
          for (const c of this.unclaimedConsumers(o)) {
            if (seen.has(c.index)) continue;
            seen.add(c.index);
            if (want(c)) return c;
            following.push(c);
          }
        }
      }
      frontier = following;
    }
    return undefined;
  }
}

/** `CONV_2D #3` */
function opName(op: FileOperator): string {
  return `${op.opcode} #${op.index}`;
}

/** The activation the file applies after each convolution and depthwise operator, by operator index, read as the walk reads it (undefined: none mnc has). */
export function convActivations(graph: Graph, file: FileGraph): ReadonlyMap<number, Activation | undefined> {
  const w = new Walk(graph, file, []);
  const out = new Map<number, Activation | undefined>();
  for (const op of file.operators) if (op.weights !== undefined && op.weights.kind !== "fc") out.set(op.index, w.activation(op, true).act);
  return out;
}

/** Attach the file's tensors to every weighted layer of `graph`; problems go to `diagnostics`. */
export function matchTflite(graph: Graph, file: FileGraph, diagnostics: Diagnostic[], quantized = false): Graph {
  const w = new Walk(graph, file, diagnostics);
  const done = walk(w);
  w.finishMismatches();
  if (!done) return graph;
  const nodes = graph.nodes.map((n) => w.nodes.get(n.id) ?? n);
  return { ...graph, nodes: quantized ? keepQuantization(w, nodes) : nodes };
}

/**
 * `quantized: true`: every node's output quantization (that of the file's
 * tensor holding its value; none for a node the file has no operator for,
 * whose value is its input's) and every weighted layer's stored integers.
 * Unusable parameters are MN4013; a float file is MN4014.
 */
function keepQuantization(w: Walk, nodes: readonly Node[]): Node[] {
  const d = w.diagnostics;
  const out: Node[] = [];
  for (const n of nodes) {
    if (w.absent.has(n.id)) {
      out.push(n);
      continue;
    }
    const t = w.tensorOf.get(n.id)!;
    const ft = w.file.tensors[t]!;
    const q = activationQuantization(ft);
    if (typeof q === "string") {
      d.push(error(ft.quantization === undefined ? "weightNotQuantized" : "weightQuantization", n.span, n.id, `the file's tensor '${ft.name}'`, q));
      return [...nodes];
    }
    if (!isWeighted(n)) {
      out.push({ ...n, quant: q } as Node);
      continue;
    }
    const stored = (n.weights === undefined ? undefined : w.storedOf.get(n.id));
    if (stored === undefined || n.weights === undefined) {
      d.push(error("weightNotQuantized", n.span, n.id, "its weights", "they are not stored as uint8 or int8 integers"));
      return [...nodes];
    }
    const kq = checkQuantization(stored.type, stored.scale, stored.zeroPoint);
    if (typeof kq === "string") {
      d.push(error("weightQuantization", n.span, n.id, "its weights", kq));
      return [...nodes];
    }
    if (kq.scale.length !== 1 && kq.scale.length !== n.weights.kernel.shape[0]) {
      d.push(error("weightQuantization", n.span, n.id, "its weights", `${kq.scale.length} scales for ${n.weights.kernel.shape[0]} channels`));
      return [...nodes];
    }
    const kernel = { shape: n.weights.kernel.shape, data: Int32Array.from(stored.kernel) };
    const quantized = { kernel, kernelQuant: kq, ...(stored.bias === undefined ? {} : { bias: stored.bias }) };
    out.push({ ...n, quant: q, weights: { ...n.weights, quantized } } as Node);
  }
  return out;
}

/** A file tensor's per-tensor quantization, or why it has none mnc can use. */
function activationQuantization(t: FileTensor): Quantization | string {
  const q = t.quantization;
  if (q === undefined) return `it is ${t.type}`;
  if (q.scale.length !== 1) return `${q.scale.length} scales, but an activation has one`;
  return checkQuantization(t.type, q.scale, q.zeroPoint);
}

/** Quantization parameters checked: a UINT8 / INT8 type, finite scales > 0, zero points within the type's range. */
function checkQuantization(type: string, scale: readonly number[], zeroPoint: readonly number[]): Quantization | string {
  const qt = QUANTIZED_TYPE[type];
  if (qt === undefined) return `it is ${type}, not UINT8 or INT8`;
  for (const s of scale) if (!(s > 0 && Number.isFinite(s))) return `scale ${s} is not a finite number > 0`;
  const [lo, hi] = QUANTIZED_RANGE[qt];
  const zp = scale.map((_, i) => zeroPoint[i] ?? 0);
  for (const z of zp) if (!(Number.isInteger(z) && z >= lo && z <= hi)) return `zero point ${z} is outside ${type}'s range [${lo}, ${hi}]`;
  return { type: qt, scale: [...scale], zeroPoint: zp };
}

const QUANTIZED_TYPE: Readonly<Record<string, QuantizedType>> = { UINT8: "uint8", INT8: "int8" };

/** Walk the network; false when it stopped at a node no operator computes. */
function walk(w: Walk): boolean {
  const { graph, file, diagnostics } = w;
  for (const node of graph.nodes) {
    if (node.shape !== undefined) w.shapes.set(node.id, node.shape);
    if (node.op === "input") {
      const t = file.inputs[0];
      if (t === undefined) {
        diagnostics.push(error("weightLayerAbsent", node.span, node.id, ": the file's model has no input"));
        return false;
      }
      w.tensorOf.set(node.id, t);
      continue;
    }
    const ins = node.inputs.map((id) => w.tensorOf.get(id)!);
    const r = rule(node);
    const c = w.candidates(node, ins)[0];
    if (c === undefined) {
      if (r.optional(node as never, w.shapes.get(node.inputs[0]!)!)) {
        w.tensorOf.set(node.id, ins[0]!);
        w.absent.add(node.id);
        continue;
      }
      w.diagnose(node, ins);
      return false;
    }
    if (isWeighted(node) && !w.kernelFits(node, c.op, w.shapes.get(node.inputs[0]!)!)) {
      // The operator does not fit this layer but fits the next one: the file lacks this layer.
      const next = graph.nodes.find((m) => m.inputs.includes(node.id) && isWeighted(m) && node.shape !== undefined && w.couldBe(m, c.op, node.shape) && w.kernelFits(m, c.op, node.shape));
      if (next !== undefined) {
        diagnostics.push(error("weightLayerAbsent", node.span, node.id, `: the file's ${w.describeTensor(ins[0]!, node.inputs[0]!)} goes straight to ${c.op.label}, which is '${next.id}'`));
        return false;
      }
    }
    for (const op of [c.op, ...c.path, ...c.op.absorbs.map((i) => w.op(i))]) w.claimed.add(op.index);
    const after = w.activation(c.op, r.rangeAct, !w.readByActivation(node.id));
    const act = r.own === undefined ? after : w.standalone(c.op, r.own(c.op), after);
    for (const op of act.ops) w.claimed.add(op.index);
    w.tensorOf.set(node.id, act.tensor);

    const label = c.op.weights === undefined ? `${c.op.label} ('${w.tensorName(c.op.outputs[0]!)}')` : c.op.label;
    for (const d of r.compare(node as never, c, file)) w.mismatch(node, label, d);
    const expected = r.act(node as never);
    if (act.act !== expected) {
      const what = "act" in node.attrs ? expected : `linear (${node.op} has none)`;
      w.mismatch(node, label, ["activation", what, act.text], act.act ?? act.text);
    }
    if (isWeighted(node)) {
      const weights = layerWeights(w, node, c.op);
      if (weights !== undefined) w.nodes.set(node.id, attach(node, weights));
      const stored = c.op.weights?.stored;
      if (stored !== undefined) w.storedOf.set(node.id, w.storedFor(node, c.op, stored));
    }
  }
  finish(w);
  return true;
}

/** The tensors `node` takes from `op`, checked; undefined after reporting a problem. */
function layerWeights(w: Walk, node: WeightedNode, op: FileOperator): LayerWeights | undefined {
  const d = w.diagnostics;
  const input = w.shapes.get(node.inputs[0]!)!;
  const e = expectedShapes(node, input);
  const kernel = w.kernelFor(node, op, input)!;
  const bias = op.weights!.bias;
  if (!sameShape(kernel.shape, e.kernel)) {
    d.push(error("weightShapeMismatch", node.span, node.id, op.label, formatShape(e.kernel), formatShape(kernel.shape)));
    return undefined;
  }
  if (bias === undefined) {
    d.push(error("weightMissing", node.span, node.id, `a bias (${op.label} has none)`));
    return undefined;
  }
  if (!sameShape(bias.shape, [e.channels])) {
    d.push(error("weightShapeMismatch", node.span, node.id, `${op.label} bias`, formatShape([e.channels]), formatShape(bias.shape)));
    return undefined;
  }
  if (!finite(kernel, node, d) || !finite(bias, node, d)) return undefined;
  return { kernel: { shape: kernel.shape, data: kernel.data }, bias: { shape: bias.shape, data: bias.data } };
}

/** After the last node: the file's trailing pass-through operators are the outputs'; any other operator left is an error. */
function finish(w: Walk): void {
  const { graph, file, diagnostics } = w;
  for (const id of graph.outputs) {
    let t = w.tensorOf.get(id);
    for (let steps = 0; t !== undefined && steps < MAX_PATH; steps++) {
      const next = w.unclaimedConsumers(t);
      if (next.length !== 1 || !(PASS_THROUGH.has(next[0]!.opcode) || w.identityResize(next[0]!)) || next[0]!.outputs.length !== 1) break;
      w.claimed.add(next[0]!.index);
      t = next[0]!.outputs[0]!;
      w.tensorOf.set(id, t);
    }
  }
  const absorbed = new Set(file.operators.flatMap((o) => o.absorbs));
  const left = file.operators.filter((o) => !w.claimed.has(o.index) && !absorbed.has(o.index));
  const first = left[0];
  if (first === undefined) return;
  const out = w.tensorName(first.outputs[0] ?? -1);
  // Which node's value does it read?
  const reader = [...w.tensorOf.entries()].find(([, tensor]) => first.reads.includes(tensor));
  // The output the file goes on from, or the last one.
  const output = graph.outputs.find((id) => id === reader?.[0]) ?? graph.outputs[graph.outputs.length - 1]!;
  const last = graph.nodes.find((n) => n.id === output)!;
  const weightedLayers = graph.nodes.filter(isWeighted).length;
  const weightedOps = file.operators.filter((o) => o.weights !== undefined).length;
  if (weightedLayers !== weightedOps && left.some((o) => o.weights !== undefined)) {
    const note = { message: `the network ends at '${output}'; the file goes on with ${opName(first)} (output '${out}'), which no layer accounts for`, span: last.span };
    diagnostics.push(errorWith("weightLayerCount", graph.span, [note], graph.name, weightedLayers, weightedOps));
    return;
  }
  const context = reader === undefined ? `: it reads ${first.reads.map((r) => `'${w.tensorName(r)}'`).join(", ") || "no tensor"}, which no layer computes` : `: it reads ${w.describeTensor(reader[1], reader[0])}, and no layer does that next`;
  const at = reader === undefined ? graph.span : graph.nodes.find((n) => n.id === reader[0])!.span;
  diagnostics.push(error("weightOperatorUnaccounted", at, opName(first), out, context));
}
