/**
 * The mnc command line — the only part of mnc that touches the file system or
 * the process. Exit codes: 0 success, 1 errors in the input (or a budget
 * exceeded), 2 a usage mistake, 70 an internal error (a bug in mnc).
 */
import { READ_LIMITS, ReadError, readBounded } from "./read.js";
import { statSync, type Stats } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { analyze, check, compile, parse, report as reportOf, sweep, type CompileOptions, type Report, type Sweep } from "../index.js";
import { buildGraph } from "../ir/build.js";
import { error, InternalError, type Diagnostic } from "../ir/diagnostics.js";
import { printGraph } from "../ir/print.js";
import { escapeControls, renderDiagnostic } from "../ir/render.js";
import type { WidthRounding } from "../passes/types.js";
import { reportCsv } from "../emit/report/csv.js";
import { reportJson } from "../emit/report/json.js";
import { reportMarkdown, reportText } from "../emit/report/text.js";
import { sweepCsv, sweepJson, sweepMarkdown, sweepText } from "../emit/report/sweep.js";
import { VERSION } from "../version.js";
import { recordedPath, WriteError, writeFileAtomic, writeFilesAtomic } from "./write.js";
import { serve, SERVE_HELP } from "./serve.js";
import { basename } from "node:path";
import { emitJavaScript, emitTypeScript } from "../emit/ts/index.js";
import { reportHtml, sweepHtml } from "../emit/report/html.js";
import { sweepChart } from "../emit/report/svg.js";
import { COLOUR_BY, graphDrawing, type ColourBy } from "../emit/graph/index.js";
import { InputError, loadInput, normalisationWarning, runNormalisation, type NormalisationOverride } from "./image.js";
import { runReferenceOutputs } from "../ir/reference.js";
import { dequantize as dequantizeValue, integerProblem, quantize as quantizeValue, runReferenceIntOutputs } from "../ir/reference-int.js";
import type { Graph } from "../ir/graph.js";
import type { CostAnalysis } from "../passes/analyze-costs.js";
import { classCount, describeOutput, maskPng, maskShapeProblem, outputKind, runOutputs } from "./run-outputs.js";
import { exportSafetensors } from "../weights/export.js";
import { DEFAULT_OPSET, MAX_OPSET, emitOnnx, preprocessingOf } from "../emit/onnx/index.js";
import { emitPyTorch } from "../emit/pytorch/index.js";
import { isQuantizedGraph } from "../emit/onnx/quantized.js";
import { isWeighted, type Quantization, type QuantizedType } from "../ir/graph.js";
import { calibrate, formatMethod, parseMethod, type CalibrationMethod } from "../passes/calibrate.js";
import { agreement } from "../passes/calibrate-agreement.js";
import { pixelQuantization, quantizeGraph, UnsupportedLayerError } from "../passes/quantize.js";
import { exportQuantizedSafetensors } from "../weights/quantized-safetensors.js";
import { readImageFolder, storedInput, type FolderImage } from "./calibration-images.js";
import { lspOwnArguments } from "./lsp-args.js";

const EXIT_OK = 0;
const EXIT_ERRORS = 1;
const EXIT_USAGE = 2;
const EXIT_INTERNAL = 70;

class UsageError extends Error {}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Raw bytes to standard output (-o - with a binary output); without it they are decoded as UTF-8 text. */
  bytes?(data: Uint8Array): void;
}

const MAIN_HELP = `mnc ${VERSION} — a compiler for MobileNet-style convolutional networks

Usage:
  mnc check FILE...       report every error in .mn files
  mnc compile FILE        compile a network and print its size and cost
  mnc report FILE         the cost analysis: per layer, by type, totals, memory
  mnc sweep FILE          mult-adds, params and memory over an α × resolution grid
  mnc graph FILE          draw the network as a graph (SVG): layers coloured by cost, edges by shape
  mnc run FILE            run the network on one input: the top classes, or each output's summary
  mnc weights export FILE write the network's weights as safetensors
  mnc quantize FILE       post-training quantization to 8-bit: calibrate on images, write safetensors
  mnc serve [FILE]        the playground in a browser: editor, live report, graph, sweep (127.0.0.1)
  mnc lsp                 the language server for editors (Language Server Protocol over stdio)
  mnc help [COMMAND]      show help for a command

Options:
  -h, --help              show help
  -v, --version           print the version

Run 'mnc COMMAND --help' for a command's options.
`;

const SELECT_OPTIONS = `  --network NAME          the network to use when the file declares several
  --set NAME=VALUE        override a network parameter (repeatable), e.g. --set classes=10
  --outputs A,B           compute only these named tensors, as the network's outputs, in this
                          order (the layers they do not need are left out)
  --width-rounding RULE   how α rounds channels, overriding the network's 'width A rounding=R':
                          floor (Keras; the default), min8 (TF-Slim), div8 (MobileNetV2)`;
const SCALE_OPTIONS = `  --alpha A               width multiplier α (overrides the network's 'width'); A > 0
  --resolution R          input resolution: H = W = R
  --rho P                 resolution multiplier: H = round(H·P), W = round(W·P); P > 0`;
const BUDGET_OPTIONS = `  --max-mult-adds N       fail (exit 1) if the network has more mult-adds; k, M, G suffixes: 300M
  --max-params N          fail (exit 1) if the network has more params (weights + biases): 2.5M`;
const WEIGHT_OPTIONS = `  --weights PATH          trained weights: a TensorFlow Lite model (.tflite) or safetensors in mnc's names
  --seed N                seed of the deterministic weights used without --weights (default 1)
  --no-fuse-bn            keep batch-norm rather than folding it into the convolutions`;
const COMMON_OPTIONS = `  --warnings-as-errors    fail (exit 1, nothing written) on a warning (MN6xxx) as on an error
  -q, --quiet             no success messages (results and errors are still printed)
  --verbose               print a stack trace with internal errors
  -h, --help              show this help`;

