/** The report as plain text (the default of `mnc report`) and as Markdown. */
import { formatNumber } from "../../ir/diagnostics.js";
import type { Report, ReportLayer } from "./model.js";
import { bytes, group, markdownTable, percent, shape, textTable, width, type Align } from "./format.js";

type Layer = Report["layers"][number];

interface LayerColumn {
  readonly header: string;
  readonly align: Align;
  /** A layer's cell; `from` holds every row's inputs cell (see fromCells). */
  readonly cell: (l: Layer, i: number, from: readonly string[]) => string;
  /** The column's cell in the total row. */
  readonly total: (r: Report) => string;
  /** Shown only for networks that have the feature (so a network without it reads as it always has). */
  readonly shown?: (r: Report) => boolean;
}

const hasElementwise = (r: Report): boolean => r.layers.some((l) => l.elementwise > 0);
/** Whether the report carries int8 memory (a quantized graph, or `--int8`). */
export const hasInt8 = (r: Report): boolean => r.int8 !== undefined;

/** A channel ratio: a decimal where it has a short one (`6`, `0.25`, `4.5`), else the fraction (`11/3`). */
export function ratioText(ratio: NonNullable<ReportLayer["ratio"]>): string {
  let d = ratio.den;
  for (const p of [2, 5]) while (Number.isInteger(d) && d % p === 0) d /= p;
  return d === 1 ? formatNumber(ratio.num / ratio.den) : `${formatNumber(ratio.num)}/${formatNumber(ratio.den)}`;
}

/** The width cell: the multiplier, or `×6` (the ratio of another tensor's channels) for an expansion or an SE convolution. */
export function widthCell(l: Layer): string {
  return l.ratio === null ? width(l.width) : `×${ratioText(l.ratio)}`;
}

const none = (): string => "";

/** Whether a layer reads just the row before it (the input reads nothing); such a row's inputs go without saying. */
function readsPrevious(r: Report, i: number): boolean {
  const inputs = r.layers[i]!.inputs;
  return inputs.length === 0 || (inputs.length === 1 && inputs[0] === r.layers[i - 1]?.name);
}

/**
 * Whether the report shows each layer's inputs: only for a graph, where some
 * layer reads something other than the row before it that its op does not
 * already say — a residual connection's add and an SE block's scaling say it
 * in their op column, so a chain of blocks (MobileNetV2, V3) reads as it always has.
 */
export function showsInputs(r: Report): boolean {
  return r.layers.some((l, i) => !readsPrevious(r, i) && !(l.op === "add" && l.layer.startsWith("add (residual)")) && !(l.op === "mul" && l.se));
}

/** Per layer, the inputs a reader needs to be told: every input of a layer that reads more than, or other than, the row before it; else none. */
export function shownInputs(r: Report): (readonly string[] | null)[] {
  return r.layers.map((l, i) => (readsPrevious(r, i) ? null : l.inputs));
}

/** The `from` cell: the inputs, comma-separated, where they add information. */
const fromCells = (r: Report): string[] => shownInputs(r).map((inputs) => (inputs === null ? "" : inputs.join(", ")));

const LAYER_COLUMNS: readonly LayerColumn[] = [
  { header: "layer", align: "left", cell: (l) => l.name, total: () => "total" },
  { header: "op", align: "left", cell: (l) => l.layer, total: none },
  { header: "from", align: "left", cell: (_l, i, from) => from[i]!, total: none, shown: showsInputs },
  { header: "input", align: "right", cell: (l) => shape(l.inputShape), total: none },
  { header: "output", align: "right", cell: (l) => shape(l.outputShape), total: none },
  { header: "width", align: "right", cell: widthCell, total: none },
  { header: "mult-adds", align: "right", cell: (l) => group(l.multAdds), total: (r) => group(r.totals.multAdds) },
  { header: "elementwise", align: "right", cell: (l) => group(l.elementwise), total: (r) => group(r.totals.elementwise), shown: hasElementwise },
  { header: "weights", align: "right", cell: (l) => group(l.weights), total: (r) => group(r.totals.weights) },
  { header: "biases", align: "right", cell: (l) => group(l.biases), total: (r) => group(r.totals.biases) },
  { header: "BN params", align: "right", cell: (l) => group(l.bnParams), total: (r) => group(r.totals.bnParams) },
  { header: "activations", align: "right", cell: (l) => group(l.activationBytes), total: none },
  { header: "int8 weights", align: "right", cell: (l) => group(l.int8?.weightBytes ?? 0), total: (r) => group(r.int8?.weightBytes ?? 0), shown: hasInt8 },
  { header: "int8 live", align: "right", cell: (l) => group(l.int8?.liveBytes ?? 0), total: (r) => group(r.int8?.peakActivationBytes ?? 0), shown: hasInt8 },
];

