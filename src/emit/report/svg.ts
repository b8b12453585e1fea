/**
 * The report's charts as standalone SVG: per-layer bars, the by-type shares
 * (the paper's Table 2) and the α × resolution sweep. Pure functions of the
 * data: no scripts, no external fonts or images, no ids, no dates, so the same
 * report gives the same bytes. Every string that comes from the report is
 * escaped (see `el`), and the markup is well-formed XML, so a chart can be
 * saved as a .svg file or inlined in the HTML page (html.ts) as it is.
 *
 * Colours: text, axes and grid use `currentColor`, and each chart paints its
 * own background; a small style sheet switches both for a dark colour scheme.
 * Bars use mid-tone colours that read on either background.
 */
import type { CostCategory } from "../../ir/ops/index.js";
import type { Report, ReportLayer } from "./model.js";
import type { Sweep, SweepPoint } from "./sweep.js";
import { group, percent, short } from "./format.js";
import { graphElementwiseOps } from "./text.js";

// ---------------------------------------------------------------------------
// Markup that escapes by construction (shared with html.ts)

/** Escapes `& < > " '` for text and attribute values alike (HTML and XML). */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"));
}

/** Markup that is already escaped; anything else given to `el` is text and gets escaped. */
export interface Markup {
  readonly markup: string;
}

/** Trusted markup (a literal of this module, or the output of a chart function). */
export function raw(markup: string): Markup {
  return { markup };
}

export type Child = Markup | string | number | null | undefined | false;
export type Attrs = Readonly<Record<string, string | number | null | undefined | false>>;

/**
 * One element. Attribute values and string children are escaped; `null`,
 * `undefined` and `false` are left out. `selfClose` writes `<x/>` when there are
 * no children (SVG); otherwise an explicit end tag.
 */
export function el(name: string, attrs: Attrs = {}, children: readonly Child[] = [], selfClose = true): Markup {
  let a = "";
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    a += ` ${k}="${escapeXml(typeof v === "number" ? num(v) : v)}"`;
  }
  const body = children.map(child).join("");
  if (body === "" && selfClose) return raw(`<${name}${a}/>`);
  return raw(`<${name}${a}>${body}</${name}>`);
}

function child(c: Child): string {
  if (c === null || c === undefined || c === false) return "";
  if (typeof c === "string") return escapeXml(c);
  if (typeof c === "number") return num(c);
  return c.markup;
}

/** A coordinate: at most two decimals, no `-0`, never NaN. */
export function num(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`not a finite coordinate: ${x}`);
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

// ---------------------------------------------------------------------------
// Shared pieces

const FONT = 12;
export const FONT_FAMILY = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";
const PAD = 16;

export const LIGHT = { fg: "#1f2328", bg: "#ffffff" } as const;
export const DARK = { fg: "#e6edf3", bg: "#0d1117" } as const;
/** The chart's own style sheet; identical in every chart, so inlining several is harmless. */
const STYLE =
  `.mnc-chart{color:${LIGHT.fg}}.mnc-chart .mnc-bg{fill:${LIGHT.bg}}` +
  `@media (prefers-color-scheme:dark){.mnc-chart{color:${DARK.fg}}.mnc-chart .mnc-bg{fill:${DARK.bg}}}`;

/** Colours of the Table 2 rows (and `none`), mid-tones that carry white text. */
export const TYPE_COLORS: Readonly<Record<CostCategory, string>> = {
  conv1x1: "#3b6ea5",
  depthwise: "#c8641a",
  conv: "#3d8b37",
  fc: "#8e5a9b",
  elementwise: "#a5493b",
  none: "#7a7a7a",
};

/** Series colours for the sweep, one per α. */
const SERIES = ["#3b6ea5", "#c8641a", "#3d8b37", "#8e5a9b", "#b8423f", "#2a8a8a", "#8a6d1f", "#5d5d9e"] as const;

/**
 * The advance of a string in a sans-serif font, estimated on the generous side
 * from character classes (there are no font metrics here): enough to lay out
 * labels without overlaps, not to the pixel.
 */
