/**
 * The network as a graph drawing (src/emit/graph, `mnc graph`): for every
 * example, well-formed SVG with one node group per layer (the report's rows)
 * at its source position, one edge per input labelled with its tensor's
 * shape, no overlapping boxes, colours monotone in the figure they show, the
 * same bytes every time; a reviewed golden drawing; the command line; and, in
 * headless Chromium where it is installed, every label inside its box as a
 * real font sets it.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { graphDrawing } from "../src/index.js";
import { layoutGraph, METRICS, type Rect } from "../src/emit/graph/index.js";
import { luminance, scaleColour } from "../src/emit/graph/svg.js";
import { buildReport } from "../src/emit/report/model.js";
import { reportHtml } from "../src/emit/report/html.js";
import { group } from "../src/emit/report/format.js";
import type { Graph } from "../src/ir/graph.js";
import type { CostAnalysis } from "../src/passes/analyze-costs.js";
import { compileOk, exampleFiles, readExample, root } from "./helpers.js";
import { available } from "./optional.js";

// ---------------------------------------------------------------------------
// A small XML reader: enough to prove well-formedness and to query the drawing

interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly (XmlElement | string)[];
}

const ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Character data with its references decoded; a bare `&` or `<` is an error. */
function decode(text: string, where: number): string {
  if (text.includes("<")) throw new Error(`'<' in character data at ${where}`);
  return text.replace(/&([^;]*);?/g, (m, ref: string) => {
    if (!m.endsWith(";")) throw new Error(`unterminated reference '${m}' at ${where}`);
    if (/^#\d+$/.test(ref)) return String.fromCodePoint(Number(ref.slice(1)));
    if (/^#x[0-9a-fA-F]+$/.test(ref)) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    const e = ENTITIES[ref];
    if (e === undefined) throw new Error(`unknown entity '${m}' at ${where}`);
    return e;
  });
}

/** Parses a whole document of elements, attributes and text (no prolog, comments or CDATA: the drawing has none); throws on anything ill-formed. */
function parseXml(text: string): XmlElement {
  let i = 0;
  const name = /[A-Za-z_][\w.:-]*/y;
  const readName = (): string => {
    name.lastIndex = i;
    const m = name.exec(text);
    if (m === null) throw new Error(`expected a name at ${i}`);
    i += m[0].length;
    return m[0];
  };
  const space = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const element = (): XmlElement => {
    if (text[i] !== "<") throw new Error(`expected '<' at ${i}`);
    i++;
    const tag = readName();
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = i;
      space();
      if (text.startsWith("/>", i)) {
        i += 2;
        return { name: tag, attrs, children: [] };
      }
      if (text[i] === ">") {
        i++;
        break;
      }
      if (i === before) throw new Error(`expected a space before an attribute at ${i}`);
      const a = readName();
      if (text[i] !== "=") throw new Error(`expected '=' after ${a} at ${i}`);
      const q = text[i + 1];
      if (q !== '"' && q !== "'") throw new Error(`expected a quoted value for ${a} at ${i}`);
      const end = text.indexOf(q, i + 2);
      if (end < 0) throw new Error(`unterminated attribute ${a}`);
      if (Object.hasOwn(attrs, a)) throw new Error(`attribute ${a} twice on <${tag}>`);
      attrs[a] = decode(text.slice(i + 2, end), i);
      i = end + 1;
    }
    const children: (XmlElement | string)[] = [];
    for (;;) {
      const lt = text.indexOf("<", i);
      if (lt < 0) throw new Error(`<${tag}> is never closed`);
      if (lt > i) children.push(decode(text.slice(i, lt), i));
      i = lt;
      if (text.startsWith("</", i)) {
        i += 2;
        const closing = readName();
        if (closing !== tag) throw new Error(`</${closing}> closes <${tag}> at ${i}`);
        space();
        if (text[i] !== ">") throw new Error(`expected '>' at ${i}`);
        i++;
        return { name: tag, attrs, children };
      }
      if (text.startsWith("<!", i) || text.startsWith("<?", i)) throw new Error(`unexpected markup declaration at ${i}`);
      children.push(element());
    }
  };
  space();
  const rootElement = element();
  space();
  if (i !== text.length) throw new Error(`content after the root element at ${i}`);
  return rootElement;
}

function descendants(e: XmlElement, test: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (x: XmlElement): void => {
    for (const c of x.children) {
      if (typeof c === "string") continue;
      if (test(c)) out.push(c);
      walk(c);
    }
  };
  walk(e);
  return out;
}

const byClass = (e: XmlElement, cls: string): XmlElement[] => descendants(e, (x) => x.name === "g" && x.attrs["class"] === cls);
const textOf = (e: XmlElement): string => e.children.map((c) => (typeof c === "string" ? c : textOf(c))).join("");
const child = (e: XmlElement, name: string): XmlElement | undefined => e.children.find((c): c is XmlElement => typeof c !== "string" && c.name === name);

// ---------------------------------------------------------------------------
// Geometry

/** Whether two rectangles share more than a hair of area (touching edges do not count). */
const overlap = (a: Rect, b: Rect): boolean => a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;

/** Whether (x, y) lies on the rectangle's border, within `tol`. */
function onBorder(r: Rect, p: { x: number; y: number }, tol = 1): boolean {
  const inX = p.x >= r.x - tol && p.x <= r.x + r.width + tol;
  const inY = p.y >= r.y - tol && p.y <= r.y + r.height + tol;
  const nearX = Math.abs(p.x - r.x) <= tol || Math.abs(p.x - r.x - r.width) <= tol;
  const nearY = Math.abs(p.y - r.y) <= tol || Math.abs(p.y - r.y - r.height) <= tol;
  return inX && inY && (nearX || nearY);
}

const shapeText = (s: readonly number[]): string => s.join("×");

// ---------------------------------------------------------------------------
// Every example

const examples = exampleFiles().map((file) => {
  let built: { graph: Graph; costs: CostAnalysis } | undefined;
  return { file, get: () => (built ??= compileOk(readExample(file), { file })) };
});

describe("graphDrawing on every example", () => {
  it.each(examples.map((e) => [e.file, e] as const))("%s: well-formed SVG, a node group per layer at its source position, an edge per input with its shape", (_file, example) => {
    const { graph, costs } = example.get();
    const svg = graphDrawing(graph, costs);
    const doc = parseXml(svg);
    expect(doc.name).toBe("svg");
    expect(doc.attrs["xmlns"]).toBe("http://www.w3.org/2000/svg");
    expect(doc.attrs["viewBox"]).toBe(`0 0 ${doc.attrs["width"]} ${doc.attrs["height"]}`);

    // One node per layer: the report's rows, in order.
    const report = buildReport(graph, costs);
    const nodes = byClass(doc, "node");
    expect(nodes.map((n) => n.attrs["data-node"])).toEqual(report.layers.map((l) => l.name));
    expect(nodes.map((n) => [n.attrs["data-line"], n.attrs["data-col"], n.attrs["data-op"]])).toEqual(graph.nodes.map((n) => [String(n.span.line), String(n.span.column), n.op]));
    nodes.forEach((g, i) => {
      const l = report.layers[i]!;
      const title = textOf(child(g, "title")!);
      expect(title).toContain(`out ${shapeText(l.outputShape)}`);
      expect(title).toContain(`mult-adds ${group(l.multAdds)}`);
      expect(title).toContain(`params ${group(l.params)}`);
      // Its id and the report's op summary, typeset.
      expect(descendants(g, (x) => x.name === "text").map(textOf)).toEqual([l.name, l.layer.replace(/(\d)x(?=\d)/g, "$1×")]);
    });

    // One edge per input of each node, labelled with the shape of the tensor it carries.
    const shapes = new Map(graph.nodes.map((n) => [n.id, n.shape!]));
    const edges = byClass(doc, "edge").map((e) => [e.attrs["data-from"], e.attrs["data-to"], e.attrs["data-input"], textOf(byClass(e, "shape")[0]!)]);
    expect(edges).toEqual(graph.nodes.flatMap((n) => n.inputs.map((from, i) => [from, n.id, String(i), shapeText(shapes.get(from)!)])));
    // Every output a terminal with its shape.
    const outputs = byClass(doc, "output").map((o) => [o.attrs["data-node"], o.attrs["data-output"], textOf(byClass(o, "shape")[0]!)]);
    expect(outputs).toEqual(graph.outputs.map((id, i) => [id, graph.outputNames?.[i] ?? id, shapeText(shapes.get(id)!)]));
  }, 60_000);

  it.each(examples.map((e) => [e.file, e] as const))("%s: no two boxes or labels overlap, and every edge runs from its layer's box to its reader's", (_file, example) => {
    const { graph, costs } = example.get();
    const layout = layoutGraph(graph, costs, METRICS);
    const boxes: (Rect & { what: string })[] = [
      ...layout.nodes.map((n) => ({ ...n, what: `node ${n.id}` })),
      ...layout.outputs.map((o) => ({ ...o, what: `output ${o.name}` })),
      ...layout.edges.map((e) => ({ ...e.label, what: `label ${e.from}→${e.to}` })),
      ...layout.outputs.map((o) => ({ ...o.label, what: `label ${o.layer}→output` })),
    ];
    const clashes: string[] = [];
    for (let a = 0; a < boxes.length; a++) for (let b = a + 1; b < boxes.length; b++) if (overlap(boxes[a]!, boxes[b]!)) clashes.push(`${boxes[a]!.what} × ${boxes[b]!.what}`);
    expect(clashes).toEqual([]);
    for (const b of boxes) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.y).toBeGreaterThanOrEqual(0);
      expect(b.x + b.width).toBeLessThanOrEqual(layout.width + 0.01);
      expect(b.y + b.height).toBeLessThanOrEqual(layout.height + 0.01);
    }
    const box = new Map(layout.nodes.map((n) => [n.id, n]));
    for (const e of layout.edges) {
      expect(e.points.length, `${e.from}→${e.to}`).toBeGreaterThanOrEqual(2);
      expect(onBorder(box.get(e.from)!, e.points[0]!), `${e.from}→${e.to} starts on ${e.from}`).toBe(true);
      expect(onBorder(box.get(e.to)!, e.points.at(-1)!), `${e.from}→${e.to} ends on ${e.to}`).toBe(true);
    }
    for (const o of layout.outputs) {
      expect(onBorder(box.get(o.layer)!, o.points[0]!)).toBe(true);
      expect(onBorder(o, o.points.at(-1)!)).toBe(true);
    }
  }, 60_000);

  it.each(examples.map((e) => [e.file, e] as const))("%s: colours monotone in mult-adds and in params, the legend's ends the least and greatest", (_file, example) => {
    const { graph, costs } = example.get();
    for (const [colourBy, value] of [
      ["multAdds", (i: number) => costs.layers[i]!.multAdds],
      ["params", (i: number) => costs.layers[i]!.params],
    ] as const) {
      const doc = parseXml(graphDrawing(graph, costs, { colourBy }));
      const fills = byClass(doc, "node").map((g, i) => ({ value: value(i), rect: child(g, "rect")! }));
      // Layers without the figure are drawn in the neutral colour; the others on the scale.
      for (const f of fills) {
        if (f.value === 0) expect(f.rect.attrs).toMatchObject({ class: "free" });
        else expect(f.rect.attrs["fill"]).toMatch(/^#[0-9a-f]{6}$/);
      }
      const scaled = fills.filter((f) => f.value > 0).sort((a, b) => a.value - b.value);
      for (let k = 1; k < scaled.length; k++) {
        // A greater value is never paler; an equal value has the same colour.
        const [a, b] = [scaled[k - 1]!, scaled[k]!];
        if (a.value === b.value) expect(b.rect.attrs["fill"]).toBe(a.rect.attrs["fill"]);
        else expect(luminance(b.rect.attrs["fill"]!)).toBeLessThanOrEqual(luminance(a.rect.attrs["fill"]!) + 1e-12);
      }
      if (scaled.length > 1 && scaled[0]!.value < scaled.at(-1)!.value) {
        expect(scaled[0]!.rect.attrs["fill"]).toBe(scaleColour(0));
        expect(scaled.at(-1)!.rect.attrs["fill"]).toBe(scaleColour(1));
      }
      const legend = byClass(doc, "legend")[0]!;
      expect(Number(legend.attrs["data-min"])).toBe(scaled[0]?.value ?? 0);
      expect(Number(legend.attrs["data-max"])).toBe(scaled.at(-1)?.value ?? 0);
      expect(textOf(child(doc, "title")!)).toContain(colourBy === "multAdds" ? "coloured by mult-adds" : "coloured by params");
    }
  }, 60_000);
});

