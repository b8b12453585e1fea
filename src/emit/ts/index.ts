/**
 * The TypeScript target: a verified, weighted graph → one standalone
 * TypeScript module (no imports, no Node or DOM APIs) that runs the network,
 * plus its weights file.
 *
 *   emitTypeScript(compile(source, options), { sourceFile }) → { code, kernels, weights }
 *
 * The generated module exports inputShape, outputShape, createModel(weights,
 * { backend }) and createModelAsync → Model { backend, run, classify, classifyImage }, topK,
 * imageTensor (RGBA pixels to the input tensor, see image.ts: 1- or 3-channel inputs),
 * and with labels a typed `labels` tuple. topK, classify and classifyImage only where the
 * first output is one pixel of scores (a classifier, not a segmentation map); a network
 * that names its outputs (`output a b`, --outputs) adds outputNames, outputShapes and
 * Model.runAll, every output by name. It carries two kernel sets for the
 * same layers: mnc's WebAssembly SIMD kernels (src/emit/wasm, embedded as
 * base64 unless `wasm: false`), picked once by createModel where the host
 * runs them, and TypeScript kernels — one function per layer, named after the
 * IR id, with every shape, stride, pad and offset inlined as a constant, all
 * floats in one Float32Array allocated by createModel (see layer.ts for the
 * memory layout, gemm.ts and depthwise.ts for the kernels, runtime.ts for the
 * fixed part, wasm.ts and weights-file.ts for the one weights file both read).
 *
 * emitJavaScript writes the same module as JavaScript from the same
 * templates (each writes its type annotations only in the TypeScript
 * flavour: see `Flavour` in code.ts), with a `.d.ts` declaring its exports.
 *
 * Pure and deterministic: same graph and options, same code and bytes.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { AddNode, ConcatNode, Graph, MulNode, Node, Shape } from "../../ir/graph.js";
import { liveness } from "../../ir/liveness.js";
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import type { FusionCertificate } from "../../passes/certify-fusion.js";
import { VERSION } from "../../version.js";
import { Code, commentText, group, identifier, nonNullOf, stringLiteral, typesIn, type Flavour } from "./code.js";
import { DW_BLOCK } from "./depthwise.js";
import { IMAGE_NAMES, imageSpecOf, imageTensorDoc } from "./image.js";
import { MR, NR, packsRows } from "./gemm.js";
import { size, type LayerCode, type Operand } from "./layer.js";
import { ALIASES_INPUT, convGeometry, emitterOf, IN_PLACE, STRIDED_OUTPUT } from "./ops.js";
import { CREATE_MODEL_ASYNC_DOC, createModelDoc, internals, publicApi, publicTypes, TOP_K_DOC, weightsParameter } from "./runtime.js";
import { compileNetworkWasm, MAX_MEMORY_PAGES, packWeights, wasmLayout } from "../wasm/index.js";
import { weightTable } from "./wasm.js";
import { alignUp, base64, encodeWeights, fnv1a, HEADER_BYTES, WeightPacker } from "./weights-file.js";
import { isQuantizedGraph } from "../onnx/quantized.js";
import { emitInt8Module } from "./int8/index.js";

export interface TsEmitOptions {
  /** The `.mn` file, for the header comment. */
  readonly sourceFile: string;
  /** Put the weights into the module as base64 (createModel() then needs no argument). */
  readonly embedWeights?: boolean;
  /** One label per output (class); adds a typed `labels` constant and labels to topK's results. */
  readonly labels?: readonly string[];
  /** The generated module's file name, for the header comment. */
  readonly moduleName?: string;
  /**
   * Embed the WebAssembly SIMD kernels, run where the host supports them (default true); false emits
   * the TypeScript kernels only (`--no-wasm`).
   */
  readonly wasm?: boolean;
  /** Add a `profile()` method timing each layer with the host's performance.now() — for benchmarks, off by default. */
  readonly profile?: boolean;
}

export interface TsEmitResult {
  readonly code: string;
  /** Whether the module embeds the WebAssembly kernels, and if not, why. */
  readonly kernels: { readonly wasm: true } | { readonly wasm: false; readonly why: string };
  /** The weights file (`OUT.weights.bin`); absent when the weights are embedded. */
  readonly weights?: Uint8Array;
}

/** The JavaScript target: the module as an ES module, and the declarations of its exports (`NAME.d.ts`). */
export interface JsEmitResult extends TsEmitResult {
  /** The `.d.ts` describing the module's exports, as the TypeScript module declares them. */
  readonly declarations: string;
}

/** An option that does not fit the network (a user mistake, not a compiler bug). */
export class TsEmitOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TsEmitOptionError";
  }
}

