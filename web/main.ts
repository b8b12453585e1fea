/**
 * The playground: a `.mn` editor beside the live cost report, the graph
 * drawing and the α × resolution sweep, all computed in the page by the
 * compiler core (no server round trip), with the compiler's own outputs as
 * downloads. See docs/playground.md.
 */
import { basicSetup } from "codemirror";
import { EditorView } from "@codemirror/view";
import { EditorState } from "@codemirror/state";
import { lintGutter, setDiagnostics, type Diagnostic as EditorDiagnostic } from "@codemirror/lint";
import { EXAMPLES } from "mnc:examples";
import { analyze, compile, parse, sweep, type CompileOptions, type CompileResult } from "../src/index.js";
import { Messages, type Diagnostic } from "../src/ir/diagnostics.js";
import { renderDiagnostic } from "../src/ir/render.js";
import { buildReport, type Report } from "../src/emit/report/model.js";
import { reportHtml } from "../src/emit/report/html.js";
import { configLabel, sweepChart } from "../src/emit/report/svg.js";
import { DEFAULT_OPSET, emitOnnx } from "../src/emit/onnx/index.js";
import { emitJavaScript, emitTypeScript } from "../src/emit/ts/index.js";
import { emitPyTorch } from "../src/emit/pytorch/index.js";
import type { Declaration } from "../src/parser/ast.js";
import { graphDrawing, type ColourBy } from "../src/emit/graph/index.js";
import type { Graph } from "../src/ir/graph.js";
import type { CostAnalysis } from "../src/passes/analyze-costs.js";
import { byId, download, h, svgElement } from "./dom.js";
import { languageServices } from "./ide.js";
import { mn } from "./mn-language.js";
import { layersView, titleOf, totalsView, typeView } from "./report-view.js";
import { decodeShared, encodeShared } from "./share.js";

/** How long the page waits after a keystroke before it compiles again. */
const DEBOUNCE_MS = 200;
/** The sweep (many compilations) waits a little longer, so that the report shows first. */
const SWEEP_DELAY_MS = 400;
/** While a slider moves, the page updates at most this often. */
const SLIDER_MS = 40;
const DEFAULT_EXAMPLE = "mobilenet_v1.mn";
const UNTITLED = "untitled.mn";

/** The playground's settings: what `mnc report` takes as options. */
interface Settings {
  name: string;
  alpha?: number;
  resolution?: number;
  network?: string;
  set: Record<string, string>;
  colourBy: ColourBy;
}

const settings: Settings = { name: UNTITLED, set: {}, colourBy: "multAdds" };

/** The catalogue's summary of each code (docs/errors.md lists the same). */
const SUMMARIES: ReadonlyMap<string, string> = new Map(Object.values(Messages).map((m) => [m.code, m.summary]));

// ── the editor ─────────────────────────────────────────────────────────────

let view: EditorView;

function editorDiagnostic(d: Diagnostic, length: number): EditorDiagnostic {
  let from = Math.min(d.span?.start ?? 0, length);
  let to = Math.min(d.span?.end ?? 0, length);
  // An empty span (an end of file, a missing token) still gets a character to underline.
  if (to <= from) {
    if (from < length) to = from + 1;
    else from = Math.max(0, length - 1);
  }
  const notes = d.related.map((r) => `note: ${r.message}${r.span === undefined ? "" : ` (line ${r.span.line})`}`);
  const message = [`${d.code}: ${d.message}`, ...notes].join("\n");
  return {
    from,
    to: Math.max(to, from),
    severity: d.severity,
    source: d.code,
    message,
    renderMessage: () =>
      h(
        "div",
        { class: "lint-message" },
        h("div", {}, h("strong", { class: "code" }, d.code), " ", d.message),
        ...notes.map((n) => h("div", { class: "note" }, n)),
        h("div", { class: "summary" }, SUMMARIES.get(d.code) ?? ""),
      ),
  };
}

function selectLine(line: number): void {
  if (line < 1 || line > view.state.doc.lines) return;
  const l = view.state.doc.line(line);
  view.dispatch({ selection: { anchor: l.from, head: l.to }, scrollIntoView: true });
  view.focus();
}

/** Marks the graph's nodes and the table's rows of the layers written on `line`. */
function highlightLine(line: number): void {
  for (const e of document.querySelectorAll(".selected[data-line]")) e.classList.remove("selected");
  for (const e of document.querySelectorAll(`#graph [data-line="${line}"], #layers [data-line="${line}"]`)) e.classList.add("selected");
}

