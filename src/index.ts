/**
 * mnc as a library: the same pipeline as the CLI, on source text, with no
 * file system — it runs in a browser as well as in Node.
 *
 *   import { compile } from "mnc";
 *   const r = compile(text, { file: "net.mn", alpha: 0.5 });
 *   if (r.diagnostics.length) … else r.costs.totals.multAdds
 */
import { parse as parseText, type ParseResult } from "./parser/parse.js";
import { buildGraph, type BuildOptions } from "./ir/build.js";
import { error, hasErrors, sortDiagnostics, type Diagnostic } from "./ir/diagnostics.js";
import { integerProblem } from "./ir/reference-int.js";
import { certifyFusion, type FusionCertificate } from "./passes/certify-fusion.js";
import { fuseBatchNorm } from "./passes/fuse-batch-norm.js";
import { importWeights } from "./passes/import-weights.js";
import { DEFAULT_SEED, initWeights } from "./passes/init-weights.js";
import { WeightFileError } from "./weights/errors.js";
import { readWeightFile, type WeightSource } from "./weights/source.js";
import type { Graph } from "./ir/graph.js";
import { runPipeline } from "./passes/pipeline.js";
import { lint } from "./passes/lint.js";
import type { PassOptions } from "./passes/types.js";
import { analyzeCosts, type CostAnalysis } from "./passes/analyze-costs.js";
import { checkBudgets, checkMemoryLimits, type Budgets } from "./passes/check-budgets.js";
import { buildReport, type Report, type ReportOptions } from "./emit/report/model.js";
import type { Sweep, SweepPoint } from "./emit/report/sweep.js";
import { VERSION } from "./version.js";

export interface CompileOptions extends BuildOptions, Omit<PassOptions, "weightSource"> {
  /** The file name used in diagnostics (default `<input>`). */
  readonly file?: string;
  /** Fail when the network costs more than this. */
  readonly budgets?: Budgets;
  /** A weight file's bytes (TFLite or safetensors, told apart by content); without it, weights are seeded. */
  readonly weights?: Uint8Array;
  /** The weight file's name, for messages. */
  readonly weightsFile?: string;
  /** Fold batch-norm into the convolutions (default true). */
  readonly fuseBatchNorm?: boolean;
  /** Class names, one per output of the last layer (checked here; the TypeScript emitter and `mnc run` use them). */
  readonly labels?: readonly string[];
  /** The labels' file name, for messages. */
  readonly labelsFile?: string;
}

export interface CheckResult {
  /** The network after all passes; present when there are no errors. */
  readonly graph?: Graph;
  readonly diagnostics: readonly Diagnostic[];
}

export interface AnalyzeResult extends CheckResult {
  readonly costs?: CostAnalysis;
}

export interface CompileResult extends AnalyzeResult {
  /** The graph with weights and batch-norm kept. */
  readonly unfused?: Graph;
  /** Present when batch-norm was fused. */
  readonly certificate?: FusionCertificate;
}

/** Text → AST, with every syntax error. */
export function parse(source: string, options: { readonly file?: string } = {}): ParseResult {
  return parseText(source, options.file ?? "<input>");
}

/**
 * The whole front end: parse, build, and run the passes. Every diagnostic is
 * returned, however many (the CLI prints the first 50, then counts the rest),
 * except that the parser stops recovering from syntax errors after
 * MAX_SYNTAX_ERRORS (100) and then ends the list with an MN1002 saying so.
 */
export function check(source: string, options: CompileOptions = {}): CheckResult {
  const parsed = parse(source, options);
  if (parsed.ast === undefined) return { diagnostics: parsed.diagnostics };
  const built = buildGraph(parsed.ast, options);
  if (built.graph === undefined) return { diagnostics: sortDiagnostics(built.diagnostics) };
  const diagnostics: Diagnostic[] = [...built.diagnostics];
  const graph = runPipeline(built.graph, { options, diagnostics });
  if (graph === undefined || hasErrors(diagnostics)) return { diagnostics: sortDiagnostics(diagnostics) };
  // Warnings (MN6xxx) never stop the pipeline.
  diagnostics.push(...lint(graph, options));
  return { graph, diagnostics: sortDiagnostics(diagnostics) };
}

/** Check, then count the costs and hold them to the budgets. */
export function analyze(source: string, options: CompileOptions = {}): AnalyzeResult {
  const checked = check(source, options);
  if (checked.graph === undefined) return checked;
  const costs = analyzeCosts(checked.graph);
  const over = checkBudgets(costs, options.budgets ?? {});
  if (over.length > 0) return { diagnostics: [...checked.diagnostics, ...over] };
  return { ...checked, costs };
}

/**
 * The whole compiler up to the emitters: analyse, attach weights (imported
 * from `options.weights`, or seeded), fold batch-norm (unless
 * `fuseBatchNorm: false`) and certify the fold with the reference evaluator.
 * `graph` is the deployable graph; `unfused` the same with batch-norm kept.
 */
