/**
 * The cost report in the page: the same rows every format prints (the report
 * model of src/emit/report and its text tables), as HTML tables.
 */
import type { Report } from "../src/emit/report/model.js";
import { bytes } from "../src/emit/report/format.js";
import { countRows, int8Rows, layerTable, outputsText, peakNote, typeTable } from "../src/emit/report/text.js";
import { shape } from "../src/emit/report/format.js";
import { h } from "./dom.js";

type Align = "left" | "right";

function table(t: { header: string[]; align: Align[]; rows: string[][]; total: string[] }, rowAttrs: (i: number) => Record<string, string | undefined> = () => ({})): HTMLTableElement {
  const cell = (tag: "td" | "th", text: string, i: number): HTMLElement => h(tag, t.align[i] === "right" ? { class: "num" } : {}, text);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...t.header.map((c, i) => cell("th", c, i)))),
    h("tbody", {}, ...t.rows.map((r, k) => h("tr", rowAttrs(k), ...r.map((c, i) => cell("td", c, i))))),
    h("tfoot", {}, h("tr", {}, ...t.total.map((c, i) => cell("td", c, i)))),
  );
}

/** The title line: network, α, input and outputs. */
export function titleOf(r: Report): string {
  return `${r.network} — α ${r.alpha}, input ${shape(r.input)}, ${outputsText(r)}`;
}

/** The totals, each figure in an element whose data-total names it (`multAdds`, `params`, …). */
export function totalsView(r: Report): HTMLElement {
  const t = r.totals;
  const key: Record<string, string> = { "mult-adds": "multAdds", params: "params", weights: "weights", biases: "biases", "BN params": "bnParams", elementwise: "elementwise" };
  const rows: [string, string, string][] = [
    ...countRows(r),
    ["weight memory", `float32 ${bytes(t.weightBytesFloat32)}; int8 ${bytes(t.weightBytesInt8)}`, ""],
    ["peak activations", `${bytes(t.peakActivationBytes)} at ${t.peakActivationLayer}`, peakNote(r)],
    ...int8Rows(r),
  ];
  return h(
    "dl",
    { class: "totals" },
    ...rows.flatMap(([k, v, note]) => [h("dt", {}, k), h("dd", {}, h("span", { class: "figure", "data-total": key[k] }, v), note === "" ? null : h("span", { class: "note" }, note))]),
  );
}

export function typeView(r: Report): HTMLTableElement {
  return table(typeTable(r));
}

/** The per-layer table; each row carries its layer's name and source line (a click selects the line). */
export function layersView(r: Report): HTMLTableElement {
  return table(layerTable(r), (i) => ({ "data-layer": r.layers[i]!.name, "data-line": String(r.layers[i]!.line) }));
}
