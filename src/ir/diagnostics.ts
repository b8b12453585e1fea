/**
 * The catalogue of every message mnc gives a user, each with a stable code:
 *
 *   MN1xxx  syntax (lexer and parser)
 *   MN2xxx  names, arguments and statements
 *   MN3xxx  shapes, widths, resolutions and limits
 *   MN4xxx  weights
 *   MN5xxx  output
 *   MN6xxx  warnings: legal input that is probably a mistake
 *
 * Each entry carries an example that triggers it; the test suite compiles every
 * example and checks that exactly that code comes out, so the catalogue cannot
 * drift from the compiler. Messages are rendered once, by `renderDiagnostic`.
 * A warning never stops the pipeline; the CLI fails on one only with
 * --warnings-as-errors.
 */
import type { Span } from "./span.js";

export type Severity = "error" | "warning";

export interface RelatedInformation {
  readonly message: string;
  readonly span?: Span;
}

export interface Diagnostic {
  readonly code: string;
  readonly severity: Severity;
  readonly message: string;
  /** Where the problem is; absent only for problems in command-line options. */
  readonly span?: Span;
  readonly related: readonly RelatedInformation[];
}

/** An example that triggers a message: `.mn` source plus, if needed, compile options. */
export interface CatalogueExample {
  readonly source: string;
  readonly options?: {
    readonly alpha?: number;
    readonly rho?: number;
    readonly resolution?: number;
    readonly set?: Readonly<Record<string, string>>;
    readonly network?: string;
    readonly budgets?: { readonly multAdds?: number; readonly params?: number };
    /** Class names, one per output (`--labels FILE`, one per line). */
    readonly labels?: readonly string[];
    /** `--output NAME`: the tensors to compute. */
    readonly outputs?: readonly string[];
    /** A weight file for the example: raw bytes, safetensors tensors (filled with `value`, default 0.5), or the shared trained TFLite model. */
    readonly weights?: { readonly bytes: string } | { readonly tensors: readonly { readonly name: string; readonly shape: readonly number[]; readonly value?: number }[] } | { readonly tflite: string; readonly corrupt?: string };
    /** `--quantized`: keep a quantized file's integers. */
    readonly quantized?: boolean;
  };
}

interface Entry<A extends unknown[], S extends Severity = Severity> {
  readonly code: string;
  readonly severity: S;
  readonly summary: string;
  readonly format: (...args: A) => string;
  readonly example: CatalogueExample;
}

function entry<A extends unknown[]>(code: string, summary: string, format: (...args: A) => string, example: string | CatalogueExample): Entry<A, "error"> {
  return { code, severity: "error", summary, format, example: typeof example === "string" ? { source: example } : example };
}

/** A warning: legal input that is probably not what was meant. */
function warningEntry<A extends unknown[]>(code: string, summary: string, format: (...args: A) => string, example: string | CatalogueExample): Entry<A, "warning"> {
  return { ...entry(code, summary, format, example), severity: "warning" };
}

const q = (s: string): string => `'${s}'`;

