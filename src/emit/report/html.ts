/**
 * The report and the sweep as one self-contained HTML page each: inline CSS,
 * inline SVG charts (svg.ts), no scripts, no external resources, no dates — the
 * same report gives the same bytes. Every string from the report is escaped by
 * construction (`el` escapes text and attribute values), and the page is also
 * well-formed XML (every element closed), so it parses as HTML and as XHTML.
 * Follows the reader's light or dark colour scheme.
 */
import type { Report } from "./model.js";
import { countRows, int8Rows, layerTable, outputsText, peakNote, showsInputs, typeTable } from "./text.js";
import { METRICS, sweepPoint, type Sweep } from "./sweep.js";
import { bytes, group, percent, shape, short } from "./format.js";
import { el, layerBarChart, layerGraphChart, raw, sweepChart, typeShareChart, TYPE_COLORS, type Attrs, type Child, type Markup } from "./svg.js";

/** An HTML element: always an explicit end tag (`<td></td>`, never `<td/>`). */
function h(name: string, attrs: Attrs = {}, children: readonly Child[] = []): Markup {
  return el(name, attrs, children, false);
}

const CSS = `
:root{color-scheme:light dark;--fg:#1f2328;--bg:#ffffff;--muted:#59636e;--rule:#d1d9e0;--stripe:#f6f8fa;--hl:#fff8c5;--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--rule:#3d444d;--stripe:#151b23;--hl:#3b2e00;--card:#151b23}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 24px 48px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--rule)}
.sub{color:var(--muted);margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:var(--card);border:1px solid var(--rule);border-radius:6px;padding:10px 14px;min-width:200px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.card .s{color:var(--muted);font-size:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:4px 0}
th,td{padding:3px 10px;border-bottom:1px solid var(--rule);text-align:left;white-space:nowrap;vertical-align:top}
thead th{border-bottom:2px solid var(--rule);font-weight:600}
th.n,td.n{text-align:right}
tbody tr:nth-child(even){background:var(--stripe)}
tbody tr.peak{background:var(--hl)}
tfoot td{font-weight:600;border-top:2px solid var(--rule)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
caption{caption-side:bottom;text-align:left;color:var(--muted);font-size:12px;padding-top:6px}
figure{margin:16px 0}
figure svg{display:block;max-width:100%;height:auto}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
ul.convention li{margin:4px 0;max-width:80ch}
footer{margin-top:40px;color:var(--muted);font-size:12px}
`
  .trim()
  .split("\n")
  .join("");

function page(title: string, generator: string, body: readonly Child[]): string {
  const doc = h("html", { lang: "en" }, [
    h("head", {}, [
      el("meta", { charset: "utf-8" }),
      el("meta", { name: "viewport", content: "width=device-width, initial-scale=1" }),
      el("meta", { name: "generator", content: generator }),
      h("title", {}, [title]),
      h("style", {}, [raw(CSS)]),
    ]),
    h("body", {}, [h("main", {}, body)]),
  ]);
  return `<!DOCTYPE html>\n${doc.markup}\n`;
}

function figure(svgMarkup: string, caption?: string): Markup {
  return h("figure", {}, [raw(svgMarkup), caption === undefined ? null : h("figcaption", { class: "sub" }, [caption])]);
}

interface Column {
  readonly title: string;
  readonly numeric?: boolean;
}

function table(columns: readonly Column[], rows: readonly (readonly Child[])[], options: { foot?: readonly Child[]; rowClass?: (i: number) => string | null; caption?: string; cls?: string } = {}): Markup {
  const cell = (tag: "td" | "th", c: Column | undefined, v: Child): Markup => h(tag, { class: c?.numeric ? "n" : null }, [v]);
  return h("div", { class: "scroll" }, [
    h("table", { class: options.cls ?? null }, [
      options.caption === undefined ? null : h("caption", {}, [options.caption]),
      h("thead", {}, [h("tr", {}, columns.map((c) => h("th", { class: c.numeric ? "n" : null, scope: "col" }, [c.title])))]),
      h(
        "tbody",
        {},
        rows.map((r, i) => h("tr", { class: options.rowClass?.(i) ?? null }, r.map((v, j) => cell("td", columns[j], v)))),
      ),
      options.foot === undefined ? null : h("tfoot", {}, [h("tr", {}, options.foot.map((v, j) => cell("td", columns[j], v)))]),
    ]),
  ]);
}