export function textWidth(s: string, size = FONT): number {
  let em = 0;
  for (const c of s) {
    if (/[ .,:;'!|()[\]ijlIft1-]/.test(c)) em += 0.34;
    else if (/[0-9]/.test(c)) em += 0.58;
    else if (/[mwMW%@]/.test(c)) em += 0.9;
    else if (/[A-Z]/.test(c)) em += 0.7;
    else em += 0.58;
  }
  return em * size;
}

function svg(width: number, height: number, title: string, body: readonly Child[]): string {
  return el(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      class: "mnc-chart",
      width,
      height,
      viewBox: `0 0 ${num(width)} ${num(height)}`,
      role: "img",
      "font-family": FONT_FAMILY,
      "font-size": FONT,
      fill: "currentColor",
    },
    [el("title", {}, [title]), el("style", {}, [raw(STYLE)]), el("rect", { class: "mnc-bg", width, height }), ...body],
  ).markup;
}

/** 50.00 M → 50 M, 2.50 M → 2.5 M: a tick label from the report's `short`. */
function tickLabel(v: number): string {
  return short(v).replace(/\.?0+ /, " ");
}

/** 0, step, 2·step, … ≥ max, with step 1, 2, 2.5 or 5 × 10^k. */
function linearTicks(max: number, target = 6): { ticks: number[]; top: number } {
  if (!(max > 0)) return { ticks: [0, 1], top: 1 };
  const rough = max / target;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const norm = rough / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  const n = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let i = 0; i <= n; i++) ticks.push(Number((i * step).toPrecision(12)));
  return { ticks, top: ticks[ticks.length - 1]! };
}

