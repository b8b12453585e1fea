/**
 * What a weight file that does not fit looks like, in one diagnostic (MN4011)
 * that comes before the per-layer details: the width, class count,
 * activation, layer count, residual adds and input size the file has where
 * they differ from the network's, and the options that would make them agree.
 *
 * Only what the file shows with confidence is said:
 *
 *   α           when the file's weighted layers line up one for one with the
 *               network's (same kinds, same kernels), and one α makes every
 *               `filters` convolution's channels — by the network's own
 *               filters and rounding rule — equal the file's
 *   classes     the units of the file's classifier (its last weighted
 *               operator: a FULLY_CONNECTED, or a 1x1 CONV_2D on a 1x1 map;
 *               for safetensors the network's fc tensor), against the
 *               network's last fc; the parameter to --set when exactly one
 *               numeric parameter holds the fc's units
 *   activation  TFLite: when every convolution of the file applies the same
 *               activation or none (read as the matcher reads it: fused,
 *               folded operators, quantization ranges), and the network's
 *               layers use one other
 *   layers      TFLite: the number of weighted layers, when it differs (a
 *               safetensors file's missing and extra tensors are named by
 *               MN4003 and MN4004 already)
 *   adds, SE    TFLite: ADDs of two tensors (residual connections), MULs of a
 *               map by a 1x1 gate (squeeze-and-excitation)
 *   input       TFLite: the input tensor's size
 *
 * When the layers do not line up, the file is described by its structure
 * (MobileNetV1-, V2- or V3-style) instead of by the network's name.
 */
import { error, formatNumber, type Diagnostic } from "../ir/diagnostics.js";
import { isWeighted, type Activation, type ConvNode, type Graph, type Node, type WeightedNode, type WidthRounding } from "../ir/graph.js";
import { effectiveWidth, roundChannels } from "../passes/scale-width.js";
import { convActivations } from "./match-tflite.js";
import { outputChannels, type FileGraph, type FileOperator } from "./source.js";
import type { RawTensor } from "./types.js";

/** A weighted layer of the file, in mnc's terms. */
interface FileLayer {
  readonly kind: WeightedNode["op"];
  readonly channels: number;
  /** [kh, kw] of a convolution or depthwise kernel. */
  readonly kernel?: readonly [number, number];
}

/** What a file shows about the network it was made for. */
interface FileFacts {
  /** Weighted layers in order; for a named file, the network's layers the file has tensors for, in the network's order. */
  readonly layers: readonly FileLayer[];
  /** How many weighted layers the file has. */
  readonly count: number;
  /** Whether `layers` corresponds one for one to the network's weighted nodes (a named file: by name). */
  readonly byName: boolean;
  readonly classes?: number;
  /** The one activation (other than linear) the file's convolutions apply; undefined when unknown or mixed. */
  readonly act?: Activation;
  /** Every activation of the file's convolutions, when all are known. */
  readonly acts?: ReadonlySet<Activation>;
  readonly adds?: number;
  readonly gates?: number;
  /** [H, W, C] */
  readonly input?: readonly [number, number, number];
}

/** Width multipliers the published MobileNets use, tried first. */
const COMMON_ALPHAS = [0.25, 0.35, 0.5, 0.75, 1, 1.3, 1.4, 1.5, 2];

// ---------------------------------------------------------------------------
// Reading the file
// ---------------------------------------------------------------------------

/** The facts of a TFLite file. */
function tfliteFacts(graph: Graph, file: FileGraph): FileFacts {
  const weighted = file.operators.filter((o) => o.weights !== undefined);
  const last = weighted[weighted.length - 1];
  const classifier = last !== undefined && isClassifier(file, last) ? last : undefined;
  const layers = weighted.map((o): FileLayer => {
    const k = o.weights!.kernel.shape;
    if (o === classifier) return { kind: "fc", channels: k[0]! };
    if (o.weights!.kind === "fc") return { kind: "fc", channels: k[0]! };
    return { kind: o.weights!.kind, channels: outputChannels(o.weights!), kernel: [k[2]!, k[3]!] };
  });
  const activations = convActivations(graph, file);
  const read = weighted.filter((o) => o !== classifier && o.weights!.kind !== "fc").map((o) => activations.get(o.index));
  const acts = read.every((a) => a !== undefined) ? new Set(read as Activation[]) : undefined;
  const nonlinear = acts === undefined ? [] : [...acts].filter((a) => a !== "linear");
  const shape = file.tensors[file.inputs[0] ?? -1]?.shape;
  const input = shape !== undefined && shape.length === 4 && shape.slice(1).every((d) => d > 0) ? ([shape[1]!, shape[2]!, shape[3]!] as const) : undefined;
  return {
    layers,
    count: weighted.length,
    byName: false,
    ...(classifier === undefined ? {} : { classes: classifier.weights!.kernel.shape[0]! }),
    ...(nonlinear.length === 1 ? { act: nonlinear[0]! } : {}),
    ...(acts === undefined ? {} : { acts }),
    adds: file.operators.filter((o) => o.opcode === "ADD" && o.reads.length === 2).length,
    gates: file.operators.filter((o) => o.opcode === "MUL" && o.reads.length === 2 && isGate(file, o)).length,
    ...(input === undefined ? {} : { input }),
  };
}