const HELP = {
  check: `Usage: mnc check FILE... [options]

Parses and checks each file and reports every error found, as
FILE:LINE:COL: error MNxxxx: message. Every network in a file is checked
unless --network names one. Exits 0 when all files are free of errors, 1 otherwise.

Options:
${SELECT_OPTIONS}
${SCALE_OPTIONS}
  --dump-ir               print the IR after all passes
${COMMON_OPTIONS}
`,
  compile: `Usage: mnc compile FILE [options]

Compiles one network: parses it, applies α and ρ, infers every shape, counts
the costs, attaches the weights (imported or seeded), folds batch-norm into the
convolutions and proves the fold with the reference evaluator, then writes the
model and prints one line: the output path, mult-adds, params and the fold's
largest relative error. Without -o the output goes next to FILE (net.mn →
net.onnx). Nothing is written when anything fails.

Options:
  -o, --output PATH       where to write the model; - for standard output (the status line then goes to
                          standard error; not with --emit js, nor --emit ts without --embed-weights)
  --emit TARGET           onnx (default), ts: a zero-dependency TypeScript module (net.ts) and its
                          weights (net.weights.bin), or js: the same module as an ES module (net.js)
                          with its declarations (net.d.ts); see docs/typescript.md; or pytorch: a
                          PyTorch module to train (net.py, batch-norm kept, weights not embedded:
                          load_mnc_weights reads mnc weights export's file); see docs/pytorch.md
  --embed-weights         with --emit ts|js: put the weights into the module (createModel() needs no file)
  --labels PATH           with --emit ts|js: class names, one per line, as a typed constant in the module
  --no-wasm               with --emit ts|js: TypeScript kernels only, no embedded WebAssembly SIMD kernels
  --opset N               ONNX opset, 13 (default) to 17
  --input-layout LAYOUT   nchw (default) or nhwc: the model then takes NHWC input and transposes it
  --embed-preprocessing   ONNX: the model takes raw pixels (0-255) and normalises them itself, Sub(mean)
                          then Div(std), with the network's 'input ... mean=M std=S' (a usage error,
                          exit 2, when the network declares none)
${WEIGHT_OPTIONS}
${SELECT_OPTIONS}
${SCALE_OPTIONS}
${BUDGET_OPTIONS}
  --dump-ir               print the IR after all passes
  --quantized             with a quantized .tflite (or a file mnc quantize wrote): keep its uint8/int8
                          weights, int32 biases and every activation's scale and zero point (see
                          docs/weights.md, docs/quantization.md)
${COMMON_OPTIONS}
`,
  report: `Usage: mnc report FILE [options]

The cost analysis of one network: every layer's shapes (and, in a graph, the
layers it reads), mult-adds, weights, biases, batch-norm parameters and
activation size; the breakdown by layer type of the paper's Table 2; totals,
FLOPs, Keras' parameter count, weight memory (float32, int8) and peak
activation memory. Every format states its convention.

Options:
  --format FORMAT         text (default), md, json, csv or html
  -o, --output PATH       write to PATH instead of standard output
  --int8                  add int8 memory: per layer and in total, the weight bytes 8-bit per-channel
                          quantization stores (kernels, int32 biases, scales and zero points) and the
                          live activation bytes, with their peak (TensorFlow Lite Micro's arena)
  --weights PATH --quantized
                          report a quantized model's own integers (an 8-bit .tflite, or the
                          safetensors mnc quantize writes): int8 memory as stored
${SELECT_OPTIONS}
${SCALE_OPTIONS}
${BUDGET_OPTIONS}
${COMMON_OPTIONS}
`,
  sweep: `Usage: mnc sweep FILE [--alpha LIST] [--resolution LIST] [options]

Mult-adds, params and peak activation memory for every α × resolution pair —
the paper's Tables 6 and 7 in one command. The default grid surrounds the
network's own α and input size: MobileNetV1 (α 1, 224 px) gets the paper's.

Options:
  --alpha LIST            comma-separated width multipliers (default: the network's α
                          times 1, 0.75, 0.5 and 0.25)
  --resolution LIST       comma-separated resolutions (default: the network's input size, then
                          down in steps of 32 while the network accepts it, four at most)
  --format FORMAT         text (default), md, json, csv, html or svg (a chart of mult-adds vs params)
  -o, --output PATH       write to PATH instead of standard output
${SELECT_OPTIONS}
${COMMON_OPTIONS}
`,
  run: `Usage: mnc run FILE --input PATH [options]

Runs the network on one input with the float64 reference evaluator. A
classifier (one 1x1xC output) prints its top classes with their scores. Any
other network prints, per output, its name, shape, minimum, maximum and mean,
then: for a class-score map (HxWxC, C > 1) the pixels of each argmax class;
for a 1-channel map with values in [0, 1] the fraction of pixels above 0.5.
--mask writes an image output as an 8-bit PNG (see docs/segmentation.md).

The input is a raw tensor of the network's input size — uint8 HWC (H·W·C bytes)
or float32 HWC (4× that, used as is) — or a JPEG or PNG photo, centre-cropped
and resized to the input. Pixels are normalised as (pixel − mean) / std, as the
network's 'input HxWxC mean=M std=S' declares (mean=127.5 std=127.5 is
TensorFlow's [-1, 1]); --mean and --std override it. A warning says when the
input's values lie far outside the range the declaration gives.

Options:
  --input PATH            the input (required)
  --labels PATH           class names, one per line (line i names output i; for a class-score map,
                          channel i)
  --top K                 how many classes to print (default 5)
  --mask PATH             write the network's one output as an 8-bit PNG: the class index per
                          pixel for a class-score map (argmax over channels), round(255·p) for
                          a 1-channel map in [0, 1]
  --mask NAME=PATH        the same for the output NAME (repeatable; all written or none)
  --mean M, --std S       normalisation (default: the network's declared one, else 0 and 1)
  --quantized             with a quantized .tflite (or a file mnc quantize wrote): run the integer
                          reference (XNNPACK's rounding, bit for bit with TensorFlow Lite) on the
                          input's uint8 pixels as the model's input quantization reads them; each
                          top class shows its raw integer output as q=N beside the dequantized value
${WEIGHT_OPTIONS}
${SELECT_OPTIONS}
${SCALE_OPTIONS}
${COMMON_OPTIONS}
`,
  weights: `Usage: mnc weights export FILE -o PATH [options]

Writes the network's weights — imported with --weights, or seeded — as a
safetensors file under mnc's layer names (<layer>.weight, <layer>.bias,
<layer>.bn.gamma|beta|mean|variance), in the layouts of docs/weights.md. Batch-norm
is kept, so the file can be trained further and read back with --weights.

Options:
  -o, --output PATH       the .safetensors file to write (required); - for standard output
${WEIGHT_OPTIONS}
${SELECT_OPTIONS}
${SCALE_OPTIONS}
${COMMON_OPTIONS}
`,
  quantize: `Usage: mnc quantize FILE --calibrate DIR -o PATH [options]

Post-training quantization, as TensorFlow Lite's converter does it: runs the
float network (weights imported with --weights, or seeded; batch-norm folded)
on the images of DIR to measure every activation's range, quantizes the
weights to int8 per output channel (symmetric), the biases to int32 and the
activations to int8 (or uint8), and writes the quantized network as a
safetensors file that --weights PATH --quantized reads back (compile, run).
Then prints how far the integer network (the integer reference) is from the
float one on the evaluation images: top-1 agreement, top-5 overlap, the largest
difference of a class probability and of a logit. See docs/quantization.md.

Images are JPEG or PNG photos (centre-cropped and resized to the input) or raw
uint8 or float32 HWC tensors of the input's size, every file of the folder in
name order (not its subfolders, nor names starting with '.'), normalised as the
network's 'input … mean= std=' declares.

Options:
  -o, --output PATH       the .safetensors file to write (required); - for standard output
  --calibrate DIR         the calibration images (required)
  --method METHOD         how a range is read from the calibration values: minmax (default), or
                          percentile=P (50 < P ≤ 100): the nearest-rank P-th percentile from the
                          top and the same share from the bottom, e.g. percentile=99.99
  --activations TYPE      int8 (default) or uint8
  --eval DIR              the images to measure the agreement on (default: the calibration images)
${WEIGHT_OPTIONS.split("\n").filter((l) => !l.includes("--no-fuse-bn")).join("\n")}
${SELECT_OPTIONS}
${SCALE_OPTIONS}
${COMMON_OPTIONS}
`,
  graph: `Usage: mnc graph FILE [-o PATH] [--colour-by mult-adds|params] [options]

Draws the network as a graph, top to bottom, as a standalone SVG file: one box
per layer (its id and op), coloured by its mult-adds or params on a log scale,
one arrow per input labelled with the tensor's shape (H×W×C), skips, branches
and several outputs laid out with dagre. Each layer's element carries its
source line and column (data-line, data-col) and a tooltip with its shapes and
costs. Without -o the drawing goes next to FILE (net.mn → net.svg). See
docs/graph.md.

Options:
  -o, --output PATH       where to write the drawing; - for standard output
  --colour-by FIGURE      mult-adds (default) or params
${SELECT_OPTIONS}
${SCALE_OPTIONS}
${COMMON_OPTIONS}
`,
  lsp: `Usage: mnc lsp [options]

The language server: speaks the Language Server Protocol on standard input and
output, for editors (VS Code: editors/vscode; Neovim, Helix, Emacs: see
docs/editors.md). It checks each open .mn document as it changes and publishes
every diagnostic mnc check gives it, and answers hover on a layer (its shapes,
mult-adds, params and effective width), go to definition (blocks, named
tensors, parameters), completion (ops, blocks, options and their values) and
document symbols. The options below apply to every document, as they do to
mnc check. It ends when the editor sends 'exit' or closes its input.

Options:
${SELECT_OPTIONS}
${SCALE_OPTIONS}
  -h, --help              show this help
`,
} as const;

