/** The report as plain text (the default of `mnc report`) and as Markdown. */
import type { Report } from "./model.js";
import { bytes, group, markdownTable, percent, shape, textTable, width, type Align } from "./format.js";

const LAYER_HEADER = ["layer", "op", "input", "output", "width", "mult-adds", "weights", "biases", "BN params", "activations"];
const LAYER_ALIGN: Align[] = ["left", "left", "right", "right", "right", "right", "right", "right", "right", "right"];
const TYPE_HEADER = ["type", "mult-adds", "share", "weights", "share"];
const TYPE_ALIGN: Align[] = ["left", "right", "right", "right", "right"];

/** The cells of one layer's row, in LAYER_HEADER order (every format that tabulates layers uses them). */
export function layerCells(l: Report["layers"][number]): string[] {
  return [
    l.name,
    l.layer,
    shape(l.inputShape),
    shape(l.outputShape),
    width(l.width),
    group(l.multAdds),
    group(l.weights),
    group(l.biases),
    group(l.bnParams),
    group(l.activationBytes),
  ];
}

function layerRows(r: Report): string[][] {
  return r.layers.map(layerCells);
}

function totalRow(r: Report): string[] {
  const t = r.totals;
  return ["total", "", "", "", "", group(t.multAdds), group(t.weights), group(t.biases), group(t.bnParams), ""];
}

function typeRows(r: Report): string[][] {
  return [
    ...r.byType.map((t) => [t.label, group(t.multAdds), percent(t.multAddsShare), group(t.weights), percent(t.weightsShare)]),
    ["total", group(r.totals.multAdds), percent(100), group(r.totals.weights), percent(100)],
  ];
}

function summary(r: Report): [string, string][] {
  const t = r.totals;
  return [
    ["mult-adds", `${group(t.multAdds)}   (FLOPs = 2 × mult-adds = ${group(t.flops)})`],
    ["weights", group(t.weights)],
    ["biases", group(t.biases)],
    ["params", `${group(t.params)}   (weights + biases, before batch-norm fusion)`],
    ["BN params", `${group(t.bnParams)}   (γ, β, mean, variance per normalised channel)`],
    ["Keras total", `${group(t.kerasTotal)}   (${group(t.kerasTrainable)} trainable, ${group(t.kerasNonTrainable)} non-trainable)`],
    ["deployed params", `${group(t.deployedParams)}   (after batch-norm fusion)`],
    ["weight memory", `float32 ${bytes(t.weightBytesFloat32)}; int8 ${bytes(t.weightBytesInt8)}`],
    ["peak activations", `${bytes(t.peakActivationBytes)} at ${t.peakActivationLayer} (float32, batch 1)`],
  ];
}

function title(r: Report): string {
  return `${r.network} — α ${r.alpha}, input ${shape(r.input)}, output ${shape(r.output)}`;
}

export function reportText(r: Report): string {
  const s = summary(r);
  const keyWidth = Math.max(...s.map(([k]) => k.length));
  return [
    title(r),
    "",
    ...textTable(LAYER_HEADER, [...layerRows(r), totalRow(r)], LAYER_ALIGN),
    "",
    "By layer type (the paper's Table 2)",
    "",
    ...textTable(TYPE_HEADER, typeRows(r), TYPE_ALIGN),
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
  return [
    `# ${title(r)}`,
    "",
    "## Totals",
    "",
    ...summary(r).map(([k, v]) => `- **${k}**: ${v}`),
    "",
    "## By layer type (the paper's Table 2)",
    "",
    ...markdownTable(TYPE_HEADER, typeRows(r), TYPE_ALIGN),
    "",
    "## Layers",
    "",
    ...markdownTable(LAYER_HEADER, [...layerRows(r), totalRow(r)], LAYER_ALIGN),
    "",
    "## Convention",
    "",
    ...r.convention.map((c) => `- ${c}`),
    "",
  ].join("\n");
}