/** "16.10 MiB; " from `bytes`' parenthesis, or nothing below 1 KiB. */
function unit(n: number): string {
  const m = /\((.*)\)$/.exec(bytes(n));
  return m === null ? "" : `${m[1]}; `;
}

function card(key: string, value: string, sub: string): Markup {
  return h("div", { class: "card" }, [h("div", { class: "k" }, [key]), h("div", { class: "v" }, [value]), h("div", { class: "s" }, [sub])]);
}

// ---------------------------------------------------------------------------
// The report

function reportTitle(r: Report): string {
  return `${r.network} — α ${r.alpha}, input ${shape(r.input)}, ${outputsText(r)}`;
}

function totalsRows(r: Report): Child[][] {
  const t = r.totals;
  const rows: [string, string, string][] = [
    ...countRows(r),
    ["weight memory, float32", bytes(t.weightBytesFloat32), "every weight and bias in 4 bytes"],
    ["weight memory, int8", bytes(t.weightBytesInt8), "weights in 1 byte, biases in 4 (int32)"],
    ["peak activations", bytes(t.peakActivationBytes), `at ${t.peakActivationLayer} (${peakNote(r)})`],
    ...int8Rows(r),
  ];
  return rows.map(([k, v, note]) => [k, v, note === "" ? null : note]);
}

/** Table columns from a text table's header and alignment (right-aligned columns are numeric). */
const columnsOf = (t: { readonly header: readonly string[]; readonly align: readonly string[] }): Column[] => t.header.map((title, i) => ({ title, numeric: t.align[i] === "right" }));

export interface ReportHtmlOptions {
  /**
   * The network drawn as a graph (graphDrawing's SVG, src/emit/graph): when
   * given, the Graph section shows it, for every network, in a box that
   * scrolls, instead of the list drawing of a graph's layers and inputs.
   */
  readonly graph?: string;
}

/**
 * The whole report as one page: title, key figures and totals, the by-type
 * table (the paper's Table 2) with its share chart, the per-layer table (the
 * layer of peak activation memory highlighted), for a graph the drawing of its
 * layers and their inputs (or, with `options.graph`, that drawing of any
 * network), the per-layer mult-adds and params charts, and the counting
 * convention.
 */