type Command = keyof typeof HELP;

const OPTIONS = {
  network: { type: "string" },
  set: { type: "string", multiple: true },
  outputs: { type: "string" },
  alpha: { type: "string" },
  resolution: { type: "string" },
  rho: { type: "string" },
  "width-rounding": { type: "string" },
  "dump-ir": { type: "boolean" },
  "max-mult-adds": { type: "string" },
  "max-params": { type: "string" },
  format: { type: "string" },
  output: { type: "string", short: "o" },
  weights: { type: "string" },
  seed: { type: "string" },
  "no-fuse-bn": { type: "boolean" },
  quantized: { type: "boolean" },
  int8: { type: "boolean" },
  input: { type: "string" },
  emit: { type: "string" },
  "embed-weights": { type: "boolean" },
  "no-wasm": { type: "boolean" },
  opset: { type: "string" },
  "input-layout": { type: "string" },
  "embed-preprocessing": { type: "boolean" },
  labels: { type: "string" },
  top: { type: "string" },
  mean: { type: "string" },
  std: { type: "string" },
  mask: { type: "string", multiple: true },
  calibrate: { type: "string" },
  method: { type: "string" },
  activations: { type: "string" },
  eval: { type: "string" },
  verbose: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "warnings-as-errors": { type: "boolean" },
  "colour-by": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** Which options each command takes (parseArgs then rejects the rest). */
const ACCEPTS: Record<Command, readonly (keyof typeof OPTIONS)[]> = {
  check: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "dump-ir", "verbose", "quiet", "warnings-as-errors", "help"],
  compile: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "dump-ir", "max-mult-adds", "max-params", "weights", "seed", "no-fuse-bn", "quantized", "output", "emit", "opset", "input-layout", "embed-preprocessing", "embed-weights", "labels", "no-wasm", "verbose", "quiet", "warnings-as-errors", "help"],
  report: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "max-mult-adds", "max-params", "format", "output", "int8", "weights", "quantized", "verbose", "quiet", "warnings-as-errors", "help"],
  sweep: ["network", "set", "outputs", "alpha", "resolution", "width-rounding", "format", "output", "verbose", "quiet", "warnings-as-errors", "help"],
  run: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "weights", "seed", "no-fuse-bn", "quantized", "input", "labels", "top", "mean", "std", "mask", "verbose", "quiet", "warnings-as-errors", "help"],
  weights: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "weights", "seed", "no-fuse-bn", "output", "verbose", "quiet", "warnings-as-errors", "help"],
  quantize: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "weights", "seed", "calibrate", "method", "activations", "eval", "output", "verbose", "quiet", "warnings-as-errors", "help"],
  lsp: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "help"],
  graph: ["network", "set", "outputs", "alpha", "resolution", "rho", "width-rounding", "output", "colour-by", "verbose", "quiet", "warnings-as-errors", "help"],
};

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

const REPORT_FORMATS: Record<string, (r: Report) => string> = {
  text: reportText,
  md: reportMarkdown,
  json: reportJson,
  csv: reportCsv,
  html: reportHtml,
};

const SWEEP_FORMATS: Record<string, (s: Sweep) => string> = {
  text: sweepText,
  md: sweepMarkdown,
  json: sweepJson,
  csv: sweepCsv,
  html: sweepHtml,
  svg: (s) => sweepChart(s) + "\n",
};

