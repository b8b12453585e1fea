/**
 * What `mnc run` says about a graph network's outputs, and the 8-bit PNG
 * masks it writes (--mask). A classifier's output (one 1×1×C vector) keeps the
 * top-classes listing of main.ts; these are for every other network.
 *
 * Per output: its name, shape, minimum, maximum and mean, then
 *   - a class-score map (H×W×C, H·W > 1, C > 1): the pixels of each argmax class;
 *   - an argmax output (H×W×1 made by `argmax`): the pixels of each class index;
 *   - a 1-channel map with every value in [0, 1] (a probability): the fraction above 0.5;
 *   - a vector (1×1×C): the top classes, as for a classifier.
 *
 * A mask PNG is 8-bit grayscale, H rows of W pixels: for a class-score map the
 * index of the largest channel (the first on ties, as the `argmax` op picks it;
 * at most 256 channels); for an argmax output its value; for a 1-channel map in
 * [0, 1] round(255·p), halves rounding up.
 */
import { PNG } from "pngjs";
import type { Graph, Node, Shape } from "../ir/graph.js";
import { escapeControls } from "../ir/render.js";

/** One output of the graph, with its name (`graph.outputNames`: the `output` statement's, --outputs', or the last layer's own), else its layer's id. */
export interface RunOutput {
  readonly name: string;
  readonly node: Node;
  readonly shape: Shape;
}

export function runOutputs(graph: Graph): RunOutput[] {
  return graph.outputs.map((id, i) => {
    const node = graph.nodes.find((n) => n.id === id)!;
    return { name: graph.outputNames?.[i] ?? id, node, shape: node.shape! };
  });
}

/** How an output reads as an image, or why it does not. */
export type OutputKind = "scores" | "classes" | "map" | "vector";

export function outputKind(o: RunOutput): OutputKind {
  const [h, w, c] = o.shape;
  if (h * w === 1) return "vector";
  if (c > 1) return "scores";
  return o.node.op === "argmax" ? "classes" : "map";
}

/** The number of classes an output's values or channels stand for (labels must match it to name them), or undefined. */
export function classCount(o: RunOutput, graph: Graph): number | undefined {
  const kind = outputKind(o);
  if (kind === "scores") return o.shape[2];
  if (kind === "vector") return o.shape[2];
  if (kind === "classes") return graph.nodes.find((n) => n.id === o.node.inputs[0])?.shape?.[2];
  return undefined;
}

const MAX_CLASSES_IN_PNG = 256;

/** Why an output cannot be written as a mask PNG (decided from its shape alone), or undefined. */
export function maskShapeProblem(o: RunOutput): string | undefined {
  const kind = outputKind(o);
  const shape = o.shape.join("x");
  if (kind === "vector") return `'${o.name}' is ${shape}, a vector, not an image`;
  if (kind === "scores" && o.shape[2] > MAX_CLASSES_IN_PNG) return `'${o.name}' has ${o.shape[2]} channels; an 8-bit mask holds the argmax of at most ${MAX_CLASSES_IN_PNG}`;
  return undefined;
}

interface Stats {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

function stats(values: Float64Array): Stats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: values.length === 0 ? 0 : sum / values.length };
}

/** Per pixel, the index of the largest channel (the first on ties). */
export function argmaxPixels(values: Float64Array, [h, w, c]: Shape): Uint8Array | Uint32Array {
  const out = c <= MAX_CLASSES_IN_PNG ? new Uint8Array(h * w) : new Uint32Array(h * w);
  for (let p = 0; p < h * w; p++) {
    let best = 0;
    for (let k = 1; k < c; k++) if (values[p * c + k]! > values[p * c + best]!) best = k;
    out[p] = best;
  }
  return out;
}

/** The class of each pixel of a class-score map or an argmax output. */
function classesOf(o: RunOutput, values: Float64Array): ArrayLike<number> {
  return outputKind(o) === "scores" ? argmaxPixels(values, o.shape) : values;
}

const count = (n: number): string => n.toLocaleString("en-US");
const fixed = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : String(x));