/** A FULLY_CONNECTED, or a 1x1 CONV_2D on a 1x1 map. */
function isClassifier(file: FileGraph, op: FileOperator): boolean {
  const w = op.weights!;
  if (w.kind === "fc") return true;
  if (w.kind !== "conv" || w.kernel.shape[2] !== 1 || w.kernel.shape[3] !== 1) return false;
  const s = file.tensors[op.reads[0] ?? -1]?.shape;
  return s !== undefined && s.length === 4 && s[1] === 1 && s[2] === 1;
}

/** A MUL of an H×W map (H·W > 1) by a 1×1 gate: squeeze-and-excitation (not h-swish's x · hsigmoid(x)). */
function isGate(file: FileGraph, op: FileOperator): boolean {
  const area = (t: number): number | undefined => {
    const s = file.tensors[t]?.shape;
    return s !== undefined && s.length === 4 && s[1]! > 0 && s[2]! > 0 ? s[1]! * s[2]! : undefined;
  };
  const [a, b] = op.reads.map(area);
  return a !== undefined && b !== undefined && Math.min(a, b) === 1 && Math.max(a, b) > 1;
}

/** The facts of a safetensors file under mnc's names. */
function namedFacts(graph: Graph, tensors: ReadonlyMap<string, RawTensor>): FileFacts {
  const prefixes = new Set([...tensors.keys()].filter((k) => k.endsWith(".weight")).map((k) => k.slice(0, -".weight".length)));
  const weighted = graph.nodes.filter(isWeighted);
  const layers: FileLayer[] = [];
  for (const n of weighted) {
    const s = tensors.get(`${n.id}.weight`)?.shape;
    if (s === undefined || s.length !== (n.op === "fc" ? 2 : 4)) break;
    layers.push(n.op === "fc" ? { kind: "fc", channels: s[0]! } : { kind: n.op, channels: s[n.op === "deconv" ? 1 : 0]!, kernel: [s[2]!, s[3]!] });
  }
  const fc = lastFc(graph);
  const fcShape = fc === undefined ? undefined : tensors.get(`${fc.id}.weight`)?.shape;
  return { layers, count: prefixes.size, byName: true, ...(fcShape !== undefined && fcShape.length === 2 ? { classes: fcShape[0]! } : {}) };
}

// ---------------------------------------------------------------------------
// Comparing with the network
// ---------------------------------------------------------------------------

function lastFc(graph: Graph): Extract<Node, { op: "fc" }> | undefined {
  const weighted = graph.nodes.filter(isWeighted);
  const last = weighted[weighted.length - 1];
  return last?.op === "fc" ? last : undefined;
}

/** Whether the file's layers line up one for one with the network's (same kinds, same kernels), with as many adds and gates. */
function lineUp(weighted: readonly WeightedNode[], adds: number, gates: number, facts: FileFacts): boolean {
  if (facts.count !== weighted.length || facts.layers.length !== weighted.length) return false;
  if (facts.adds !== undefined && facts.adds !== adds) return false;
  if (facts.gates !== undefined && facts.gates !== gates) return false;
  return weighted.every((n, i) => {
    const f = facts.layers[i]!;
    if (f.kind !== n.op) return false;
    return n.op === "fc" || (f.kernel !== undefined && f.kernel[0] === n.attrs.kernel[0] && f.kernel[1] === n.attrs.kernel[1]);
  });
}

/** The α that gives every `filters` convolution the file's channels, when the network's own does not and exactly one common or measured value does. */
function inferAlpha(graph: Graph, rounding: WidthRounding, weighted: readonly WeightedNode[], facts: FileFacts): number | undefined {
  const pairs: { node: ConvNode; channels: number }[] = [];
  weighted.forEach((n, i) => {
    if (n.op === "conv" && n.attrs.size.kind === "filters" && n.attrs.size.width.alpha !== "fixed") pairs.push({ node: n, channels: facts.layers[i]!.channels });
  });
  if (pairs.length === 0) return undefined;
  const fits = (alpha: number): boolean =>
    pairs.every(({ node, channels }) => {
      const size = node.attrs.size as Extract<ConvNode["attrs"]["size"], { kind: "filters" }>;
      return roundChannels(size.filters * effectiveWidth(alpha, size), rounding) === channels;
    });
  if (fits(graph.alpha)) return undefined;
  const common = COMMON_ALPHAS.filter(fits);
  // The widest layer measures α most finely.
  const widest = pairs.reduce((a, b) => (b.channels > a.channels ? b : a));
  const size = widest.node.attrs.size as Extract<ConvNode["attrs"]["size"], { kind: "filters" }>;
  const measured = widest.channels / (size.filters * size.width.scale);
  if (common.length > 0) return common.reduce((a, b) => (Math.abs(b - measured) < Math.abs(a - measured) ? b : a));
  const rounded = Number(measured.toPrecision(3));
  return fits(rounded) ? rounded : undefined;
}