export function main(argv: readonly string[], stdio: Io): number {
  // Standard error carries only messages: control characters in the user strings they quote are shown escaped.
  let io: Io = { ...stdio, err: (text) => stdio.err(escapeControls(text, "\t\n")) };
  let verbose = argv.includes("--verbose");
  try {
    const [command, ...rest] = argv;
    if (command === undefined) {
      io.err(MAIN_HELP);
      return EXIT_USAGE;
    }
    if (command === "--help" || command === "-h") {
      io.out(MAIN_HELP);
      return EXIT_OK;
    }
    if (command === "--version" || command === "-v") {
      io.out(`mnc ${VERSION}\n`);
      return EXIT_OK;
    }
    if (command === "help") {
      const topic = rest[0];
      if (topic === undefined) io.out(MAIN_HELP);
      else if (topic === "serve") io.out(SERVE_HELP);
      else if (isCommand(topic)) io.out(HELP[topic]);
      else throw new UsageError(`unknown command '${topic}' (try 'mnc --help')`);
      return EXIT_OK;
    }
    // A server: it runs until a signal stops it (src/cli/serve.ts).
    if (command === "serve") return serve(rest, io);
    if (!isCommand(command)) throw new UsageError(`unknown command '${command}' (try 'mnc --help')`);

    let args = rest;
    if (command === "weights") {
      if (rest[0] === "--help" || rest[0] === "-h") {
        io.out(HELP.weights);
        return EXIT_OK;
      }
      if (rest[0] !== "export") throw new UsageError(`weights: unknown subcommand '${rest[0] ?? ""}' (expected 'export')`);
      args = rest.slice(1);
    }
    if (command === "lsp") args = lspOwnArguments(rest);
    const { values, positionals } = parseCommand(command, args);
    // Standard output by any of its names is -o -: the bytes go through the descriptor mnc already writes to.
    if (values.output !== undefined && ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"].includes(values.output)) Object.assign(values, { output: "-" });
    verbose = values.verbose === true;
    warningsAsErrors = values["warnings-as-errors"] === true;
    if (values.quiet === true && values.verbose === true) throw new UsageError("--quiet and --verbose contradict each other");
    // --quiet silences the success lines of commands whose product is a file or an exit status.
    if (values.quiet === true && (command === "check" || command === "compile" || command === "weights")) io = { ...io, out: () => undefined };
    if (values.help === true) {
      io.out(HELP[command]);
      return EXIT_OK;
    }
    if (command === "lsp") {
      if (positionals.length > 0) throw new UsageError("lsp: takes no FILE (the editor sends the documents it opens)");
      const lspOptions = compileOptions(values, true);
      // Loaded only here: the other commands never pay for the protocol libraries.
      void import("./lsp.js").then((m) => m.startLsp(lspOptions));
      return EXIT_OK;
    }
    if (positionals.length === 0) throw new UsageError(`${command}: missing FILE argument`);
    if (command !== "check" && positionals.length > 1) throw new UsageError(`${command}: takes one FILE, not ${positionals.length}`);
    const options = compileOptions(values, command !== "sweep");
    const format = values.format ?? "text";
    if (command === "report" && REPORT_FORMATS[format] === undefined) throw new UsageError(`--format must be one of ${Object.keys(REPORT_FORMATS).join(", ")}, not '${format}'`);
    if (command === "sweep" && SWEEP_FORMATS[format] === undefined) throw new UsageError(`--format must be one of ${Object.keys(SWEEP_FORMATS).join(", ")}, not '${format}'`);
    const grid = command === "sweep" ? sweepGrid(values) : undefined;
    const colourBy = command === "graph" ? colourByFlag(values["colour-by"]) : undefined;
    if (command === "run" && values.input === undefined) throw new UsageError("run: --input PATH is required");
    const emit = values.emit ?? "onnx";
    if (!isTarget(emit)) throw new UsageError(`--emit must be one of ${Object.keys(TARGET_EXTENSION).join(", ")}, not '${emit}'`);
    if (emit === "pytorch" && command === "compile") {
      const given = PYTORCH_REFUSES.filter((o) => values[o] !== undefined && values[o] !== false);
      if (given.length > 0) throw new UsageError(`--emit pytorch does not take ${given.map((o) => `--${o}`).join(", ")}: ${given.includes("quantized") ? "the PyTorch module trains the float network; " : ""}the module takes float32 NCHW input, carries no weights, labels or kernels, and is plain PyTorch`);
    }
    if (emit === "onnx" && command === "compile" && (values["embed-weights"] === true || values.labels !== undefined || values["no-wasm"] === true)) {
      throw new UsageError("--embed-weights, --labels and --no-wasm go with --emit ts or --emit js");
    }
    if (emit !== "onnx" && values["embed-preprocessing"] === true) throw new UsageError("--embed-preprocessing goes with --emit onnx (the TypeScript module has imageTensor instead)");
    const opset = values.opset === undefined ? DEFAULT_OPSET : positiveInteger("--opset", values.opset);
    if (opset < DEFAULT_OPSET || opset > MAX_OPSET) throw new UsageError(`--opset must be between ${DEFAULT_OPSET} and ${MAX_OPSET}, not ${opset}`);
    const inputLayout = values["input-layout"] ?? "nchw";
    if (inputLayout !== "nchw" && inputLayout !== "nhwc") throw new UsageError(`--input-layout must be nchw or nhwc, not '${inputLayout}'`);
    if (command === "weights" && values.output === undefined) throw new UsageError("weights export: -o PATH is required");
    const ptq = command === "quantize" ? quantizeOptions(values) : undefined;
    if (command === "report" && (values.quantized === true) !== (values.weights !== undefined)) {
      throw new UsageError(values.quantized === true ? "report --quantized reads a quantized model's integers: give it with --weights PATH (an 8-bit .tflite, or mnc quantize's safetensors)" : "report: --weights goes with --quantized (a float report does not depend on the weights; --int8 adds int8 memory without them)");
    }
    if (values.quantized === true && values.weights === undefined) {
      throw new UsageError(`${command} --quantized runs a quantized model's integers: give it with --weights PATH (an 8-bit .tflite, or mnc quantize's safetensors)`);
    }
    const top = values.top === undefined ? 5 : positiveInteger("--top", values.top);
    const normalisation: NormalisationOverride = {
      ...(values.mean === undefined ? {} : { mean: finiteNumber("--mean", values.mean) }),
      ...(values.std === undefined ? {} : { std: positiveNumber("--std", values.std) }),
    };
    const masks = maskSpecs(values.mask ?? []);
    const weightsPath = values.weights;
    const weightOptions = weightsPath === undefined ? {} : { weightsFile: weightsPath };

    if (values.output === "-" && command === "compile") {
      if (values["dump-ir"] === true) throw new UsageError("-o - and --dump-ir both write to standard output; give -o a file name");
      if (emit === "js" || (emit === "ts" && values["embed-weights"] !== true)) {
        throw new UsageError(`-o -: --emit ${emit} writes several files (the module and its ${emit === "js" ? "declarations" : "weights"}); give -o a file name${emit === "ts" ? " or add --embed-weights" : ""}`);
      }
    }
    // An output that names an input would destroy it: refused before any work.
    if (command !== "check" && command !== "run") {
      const inputs = [...positionals.map((p) => ({ path: p, what: "the spec" })), ...[["weights", values.weights], ["labels", values.labels]].flatMap(([what, p]) => (p === undefined ? [] : [{ path: p, what: `the ${what}` }]))];
      const outputs = command === "compile" ? emitPaths(values.output ?? defaultOutput(positionals[0]!, TARGET_EXTENSION[emit]), emit, values["embed-weights"] === true) : [values.output];
      for (const output of outputs) {
        const clash = output === undefined || output === "-" ? undefined : inputs.find((i) => sameFile(i.path!, output));
        if (clash !== undefined) throw new UsageError(`-o '${values.output ?? output}' would overwrite ${clash.what} '${clash.path}'${output === values.output ? "" : ` (as '${output}')`}; give another output path`);
      }
    }
    // A mask that names an input would destroy it.
    if (command === "run") {
      const inputs = [...positionals.map((p) => ({ path: p, what: "the spec" })), ...[["weights", values.weights], ["labels", values.labels], ["input", values.input]].flatMap(([what, p]) => (p === undefined ? [] : [{ path: p, what: `the ${what}` }]))];
      for (const m of masks) {
        const clash = inputs.find((i) => sameFile(i.path!, m.path));
        if (clash !== undefined) throw new UsageError(`--mask '${m.path}' would overwrite ${clash.what} '${clash.path}'; give another path`);
      }
    }
    quiet = values.quiet === true;

    let status = EXIT_OK;
    for (const path of positionals) {
      const text = readSource(path, io);
      if (text === undefined) {
        status = EXIT_ERRORS;
        continue;
      }
      let ok: boolean;
      switch (command) {
        case "check":
          ok = runCheck(path, text, options, values["dump-ir"] === true, io);
          break;
        case "compile":
        case "run":
        case "weights":
        case "quantize": {
          const weights = weightsPath === undefined ? undefined : readBinary(weightsPath, "weights", io);
          if (weightsPath !== undefined && weights === undefined) {
            ok = false;
            break;
          }
          const compileOptions: CompileOptions = {
            ...options,
            ...weightOptions,
            ...(weights === undefined ? {} : { weights }),
            ...(values.seed === undefined ? {} : { seed: nonNegativeInteger("--seed", values.seed) }),
            ...(values["no-fuse-bn"] === true ? { fuseBatchNorm: false } : {}),
            ...(values.quantized === true ? { quantized: true } : {}),
          };
          if (command === "compile") {
            ok = runCompile(path, text, compileOptions, { dumpIr: values["dump-ir"] === true, output: values.output, opset, inputLayout, embedPreprocessing: values["embed-preprocessing"] === true, target: emit, embedWeights: values["embed-weights"] === true, wasm: values["no-wasm"] !== true, labels: values.labels }, io);
          }
          else if (command === "run") ok = runNetwork(path, text, compileOptions, { input: values.input!, labels: values.labels, top, normalisation, masks }, io);
          else if (command === "quantize") ok = runQuantize(path, text, compileOptions, ptq!, io);
          else ok = runWeightsExport(path, text, compileOptions, values.output!, io);
          break;
        }
        case "report": {
          const r = buildReportFor(path, text, options, { int8: values.int8 === true, weightsPath }, io);
          ok = r !== undefined && deliver(format === "html" ? reportHtml(r.report, { graph: graphDrawing(r.graph, r.costs) }) : REPORT_FORMATS[format]!(r.report), values.output, io);
          break;
        }
        case "sweep": {
          const s = sweep(text, { ...options, file: path, ...grid });
          ok = emitDiagnostics(s.diagnostics, text, io) && s.sweep !== undefined && deliver(SWEEP_FORMATS[format]!(s.sweep), values.output, io);
          break;
        }
        case "graph":
          ok = runGraph(path, text, options, values.output ?? defaultOutput(path, ".svg"), colourBy!, io);
          break;
      }
      if (!ok) status = EXIT_ERRORS;
    }
    return status;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`mnc: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const message = e instanceof Error ? e.message : String(e);
    const kind = e instanceof InternalError ? "internal error" : "internal error (unexpected exception)";
    io.err(`mnc: ${kind}: ${message}\nThis is a bug in mnc, not in your input; please report it with the file that caused it.\n`);
    if (verbose && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
    return EXIT_INTERNAL;
  }
}

function isCommand(name: string): name is Command {
  return Object.hasOwn(HELP, name);
}

function parseCommand(command: Command, args: readonly string[]): { values: Values; positionals: string[] } {
  const options = Object.fromEntries(ACCEPTS[command].map((k) => [k, OPTIONS[k]]));
  // `--alpha -1` should reach the value check, not be read as an option named "-1".
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.startsWith("--") ? args[i]!.slice(2) : undefined;
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === "string" && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`--${name}=${next}`);
      i++;
    } else {
      joined.push(args[i]!);
    }
  }
  try {
    const r = parseArgs({ args: joined, options, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    // Node's messages are long and mention internals; keep the gist on one line.
    const message = e instanceof Error ? e.message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, "") : String(e);
    throw new UsageError(`${command}: ${message}`);
  }
}

/** One --mask: the output it names (undefined: the network's one output) and the PNG's path. */
interface MaskSpec {
  readonly name: string | undefined;
  readonly path: string;
}

/**
 * `--mask PATH` and `--mask NAME=PATH`: NAME=PATH when the text before the
 * first '=' is a name (letters, digits, '_' and '.', not starting with a digit);
 * a path with such an '=' in it is written as ./a=b.png.
 */
function maskSpecs(items: readonly string[]): MaskSpec[] {
  const specs = items.map((item): MaskSpec => {
    const m = /^([A-Za-z_][A-Za-z0-9_.]*)=(.*)$/s.exec(item);
    const spec = m === null ? { name: undefined, path: item } : { name: m[1]!, path: m[2]! };
    if (spec.path === "") throw new UsageError(`--mask expects PATH or NAME=PATH, not '${item}'`);
    if (spec.path === "-" || ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"].includes(spec.path)) throw new UsageError("--mask writes a PNG file; standard output carries the summary, give a file name");
    return spec;
  });
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.path)) throw new UsageError(`--mask gives '${s.path}' twice`);
    seen.add(s.path);
  }
  if (specs.length > 1 && specs.some((s) => s.name === undefined)) throw new UsageError("--mask PATH is for a network with one output; with several masks, name each output: --mask NAME=PATH");
  return specs;
}

/** `--outputs a,b`: tensor names, none empty. */
function outputList(text: string): string[] {
  const names = text.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) throw new UsageError(`--outputs expects tensor names separated by commas, not '${text}'`);
  return names;
}

function compileOptions(values: Values, scalars: boolean): CompileOptions {
  const set: Record<string, string> = {};
  for (const item of values.set ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set expects NAME=VALUE, not '${item}'`);
    set[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  const alpha = scalars && values.alpha !== undefined ? positiveNumber("--alpha", values.alpha) : undefined;
  const resolution = scalars && values.resolution !== undefined ? positiveInteger("--resolution", values.resolution) : undefined;
  const rho = values.rho === undefined ? undefined : positiveNumber("--rho", values.rho);
  if (resolution !== undefined && rho !== undefined) throw new UsageError("give either --resolution or --rho, not both");
  const rounding = values["width-rounding"];
  if (rounding !== undefined && !["floor", "min8", "div8"].includes(rounding)) {
    throw new UsageError(`--width-rounding must be floor, min8 or div8, not '${rounding}'`);
  }
  const maxMultAdds = values["max-mult-adds"] === undefined ? undefined : budget("--max-mult-adds", values["max-mult-adds"]);
  const maxParams = values["max-params"] === undefined ? undefined : budget("--max-params", values["max-params"]);
  return {
    ...(values.network === undefined ? {} : { network: values.network }),
    ...(Object.keys(set).length === 0 ? {} : { set }),
    ...(values.outputs === undefined ? {} : { outputs: outputList(values.outputs) }),
    ...(alpha === undefined ? {} : { alpha }),
    ...(resolution === undefined ? {} : { resolution }),
    ...(rho === undefined ? {} : { rho }),
    ...(rounding === undefined ? {} : { widthRounding: rounding as WidthRounding }),
    ...(maxMultAdds === undefined && maxParams === undefined
      ? {}
      : { budgets: { ...(maxMultAdds === undefined ? {} : { multAdds: maxMultAdds }), ...(maxParams === undefined ? {} : { params: maxParams }) } }),
  };
}

/** The lists given; sweep() puts a grid around the network's own α and resolution where none is. */
function sweepGrid(values: Values): { alphas?: number[]; resolutions?: number[] } {
  const list = (flag: string, text: string, parse: (flag: string, t: string) => number): number[] => {
    const items = text.split(",").map((t) => parse(flag, t.trim()));
    if (new Set(items).size !== items.length) throw new UsageError(`${flag} lists a value twice: '${text}'`);
    return items;
  };
  return {
    ...(values.alpha === undefined ? {} : { alphas: list("--alpha", values.alpha, positiveNumber) }),
    ...(values.resolution === undefined ? {} : { resolutions: list("--resolution", values.resolution, positiveInteger) }),
  };
}

function positiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a number greater than 0, not '${text}'`);
  return n;
}

function finiteNumber(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${flag} must be a number, not '${text}'`);
  return n;
}