export const Messages = {
  // ── MN1xxx syntax ────────────────────────────────────────────────────────
  unexpectedCharacter: entry("MN1001", "a character that is not part of the language",
    (text: string) => `unexpected character ${q(text)}`,
    "network N {\n  input 32x32x3\n  conv 3x3 8 @\n}\n"),
  syntaxError: entry("MN1002", "the statement does not follow the grammar",
    (message: string) => message,
    "network N {\n  input 32x32x3\n  conv 3x3 8 stride=\n}\n"),
  unterminatedBlock: entry("MN1003", "a `{` without its `}`",
    (what: string) => `${what} is not closed: expected '}' before the end of the file`,
    "network N {\n  input 32x32x3\n  conv 3x3 8\n"),

  malformedNumber: entry("MN1004", "a number run together with letters or dots",
    (text: string) => `malformed number ${q(text)}`,
    "network N {\n  input 32x32x3\n  conv 3x3 8a\n}\n"),
  nestingTooDeep: entry("MN1005", "brackets, braces or signs nested too deeply",
    (limit: number) => `nesting deeper than ${limit} levels`,
    `network N {\n  input 32x32x3\n  pw ${"(".repeat(70)}8${")".repeat(70)}\n}\n`),
  argumentComma: entry("MN1006", "a ',' between a statement's arguments (Keras and PyTorch separate arguments with commas)",
    (fixed: string) => `arguments are separated by spaces, not commas: write '${fixed}'`,
    "network N {\n  input 32x32x3\n  conv 3x3, 8, stride=2\n}\n"),

  // ── MN2xxx names, arguments, statements ──────────────────────────────────
  unknownStatement: entry("MN2001", "a layer name that is neither a built-in op nor a block",
    (name: string, hint: string) => `unknown op or block ${q(name)}${hint}`,
    "network N {\n  input 32x32x3\n  seperable 16\n}\n"),
  unknownName: entry("MN2002", "an expression names a parameter that does not exist",
    (name: string, hint: string) => `unknown name ${q(name)}${hint}`,
    "network N(classes = 10) {\n  input 32x32x3\n  avgpool global\n  fc clases\n}\n"),
  unknownArgument: entry("MN2003", "a named argument the op or block does not take",
    (op: string, name: string, hint: string) => `${q(op)} has no argument ${q(name)}${hint}`,
    "network N {\n  input 32x32x3\n  conv 3x3 8 strde=2\n}\n"),
  missingArgument: entry("MN2004", "a required argument is missing",
    (op: string, name: string) => `${q(op)} needs a value for ${q(name)}`,
    "network N {\n  input 32x32x3\n  conv 3x3\n}\n"),
  tooManyArguments: entry("MN2005", "more positional arguments than the op or block takes",
    (op: string, count: number) => `${q(op)} takes ${count === 0 ? "no positional arguments" : count === 1 ? "1 positional argument" : `${count} positional arguments`}`,
    "network N {\n  input 32x32x3\n  pw 8 16\n}\n"),
  duplicateArgument: entry("MN2006", "the same argument given twice",
    (name: string) => `${q(name)} is given more than once`,
    "network N {\n  input 32x32x3\n  conv 3x3 8 stride=2 stride=1\n}\n"),
  badOptionValue: entry("MN2007", "an option value outside its allowed set",
    (name: string, value: string, allowed: readonly string[], hint: string) =>
      `${q(value)} is not a valid value for ${q(name)} (expected ${allowed.map(q).join(", ")})${hint}`,
    "network N {\n  input 32x32x3\n  conv 3x3 8 act=relu7\n}\n"),
  recursiveBlock: entry("MN2008", "a block that calls itself, directly or through other blocks",
    (chain: readonly string[]) => chain.length === 2
      ? `block ${q(chain[0]!)} calls itself`
      : `block ${q(chain[0]!)} calls itself through ${chain.slice(1, -1).map(q).join(" → ")}`,
    "block a(n) {\n  pw n\n  a n\n}\nnetwork N {\n  input 32x32x3\n  a 8\n}\n"),
  noNetwork: entry("MN2009", "a file that declares no network",
    () => "the file declares no network",
    "block b(n) {\n  pw n\n}\n"),
  duplicateNetwork: entry("MN2010", "two networks with the same name",
    (name: string) => `network ${q(name)} is declared more than once`,
    "network N {\n  input 8x8x3\n  pw 4\n}\nnetwork N {\n  input 8x8x3\n  pw 8\n}\n"),
  duplicateBlock: entry("MN2011", "two blocks with the same name",
    (name: string) => `block ${q(name)} is declared more than once`,
    "block b(n) {\n  pw n\n}\nblock b(n) {\n  dw 3x3\n}\nnetwork N {\n  input 8x8x3\n  b 4\n}\n"),
  blockShadowsBuiltin: entry("MN2012", "a block named like a built-in op or statement",
    (name: string) => `block ${q(name)} has the name of a built-in op or statement`,
    "block conv(n) {\n  pw n\n}\nnetwork N {\n  input 8x8x3\n  pw 4\n}\n"),
  unknownNetwork: entry("MN2013", "--network names a network the file does not declare",
    (name: string, available: readonly string[], hint: string) => `no network named ${q(name)} (the file declares ${available.map(q).join(", ")})${hint}`,
    { source: "network N {\n  input 8x8x3\n  pw 4\n}\n", options: { network: "M" } }),
  networkRequired: entry("MN2014", "a file with several networks needs --network",
    (available: readonly string[]) => `the file declares ${available.length} networks (${available.map(q).join(", ")}); choose one with --network`,
    "network A {\n  input 8x8x3\n  pw 4\n}\nnetwork B {\n  input 8x8x3\n  pw 8\n}\n"),
  divisionByZero: entry("MN2015", "an expression divides by zero",
    () => "division by zero",
    "network N(d = 0) {\n  input 32x32x3\n  pw 16/d\n}\n"),
  wrongValueKind: entry("MN2016", "a value of the wrong kind (a shape where a number belongs, …)",
    (what: string, expected: string, found: string) => `${what} must be ${expected}, not ${found}`,
    "network N {\n  input 32x32x3\n  pw 3x3\n}\n"),
  missingInput: entry("MN2017", "a network without an `input` statement before its first layer",
    (name: string) => `network ${q(name)} needs an 'input HxWxC' statement before its first layer`,
    "network N {\n  conv 3x3 8\n}\n"),
  duplicateInput: entry("MN2018", "a second `input` statement",
    () => "the network already has an input",
    "network N {\n  input 32x32x3\n  input 64x64x3\n  pw 8\n}\n"),
  unknownSetParameter: entry("MN2019", "--set names a parameter the network does not declare",
    (name: string, network: string, hint: string) => `--set ${name}: network ${q(network)} has no parameter ${q(name)}${hint}`,
    { source: "network N(classes = 10) {\n  input 8x8x3\n  avgpool global\n  fc classes\n}\n", options: { set: { clases: "5" } } }),
  duplicateParameter: entry("MN2020", "a parameter declared twice in one list",
    (name: string) => `parameter ${q(name)} is declared more than once`,
    "network N(a = 1, a = 2) {\n  input 8x8x3\n  pw 4\n}\n"),
  parameterNeedsValue: entry("MN2021", "a network parameter without a default, and no --set for it",
    (name: string) => `parameter ${q(name)} has no default; give it one or pass --set ${name}=VALUE`,
    "network N(classes) {\n  input 8x8x3\n  avgpool global\n  fc classes\n}\n"),
  misplacedStatement: entry("MN2022", "a statement where it has no meaning",
    (statement: string, reason: string) => `${q(statement)} ${reason}`,
    "block b(n) {\n  input 8x8x3\n  pw n\n}\nnetwork N {\n  input 8x8x3\n  b 4\n}\n"),
  unexpectedBody: entry("MN2023", "a `{ … }` body after a statement that takes none, or none where one is needed",
    (statement: string, wanted: boolean) => wanted ? `${q(statement)} needs a body: ${statement} … { … }` : `${q(statement)} takes no body`,
    "network N {\n  input 8x8x3\n  repeat 2\n  pw 4\n}\n"),
  badSetValue: entry("MN2024", "--set with a value that is not a number or a shape",
    (name: string, value: string) => `--set ${name}=${value}: the value must be a number or a shape like 3x3`,
    { source: "network N(classes = 10) {\n  input 8x8x3\n  avgpool global\n  fc classes\n}\n", options: { set: { classes: "ten" } } }),
  duplicateWidth: entry("MN2025", "a second network-wide `width`",
    () => "the network's width is already set",
    "network N {\n  input 8x8x3\n  width 0.5\n  width 0.75\n  pw 8\n}\n"),
  emptyNetwork: entry("MN2026", "a network with an input and no layers",
    (name: string) => `network ${q(name)} has no layers`,
    "network N {\n  input 8x8x3\n}\n"),
  blockNestingTooDeep: entry("MN2027", "blocks that call blocks too many levels deep",
    (limit: number) => `blocks call blocks more than ${limit} levels deep`,
    {
      source: `${Array.from({ length: 66 }, (_, i) => `block b${i}(n) {\n  ${i === 65 ? "pw n" : `b${i + 1} n`}\n}\n`).join("")}network N {\n  input 8x8x3\n  b0 4\n}\n`,
    }),
  emptyResidual: entry("MN2028", "a `residual { … }` whose body has no layers",
    () => "this residual's body has no layers: y = x + x is not a residual connection",
    "network N {\n  input 8x8x8\n  residual {\n  }\n  pw 8\n}\n"),

  unknownTensor: entry("MN2029", "a layer reads a tensor name that is not defined",
    (name: string, hint: string) => `no tensor named ${q(name)} here${hint}`,
    "network N {\n  input 8x8x8\n  skip = pw 8\n  pw 8\n  add skp\n}\n"),
  tensorUsedEarly: entry("MN2030", "a layer reads a tensor named only later (a graph cannot loop back)",
    (name: string, self = false) => `${q(name)} is not named until ${self ? "this statement" : "later in the file"}; a layer can read only tensors named before it, so a graph cannot have a cycle`,
    "network N {\n  input 8x8x8\n  a = pw 8\n  add b\n  b = pw 8\n}\n"),
  duplicateTensor: entry("MN2031", "a tensor name given twice in one scope",
    (name: string) => `the tensor name ${q(name)} is already taken; give each tensor its own name`,
    "network N {\n  input 8x8x8\n  x = pw 8\n  x = pw 8\n}\n"),
  tensorShadowsParameter: entry("MN2032", "a tensor name that is also a parameter's name",
    (name: string) => `${q(name)} is a parameter here; a tensor may not take its name`,
    "network N(width8 = 8) {\n  input 8x8x8\n  width8 = pw width8\n}\n"),
  unusedTensor: entry("MN2033", "a layer whose result nothing reads and that is not an output",
    (layer: string) => `the result of ${q(layer)} is never used: read it (add, mul, concat, from=, resize to=) or list it in 'output'`,
    "network N {\n  input 8x8x8\n  a = pw 8\n  pw 16\n  pw 4 from=a\n}\n"),
  misplacedBinding: entry("MN2034", "a name given to a statement that makes no tensor",
    (statement: string) => `${q(statement)} makes no tensor to name`,
    "network N {\n  input 8x8x8\n  d = defaults act=relu6\n  pw 8\n}\n"),
  unknownOutput: entry("MN2035", "--output names a tensor the network does not have",
    (name: string, available: readonly string[], hint: string) => `--outputs ${name}: the network has no tensor ${q(name)}${available.length > 0 ? ` (named tensors: ${available.map(q).join(", ")})` : ""}${hint}`,
    { source: "network N {\n  input 8x8x8\n  feat = pw 8\n  pw 4\n}\n", options: { outputs: ["feats"] } }),

  resizeTarget: entry("MN2036", "a resize without a size, or with two",
    (both: boolean) => (both ? "resize takes a scale factor or to=NAME, not both" : "resize needs a size: a scale factor ('resize 2') or a tensor to match ('resize to=NAME')"),
    "network N {\n  input 8x8x8\n  resize mode=nearest\n}\n"),
  operandCount: entry("MN2037", "an add, mul or concat with the wrong number of tensor operands",
    (op: string, min: number, max: number | undefined, found: number) =>
      `${q(op)} takes ${max === undefined ? (min === 1 ? "one or more tensor names" : `at least ${min} tensor names`) : max === min ? `${min} tensor name${min === 1 ? "" : "s"}` : `${min} to ${max} tensor names`} besides the current tensor, not ${found}`,
    "network N {\n  input 8x8x8\n  a = pw 8\n  pw 8\n  add\n}\n"),

  // ── MN3xxx shapes, widths, limits ────────────────────────────────────────
  notPositiveInteger: entry("MN3001", "a stride, kernel, channel or repeat count that is zero, negative or fractional",
    (what: string, value: number) => `${what} must be a positive integer, not ${formatNumber(value)}`,
    "network N {\n  input 32x32x3\n  conv 3x3 8 stride=0\n}\n"),
  widthRoundsToZero: entry("MN3002", "a width multiplier that leaves a layer with no channels",
    (layer: string, filters: number, alpha: number) => `width ${formatNumber(alpha)} leaves ${q(layer)} with 0 channels (floor(${filters} × ${formatNumber(alpha)}) = 0)`,
    "network N {\n  input 32x32x3\n  width 0.1\n  conv 3x3 8\n}\n"),
  widthNotPositive: entry("MN3003", "a width multiplier α that is zero or negative",
    (value: number) => `the width multiplier must be greater than 0, not ${formatNumber(value)}`,
    "network N {\n  input 32x32x3\n  width 0\n  conv 3x3 8\n}\n"),
  inputTooSmall: entry("MN3004", "a resolution that shrinks the input to nothing",
    (h: number, w: number) => `the input shrinks to ${h}x${w}; its height and width must be at least 1`,
    { source: "network N {\n  input 32x32x3\n  conv 3x3 8\n}\n", options: { rho: 0.01 } }),
  emptyOutput: entry("MN3005", "a layer whose output would have no rows or columns",
    (layer: string, kernel: string, input: string) => `${q(layer)}: a ${kernel} window with pad=valid does not fit its ${input} input`,
    "network N {\n  input 4x4x3\n  conv 5x5 8 pad=valid\n}\n"),
  expansionLimit: entry("MN3006", "a network that expands past the layer limit",
    (limit: number) => `the network expands to more than ${limit.toLocaleString("en-US")} layers`,
    "network N {\n  input 8x8x3\n  repeat 1000 {\n    repeat 1000 {\n      pw 4\n    }\n  }\n}\n"),
  dropoutRate: entry("MN3007", "a dropout rate outside [0, 1)",
    (value: number) => `a dropout rate must be at least 0 and less than 1, not ${formatNumber(value)}`,
    "network N {\n  input 8x8x3\n  pw 4\n  dropout 1.5\n}\n"),
  sizeLimit: entry("MN3008", "a channel count, resolution or kernel beyond mnc's limits",
    (what: string, value: number, limit: number) => `${what} ${value.toLocaleString("en-US")} is larger than the limit of ${limit.toLocaleString("en-US")}`,
    "network N {\n  input 32x32x3\n  pw 100000000\n}\n"),
  resolutionConflict: entry("MN3010", "both --resolution and --rho",
    () => "give either a resolution or a resolution multiplier ρ, not both",
    { source: "network N {\n  input 32x32x3\n  conv 3x3 8\n}\n", options: { resolution: 16, rho: 0.5 } }),
  rhoNotPositive: entry("MN3011", "a resolution multiplier ρ that is zero or negative",
    (value: number) => `the resolution multiplier must be greater than 0, not ${formatNumber(value)}`,
    { source: "network N {\n  input 32x32x3\n  conv 3x3 8\n}\n", options: { rho: -1 } }),
  budgetExceeded: entry("MN3012", "a network that costs more than its budget",
    (what: string, total: number, limit: number, flag: string, heaviest: readonly string[]) =>
      `${total.toLocaleString("en-US")} ${what} exceed the budget of ${limit.toLocaleString("en-US")} (${flag})${heaviest.length > 0 ? `; the heaviest layers are ${heaviest.join(", ")}` : ""}`,
    { source: "network N {\n  input 32x32x3\n  conv 3x3 16\n  pw 64\n}\n", options: { budgets: { multAdds: 1000000 } } }),
  memoryLimit: entry("MN3013", "a network too large to hold in memory: weights or one activation beyond mnc's limits",
    (what: string, layer: string, bytes: number, limit: number) =>
      `${what} of '${layer}' would take ${bytes.toLocaleString("en-US")} bytes, more than the limit of ${limit.toLocaleString("en-US")} bytes`,
    "network N {\n  input 4096x4096x64\n  pw 64\n}\n"),
  residualShape: entry("MN3014", "a residual connection whose two sides differ in shape",
    (layer: string, input: string, body: string) =>
      `${q(layer)} cannot add ${body} to ${input}: a residual's body must give its input's shape (after α and ρ)`,
    "network N {\n  input 8x8x8\n  residual {\n    pw 16\n  }\n}\n"),
  ratioNotPositive: entry("MN3015", "an expansion or squeeze ratio that is zero or negative",
    (what: string, value: number) => `${what} must be greater than 0, not ${formatNumber(value)}`,
    "network N {\n  input 8x8x8\n  bottleneck 8 expand=0\n}\n"),
  channelsBelowOne: entry("MN3016", "an expansion or squeeze that leaves a layer less than one channel",
    (layer: string, what: string, ratio: string, channels: number, product: number) =>
      `${q(layer)} gets ${formatNumber(product)} channels (${what} ${ratio} × ${channels} input channels); it needs at least 1`,
    "network N {\n  input 8x8x1\n  se 0.25\n}\n"),
  costRange: entry("MN3017", "a network whose costs leave the range of exact integers (2^53)",
    (layer: string, what: string, value: number, running: boolean) =>
      `${running ? `the ${what} up to and including ${q(layer)} total` : `${q(layer)} alone costs`} ${value.toLocaleString("en-US")}${running ? "" : ` ${what}`}, beyond ${Number.MAX_SAFE_INTEGER.toLocaleString("en-US")}, the largest figure mnc counts exactly`,
    "network N {\n  input 1048576x1048576x3\n  pw 1048576\n}\n"),

  operandShape: entry("MN3018", "an add, mul or concat of tensors whose shapes do not fit together",
    (layer: string, verb: string, shapes: readonly string[], rule: string) => `${q(layer)} cannot ${verb} ${shapes.join(" and ")}: it needs ${rule} (after α and ρ)`,
    "network N {\n  input 16x16x8\n  skip = pw 8\n  pw 8 stride=2\n  add skip\n}\n"),
  deconvKernel: entry("MN3019", "a transposed convolution with pad=same whose kernel is smaller than its stride",
    (layer: string, kernel: string, stride: string) => `${q(layer)}: a ${kernel} transposed convolution with stride ${stride} and pad=same would leave output cells no tap reaches; use a kernel at least as large as the stride, or pad=valid`,
    "network N {\n  input 8x8x8\n  deconv 2x2 4 stride=3\n}\n"),

  // ── MN4xxx weights ───────────────────────────────────────────────────────
  weightFileUnreadable: entry("MN4001", "a weight file that cannot be read: wrong format, truncated, corrupt",
    (file: string, reason: string) => `cannot read the weights in ${file}: ${reason}`,
    { source: "network N {\n  input 8x8x3\n  pw 4\n}\n", options: { weights: { bytes: "hello, world" } } }),
  weightShapeMismatch: entry("MN4002", "a tensor whose shape does not fit its layer",
    (layer: string, tensor: string, expected: string, found: string) => `'${layer}': ${tensor} should be ${expected}, but the file has ${found}`,
    { source: "network N {\n  input 8x8x3\n  pw 4 norm=none\n}\n", options: { weights: { tensors: [{ name: "pw_0.weight", shape: [4, 2, 1, 1] }, { name: "pw_0.bias", shape: [4] }] } } }),
  weightMissing: entry("MN4003", "a layer whose tensors the weight file lacks",
    (layer: string, what: string) => `'${layer}': the weights file has ${what.startsWith("no ") || what.startsWith("a ") ? what : `no tensor '${what}'`}`,
    { source: "network N {\n  input 8x8x3\n  pw 4 norm=none\n}\n", options: { weights: { tensors: [{ name: "pw_0.weight", shape: [4, 3, 1, 1] }] } } }),
  weightsUnused: entry("MN4004", "tensors in a weight file that no layer uses",
    (names: readonly string[]) => `the weights file has tensors no layer uses: ${names.slice(0, 5).map(q).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""}`,
    { source: "network N {\n  input 8x8x3\n  pw 4 norm=none\n}\n", options: { weights: { tensors: [{ name: "pw_0.weight", shape: [4, 3, 1, 1] }, { name: "pw_0.bias", shape: [4] }, { name: "pw_1.weight", shape: [4, 4, 1, 1] }] } } }),
  weightLayerCount: entry("MN4005", "a weight file with more or fewer layers than the network",
    (network: string, layers: number, found: number) => `network ${q(network)} has ${layers} layer${layers === 1 ? "" : "s"} with weights, but the weights file has ${found}`,
    { source: "network N {\n  input 224x224x3\n  conv 3x3 8 stride=2 act=relu6\n}\n", options: { weights: { tflite: "mobilenet_v1_0.25_224" } } }),
  weightLayerMismatch: entry("MN4006", "a layer of a weight file that differs from the network's (kind, stride, padding, activation)",
    (layer: string, fileLayer: string, what: string, expected: string, found: string) => `'${layer}' does not match ${fileLayer}: ${what} ${expected} in the network, ${found} in the file`,
    {
      // MobileNetV1 with ReLU where the trained TF-Slim model has ReLU6.
      source: "network N(classes = 1001) {\n  input 224x224x3\n  width 0.25\n  conv 3x3 32 stride=2\n  separable 64\n  separable 128 stride=2\n  separable 128\n  separable 256 stride=2\n  separable 256\n  separable 512 stride=2\n  repeat 5 { separable 512 }\n  separable 1024 stride=2\n  separable 1024\n  avgpool global\n  fc classes\n  softmax\n}\n",
      options: { weights: { tflite: "mobilenet_v1_0.25_224" } },
    }),
  fusionCertificate: entry("MN4007", "batch-norm fusion that changes the network's outputs beyond the tolerance",
    (layer: string, error: number, tolerance: number) => `batch-norm fusion changed the outputs of '${layer}' by ${error.toExponential(2)} (relative), more than the tolerance ${tolerance.toExponential(0)}; the folded weights overflow or lose precision in float32; check the layer's batch-norm statistics, or keep batch-norm with --no-fuse-bn`,
    { source: "network N {\n  input 8x8x3\n  pw 2\n}\n", options: { weights: { tensors: [{ name: "pw_0.weight", shape: [2, 3, 1, 1], value: 1e10 }, { name: "pw_0.bn.gamma", shape: [2], value: 1e30 }, { name: "pw_0.bn.beta", shape: [2] }, { name: "pw_0.bn.mean", shape: [2] }, { name: "pw_0.bn.variance", shape: [2], value: 1 }] } } }),
  weightNotFinite: entry("MN4008", "a weight that is NaN or infinite",
    (layer: string, tensor: string, index: number) => `'${layer}': ${tensor} holds a value that is not a finite number (element ${index})`,
    { source: "network N {\n  input 8x8x3\n  pw 4 norm=none\n}\n", options: { weights: { tensors: [{ name: "pw_0.weight", shape: [4, 3, 1, 1], value: Infinity }, { name: "pw_0.bias", shape: [4] }] } } }),
  negativeVariance: entry("MN4012", "a batch-norm variance below 0 in a weight file",
    (layer: string, tensor: string, value: number, index: number) => `'${layer}': ${tensor} holds ${formatNumber(value)} (element ${index}); a variance cannot be negative`,
    { source: "network N {\n  input 8x8x3\n  pw 2\n}\n", options: { weights: { tensors: [{ name: "pw_0.weight", shape: [2, 3, 1, 1], value: 1 }, { name: "pw_0.bn.gamma", shape: [2], value: 1 }, { name: "pw_0.bn.beta", shape: [2] }, { name: "pw_0.bn.mean", shape: [2] }, { name: "pw_0.bn.variance", shape: [2], value: -1 }] } } }),
  weightQuantization: entry("MN4013", "quantization parameters in a weight file that integer inference cannot use: a scale of 0, NaN or infinite, a zero point outside its type's range",
    (layer: string, what: string, reason: string) => `'${layer}': ${what} cannot be computed in integers: ${reason}`,
    { source: "network N(classes = 1001) {\n  input 224x224x3\n  width 0.25\n  defaults act=relu6\n  conv 3x3 32 stride=2\n  separable 64\n  separable 128 stride=2\n  separable 128\n  separable 256 stride=2\n  separable 256\n  separable 512 stride=2\n  repeat 5 { separable 512 }\n  separable 1024 stride=2\n  separable 1024\n  avgpool global\n  fc classes\n  softmax\n}\n", options: { quantized: true, weights: { tflite: "mobilenet_v1_0.25_224_quant", corrupt: "scale 0" } } }),
  weightNotQuantized: entry("MN4014", "`--quantized` with a weight file whose tensors are not stored as 8-bit integers",
    (layer: string, what: string, reason: string) => `'${layer}': --quantized needs ${what} quantized, but ${reason}; leave out --quantized to run the file in float`,
    { source: "network N(classes = 1001) {\n  input 224x224x3\n  width 0.25\n  defaults act=relu6\n  conv 3x3 32 stride=2\n  separable 64\n  separable 128 stride=2\n  separable 128\n  separable 256 stride=2\n  separable 256\n  separable 512 stride=2\n  repeat 5 { separable 512 }\n  separable 1024 stride=2\n  separable 1024\n  avgpool global\n  fc classes\n  softmax\n}\n", options: { quantized: true, weights: { tflite: "mobilenet_v1_0.25_224" } } }),
  integerUnsupported: entry("MN4015", "a layer 8-bit integer inference (`--quantized`, `mnc quantize`) does not run",
    (layer: string, reason: string, fix: string) => `'${layer}': ${reason}; ${fix}`,
    { source: "network N(classes = 1001) {\n  input 224x224x3\n  width 0.25\n  defaults act=relu6\n  conv 3x3 32 stride=2\n  separable 64\n  separable 128 stride=2\n  separable 128\n  separable 256 stride=2\n  separable 256\n  separable 512 stride=2\n  repeat 5 { separable 512 }\n  separable 1024 stride=2\n  separable 1024\n  avgpool global\n  fc classes\n  softmax\n  argmax\n}\n", options: { quantized: true, weights: { tflite: "mobilenet_v1_0.25_224_quant" } } }),
  weightOperatorUnaccounted: entry("MN4009", "an operator of a TFLite weight file that no layer of the network accounts for",
    (operator: string, output: string, context: string) => `the weights file's ${operator} (output '${output}') has no counterpart in the network${context}`,
    {
      // MobileNetV1 without its average pool: the file pools before the classifier.
      source: "network N(classes = 1001) {\n  input 224x224x3\n  width 0.25\n  defaults act=relu6\n  conv 3x3 32 stride=2\n  separable 64\n  separable 128 stride=2\n  separable 128\n  separable 256 stride=2\n  separable 256\n  separable 512 stride=2\n  repeat 5 { separable 512 }\n  separable 1024 stride=2\n  separable 1024\n  fc classes\n  softmax\n}\n",
      options: { weights: { tflite: "mobilenet_v1_0.25_224" } },
    }),
  weightLayerAbsent: entry("MN4010", "a layer of the network that no operator of a TFLite weight file computes",
    (layer: string, context: string) => `'${layer}' has no counterpart in the weights file${context}`,
    {
      // MobileNetV1 with a pointwise layer the trained model does not have.
      source: "network N(classes = 1001) {\n  input 224x224x3\n  width 0.25\n  defaults act=relu6\n  conv 3x3 32 stride=2\n  separable 64\n  separable 128 stride=2\n  separable 128\n  separable 256 stride=2\n  separable 256\n  separable 512 stride=2\n  repeat 5 { separable 512 }\n  separable 1024 stride=2\n  separable 1024\n  pw 512\n  avgpool global\n  fc classes\n  softmax\n}\n",
      options: { weights: { tflite: "mobilenet_v1_0.25_224" } },
    }),
  weightFileSummary: entry("MN4011", "a weight file that does not fit the network: what the file looks like (width, classes, activation, layers, input) and the options that would fit it, before the per-layer details",
    (description: string, fixes: string) => `the weights file looks like ${description}${fixes === "" ? "" : `: try ${fixes}`}`,
    {
      // MobileNetV1 at the file's width, but with ReLU and 1000 classes where the trained TF-Slim model has ReLU6 and 1001.
      source: "network N(classes = 1000) {\n  input 224x224x3\n  width 0.25\n  conv 3x3 32 stride=2\n  separable 64\n  separable 128 stride=2\n  separable 128\n  separable 256 stride=2\n  separable 256\n  separable 512 stride=2\n  repeat 5 { separable 512 }\n  separable 1024 stride=2\n  separable 1024\n  avgpool global\n  fc classes\n  softmax\n}\n",
      options: { weights: { tflite: "mobilenet_v1_0.25_224" } },
    }),

  // ── MN6xxx warnings ──────────────────────────────────────────────────────
  inputChannelsFirst: warningEntry("MN6001", "an input shape that looks channels-first (CxHxW) where mnc reads HxWxC",
    (h: number, w: number, c: number) =>
      `the input ${h}x${w}x${c} is read as ${h} rows, ${w} columns and ${c} channels (mnc's shapes are HxWxC, channels last); for ${h}-channel ${w}x${c} images write 'input ${w}x${c}x${h}'`,
    "network N {\n  input 3x32x32\n  conv 3x3 8\n}\n"),
  widthTooLarge: warningEntry("MN6002", "a width multiplier α above 4",
    (alpha: number) =>
      `a width multiplier of ${formatNumber(alpha)} makes every layer ${formatNumber(alpha)} times as wide and costs about ${formatNumber(alpha * alpha)} times the mult-adds; α is a fraction such as 1, 0.75, 0.5 or 0.25`,
    "network N {\n  input 32x32x3\n  width 50\n  conv 3x3 8\n}\n"),
  strideRemainder: warningEntry("MN6003", "a resolution that a layer's stride does not divide",
    (layer: string, stride: string, input: string, output: string, rounded: string, advice: string, corners = false) =>
      corners
        ? `${q(layer)} strides ${stride} over a ${input} input, whose size less one ${stride} does not divide: it gives ${output}, whose corners do not fall on the input's, as the network's align_corners resizes assume${advice}`
        : `${q(layer)} strides ${stride} over a ${input} input, which ${stride} does not divide: it gives ${output} (${rounded}), so its outputs do not tile the input evenly${advice}`,
    "network N {\n  input 30x30x3\n  conv 3x3 8 stride=2\n  separable 16 stride=2\n}\n"),
  notClassifier: warningEntry("MN6004", "labels given for a network whose last layer is not a classifier",
    (layer: string, what: string, labels: number) =>
      `the network ends with ${q(layer)} (${what}), not a classifier, yet ${labels} labels name its outputs; end it with 'fc ${labels}' (and 'softmax'), or a 1x1 conv to ${labels} channels`,
    { source: "network N {\n  input 8x8x3\n  conv 3x3 4\n  avgpool global\n}\n", options: { labels: ["cat", "dog", "bird", "fish"] } }),

  // ── MN5xxx output ────────────────────────────────────────────────────────
  labelCount: entry("MN5001", "class labels that do not name every output, one each",
    (file: string | undefined, labels: number, outputs: number, layer: string) =>
      `${labels} label${labels === 1 ? "" : "s"} for the ${outputs} outputs of ${q(layer)}${file === undefined ? "" : ` (${file})`}: give exactly one label per output, one per line`,
    { source: "network N {\n  input 8x8x3\n  pw 4\n  avgpool global\n  fc 3\n}\n", options: { labels: ["cat", "dog"] } }),
} as const;