// ── compiling ──────────────────────────────────────────────────────────────

function networksOf(source: string): readonly Declaration[] {
  const ast = parse(source, { file: settings.name }).ast;
  return ast === undefined ? [] : ast.declarations.filter((d) => d.kind === "network");
}

function compileOptions(networks: readonly Declaration[]): CompileOptions {
  const network = settings.network !== undefined && networks.some((n) => n.name.name === settings.network) ? settings.network : networks.length > 1 ? networks[0]!.name.name : undefined;
  const set = Object.fromEntries(Object.entries(settings.set).filter(([, v]) => v.trim() !== ""));
  return {
    file: settings.name,
    ...(network === undefined ? {} : { network }),
    ...(Object.keys(set).length === 0 ? {} : { set }),
    ...(settings.alpha === undefined ? {} : { alpha: settings.alpha }),
    ...(settings.resolution === undefined ? {} : { resolution: settings.resolution }),
  };
}

/** The last network that compiled, shown (dimmed) while the source has errors. */
let current: { readonly source: string; readonly options: CompileOptions; readonly report: Report; readonly graph: Graph; readonly costs: CostAnalysis } | undefined;
let generation = 0;
/** The options of the last analysis: hover and completion answer with the same. */
let lastOptions: CompileOptions = {};

function update(): void {
  const run = ++generation;
  const source = view.state.doc.toString();
  const networks = networksOf(source);
  renderParameters(networks);
  const options = compileOptions(networks);
  lastOptions = options;
  const started = performance.now();
  const r = analyze(source, options);
  const ms = performance.now() - started;
  view.dispatch(setDiagnostics(view.state, r.diagnostics.map((d) => editorDiagnostic(d, source.length))));
  renderProblems(r.diagnostics, source);
  const results = byId("results");
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  if (r.graph !== undefined && r.costs !== undefined) {
    const report = buildReport(r.graph, r.costs);
    current = { source, options, report, graph: r.graph, costs: r.costs };
    results.classList.remove("stale");
    byId("title").textContent = titleOf(report);
    byId("totals").replaceChildren(totalsView(report));
    byId("by-type").replaceChildren(typeView(report));
    byId("layers").replaceChildren(layersView(report));
    renderGraph(r.graph, r.costs);
    syncSliders(report);
    setStatus(`${report.layers.length} layers · analysed in ${Math.round(ms)} ms`, "ok");
    highlightLine(view.state.doc.lineAt(view.state.selection.main.head).number);
  } else {
    results.classList.add("stale");
    setStatus(`${errors} error${errors === 1 ? "" : "s"}${current === undefined ? "" : " — showing the last network that compiled"}`, "error");
  }
  setDownloadsEnabled(r.graph !== undefined);
  void saveToUrl(source);
  setTimeout(() => {
    if (run === generation) updateSweep(source, options);
  }, SWEEP_DELAY_MS);
}

let timer: ReturnType<typeof setTimeout> | undefined;
function schedule(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = undefined;
    update();
  }, DEBOUNCE_MS);
}

/** An update soon, without postponing one already due (a slider dragged updates as it goes). */
function soon(): void {
  if (timer === undefined) {
    timer = setTimeout(() => {
      timer = undefined;
      update();
    }, SLIDER_MS);
  }
}

function setStatus(text: string, kind: "ok" | "error" | "busy"): void {
  const s = byId("status");
  s.textContent = text;
  s.dataset["kind"] = kind;
}

function renderProblems(diagnostics: readonly Diagnostic[], source: string): void {
  const list = byId("problems");
  list.replaceChildren(
    ...diagnostics.map((d) => {
      const item = h("li", { class: d.severity, "data-code": d.code }, h("pre", {}, renderDiagnostic(d, source)), h("div", { class: "summary" }, `${d.code}: ${SUMMARIES.get(d.code) ?? ""}`));
      if (d.span !== undefined) {
        const line = d.span.line;
        item.addEventListener("click", () => selectLine(line));
      }
      return item;
    }),
  );
  list.hidden = diagnostics.length === 0;
}

function renderGraph(graph: Graph, costs: CostAnalysis): void {
  byId("graph").replaceChildren(svgElement(graphDrawing(graph, costs, { colourBy: settings.colourBy })));
}

