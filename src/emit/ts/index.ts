/**
 * The TypeScript target: a verified, weighted graph → one standalone
 * TypeScript module (no imports, no Node or DOM APIs) that runs the network,
 * plus its weights file.
 *
 *   emitTypeScript(compile(source, options), { sourceFile }) → { code, kernels, weights }
 *
 * The generated module exports inputShape, outputShape, createModel(weights,
 * { backend }) and createModelAsync → Model { backend, run, classify }, topK,
 * and with labels a typed `labels` tuple. It carries two kernel sets for the
 * same layers: mnc's WebAssembly SIMD kernels (src/emit/wasm, embedded as
 * base64 unless `wasm: false`), picked once by createModel where the host
 * runs them, and TypeScript kernels — one function per layer, named after the
 * IR id, with every shape, stride, pad and offset inlined as a constant, all
 * floats in one Float32Array allocated by createModel (see layer.ts for the
 * memory layout, gemm.ts and depthwise.ts for the kernels, runtime.ts for the
 * fixed part, wasm.ts and weights-file.ts for the one weights file both read).
 *
 * Pure and deterministic: same graph and options, same code and bytes.
 */
import { InternalError } from "../../ir/diagnostics.js";
import type { Graph, Node, Shape } from "../../ir/graph.js";
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import type { FusionCertificate } from "../../passes/certify-fusion.js";
import { VERSION } from "../../version.js";
import { Code, commentText, group, identifier, stringLiteral } from "./code.js";
import { DW_BLOCK } from "./depthwise.js";
import { MR, NR, NR_SINGLE } from "./gemm.js";
import { size, type LayerCode } from "./layer.js";
import { ALIASES_INPUT, emitterOf } from "./ops.js";
import { internals, publicApi } from "./runtime.js";
import { compileNetworkWasm, MAX_MEMORY_PAGES, packWeights, wasmLayout } from "../wasm/index.js";
import { weightTable } from "./wasm.js";
import { alignUp, base64, encodeWeights, fnv1a, HEADER_BYTES, WeightPacker } from "./weights-file.js";

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
];

interface Planned {
  readonly node: Node;
  readonly shape: Shape;
  /** Activation buffer (0 or 1) holding the node's output. */
  readonly slot: 0 | 1;
}