describe("graphDrawing", () => {
  it("gives the same bytes for the same network, however often and however it is reached", () => {
    const source = readExample("mobilenet_v2.mn");
    const a = compileOk(source, { file: "a.mn" });
    const b = compileOk(source, { file: "a.mn" });
    const first = graphDrawing(a.graph, a.costs);
    expect(graphDrawing(a.graph, a.costs)).toBe(first);
    expect(graphDrawing(b.graph, b.costs)).toBe(first);
    expect(graphDrawing(a.graph, a.costs, { colourBy: "params" })).not.toBe(first);
  }, 60_000);

  it("follows α and the resolution: the shapes on the edges change with them", () => {
    const source = readExample("mobilenet_v1.mn");
    const half = compileOk(source, { alpha: 0.5, resolution: 128 });
    const doc = parseXml(graphDrawing(half.graph, half.costs));
    const first = byClass(doc, "edge")[0]!;
    expect([first.attrs["data-from"], textOf(byClass(first, "shape")[0]!)]).toEqual(["input", "128×128×3"]);
    const second = byClass(doc, "edge")[1]!;
    expect(textOf(byClass(second, "shape")[0]!)).toBe("64×64×16");
  }, 30_000);

  it("escapes every text it draws", () => {
    const { graph, costs } = compileOk(TINY);
    const hostile = { ...graph, name: `A<b>&"c"'d` };
    const doc = parseXml(graphDrawing(hostile, costs));
    expect(textOf(child(doc, "title")!)).toBe(`A<b>&"c"'d — the network as a graph, coloured by mult-adds`);
  });

  it("is a reviewed golden file for a small network with a skip and two outputs", async () => {
    const { graph, costs } = compileOk(TINY, { file: "tiny.mn" });
    await expect(graphDrawing(graph, costs) + "\n").toMatchFileSnapshot("golden/graph/skip-two-outputs.svg");
  });
});