/** Names the generated module uses for itself; layer functions avoid them. */
const MODULE_NAMES = [
  "inputShape", "outputShape", "labels", "Label", "Prediction", "Backend", "ModelOptions", "Model", "createModel",
  "createModelAsync", "topK",
  "NETWORK", "INPUT_SIZE", "OUTPUT_SIZE", "MEMORY_FLOATS", "INPUT_AT", "OUTPUT_AT", "WEIGHT_FLOATS",
  "WEIGHTS_BYTES", "FINGERPRINT", "EMBEDDED_WEIGHTS", "Engine", "backendOf", "modelOf", "typescriptEngine",
  "bytesOf", "readWeights", "decodeBase64",
  "LITTLE_ENDIAN", "floatsOf", "GEMM_WEIGHTS", "DEPTHWISE_WEIGHTS", "unpackPanels", "unpackDepthwise",
  "WasmApi", "wasmApi", "WASM", "WASM_PAGES", "WASM_INPUT", "WASM_OUTPUT", "WASM_STEPS",
  "compiled", "wasmBytes", "wasmModuleSync", "wasmModuleAsync", "wasmOrTypescript", "wasmEngine",
  // locals of the engines that a layer call must not be shadowed by
  "m", "w", "e", "f", "run", "input", "batch", "output", "out", "b", "i", "from", "to", "weights", "k", "backend", "options",
  // several outputs
  "outputNames", "OutputName", "outputShapes", "Outputs", "OUTPUT_SIZES", "OUTPUT_ATS", "WASM_OUTPUTS", "check", "runAll", "outs",
  ...IMAGE_NAMES,
];

type EmitInput = { readonly graph: Graph; readonly costs: CostAnalysis; readonly certificate?: FusionCertificate };

export function emitTypeScript(result: EmitInput, options: TsEmitOptions): TsEmitResult {
  // A graph that carries quantization runs in integers (int8/index.ts).
  const { declarations: _, ...emitted } = isQuantizedGraph(result.graph) ? emitInt8Module(result, options, "ts") : emitModule(result, options, "ts");
  return emitted;
}

/**
 * The same module as JavaScript (an ES module that Node and bundlers import as it is: the TypeScript
 * module's code from the same templates, its types left out) and a `.d.ts` declaring its exports.
 * `moduleName` is the `.js` file's name.
 */
export function emitJavaScript(result: EmitInput, options: TsEmitOptions): JsEmitResult {
  return isQuantizedGraph(result.graph) ? emitInt8Module(result, options, "js") : emitModule(result, options, "js");
}