export function compile(source: string, options: CompileOptions = {}): CompileResult {
  const analyzed = analyze(source, options);
  if (analyzed.graph === undefined || analyzed.costs === undefined) return analyzed;
  const diagnostics: Diagnostic[] = [...analyzed.diagnostics, ...checkMemoryLimits(analyzed.costs), ...checkLabels(analyzed.graph, options)];
  if (hasErrors(diagnostics)) return { diagnostics };
  let weights: WeightSource | undefined;
  if (options.weights !== undefined) {
    try {
      weights = readWeightFile(options.weights);
    } catch (e) {
      if (!(e instanceof WeightFileError)) throw e;
      const where = e.offset === undefined ? "" : ` (at byte ${e.offset})`;
      return { diagnostics: [...diagnostics, error("weightFileUnreadable", undefined, options.weightsFile ?? "the weights file", e.message + where)] };
    }
  }
  const { weights: _bytes, ...passOptions } = options;
  const ctx = { options: { ...passOptions, ...(weights === undefined ? {} : { weightSource: weights }) }, diagnostics };
  const unfused = runPipeline(analyzed.graph, ctx, [importWeights, initWeights]);
  if (unfused === undefined) return { diagnostics: sortDiagnostics(diagnostics) };
  if (options.fuseBatchNorm === false) return { graph: unfused, unfused, costs: analyzed.costs, diagnostics };
  const fused = runPipeline(unfused, ctx, [fuseBatchNorm]);
  if (fused === undefined) return { diagnostics: sortDiagnostics(diagnostics) };
  // --quantized asks for integer inference: every layer must have it.
  const problem = options.quantized === true && options.weights !== undefined ? integerProblem(fused) : undefined;
  if (problem !== undefined) return { diagnostics: sortDiagnostics([...diagnostics, error("integerUnsupported", problem.node.span, problem.node.id, problem.reason, "leave out --quantized to run the network in float")]) };
  const certificate = certifyFusion(unfused, fused, options.seed ?? DEFAULT_SEED, diagnostics);
  if (hasErrors(diagnostics)) return { diagnostics };
  return { graph: fused, unfused, costs: analyzed.costs, certificate, diagnostics };
}

/** Labels, when given, name each output of the last layer once. */
function checkLabels(graph: Graph, options: CompileOptions): Diagnostic[] {
  if (options.labels === undefined) return [];
  const last = graph.nodes.find((n) => n.id === graph.outputs[0])!;
  const outputs = last.shape === undefined ? 0 : last.shape[0] * last.shape[1] * last.shape[2];
  if (options.labels.length === outputs) return [];
  return [error("labelCount", undefined, options.labelsFile, options.labels.length, outputs, last.id)];
}

/** The cost report of one network (every format prints this). */
export function report(source: string, options: CompileOptions & ReportOptions = {}): ReportResult {
  const { int8, ...compileOptions } = options;
  // A quantized model's own integers (--weights F --quantized): its int8 memory as stored.
  const quantized = options.quantized === true && options.weights !== undefined;
  const r = quantized ? compile(source, compileOptions) : analyze(source, compileOptions);
  if (r.graph === undefined || r.costs === undefined) return { diagnostics: r.diagnostics };
  return { report: buildReport(r.graph, r.costs, { int8: quantized || int8 === true }), graph: r.graph, costs: r.costs, diagnostics: r.diagnostics };
}

/** A report, and the analysed graph and costs it was made from (for a drawing beside it); all three present when there are no errors. */
export interface ReportResult extends AnalyzeResult {
  readonly report?: Report;
}

export interface SweepOptions extends Omit<CompileOptions, "alpha" | "resolution" | "rho"> {
  /** Width multipliers; by default the network's own α times each of SWEEP_ALPHA_FACTORS. */
  readonly alphas?: readonly number[];
  /**
   * Square input resolutions; by default the network's own input height, then downwards in
   * steps of SWEEP_RESOLUTION_STEP, SWEEP_RESOLUTION_COUNT at most, while the network accepts them.
   */
  readonly resolutions?: readonly number[];
}

/** The default sweep grid: MobileNet's 1, 0.75, 0.5, 0.25 and 224, 192, 160, 128 for a network at α 1 and 224 px. */
export const SWEEP_ALPHA_FACTORS: readonly number[] = [1, 0.75, 0.5, 0.25];
export const SWEEP_RESOLUTION_STEP = 32;
export const SWEEP_RESOLUTION_COUNT = 4;