/** The golden network: a residual skip (an add of the stem), two outputs (the features and the logits). */
const TINY = `# A small network with a residual skip and two outputs: the features and the logits.
network Tiny(classes = 10) {
  input 32x32x3
  stem = conv 3x3 16 stride=2
  dw 3x3
  pw 16 act=linear
  add stem
  features = pw 32
  avgpool global
  logits = fc classes
  output logits features
}
`;

// ---------------------------------------------------------------------------
// mnc graph

describe("mnc graph", () => {
  const work = mkdtempSync(join(tmpdir(), "mnc-graph-"));
  const run = (...args: string[]): { status: number; stdout: string; stderr: string } => {
    let stdout = "";
    let stderr = "";
    const status = main(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
    return { status, stdout, stderr };
  };
  const spec = (name: string, text: string): string => {
    const path = join(work, name);
    writeFileSync(path, text);
    return path;
  };

  it("writes <stem>.svg beside the spec by default, the library's drawing, and says so", () => {
    const path = spec("tiny.mn", TINY);
    const r = run("graph", path);
    expect(r).toEqual({ status: 0, stdout: `${join(work, "tiny.svg")}: Tiny, 8 layers, coloured by mult-adds\n`, stderr: "" });
    const { graph, costs } = compileOk(TINY, { file: path });
    expect(readFileSync(join(work, "tiny.svg"), "utf8")).toBe(graphDrawing(graph, costs) + "\n");
  });

  it("-o PATH, --colour-by params, the scaling and selection options; -o - to standard output; --quiet", () => {
    const path = spec("tiny2.mn", TINY);
    const out = join(work, "drawn.svg");
    expect(run("graph", path, "-o", out, "--colour-by", "params", "--alpha", "0.5", "--resolution", "64").status).toBe(0);
    const doc = parseXml(readFileSync(out, "utf8"));
    expect(textOf(child(doc, "title")!)).toBe("Tiny — the network as a graph, coloured by params");
    expect(textOf(byClass(byClass(doc, "edge")[1]!, "shape")[0]!)).toBe("32×32×8");
    const std = run("graph", path, "-o", "-", "--outputs", "features");
    expect(std.status).toBe(0);
    expect(std.stderr).toBe("-: Tiny, 6 layers, coloured by mult-adds\n");
    expect(byClass(parseXml(std.stdout), "node").map((n) => n.attrs["data-node"])).toEqual(["input", "conv_0", "dw_1", "pw_2", "add_0", "pw_3"]);
    expect(run("graph", path, "-o", join(work, "q.svg"), "-q")).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(existsSync(join(work, "q.svg"))).toBe(true);
  });

  it("errors in the spec are located diagnostics, exit 1, and no file is written", () => {
    const path = spec("bad.mn", "network N {\n  input 8x8x3\n  pw 4\n  add nope\n}\n");
    const r = run("graph", path);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path}:4:7: error MN2029: no tensor named 'nope' here`);
    expect(existsSync(join(work, "bad.svg"))).toBe(false);
    const missing = run("graph", join(work, "none.mn"));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^mnc: error: cannot read '.*none\.mn'/);
  });

  it("mnc report --format html shows the drawing in its Graph section; reportHtml without it is as before", () => {
    const path = spec("tiny4.mn", TINY);
    const out = join(work, "tiny4.html");
    expect(run("report", path, "--format", "html", "-o", out).status).toBe(0);
    const html = readFileSync(out, "utf8");
    expect(html.startsWith("<!DOCTYPE html>\n")).toBe(true);
    const page = parseXml(html.slice("<!DOCTYPE html>\n".length));
    const section = descendants(page, (e) => e.name === "section" && e.attrs["id"] === "graph");
    expect(section).toHaveLength(1);
    const { graph, costs } = compileOk(TINY, { file: path });
    expect(byClass(section[0]!, "node").map((n) => n.attrs["data-node"])).toEqual(graph.nodes.map((n) => n.id));
    expect(html).toContain(graphDrawing(graph, costs));
    const plain = reportHtml(buildReport(graph, costs));
    expect(plain).not.toContain("mnc-graph");
    expect(reportHtml(buildReport(graph, costs), { graph: graphDrawing(graph, costs) })).toBe(html);
  });

  it("usage mistakes exit 2; its help says what it does", () => {
    const path = spec("tiny3.mn", TINY);
    expect(run("graph", path, "--colour-by", "flops")).toMatchObject({ status: 2, stderr: "mnc: --colour-by must be mult-adds or params, not 'flops'\n" });
    expect(run("graph", path, path).status).toBe(2);
    expect(run("graph").status).toBe(2);
    expect(run("graph", path, "--format", "png").status).toBe(2);
    expect(run("graph", path, "-o", path)).toMatchObject({ status: 2 });
    expect(readFileSync(path, "utf8")).toBe(TINY);
    const help = run("graph", "--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mnc graph FILE/);
    expect(help.stdout).toContain("--colour-by FIGURE");
    expect(run("--help").stdout).toMatch(/mnc graph FILE {10}draw the network as a graph/);
  });
});

// ---------------------------------------------------------------------------
// In a real browser: text as a font sets it

const chromium = "/usr/bin/chromium";

/** In the page (a string: the test's own types have no DOM): every text of a layer, shape label or output that pokes out of its box. */
const MISFITS = `(() => {
  const out = [];
  const inside = (inner, outer) => inner.left >= outer.left - 0.5 && inner.right <= outer.right + 0.5 && inner.top >= outer.top - 0.5 && inner.bottom <= outer.bottom + 0.5;
  for (const g of document.querySelectorAll("g.node, g.shape, g.output")) {
    const rect = g.querySelector(":scope > rect").getBoundingClientRect();
    for (const t of g.querySelectorAll(":scope > text")) {
      if (!inside(t.getBoundingClientRect(), rect)) out.push((g.getAttribute("data-node") ?? g.parentElement.getAttribute("data-to") ?? "") + ": '" + t.textContent + "'");
    }
  }
  return out;
})()`;

describe.runIf(available(existsSync(chromium) || process.env["CI"] === "true", "the graph drawing in headless Chromium", `no ${chromium} (apt-get install chromium)`))("the drawing in headless Chromium", () => {
  it("every layer's id and summary and every shape label fit inside their boxes; screenshots in test-output/", async () => {
    const { default: puppeteer } = await import("puppeteer-core");
    const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      const shots = join(root, "test-output");
      mkdirSync(shots, { recursive: true });
      for (const [name, source] of [
        ["skip-two-outputs", TINY],
        ["mobilenet_v2", readExample("mobilenet_v2.mn")],
        ["selfie_segmentation", readExample("selfie_segmentation.mn")],
      ] as const) {
        const { graph, costs } = compileOk(source);
        const svg = graphDrawing(graph, costs);
        await page.setViewport({ width: 1000, height: 1400 });
        await page.setContent(`<!DOCTYPE html><html><body style="margin:0">${svg}</body></html>`);
        const misfits = (await page.evaluate(MISFITS)) as string[];
        expect(misfits, name).toEqual([]);
        await page.screenshot({ path: join(shots, `graph-${name}.png`) as `${string}.png`, fullPage: true });
      }
    } finally {
      await browser.close();
    }
  }, 90_000);
});
