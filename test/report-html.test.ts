/**
 * The HTML report and sweep pages and their SVG charts: content (every layer,
 * the exact totals, Table 2), chart geometry (one bar or point per item, sizes
 * proportional to the values), well-formed markup, escaping of hostile names,
 * self-containment and determinism.
 */
import { describe, expect, it } from "vitest";
import { report, sweep, type Report, type Sweep } from "../src/index.js";
import { reportHtml, sweepHtml } from "../src/emit/report/html.js";
import { escapeXml, layerBarChart, sweepChart, typeShareChart, TYPE_COLORS } from "../src/emit/report/svg.js";
import { bytes, group, percent } from "../src/emit/report/format.js";
import { readExample } from "./helpers.js";

const v1 = readExample("mobilenet_v1.mn");

function buildReport(source = v1): Report {
  const r = report(source);
  expect(r.diagnostics).toEqual([]);
  return r.report!;
}

function buildSweep(alphas = [1, 0.75, 0.5, 0.25], resolutions = [224, 192, 160, 128], source = v1): Sweep {
  const s = sweep(source, { alphas, resolutions });
  expect(s.diagnostics).toEqual([]);
  return s.sweep!;
}

// ---------------------------------------------------------------------------
// A strict, small XML parser: well-formedness, and a tree to query.

interface Element {
  readonly name: string;
  readonly attrs: ReadonlyMap<string, string>;
  readonly children: (Element | string)[];
  readonly selfClosed: boolean;
}

const HTML_VOID = new Set(["meta", "link", "br", "hr", "img", "input", "col", "area", "base", "wbr", "source", "track", "embed"]);
const ENTITY = /&(#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);/y;

function decode(s: string): string {
  return s.replace(/&(#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);/g, (_m, e: string) =>
    e === "amp" ? "&" : e === "lt" ? "<" : e === "gt" ? ">" : e === "quot" ? '"' : e === "apos" ? "'" : String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)),
  );
}

/** Every `&` must start an entity; `<` never appears raw. */
function checkChars(s: string, where: string): void {
  for (let i = s.indexOf("&"); i !== -1; i = s.indexOf("&", i + 1)) {
    ENTITY.lastIndex = i;
    if (!ENTITY.test(s)) throw new Error(`raw & in ${where}: ${JSON.stringify(s.slice(i, i + 20))}`);
  }
  if (s.includes("<")) throw new Error(`raw < in ${where}`);
}

/**
 * Parses a document as XML, throwing on anything not well-formed: unbalanced or
 * mismatched tags, unquoted or duplicate attributes, raw `&` or `<`, more than one
 * root. With `html`, a leading `<!DOCTYPE html>` is allowed and an HTML element
 * (outside `<svg>`) may only be self-closed if it is void (`<td/>` breaks HTML).
 */
function parseXml(doc: string, options: { html?: boolean } = {}): Element {
  let s = doc;
  if (options.html) {
    if (!s.startsWith("<!DOCTYPE html>\n")) throw new Error("no doctype");
    s = s.slice("<!DOCTYPE html>\n".length);
  }
  const root: Element = { name: "#document", attrs: new Map(), children: [], selfClosed: false };
  const stack: Element[] = [root];
  let i = 0;
  while (i < s.length) {
    const lt = s.indexOf("<", i);
    const text = s.slice(i, lt === -1 ? s.length : lt);
    if (text !== "") {
      checkChars(text, `text of <${stack[stack.length - 1]!.name}>`);
      if (stack.length === 1 && text.trim() !== "") throw new Error("text outside the root element");
      stack[stack.length - 1]!.children.push(decode(text));
    }
    if (lt === -1) break;
    if (s.startsWith("<!--", lt)) {
      const end = s.indexOf("-->", lt);
      if (end === -1) throw new Error("unterminated comment");
      i = end + 3;
      continue;
    }
    const close = /^<\/([A-Za-z][\w:.-]*)\s*>/.exec(s.slice(lt, lt + 200));
    if (close !== null) {
      const top = stack.pop();
      if (top === undefined || top === root || top.name !== close[1]) throw new Error(`</${close[1]}> closes <${top?.name}>`);
      i = lt + close[0].length;
      continue;
    }
    const open = /^<([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"]*")*)\s*(\/?)>/.exec(s.slice(lt));
    if (open === null) throw new Error(`malformed tag at ${lt}: ${JSON.stringify(s.slice(lt, lt + 40))}`);
    const name = open[1]!;
    const attrs = new Map<string, string>();
    for (const a of open[2]!.matchAll(/([A-Za-z_:][\w:.-]*)="([^"]*)"/g)) {
      if (attrs.has(a[1]!)) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
      checkChars(a[2]!, `attribute ${a[1]} of <${name}>`);
      attrs.set(a[1]!, decode(a[2]!));
    }
    const selfClosed = open[3] === "/";
    const parent = stack[stack.length - 1]!;
    if (parent === root && root.children.some((c) => typeof c !== "string")) throw new Error("more than one root element");
    const inSvg = name === "svg" || stack.some((e) => e.name === "svg");
    if (options.html && !inSvg && selfClosed !== HTML_VOID.has(name)) throw new Error(`<${name}${selfClosed ? "/" : ""}> in HTML`);
    const e: Element = { name, attrs, children: [], selfClosed };
    parent.children.push(e);
    if (!selfClosed) stack.push(e);
    i = lt + open[0].length;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  const top = root.children.find((c): c is Element => typeof c !== "string");
  if (top === undefined) throw new Error("no root element");
  return top;
}

