/**
 * The laid-out graph (layout.ts) as standalone SVG, in the report's fonts and
 * colours (src/emit/report/svg.ts): a title, a legend of the colour scale, the
 * edges with their shape labels, a box per layer and a terminal per output.
 *
 * Markup a page can hook into:
 *   <g class="node" data-node="ID" data-line="L" data-col="C" data-op="OP">   one per layer, with a <title> tooltip
 *   <g class="edge" data-from="A" data-to="B" data-input="I">                 one per input of a layer
 *   <g class="output" data-output="NAME" data-node="ID">                     one per network output
 * No scripts, ids, dates or external resources: the same graph gives the same
 * bytes, and several drawings can share a page. Every text is escaped (`el`).
 */
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import type { Graph } from "../../ir/graph.js";
import { group, short } from "../report/format.js";
import { DARK, el, FONT_FAMILY, LIGHT, num, raw, textWidth, type Markup } from "../report/svg.js";
import { layoutGraph, shapeText, type GraphLayout, type LaidEdge, type LaidNode, type LaidOutput, type Metrics, type Point } from "./layout.js";

/** What the boxes are coloured by. */
export type ColourBy = "multAdds" | "params";

export interface GraphDrawingOptions {
  /** The figure that sets each layer's colour (default mult-adds). */
  readonly colourBy?: ColourBy;
}

/** How each colouring is named and read from a layer's costs. */
export const COLOUR_BY: Readonly<Record<ColourBy, { readonly name: string; readonly none: string; readonly value: (n: LaidNode) => number }>> = {
  multAdds: { name: "mult-adds", none: "no mult-adds", value: (n) => n.cost.multAdds },
  params: { name: "params", none: "no params", value: (n) => n.cost.params },
};

// ---------------------------------------------------------------------------
// Sizes

const FONT = 12;
const ID_FONT = 12;
const SUMMARY_FONT = 11;
const LABEL_FONT = 10.5;
const NODE_PAD_X = 10;
const NODE_H = 38;
const OUTPUT_H = 24;
const PAD = 16;
const HEADER_H = 84;

/**
 * A shape label's advance: UI fonts set digits at a fixed width (up to 0.64 em,
 * DejaVu Sans; textWidth takes a 1 as narrow) and × wider (0.84 em).
 */
function shapeWidth(text: string): number {
  let em = 0;
  for (const c of text) em += c === "×" ? 0.84 : /\d/.test(c) ? 0.64 : 0.6;
  return em * LABEL_FONT;
}

/** The boxes' sizes for dagre, from the same text estimate the report's charts use. */
export const METRICS: Metrics = {
  node: (id, summary) => ({ width: Math.ceil(Math.max(textWidth(id, ID_FONT) * 1.06, textWidth(summary, SUMMARY_FONT), 44) + 2 * NODE_PAD_X), height: NODE_H }),
  output: (name) => ({ width: Math.ceil(Math.max(textWidth(`output ${name}`, SUMMARY_FONT), 40) + 2 * NODE_PAD_X), height: OUTPUT_H }),
  label: (text) => ({ width: Math.ceil(shapeWidth(text) + 6), height: 14 }),
};

// ---------------------------------------------------------------------------
// The colour scale

/**
 * Viridis (perceptually uniform, readable in grey and by the colour-blind),
 * light to dark: a cheap layer is pale, an expensive one dark. Stops of
 * matplotlib's viridis at 0, 1/8, …, 1, reversed.
 */
const SCALE = ["#fde725", "#addc30", "#5ec962", "#28ae80", "#21918c", "#2c728e", "#3b528b", "#472d7b", "#440154"] as const;