export type MessageKey = keyof typeof Messages;
type Args<K extends MessageKey> = Parameters<(typeof Messages)[K]["format"]>;

/** Make an error diagnostic from the catalogue. */
export function error<K extends MessageKey>(key: K, span: Span | undefined, ...args: Args<K>): Diagnostic {
  return make(key, "error", span, [], args);
}

/** The catalogue's warnings. */
export type WarningKey = { [K in MessageKey]: (typeof Messages)[K]["severity"] extends "warning" ? K : never }[MessageKey];

/** Make a warning diagnostic from the catalogue. */
export function warning<K extends WarningKey>(key: K, span: Span | undefined, ...args: Args<K>): Diagnostic {
  return make(key, "warning", span, [], args);
}

/** An error with related locations ("first declared here", …). */
export function errorWith<K extends MessageKey>(key: K, span: Span | undefined, related: readonly RelatedInformation[], ...args: Args<K>): Diagnostic {
  return make(key, "error", span, related, args);
}

function make<K extends MessageKey>(key: K, severity: Severity, span: Span | undefined, related: readonly RelatedInformation[], args: Args<K>): Diagnostic {
  const e = Messages[key] as Entry<Args<K>>;
  const d: Diagnostic = { code: e.code, severity, message: e.format(...args), related };
  return span === undefined ? d : { ...d, span };
}

/** Numbers in messages: integers as written, others without float noise. */
export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(12)));
}

/** A broken invariant of the compiler itself — a bug, never the user's mistake. */
export class InternalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InternalError";
  }
}

/** Does any diagnostic stop the pipeline? */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}

/** Sort diagnostics by position (command-line problems first), stably. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return diagnostics
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.span?.start ?? -1) - (b.d.span?.start ?? -1) || a.i - b.i)
    .map((x) => x.d);
}