function nonNegativeInteger(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number ≥ 0, not '${text}'`);
  return n;
}

function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, not '${text}'`);
  return n;
}

const SUFFIX: Record<string, number> = { "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9 };

/** `300M`, `2.5M`, `41k`, `1200000` → an integer count. */
export function budget(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKMG]?)$/.exec(text.trim());
  const value = m === null ? NaN : Number(m[1]) * SUFFIX[m[2]!]!;
  const rounded = Math.round(value);
  if (!Number.isFinite(value) || Math.abs(value - rounded) > 1e-6 * Math.max(1, value) || rounded < 0) {
    throw new UsageError(`${flag} must be a whole count such as 300M, 2.5M or 41000, not '${text}'`);
  }
  return rounded;
}

function readSource(path: string, io: Io): string | undefined {
  try {
    return Buffer.from(readBounded(path, "network", READ_LIMITS.source)).toString("utf8");
  } catch (e) {
    if (!(e instanceof ReadError)) throw e;
    io.err(e.isDirectory ? `mnc: error: '${path}' is a directory, not a .mn file\n` : `mnc: error: cannot read '${path}': ${e.message}\n`);
    return undefined;
  }
}

/** A binary input file (weights, labels, a photo), or undefined after saying why not. */
function readBinary(path: string, what: "weights" | "labels" | "input", io: Io): Uint8Array | undefined {
  try {
    return readBounded(path, what, READ_LIMITS[what]);
  } catch (e) {
    if (!(e instanceof ReadError)) throw e;
    io.err(e.isDirectory ? `mnc: error: the ${what} '${path}' is a directory\n` : `mnc: error: cannot read the ${what} '${path}': ${e.message}\n`);
    return undefined;
  }
}

/**
 * `--labels PATH` as compile options: class names, one per line (a trailing empty line is ignored),
 * which compile() checks against the outputs. Undefined when the file cannot be read (said on io).
 */
function labelOptions(path: string | undefined, io: Io): { labels?: string[]; labelsFile?: string } | undefined {
  if (path === undefined) return {};
  const bytes = readBinary(path, "labels", io);
  if (bytes === undefined) return undefined;
  const labels = new TextDecoder().decode(bytes).split(/\r?\n/);
  if (labels.at(-1) === "") labels.pop();
  return { labels, labelsFile: path };
}

/** --warnings-as-errors of the command being run (set by main). */
let warningsAsErrors = false;
/** --quiet of the command being run (set by main). */
let quiet = false;

/** Whether `output` is the existing regular file `input` is (through links, symbolic or hard). */
function sameFile(input: string, output: string): boolean {
  const stat = (p: string): Stats | undefined => {
    try {
      return statSync(p);
    } catch {
      return undefined;
    }
  };
  const a = stat(input);
  const b = stat(output);
  return a !== undefined && b !== undefined && b.isFile() && a.dev === b.dev && a.ino === b.ino;
}

/** The success line of a command whose product is a file: on standard error when the product went to standard output. */
function status(line: string, output: string, io: Io): void {
  if (quiet) return;
  if (output === "-") io.err(line);
  else io.out(escapeControls(line, "\n"));
}

/** The files `--emit TARGET -o OUTPUT` writes: the module or model, its declarations (js), its weights (unless embedded). */
function emitPaths(output: string, target: string, embedWeights: boolean): string[] {
  if (target === "onnx" || target === "pytorch") return [output];
  const stem = output.replace(target === "ts" ? /\.ts$/i : /\.m?js$/i, "");
  const declarations = target === "js" ? [stem + (/\.mjs$/i.test(output) ? ".d.mts" : ".d.ts")] : [];
  return [output, ...declarations, ...(embedWeights ? [] : [stem + ".weights.bin"])];
}

/** Diagnostics printed in full; past these, one line counts the rest (the library returns them all). */
const MAX_PRINTED_DIAGNOSTICS = 50;