/** MobileNetV1-, V2- or V3-style, from what the file's layers do. */
function family(facts: FileFacts): string {
  const dw = facts.layers.some((l) => l.kind === "depthwise");
  if ((facts.gates ?? 0) > 0 || facts.acts?.has("hswish") === true) return "a MobileNetV3-style network";
  if ((facts.adds ?? 0) > 0 && dw) return "a MobileNetV2-style network";
  if (dw && facts.adds === 0) return "a MobileNetV1-style network";
  return "a network";
}

function list(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

const count = (n: number): string => (n === 0 ? "no" : String(n));

/** The parameter holding `value`, when exactly one does. */
function parameterWith(graph: Graph, value: number | string): string | undefined {
  const found = graph.params.filter((p) => (typeof value === "number" ? p.value.kind === "number" && p.value.value === value : p.value.kind === "word" && p.value.word === value));
  return found.length === 1 ? found[0]!.name : undefined;
}

/** One summary of how the file differs from the network, or undefined when it shows no difference mnc can name. */
function summarize(graph: Graph, rounding: WidthRounding, facts: FileFacts): Diagnostic | undefined {
  const weighted = graph.nodes.filter(isWeighted);
  const adds = graph.nodes.filter((n) => n.op === "add").length;
  const gates = graph.nodes.filter((n) => n.op === "mul").length;
  const aligned = lineUp(weighted, adds, gates, facts);
  const traits: string[] = [];
  const fixes: string[] = [];
  let head = aligned ? `'${graph.name}'` : family(facts);

  const alpha = aligned ? inferAlpha(graph, rounding, weighted, facts) : undefined;
  if (alpha !== undefined) {
    head += ` at α ${formatNumber(alpha)}`;
    fixes.push(`--alpha ${formatNumber(alpha)}`);
  }
  if (facts.input !== undefined) {
    const input = graph.nodes.find((n) => n.op === "input")?.shape;
    const [h, w, c] = facts.input;
    if (input !== undefined && (input[0] !== h || input[1] !== w || input[2] !== c)) {
      traits.push(`a ${h}x${w}x${c} input (the network's is ${input.join("x")})`);
      if (h === w && input[2] === c) fixes.push(`--resolution ${h}`);
    }
  }
  const fc = lastFc(graph);
  if (fc !== undefined && facts.classes !== undefined && facts.classes !== fc.attrs.units) {
    traits.push(`${facts.classes} classes`);
    const p = parameterWith(graph, fc.attrs.units);
    fixes.push(p === undefined ? `\`fc ${facts.classes}\` as the last layer` : `--set ${p}=${facts.classes}`);
  }
  const acts = new Set<Activation>(weighted.flatMap((n) => (n.op === "fc" || n.attrs.act === "linear" ? [] : [n.attrs.act])));
  if (facts.act !== undefined && acts.size === 1 && !acts.has(facts.act)) {
    traits.push(`${facts.act} activations`);
    const p = parameterWith(graph, [...acts][0]!);
    fixes.push(p === undefined ? `act=${facts.act} (\`defaults act=${facts.act}\`)` : `--set ${p}=${facts.act}`);
  }
  // A named file's missing and extra layers are already named one by one (MN4003, MN4004).
  if (facts.count !== weighted.length && !facts.byName) {
    traits.push(`${facts.count} weighted layer${facts.count === 1 ? "" : "s"} (the network has ${weighted.length})`);
  }
  if (facts.adds !== undefined) {
    if (facts.adds !== adds) traits.push(`${count(facts.adds)} residual add${facts.adds === 1 ? "" : "s"} (the network has ${adds === 0 ? "none" : adds})`);
  }
  if (facts.gates !== undefined) {
    if (facts.gates !== gates) traits.push(`${count(facts.gates)} squeeze-and-excitation gate${facts.gates === 1 ? "" : "s"} (the network has ${gates === 0 ? "none" : gates})`);
  }
  if (alpha === undefined && traits.length === 0) return undefined;
  const description = traits.length === 0 ? head : `${head} with ${list(traits)}`;
  return error("weightFileSummary", graph.span, description, fixes.length === 0 ? "" : list(fixes));
}

/** The summary for a TFLite file (see the file comment). */
export function summarizeTflite(graph: Graph, rounding: WidthRounding, file: FileGraph): Diagnostic | undefined {
  return summarize(graph, rounding, tfliteFacts(graph, file));
}

/** The summary for a safetensors file under mnc's names. */
export function summarizeNamed(graph: Graph, rounding: WidthRounding, tensors: ReadonlyMap<string, RawTensor>): Diagnostic | undefined {
  return summarize(graph, rounding, namedFacts(graph, tensors));
}