const rgb = (hex: string): [number, number, number] => [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
const hex = (c: readonly number[]): string => `#${c.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("")}`;

/** An sRGB channel (0–255) in linear light (0–1), and back. */
const toLinear = (v: number): number => {
  const s = v / 255;
  return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
};
const fromLinear = (l: number): number => 255 * (l <= 0.0031308 ? l * 12.92 : 1.055 * l ** (1 / 2.4) - 0.055);

/**
 * The scale's colour at t ∈ [0, 1] (0 the palest), mixed between the stops in
 * linear light: luminance is then linear between stops whose luminance falls,
 * so it falls monotonically along the whole scale.
 */
export function scaleColour(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (SCALE.length - 1);
  const i = Math.min(SCALE.length - 2, Math.floor(x));
  const a = rgb(SCALE[i]!).map(toLinear);
  const b = rgb(SCALE[i + 1]!).map(toLinear);
  const f = x - i;
  return hex(a.map((v, k) => fromLinear(v + (b[k]! - v) * f)));
}

/** WCAG relative luminance of a #rrggbb colour. */
export function luminance(colour: string): number {
  const [r, g, b] = rgb(colour).map(toLinear) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Text on a scale colour: dark on the pale end, white on the dark. */
const inkOn = (fill: string): string => (luminance(fill) > 0.3 ? LIGHT.fg : "#ffffff");

/**
 * Steps of the scale a layer's colour is taken from: fine enough to read as
 * continuous, coarse enough that two steps differ by more than the rounding of
 * a colour to 8 bits per channel (so a greater value is never paler).
 */
const LEVELS = 64;

/** A log scale over the positive values (they span orders of magnitude); zero has no colour. */
interface Scale {
  readonly min: number;
  readonly max: number;
  colour(v: number): string | null;
}

function logScale(values: readonly number[]): Scale {
  const positive = values.filter((v) => v > 0);
  const min = positive.length === 0 ? 0 : Math.min(...positive);
  const max = positive.length === 0 ? 0 : Math.max(...positive);
  const span = Math.log(max) - Math.log(min);
  return { min, max, colour: (v) => (v <= 0 ? null : scaleColour(span > 0 ? Math.round(((Math.log(v) - Math.log(min)) / span) * (LEVELS - 1)) / (LEVELS - 1) : 1)) };
}

// ---------------------------------------------------------------------------
// Rendering

/** Light-scheme colours, also written as attributes so that the drawing reads where its style sheet does not apply. */
const LINE = "#59636e";
const FREE = { fill: "#f6f8fa", stroke: "#d1d9e0" } as const;

/** The drawing's style sheet: the report's light and dark colours; free layers take the card colours of the HTML report. */
const STYLE =
  `.mnc-graph{color:${LIGHT.fg}}.mnc-graph .mnc-bg{fill:${LIGHT.bg}}.mnc-graph .free{fill:#f6f8fa;stroke:#d1d9e0}` +
  `.mnc-graph .edge path,.mnc-graph .output path{stroke:${LINE}}.mnc-graph .arrow{fill:${LINE}}` +
  `@media (prefers-color-scheme:dark){.mnc-graph{color:${DARK.fg}}.mnc-graph .mnc-bg{fill:${DARK.bg}}.mnc-graph .free{fill:#151b23;stroke:#3d444d}` +
  `.mnc-graph .edge path,.mnc-graph .output path{stroke:#9198a1}.mnc-graph .arrow{fill:#9198a1}` +
  // the darkest colours of the scale sit close to the dark background: a light outline sets them off
  `.mnc-graph .node rect:not(.free){stroke:#e6edf3;stroke-opacity:.5}}`;

/** A polyline with its bends rounded: a quadratic B-spline through the midpoints of its inner segments, from its first point to its last. */
function pathOf(points: readonly Point[]): string {
  const p = (q: Point): string => `${num(q.x)} ${num(q.y)}`;
  if (points.length === 0) return "";
  let d = `M ${p(points[0]!)}`;
  if (points.length === 2) return `${d} L ${p(points[1]!)}`;
  for (let i = 1; i < points.length - 1; i++) {
    const b = points[i]!;
    const c = points[i + 1]!;
    d += ` Q ${p(b)} ${i === points.length - 2 ? p(c) : p({ x: (b.x + c.x) / 2, y: (b.y + c.y) / 2 })}`;
  }
  return d;
}

/** An arrowhead at the end of a polyline, pointing along its last segment. */
function arrowOf(points: readonly Point[]): Markup | null {
  const end = points[points.length - 1];
  const before = points[points.length - 2];
  if (end === undefined || before === undefined) return null;
  const len = Math.hypot(end.x - before.x, end.y - before.y) || 1;
  const ux = (end.x - before.x) / len;
  const uy = (end.y - before.y) / len;
  const size = 6;
  const bx = end.x - ux * size;
  const by = end.y - uy * size;
  const d = `M ${num(end.x)} ${num(end.y)} L ${num(bx - uy * size * 0.5)} ${num(by + ux * size * 0.5)} L ${num(bx + uy * size * 0.5)} ${num(by - ux * size * 0.5)} Z`;
  return el("path", { class: "arrow", d, fill: LINE, stroke: "none" });
}

function labelOf(label: LaidEdge["label"]): Markup {
  return el("g", { class: "shape" }, [
    el("rect", { class: "mnc-bg", x: label.x, y: label.y, width: label.width, height: label.height, rx: 2, fill: LIGHT.bg, "fill-opacity": 0.85 }),
    el("text", { x: label.x + label.width / 2, y: label.y + label.height - 3.5, "text-anchor": "middle", "font-size": LABEL_FONT, "fill-opacity": 0.8 }, [label.text]),
  ]);
}

function edgeOf(e: LaidEdge): Markup {
  return el("g", { class: "edge", "data-from": e.from, "data-to": e.to, "data-input": e.input }, [
    el("path", { d: pathOf(e.points), fill: "none", stroke: LINE, "stroke-width": 1.2 }),
    arrowOf(e.points),
    labelOf(e.label),
  ]);
}

function tooltip(n: LaidNode): string {
  const c = n.cost;
  const inputs = c.inputShapes.length === 0 ? "" : `in ${c.inputShapes.map(shapeText).join(" + ")} → `;
  return [
    `${n.id} · ${n.summary} (line ${n.node.span.line}, column ${n.node.span.column})`,
    `${inputs}out ${shapeText(c.outputShape)}`,
    `mult-adds ${group(c.multAdds)}${c.elementwise > 0 ? ` · elementwise ${group(c.elementwise)}` : ""}`,
    `params ${group(c.params)} (weights ${group(c.weights)} + biases ${group(c.biases)})${c.bnParams > 0 ? ` · batch-norm ${group(c.bnParams)}` : ""}`,
  ].join("\n");
}

function nodeOf(n: LaidNode, scale: Scale, by: ColourBy): Markup {
  const fill = scale.colour(COLOUR_BY[by].value(n));
  const cx = n.x + n.width / 2;
  return el("g", { class: "node", "data-node": n.id, "data-line": n.node.span.line, "data-col": n.node.span.column, "data-op": n.node.op }, [
    el("title", {}, [tooltip(n)]),
    fill === null
      ? el("rect", { class: "free", x: n.x, y: n.y, width: n.width, height: n.height, rx: 6, ...FREE })
      : el("rect", { x: n.x, y: n.y, width: n.width, height: n.height, rx: 6, fill, stroke: "#000000", "stroke-opacity": 0.2 }),
    el("text", { x: cx, y: n.y + 16, "text-anchor": "middle", "font-size": ID_FONT, "font-weight": 600, fill: fill === null ? undefined : inkOn(fill) }, [n.id]),
    el("text", { x: cx, y: n.y + 30, "text-anchor": "middle", "font-size": SUMMARY_FONT, fill: fill === null ? undefined : inkOn(fill), "fill-opacity": 0.85 }, [n.summary]),
  ]);
}

function outputOf(o: LaidOutput): Markup {
  return el("g", { class: "output", "data-output": o.name, "data-node": o.layer, "data-index": o.index }, [
    el("title", {}, [`output ${o.index + 1}: ${o.name} (${o.layer}), ${shapeText(o.shape)}`]),
    el("path", { d: pathOf(o.points), fill: "none", stroke: LINE, "stroke-width": 1.2, "stroke-dasharray": "3 2" }),
    arrowOf(o.points),
    labelOf(o.label),
    el("rect", { class: "free", x: o.x, y: o.y, width: o.width, height: o.height, rx: o.height / 2, ...FREE }),
    el("text", { x: o.x + o.width / 2, y: o.y + o.height / 2 + 4, "text-anchor": "middle", "font-size": SUMMARY_FONT }, [`output ${o.name}`]),
  ]);
}

/** The legend: the scale as a bar of swatches from its least to its greatest value, and the colour of layers with none. */
function legendOf(x: number, y: number, scale: Scale, by: ColourBy): { markup: Markup; width: number } {
  const steps = 24;
  const barW = 168;
  const w = barW / steps;
  const minText = scale.max === 0 ? "—" : `${short(scale.min)}`;
  const maxText = scale.max === 0 ? "—" : `${short(scale.max)}`;
  const x0 = x + textWidth(minText) + 6;
  const x1 = x0 + barW + 6;
  const noneX = x1 + textWidth(maxText) + 22;
  const swatches = Array.from({ length: steps }, (_, i) => el("rect", { x: x0 + i * w, y: y - 11, width: w + 0.3, height: 14, fill: scaleColour(i / (steps - 1)) }));
  const markup = el("g", { class: "legend", "data-min": scale.min, "data-max": scale.max }, [
    el("text", { x, y }, [minText]),
    ...swatches,
    el("rect", { x: x0, y: y - 11, width: barW, height: 14, fill: "none", stroke: "currentColor", "stroke-opacity": 0.3 }),
    el("text", { x: x1, y }, [maxText]),
    el("rect", { class: "free", x: noneX, y: y - 11, width: 14, height: 14, rx: 3, ...FREE }),
    el("text", { x: noneX + 20, y }, [COLOUR_BY[by].none]),
  ]);
  return { markup, width: noneX + 20 + textWidth(COLOUR_BY[by].none) - x };
}

/** Children one per line, so that a drawing reads (and diffs) as text: a line per layer, edge and output. */
function lines(children: readonly Markup[]): Markup {
  return raw(`\n${children.map((c) => c.markup).join("\n")}\n`);
}

/** The drawing of a laid-out graph. */
export function renderGraph(graph: Graph, layout: GraphLayout, options: GraphDrawingOptions = {}): string {
  const by = options.colourBy ?? "multAdds";
  const scale = logScale(layout.nodes.map(COLOUR_BY[by].value));
  const title = `${graph.name} — the network as a graph, coloured by ${COLOUR_BY[by].name}`;
  const subtitle = `one box per layer (${layout.nodes.length}); each edge is a tensor, labelled H×W×C; colour: ${COLOUR_BY[by].name}, log scale`;
  const legend = legendOf(PAD, PAD + 62, scale, by);
  // the title is bold: DejaVu Sans Bold runs about a fifth wider than textWidth estimates
  const width = Math.ceil(Math.max(layout.width + 2 * PAD, textWidth(title, 15) * 1.2 + 2 * PAD, textWidth(subtitle) + 2 * PAD, legend.width + 2 * PAD));
  const height = Math.ceil(HEADER_H + layout.height + PAD);
  const dx = Math.round((width - layout.width) / 2);
  const body: Markup[] = [
    el("title", {}, [title]),
    el("style", {}, [raw(STYLE)]),
    el("rect", { class: "mnc-bg", width, height, fill: LIGHT.bg }),
    el("text", { x: PAD, y: PAD + 14, "font-size": 15, "font-weight": 600 }, [title]),
    el("text", { x: PAD, y: PAD + 32, "fill-opacity": 0.7 }, [subtitle]),
    legend.markup,
    el("g", { transform: `translate(${num(dx)} ${HEADER_H})` }, [
      lines([
        el("g", { class: "edges" }, [lines(layout.edges.map(edgeOf))]),
        el("g", { class: "outputs" }, [lines(layout.outputs.map(outputOf))]),
        el("g", { class: "nodes" }, [lines(layout.nodes.map((n) => nodeOf(n, scale, by)))]),
      ]),
    ]),
  ];
  return el(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      class: "mnc-chart mnc-graph",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "font-family": FONT_FAMILY,
      "font-size": FONT,
      fill: "currentColor",
    },
    [lines(body)],
  ).markup;
}

/** The layout and its drawing in one call. */
export function drawGraph(graph: Graph, costs: CostAnalysis, options: GraphDrawingOptions = {}): string {
  return renderGraph(graph, layoutGraph(graph, costs, METRICS), options);
}