/** The per-layer table every format that tabulates layers prints: header, alignment, one row per layer, the total row. */
export function layerTable(r: Report): { header: string[]; align: Align[]; rows: string[][]; total: string[] } {
  const columns = LAYER_COLUMNS.filter((c) => c.shown?.(r) ?? true);
  const from = fromCells(r);
  return {
    header: columns.map((c) => c.header),
    align: columns.map((c) => c.align),
    rows: r.layers.map((l, i) => columns.map((c) => c.cell(l, i, from))),
    total: columns.map((c) => c.total(r)),
  };
}

/** The by-type table (the paper's Table 2; an elementwise column when the network has add or mul layers). */
export function typeTable(r: Report): { header: string[]; align: Align[]; rows: string[][]; total: string[] } {
  const ew = hasElementwise(r);
  const pick = <T>(cells: readonly T[]): T[] => (ew ? [...cells] : [...cells.slice(0, 3), ...cells.slice(4)]);
  return {
    header: pick(["type", "mult-adds", "share", "elementwise", "weights", "share"]),
    align: pick<Align>(["left", "right", "right", "right", "right", "right"]),
    rows: r.byType.map((t) => pick([t.label, group(t.multAdds), percent(t.multAddsShare), group(t.elementwise), group(t.weights), percent(t.weightsShare)])),
    total: pick(["total", group(r.totals.multAdds), percent(100), group(r.totals.elementwise), group(r.totals.weights), percent(100)]),
  };
}

/** The tensors live at the peak besides the peak layer's own inputs and output (a residual connection's input), or none. */
export function peakAlsoLive(r: Report): string[] {
  const t = r.totals;
  const layer = r.layers.find((l) => l.name === t.peakActivationLayer);
  const own = new Set([t.peakActivationLayer, ...(layer?.inputs ?? [])]);
  return t.peakActivationLive.filter((id) => !own.has(id));
}

/** The counts among the totals as (figure, value, note) triples; every format prints these, then its own memory rows. */
export function countRows(r: Report): [string, string, string][] {
  const t = r.totals;
  return [
    ["mult-adds", group(t.multAdds), `FLOPs = 2 × mult-adds = ${group(t.flops)}`],
    ...(t.seMultAdds > 0
      ? [["of which SE", group(t.seMultAdds), `${percent((100 * t.seMultAdds) / t.multAdds)} of mult-adds: the squeeze-and-excitation convolutions, counted as Conv 1x1`] as [string, string, string]]
      : []),
    ...(hasElementwise(r) ? [["elementwise", group(t.elementwise), elementwiseNote(r)] as [string, string, string]] : []),
    ["weights", group(t.weights), ""],
    ["biases", group(t.biases), ""],
    ["params", group(t.params), "weights + biases, before batch-norm fusion"],
    ["BN params", group(t.bnParams), "γ, β, mean, variance per normalised channel"],
    ["torchvision / Keras trainable", group(t.torchvisionParams), "params + BN γ, β"],
    ["Keras total", group(t.kerasTotal), `${group(t.kerasTrainable)} trainable, ${group(t.kerasNonTrainable)} non-trainable`],
    ["deployed params", group(t.deployedParams), "after batch-norm fusion"],
  ];
}

/** Elementwise ops in the order the notes name them. */
const ELEMENTWISE_OPS = ["add", "mul", "concat", "resize", "activation", "argmax"] as const;

/** The ops of a graph's elementwise layers other than residual adds and SE scaling (none for a chain of blocks). */
export function graphElementwiseOps(r: Report): ReadonlySet<Layer["op"]> {
  const plain = (l: Layer): boolean => (l.op === "add" && l.layer.startsWith("add (residual)")) || (l.op === "mul" && l.se);
  return new Set(r.layers.filter((l) => l.type === "elementwise" && !plain(l)).map((l) => l.op));
}

/**
 * What the elementwise total counts: residual additions and SE multiplications,
 * or, for a graph with other elementwise layers, every such layer's values.
 */