function emitModule(result: EmitInput, options: TsEmitOptions, flavour: Flavour): JsEmitResult {
  const { graph, costs, certificate } = result;
  const T = typesIn(flavour);
  const plan = planBuffers(graph);
  const first = plan.input;
  const last = plan.outputs[0]!;
  const outputSize = size(last.shape);
  // A classifier's output is one pixel of scores: topK, classify and classifyImage rank them.
  const classifier = last.shape[0] === 1 && last.shape[1] === 1;
  // Outputs the network names (`output a b`, --outputs): outputNames, outputShapes and runAll.
  const outputNames = graph.outputNames;
  if (outputNames !== undefined && outputNames.length !== plan.outputs.length) {
    throw new InternalError(`emit ts: ${outputNames.length} output names for ${plan.outputs.length} outputs`);
  }
  const labels = options.labels;
  if (labels !== undefined && labels.length !== outputSize) {
    throw new TsEmitOptionError(`${labels.length} labels for ${outputSize} outputs of '${last.node.id}': give exactly one label per output`);
  }

  // Memory: the activation buffers, the scratch area, then the weights.
  let scratchFloats = 0;
  for (const step of plan.steps) {
    scratchFloats = Math.max(scratchFloats, emitterOf(step.node).scratch(step.node as never, plan.operand(step.node.inputs[0]!).shape, shapeOf(step.node)));
  }
  scratchFloats = alignUp(scratchFloats);
  const scratchAt = plan.activationFloats;
  const packer = new WeightPacker(scratchAt + scratchFloats);

  // One function per layer, named after it (every layer reserves its name, those that run no code too).
  const taken = new Set(MODULE_NAMES);
  const names = new Map(graph.nodes.slice(1).map((n) => [n.id, identifier(n.id, taken)]));
  const layers: { name: string; node: Node; code: LayerCode }[] = [];
  for (const step of plan.steps) {
    const node = step.node;
    const name = names.get(node.id)!;
    const operands = node.inputs.map((id) => plan.operand(id));
    const code = emitterOf(node).emit(node as never, {
      name,
      inShape: operands[0]!.shape,
      outShape: shapeOf(node),
      x: operands[0]!.x,
      inputs: operands,
      y: step.into === undefined ? plan.at(step.output) : plan.at(step.into.concat.id) + step.into.offset,
      scratch: scratchAt,
      nonNull: nonNullOf(flavour),
      flavour,
      unique: (base) => identifier(base, taken),
      place: (floats, what, panel) => packer.add(floats, what, panel),
      ...(step.into === undefined ? {} : { yStride: shapeOf(step.into.concat)[2] }),
      ...(step.placed === undefined ? {} : { placed: step.placed }),
      ...(step.residual === undefined ? {} : { residual: { add: step.residual.add.id, x: plan.at(step.residual.other) } }),
      ...(step.scale === undefined ? {} : { scale: { mul: step.scale.mul.id, x: plan.at(step.scale.gate) } }),
    });
    if (code !== null) layers.push({ name, node, code });
  }
  const tsWeightFloats = packer.length;
  const memoryFloats = packer.base + tsWeightFloats;

  // The weights file holds the WebAssembly kernels' packed weights region; the TypeScript kernels
  // unpack it into their memory (see wasm.ts). With or without --no-wasm, the same file.
  const wasmPlan = wasmLayout(graph, { maxBatch: 1 });
  if (wasmPlan.weights !== 0) throw new InternalError(`emit ts: the WebAssembly weights region starts at ${wasmPlan.weights}, not 0`);
  const weightTensors = weightTable(wasmPlan, packer.tensors);
  const floats = packWeights(graph, { maxBatch: 1 });
  const weightFloats = floats.length;
  const layout = JSON.stringify({
    format: "mnc-ts/2",
    input: first.shape,
    layers: graph.nodes.map((n) => [n.id, n.op, shapeOf(n)]),
    tensors: wasmPlan.steps.flatMap((s) => (s.weights === undefined ? [] : [[s.name, s.kernel, s.weights.offset, s.weights.floats, s.weights.panel ?? 0]])),
  });
  const fingerprint = fnv1a(layout);
  const file = encodeWeights(floats, fingerprint);
  const embedded = options.embedWeights === true;
  const noWasm =
    options.wasm === false
      ? "generated with --no-wasm"
      : wasmPlan.memoryPages > MAX_MEMORY_PAGES
        ? `the network needs ${group(wasmPlan.memoryBytes)} bytes of memory, more than WebAssembly's 4 GiB`
        : undefined;
  const kernels = noWasm !== undefined ? undefined : compileNetworkWasm(graph, { maxBatch: 1 });
  const wasm =
    kernels === undefined
      ? undefined
      : {
          bytes: kernels.wasm,
          spec: {
            bytes: kernels.wasm.length,
            pages: kernels.layout.memoryPages,
            input: kernels.layout.input,
            output: kernels.layout.output,
            steps: kernels.layout.steps.map((s) => ({ name: s.name, input: s.input, output: s.output })),
            ...(outputNames === undefined ? {} : { outputs: kernels.layout.outputs.map((o) => o.offset) }),
          },
        };

  const [H, W, C] = first.shape;
  const image = imageSpecOf(graph);
  const spec = {
    flavour,
    network: graph.name,
    input: first.shape,
    outputSize,
    memoryFloats,
    inputAt: plan.at(first.node.id),
    outputAt: plan.at(last.node.id),
    weightsAt: packer.base,
    weightFloats,
    weights: weightTensors,
    fingerprint,
    embedded,
    labels: labels !== undefined,
    layers: layers.map((l) => l.name),
    profile: options.profile === true,
    classifier,
    ...(outputNames === undefined
      ? {}
      : { outputs: plan.outputs.map((o, i) => ({ name: outputNames[i]!, at: plan.at(o.node.id), size: size(o.shape), shape: o.shape })) }),
    ...(wasm === undefined ? {} : { wasm: wasm.spec }),
    ...(noWasm === undefined ? {} : { noWasm }),
    ...(image === undefined ? {} : { image }),
  } as const;

  const code = new Code();
  // ── header ──
  const fusion = certificate !== undefined
    ? `folded by mnc; max relative error ${formatError(certificate.maxRelativeError)} over ${certificate.layers} layers, each on ${certificate.inputs} random patches (tolerance ${certificate.tolerance})`
    : graph.nodes.some((n) => (n.op === "conv" || n.op === "depthwise" || n.op === "deconv") && n.weights?.bn !== undefined)
      ? "folded by the TypeScript emitter (the graph was compiled without fusion: no certificate)"
      : "none to fold";
  const rows: [string, string][] = [
    ["source", options.sourceFile],
    ...(options.moduleName === undefined ? [] : [["module", options.moduleName] as [string, string]]),
    ["network", graph.name],
    ["width α", String(graph.alpha)],
    ["resolution", `${H}x${W} (input ${H}x${W}x${C}, NHWC)`],
    outputNames === undefined
      ? ["output", `${outputSize} values per image (${last.node.id}: ${last.node.op})`]
      : ["outputs", plan.outputs.map((o, i) => `${outputNames[i]} ${o.shape.join("x")} (${o.node.id}: ${o.node.op})`).join(", ")],
    ["mult-adds", `${group(costs.totals.multAdds)} per image`],
    ["params", `${group(costs.totals.params)} (${group(costs.totals.weights)} weights + ${group(costs.totals.biases)} biases, before batch-norm fusion)`],
    ["BN fusion", fusion],
    ["weights", `${embedded ? "embedded, " : ""}${group(HEADER_BYTES + 4 * weightFloats)} bytes: ${HEADER_BYTES}-byte header + ${group(weightFloats)} float32 LE, layout fingerprint 0x${fingerprint.toString(16).padStart(8, "0")}`],
    [
      "kernels",
      wasm === undefined
        ? `TypeScript only (${noWasm})`
        : `WebAssembly SIMD128 (${group(wasm.spec.bytes)} bytes, embedded) where the host supports it, else TypeScript`,
    ],
    [
      "memory",
      `${wasm === undefined ? "" : `WebAssembly ${group(wasm.spec.pages * 65536)} bytes or `}TypeScript ${group(memoryFloats * 4)} bytes, allocated once per model`,
    ],
  ];
  const keyWidth = Math.max(...rows.map(([k]) => k.length));
  code.line("/**");
  code.line(
    flavour === "ts"
      ? ` * ${commentText(graph.name)} — standalone TypeScript inference generated by mnc ${VERSION}. Do not edit; regenerate.`
      : ` * ${commentText(graph.name)} — standalone JavaScript inference (an ES module; its types in the .d.ts beside it) generated by mnc ${VERSION}. Do not edit; regenerate.`,
  );
  code.line(" *");
  for (const [k, v] of rows) code.line(` *   ${k.padEnd(keyWidth)}  ${commentText(v)}`);
  code.line(" *");
  const usage: [string, string][] = [
    [`const model = createModel(${embedded ? "" : "weightsBytes"});`, wasm === undefined ? "" : "or: await createModelAsync(…)"],
    ...(classifier
      ? ([
          ["const probabilities = model.run(input);", `Float32Array [1, ${outputSize}] from [1, ${H}, ${W}, ${C}]`],
          ["topK(probabilities, 5);", `[{ index, probability${labels ? ", label" : ""} }, …]`],
        ] as [string, string][])
      : ([["const output = model.run(input);", `Float32Array [1, ${last.shape.join(", ")}] (NHWC) from [1, ${H}, ${W}, ${C}]`]] as [string, string][])),
    ...(outputNames === undefined ? [] : ([["const outputs = model.runAll(input);", `{ ${outputNames.join(", ")} }, each NHWC (outputShapes)`]] as [string, string][])),
  ];
  const usageWidth = Math.max(...usage.map(([c]) => c.length));
  for (const [c, comment] of usage) code.line(` *   ${comment === "" ? c : `${c.padEnd(usageWidth)}   // ${comment}`}`);
  code.line(" *");
  if (wasm !== undefined) {
    code.line(" * The WebAssembly kernels are mnc's own, built for this network (every shape a constant); the");
    code.line(" * TypeScript kernels below compute the same thing where the host lacks WebAssembly SIMD, or when");
    code.line(' * createModel is given { backend: "typescript" }. Both read the same weights file.');
    code.line(" *");
  }
  const [main, ...branch] = plan.buffers.slice(1);
  code.line(` * TypeScript memory: one Float32Array of ${group(memoryFloats)} floats, allocated by createModel: the activations at 0 and`);
  const rest = `scratch at ${scratchAt} (${group(scratchFloats)}), the weights at ${packer.base} (${group(tsWeightFloats)}).`;
  if (branch.length === 0) code.line(` * ${main!.at} (${group(main!.floats)} floats each), ${rest}`);
  else {
    const more = branch.map((b) => `${b.at} (${group(b.floats)})`);
    const graphOps = outputNames !== undefined || graph.nodes.some((n) => n.op === "concat" || n.op === "resize" || n.op === "deconv" || n.op === "activation" || n.op === "argmax");
    code.line(` * ${main!.at} (${group(main!.floats)} floats each) and, for values ${graphOps ? "kept live across a branch" : "a residual or an SE block keeps live"}, at`);
    code.line(` * ${more.length === 1 ? more[0] : `${more.slice(0, -1).join(", ")} and ${more[more.length - 1]}`}; ${rest}`);
  }
  code.line(` * TypeScript kernels: pointwise and full convolutions as a matrix multiply in ${MR}x${NR} register blocks;`);
  code.line(` * depthwise convolutions direct, ${DW_BLOCK} outputs per step, the padded border apart from the`);
  code.line(" * interior; bias and activation fused into every convolution.");
  const graphKernels = [
    graph.nodes.some((n) => (n.op === "conv" || n.op === "depthwise") && n.attrs.dilation !== undefined) ? "dilated windows read taps a dilation apart" : "",
    graph.nodes.some((n) => n.op === "deconv") ? "transposed convolutions gather the taps that land on each output pixel" : "",
    graph.nodes.some((n) => n.op === "resize") ? "resizes read per-axis tables of source offsets and weights" : "",
  ].filter((t) => t !== "");
  if (graphKernels.length > 0) code.line(` * Graph layers: ${graphKernels.join("; ")}.`);
  const fusedAdds = plan.steps.filter((s) => s.residual !== undefined).length;
  const fusedScales = plan.steps.filter((s) => s.scale !== undefined).length;
  if (fusedAdds + fusedScales > 0) {
    code.line(
      ` * Fused: ${[
        fusedAdds === 0 ? "" : `${fusedAdds} residual add${fusedAdds === 1 ? "" : "s"} into the convolution before ${fusedAdds === 1 ? "it" : "them"}`,
        fusedScales === 0 ? "" : `${fusedScales} squeeze-and-excitation scale${fusedScales === 1 ? "" : "s"} into the pointwise convolution after ${fusedScales === 1 ? "it" : "them"}`,
      ].filter((t) => t !== "").join("; ")}.`,
    );
  }
  const placed = plan.steps.filter((s) => s.into !== undefined).length;
  if (placed > 0) {
    const concats = graph.nodes.filter((n) => n.op === "concat").length;
    code.line(` * Concatenated in place: ${placed} input${placed === 1 ? "" : "s"} of ${concats === 1 ? "the concatenation" : `${concats} concatenations`} written straight into ${concats === 1 ? "its" : "their"} buffer${concats === 1 ? "" : "s"} by the layer${placed === 1 ? "" : "s"} making ${placed === 1 ? "it" : "them"}.`);
  }
  code.line(" */");
  code.line("");
  if (flavour === "ts") {
    // tsc's default target (ES5) leaves out the library this code uses; ask for it, so that plain
    // `tsc --strict net.ts` and a default tsconfig.json accept the module.
    code.line('/// <reference lib="es2017" />');
    code.line("");
  }
  // ── public constants ──
  const shapesDoc = [
    "/** [batch, height, width, channels] of one input image (NHWC). */",
    `/** [batch, outputs]: the output of ${commentText(last.node.id)}, ${last.shape.join("x")}, flattened (HWC). */`,
  ] as const;
  code.line(shapesDoc[0]);
  code.line(`export const inputShape${T(": readonly [number, number, number, number]")} = [1, ${H}, ${W}, ${C}];`);
  code.line(shapesDoc[1]);
  code.line(`export const outputShape${T(": readonly [number, number]")} = [1, ${outputSize}];`);
  if (outputNames !== undefined) {
    code.line("");
    code.line(OUTPUT_NAMES_DOC);
    code.line(`export const outputNames = [${outputNames.map(stringLiteral).join(", ")}]${T(" as const")};`);
    if (flavour === "ts") code.line("export type OutputName = (typeof outputNames)[number];");
    code.line(OUTPUT_SHAPES_DOC);
    code.line(`export const outputShapes${T(": { readonly [K in OutputName]: readonly [number, number, number, number] }")} = {`);
    plan.outputs.forEach((o, i) => code.line(`  ${stringLiteral(outputNames[i]!)}: [1, ${o.shape.join(", ")}],`));
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
  code.line("");
  code.append(publicApi(spec));
  code.line("");
  code.line("// ── internals ────────────────────────────────────────────────────────────");
  code.line("");
  code.append(internals(spec));
  // ── layers ──
  for (const l of layers) {
    code.line("");
    if (l.code.constants !== undefined) code.append(l.code.constants);
    code.line("/**");
    code.line(` * ${commentText(l.node.id)} — ${commentText(l.code.summary)}${l.code.multAdds > 0 ? `; ${group(l.code.multAdds)} mult-adds` : ""}.`);
    for (const d of l.code.doc) code.line(` * ${commentText(d)}`);
    code.line(" */");
    code.block(`function ${l.name}(m${T(": Float32Array")})${T(": void")}`, () => code.append(l.code.body));
  }
  if (wasm !== undefined) {
    code.line("");
    code.line(`/** The WebAssembly kernels (${group(wasm.bytes.length)} bytes, SIMD128), base64. */`);
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
  dts.line(` * ${commentText(graph.name)} — the exports of ${options.moduleName === undefined ? "the JavaScript module beside this file" : commentText(options.moduleName)}, generated by mnc ${VERSION}. Do not edit; regenerate.`);
  dts.line(" */");
  dts.line("");
  dts.line(shapesDoc[0]);
  dts.line("export declare const inputShape: readonly [number, number, number, number];");
  dts.line(shapesDoc[1]);
  dts.line("export declare const outputShape: readonly [number, number];");
  if (outputNames !== undefined) {
    dts.line("");
    dts.line(OUTPUT_NAMES_DOC);
    dts.line(`export declare const outputNames: readonly [${outputNames.map(stringLiteral).join(", ")}];`);
    dts.line("export type OutputName = (typeof outputNames)[number];");
    dts.line(OUTPUT_SHAPES_DOC);
    dts.line("export declare const outputShapes: { readonly [K in OutputName]: readonly [number, number, number, number] };");
  }
  if (labels !== undefined) {
    dts.line("");
    dts.line("/** The label of each output: output i is labels[i]. */");
    dts.line("export declare const labels: readonly [");
    for (const l of labels) dts.line(`  ${stringLiteral(l)},`);
    dts.line("];");
    dts.line("export type Label = (typeof labels)[number];");
  }
  dts.line("");
  dts.append(publicTypes(spec));
  dts.line("");
  dts.lines(createModelDoc(spec));
  dts.line(`export declare function createModel(${weightsParameter(spec)}, options?: ModelOptions): Model;`);
  dts.line("");
  dts.lines(CREATE_MODEL_ASYNC_DOC);
  dts.line(`export declare function createModelAsync(${weightsParameter(spec)}, options?: ModelOptions): Promise<Model>;`);
  if (classifier) {
    dts.line("");
    dts.lines(TOP_K_DOC);
    dts.line("export declare function topK(probabilities: ArrayLike<number>, k?: number, item?: number): Prediction[];");
  }
  if (image !== undefined) {
    dts.line("");
    dts.lines(imageTensorDoc(first.shape, image));
    dts.line("export declare function imageTensor(image: RgbaImage): Float32Array;");
  }

  const emitted = { code: code.text(), declarations: dts.text(), kernels: noWasm === undefined ? { wasm: true as const } : { wasm: false as const, why: noWasm } };
  return embedded ? emitted : { ...emitted, weights: file };
}

const OUTPUT_NAMES_DOC = "/** The network's outputs, in order: run() returns the first, runAll() every one by name. */";
const OUTPUT_SHAPES_DOC = "/** [batch, height, width, channels] of each output (NHWC): what runAll() returns for one image. */";

/** The base64 text as a string literal broken into lines with `\` continuations (the value has no line breaks). */
function wrapBase64(text: string): string {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 120) lines.push(text.slice(i, i + 120));
  return `"${lines.join("\\\n")}"`;
}

function formatError(e: number): string {
  return e === 0 ? "0" : e.toExponential(2);
}

// ── buffers ────────────────────────────────────────────────────────────────

/** One layer function: the node it runs, what is fused into it, the tensor it writes. */
interface Step {
  readonly node: Node;
  /** The id of the value it writes: its own, the fused add's, or the concatenation's it writes into. */
  readonly output: string;
  /** The residual add fused into its epilogue, and the add's other operand. */
  readonly residual?: { readonly add: AddNode; readonly other: string };
  /** The squeeze-and-excitation mul fused into its packing (the mul's first input is read in its place), and the gate. */
  readonly scale?: { readonly mul: MulNode; readonly gate: string };
  /** Its value written straight into a concatenation's buffer: the concatenation, and where its first channel goes. */
  readonly into?: { readonly concat: ConcatNode; readonly offset: number };
  /** A concatenation: which of its inputs (in `inputs` order) their layers wrote in place; it copies the others. */
  readonly placed?: readonly boolean[];
}

interface BufferPlan {
  readonly input: { readonly node: Node; readonly shape: Shape };
  /** The graph's outputs, in order. */
  readonly outputs: readonly { readonly node: Node; readonly shape: Shape }[];
  /** The layers that run, in order (the input excluded). */
  readonly steps: readonly Step[];
  /** The activation buffers: offset and floats. */
  readonly buffers: readonly { readonly at: number; readonly floats: number }[];
  /** Floats of all activation buffers. */
  readonly activationFloats: number;
  /**
   * The offset of a node's value (a dropout's is its input's, a fused mul's its first input's; a value
   * written into a concatenation: where its first channel lies there).
   */
  at(id: string): number;
  /** A node's value as a layer reads it: where, and its shape. */
  operand(id: string): Operand;
}

/**
 * Schedule the graph's layers and give each value an activation buffer.
 *
 * Fusion: a residual add directly after the convolution or depthwise
 * convolution that makes its operand (its only reader) runs in that layer's
 * epilogue, when the other operand has the layer's shape (a 1x1xC operand,
 * broadcast, is an add of its own); a squeeze-and-excitation mul (its
 * inputs[1] a [1, 1, C] gate, its inputs[0] of its own shape) directly
 * before the pointwise convolution that is its only reader runs in that
 * layer's packing, where the layer packs its rows. A dropout is its input's
 * buffer.
 *
 * Concatenation as a layout: an input of a concat that a layer able to
 * write with a pixel stride makes (a convolution, a transposed convolution,
 * a resize: STRIDED_OUTPUT), that nothing else reads and that is no output,
 * is written by that layer straight into its channels of the concat's
 * buffer; the concat copies only its other inputs, and runs no code when
 * there are none. The concat's value then lives from the first such layer
 * on.
 *
 * Buffers come from the one liveness analysis (src/ir/liveness.ts), run on
 * the graph of the layers as they run (fused nodes merged, dropouts
 * resolved, the layers writing into a concat's buffer reading it): each
 * value goes into the lowest-numbered buffer that holds no value live at its
 * step — or, for an elementwise add, mul or activation, into the buffer of
 * an input read for the last time. A chain thus alternates between two
 * buffers; a value that stays live across a branch (a residual's input, the
 * tensor an SE gate will scale, a skip, every output) takes a third or a
 * fourth. Buffers 0 and 1 are as large as the largest value either holds;
 * any other, as large as the largest it holds.
 */
function planBuffers(graph: Graph): BufferPlan {
  const nodes = graph.nodes;
  const input = nodes[0];
  if (input === undefined) throw new InternalError("emit ts: the graph has no nodes");
  if (input.op !== "input") throw new InternalError(`emit ts: the first node '${input.id}' is not the input`);
  if (graph.outputs.length === 0) throw new InternalError("emit ts: the graph has no outputs");
  if (new Set(graph.outputs).size !== graph.outputs.length) throw new InternalError(`emit ts: an output is listed twice in [${graph.outputs.join(", ")}]`);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const nodeOf = (id: string): Node => {
    const n = byId.get(id);
    if (n === undefined) throw new InternalError(`emit ts: '${id}' is not a node`);
    return n;
  };
  const readers = new Map<string, number>();
  for (const n of nodes) for (const id of n.inputs) readers.set(id, (readers.get(id) ?? 0) + 1);
  for (const id of graph.outputs) readers.set(id, (readers.get(id) ?? 0) + 1);
  const soleReader = (id: string): boolean => readers.get(id) === 1;

  // Fusions: each pairs a node with its neighbour in graph order.
  const scaleOf = new Map<string, MulNode>(); // conv id → the mul fused into its packing
  const residualOf = new Map<string, AddNode>(); // conv or depthwise id → the add fused into its epilogue
  nodes.forEach((node, i) => {
    const next = nodes[i + 1];
    if (next === undefined) return;
    if (node.op === "mul" && next.op === "conv" && next.inputs.length === 1 && next.inputs[0] === node.id && soleReader(node.id)) {
      const gate = shapeOf(nodeOf(node.inputs[1]!));
      const scaled = sameShape(shapeOf(nodeOf(node.inputs[0]!)), shapeOf(node));
      const broadcast = gate[0] === 1 && gate[1] === 1 && gate[2] === shapeOf(node)[2];
      if (scaled && broadcast && packsRows(convGeometry(next, shapeOf(node), shapeOf(next), 0))) scaleOf.set(next.id, node);
    }
    if ((node.op === "conv" || node.op === "depthwise") && next.op === "add" && soleReader(node.id) && next.inputs.filter((id) => id === node.id).length === 1) {
      // The epilogue adds the other operand value by value, laid out as the layer's output.
      const other = next.inputs.find((id) => id !== node.id)!;
      if (sameShape(shapeOf(nodeOf(other)), shapeOf(node)) && sameShape(shapeOf(next), shapeOf(node))) residualOf.set(node.id, next);
    }
  });
  const fused = new Set([...scaleOf.values(), ...residualOf.values()].map((n) => n.id));

  // The layers as they run, each value named by the node that makes it.
  const valueOf = new Map<string, string>([[input.id, input.id]]);
  const value = (id: string): string => {
    const v = valueOf.get(id);
    if (v === undefined) throw new InternalError(`emit ts: '${id}' is read before it is made`);
    return v;
  };
  let steps: Step[] = [];
  let reads: string[][] = [];
  for (const node of nodes.slice(1)) {
    if (node.op === "input") throw new InternalError(`emit ts: '${node.id}' is a second input`);
    if (ALIASES_INPUT[node.op]) {
      valueOf.set(node.id, value(node.inputs[0]!));
      continue;
    }
    if (fused.has(node.id)) {
      // made by its neighbour's step: a fused mul is read as its first input, a fused add is that step's value
      if (node.op === "mul") valueOf.set(node.id, value(node.inputs[0]!));
      continue;
    }
    const mul = scaleOf.get(node.id);
    const add = residualOf.get(node.id);
    const other = add === undefined ? undefined : add.inputs[0] === node.id ? add.inputs[1]! : add.inputs[0]!;
    const output = add?.id ?? node.id;
    steps.push({
      node,
      output,
      ...(add === undefined ? {} : { residual: { add, other: other! } }),
      ...(mul === undefined ? {} : { scale: { mul, gate: mul.inputs[1]! } }),
    });
    reads.push([...node.inputs.map(value), ...(mul === undefined ? [] : [value(mul.inputs[1]!)]), ...(other === undefined ? [] : [value(other)])]);
    valueOf.set(node.id, output);
    if (add !== undefined) valueOf.set(add.id, output);
  }

  // Concatenations as a layout: the inputs whose layers can write into the concat's buffer do.
  const placedIn = new Map<string, { readonly concat: string; readonly offset: number }>(); // value → where it lies in a concat
  const stepOf = new Map(steps.map((s, i) => [s.output, i]));
  steps.forEach((step, c) => {
    const concat = step.node;
    if (concat.op !== "concat") return;
    let offset = 0;
    const placed = concat.inputs.map((id) => {
      const at = offset;
      offset += shapeOf(nodeOf(id))[2];
      const i = stepOf.get(id);
      const maker = i === undefined ? undefined : steps[i]!;
      const direct =
        maker !== undefined && value(id) === id && maker.node.id === id && maker.residual === undefined && maker.into === undefined && STRIDED_OUTPUT[maker.node.op] && soleReader(id);
      if (!direct) return false;
      steps[i!] = { ...maker, output: concat.id, into: { concat, offset: at } };
      placedIn.set(id, { concat: concat.id, offset: at });
      return true;
    });
    steps[c] = { ...step, placed };
  });
  // A concat whose inputs were all written in place runs nothing.
  const runs = steps.map((s) => s.placed === undefined || s.placed.some((p) => !p));
  steps = steps.filter((_, i) => runs[i]);
  reads = reads.filter((_, i) => runs[i]);

  // Liveness of the values over the steps, and a buffer for each value. A step that writes into a
  // value an earlier step made (a concat's buffer) is a value of its own that reads it and shares its buffer.
  const target = (v: string): string => placedIn.get(v)?.concat ?? v;
  const made: string[] = [input.id];
  const runReads: string[][] = [[]];
  const sharing = new Map<string, string>(); // such a step's value → the value whose buffer it writes into
  steps.forEach((step, i) => {
    const r = [...new Set(reads[i]!.map(target))].filter((v) => v !== step.output);
    if (made.includes(step.output)) {
      const id = `${step.output}#${i}`;
      sharing.set(id, step.output);
      made.push(id);
      runReads.push([...r, step.output]);
    } else {
      made.push(step.output);
      runReads.push(r);
    }
  });
  const running: Graph = {
    ...graph,
    nodes: made.map((id, i) => ({ ...nodeOf(sharing.get(id) ?? id), id, inputs: runReads[i]! }) as Node),
    outputs: graph.outputs.map(value),
  };
  const live = liveness(running);
  const bufferOf = new Map<string, number>();
  const largest: number[] = [];
  made.forEach((id, i) => {
    const shared = sharing.get(id);
    if (shared !== undefined) {
      bufferOf.set(id, bufferOf.get(shared)!);
      return;
    }
    const busy = new Set(live.live[i]!.filter((v) => v !== id).map((v) => bufferOf.get(v)!));
    const step = i === 0 ? undefined : steps[i - 1]!;
    let buffer: number | undefined;
    if (step !== undefined && step.residual === undefined && step.scale === undefined && step.into === undefined) {
      for (const position of IN_PLACE[step.node.op]) {
        const v = reads[i - 1]![position];
        if (v !== undefined && live.lastUse.get(v) === i && size(shapeOf(nodeOf(v))) === size(shapeOf(nodeOf(id)))) {
          buffer = bufferOf.get(v)!;
          break;
        }
      }
    }
    if (buffer === undefined) for (buffer = 0; busy.has(buffer); buffer++);
    bufferOf.set(id, buffer);
    largest[buffer] = Math.max(largest[buffer] ?? 0, size(shapeOf(nodeOf(id))));
  });
  const main = alignUp(Math.max(largest[0] ?? 0, largest[1] ?? 0));
  const buffers: { at: number; floats: number }[] = [];
  let end = 0;
  for (let b = 0; b < Math.max(2, largest.length); b++) {
    const floats = b < 2 ? main : alignUp(largest[b]!);
    buffers.push({ at: end, floats });
    end += floats;
  }
  const at = (id: string): number => {
    const v = value(id);
    const placed = placedIn.get(v);
    return placed === undefined ? buffers[bufferOf.get(v)!]!.at : buffers[bufferOf.get(placed.concat)!]!.at + placed.offset;
  };
  return {
    input: { node: input, shape: shapeOf(input) },
    outputs: graph.outputs.map((id) => ({ node: nodeOf(id), shape: shapeOf(nodeOf(id)) })),
    steps,
    buffers,
    activationFloats: end,
    at,
    operand: (id) => ({ x: at(id), shape: shapeOf(nodeOf(id)) }),
  };
}

function sameShape(a: Shape, b: Shape): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
}

function shapeOf(node: Node): Shape {
  if (node.shape === undefined) throw new InternalError(`emit ts: '${node.id}' has no shape (run infer-shapes first)`);
  return node.shape;
}
