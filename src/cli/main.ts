/**
 * The mnc command line — the only part of mnc that touches the file system or
 * the process. Exit codes: 0 success, 1 errors in the input, 2 a usage
 * mistake, 70 an internal error (a bug in mnc).
 */
import { readFileSync, statSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { check, compile, parse, type CompileOptions } from "../index.js";
import { buildGraph } from "../ir/build.js";
import { InternalError, type Diagnostic } from "../ir/diagnostics.js";
import { printGraph } from "../ir/print.js";
import { renderDiagnostic } from "../ir/render.js";
import type { WidthRounding } from "../passes/types.js";
import { VERSION } from "../version.js";

const EXIT_OK = 0;
const EXIT_ERRORS = 1;
const EXIT_USAGE = 2;
const EXIT_INTERNAL = 70;

class UsageError extends Error {}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const MAIN_HELP = `mnc ${VERSION} — a compiler for MobileNet-style convolutional networks

Usage:
  mnc check FILE...       report every error in .mn files
  mnc compile FILE        compile a network and print its size and cost
  mnc help [COMMAND]      show help for a command

Options:
  -h, --help              show help
  -v, --version           print the version

Run 'mnc COMMAND --help' for a command's options.
`;

const NETWORK_OPTIONS = `Network options:
  --network NAME          the network to use when the file declares several
  --set NAME=VALUE        override a network parameter (repeatable), e.g. --set classes=10
  --alpha A               width multiplier α (overrides the network's 'width'); A > 0
  --resolution R          input resolution: H = W = R
  --rho P                 resolution multiplier: H = round(H·P), W = round(W·P); P > 0
  --width-rounding RULE   how α rounds channels: floor (Keras, default), min8 (TF-Slim), div8 (MobileNetV2)
  --dump-ir               print the IR after all passes
  --verbose               print a stack trace with internal errors
`;

const HELP: Record<string, string> = {
  check: `Usage: mnc check FILE... [options]

Parses and checks each file and reports every error found, as
FILE:LINE:COL: error MNxxxx: message. Every network in a file is checked
unless --network names one. Exits 0 when all files are free of errors, 1 otherwise.

${NETWORK_OPTIONS}`,
  compile: `Usage: mnc compile FILE [options]

Compiles one network: parses it, applies α and ρ, infers every shape and
counts the costs, then prints a one-line summary.

${NETWORK_OPTIONS}`,
};

const networkOptions = {
  network: { type: "string" },
  set: { type: "string", multiple: true },
  alpha: { type: "string" },
  resolution: { type: "string" },
  rho: { type: "string" },
  "width-rounding": { type: "string" },
  "dump-ir": { type: "boolean" },
  verbose: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

export function main(argv: readonly string[], io: Io): number {
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
      else if (HELP[topic] !== undefined) io.out(HELP[topic]!);
      else throw new UsageError(`unknown command '${topic}'`);
      return EXIT_OK;
    }
    if (command !== "check" && command !== "compile") {
      throw new UsageError(`unknown command '${command}' (try 'mnc --help')`);
    }
    const { values, positionals } = parseCommand(rest, networkOptions);
    verbose = values.verbose === true;
    if (values.help === true) {
      io.out(HELP[command]!);
      return EXIT_OK;
    }
    const options = compileOptions(values);
    if (positionals.length === 0) throw new UsageError(`${command}: missing FILE argument`);
    if (command === "compile" && positionals.length > 1) throw new UsageError("compile: takes one FILE");
    let status = EXIT_OK;
    for (const path of positionals) {
      const text = readSource(path, io);
      if (text === undefined) {
        status = EXIT_ERRORS;
        continue;
      }
      const ok = command === "check" ? runCheck(path, text, options, values["dump-ir"] === true, io) : runCompile(path, text, options, values["dump-ir"] === true, io);
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

function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: O) {
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
    return parseArgs({ args: joined, options, allowPositionals: true, strict: true });
  } catch (e) {
    // Node's messages are long and mention internals; keep the gist on one line.
    const message = e instanceof Error ? e.message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, "") : String(e);
    throw new UsageError(message);
  }
}