export function emitTypeScript(
  result: { readonly graph: Graph; readonly costs: CostAnalysis; readonly certificate?: FusionCertificate },
  options: TsEmitOptions,
): TsEmitResult {
  const { graph, costs, certificate } = result;
  const plan = planBuffers(graph);
  const first = plan[0]!;
  const last = plan[plan.length - 1]!;
  const outputSize = size(last.shape);
  const labels = options.labels;
  if (labels !== undefined && labels.length !== outputSize) {
    throw new TsEmitOptionError(`${labels.length} labels for ${outputSize} outputs of '${last.node.id}': give exactly one label per output`);
  }

  // Memory: two activation buffers, the scratch area, then the weights.
  const bufferFloats = alignUp(Math.max(...plan.map((p) => size(p.shape))));
  let scratchFloats = 0;
  for (let i = 1; i < plan.length; i++) {
    const p = plan[i]!;
    scratchFloats = Math.max(scratchFloats, emitterOf(p.node).scratch(p.node as never, plan[i - 1]!.shape, p.shape));
  }
  scratchFloats = alignUp(scratchFloats);
  const scratchAt = 2 * bufferFloats;
  const packer = new WeightPacker(scratchAt + scratchFloats);
  const at = (slot: 0 | 1): number => slot * bufferFloats;

  // One function per layer.
  const taken = new Set(MODULE_NAMES);
  const layers: { name: string; node: Node; code: LayerCode }[] = [];
  for (let i = 1; i < plan.length; i++) {
    const p = plan[i]!;
    const prev = plan[i - 1]!;
    const name = identifier(p.node.id, taken);
    const code = emitterOf(p.node).emit(p.node as never, {
      name,
      inShape: prev.shape,
      outShape: p.shape,
      x: at(prev.slot),
      y: at(p.slot),
      scratch: scratchAt,
      place: (floats, what, panel) => packer.add(floats, what, panel),
    });
    if (code !== null) layers.push({ name, node: p.node, code });
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
    layers: plan.map((p) => [p.node.id, p.node.op, p.shape]),
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
          },
        };

  const [H, W, C] = first.shape;
  const spec = {
    network: graph.name,
    input: first.shape,
    outputSize,
    memoryFloats,
    inputAt: at(first.slot),
    outputAt: at(last.slot),
    weightsAt: packer.base,
    weightFloats,
    weights: weightTensors,
    fingerprint,
    embedded,
    labels: labels !== undefined,
    layers: layers.map((l) => l.name),
    profile: options.profile === true,
    ...(wasm === undefined ? {} : { wasm: wasm.spec }),
    ...(noWasm === undefined ? {} : { noWasm }),
  } as const;

  const code = new Code();
  // ── header ──
  const fusion = certificate !== undefined
    ? `folded by mnc; max relative error ${formatError(certificate.maxRelativeError)} on ${certificate.inputs} random inputs (tolerance ${certificate.tolerance})`
    : graph.nodes.some((n) => (n.op === "conv" || n.op === "depthwise") && n.weights?.bn !== undefined)
      ? "folded by the TypeScript emitter (the graph was compiled without fusion: no certificate)"
      : "none to fold";
  const rows: [string, string][] = [
    ["source", options.sourceFile],
    ...(options.moduleName === undefined ? [] : [["module", options.moduleName] as [string, string]]),
    ["network", graph.name],
    ["width α", String(graph.alpha)],
    ["resolution", `${H}x${W} (input ${H}x${W}x${C}, NHWC)`],
    ["output", `${outputSize} values per image (${last.node.id}: ${last.node.op})`],
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
  code.line(` * ${commentText(graph.name)} — standalone TypeScript inference generated by mnc ${VERSION}. Do not edit; regenerate.`);
  code.line(" *");
  for (const [k, v] of rows) code.line(` *   ${k.padEnd(keyWidth)}  ${commentText(v)}`);
  code.line(" *");
  const usage: [string, string][] = [
    [`const model = createModel(${embedded ? "" : "weightsBytes"});`, wasm === undefined ? "" : "or: await createModelAsync(…)"],
    ["const probabilities = model.run(input);", `Float32Array [1, ${outputSize}] from [1, ${H}, ${W}, ${C}]`],
    ["topK(probabilities, 5);", `[{ index, probability${labels ? ", label" : ""} }, …]`],
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
  code.line(` * TypeScript memory: one Float32Array of ${group(memoryFloats)} floats, allocated by createModel: the activations at 0 and`);
  code.line(` * ${bufferFloats} (${group(bufferFloats)} floats each), scratch at ${scratchAt} (${group(scratchFloats)}), the weights at ${packer.base} (${group(tsWeightFloats)}).`);
  code.line(` * TypeScript kernels: pointwise and full convolutions as a matrix multiply in ${MR}x${NR} register blocks;`);
  code.line(` * depthwise convolutions direct, ${DW_BLOCK} outputs per step, the padded border apart from the`);
  code.line(" * interior; bias and activation fused into every convolution.");
  code.line(" */");
  code.line("");
  // ── public constants ──
  code.line(`/** [batch, height, width, channels] of one input image (NHWC). */`);
  code.line(`export const inputShape: readonly [number, number, number, number] = [1, ${H}, ${W}, ${C}];`);
  code.line(`/** [batch, outputs]: the output of ${commentText(last.node.id)}, ${last.shape.join("x")}, flattened (HWC). */`);
  code.line(`export const outputShape: readonly [number, number] = [1, ${outputSize}];`);
  if (labels !== undefined) {
    code.line("");
    code.line("/** The label of each output: output i is labels[i]. */");
    code.line("export const labels = [");
    for (const l of labels) code.line(`  ${stringLiteral(l)},`);
    code.line("] as const;");
    code.line("export type Label = (typeof labels)[number];");
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
    code.line("/**");
    code.line(` * ${commentText(l.node.id)} — ${commentText(l.code.summary)}${l.code.multAdds > 0 ? `; ${group(l.code.multAdds)} mult-adds` : ""}.`);
    for (const d of l.code.doc) code.line(` * ${commentText(d)}`);
    code.line(" */");
    code.block(`function ${l.name}(m: Float32Array): void`, () => code.append(l.code.body));
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
  const emitted = { code: code.text(), kernels: noWasm === undefined ? { wasm: true as const } : { wasm: false as const, why: noWasm } };
  return embedded ? emitted : { ...emitted, weights: file };
}

/** The base64 text as a string literal broken into lines with `\` continuations (the value has no line breaks). */
function wrapBase64(text: string): string {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 120) lines.push(text.slice(i, i + 120));
  return `"${lines.join("\\\n")}"`;
}

function formatError(e: number): string {
  return e === 0 ? "0" : e.toExponential(2);
}

/**
 * Check the graph is the chain the emitter expects (an input, then layers
 * each reading the one before) and give each node its activation buffer:
 * alternating between two, except that an identity layer (dropout) keeps its
 * input's.
 */
function planBuffers(graph: Graph): Planned[] {
  const plan: Planned[] = [];
  for (const node of graph.nodes) {
    const shape = node.shape;
    if (shape === undefined) throw new InternalError(`emit ts: '${node.id}' has no shape (run infer-shapes first)`);
    const prev = plan[plan.length - 1];
    if (prev === undefined) {
      if (node.op !== "input") throw new InternalError(`emit ts: the first node '${node.id}' is not the input`);
      plan.push({ node, shape, slot: 0 });
      continue;
    }
    if (node.inputs.length !== 1 || node.inputs[0] !== prev.node.id) {
      throw new InternalError(`emit ts: '${node.id}' does not read the node before it ('${prev.node.id}')`);
    }
    const slot = ALIASES_INPUT[node.op] ? prev.slot : prev.slot === 0 ? 1 : 0;
    plan.push({ node, shape, slot });
  }
  if (plan.length === 0) throw new InternalError("emit ts: the graph has no nodes");
  return plan;
}