function updateSweep(source: string, options: CompileOptions): void {
  const target = byId("sweep");
  const { alpha: _a, resolution: _r, ...rest } = options;
  const s = sweep(source, rest);
  if (s.sweep === undefined) {
    target.classList.add("stale");
    return;
  }
  target.classList.remove("stale");
  target.replaceChildren(svgElement(sweepChart(s.sweep)));
  const r = current?.report;
  if (r !== undefined && r.resolution[0] === r.resolution[1]) {
    target.querySelector(`[data-config="${configLabel({ alpha: r.alpha, resolution: r.resolution[0] })}"]`)?.classList.add("current");
  }
}

/** A click on a configuration of the sweep sets α and the resolution to it. */
function wireSweep(): void {
  byId("sweep").addEventListener("click", (e) => {
    const config = (e.target as Element).closest("[data-config]")?.getAttribute("data-config");
    const m = config === null || config === undefined ? null : /^(.+)-(\d+)$/.exec(config);
    if (m === null) return;
    settings.alpha = Number(m[1]);
    settings.resolution = Number(m[2]);
    update();
  });
}

// ── controls ───────────────────────────────────────────────────────────────

/** Each slider and its number box, and the setting they change. */
const SCALES = [
  { key: "alpha", slider: "alpha", box: "alpha-value", reset: "alpha-reset", own: (r: Report) => r.alpha },
  { key: "resolution", slider: "resolution", box: "resolution-value", reset: "resolution-reset", own: (r: Report) => r.resolution[0] },
] as const;

function syncSliders(r: Report): void {
  for (const s of SCALES) {
    const value = settings[s.key] ?? s.own(r);
    const slider = byId<HTMLInputElement>(s.slider);
    const box = byId<HTMLInputElement>(s.box);
    if (document.activeElement !== slider) slider.value = String(value);
    if (document.activeElement !== box) box.value = String(value);
    byId<HTMLButtonElement>(s.reset).disabled = settings[s.key] === undefined;
  }
}

function wireSliders(): void {
  for (const s of SCALES) {
    const slider = byId<HTMLInputElement>(s.slider);
    const box = byId<HTMLInputElement>(s.box);
    const set = (text: string): void => {
      const v = Number(text);
      if (!(Number.isFinite(v) && v > 0)) return;
      settings[s.key] = v;
      soon();
    };
    slider.addEventListener("input", () => {
      box.value = slider.value;
      set(slider.value);
    });
    box.addEventListener("change", () => set(box.value));
    byId(s.reset).addEventListener("click", () => {
      delete settings[s.key];
      update();
    });
  }
  byId<HTMLSelectElement>("colour-by").addEventListener("change", (e) => {
    settings.colourBy = (e.target as HTMLSelectElement).value === "params" ? "params" : "multAdds";
    if (current !== undefined) update();
  });
}

/** The parameter inputs are rebuilt only when the network's parameter list changes (typing keeps focus). */
let parametersKey = "";

function renderParameters(networks: readonly Declaration[]): void {
  const source = view.state.doc.toString();
  const chosen = networks.find((n) => n.name.name === settings.network) ?? networks[0];
  const key = JSON.stringify([networks.map((n) => n.name.name), chosen?.params.map((p) => [p.name.name, p.default === undefined ? null : source.slice(p.default.span.start, p.default.span.end)])]);
  if (key === parametersKey) return;
  parametersKey = key;
  const box = byId("parameters");
  const items: HTMLElement[] = [];
  if (networks.length > 1) {
    const select = h("select", { id: "network", "aria-label": "network" }, ...networks.map((n) => h("option", { value: n.name.name }, n.name.name)));
    select.value = chosen?.name.name ?? "";
    select.addEventListener("change", () => {
      settings.network = select.value;
      update();
    });
    items.push(h("label", {}, "network ", select));
  }
  for (const p of chosen?.params ?? []) {
    const name = p.name.name;
    const fallback = p.default === undefined ? "required" : source.slice(p.default.span.start, p.default.span.end);
    const input = h("input", { type: "text", size: "8", "data-param": name, placeholder: fallback, value: settings.set[name] ?? "", "aria-label": `parameter ${name}` });
    input.addEventListener("change", () => {
      settings.set[name] = input.value;
      update();
    });
    items.push(h("label", {}, `${name} `, input));
  }
  box.replaceChildren(...items);
  box.hidden = items.length === 0;
}