/** Print diagnostics, warnings included; true when none is an error (nor, with --warnings-as-errors, a warning). */
/** Whether integer inference runs every layer of a quantized graph; MN4015 at the first it does not (compile() checks it for --weights F --quantized). */
function integerRuns(graph: Graph, text: string, io: Io): boolean {
  const problem = integerProblem(graph);
  if (problem === undefined) return true;
  emitDiagnostics([error("integerUnsupported", problem.node.span, problem.node.id, problem.reason, "leave out --quantized to run the network in float")], text, io);
  return false;
}

function emitDiagnostics(diagnostics: readonly Diagnostic[], text: string, io: Io): boolean {
  for (const d of diagnostics.slice(0, MAX_PRINTED_DIAGNOSTICS)) io.err(renderDiagnostic(d, text) + "\n");
  const more = diagnostics.slice(MAX_PRINTED_DIAGNOSTICS);
  if (more.length > 0) {
    const moreErrors = more.filter((d) => d.severity === "error").length;
    const parts = [[moreErrors, "error"], [more.length - moreErrors, "warning"]] as const;
    io.err(`… and ${parts.filter(([n]) => n > 0).map(([n, w]) => `${n.toLocaleString("en-US")} more ${w}${n === 1 ? "" : "s"}`).join(" and ")}\n`);
  }
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  if (errors > 0) io.err(`${errors} error${errors === 1 ? "" : "s"}\n`);
  else if (warningsAsErrors && warnings > 0) io.err(`${warnings} warning${warnings === 1 ? "" : "s"} (--warnings-as-errors)\n`);
  return errors === 0 && !(warningsAsErrors && warnings > 0);
}

/** Standard output, or a file written atomically (a failure leaves no partial file). */
function deliver(content: string | Uint8Array, output: string | undefined, io: Io): boolean {
  if (output === undefined || output === "-") {
    if (typeof content === "string") io.out(content);
    else if (io.bytes !== undefined) io.bytes(content);
    else io.out(new TextDecoder().decode(content));
    return true;
  }
  try {
    writeFileAtomic(output, content);
    return true;
  } catch (e) {
    return writeFailed(e, io);
  }
}

/** Say why a write failed (a WriteError: plain words about the user's path); anything else is a bug. */
function writeFailed(e: unknown, io: Io): false {
  if (!(e instanceof WriteError)) throw e;
  io.err(`mnc: error: cannot write '${e.path}': ${e.message}\n`);
  return false;
}