/** 1, 2, 5 × 10^k inside [lo, hi]: denser when the range spans about a decade, sparser over many. */
function logTicks(lo: number, hi: number): number[] {
  const decades = Math.log10(hi / lo);
  const mantissas = decades > 5 ? [1] : decades > 3 ? [1, 3] : decades > 1.5 ? [1, 2, 5] : [1, 1.5, 2, 3, 5, 7];
  const ticks: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of mantissas) {
      const v = Number((m * 10 ** k).toPrecision(12));
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

function legendRow(x: number, y: number, items: readonly { color: string; label: string }[], className: string): { markup: Markup[]; width: number } {
  const out: Markup[] = [];
  let cx = x;
  for (const it of items) {
    out.push(
      el("g", { class: className }, [
        el("rect", { x: cx, y: y - 10, width: 12, height: 12, rx: 2, fill: it.color }),
        el("text", { x: cx + 17, y }, [it.label]),
      ]),
    );
    cx += 17 + textWidth(it.label) + 20;
  }
  return { markup: out, width: cx - x };
}

function typeLabel(report: Report, type: CostCategory): string {
  if (type === "none") return "no weights";
  return report.byType.find((t) => t.type === type)?.label ?? type;
}

// ---------------------------------------------------------------------------
// Per-layer bars

export type LayerMetric = "multAdds" | "params" | "elementwise";

export interface LayerBarChartOptions {
  /** Overall width in px (default 900). */
  readonly width?: number;
  /** Chart every layer, including those with no weights and a zero value (default false). */
  readonly all?: boolean;
  /** Replaces the default title (`<network> — mult-adds per layer`). */
  readonly title?: string;
}

const METRIC_NAMES: Readonly<Record<LayerMetric, string>> = { multAdds: "mult-adds", params: "params (weights + biases)", elementwise: "elementwise operations" };

/** Which layers a bar chart shows by default, and how its subtitle says so. */
const METRIC_LAYERS: Readonly<Record<LayerMetric, { readonly shows: (l: ReportLayer) => boolean; readonly which: (r: Report) => string }>> = {
  multAdds: { shows: (l) => l.weights > 0 || l.multAdds > 0, which: () => "layers with weights" },
  params: { shows: (l) => l.weights > 0 || l.params > 0, which: () => "layers with weights" },
  // A graph's other elementwise layers (skips, gates, concats, resizes) are charted too, and said so.
  elementwise: { shows: (l) => l.elementwise > 0, which: (r) => (graphElementwiseOps(r).size === 0 ? "residual adds and SE multiplies" : "layers with elementwise work") },
};

/** The layers a bar chart shows: by default those with weights or a non-zero value (elementwise: the layers that have some). */
export function chartedLayers(report: Report, metric: LayerMetric, all = false): readonly ReportLayer[] {
  return all ? report.layers : report.layers.filter(METRIC_LAYERS[metric].shows);
}

/**
 * One horizontal bar per layer, in network order, labelled with the layer's
 * name and its exact value, coloured by its Table 2 row; a linear value axis
 * with ticks below. By default only layers that have weights (or a non-zero
 * value) are charted — input, pooling, softmax and dropout cost nothing and are
 * left out; `options.all` charts every layer. Each bar is a
 * `<rect class="bar" data-layer="…">` with a tooltip.
 */
export function layerBarChart(report: Report, metric: LayerMetric, options: LayerBarChartOptions = {}): string {
  const layers = chartedLayers(report, metric, options.all ?? false);
  const width = options.width ?? 900;
  const name = METRIC_NAMES[metric];
  const title = options.title ?? `${report.network} — ${name} per layer`;
  const values = layers.map((l) => l[metric]);
  const { ticks, top: axisTop } = linearTicks(Math.max(0, ...values));

  const rowH = 20;
  const barH = 13;
  const labelW = Math.max(40, ...layers.map((l) => textWidth(l.name))) + 10;
  const valueW = Math.max(...values.map((v) => textWidth(group(v))), textWidth(tickLabel(axisTop)) / 2) + 12;
  const plotX = PAD + labelW;
  const plotW = Math.max(100, width - plotX - valueW - PAD);
  const legendY = PAD + 56;
  const plotY = legendY + 14;
  const plotH = Math.max(1, layers.length) * rowH;
  const height = plotY + plotH + 52 + PAD;
  const scale = (v: number): number => (plotW * v) / axisTop;

  const types = [...new Set(layers.map((l) => l.type))].sort((a, b) => TYPE_RANK[a] - TYPE_RANK[b]);
  const legend = legendRow(plotX, legendY, types.map((t) => ({ color: TYPE_COLORS[t], label: typeLabel(report, t) })), "legend");

  const grid = ticks.map((t) =>
    el("g", { class: "tick" }, [
      el("line", { x1: plotX + scale(t), y1: plotY, x2: plotX + scale(t), y2: plotY + plotH + 4, stroke: "currentColor", "stroke-opacity": t === 0 ? 0.6 : 0.15 }),
      el("text", { x: plotX + scale(t), y: plotY + plotH + 18, "text-anchor": "middle", "fill-opacity": 0.8 }, [tickLabel(t)]),
    ]),
  );
  const rows = layers.map((l, i) => {
    const y = plotY + i * rowH;
    const v = l[metric];
    const w = scale(v);
    return el("g", { class: "row" }, [
      el("text", { x: plotX - 8, y: y + rowH / 2 + 4, "text-anchor": "end" }, [l.name]),
      el("rect", { class: "bar", "data-layer": l.name, x: plotX, y: y + (rowH - barH) / 2, width: w, height: barH, fill: TYPE_COLORS[l.type] }, [
        el("title", {}, [`${l.name} (${l.layer}): ${group(v)} ${name}`]),
      ]),
      el("text", { x: plotX + w + 5, y: y + rowH / 2 + 4, "fill-opacity": 0.85 }, [group(v)]),
    ]);
  });
  return svg(width, height, title, [
    el("text", { x: PAD, y: PAD + 14, "font-size": 15, "font-weight": 600 }, [title]),
    el("text", { x: PAD, y: PAD + 32, "fill-opacity": 0.7 }, [
      `${options.all ? "every layer" : METRIC_LAYERS[metric].which(report)}; coloured by type (the paper's Table 2)`,
    ]),
    ...legend.markup,
    ...grid,
    ...rows,
    el("text", { x: plotX + plotW / 2, y: plotY + plotH + 40, "text-anchor": "middle", "font-weight": 600 }, [name]),
  ]);
}

/** The legend's order of types (a Record, so that a new type is a compile error until it is placed). */
const TYPE_RANK: Readonly<Record<CostCategory, number>> = { conv1x1: 0, depthwise: 1, conv: 2, fc: 3, elementwise: 4, none: 5 };

// ---------------------------------------------------------------------------
// The graph: layers in order, and the inputs that are not the row above

/** A connection drawn in the gutter: from the layer at row `from` to the one at row `to`, in lane `lane`. */
interface Skip {
  readonly from: number;
  readonly to: number;
  readonly lane: number;
}

/**
 * Lanes for the connections that skip rows, so that no two that share a row
 * share a lane (nor meet end to start, which would read as one line through
 * the row): each, longest span first within its start, takes the lowest lane
 * free over its rows (interval colouring; deterministic).
 */
function skipLanes(edges: readonly { from: number; to: number }[]): Skip[] {
  const sorted = [...edges].sort((a, b) => a.from - b.from || b.to - a.to);
  const busyUntil: number[] = [];
  return sorted.map((e) => {
    let lane = busyUntil.findIndex((end) => end < e.from);
    if (lane < 0) lane = busyUntil.length;
    busyUntil[lane] = e.to;
    return { ...e, lane };
  });
}

/**
 * The network as a graph, one row per layer in network order — a dot
 * coloured by its Table 2 row, its name, op and output shape — with a line
 * down the spine where a layer reads the row above it, and a connection in the
 * gutter on the left for every other input it reads (a skip, a concatenation's
 * operand, a `from=` branch, a residual add's input, an SE scale's input).
 * Each connection is a `<path class="edge" data-from="…" data-to="…">`, each
 * layer a `<g class="node" data-layer="…">`.
 */
export function layerGraphChart(report: Report, options: { readonly width?: number } = {}): string {
  const layers = report.layers;
  const title = `${report.network} — layers and their inputs`;
  const rowH = 18;
  const laneW = 9;
  const index = new Map(layers.map((l, i) => [l.name, i]));
  const spine: number[] = [];
  const edges: { from: number; to: number }[] = [];
  layers.forEach((l, i) => {
    for (const id of l.inputs) {
      const from = index.get(id);
      if (from === undefined) continue;
      if (from === i - 1) spine.push(i);
      else edges.push({ from, to: i });
    }
  });
  const skips = skipLanes(edges);
  const lanes = Math.max(0, ...skips.map((e) => e.lane + 1));
  const plotY = PAD + 40;
  const spineX = PAD + 8 + lanes * laneW + 10;
  const labelX = spineX + 12;
  const nameW = Math.max(40, ...layers.map((l) => textWidth(l.name))) + 14;
  const opW = Math.max(30, ...layers.map((l) => textWidth(l.layer))) + 14;
  const shapeW = Math.max(...layers.map((l) => textWidth(l.outputShape.join("x"))));
  const subtitle = "one row per layer; a line on the left joins a layer to each input that is not the row above it";
  const width = Math.max(options.width ?? 0, labelX + nameW + opW + shapeW + PAD, textWidth(title, 15) + 2 * PAD, textWidth(subtitle) + 2 * PAD);
  const height = plotY + layers.length * rowH + PAD;
  const y = (row: number): number => plotY + row * rowH + rowH / 2;
  const laneX = (lane: number): number => spineX - 10 - (lane + 1) * laneW + laneW / 2;
  const r = 4;

  const spineLines = spine.map((i) => el("line", { class: "spine", x1: spineX, y1: y(i - 1) + r, x2: spineX, y2: y(i) - r, stroke: "currentColor", "stroke-opacity": 0.45 }));
  const paths = skips.map((e) => {
    const x = laneX(e.lane);
    const c = Math.min(6, (y(e.to) - y(e.from)) / 2);
    const d =
      `M ${spineX - r} ${y(e.from)} H ${x + c} Q ${x} ${y(e.from)} ${x} ${y(e.from) + c} ` +
      `V ${y(e.to) - c} Q ${x} ${y(e.to)} ${x + c} ${y(e.to)} H ${spineX - r}`;
    return el("path", { class: "edge", "data-from": layers[e.from]!.name, "data-to": layers[e.to]!.name, d, fill: "none", stroke: TYPE_COLORS[layers[e.to]!.type], "stroke-width": 1.5, "stroke-opacity": 0.8 }, [
      el("title", {}, [`${layers[e.to]!.name} reads ${layers[e.from]!.name}`]),
    ]);
  });
  const nodes = layers.map((l, i) =>
    el("g", { class: "node", "data-layer": l.name }, [
      el("circle", { cx: spineX, cy: y(i), r, fill: TYPE_COLORS[l.type] }, [el("title", {}, [`${l.name} (${l.layer}) reads ${l.inputs.length === 0 ? "nothing" : l.inputs.join(", ")}`])]),
      el("text", { x: labelX, y: y(i) + 4 }, [l.name]),
      el("text", { x: labelX + nameW, y: y(i) + 4, "fill-opacity": 0.75 }, [l.layer]),
      el("text", { x: labelX + nameW + opW, y: y(i) + 4, "fill-opacity": 0.75 }, [l.outputShape.join("x")]),
    ]),
  );
  return svg(width, height, title, [
    el("text", { x: PAD, y: PAD + 14, "font-size": 15, "font-weight": 600 }, [title]),
    el("text", { x: PAD, y: PAD + 32, "fill-opacity": 0.7 }, [subtitle]),
    ...spineLines,
    ...paths,
    ...nodes,
  ]);
}

// ---------------------------------------------------------------------------
// By-type shares

/**
 * The paper's Table 2 as two horizontal 100 % stacked bars, mult-adds and
 * weights, one segment per layer type (`<rect class="segment" data-type="…">`),
 * a percent axis, and a legend with each type's exact figures and shares.
 * Shares too narrow for their label are labelled in the legend only.
 */
export function typeShareChart(report: Report, options: { readonly width?: number } = {}): string {
  const width = options.width ?? 760;
  const title = `${report.network} — share by layer type (the paper's Table 2)`;
  const rowsDef = [
    { label: "mult-adds", share: (t: Report["byType"][number]) => t.multAddsShare, value: (t: Report["byType"][number]) => t.multAdds },
    { label: "weights", share: (t: Report["byType"][number]) => t.weightsShare, value: (t: Report["byType"][number]) => t.weights },
  ] as const;
  const labelW = textWidth("mult-adds") + 12;
  const plotX = PAD + labelW;
  const plotW = width - plotX - PAD - 8;
  const plotY = PAD + 34;
  const barH = 30;
  const gap = 14;
  const axisY = plotY + rowsDef.length * (barH + gap) - gap + 6;
  const legendY = axisY + 44;
  const legendRowH = 20;
  const height = legendY + report.byType.length * legendRowH + PAD;

  const bars = rowsDef.map((row, i) => {
    const y = plotY + i * (barH + gap);
    let x = plotX;
    const segments: Markup[] = [];
    for (const t of report.byType) {
      const share = row.share(t);
      const w = (plotW * share) / 100;
      if (w <= 0) continue;
      const text = percent(share);
      segments.push(
        el("g", {}, [
          el("rect", { class: "segment", "data-type": t.type, x, y, width: w, height: barH, fill: TYPE_COLORS[t.type] }, [
            el("title", {}, [`${t.label}: ${group(row.value(t))} ${row.label} (${text})`]),
          ]),
          w >= textWidth(text) + 10 ? el("text", { x: x + w / 2, y: y + barH / 2 + 4, "text-anchor": "middle", fill: "#ffffff" }, [text]) : null,
        ]),
      );
      x += w;
    }
    return el("g", { class: "share-bar" }, [
      el("text", { x: plotX - 8, y: y + barH / 2 + 4, "text-anchor": "end", "font-weight": 600 }, [row.label]),
      el("rect", { x: plotX, y, width: plotW, height: barH, fill: "none", stroke: "currentColor", "stroke-opacity": 0.3 }),
      ...segments,
    ]);
  });
  const axis = [0, 25, 50, 75, 100].map((p) =>
    el("g", { class: "tick" }, [
      el("line", { x1: plotX + (plotW * p) / 100, y1: axisY - 4, x2: plotX + (plotW * p) / 100, y2: axisY + 2, stroke: "currentColor", "stroke-opacity": 0.6 }),
      el("text", { x: plotX + (plotW * p) / 100, y: axisY + 16, "text-anchor": p === 0 ? "start" : p === 100 ? "end" : "middle", "fill-opacity": 0.8 }, [`${p} %`]),
    ]),
  );
  const nameW = Math.max(...report.byType.map((t) => textWidth(t.label))) + 28;
  const legend = report.byType.map((t, i) => {
    const y = legendY + i * legendRowH;
    return el("g", { class: "legend" }, [
      el("rect", { x: plotX, y: y - 10, width: 12, height: 12, rx: 2, fill: TYPE_COLORS[t.type] }),
      el("text", { x: plotX + 18, y }, [t.label]),
      el("text", { x: plotX + 18 + nameW, y, "fill-opacity": 0.85 }, [
        `mult-adds ${percent(t.multAddsShare)} (${group(t.multAdds)})  ·  weights ${percent(t.weightsShare)} (${group(t.weights)})` +
          (t.elementwise > 0 ? `  ·  elementwise ${group(t.elementwise)}` : ""),
      ]),
    ]);
  });
  return svg(width, height, title, [
    el("text", { x: PAD, y: PAD + 14, "font-size": 15, "font-weight": 600 }, [title]),
    el("line", { x1: plotX, y1: axisY - 4, x2: plotX + plotW, y2: axisY - 4, stroke: "currentColor", "stroke-opacity": 0.6 }),
    ...bars,
    ...axis,
    ...legend,
  ]);
}

// ---------------------------------------------------------------------------
// The sweep

/** `0.75-192`: how the paper names a configuration. */
export function configLabel(p: Pick<SweepPoint, "alpha" | "resolution">): string {
  return `${p.alpha}-${p.resolution}`;
}

interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

const overlaps = (a: Box, b: Box): boolean => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/**
 * Cost of every (α, resolution) configuration: x = mult-adds, y = params, both
 * on log scales (the axes say so). One `<circle class="point">` and one
 * `<text class="point-label">` (`0.75-192`) per configuration; the points of
 * one α are joined and share a colour. Labels go above their point, or below,
 * right or left of it when that would overlap another label or point.
 * Non-positive values are drawn at 1. This is `mnc sweep --format svg`.
 */
export function sweepChart(sweep: Sweep, options: { readonly width?: number; readonly height?: number } = {}): string {
  const width = options.width ?? 820;
  const height = options.height ?? 560;
  const title = `${sweep.network} — cost of each α × resolution configuration`;
  const points = sweep.points;
  const xs = points.map((p) => Math.max(1, p.multAdds));
  const ys = points.map((p) => Math.max(1, p.params));
  const domain = (vs: number[]): [number, number] => {
    if (vs.length === 0) return [1, 10];
    let lo = Math.min(...vs);
    let hi = Math.max(...vs);
    if (hi / lo < 1.5) {
      const mid = Math.sqrt(lo * hi);
      lo = mid / 1.5;
      hi = mid * 1.5;
    }
    const pad = (hi / lo) ** 0.07;
    return [lo / pad, hi * pad];
  };
  const [xLo, xHi] = domain(xs);
  const [yLo, yHi] = domain(ys);
  const xTicks = logTicks(xLo, xHi);
  const yTicks = logTicks(yLo, yHi);

  const legendY = PAD + 56;
  const plotY = legendY + 16;
  const yLabelW = Math.max(...yTicks.map((t) => textWidth(tickLabel(t))), 30);
  const plotX = PAD + 22 + yLabelW + 8;
  const plotW = width - plotX - PAD - 10;
  const plotH = height - plotY - 50 - PAD;
  const sx = (v: number): number => plotX + (plotW * Math.log(Math.max(1, v) / xLo)) / Math.log(xHi / xLo);
  const sy = (v: number): number => plotY + plotH - (plotH * Math.log(Math.max(1, v) / yLo)) / Math.log(yHi / yLo);

  const color = (alpha: number): string => SERIES[Math.max(0, sweep.alphas.indexOf(alpha)) % SERIES.length]!;
  const legend = legendRow(plotX, legendY, sweep.alphas.map((a) => ({ color: color(a), label: `α = ${a}` })), "legend");

  const grid = [
    ...xTicks.map((t) =>
      el("g", { class: "tick" }, [
        el("line", { x1: sx(t), y1: plotY, x2: sx(t), y2: plotY + plotH + 4, stroke: "currentColor", "stroke-opacity": 0.15 }),
        el("text", { x: sx(t), y: plotY + plotH + 18, "text-anchor": "middle", "fill-opacity": 0.8 }, [tickLabel(t)]),
      ]),
    ),
    ...yTicks.map((t) =>
      el("g", { class: "tick" }, [
        el("line", { x1: plotX - 4, y1: sy(t), x2: plotX + plotW, y2: sy(t), stroke: "currentColor", "stroke-opacity": 0.15 }),
        el("text", { x: plotX - 8, y: sy(t) + 4, "text-anchor": "end", "fill-opacity": 0.8 }, [tickLabel(t)]),
      ]),
    ),
    el("rect", { x: plotX, y: plotY, width: plotW, height: plotH, fill: "none", stroke: "currentColor", "stroke-opacity": 0.5 }),
  ];

  const series = sweep.alphas.map((a) => {
    const ps = points.filter((p) => p.alpha === a).sort((p, q) => p.multAdds - q.multAdds);
    if (ps.length < 2) return null;
    return el("polyline", {
      class: "series",
      points: ps.map((p) => `${num(sx(p.multAdds))},${num(sy(p.params))}`).join(" "),
      fill: "none",
      stroke: color(a),
      "stroke-width": 1.5,
      "stroke-opacity": 0.6,
    });
  });

  // Labels: greedy, in point order, avoiding placed labels, points and the plot's edge.
  const R = 4.5;
  const pointBoxes: Box[] = points.map((p) => ({ x0: sx(p.multAdds) - R, y0: sy(p.params) - R, x1: sx(p.multAdds) + R, y1: sy(p.params) + R }));
  const placed: Box[] = [];
  const inside = (b: Box): boolean => b.x0 >= plotX + 2 && b.x1 <= plotX + plotW - 2 && b.y0 >= plotY + 2 && b.y1 <= plotY + plotH - 2;
  const marks = points.map((p, i) => {
    const cx = sx(p.multAdds);
    const cy = sy(p.params);
    const text = configLabel(p);
    const w = textWidth(text, 11);
    const h = 11;
    const candidates: { x: number; y: number; anchor: "start" | "middle" | "end" }[] = [
      { x: cx, y: cy - 9, anchor: "middle" },
      { x: cx, y: cy + 9 + h, anchor: "middle" },
      { x: cx + 8, y: cy + 4, anchor: "start" },
      { x: cx - 8, y: cy + 4, anchor: "end" },
      { x: cx + 6, y: cy - 7, anchor: "start" },
      { x: cx - 6, y: cy - 7, anchor: "end" },
      { x: cx + 6, y: cy + 7 + h, anchor: "start" },
      { x: cx - 6, y: cy + 7 + h, anchor: "end" },
    ];
    const boxOf = (c: (typeof candidates)[number]): Box => {
      const x0 = c.anchor === "start" ? c.x : c.anchor === "middle" ? c.x - w / 2 : c.x - w;
      return { x0: x0 - 5, y0: c.y - h + 1, x1: x0 + w + 5, y1: c.y + 2 };
    };
    const free = (c: (typeof candidates)[number]): boolean => {
      const b = boxOf(c);
      return inside(b) && !placed.some((q) => overlaps(b, q)) && !pointBoxes.some((q, j) => j !== i && overlaps(b, q));
    };
    const choice = candidates.find(free) ?? candidates.find((c) => inside(boxOf(c))) ?? candidates[0]!;
    placed.push(boxOf(choice));
    return {
      point: el("circle", { class: "point", "data-config": text, cx, cy, r: R, fill: color(p.alpha), stroke: "currentColor", "stroke-opacity": 0.35 }, [
        el("title", {}, [`α ${p.alpha}, resolution ${p.resolution}: ${group(p.multAdds)} mult-adds, ${group(p.params)} params`]),
      ]),
      label: el("text", { class: "point-label", x: choice.x, y: choice.y, "text-anchor": choice.anchor, "font-size": 11 }, [text]),
    };
  });

  return svg(width, height, title, [
    el("text", { x: PAD, y: PAD + 14, "font-size": 15, "font-weight": 600 }, [title]),
    el("text", { x: PAD, y: PAD + 32, "fill-opacity": 0.7 }, ["each point is α-resolution; lower and further left is cheaper"]),
    ...legend.markup,
    ...grid,
    ...series,
    ...marks.map((m) => m.point),
    ...marks.map((m) => m.label),
    el("text", { x: plotX + plotW / 2, y: plotY + plotH + 40, "text-anchor": "middle", "font-weight": 600 }, ["mult-adds (log scale)"]),
    el("text", { x: PAD + 12, y: plotY + plotH / 2, "text-anchor": "middle", "font-weight": 600, transform: `rotate(-90 ${num(PAD + 12)} ${num(plotY + plotH / 2)})` }, [
      "params, weights + biases (log scale)",
    ]),
  ]);
}