// ── downloads ──────────────────────────────────────────────────────────────

let compiled: { readonly key: string; readonly result: CompileResult } | undefined;

/** The whole compiler (weights seeded, batch-norm fused and certified) for the current source and settings, kept for the next download. */
function compiledNow(): (CompileResult & Required<Pick<CompileResult, "graph" | "costs">>) | undefined {
  const source = view.state.doc.toString();
  const options = compileOptions(networksOf(source));
  const key = JSON.stringify([source, options]);
  if (compiled?.key !== key) compiled = { key, result: compile(source, options) };
  const r = compiled.result;
  if (r.graph === undefined || r.costs === undefined) {
    setStatus(`cannot compile: ${r.diagnostics.find((d) => d.severity === "error")?.message ?? "errors"}`, "error");
    return undefined;
  }
  return r as CompileResult & Required<Pick<CompileResult, "graph" | "costs">>;
}

const stem = (): string => settings.name.replace(/\.mn$/i, "") || "network";

/** The page's downloads, by the `data-download` of their buttons in index.html. */
type Download = "onnx" | "ts" | "js" | "dts" | "weights" | "pytorch" | "html";
const isDownload = (kind: string): kind is Download => Object.hasOwn(DOWNLOADS, kind);

const DOWNLOADS: Record<Download, () => void> = {
  onnx: () => {
    const r = compiledNow();
    if (r === undefined) return;
    download(`${stem()}.onnx`, emitOnnx(r, { sourceFile: settings.name, sourceText: view.state.doc.toString(), opset: DEFAULT_OPSET, inputLayout: "nchw" }), "application/octet-stream");
  },
  ts: () => {
    const r = compiledNow();
    if (r === undefined) return;
    download(`${stem()}.ts`, emitTypeScript(r, { sourceFile: settings.name, moduleName: `${stem()}.ts`, embedWeights: false, wasm: true }).code, "text/plain");
  },
  js: () => {
    const r = compiledNow();
    if (r === undefined) return;
    download(`${stem()}.js`, emitJavaScript(r, { sourceFile: settings.name, moduleName: `${stem()}.js`, embedWeights: false, wasm: true }).code, "text/javascript");
  },
  dts: () => {
    const r = compiledNow();
    if (r === undefined) return;
    download(`${stem()}.d.ts`, emitJavaScript(r, { sourceFile: settings.name, moduleName: `${stem()}.js`, embedWeights: false, wasm: true }).declarations, "text/plain");
  },
  weights: () => {
    const r = compiledNow();
    if (r === undefined) return;
    const w = emitTypeScript(r, { sourceFile: settings.name, moduleName: `${stem()}.ts`, embedWeights: false, wasm: true }).weights;
    if (w !== undefined) download(`${stem()}.weights.bin`, w, "application/octet-stream");
  },
  pytorch: () => {
    const r = compiledNow();
    if (r === undefined) return;
    // As mnc compile --emit pytorch: the module of the graph with batch-norm kept (it trains).
    download(`${stem()}.py`, emitPyTorch(r.unfused ?? r.graph, { sourceFile: settings.name }), "text/x-python");
  },
  html: () => {
    if (current === undefined) return;
    // As mnc report --format html: the graph drawing (coloured by mult-adds) in its Graph section.
    download(`${stem()}.report.html`, reportHtml(current.report, { graph: graphDrawing(current.graph, current.costs) }), "text/html");
  },
};

function setDownloadsEnabled(enabled: boolean): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>("button[data-download]")) b.disabled = !enabled;
}

function wireDownloads(): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>("button[data-download]")) {
    const kind = b.dataset["download"] ?? "";
    if (!isDownload(kind)) throw new Error(`index.html: no download '${kind}'`);
    const run = DOWNLOADS[kind];
    b.addEventListener("click", () => {
      setStatus("compiling…", "busy");
      // Let the status paint before the compiler holds the thread.
      setTimeout(() => {
        const started = performance.now();
        try {
          run();
        } catch (e) {
          setStatus(`${b.textContent ?? kind}: ${e instanceof Error ? e.message : String(e)}`, "error");
          throw e;
        }
        if (byId("status").dataset["kind"] === "busy") setStatus(`${b.textContent ?? kind} ready in ${Math.round(performance.now() - started)} ms`, "ok");
      }, 16);
    });
  }
}