export function reportHtml(r: Report, options: ReportHtmlOptions = {}): string {
  const t = r.totals;
  const title = reportTitle(r);
  const peakIndex = r.layers.findIndex((l) => l.name === t.peakActivationLayer);
  const swatch = (type: keyof typeof TYPE_COLORS): Markup => h("span", { class: "swatch", style: `background:${TYPE_COLORS[type]}` });
  const layers = layerTable(r);
  const types = typeTable(r);

  return page(`${title} — mnc report`, `mnc ${r.mnc}`, [
    h("h1", {}, [title]),
    h("p", { class: "sub" }, [`Cost report by mnc ${r.mnc}. Resolution ${r.resolution[0]}x${r.resolution[1]}; counts are exact.`]),
    h("div", { class: "cards" }, [
      card("mult-adds", group(t.multAdds), `${short(t.multAdds)}; FLOPs ${group(t.flops)}`),
      card("params", group(t.params), `${short(t.params)}; weights + biases`),
      card("weight memory (float32)", `${group(t.weightBytesFloat32)} B`, `${unit(t.weightBytesFloat32)}int8 ${bytes(t.weightBytesInt8)}`),
      card("peak activations", `${group(t.peakActivationBytes)} B`, `${unit(t.peakActivationBytes)}at ${t.peakActivationLayer}`),
      r.int8 === undefined ? null : card("int8 arena (activations)", `${group(r.int8.peakActivationBytes)} B`, `${unit(r.int8.peakActivationBytes)}at ${r.int8.peakActivationLayer}; int8 weights ${bytes(r.int8.weightBytes)}`),
    ]),

    h("section", { id: "totals" }, [h("h2", {}, ["Totals"]), table([{ title: "figure" }, { title: "value", numeric: true }, { title: "" }], totalsRows(r), { cls: "totals" })]),

    h("section", { id: "by-type" }, [
      h("h2", {}, ["By layer type (the paper's Table 2)"]),
      table(
        columnsOf(types),
        types.rows.map(([label, ...rest], i) => [h("span", {}, [swatch(r.byType[i]!.type), label!]), ...rest]),
        { foot: types.total },
      ),
      figure(typeShareChart(r)),
    ]),

    h("section", { id: "layers" }, [
      h("h2", {}, ["Layers"]),
      table(
        columnsOf(layers),
        layers.rows.map(([name, ...rest]) => [h("code", {}, [name!]), ...rest]),
        {
          foot: layers.total,
          rowClass: (i) => (i === peakIndex ? "peak" : null),
          caption:
            `Activations: the layer's output in bytes (float32, batch 1). Highlighted: ${t.peakActivationLayer}, where peak activation memory occurs (every tensor live while it runs).` +
            (r.layers.some((l) => l.ratio !== null) ? " Width ×R: the layer's channels are R times those of the tensor it expands or squeezes." : "") +
            (showsInputs(r) ? " From: the layers a layer reads, where it reads other than the row above it (a skip, a concatenation's operands, a branch)." : "") +
            (r.int8 === undefined ? "" : " int8 weights: the layer's kernel, int32 biases, scales and zero points in bytes; int8 live: every tensor live while it runs, 1 byte per value (the total row: the peak)."),
        },
      ),
    ]),

    // A graph's layers and their inputs, drawn: only for networks with the from column, so others read as before;
    // the laid-out drawing, when given, for every network.
    options.graph !== undefined
      ? h("section", { id: "graph" }, [
          h("h2", {}, ["Graph"]),
          h("div", { class: "graph-drawing", style: "max-height:85vh;overflow:auto;border:1px solid var(--rule);border-radius:6px" }, [raw(options.graph)]),
          h("p", { class: "sub" }, ["One box per layer, coloured by its mult-adds; each arrow is a tensor, labelled with its shape. Hover a box for its shapes and costs."]),
        ])
      : showsInputs(r)
        ? h("section", { id: "graph" }, [h("h2", {}, ["Graph"]), figure(layerGraphChart(r))])
        : null,

    h("section", { id: "charts" }, [
      h("h2", {}, ["Per-layer charts"]),
      figure(layerBarChart(r, "multAdds")),
      figure(layerBarChart(r, "params")),
      r.layers.some((l) => l.elementwise > 0) ? figure(layerBarChart(r, "elementwise")) : null,
    ]),

    h("section", { id: "convention" }, [h("h2", {}, ["Convention"]), h("ul", { class: "convention" }, r.convention.map((c) => h("li", {}, [c])))]),
    h("footer", {}, [`Generated by mnc ${r.mnc}.`]),
  ]);
}

// ---------------------------------------------------------------------------
// The sweep

/** The sweep as one page: the mult-adds, params and peak-memory grids (α rows × resolution columns) and the sweep chart. */
export function sweepHtml(s: Sweep): string {
  const title = `${s.network} — α × resolution sweep`;
  const columns: Column[] = [{ title: "α \\ resolution" }, ...s.resolutions.map((r): Column => ({ title: String(r), numeric: true }))];
  return page(`${title} — mnc sweep`, `mnc ${s.mnc}`, [
    h("h1", {}, [title]),
    h("p", { class: "sub" }, [
      `${s.points.length} configurations by mnc ${s.mnc}: α ∈ {${s.alphas.join(", ")}}, resolution ∈ {${s.resolutions.join(", ")}}. Counts are exact.`,
    ]),
    ...METRICS.map((m) =>
      h("section", {}, [
        h("h2", {}, [m.title]),
        table(
          columns,
          s.alphas.map((a) => [String(a), ...s.resolutions.map((r) => m.value(sweepPoint(s, a, r)))]),
        ),
      ]),
    ),
    h("section", { id: "chart" }, [h("h2", {}, ["Mult-adds against parameters"]), figure(sweepChart(s))]),
    h("footer", {}, [`Generated by mnc ${s.mnc}.`]),
  ]);
}
