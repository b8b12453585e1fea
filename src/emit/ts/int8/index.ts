/**
 * The TypeScript target for quantized graphs (imported with `quantized:
 * true`): a standalone module that runs the network in integers, bit for bit
 * as the integer reference (src/ir/reference-int.ts, `xnnpack` rounding), and
 * its weights file — the canonical int8 blob (src/weights/int8.ts) behind
 * the float module's header with format version 3 (see weights.ts).
 *
 * The module takes and returns stored integers: run(input: Uint8Array |
 * Int8Array) → the first output's stored integers; quantizeInput and
 * dequantize convert floats; inputQuantization and outputQuantization give
 * the scales and zero points; topK, classify and classifyImage rank a
 * classifier's integers and give each its dequantized value. The kernels
 * are generated per layer (kernels.ts): Int32 activations and weights, every
 * constant inlined. Where the WebAssembly int8 kernels exist
 * (src/emit/wasm/int8), the module embeds them and uses them where the host
 * runs WebAssembly SIMD, as the float module does.
 *
 * Pure and deterministic.
 */
import { InternalError } from "../../../ir/diagnostics.js";
import { type Graph, type Node, type Quantization, type QuantizedType, type Shape } from "../../../ir/graph.js";
import { liveness } from "../../../ir/liveness.js";
import type { CostAnalysis } from "../../../passes/analyze-costs.js";
import { VERSION } from "../../../version.js";
import { int8Blob } from "../../../weights/int8.js";
import { TsEmitOptionError } from "../index.js";
import { Code, commentText, group, identifier, stringLiteral, typesIn, type Flavour } from "../code.js";
import { IMAGE_NAMES, imageSpecOf } from "../image.js";
import { size } from "../layer.js";
import { base64, fnv1a, HEADER_BYTES } from "../weights-file.js";
import { INT8_OPS, NR, type Int8Code, type Int8Context, type Int8Emitter, type Int8Operand, type Int8Unpack } from "./kernels.js";
import { declarations, publicApi, publicTypes, runtimeInternals, type ApiSpec } from "./runtime.js";
import { encodeInt8Weights } from "./weights.js";
import { int8WasmOf, type Int8WasmSpec } from "./wasm.js";

/** Options as the float module's (TsEmitOptions). */
export interface Int8EmitOptions {
  readonly sourceFile: string;
  readonly embedWeights?: boolean;
  readonly labels?: readonly string[];
  readonly moduleName?: string;
  readonly wasm?: boolean;
  /** Add `profile()`, timing each layer with the host's performance.now() (benchmarks). */
  readonly profile?: boolean;
}

export interface Int8EmitResult {
  readonly code: string;
  readonly kernels: { readonly wasm: true } | { readonly wasm: false; readonly why: string };
  readonly weights?: Uint8Array;
  readonly declarations: string;
}

/** The first node the integer module cannot run, if any. */
export function firstUnsupportedInt8Node(graph: Graph): Node | undefined {
  return graph.nodes.find((n) => INT8_OPS[n.op] === undefined);
}

/** Names the module takes at its top level; layer functions avoid them. */
const MODULE_NAMES = [
  "inputShape", "outputShape", "inputQuantization", "outputQuantization", "Quantization", "labels", "Label", "Prediction", "Backend",
  "ModelOptions", "Model", "createModel", "createModelAsync", "topK", "quantizeInput", "dequantize", "outputNames", "OutputName",
  "outputShapes", "outputQuantizations", "Outputs",
  "NETWORK", "INPUT_SIZE", "OUTPUT_SIZE", "OUTPUT_SIZES", "OUTPUT_ATS", "ACTIVATION_INTS", "WEIGHT_FLOATS", "BIASES", "INPUT_AT", "BLOB_BYTES",
  "WEIGHTS_BYTES", "FINGERPRINT", "EMBEDDED_WEIGHTS", "LAYERS", "ZERO_POINTS", "Engine", "Stored", "backendOf", "modelOf",
  "typescriptEngine", "unpack", "bytesOf", "readWeights", "decodeBase64", "forward", "storedInput",
  "WasmApi", "wasmApi", "WASM", "WASM_PAGES", "WASM_BLOB", "WASM_INPUT", "WASM_OUTPUTS", "WASM_STEPS", "LITTLE_ENDIAN", "clock", "profile",
  "compiled", "wasmBytes", "wasmModuleSync", "wasmModuleAsync", "wasmOrTypescript", "wasmEngine",
  "a", "k", "kb", "e", "run", "input", "batch", "output", "out", "b", "i", "weights", "backend", "options", "check", "runAll", "outs",
  ...IMAGE_NAMES,
];