function compileOptions(values: {
  network?: string;
  set?: string[];
  alpha?: string;
  resolution?: string;
  rho?: string;
  "width-rounding"?: string;
}): CompileOptions {
  const set: Record<string, string> = {};
  for (const item of values.set ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set expects NAME=VALUE, not '${item}'`);
    set[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  const alpha = values.alpha === undefined ? undefined : positiveNumber("--alpha", values.alpha);
  const resolution = values.resolution === undefined ? undefined : positiveInteger("--resolution", values.resolution);
  const rho = values.rho === undefined ? undefined : positiveNumber("--rho", values.rho);
  if (resolution !== undefined && rho !== undefined) throw new UsageError("give either --resolution or --rho, not both");
  const rounding = values["width-rounding"];
  if (rounding !== undefined && !["floor", "min8", "div8"].includes(rounding)) {
    throw new UsageError(`--width-rounding must be floor, min8 or div8, not '${rounding}'`);
  }
  return {
    ...(values.network === undefined ? {} : { network: values.network }),
    ...(Object.keys(set).length === 0 ? {} : { set }),
    ...(alpha === undefined ? {} : { alpha }),
    ...(resolution === undefined ? {} : { resolution }),
    ...(rho === undefined ? {} : { rho }),
    ...(rounding === undefined ? {} : { widthRounding: rounding as WidthRounding }),
  };
}

function positiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a number greater than 0, not '${text}'`);
  return n;
}

function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, not '${text}'`);
  return n;
}

function readSource(path: string, io: Io): string | undefined {
  try {
    if (statSync(path).isDirectory()) {
      io.err(`mnc: error: '${path}' is a directory, not a .mn file\n`);
      return undefined;
    }
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (e as Error).message;
    io.err(`mnc: error: cannot read '${path}': ${why}\n`);
    return undefined;
  }
}

function report(diagnostics: readonly Diagnostic[], text: string, io: Io): boolean {
  for (const d of diagnostics) io.err(renderDiagnostic(d, text) + "\n");
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  if (errors > 0) io.err(`${errors} error${errors === 1 ? "" : "s"}\n`);
  return errors === 0;
}

/** Check every network in the file (or the one --network names). */
function runCheck(path: string, text: string, options: CompileOptions, dumpIr: boolean, io: Io): boolean {
  const parsed = parse(text, { file: path });
  if (parsed.ast === undefined) return report(parsed.diagnostics, text, io);
  const networks = options.network !== undefined ? [options.network] : parsed.ast.declarations.filter((d) => d.kind === "network").map((d) => d.name.name);
  if (networks.length === 0) {
    // Let the builder say why (no network, or blocks with errors).
    return report(buildGraph(parsed.ast, options).diagnostics, text, io);
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
    if (!report(fresh, text, io) || r.graph === undefined) ok = false;
    else {
      names.push(network);
      if (dumpIr) io.out(printGraph(r.graph));
    }
  }
  if (ok) io.out(`${path}: ok (${names.join(", ")})\n`);
  return ok;
}

function runCompile(path: string, text: string, options: CompileOptions, dumpIr: boolean, io: Io): boolean {
  const r = compile(text, { ...options, file: path });
  if (!report(r.diagnostics, text, io) || r.graph === undefined || r.costs === undefined) return false;
  if (dumpIr) io.out(printGraph(r.graph));
  const g = r.graph;
  const input = g.nodes[0]!.shape!;
  const output = g.nodes[g.nodes.length - 1]!.shape!;
  const t = r.costs.totals;
  const n = (x: number): string => x.toLocaleString("en-US");
  io.out(
    `${path}: ${g.name} α=${g.alpha} ${input.join("x")} → ${output.join("x")}: ` +
      `${n(t.multAdds)} mult-adds, ${n(t.params)} params (${n(t.weights)} weights + ${n(t.biases)} biases), ${n(t.bnParams)} batch-norm params\n`,
  );
  return true;
}