/** The α and resolution lists a sweep uses: the given ones, or a grid around the network's own. */
function sweepGrid(source: string, options: SweepOptions): { readonly alphas?: readonly number[]; readonly resolutions?: readonly number[]; readonly diagnostics: readonly Diagnostic[] } {
  const base: CompileOptions = { ...options };
  if (options.alphas !== undefined && options.resolutions !== undefined) return { alphas: options.alphas, resolutions: options.resolutions, diagnostics: [] };
  const own = report(source, base);
  if (own.report === undefined) return { diagnostics: own.diagnostics };
  const alpha = own.report.alpha;
  // toPrecision trims binary noise: 0.35 × 0.75 is 0.2625, not 0.26249999999999996.
  const alphas = options.alphas ?? SWEEP_ALPHA_FACTORS.map((f) => Number((alpha * f).toPrecision(6)));
  if (options.resolutions !== undefined) return { alphas, resolutions: options.resolutions, diagnostics: [] };
  const top = own.report.resolution[0];
  const resolutions = [top];
  // Below its own size a network may stop fitting its input (a pooling window larger than the
  // map): the default grid ends at the first resolution it rejects.
  for (let r = top - SWEEP_RESOLUTION_STEP; r > 0 && resolutions.length < SWEEP_RESOLUTION_COUNT; r -= SWEEP_RESOLUTION_STEP) {
    if (report(source, { ...base, alpha: alphas[0]!, resolution: r }).report === undefined) break;
    resolutions.push(r);
  }
  return { alphas, resolutions, diagnostics: [] };
}

/** Costs over an α × resolution grid — the paper's Tables 6 and 7 in one call. */
export function sweep(source: string, options: SweepOptions = {}): { readonly sweep?: Sweep; readonly diagnostics: readonly Diagnostic[] } {
  const grid = sweepGrid(source, options);
  if (grid.alphas === undefined || grid.resolutions === undefined) return { diagnostics: grid.diagnostics };
  const { alphas, resolutions } = grid;
  const points: SweepPoint[] = [];
  let network = "";
  for (const alpha of alphas) {
    for (const resolution of resolutions) {
      const r = report(source, { ...options, alpha, resolution });
      if (r.report === undefined) return { diagnostics: r.diagnostics };
      network = r.report.network;
      const t = r.report.totals;
      points.push({ alpha, resolution, multAdds: t.multAdds, weights: t.weights, params: t.params, peakActivationBytes: t.peakActivationBytes });
    }
  }
  return { sweep: { mnc: VERSION, network, alphas, resolutions, points }, diagnostics: [] };
}

export { buildGraph } from "./ir/build.js";
export { runPipeline, pipeline } from "./passes/pipeline.js";
export { analyzeCosts } from "./passes/analyze-costs.js";
export type { CostAnalysis, LayerCost } from "./passes/analyze-costs.js";
export { printGraph } from "./ir/print.js";
export { verify } from "./ir/verify.js";
export { renderDiagnostic } from "./ir/render.js";
export { Messages, InternalError } from "./ir/diagnostics.js";
export type { Diagnostic } from "./ir/diagnostics.js";
export type { Graph, Node, Shape } from "./ir/graph.js";
export type { Span } from "./ir/span.js";
export type { SourceFile } from "./parser/ast.js";
export type { PassOptions, WidthRounding } from "./passes/types.js";
export { VERSION };
export type { Report, ReportOptions, Sweep, SweepPoint, Budgets };
export { reportText, reportMarkdown } from "./emit/report/text.js";
export { reportCsv } from "./emit/report/csv.js";
export { reportHtml, sweepHtml } from "./emit/report/html.js";
export { layerBarChart, typeShareChart, sweepChart } from "./emit/report/svg.js";
export { graphDrawing, type ColourBy } from "./emit/graph/index.js";
export type { ReportHtmlOptions } from "./emit/report/html.js";
export { runReference, traceReference } from "./ir/reference.js";
export { exportSafetensors } from "./weights/export.js";
export { calibrate, parseMethod, formatMethod, MINMAX, type CalibrationMethod, type ActivationRanges, type ValueRange } from "./passes/calibrate.js";
export { quantizeGraph, UnsupportedLayerError, type QuantizeOptions } from "./passes/quantize.js";
export { agreement, type Agreement, type AgreementInput } from "./passes/calibrate-agreement.js";
export { exportQuantizedSafetensors } from "./weights/quantized-safetensors.js";
export { emitOnnx, type OnnxOptions } from "./emit/onnx/index.js";
export { dumpOnnx } from "./emit/onnx/dump.js";
export { emitPyTorch, type PyTorchOptions } from "./emit/pytorch/index.js";
export { reportJson } from "./emit/report/json.js";
export { sweepText, sweepMarkdown, sweepCsv, sweepJson } from "./emit/report/sweep.js";
export { imageTensor, imagePixels, normalise, createJpegDecoder, isJpeg, JPEG_WASM_PATH, ImageInputError } from "./image/index.js";
export type { RgbaImage, Normalisation } from "./image/index.js";
export { languageDocument, analyzeDocument, COMPLETION_TRIGGERS, type LanguageDocument, type DocumentAnalysis, type DocumentOptions, type EditorDiagnostic, type Hover, type Definition, type CompletionItem, type DocumentSymbol, type Position, type Range } from "./ide/index.js";