/** Check every network in the file (or the one --network names). */
function runCheck(path: string, text: string, options: CompileOptions, dumpIr: boolean, io: Io): boolean {
  const parsed = parse(text, { file: path });
  if (parsed.ast === undefined) return emitDiagnostics(parsed.diagnostics, text, io);
  const networks = options.network !== undefined ? [options.network] : parsed.ast.declarations.filter((d) => d.kind === "network").map((d) => d.name.name);
  if (networks.length === 0) {
    // Let the builder say why (no network, or blocks with errors).
    return emitDiagnostics(buildGraph(parsed.ast, options).diagnostics, text, io);
  }
  const seen = new Set<string>();
  let ok = true;
  const names: string[] = [];
  for (const network of networks) {
    const r = check(text, { ...options, file: path, network });
    const fresh = r.diagnostics.filter((d) => {
      const key = `${d.code}@${d.span?.start}:${d.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (!emitDiagnostics(fresh, text, io) || r.graph === undefined) ok = false;
    else {
      names.push(network);
      if (dumpIr) io.out(printGraph(r.graph));
    }
  }
  if (ok) io.out(`${escapeControls(path)}: ok (${names.join(", ")})\n`);
  return ok;
}

/** Options of other targets that `--emit pytorch` refuses (a usage error). */
const PYTORCH_REFUSES = ["embed-weights", "labels", "no-wasm", "embed-preprocessing", "opset", "input-layout", "quantized"] as const;

/** What `--emit` writes. */
type Target = "onnx" | "ts" | "js" | "pytorch";

/** Every target, with the file extension of its default output (net.mn → net.onnx, net.py, …). */
const TARGET_EXTENSION: Readonly<Record<Target, string>> = { onnx: ".onnx", ts: ".ts", js: ".js", pytorch: ".py" };

function isTarget(name: string): name is Target {
  return Object.hasOwn(TARGET_EXTENSION, name);
}

interface EmitOptions {
  readonly dumpIr: boolean;
  readonly output: string | undefined;
  readonly opset: number;
  readonly inputLayout: "nchw" | "nhwc";
  readonly embedPreprocessing: boolean;
  readonly target: Target;
  readonly embedWeights: boolean;
  readonly wasm: boolean;
  readonly labels: string | undefined;
}

/** `net.mn` → `net.onnx`, beside the input. */
export function defaultOutput(path: string, extension: string): string {
  return /\.mn$/i.test(path) ? path.replace(/\.mn$/i, extension) : path + extension;
}

function runCompile(path: string, text: string, options: CompileOptions, emit: EmitOptions, io: Io): boolean {
  const named = labelOptions(emit.labels, io);
  if (named === undefined) return false;
  // The PyTorch module trains batch-norm: it is emitted from the unfused graph.
  const r = compile(text, { ...options, file: path, ...named, ...(emit.target === "pytorch" ? { fuseBatchNorm: false } : {}) });
  if (!emitDiagnostics(r.diagnostics, text, io) || r.graph === undefined || r.costs === undefined) return false;
  if (emit.dumpIr) io.out(printGraph(r.graph));
  const output = emit.output ?? defaultOutput(path, TARGET_EXTENSION[emit.target]);
  const compiled = { graph: r.graph, costs: r.costs, ...(r.certificate === undefined ? {} : { certificate: r.certificate }) };
  let kernels = "";
  if (emit.target === "pytorch") {
    if (!deliver(emitPyTorch(r.unfused ?? r.graph, { sourceFile: recordedPath(path) }), output, io)) return false;
  } else if (emit.target === "onnx") {
    if (emit.embedPreprocessing && preprocessingOf(r.graph) === undefined) {
      throw new UsageError(`--embed-preprocessing: ${path} declares no input normalisation to embed (declare it: input HxWxC mean=M std=S)`);
    }
    if (isQuantizedGraph(r.graph)) {
      // An 8-bit model takes its input's stored integers: there is no float normalisation to embed.
      if (emit.embedPreprocessing) throw new UsageError("--embed-preprocessing: a quantized model takes the input's stored integers (a photo's bytes as they are); leave it out");
      if (!integerRuns(r.graph, text, io)) return false;
    }
    const preprocessing = emit.embedPreprocessing ? { embedPreprocessing: true } : {};
    if (!deliver(emitOnnx(compiled, { sourceFile: recordedPath(path), sourceText: text, opset: emit.opset, inputLayout: emit.inputLayout, ...preprocessing }), output, io)) return false;
  } else {
    if (isQuantizedGraph(r.graph) && !integerRuns(r.graph, text, io)) return false;
    const stem = output.replace(emit.target === "ts" ? /\.ts$/i : /\.m?js$/i, "");
    const weightsPath = stem + ".weights.bin";
    // compile() has checked the labels against the outputs (MN5001).
    const tsOptions = { sourceFile: recordedPath(path), ...(output === "-" ? {} : { moduleName: basename(output) }), embedWeights: emit.embedWeights, wasm: emit.wasm, ...(named.labels === undefined ? {} : { labels: named.labels }) };
    const js = emit.target === "js" ? emitJavaScript(compiled, tsOptions) : undefined;
    const module = js ?? emitTypeScript(compiled, tsOptions);
    kernels = module.kernels.wasm ? "; WebAssembly SIMD and TypeScript kernels" : `; TypeScript kernels only (${module.kernels.why})`;
    // --emit js: the module's declarations beside it (net.js → net.d.ts, net.mjs → net.d.mts).
    const declarations = js === undefined ? [] : [{ path: stem + (/\.mjs$/i.test(output) ? ".d.mts" : ".d.ts"), content: js.declarations }];
    const files = [{ path: output, content: module.code }, ...declarations, ...(module.weights === undefined ? [] : [{ path: weightsPath, content: module.weights }])];
    if (output === "-") deliver(module.code, output, io);
    else {
      try {
        writeFilesAtomic(files);
      } catch (e) {
        return writeFailed(e, io);
      }
    }
  }
  const g = r.graph;
  const input = g.nodes[0]!.shape!;
  const out = g.nodes.find((n) => n.id === g.outputs[0])!.shape!;
  const t = r.costs.totals;
  const n = (x: number): string => x.toLocaleString("en-US");
  const fusion = r.certificate === undefined ? "batch-norm kept" : `batch-norm fused (max relative error ${r.certificate.maxRelativeError.toExponential(2)})`;
  status(`${output}: ${g.name} α=${g.alpha} ${input.join("x")} → ${out.join("x")}, ${n(t.multAdds)} mult-adds, ${n(t.params)} params, ${fusion}${kernels}\n`, output, io);
  return true;
}

interface RunOptions {
  readonly input: string;
  readonly labels: string | undefined;
  readonly top: number;
  readonly normalisation: NormalisationOverride;
  readonly masks: readonly MaskSpec[];
}

/** A classifier: one output, a 1×1×C vector (today's listing of the top classes). */
function isClassifier(graph: Graph): boolean {
  const outputs = runOutputs(graph);
  return outputs.length === 1 && outputKind(outputs[0]!) === "vector";
}

/**
 * `mnc report`: the cost report, with int8 memory for `--int8`, and for
 * `--weights F --quantized` of the graph carrying F's integers (undefined when
 * anything failed; the diagnostics are printed).
 */
function buildReportFor(path: string, text: string, options: CompileOptions, report: { readonly int8: boolean; readonly weightsPath: string | undefined }, io: Io): { readonly report: Report; readonly graph: Graph; readonly costs: CostAnalysis } | undefined {
  let weights: Uint8Array | undefined;
  if (report.weightsPath !== undefined) {
    weights = readBinary(report.weightsPath, "weights", io);
    if (weights === undefined) return undefined;
  }
  const quantized = weights === undefined ? {} : { weights, weightsFile: report.weightsPath, quantized: true };
  const r = reportOf(text, { ...options, file: path, ...quantized, int8: report.int8 });
  if (!emitDiagnostics(r.diagnostics, text, io) || r.report === undefined || r.graph === undefined || r.costs === undefined) return undefined;
  return { report: r.report, graph: r.graph, costs: r.costs };
}

function runNetwork(path: string, text: string, options: CompileOptions, run: RunOptions, io: Io): boolean {
  const named = labelOptions(run.labels, io);
  if (named === undefined) return false;
  // A classifier's labels name its outputs and compile() checks them (MN5001); a map's name its channels.
  const probe = named.labels === undefined ? undefined : check(text, { ...options, file: path }).graph;
  const r = compile(text, { ...options, file: path, ...(probe === undefined || isClassifier(probe) ? named : {}) });
  if (!emitDiagnostics(r.diagnostics, text, io) || r.graph === undefined) return false;
  const graph = r.graph;
  const classifier = isClassifier(graph);
  const outputs = runOutputs(graph);
  if (!classifier && named.labels !== undefined && !outputs.some((o) => classCount(o, graph) === named.labels!.length)) {
    const counts = outputs.map((o) => `'${o.name}' ${classCount(o, graph) ?? "none"}`).join(", ");
    io.err(`mnc: error: ${run.labels}: ${named.labels.length} label${named.labels.length === 1 ? "" : "s"}, but no output has that many classes (classes per output: ${counts}); give one label per class, one per line\n`);
    return false;
  }
  const masks = run.masks.map((m) => {
    const o = m.name === undefined ? outputs[0]! : outputs.find((x) => x.name === m.name) ?? outputs.find((x) => x.node.id === m.name);
    if (o === undefined) throw new UsageError(`--mask: the network has no output '${m.name}' (its outputs: ${outputs.map((x) => x.name).join(", ")})`);
    if (m.name === undefined && outputs.length > 1) throw new UsageError(`--mask PATH: the network has ${outputs.length} outputs (${outputs.map((x) => x.name).join(", ")}); say which: --mask NAME=PATH`);
    const problem = maskShapeProblem(o);
    if (problem !== undefined) throw new UsageError(`--mask: ${problem}`);
    return { output: o, index: outputs.indexOf(o), path: m.path };
  });
  const bytes = readBinary(run.input, "input", io);
  if (bytes === undefined) return false;
  let input: Float32Array;
  const first = graph.nodes[0]!;
  const declared = first.op === "input" ? first.attrs.normalisation : undefined;
  try {
    input = loadInput(bytes, first.shape!, runNormalisation(declared, run.normalisation));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    io.err(`mnc: error: ${run.input}: ${e.message}\n`);
    return false;
  }
  const warning = normalisationWarning(input, declared);
  if (warning !== undefined) io.err(`mnc: warning: ${run.input}: ${warning}\n`);
  if (options.quantized === true) return runQuantized(graph, text, bytes, run, named.labels, io);
  const values = runReferenceOutputs(graph, input);
  // Every mask is encoded before anything is printed or written: a bad one writes none.
  const files: { path: string; content: Uint8Array }[] = [];
  for (const m of masks) {
    const encoded = maskPng(m.output, values[m.index]!);
    if ("problem" in encoded) {
      io.err(`mnc: error: --mask ${m.path}: ${encoded.problem}\n`);
      return false;
    }
    files.push({ path: m.path, content: encoded.png });
  }
  io.out(`${escapeControls(run.input)}: ${graph.name}\n`);
  if (classifier) {
    const ranked = [...values[0]!].map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p || a.i - b.i).slice(0, run.top);
    const names = ranked.map(({ i }) => escapeControls(named.labels?.[i] ?? `class ${i}`));
    const width = Math.max(...names.map((x) => x.length));
    ranked.forEach(({ p, i }, k) => io.out(`  ${String(k + 1).padStart(2)}. ${names[k]!.padEnd(width)}  ${p.toFixed(4)}  (${i})\n`));
  } else {
    outputs.forEach((o, i) => io.out(describeOutput(o, values[i]!, graph, run.top, named.labels).join("\n") + "\n"));
  }
  if (files.length === 0) return true;
  try {
    writeFilesAtomic(files);
  } catch (e) {
    return writeFailed(e, io);
  }
  for (const m of masks) {
    const what = outputKind(m.output) === "map" ? "round(255·p) per pixel" : "class index per pixel";
    status(`${m.path}: mask of '${m.output.name}', ${m.output.shape[0]}x${m.output.shape[1]} pixels, ${what}\n`, m.path, io);
  }
  return true;
}

/**
 * `mnc run --quantized`: the integer reference on the input's integers. A
 * uint8 input (raw bytes, or a photo's decoded pixels) is the model's stored
 * values as they are for a uint8 input (TFLite's uint8 models take the
 * pixels; their input quantization, e.g. 1/128 and 128, is the
 * normalisation), shifted by −128 for an int8 one; a float32 input is
 * quantized with the input's scale and zero point.
 */
function runQuantized(graph: Graph, text: string, bytes: Uint8Array, run: RunOptions, labels: readonly string[] | undefined, io: Io): boolean {
  if (!integerRuns(graph, text, io)) return false;
  const first = graph.nodes[0]!;
  const q = first.quant;
  if (q === undefined) throw new InternalError("a quantized graph's input has no quantization");
  const shape = first.shape!;
  let stored: Int32Array;
  try {
    stored = storedInput(bytes, shape, q);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    io.err(`mnc: error: ${run.input}: ${e.message}\n`);
    return false;
  }
  const outputs = runReferenceIntOutputs(graph, stored, "xnnpack");
  io.out(`${escapeControls(run.input)}: ${graph.name} (integer reference, ${q.type})\n`);
  outputs.forEach((o, k) => {
    const oq = o.quant;
    const ranked = [...o.data].map((v, i) => ({ v, i })).sort((a, b) => b.v - a.v || a.i - b.i).slice(0, run.top);
    const names = ranked.map(({ i }) => escapeControls((k === 0 ? labels?.[i] : undefined) ?? `class ${i}`));
    const width = Math.max(...names.map((x) => x.length));
    if (outputs.length > 1) io.out(`${graph.outputNames?.[k] ?? graph.outputs[k]}:\n`);
    ranked.forEach(({ v, i }, r) => io.out(`  ${String(r + 1).padStart(2)}. ${names[r]!.padEnd(width)}  ${dequantizeValue(v, oq).toFixed(4)}  q=${v}  (${i})\n`));
  });
  return true;
}

/** Whether two quantizations are the same (b may be absent). */
function sameQuantization(a: Quantization, b: Quantization | undefined): boolean {
  return b !== undefined && a.type === b.type && a.scale.every((s, i) => s === b.scale[i]) && a.zeroPoint.every((z, i) => z === b.zeroPoint[i]);
}

/** `mnc quantize`'s own options, checked. */
interface QuantizeRun {
  readonly calibrate: string;
  readonly eval?: string;
  readonly method: CalibrationMethod;
  readonly activations: QuantizedType;
  readonly output: string;
}

function quantizeOptions(values: Values): QuantizeRun {
  if (values.calibrate === undefined) throw new UsageError("quantize: --calibrate DIR is required (a folder of images)");
  if (values.output === undefined) throw new UsageError("quantize: -o PATH is required");
  const method = parseMethod(values.method ?? "minmax");
  if (typeof method === "string") throw new UsageError(`--method: ${method}`);
  const activations = values.activations ?? "int8";
  if (activations !== "int8" && activations !== "uint8") throw new UsageError(`--activations must be int8 or uint8, not '${activations}'`);
  return { calibrate: values.calibrate, ...(values.eval === undefined ? {} : { eval: values.eval }), method, activations, output: values.output };
}

/**
 * `mnc quantize`: calibrate the fused float graph on the folder's images,
 * quantize it, write the quantized safetensors file, and print the
 * agreement of the integer network with the float one.
 */
function runQuantize(path: string, text: string, options: CompileOptions, run: QuantizeRun, io: Io): boolean {
  const r = compile(text, { ...options, file: path });
  if (!emitDiagnostics(r.diagnostics, text, io) || r.graph === undefined) return false;
  const graph = r.graph;
  const first = graph.nodes[0]!;
  const declared = first.op === "input" ? first.attrs.normalisation : undefined;
  const calibration = readImageFolder(run.calibrate, "--calibrate", first.shape!, declared);
  if (typeof calibration === "string") {
    io.err(`mnc: error: ${calibration}\n`);
    return false;
  }
  const evaluation = run.eval === undefined ? calibration : readImageFolder(run.eval, "--eval", first.shape!, declared);
  if (typeof evaluation === "string") {
    io.err(`mnc: error: ${evaluation}\n`);
    return false;
  }
  let quantized: Graph;
  try {
    // Pixels are the stored values of an input quantized from its normalisation; float tensors calibrate it.
    const input = calibration.every((c) => c.pixels) ? "pixels" : "calibrated";
    quantized = quantizeGraph(graph, calibrate(graph, calibration.map((c) => c.float), run.method), { activations: run.activations, input });
  } catch (e) {
    if (!(e instanceof UnsupportedLayerError)) throw e;
    return emitDiagnostics([error("integerUnsupported", e.node.span, e.node.id, e.reason, "the network runs in float only (mnc run, mnc compile without --quantized)")], text, io);
  }
  const layers = quantized.nodes.filter(isWeighted).length;
  const method = formatMethod(run.method);
  const bytes = exportQuantizedSafetensors(quantized, { calibration: `${method} on ${calibration.length} input${calibration.length === 1 ? "" : "s"}` });
  if (!deliver(bytes, run.output, io)) return false;
  status(`${run.output}: ${graph.name}, ${layers} layers quantized (${run.activations} activations, int8 per-channel weights), calibrated by ${method} on ${calibration.length} image${calibration.length === 1 ? "" : "s"}\n`, run.output, io);
  const q = quantized.nodes[0]!.quant!;
  // The stored integers: the pixels when the input's quantization maps them, else the normalised values quantized.
  const pixelMapped = first.op === "input" && sameQuantization(q, pixelQuantization(first, q.type));
  const stored = (e: FolderImage): Int32Array => (e.pixels && pixelMapped ? storedInput(e.bytes, first.shape!, q) : Int32Array.from(e.float, (v) => quantizeValue(v, q)));
  const a = agreement(graph, quantized, evaluation.map((e) => ({ float: e.float, stored: stored(e) })));
  const n = evaluation.length;
  const f = (x: number, digits: number): string => x.toFixed(digits);
  const lines = [
    `agreement with the float network on ${n} image${n === 1 ? "" : "s"}${run.eval === undefined ? " (the calibration images)" : ` from ${run.eval}`}, integer reference (XNNPACK rounding):`,
    `  top-1          ${a.top1}/${n}`,
    `  top-5 overlap  ${f(100 * a.top5Overlap, 1)}%`,
    `  max |Δprob|    ${f(a.maxProbDelta, 4)}`,
    `  max |Δlogit|   ${Number(a.maxLogitDelta.toPrecision(4))} (the float logits span ${Number(a.logitSpan.toPrecision(4))})`,
    ...evaluation.map((e, i) => {
      const x = a.inputs[i]!;
      const same = x.floatTop5[0] === x.quantizedTop5[0];
      return `  ${escapeControls(basename(e.path))}: top-1 ${x.floatTop5[0]} ${same ? "=" : "≠"} ${x.quantizedTop5[0]}, top-5 ${x.floatTop5.filter((c) => x.quantizedTop5.includes(c)).length}/5, max |Δprob| ${f(x.maxProbDelta, 4)}`;
    }),
  ];
  const out = run.output === "-" ? io.err : io.out;
  out(lines.join("\n") + "\n");
  return true;
}

function runWeightsExport(path: string, text: string, options: CompileOptions, output: string, io: Io): boolean {
  const r = compile(text, { ...options, file: path, fuseBatchNorm: false });
  if (!emitDiagnostics(r.diagnostics, text, io) || r.unfused === undefined) return false;
  if (!deliver(exportSafetensors(r.unfused), output, io)) return false;
  status(`${output}: ${r.unfused.name}, ${r.unfused.nodes.filter((n) => n.op === "conv" || n.op === "depthwise" || n.op === "fc").length} layers of weights\n`, output, io);
  return true;
}

/** `--colour-by` by the figures' names in the drawing's legend (mult-adds, params). */
function colourByFlag(text: string | undefined): ColourBy {
  const names = Object.entries(COLOUR_BY).map(([key, c]) => [c.name, key as ColourBy] as const);
  if (text === undefined) return "multAdds";
  const found = names.find(([name]) => name === text);
  if (found === undefined) throw new UsageError(`--colour-by must be ${names.map(([name]) => name).join(" or ")}, not '${text}'`);
  return found[1];
}

/** `mnc graph`: the network drawn as SVG, written to `output` (- for standard output). */
function runGraph(path: string, text: string, options: CompileOptions, output: string, colourBy: ColourBy, io: Io): boolean {
  const r = analyze(text, { ...options, file: path });
  if (!emitDiagnostics(r.diagnostics, text, io) || r.graph === undefined || r.costs === undefined) return false;
  if (!deliver(graphDrawing(r.graph, r.costs, { colourBy }) + "\n", output, io)) return false;
  status(`${output}: ${r.graph.name}, ${r.graph.nodes.length} layers, coloured by ${COLOUR_BY[colourBy].name}\n`, output, io);
  return true;
}