// ── examples, the file name and the link ──────────────────────────────────

function load(name: string, source: string): void {
  settings.name = name;
  byId<HTMLInputElement>("file-name").value = name;
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: source } });
}

function wireExamples(): void {
  const select = byId<HTMLSelectElement>("examples");
  select.append(...EXAMPLES.map((e) => h("option", { value: e.name }, e.name)));
  select.addEventListener("change", () => {
    const e = EXAMPLES.find((x) => x.name === select.value);
    select.value = "";
    if (e === undefined) return;
    settings.set = {};
    delete settings.alpha;
    delete settings.resolution;
    delete settings.network;
    load(e.name, e.source);
    update();
  });
  const name = byId<HTMLInputElement>("file-name");
  name.addEventListener("change", () => {
    settings.name = name.value.trim() === "" ? UNTITLED : name.value.trim();
    update();
  });
}

async function saveToUrl(source: string): Promise<void> {
  const fragment = await encodeShared({
    name: settings.name,
    source,
    ...(settings.network === undefined ? {} : { network: settings.network }),
    ...(settings.alpha === undefined ? {} : { alpha: settings.alpha }),
    ...(settings.resolution === undefined ? {} : { resolution: settings.resolution }),
    set: Object.fromEntries(Object.entries(settings.set).filter(([, v]) => v.trim() !== "")),
  });
  if (view.state.doc.toString() === source) history.replaceState(null, "", `#${fragment}`);
}

function wireShare(): void {
  const button = byId<HTMLButtonElement>("share");
  button.addEventListener("click", async () => {
    await saveToUrl(view.state.doc.toString());
    const link = location.href;
    try {
      await navigator.clipboard.writeText(link);
      setStatus("link copied: it carries the source and settings", "ok");
    } catch {
      setStatus("the address bar holds the link to this design", "ok");
    }
  });
}

// ── start ──────────────────────────────────────────────────────────────────

async function start(): Promise<void> {
  const shared = await decodeShared(location.hash);
  const example = EXAMPLES.find((e) => e.name === DEFAULT_EXAMPLE) ?? EXAMPLES[0];
  const source = shared.source ?? example?.source ?? "";
  settings.name = shared.name ?? (shared.source === undefined ? example?.name ?? UNTITLED : UNTITLED);
  if (shared.alpha !== undefined) settings.alpha = shared.alpha;
  if (shared.resolution !== undefined) settings.resolution = shared.resolution;
  if (shared.network !== undefined) settings.network = shared.network;
  settings.set = { ...shared.set };
  byId<HTMLInputElement>("file-name").value = settings.name;
  // The editor lives in a shadow root: CodeMirror then styles it with constructed style sheets
  // (adoptedStyleSheets) rather than <style> elements, which the Content-Security-Policy refuses.
  const shadow = byId("editor").attachShadow({ mode: "open" });
  const mount = h("div", { class: "mount" });
  shadow.append(h("link", { rel: "stylesheet", href: "editor.css" }), mount);
  view = new EditorView({
    root: shadow,
    parent: mount,
    state: EditorState.create({
      doc: source,
      extensions: [
        basicSetup,
        mn(),
        lintGutter(),
        languageServices(() => {
          const { file: _file, budgets: _b, weights: _w, weightsFile: _wf, labels: _l, labelsFile: _lf, ...rest } = lastOptions;
          return { ...rest, file: settings.name };
        }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) schedule();
          if (u.selectionSet || u.docChanged) highlightLine(u.state.doc.lineAt(u.state.selection.main.head).number);
        }),
        EditorView.contentAttributes.of({ "aria-label": ".mn source" }),
      ],
    }),
  });
  // A click on a graph node or a layer row selects the line that wrote the layer.
  for (const id of ["graph", "layers"]) {
    byId(id).addEventListener("click", (e) => {
      const target = (e.target as Element).closest("[data-line]");
      const line = Number(target?.getAttribute("data-line"));
      if (Number.isInteger(line) && line > 0) selectLine(line);
    });
  }
  wireSliders();
  wireDownloads();
  wireExamples();
  wireShare();
  wireSweep();
  update();
  if (shared.problem !== undefined) setStatus(shared.problem, "error");
}

start().catch((e: unknown) => {
  setStatus(`the page failed to start: ${e instanceof Error ? e.message : String(e)}`, "error");
  throw e;
});