function all(e: Element, pred: (x: Element) => boolean): Element[] {
  const out: Element[] = [];
  const walk = (x: Element): void => {
    if (pred(x)) out.push(x);
    for (const c of x.children) if (typeof c !== "string") walk(c);
  };
  walk(e);
  return out;
}

const byName = (name: string) => (x: Element) => x.name === name;
const byClass = (name: string, cls: string) => (x: Element) => x.name === name && (x.attrs.get("class") ?? "").split(" ").includes(cls);

function textOf(e: Element): string {
  return e.children.map((c) => (typeof c === "string" ? c : c.name === "title" || c.name === "style" ? "" : textOf(c))).join("");
}

function attrNum(e: Element, name: string): number {
  const v = e.attrs.get(name);
  if (v === undefined) throw new Error(`<${e.name}> has no ${name}`);
  const n = Number(v);
  expect(Number.isFinite(n)).toBe(true);
  return n;
}

/** The cells of a table's rows (thead, tbody or tfoot). */
function rows(table: Element, part: "thead" | "tbody" | "tfoot"): string[][] {
  return all(table, byName(part)).flatMap((p) => all(p, byName("tr")).map((tr) => tr.children.filter((c): c is Element => typeof c !== "string").map(textOf)));
}

function section(page: Element, id: string): Element {
  const s = all(page, (x) => x.name === "section" && x.attrs.get("id") === id);
  expect(s).toHaveLength(1);
  return s[0]!;
}

describe("the well-formedness checker", () => {
  it("accepts good markup and rejects broken markup", () => {
    expect(parseXml(`<a x="1"><b/>t &amp; &#39;u&#39;</a>`).children).toHaveLength(2);
    for (const bad of [`<a><b></a></b>`, `<a>`, `<a x=1></a>`, `<a x="1" x="2"></a>`, `<a>&</a>`, `<a>1 &lt 2</a>`, `<a></a><b></b>`, `<a y="<"></a>`, `</a>`, `<a><b</a>`]) {
      expect(() => parseXml(bad), bad).toThrow();
    }
    expect(() => parseXml(`<!DOCTYPE html>\n<html><body><td/></body></html>`, { html: true })).toThrow(/td/);
    expect(() => parseXml(`<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head></html>`, { html: true })).toThrow(/meta/);
    expect(() => parseXml(`<!DOCTYPE html>\n<html><svg><rect/></svg></html>`, { html: true })).not.toThrow();
  });
});

// ---------------------------------------------------------------------------

