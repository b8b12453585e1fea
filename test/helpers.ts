import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { analyze, type CompileOptions } from "../src/index.js";
import type { CostAnalysis } from "../src/passes/analyze-costs.js";
import type { Graph } from "../src/ir/graph.js";
import type { CatalogueExample, Diagnostic } from "../src/ir/diagnostics.js";
import { writeSafetensors } from "../src/weights/safetensors.js";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const shared = join(root, "..", "shared");

/** A small network with everything MobileNetV2/V3 add: residual bottlenecks, SE on two map sizes, every activation, a `residual` over a pointwise and a depthwise. */
export const RESIDUAL_SE = `network T(classes = 10) {
  input 32x32x3
  width 1.0 rounding=div8
  conv 3x3 16 stride=2 act=hswish
  bottleneck 16 expand=1 se=0.25 act=relu
  bottleneck 24 expand=4 stride=2 act=hswish
  bottleneck 24 expand=3 kernel=5x5 se=0.25 act=hswish
  residual { pw 24 act=sigmoid; dw 3x3 act=relu6 }
  avgpool global
  fc classes
  softmax
}
`;

/**
 * Examples that build only at some input sizes: the selfie segmenter's decoder
 * upsamples its stride-16 features ×2 three times and adds the encoder's maps,
 * which meet only when the input is a multiple of 16 (elsewhere MN3018, as
 * test/graph-language.test.ts checks).
 */
const SIZE_MULTIPLE: Readonly<Record<string, number>> = { "selfie_segmentation.mn": 16 };

/** A test's resolution for an example: `resolution`, or the nearest size the example builds at. */
export function fitResolution(file: string, resolution: number): number {
  const m = SIZE_MULTIPLE[file] ?? 1;
  return Math.max(m, Math.round(resolution / m) * m);
}

export function readExample(name: string): string {
  return readFileSync(join(root, "examples", name), "utf8");
}

export function exampleFiles(): string[] {
  return readdirSync(join(root, "examples"))
    .filter((f) => f.endsWith(".mn"))
    .sort();
}

/** Analyse (parse, build, passes, costs) and insist on success, showing the errors otherwise (warnings are allowed). */
export function compileOk(source: string, options: CompileOptions = {}): { graph: Graph; costs: CostAnalysis } {
  const r = analyze(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined || r.costs === undefined) throw new Error("no graph");
  return { graph: r.graph, costs: r.costs };
}

/** Analyse and return the diagnostics, insisting there are some. */
export function compileErrors(source: string, options: CompileOptions = {}): readonly Diagnostic[] {
  const r = analyze(source, options);
  expect(r.graph).toBeUndefined();
  expect(r.diagnostics.length).toBeGreaterThan(0);
  return r.diagnostics;
}

/** ```fenced``` code blocks of a Markdown file. */
export function codeBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const re = /^```[^\n]*\n([\s\S]*?)^```/gm;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) blocks.push(m[1]!);
  return blocks;
}

/** Compile options for a catalogue example: weight files are built here from their description. */
export function exampleOptions(example: CatalogueExample): CompileOptions {
  const { weights, ...options } = example.options ?? {};
  const rest = options.labels === undefined ? options : { ...options, labelsFile: "labels.txt" };
  if (weights === undefined) return rest;
  if ("bytes" in weights) return { ...rest, weights: new TextEncoder().encode(weights.bytes), weightsFile: "w.bin" };
  if ("tflite" in weights) {
    if (weights.tflite === "mobilenet_v1_0.25_224_quant") {
      const bytes = new Uint8Array(readFileSync(join(shared, "data", "mobilenet_v1_quant", "model", "mobilenet_v1_0.25_224_quant.tflite")));
      return { ...rest, weights: weights.corrupt === undefined ? bytes : corruptQuantization(bytes, weights.corrupt), weightsFile: "mobilenet_v1_0.25_224_quant.tflite" };
    }
    return { ...rest, weights: new Uint8Array(readFileSync(join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite"))), weightsFile: "mobilenet_v1_0.25_224_1_default_1.tflite" };
  }
  const tensors = weights.tensors.map((t) => ({ name: t.name, shape: t.shape, data: new Float32Array(t.shape.reduce((p, d) => p * d, 1)).fill(t.value ?? 0.5) }));
  return { ...rest, weights: writeSafetensors(tensors), weightsFile: "w.safetensors" };
}

/**
 * The uint8 MobileNetV1 0.25 with its input's quantization corrupted: every
 * float32 1/128 in the file (the input tensor's scale) made `scale 0` (0) or
 * `scale NaN`.
 */
export function corruptQuantization(bytes: Uint8Array, how: string): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const value = how === "scale 0" ? 0 : how === "scale NaN" ? NaN : undefined;
  if (value === undefined) throw new Error(`no corruption '${how}'`);
  for (let i = 0; i + 4 <= out.length; i += 4) if (view.getFloat32(i, true) === 1 / 128) view.setFloat32(i, value, true);
  return out;
}

/** Deterministic inputs in [−1, 1): a different tensor for every seed. */
export function inputs(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |a − b| / max |b|: the difference relative to the output's scale (NaN counts as infinite). */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const d = Math.abs(actual[i]! - expected[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return diff === 0 ? 0 : diff / (scale === 0 ? 1 : scale);
}
