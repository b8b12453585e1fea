/**
 * One document, analysed once per version: its outline (which survives syntax
 * errors), every diagnostic `mnc check` gives it, and, for each network that
 * compiles, its graph, costs and report rows with the layers each statement
 * made — what hover, definition, completion and symbols answer from.
 */
import { analyze, parse, type CompileOptions } from "../index.js";
import { buildGraph } from "../ir/build.js";
import type { Diagnostic } from "../ir/diagnostics.js";
import type { Graph } from "../ir/graph.js";
import type { CostAnalysis } from "../passes/analyze-costs.js";
import { buildReport, type Report, type ReportLayer } from "../emit/report/model.js";
import { LineIndex } from "./position.js";
import { outline, type Outline } from "./outline.js";

/** What `mnc check` takes: the network, parameters, α, resolution, rounding, outputs. */
export type DocumentOptions = Omit<CompileOptions, "file" | "budgets" | "weights" | "weightsFile" | "labels" | "labelsFile" | "trace">;

export interface NetworkAnalysis {
  readonly name: string;
  /** Present when the network compiles. */
  readonly graph?: Graph;
  readonly costs?: CostAnalysis;
  readonly report?: Report;
  /** The report's row of each layer, by id. */
  readonly layers: ReadonlyMap<string, ReportLayer>;
  /**
   * The layers each statement made, keyed by the offset of the statement's
   * name: one list per expansion (a statement in a `repeat`, or in a block
   * called twice, is expanded more than once), layers left out by the passes removed.
   */
  readonly expansions: ReadonlyMap<number, readonly (readonly string[])[]>;
}

export interface DocumentAnalysis {
  readonly text: string;
  readonly file: string;
  readonly options: DocumentOptions;
  readonly lines: LineIndex;
  readonly outline: Outline;
  /** Every diagnostic, as `mnc check` reports them (each once). */
  readonly diagnostics: readonly Diagnostic[];
  readonly networks: readonly NetworkAnalysis[];
}

export function analyzeDocument(text: string, file: string, options: DocumentOptions = {}): DocumentAnalysis {
  const base = { text, file, options, lines: new LineIndex(text), outline: outline(text) };
  const parsed = parse(text, { file });
  if (parsed.ast === undefined) return { ...base, diagnostics: parsed.diagnostics, networks: [] };
  const names = options.network !== undefined ? [options.network] : parsed.ast.declarations.filter((d) => d.kind === "network").map((d) => d.name.name);
  // No network: the builder says why (none declared, or blocks with errors).
  if (names.length === 0) return { ...base, diagnostics: buildGraph(parsed.ast, options).diagnostics, networks: [] };
  const seen = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  const networks: NetworkAnalysis[] = [];
  for (const name of names) {
    const made = new Map<number, string[][]>();
    const trace = (s: { readonly name: { readonly span: { readonly start: number } } }, ids: readonly string[]): void => {
      const key = s.name.span.start;
      const list = made.get(key) ?? [];
      list.push([...ids]);
      made.set(key, list);
    };
    const r = analyze(text, { ...options, file, network: name, trace });
    for (const d of r.diagnostics) {
      const key = `${d.code}@${d.span?.start}:${d.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      diagnostics.push(d);
    }
    if (r.graph === undefined || r.costs === undefined) {
      networks.push({ name, layers: new Map(), expansions: new Map() });
      continue;
    }
    const present = new Set(r.graph.nodes.map((n) => n.id));
    const expansions = new Map([...made].map(([k, lists]) => [k, lists.map((ids) => ids.filter((id) => present.has(id))).filter((ids) => ids.length > 0)]));
    const report = buildReport(r.graph, r.costs);
    networks.push({ name, graph: r.graph, costs: r.costs, report, layers: new Map(report.layers.map((l) => [l.name, l])), expansions });
  }
  return { ...base, diagnostics, networks };
}