export function elementwiseNote(r: Report): string {
  const graphOps = graphElementwiseOps(r);
  if (graphOps.size === 0) return "residual additions and SE multiplications; not mult-adds";
  const ops = ELEMENTWISE_OPS.filter((op) => op === "add" || op === "mul" || graphOps.has(op)).map((op) => (op === "activation" ? "standalone activation" : op));
  const list = `${ops.slice(0, -1).join(", ")} and ${ops.at(-1)!}`;
  return `one per value written by ${list} layers${graphOps.has("argmax") ? " (argmax: per value compared)" : ""}; not mult-adds`;
}

/** "float32, batch 1" and, when a skip connection adds to the peak, the tensors it keeps live. */
export function peakNote(r: Report): string {
  const also = peakAlsoLive(r);
  return `float32, batch 1${also.length === 0 ? "" : `; also live: ${also.join(", ")}`}`;
}

/** The int8 memory rows (figure, value, note), for a report that has them; none otherwise. */
export function int8Rows(r: Report): [string, string, string][] {
  const q = r.int8;
  if (q === undefined) return [];
  const layer = r.layers.find((l) => l.name === q.peakActivationLayer);
  const own = new Set([q.peakActivationLayer, ...(layer?.inputs ?? [])]);
  const also = q.peakActivationLive.filter((id) => !own.has(id));
  return [
    [
      "int8 weight memory",
      bytes(q.weightBytes),
      `${q.basis === "quantized" ? "as stored" : "after 8-bit per-channel quantization"}: kernels ${group(q.kernelBytes)} B + int32 biases ${group(q.biasBytes)} B + scales and zero points ${group(q.quantBytes)} B`,
    ],
    ["int8 peak activations", `${bytes(q.peakActivationBytes)} at ${q.peakActivationLayer}`, `1 byte per value, batch 1: the least TensorFlow Lite Micro arena${also.length === 0 ? "" : `; also live: ${also.join(", ")}`}`],
  ];
}

/** The totals as (figure, value, note) triples, in the text formats' form. */
function summaryRows(r: Report): [string, string, string][] {
  const t = r.totals;
  return [
    ...countRows(r),
    ["weight memory", `float32 ${bytes(t.weightBytesFloat32)}; int8 ${bytes(t.weightBytesInt8)}`, ""],
    ["peak activations", `${bytes(t.peakActivationBytes)} at ${t.peakActivationLayer}`, peakNote(r)],
    ...int8Rows(r),
  ];
}

function summary(r: Report): [string, string][] {
  return summaryRows(r).map(([k, v, note]) => [k, note === "" ? v : k === "peak activations" || k === "int8 peak activations" ? `${v} (${note})` : `${v}   (${note})`]);
}

/** `output 224x224x1`, or with several outputs `outputs features 128x128x16, mask 256x256x1`. */
export function outputsText(r: Report): string {
  return r.outputs === undefined ? `output ${shape(r.output)}` : `outputs ${r.outputs.map((o) => `${o.name} ${shape(o.shape)}`).join(", ")}`;
}

function title(r: Report): string {
  return `${r.network} — α ${r.alpha}, input ${shape(r.input)}, ${outputsText(r)}`;
}

export function reportText(r: Report): string {
  const s = summary(r);
  const keyWidth = Math.max(...s.map(([k]) => k.length));
  const layers = layerTable(r);
  const types = typeTable(r);
  return [
    title(r),
    "",
    ...textTable(layers.header, [...layers.rows, layers.total], layers.align),
    "",
    "By layer type (the paper's Table 2)",
    "",
    ...textTable(types.header, [...types.rows, types.total], types.align),
    "",
    "Totals",
    "",
    ...s.map(([k, v]) => `  ${k.padEnd(keyWidth)}  ${v}`),
    "",
    "Convention",
    "",
    ...r.convention.map((c) => `  - ${c}`),
    "",
  ].join("\n");
}

export function reportMarkdown(r: Report): string {
  const layers = layerTable(r);
  const types = typeTable(r);
  return [
    `# ${title(r)}`,
    "",
    "## Totals",
    "",
    ...summary(r).map(([k, v]) => `- **${k}**: ${v}`),
    "",
    "## By layer type (the paper's Table 2)",
    "",
    ...markdownTable(types.header, [...types.rows, types.total], types.align),
    "",
    "## Layers",
    "",
    ...markdownTable(layers.header, [...layers.rows, layers.total], layers.align),
    "",
    "## Convention",
    "",
    ...r.convention.map((c) => `- ${c}`),
    "",
  ].join("\n");
}