type EmitInput = { readonly graph: Graph; readonly costs: CostAnalysis };

/** The stored array type of a quantized type. */
export const ARRAY_OF: Readonly<Record<QuantizedType, string>> = { uint8: "Uint8Array", int8: "Int8Array" };

export function emitInt8Module(result: EmitInput, options: Int8EmitOptions, flavour: Flavour): Int8EmitResult {
  const { graph, costs } = result;
  const T = typesIn(flavour);
  const nn = T("!");
  const unsupported = firstUnsupportedInt8Node(graph);
  if (unsupported !== undefined) {
    throw new TsEmitOptionError(`integer inference does not run ${unsupported.op} layers yet ('${unsupported.id}', line ${unsupported.span.line}); compile without --quantized for the float module on the dequantized weights`);
  }
  const plan = planInt8(graph);
  const first = plan.input;
  const outputs = plan.outputs;
  const last = outputs[0]!;
  const outputSize = size(last.shape);
  const classifier = last.shape[0] === 1 && last.shape[1] === 1;
  const outputNames = graph.outputNames;
  const labels = options.labels;
  if (labels !== undefined && labels.length !== outputSize) {
    throw new TsEmitOptionError(`${labels.length} labels for ${outputSize} outputs of '${last.node.id}': give exactly one label per output`);
  }

  // Layers: one function each; weights placed in k as each layer asks.
  const taken = new Set(MODULE_NAMES);
  const names = new Map(graph.nodes.slice(1).map((n) => [n.id, identifier(n.id, taken)]));
  const layers: { name: string; node: Node; code: Int8Code }[] = [];
  const unpacks: Int8Unpack[] = [];
  let kernelFloats = 0;
  let biasCount = 0;
  const scratchAt = plan.activationInts;
  for (const step of plan.steps) {
    const node = step.node;
    const name = names.get(node.id)!;
    const placed: { kernel: number; bias: number } = { kernel: -1, bias: -1 };
    const ctx: Int8Context = {
      name,
      inputs: node.inputs.map((id) => plan.operand(id)),
      y: plan.at(node.id),
      outShape: shapeOf(node),
      quant: plan.quantOf(node.id),
      scratch: scratchAt,
      flavour,
      unique: (base) => identifier(base, taken),
      place: (length, what) => {
        if (what === "bias") {
          placed.bias = biasCount;
          biasCount += length;
        } else {
          placed.kernel = kernelFloats;
          kernelFloats += Math.ceil(length / 4) * 4;
        }
        return placed[what];
      },
    };
    const emitter = INT8_OPS[node.op] as Int8Emitter<typeof node.op>;
    const code = emitter.emit(node as never, ctx);
    if (emitter.unpack !== undefined) unpacks.push(emitter.unpack(node as never, ctx, placed));
    layers.push({ name, node, code });
  }
  const scratchInts = Math.max(0, ...plan.steps.map((s) => (INT8_OPS[s.node.op] as Int8Emitter<typeof s.node.op>).scratch(s.node as never, plan.operand(s.node.inputs[0]!).shape, shapeOf(s.node))));
  const activationInts = scratchAt + scratchInts;

  // The weights file: the canonical blob behind a header.
  const blob = int8Blob(graph);
  const byNode = new Map(blob.layers.map((l) => [l.node, l]));
  if (blob.layers.length !== unpacks.length) throw new InternalError(`emit ts int8: the blob has ${blob.layers.length} layers, the kernels ${unpacks.length}`);
  const layerRows = unpacks.map((u) => {
    const l = byNode.get(u.node);
    if (l === undefined) throw new InternalError(`emit ts int8: '${u.node}' is not in the int8 blob`);
    if (l.kernel.bytes !== u.rows * u.channels * u.taps || l.bias.count !== u.rows) throw new InternalError(`emit ts int8: '${u.node}' has ${l.kernel.bytes} weights in the blob for ${u.rows}×${u.channels}×${u.taps}`);
    return { u, l };
  });
  const layout = JSON.stringify({
    format: "mnc-ts-int8/1",
    input: first.shape,
    layers: graph.nodes.map((n) => [n.id, n.op, shapeOf(n)]),
    tensors: blob.layers.map((l) => [l.node, l.kernel.offset, l.kernel.bytes, l.kernel.type, l.bias.offset, l.bias.count]),
  });
  const fingerprint = fnv1a(layout);
  const file = encodeInt8Weights(blob.bytes, fingerprint);
  const embedded = options.embedWeights === true;

  // The WebAssembly kernels, where they exist for this graph.
  const wasmChoice = options.wasm === false ? { why: "generated with --no-wasm" } : int8WasmOf(graph);
  const wasm: Int8WasmSpec | undefined = "why" in wasmChoice ? undefined : wasmChoice;
  const noWasm = "why" in wasmChoice ? wasmChoice.why : undefined;

  const [H, W, C] = first.shape;
  const inQ = plan.quantOf(first.node.id);
  const outQs = outputs.map((o) => plan.quantOf(o.node.id));
  const outQ = outQs[0]!;
  const inArray = ARRAY_OF[inQ.type];
  const outArray = ARRAY_OF[outQ.type];
  const image = imageSpecOf(graph);

  const code = new Code();
  // ── header ──
  const rows: [string, string][] = [
    ["source", options.sourceFile],
    ...(options.moduleName === undefined ? [] : [["module", options.moduleName] as [string, string]]),
    ["network", graph.name],
    ["width α", String(graph.alpha)],
    ["resolution", `${H}x${W} (input ${H}x${W}x${C}, NHWC, ${inQ.type}: real = ${affineText(inQ)})`],
    outputNames === undefined
      ? ["output", `${outputSize} ${outQ.type} values per image (${last.node.id}: ${last.node.op}; real = ${affineText(outQ)})`]
      : ["outputs", outputs.map((o, i) => `${outputNames[i]} ${o.shape.join("x")} ${outQs[i]!.type} (${o.node.id}: ${o.node.op})`).join(", ")],
    ["arithmetic", "integers, bit for bit as mnc's integer reference (XNNPACK's rounding)"],
    ["mult-adds", `${group(costs.totals.multAdds)} per image`],
    ["params", `${group(costs.totals.params)} (${group(costs.totals.weights)} weights + ${group(costs.totals.biases)} biases)`],
    ["weights", `${embedded ? "embedded, " : ""}${group(file.length)} bytes: ${HEADER_BYTES}-byte header + ${group(blob.bytes.length)} bytes of 8-bit kernels and int32 biases, layout fingerprint 0x${hex(fingerprint)}`],
    ["kernels", wasm === undefined ? `TypeScript only (${noWasm})` : `WebAssembly SIMD128 (${group(wasm.bytes.length)} bytes, embedded) where the host supports it, else TypeScript`],
    ["memory", `${wasm === undefined ? "" : `WebAssembly ${group(wasm.pages * 65536)} bytes or `}TypeScript ${group(4 * (activationInts + kernelFloats) + 8 * biasCount)} bytes (activations ${group(activationInts)} and weights ${group(kernelFloats)} float32, biases ${group(biasCount)} float64), allocated once per model`],
  ];
  const keyWidth = Math.max(...rows.map(([k]) => k.length));
  code.line("/**");
  code.line(
    flavour === "ts"
      ? ` * ${commentText(graph.name)} — standalone TypeScript integer inference generated by mnc ${VERSION}. Do not edit; regenerate.`
      : ` * ${commentText(graph.name)} — standalone JavaScript integer inference (an ES module; its types in the .d.ts beside it) generated by mnc ${VERSION}. Do not edit; regenerate.`,
  );
  code.line(" *");
  for (const [k, v] of rows) code.line(` *   ${k.padEnd(keyWidth)}  ${commentText(v)}`);
  code.line(" *");
  const usage: [string, string][] = [
    [`const model = createModel(${embedded ? "" : "weightsBytes"});`, wasm === undefined ? "" : "or: await createModelAsync(…)"],
    [`const q = model.run(input);`, `${outArray} [1, ${outputSize}] from ${inArray} [1, ${H}, ${W}, ${C}]`],
    ["dequantize(q);", "Float32Array: outputQuantization.scale · (q − zeroPoint)"],
    ...(classifier ? ([["topK(q, 5);", `[{ index, q, probability${labels ? ", label" : ""} }, …]`]] as [string, string][]) : []),
    ["quantizeInput(floats);", `${inArray}: a float input through inputQuantization`],
  ];
  const usageWidth = Math.max(...usage.map(([c]) => c.length));
  for (const [c, comment] of usage) code.line(` *   ${comment === "" ? c : `${c.padEnd(usageWidth)}   // ${comment}`}`);
  code.line(" *");
  code.line(" * TypeScript kernels: the stored integers in a Float32Array `a` (activations, scratch), the weights");
  code.line(" * minus their zero points in another, `k`, the int32 biases in a Float64Array `kb`, unpacked once by");
  code.line(" * createModel from the weights file; every accumulator an exact integer in float64, requantized as");
  code.line(" * fround(fround(acc) · M) rounded half to even (x + 1.5·2^52 − 1.5·2^52), + the zero point, clamped");
  code.line(" * by the activation or looked up in its table.");
  code.line(" */");
  code.line("");
  if (flavour === "ts") {
    code.line('/// <reference lib="es2017" />');
    code.line("");
  }

  // ── public constants ──
  code.line(`/** [batch, height, width, channels] of one input image (NHWC), ${inQ.type} integers. */`);
  code.line(`export const inputShape${T(": readonly [number, number, number, number]")} = [1, ${H}, ${W}, ${C}];`);
  code.line(`/** [batch, outputs]: the output of ${commentText(last.node.id)}, ${last.shape.join("x")}, flattened (HWC), ${outQ.type} integers. */`);
  code.line(`export const outputShape${T(": readonly [number, number]")} = [1, ${outputSize}];`);
  code.line("/** How the input's integers stand for reals: real = scale · (q − zeroPoint). */");
  code.line(`export const inputQuantization${T(": Quantization")} = ${quantLiteral(inQ)};`);
  code.line("/** How the (first) output's integers stand for reals: real = scale · (q − zeroPoint). */");
  code.line(`export const outputQuantization${T(": Quantization")} = ${quantLiteral(outQ)};`);
  if (outputNames !== undefined) {
    code.line("");
    code.line("/** The network's outputs, in order: run() returns the first, runAll() every one by name. */");
    code.line(`export const outputNames = [${outputNames.map(stringLiteral).join(", ")}]${T(" as const")};`);
    if (flavour === "ts") code.line("export type OutputName = (typeof outputNames)[number];");
    code.line("/** [batch, height, width, channels] of each output (NHWC). */");
    code.line(`export const outputShapes${T(": { readonly [K in OutputName]: readonly [number, number, number, number] }")} = {`);
    outputs.forEach((o, i) => code.line(`  ${stringLiteral(outputNames[i]!)}: [1, ${o.shape.join(", ")}],`));
    code.line("};");
    code.line("/** Each output's quantization. */");
    code.line(`export const outputQuantizations${T(": { readonly [K in OutputName]: Quantization }")} = {`);
    outputs.forEach((_, i) => code.line(`  ${stringLiteral(outputNames[i]!)}: ${quantLiteral(outQs[i]!)},`));
    code.line("};");
  }
  if (labels !== undefined) {
    code.line("");
    code.line("/** The label of each output: output i is labels[i]. */");
    code.line("export const labels = [");
    for (const l of labels) code.line(`  ${stringLiteral(l)},`);
    code.line(`]${T(" as const")};`);
    if (flavour === "ts") code.line("export type Label = (typeof labels)[number];");
  }
  const spec: ApiSpec = {
    flavour,
    input: first.shape,
    inArray,
    outArray,
    outArrays: outQs.map((q) => ARRAY_OF[q.type]),
    outputSize,
    classifier,
    labels: labels !== undefined,
    embedded,
    ...(outputNames === undefined ? {} : { outputNames }),
    ...(wasm === undefined ? {} : { wasm }),
    ...(image === undefined ? {} : { image }),
    inQuant: inQ,
    profile: options.profile === true,
    layers: layers.map((l) => ({ name: l.name, weights: usesWeights(l.node) })),
  };
  if (flavour === "ts") {
    code.line("");
    code.append(publicTypes(spec));
  }
  code.line("");
  code.append(publicApi(spec));

  // ── internals ──
  code.line("");
  code.line("// ── internals ────────────────────────────────────────────────────────────");
  code.line("");
  code.lines([
    `const NETWORK = ${stringLiteral(graph.name)};`,
    `const INPUT_SIZE = ${size(first.shape)};`,
    `const OUTPUT_SIZE = ${outputSize};`,
    "/** Per output: values per batch item, and the offset in `a` of its integers. */",
    `const OUTPUT_SIZES${T(": readonly number[]")} = [${outputs.map((o) => size(o.shape)).join(", ")}];`,
    `const OUTPUT_ATS${T(": readonly number[]")} = [${outputs.map((o) => plan.at(o.node.id)).join(", ")}];`,
    `/** Values of the TypeScript kernels' activations (buffers ${plan.buffers.map((b) => `${b.at} (${group(b.ints)})`).join(", ")}; scratch at ${scratchAt}, ${group(scratchInts)}), weights and biases. */`,
    `const ACTIVATION_INTS = ${activationInts};`,
    `const WEIGHT_FLOATS = ${kernelFloats};`,
    `const BIASES = ${biasCount};`,
    `const INPUT_AT = ${plan.at(first.node.id)};`,
    "/** Bytes of the int8 blob in the weights file, and of the whole file. */",
    `const BLOB_BYTES = ${blob.bytes.length};`,
    `const WEIGHTS_BYTES = ${file.length};`,
    `const FINGERPRINT = 0x${hex(fingerprint)};`,
    "",
    "/**",
    " * The weighted layers (see unpack): [kernel and bias at in the blob, signed, depthwise, rows, channels,",
    " * taps, kernel and bias in k, the input's zero point], and each one's kernel zero points (one, or one",
    " * per row).",
    " */",
    `const LAYERS${T(": readonly (readonly number[])[]")} = [`,
    ...layerRows.map(({ u, l }) => `  [${[l.kernel.offset, l.bias.offset, l.kernel.type === "int8" ? 1 : 0, u.depthwise ? 1 : 0, u.rows, u.channels, u.taps, u.kernel, u.bias, u.xzp].join(", ")}], // ${commentText(u.node)}`),
    "];",
    `const ZERO_POINTS${T(": readonly (readonly number[])[]")} = [`,
    ...layerRows.map(({ u }) => `  [${(u.zeroPoints.every((z) => z === u.zeroPoints[0]) ? [u.zeroPoints[0]!] : u.zeroPoints).join(", ")}],`),
    "];",
    "",
  ]);
  if (flavour === "ts") {
    code.lines([
      "/** A stored-integer array of the module's types. */",
      `type Stored = ${[...new Set([inArray, ...spec.outArrays])].join(" | ")};`,
      "",
      "/** One way through the network: `infer` runs one image from its stored input into each output at `item`. */",
      "interface Engine {",
      "  readonly backend: Backend;",
      "  infer(input: Stored, outputs: readonly Stored[], item: number): void;",
      ...(spec.profile ? ["  /** Each layer alone, reading and writing where it does in infer(). */", "  readonly layers: readonly (readonly [string, () => void])[];"] : []),
      "}",
      "",
    ]);
  }
  runtimeInternals(code, spec, noWasm);
  code.line("");
  code.lines([
    "/**",
    ` * The blob's layers into k: each weight minus its zero point, in the kernels' order (panels of ${NR} rows,`,
    ` * [row / ${NR}][tap][channel][row % ${NR}]; a depthwise layer's [tap][channel]), and each bias, a convolution's folded with the input's zero point`,
    " * (b − x_zp·Σ(w − w_zp): the patch's padding holds x_zp).",
    " */",
  ]);
  code.block(`function unpack(blob${T(": Uint8Array")}, k${T(": Float32Array")}, kb${T(": Float64Array")})${T(": void")}`, () => {
    code.line("const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);");
    code.block("LAYERS.forEach((t, l) =>", () => {
      code.line(`const [at, biasAt, signed, depthwise, rows, channels, taps, kernel, bias, xzp] = t${T(" as [number, number, number, number, number, number, number, number, number, number]")};`);
      code.line(`const zps = ZERO_POINTS[l]${nn};`);
      code.block("for (let r = 0; r < rows; r++)", () => {
        code.line(`const z = zps.length === 1 ? zps[0]${nn} : zps[r]${nn};`);
        code.line("let sum = 0;");
        code.block("for (let c = 0; c < channels; c++)", () => {
          code.block("for (let t = 0; t < taps; t++)", () => {
            code.line(`const byte = blob[at + (r * channels + c) * taps + t]${nn};`);
            code.line("const w = (signed ? (byte << 24) >> 24 : byte) - z;");
            code.line(`k[depthwise ? kernel + t * rows + r : kernel + ((r - (r % ${NR})) * taps * channels + (t * channels + c) * ${NR} + (r % ${NR}))] = w;`);
            code.line("sum += w;");
          });
        });
        code.line("const b = view.getInt32(biasAt + 4 * r, true);");
        code.line("kb[bias + r] = depthwise ? b : b - xzp * sum;");
      });
    }, "});");
  });
  code.line("");
  code.line("/** One image through the TypeScript kernels: its integers at INPUT_AT in `a`, every layer in order. */");
  code.block(`function forward(a${T(": Float32Array")}, k${T(": Float32Array")}, kb${T(": Float64Array")})${T(": void")}`, () => {
    for (const l of layers) code.line(`${l.name}(a${usesWeights(l.node) ? ", k, kb" : ""});`);
  });
  // ── layers ──
  for (const l of layers) {
    code.line("");
    if (l.code.constants !== undefined) code.append(l.code.constants);
    code.line("/**");
    code.line(` * ${commentText(l.node.id)} — ${commentText(l.code.summary)}${l.code.multAdds > 0 ? `; ${group(l.code.multAdds)} mult-adds` : ""}.`);
    for (const d of l.code.doc) code.line(` * ${commentText(d)}`);
    code.line(" */");
    code.block(`function ${l.name}(a${T(": Float32Array")}${usesWeights(l.node) ? `, k${T(": Float32Array")}, kb${T(": Float64Array")}` : ""})${T(": void")}`, () => code.append(l.code.body));
  }
  if (wasm !== undefined) {
    code.line("");
    code.line(`/** The WebAssembly int8 kernels (${group(wasm.bytes.length)} bytes, SIMD128), base64. */`);
    code.line(`const WASM = ${wrapBase64(base64(wasm.bytes))};`);
  }
  if (embedded) {
    code.line("");
    code.line(`/** The weights file (${group(file.length)} bytes), base64. */`);
    code.line(`const EMBEDDED_WEIGHTS = ${wrapBase64(base64(file))};`);
  }

  // ── the JavaScript module's declarations ──
  const dts = new Code();
  dts.line("/**");
  dts.line(` * ${commentText(graph.name)} — the exports of ${options.moduleName === undefined ? "the JavaScript module beside this file" : commentText(options.moduleName)} (integer inference), generated by mnc ${VERSION}. Do not edit; regenerate.`);
  dts.line(" */");
  dts.line("");
  dts.line("export declare const inputShape: readonly [number, number, number, number];");
  dts.line("export declare const outputShape: readonly [number, number];");
  dts.line("export declare const inputQuantization: Quantization;");
  dts.line("export declare const outputQuantization: Quantization;");
  if (outputNames !== undefined) {
    dts.line(`export declare const outputNames: readonly [${outputNames.map(stringLiteral).join(", ")}];`);
    dts.line("export type OutputName = (typeof outputNames)[number];");
    dts.line("export declare const outputShapes: { readonly [K in OutputName]: readonly [number, number, number, number] };");
    dts.line("export declare const outputQuantizations: { readonly [K in OutputName]: Quantization };");
  }
  if (labels !== undefined) {
    dts.line("export declare const labels: readonly [");
    for (const l of labels) dts.line(`  ${stringLiteral(l)},`);
    dts.line("];");
    dts.line("export type Label = (typeof labels)[number];");
  }
  dts.line("");
  dts.append(publicTypes(spec));
  dts.line("");
  for (const d of declarations(spec)) dts.line(d);

  const emitted = { code: code.text(), declarations: dts.text(), kernels: noWasm === undefined ? { wasm: true as const } : { wasm: false as const, why: noWasm } };
  return embedded ? emitted : { ...emitted, weights: file };
}

/** Whether a layer reads the weights `k` and biases `kb`. */
function usesWeights(node: Node): boolean {
  return node.op === "conv" || node.op === "depthwise" || node.op === "fc";
}

/** "s · (q − zp)", a negative zero point as "+". */
function affineText(q: Quantization): string {
  const zp = q.zeroPoint[0]!;
  return `${q.scale[0]} · (q ${zp < 0 ? `+ ${-zp}` : `− ${zp}`})`;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function quantLiteral(q: Quantization): string {
  return `{ type: ${stringLiteral(q.type)}, scale: ${q.scale[0]}, zeroPoint: ${q.zeroPoint[0]} }`;
}

function wrapBase64(text: string): string {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 120) lines.push(text.slice(i, i + 120));
  return `"${lines.join("\\\n")}"`;
}

// ── buffers ────────────────────────────────────────────────────────────────

interface Int8Plan {
  readonly input: { readonly node: Node; readonly shape: Shape };
  readonly outputs: readonly { readonly node: Node; readonly shape: Shape }[];
  /** The layers that run code, in order. */
  readonly steps: readonly { readonly node: Node }[];
  readonly buffers: readonly { readonly at: number; readonly ints: number }[];
  readonly activationInts: number;
  /** Where a node's value lies in `a` (an alias's: its input's). */
  at(id: string): number;
  /** The quantization of a node's integers (an alias's: its input's). */
  quantOf(id: string): Quantization;
  operand(id: string): Int8Operand;
}

/**
 * Give each value a buffer of `a`. A dropout, and a softmax the file has no
 * operator for (no `quant`), are their input's value. Each value goes into
 * the lowest-numbered buffer holding nothing live at its step (one
 * liveness analysis, on the graph with those aliases resolved); each buffer
 * is as large as the largest value it holds, rounded up to 4 ints.
 */
function planInt8(graph: Graph): Int8Plan {
  const nodes = graph.nodes;
  const input = nodes[0];
  if (input === undefined || input.op !== "input") throw new InternalError("emit ts int8: the graph does not start with its input");
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const nodeOf = (id: string): Node => {
    const n = byId.get(id);
    if (n === undefined) throw new InternalError(`emit ts int8: '${id}' is not a node`);
    return n;
  };
  const valueOf = new Map<string, string>();
  const quant = new Map<string, Quantization>();
  const steps: { node: Node }[] = [];
  for (const node of nodes) {
    if (node.op === "input") {
      if (node !== input) throw new InternalError(`emit ts int8: '${node.id}' is a second input`);
      if (node.quant === undefined) throw new InternalError(`emit ts int8: the input '${node.id}' has no quantization`);
      valueOf.set(node.id, node.id);
      quant.set(node.id, node.quant);
      continue;
    }
    const alias = INT8_OPS[node.op] === "alias" || (node.op === "softmax" && node.quant === undefined);
    if (alias) {
      const from = node.inputs[0]!;
      valueOf.set(node.id, valueOf.get(from)!);
      quant.set(node.id, quant.get(from)!);
      continue;
    }
    if (node.quant === undefined) throw new InternalError(`emit ts int8: '${node.id}' (${node.op}) has no quantization`);
    valueOf.set(node.id, node.id);
    quant.set(node.id, node.quant);
    steps.push({ node });
  }
  const value = (id: string): string => {
    const v = valueOf.get(id);
    if (v === undefined) throw new InternalError(`emit ts int8: '${id}' is read before it is made`);
    return v;
  };
  const made = [input, ...steps.map((s) => s.node)];
  const running: Graph = { ...graph, nodes: made.map((n) => ({ ...n, inputs: n.inputs.map(value) }) as Node), outputs: [...new Set(graph.outputs.map(value))] };
  const live = liveness(running);
  const bufferOf = new Map<string, number>();
  const largest: number[] = [];
  made.forEach((n, i) => {
    const busy = new Set(live.live[i]!.filter((v) => v !== n.id).map((v) => bufferOf.get(v)!));
    let b = 0;
    while (busy.has(b)) b++;
    bufferOf.set(n.id, b);
    largest[b] = Math.max(largest[b] ?? 0, size(shapeOf(n)));
  });
  const buffers: { at: number; ints: number }[] = [];
  let end = 0;
  for (const ints of largest) {
    const n = Math.ceil(ints / 4) * 4;
    buffers.push({ at: end, ints: n });
    end += n;
  }
  const at = (id: string): number => buffers[bufferOf.get(value(id))!]!.at;
  const quantOf = (id: string): Quantization => {
    const q = quant.get(id);
    if (q === undefined) throw new InternalError(`emit ts int8: '${id}' has no quantization`);
    return q;
  };
  return {
    input: { node: input, shape: shapeOf(input) },
    outputs: graph.outputs.map((id) => ({ node: nodeOf(id), shape: shapeOf(nodeOf(id)) })),
    steps,
    buffers,
    activationInts: end,
    at,
    quantOf,
    operand: (id) => ({ at: at(id), shape: shapeOf(nodeOf(id)), quant: quantOf(id) }),
  };
}

function shapeOf(node: Node): Shape {
  if (node.shape === undefined) throw new InternalError(`emit ts int8: '${node.id}' has no shape`);
  return node.shape;
}
