/** The report as plain text (the default of `mnc report`) and as Markdown. */
import { formatNumber } from "../../ir/diagnostics.js";
import type { Report, ReportLayer } from "./model.js";
import { bytes, group, markdownTable, percent, shape, textTable, width, type Align } from "./format.js";

type Layer = Report["layers"][number];

interface LayerColumn {
  readonly header: string;
  readonly align: Align;
  readonly cell: (l: Layer) => string;
  /** The column's cell in the total row. */
  readonly total: (r: Report) => string;
  /** Shown only for networks that have the feature (so a network without it reads as it always has). */
  readonly shown?: (r: Report) => boolean;
}

const hasElementwise = (r: Report): boolean => r.layers.some((l) => l.elementwise > 0);

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

const LAYER_COLUMNS: readonly LayerColumn[] = [
  { header: "layer", align: "left", cell: (l) => l.name, total: () => "total" },
  { header: "op", align: "left", cell: (l) => l.layer, total: none },
  { header: "input", align: "right", cell: (l) => shape(l.inputShape), total: none },
  { header: "output", align: "right", cell: (l) => shape(l.outputShape), total: none },
  { header: "width", align: "right", cell: widthCell, total: none },
  { header: "mult-adds", align: "right", cell: (l) => group(l.multAdds), total: (r) => group(r.totals.multAdds) },
  { header: "elementwise", align: "right", cell: (l) => group(l.elementwise), total: (r) => group(r.totals.elementwise), shown: hasElementwise },
  { header: "weights", align: "right", cell: (l) => group(l.weights), total: (r) => group(r.totals.weights) },
  { header: "biases", align: "right", cell: (l) => group(l.biases), total: (r) => group(r.totals.biases) },
  { header: "BN params", align: "right", cell: (l) => group(l.bnParams), total: (r) => group(r.totals.bnParams) },
  { header: "activations", align: "right", cell: (l) => group(l.activationBytes), total: none },
];

/** The per-layer table every format that tabulates layers prints: header, alignment, one row per layer, the total row. */
export function layerTable(r: Report): { header: string[]; align: Align[]; rows: string[][]; total: string[] } {
  const columns = LAYER_COLUMNS.filter((c) => c.shown?.(r) ?? true);
  return {
    header: columns.map((c) => c.header),
    align: columns.map((c) => c.align),
    rows: r.layers.map((l) => columns.map((c) => c.cell(l))),
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
    ...(hasElementwise(r) ? [["elementwise", group(t.elementwise), "residual additions and SE multiplications; not mult-adds"] as [string, string, string]] : []),
    ["weights", group(t.weights), ""],
    ["biases", group(t.biases), ""],
    ["params", group(t.params), "weights + biases, before batch-norm fusion"],
    ["BN params", group(t.bnParams), "γ, β, mean, variance per normalised channel"],
    ["torchvision / Keras trainable", group(t.torchvisionParams), "params + BN γ, β"],
    ["Keras total", group(t.kerasTotal), `${group(t.kerasTrainable)} trainable, ${group(t.kerasNonTrainable)} non-trainable`],
    ["deployed params", group(t.deployedParams), "after batch-norm fusion"],
  ];
}

/** "float32, batch 1" and, when a skip connection adds to the peak, the tensors it keeps live. */
export function peakNote(r: Report): string {
  const also = peakAlsoLive(r);
  return `float32, batch 1${also.length === 0 ? "" : `; also live: ${also.join(", ")}`}`;
}

/** The totals as (figure, value, note) triples, in the text formats' form. */
function summaryRows(r: Report): [string, string, string][] {
  const t = r.totals;
  return [
    ...countRows(r),
    ["weight memory", `float32 ${bytes(t.weightBytesFloat32)}; int8 ${bytes(t.weightBytesInt8)}`, ""],
    ["peak activations", `${bytes(t.peakActivationBytes)} at ${t.peakActivationLayer}`, peakNote(r)],
  ];
}

function summary(r: Report): [string, string][] {
  return summaryRows(r).map(([k, v, note]) => [k, note === "" ? v : k === "peak activations" ? `${v} (${note})` : `${v}   (${note})`]);
}

function title(r: Report): string {
  return `${r.network} — α ${r.alpha}, input ${shape(r.input)}, output ${shape(r.output)}`;
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