describe("reportHtml", () => {
  const r = buildReport();
  const html = reportHtml(r);
  const page = parseXml(html, { html: true });

  it("is a well-formed, self-contained page", () => {
    expect(page.name).toBe("html");
    expect(all(page, byName("meta")).some((m) => m.attrs.get("charset") === "utf-8")).toBe(true);
    for (const forbidden of [/<script/i, /<link/i, /<img/i, /<iframe/i, /<object/i, /url\(/i, /@import/i, /\ssrc=/i, /\shref=/i, /@font-face/i]) expect(html).not.toMatch(forbidden);
    // The only URL is the SVG namespace.
    expect([...html.matchAll(/https?:\/\/[^"\s]*/g)].map((m) => m[0])).toEqual(Array(3).fill("http://www.w3.org/2000/svg"));
    const ids = all(page, (x) => x.attrs.has("id")).map((x) => x.attrs.get("id"));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("has the title and the exact totals", () => {
    const title = textOf(all(page, byName("title"))[0]!);
    expect(title).toContain("MobileNetV1 — α 1, input 224x224x3, output 1x1x1000");
    expect(textOf(all(page, byName("h1"))[0]!)).toBe("MobileNetV1 — α 1, input 224x224x3, output 1x1x1000");
    const totals = new Map(rows(section(page, "totals"), "tbody").map((row) => [row[0]!, row.slice(1)]));
    expect(totals.get("mult-adds")).toEqual(["568,740,352", "FLOPs = 2 × mult-adds = 1,137,480,704"]);
    expect(totals.get("weights")?.[0]).toBe("4,209,088");
    expect(totals.get("biases")?.[0]).toBe("1,000");
    expect(totals.get("params")?.[0]).toBe("4,210,088");
    expect(totals.get("BN params")?.[0]).toBe("43,776");
    expect(totals.get("torchvision / Keras trainable")).toEqual(["4,231,976", "params + BN γ, β"]);
    expect(totals.get("Keras total")).toEqual(["4,253,864", "4,231,976 trainable, 21,888 non-trainable"]);
    // A network without SE or elementwise layers has no such rows.
    expect([totals.has("of which SE"), totals.has("elementwise")]).toEqual([false, false]);
    expect(totals.get("deployed params")?.[0]).toBe("4,221,032");
    expect(totals.get("weight memory, float32")?.[0]).toBe("16,884,128 B (16.10 MiB)");
    expect(totals.get("weight memory, int8")?.[0]).toBe("4,256,864 B (4.06 MiB)");
    expect(totals.get("peak activations")).toEqual(["4,816,896 B (4.59 MiB)", "at sep_1.pw (float32, batch 1)"]);
    // And generally: every total as `group`/`bytes` prints it.
    const t = r.totals;
    for (const v of [t.multAdds, t.flops, t.weights, t.biases, t.params, t.bnParams, t.kerasTotal, t.kerasTrainable, t.kerasNonTrainable, t.deployedParams]) expect(html).toContain(group(v));
    for (const v of [t.weightBytesFloat32, t.weightBytesInt8, t.peakActivationBytes]) expect(html).toContain(bytes(v));
  });

  it("has Table 2 with exact counts and shares, and its chart", () => {
    const s = section(page, "by-type");
    expect(rows(s, "tbody")).toEqual(r.byType.map((t) => [t.label, group(t.multAdds), percent(t.multAddsShare), group(t.weights), percent(t.weightsShare)]));
    expect(rows(s, "tbody")[0]).toEqual(["Conv 1x1", "539,492,352", "94.86 %", "3,139,584", "74.59 %"]);
    expect(rows(s, "tfoot")).toEqual([["total", "568,740,352", "100.00 %", "4,209,088", "100.00 %"]]);
    expect(all(s, byName("svg"))).toHaveLength(1);
    expect(all(s, byClass("rect", "segment")).length).toBeGreaterThan(0);
  });

  it("has one row per layer, every layer name, and the layer table's figures", () => {
    const s = section(page, "layers");
    const body = rows(s, "tbody");
    expect(body).toHaveLength(r.layers.length);
    expect(body.map((row) => row[0])).toEqual(r.layers.map((l) => l.name));
    for (const l of r.layers) expect(html).toContain(`<code>${l.name}</code>`);
    expect(body[3]).toEqual(["sep_1.pw", "pw", "112x112x32", "112x112x64", "1", "25,690,112", "2,048", "0", "256", "3,211,264"]);
    expect(body[0]).toEqual(["input", "input", "", "224x224x3", "", "0", "0", "0", "0", "602,112"]);
    expect(rows(s, "tfoot")).toEqual([["total", "", "", "", "", "568,740,352", "4,209,088", "1,000", "43,776", ""]]);
    const peak = all(s, (x) => x.name === "tr" && x.attrs.get("class") === "peak");
    expect(peak.map((tr) => textOf(tr))).toHaveLength(1);
    expect(textOf(peak[0]!)).toContain("sep_1.pw");
  });

  it("has the per-layer mult-adds and params charts and the convention", () => {
    const charts = all(section(page, "charts"), byName("svg"));
    expect(charts).toHaveLength(2);
    expect(all(charts[0]!, byClass("rect", "bar"))).toHaveLength(28);
    expect(all(charts[1]!, byClass("rect", "bar"))).toHaveLength(28);
    expect(textOf(charts[0]!)).toContain("mult-adds per layer");
    expect(textOf(charts[1]!)).toContain("params (weights + biases) per layer");
    const items = all(section(page, "convention"), byName("li")).map(textOf);
    expect(items).toEqual([...r.convention]);
  });
});

// ---------------------------------------------------------------------------

describe("layerBarChart", () => {
  const r = buildReport();

  it("is a standalone, well-formed SVG", () => {
    const svg = layerBarChart(r, "multAdds");
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" [^>]*viewBox="0 0 \d+ \d+"/);
    expect(svg.endsWith("</svg>")).toBe(true);
    expect(parseXml(svg).name).toBe("svg");
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("draws one bar per layer with weights, in order, labelled with its name and exact value", () => {
    const svg = parseXml(layerBarChart(r, "multAdds"));
    const bars = all(svg, byClass("rect", "bar"));
    const withWeights = r.layers.filter((l) => l.weights > 0);
    expect(withWeights).toHaveLength(28);
    expect(bars.map((b) => b.attrs.get("data-layer"))).toEqual(withWeights.map((l) => l.name));
    const texts = all(svg, byName("text")).map(textOf);
    for (const l of withWeights) {
      expect(texts).toContain(l.name);
      expect(texts).toContain(group(l.multAdds));
    }
    for (const l of r.layers.filter((x) => x.weights === 0)) expect(texts).not.toContain(l.name);
    // With `all`, every layer gets a row; the empty ones a zero-width bar.
    const every = all(parseXml(layerBarChart(r, "multAdds", { all: true })), byClass("rect", "bar"));
    expect(every).toHaveLength(r.layers.length);
    expect(attrNum(every[0]!, "width")).toBe(0);
  });

  it("sizes bars in proportion to the values, on the axis' scale", () => {
    for (const metric of ["multAdds", "params"] as const) {
      const svg = parseXml(layerBarChart(r, metric));
      const bars = all(svg, byClass("rect", "bar"));
      const width = (name: string): number => attrNum(bars.find((b) => b.attrs.get("data-layer") === name)!, "width");
      const value = (name: string): number => r.layers.find((l) => l.name === name)![metric];
      const ratio = width("sep_13.pw") / value("sep_13.pw");
      for (const b of bars) {
        const name = b.attrs.get("data-layer")!;
        expect(Math.abs(attrNum(b, "width") - value(name) * ratio)).toBeLessThan(0.01);
      }
      // A bar's end lies on the value axis: between the ticks around its value.
      const ticks = all(svg, byClass("g", "tick")).map((g) => ({ label: textOf(g), x: attrNum(all(g, byName("line"))[0]!, "x1") }));
      expect(ticks[0]!.label).toBe("0");
      const x0 = attrNum(bars[0]!, "x");
      expect(ticks[0]!.x).toBe(x0);
      const step = ticks[1]!.x - ticks[0]!.x;
      ticks.forEach((t, i) => expect(t.x - x0).toBeCloseTo(i * step, 1));
    }
    const ma = all(parseXml(layerBarChart(r, "multAdds")), byClass("rect", "bar"));
    const w = (name: string): number => attrNum(ma.find((b) => b.attrs.get("data-layer") === name)!, "width");
    // 51,380,224 / 25,690,112 = 2 exactly; 3,612,672 / 25,690,112 = 0.140625.
    expect(w("sep_3.pw") / w("sep_1.pw")).toBeCloseTo(2, 3);
    expect(w("sep_1.dw") / w("sep_1.pw")).toBeCloseTo(0.140625, 3);
    const pa = all(parseXml(layerBarChart(r, "params")), byClass("rect", "bar"));
    const pw = (name: string): number => attrNum(pa.find((b) => b.attrs.get("data-layer") === name)!, "width");
    expect(pw("fc_14") / pw("sep_13.pw")).toBeCloseTo(1_025_000 / 1_048_576, 3);
  });

  it("labels the value axis with ticks", () => {
    const svg = parseXml(layerBarChart(r, "multAdds"));
    expect(all(svg, byClass("g", "tick")).map(textOf)).toEqual(["0", "10 M", "20 M", "30 M", "40 M", "50 M", "60 M"]);
    expect(all(svg, byName("text")).map(textOf)).toContain("mult-adds");
  });
});

describe("typeShareChart", () => {
  const r = buildReport();
  const svg = parseXml(typeShareChart(r));

  it("draws two 100 % stacked bars, one segment per type, sized by share", () => {
    const bars = all(svg, byClass("g", "share-bar"));
    expect(bars.map((b) => textOf(b).startsWith("mult-adds") || textOf(b).startsWith("weights"))).toEqual([true, true]);
    for (const [i, share] of [(t: Report["byType"][number]) => t.multAddsShare, (t: Report["byType"][number]) => t.weightsShare].entries()) {
      const bar = bars[i]!;
      const frame = all(bar, (x) => x.name === "rect" && x.attrs.get("fill") === "none")[0]!;
      const segments = all(bar, byClass("rect", "segment"));
      expect(segments.map((s) => s.attrs.get("data-type"))).toEqual(r.byType.map((t) => t.type));
      const total = attrNum(frame, "width");
      expect(segments.reduce((a, s) => a + attrNum(s, "width"), 0)).toBeCloseTo(total, 1);
      for (const [j, t] of r.byType.entries()) expect(attrNum(segments[j]!, "width") / total).toBeCloseTo(share(t) / 100, 3);
      // Segments are contiguous.
      for (let j = 1; j < segments.length; j++) expect(attrNum(segments[j]!, "x")).toBeCloseTo(attrNum(segments[j - 1]!, "x") + attrNum(segments[j - 1]!, "width"), 1);
    }
  });

  it("prints the percentages, and every type's exact figures in the legend", () => {
    const texts = all(svg, byName("text")).map(textOf);
    expect(texts).toContain("94.86 %");
    expect(texts).toContain("74.59 %");
    expect(texts).toContain("24.33 %");
    for (const t of r.byType) {
      expect(texts).toContain(t.label);
      expect(texts).toContain(`mult-adds ${percent(t.multAddsShare)} (${group(t.multAdds)})  ·  weights ${percent(t.weightsShare)} (${group(t.weights)})`);
    }
  });
});

// ---------------------------------------------------------------------------

describe("sweepChart", () => {
  const s = buildSweep();
  const text = sweepChart(s);
  const svg = parseXml(text);

  it("is a standalone, well-formed SVG with log axes that say so", () => {
    expect(text).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(text).not.toMatch(/NaN|Infinity|undefined/);
    const texts = all(svg, byName("text")).map(textOf);
    expect(texts).toContain("mult-adds (log scale)");
    expect(texts.some((t) => t.startsWith("params") && t.includes("log scale"))).toBe(true);
  });

  it("has one point and one label per configuration", () => {
    const points = all(svg, byClass("circle", "point"));
    const labels = all(svg, byClass("text", "point-label")).map(textOf);
    expect(points).toHaveLength(16);
    expect(labels).toHaveLength(16);
    const expected = s.alphas.flatMap((a) => s.resolutions.map((r) => `${a}-${r}`));
    expect([...labels].sort()).toEqual([...expected].sort());
    expect(labels).toContain("0.75-192");
    expect(labels).toContain("1-224");
    expect(points.map((p) => p.attrs.get("data-config"))).toEqual(s.points.map((p) => `${p.alpha}-${p.resolution}`));
    // Labels sit at distinct places.
    const places = all(svg, byClass("text", "point-label")).map((t) => `${t.attrs.get("x")},${t.attrs.get("y")}`);
    expect(new Set(places).size).toBe(16);
  });

  it("places points by mult-adds (x) and params (y), on log scales", () => {
    const points = all(svg, byClass("circle", "point"));
    const at = s.points.map((p, i) => ({ p, x: attrNum(points[i]!, "cx"), y: attrNum(points[i]!, "cy") }));
    for (const a of at) {
      for (const b of at) {
        if (a.p.multAdds < b.p.multAdds) expect(a.x).toBeLessThan(b.x);
        if (a.p.params < b.p.params) expect(a.y).toBeGreaterThan(b.y);
        if (a.p.alpha === b.p.alpha) expect(a.y).toBe(b.y); // params do not depend on resolution
      }
    }
    // Log x: distance from the cheapest point is proportional to log(mult-adds ratio).
    const x = (a: number, res: number): number => at.find((q) => q.p.alpha === a && q.p.resolution === res)!.x;
    const ma = (a: number, res: number): number => at.find((q) => q.p.alpha === a && q.p.resolution === res)!.p.multAdds;
    const k = (x(1, 224) - x(0.25, 128)) / Math.log(ma(1, 224) / ma(0.25, 128));
    for (const q of at) expect(q.x - x(0.25, 128)).toBeCloseTo(k * Math.log(q.p.multAdds / ma(0.25, 128)), 1);
  });

  it("handles a single configuration", () => {
    const one = sweepChart(buildSweep([0.5], [160]));
    expect(one).not.toMatch(/NaN|Infinity/);
    expect(all(parseXml(one), byClass("circle", "point"))).toHaveLength(1);
  });
});

describe("sweepHtml", () => {
  const s = buildSweep();
  const html = sweepHtml(s);
  const page = parseXml(html, { html: true });

  it("is a well-formed page with the three grids and the chart", () => {
    const tables = all(page, byName("table"));
    expect(tables).toHaveLength(3);
    for (const t of tables) {
      expect(rows(t, "thead")).toEqual([["α \\ resolution", "224", "192", "160", "128"]]);
      expect(rows(t, "tbody").map((r) => r[0])).toEqual(["1", "0.75", "0.5", "0.25"]);
    }
    expect(rows(tables[0]!, "tbody")[0]).toEqual(["1", "568,740,352", "418,121,728", "290,675,200", "186,400,768"]);
    expect(rows(tables[0]!, "tbody")[3]![4]).toBe("13,570,048");
    expect(rows(tables[1]!, "tbody").map((r) => r[1])).toEqual(["4,210,088", "2,569,144", "1,320,648", "464,600"]);
    expect(rows(tables[2]!, "tbody")[0]![1]).toBe("4,816,896 B (4.59 MiB)");
    for (const p of s.points) expect(html).toContain(group(p.multAdds));
    const svgs = all(page, byName("svg"));
    expect(svgs).toHaveLength(1);
    expect(all(svgs[0]!, byClass("circle", "point"))).toHaveLength(16);
    expect(html).not.toMatch(/<script|<link|url\(|@import/i);
  });
});

// ---------------------------------------------------------------------------

describe("MobileNetV3-Small: SE, residual adds and the elementwise type", () => {
  const r = buildReport(readExample("mobilenet_v3_small.mn"));
  const html = reportHtml(r);
  const page = parseXml(html, { html: true });
  const ew = r.layers.filter((l) => l.elementwise > 0);

  it("states the SE share, the elementwise count and the torchvision count among the totals", () => {
    const totals = new Map(rows(section(page, "totals"), "tbody").map((row) => [row[0]!, row.slice(1)]));
    expect(totals.get("mult-adds")?.[0]).toBe("56,510,400");
    expect(totals.get("of which SE")).toEqual(["458,752", "0.81 % of mult-adds: the squeeze-and-excitation convolutions, counted as Conv 1x1"]);
    expect(totals.get("elementwise")?.[0]).toBe(group(r.totals.elementwise));
    expect(totals.get("torchvision / Keras trainable")?.[0]).toBe("2,542,856");
    expect(totals.get("Keras total")?.[0]).toBe("2,554,968");
  });

  it("has the elementwise row in Table 2, with its colour, and an elementwise column", () => {
    const s = section(page, "by-type");
    expect(rows(s, "thead")).toEqual([["type", "mult-adds", "share", "elementwise", "weights", "share"]]);
    const body = rows(s, "tbody");
    expect(body.at(-1)).toEqual(["Elementwise (add, mul)", "0", "0.00 %", group(r.totals.elementwise), "0", "0.00 %"]);
    const swatches = all(s, byClass("span", "swatch")).map((x) => x.attrs.get("style"));
    expect(swatches.at(-1)).toBe(`background:${TYPE_COLORS.elementwise}`);
    expect(new Set(swatches).size).toBe(swatches.length);
    const legend = all(s, byClass("g", "legend")).find((g) => textOf(g).startsWith("Elementwise (add, mul)"))!;
    expect(all(legend, byName("rect"))[0]!.attrs.get("fill")).toBe(TYPE_COLORS.elementwise);
    expect(textOf(legend)).toContain(`elementwise ${group(r.totals.elementwise)}`);
  });

  it("lists every part of every block, with the elementwise column, and highlights the peak", () => {
    const s = section(page, "layers");
    expect(rows(s, "thead")[0]).toEqual(["layer", "op", "input", "output", "width", "mult-adds", "elementwise", "weights", "biases", "BN params", "activations"]);
    const body = rows(s, "tbody");
    expect(body.map((row) => row[0])).toEqual(r.layers.map((l) => l.name));
    const row = (name: string): string[] => body.find((x) => x[0] === name)!;
    expect(row("bneck_4.se.scale")).toEqual(["bneck_4.se.scale", "mul (SE scale)", "14x14x96", "14x14x96", "", "0", "18,816", "0", "0", "0", "75,264"]);
    expect(row("bneck_4.se.squeeze").slice(1, 6)).toEqual(["pw (SE squeeze)", "1x1x96", "1x1x24", "×0.25", "2,304"]);
    expect(row("bneck_3.expand")[4]).toBe("×11/3");
    expect(row("bneck_3.add").slice(1, 2)).toEqual(["add (residual)"]);
    expect(rows(s, "tfoot")[0]!.slice(5, 7)).toEqual(["56,510,400", group(r.totals.elementwise)]);
    const peak = all(s, (x) => x.name === "tr" && x.attrs.get("class") === "peak");
    expect(peak).toHaveLength(1);
    expect(textOf(peak[0]!)).toContain(r.totals.peakActivationLayer);
  });

  it("charts the elementwise operations per layer in the elementwise colour", () => {
    const charts = all(section(page, "charts"), byName("svg"));
    expect(charts).toHaveLength(3);
    expect(textOf(charts[2]!)).toContain("elementwise operations per layer");
    const bars = all(charts[2]!, byClass("rect", "bar"));
    expect(ew).toHaveLength(15); // 6 residual adds, 9 SE scales
    expect(bars.map((b) => b.attrs.get("data-layer"))).toEqual(ew.map((l) => l.name));
    expect(new Set(bars.map((b) => b.attrs.get("fill")))).toEqual(new Set([TYPE_COLORS.elementwise]));
    const width = (name: string): number => attrNum(bars.find((b) => b.attrs.get("data-layer") === name)!, "width");
    // bneck_1.se.scale: 56x56x16 = 50,176; bneck_3.add: 28x28x24 = 18,816.
    expect(width("bneck_3.add") / width("bneck_1.se.scale")).toBeCloseTo(18_816 / 50_176, 3);
    // The mult-adds chart keeps the layers with weights, SE convolutions among them, coloured as 1x1 convolutions.
    const ma = all(charts[0]!, byClass("rect", "bar"));
    expect(ma.find((b) => b.attrs.get("data-layer") === "bneck_4.se.squeeze")?.attrs.get("fill")).toBe(TYPE_COLORS.conv1x1);
    expect(ma.some((b) => b.attrs.get("data-layer") === "bneck_3.add")).toBe(false);
    // With `all`, add and mul rows are drawn in their colour too.
    const every = all(parseXml(layerBarChart(r, "multAdds", { all: true })), byClass("rect", "bar"));
    expect(every.find((b) => b.attrs.get("data-layer") === "bneck_3.add")?.attrs.get("fill")).toBe(TYPE_COLORS.elementwise);
  });

  it("is well-formed and deterministic, and so are the sweep's page and chart for MobileNetV2", () => {
    expect(html).not.toMatch(/NaN|Infinity|undefined/);
    expect(reportHtml(buildReport(readExample("mobilenet_v3_small.mn")))).toBe(html);
    const s = buildSweep([1, 0.5], [224, 160], readExample("mobilenet_v2.mn"));
    const sweepPage = parseXml(sweepHtml(s), { html: true });
    expect(rows(all(sweepPage, byName("table"))[0]!, "tbody")[0]).toEqual(["1", "300,774,272", "154,083,200"]);
    const chart = sweepChart(s);
    expect(chart).not.toMatch(/NaN|Infinity|undefined/);
    expect(all(parseXml(chart), byClass("circle", "point"))).toHaveLength(4);
  });
});

// ---------------------------------------------------------------------------

describe("escaping", () => {
  const HOSTILE = `</script><b>"'&`;
  const ESCAPED = "&lt;/script&gt;&lt;b&gt;&quot;&#39;&amp;";

  it("escapes & < > \" ' ", () => {
    expect(escapeXml(HOSTILE)).toBe(ESCAPED);
    expect(escapeXml("plain sep_1.dw")).toBe("plain sep_1.dw");
  });

  const real = buildReport();
  const hostile: Report = {
    ...real,
    network: HOSTILE,
    convention: [HOSTILE, ...real.convention],
    totals: { ...real.totals, peakActivationLayer: HOSTILE },
    byType: real.byType.map((t, i) => (i === 0 ? { ...t, label: HOSTILE } : t)),
    layers: real.layers.map((l) => (l.name === "sep_1.pw" ? { ...l, name: HOSTILE, layer: HOSTILE } : l)),
  };
  const hostileSweep: Sweep = { ...buildSweep([1, 0.5], [224, 128]), network: HOSTILE };

  const outputs: [string, string, boolean][] = [
    ["reportHtml", reportHtml(hostile), true],
    ["sweepHtml", sweepHtml(hostileSweep), true],
    ["layerBarChart multAdds", layerBarChart(hostile, "multAdds"), false],
    ["layerBarChart params", layerBarChart(hostile, "params"), false],
    ["typeShareChart", typeShareChart(hostile), false],
    ["sweepChart", sweepChart(hostileSweep), false],
  ];

  it.each(outputs)("%s cannot be broken out of by a hostile name", (_name, out, html) => {
    expect(out).not.toContain(HOSTILE);
    expect(out).not.toMatch(/<\/?script|<b>|<b\s/i);
    expect(out).toContain(ESCAPED);
    const doc = parseXml(out, { html }); // still well-formed: the name stayed text
    const texts = all(doc, () => true).flatMap((e) => e.children.filter((c): c is string => typeof c === "string"));
    expect(texts.some((t) => t.includes(HOSTILE))).toBe(true); // and reads back as written
    expect(all(doc, byName("b"))).toHaveLength(0);
    expect(all(doc, byName("script"))).toHaveLength(0);
  });

  it("keeps the hostile name intact where it is a value: titles, table cells, data attributes", () => {
    const page = parseXml(reportHtml(hostile), { html: true });
    expect(textOf(all(page, byName("h1"))[0]!)).toContain(HOSTILE);
    expect(rows(section(page, "layers"), "tbody")[3]![0]).toBe(HOSTILE);
    expect(rows(section(page, "by-type"), "tbody")[0]![0]).toBe(HOSTILE);
    expect(all(page, byClass("rect", "bar")).filter((b) => b.attrs.get("data-layer") === HOSTILE)).toHaveLength(2);
    expect(all(page, byName("li")).map(textOf)[0]).toBe(HOSTILE);
  });
});

// ---------------------------------------------------------------------------

describe("determinism", () => {
  it("gives byte-identical output for the same input", () => {
    const a = buildReport();
    const b = buildReport();
    expect(a).not.toBe(b);
    expect(reportHtml(a)).toBe(reportHtml(b));
    expect(layerBarChart(a, "params")).toBe(layerBarChart(b, "params"));
    expect(typeShareChart(a)).toBe(typeShareChart(b));
    const s1 = buildSweep();
    const s2 = buildSweep();
    expect(sweepHtml(s1)).toBe(sweepHtml(s2));
    expect(sweepChart(s1)).toBe(sweepChart(s2));
  });

  it("renders other networks well-formed too, including ones with no weights", () => {
    for (const source of [readExample("keyword_spotter.mn"), readExample("shallow_mobilenet.mn"), "network N {\n  input 8x8x3\n  pw 4\n}\n", "network N {\n  input 8x8x3\n  avgpool global\n}\n"]) {
      const r = buildReport(source);
      const html = reportHtml(r);
      expect(html).not.toMatch(/NaN|Infinity|undefined/);
      const page = parseXml(html, { html: true });
      expect(rows(section(page, "layers"), "tbody")).toHaveLength(r.layers.length);
      expect(all(section(page, "charts"), byClass("rect", "bar"))).toHaveLength(2 * r.layers.filter((l) => l.weights > 0).length);
    }
  });
});