/**
 * The lines `mnc run` prints for one output of a graph network: a heading with
 * the statistics, then what its kind adds. `top` bounds the classes listed;
 * `labels` name them when their count is the output's class count.
 */
export function describeOutput(o: RunOutput, values: Float64Array, graph: Graph, top: number, labels: readonly string[] | undefined): string[] {
  const s = stats(values);
  const lines = [`  ${escapeControls(o.name)} ${o.shape.join("x")}: min ${fixed(s.min)}, max ${fixed(s.max)}, mean ${fixed(s.mean)}`];
  const kind = outputKind(o);
  const names = labels !== undefined && labels.length === classCount(o, graph) ? labels : undefined;
  const name = (i: number): string => escapeControls(names?.[i] ?? `class ${i}`);
  if (kind === "vector") {
    const ranked = [...values].map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p || a.i - b.i).slice(0, top);
    const width = Math.max(...ranked.map(({ i }) => name(i).length));
    ranked.forEach(({ p, i }, k) => lines.push(`    ${String(k + 1).padStart(2)}. ${name(i).padEnd(width)}  ${p.toFixed(4)}  (${i})`));
    return lines;
  }
  const pixels = o.shape[0] * o.shape[1];
  if (kind === "map") {
    if (s.min >= 0 && s.max <= 1) {
      let above = 0;
      for (const v of values) if (v > 0.5) above++;
      lines.push(`    fraction above 0.5: ${(above / pixels).toFixed(4)} (${count(above)} of ${count(pixels)} pixels)`);
    }
    return lines;
  }
  const perClass = new Map<number, number>();
  for (const k of Array.from(classesOf(o, values))) perClass.set(k, (perClass.get(k) ?? 0) + 1);
  const ranked = [...perClass].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const shown = ranked.slice(0, top);
  const present = `${count(ranked.length)} class${ranked.length === 1 ? "" : "es"} present`;
  lines.push(`    pixels per class (${kind === "scores" ? `argmax of ${count(o.shape[2])} channels; ` : ""}${present}):`);
  const width = Math.max(...shown.map(([k]) => name(k).length));
  const countWidth = Math.max(...shown.map(([, n]) => count(n).length));
  shown.forEach(([k, n], i) => lines.push(`    ${String(i + 1).padStart(2)}. ${name(k).padEnd(width)}  ${count(n).padStart(countWidth)}  ${((100 * n) / pixels).toFixed(2).padStart(6)} %  (${k})`));
  if (ranked.length > shown.length) {
    const rest = ranked.slice(shown.length).reduce((sum, [, n]) => sum + n, 0);
    lines.push(`        … ${count(ranked.length - shown.length)} more class${ranked.length - shown.length === 1 ? "" : "es"}, ${count(rest)} pixels`);
  }
  return lines;
}

/**
 * An output as an 8-bit grayscale PNG (see the header), or the reason its
 * values cannot be one (a 1-channel map outside [0, 1], an argmax value
 * beyond 255).
 */
export function maskPng(o: RunOutput, values: Float64Array): { readonly png: Uint8Array } | { readonly problem: string } {
  const shapeProblem = maskShapeProblem(o);
  if (shapeProblem !== undefined) return { problem: shapeProblem };
  const [h, w] = o.shape;
  const pixels = new Uint8Array(h * w);
  const kind = outputKind(o);
  if (kind === "map") {
    const s = stats(values);
    if (!(s.min >= 0 && s.max <= 1)) return { problem: `'${o.name}' is a 1-channel map with values in [${fixed(s.min)}, ${fixed(s.max)}]; a mask is written from values in [0, 1] (round(255·p))` };
    for (let p = 0; p < h * w; p++) pixels[p] = Math.round(255 * values[p]!);
  } else {
    const classes = classesOf(o, values);
    for (let p = 0; p < h * w; p++) {
      const k = classes[p]!;
      if (!(Number.isInteger(k) && k >= 0 && k <= 255)) return { problem: `'${o.name}' holds the class index ${k} at pixel ${p}, which 8 bits cannot hold` };
      pixels[p] = k;
    }
  }
  const png = new PNG({ width: w, height: h, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const bytes = PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
  return { png: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}
