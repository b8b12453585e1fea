/**
 * Calibration for post-training quantization: the float reference
 * (ir/reference.ts, traceReference) run on a few representative inputs, and
 * the range of every node's values over all of them.
 *
 * Two methods:
 *
 *   minmax        the smallest and the largest value seen
 *   percentile P  (50 < P ≤ 100) the nearest-rank percentiles: over the n values
 *                 a tensor takes on all calibration inputs, sorted ascending
 *                 v_1 ≤ … ≤ v_n, with r = ⌈P/100 · n⌉, max = v_r and
 *                 min = v_(n+1−r) — the P-th percentile from the top and the
 *                 same share cut from the bottom. percentile=100 is minmax.
 *                 Exact: only the n − r + 1 largest and smallest values are
 *                 kept per tensor, so memory is a (100 − P)/100 share of them.
 *
 * A layer whose activation is a table (hswish, hsigmoid, sigmoid) also gets
 * the range of its linear output (before the activation), keyed
 * `linearKey(id)`: calibration evaluates the graph with such a layer split
 * into its linear layer and a standalone activation, so that the reference's
 * one implementation of each op computes both.
 *
 * Pure: no I/O.
 */
import { InternalError } from "../ir/diagnostics.js";
import { isWeighted, type Graph, type Node } from "../ir/graph.js";
import { isTableActivation } from "../ir/reference-int.js";
import { traceReference } from "../ir/reference.js";

export type CalibrationMethod = { readonly kind: "minmax" } | { readonly kind: "percentile"; readonly percentile: number };

export const MINMAX: CalibrationMethod = { kind: "minmax" };

/** The real interval a tensor's values cover on the calibration inputs. */
export interface ValueRange {
  readonly min: number;
  readonly max: number;
}

/** Every node's range, by node id (and `linearKey(id)` for a table activation's linear output). */
export type ActivationRanges = ReadonlyMap<string, ValueRange>;

/** The key of a layer's linear output (before its table activation) in ActivationRanges. */
export function linearKey(id: string): string {
  return `${id}#linear`;
}

/** `minmax` or `percentile=P` as the CLI and the docs write it. */
export function formatMethod(m: CalibrationMethod): string {
  return m.kind === "minmax" ? "minmax" : `percentile=${m.percentile}`;
}

/** Parse `minmax` / `percentile=P`; a string says what is wrong. */
export function parseMethod(text: string): CalibrationMethod | string {
  if (text === "minmax") return MINMAX;
  const m = /^percentile=(.+)$/.exec(text);
  if (m === null) return `expected minmax or percentile=P, not '${text}'`;
  const p = Number(m[1]);
  if (!(Number.isFinite(p) && p > 50 && p <= 100)) return `percentile=${m[1]}: P must be a number above 50 and at most 100`;
  return { kind: "percentile", percentile: p };
}

/** Whether a node's table activation needs a linear range. */
function tableActivation(n: Node): boolean {
  return (n.op === "conv" || n.op === "depthwise") && isTableActivation(n.attrs.act);
}

/**
 * The graph calibration evaluates: each layer with a table activation split
 * into its linear layer (`linearKey(id)`) and an `activation` node under the
 * layer's own id, so that the trace holds both values.
 */
function calibrationGraph(graph: Graph): Graph {
  if (!graph.nodes.some(tableActivation)) return graph;
  const nodes: Node[] = [];
  for (const n of graph.nodes) {
    if (!tableActivation(n) || !isWeighted(n) || n.op === "fc") {
      nodes.push(n);
      continue;
    }
    const linear = { ...n, id: linearKey(n.id), attrs: { ...n.attrs, act: "linear" } } as Node;
    nodes.push(linear, { id: n.id, op: "activation", inputs: [linear.id], span: n.span, origin: n.origin, ...(n.shape === undefined ? {} : { shape: n.shape }), attrs: { act: n.attrs.act } });
  }
  return { ...graph, nodes };
}

/** One tensor's running statistics. */
interface Tally {
  min: number;
  max: number;
  /** Percentile: the largest / smallest values kept so far, ascending. */
  top?: Float64Array;
  bottom?: Float64Array;
}

/**
 * Calibrate: run the float reference on every input (NHWC, batch 1, already
 * normalised as the network expects) and return every node's range.
 */
export function calibrate(graph: Graph, inputs: readonly (Float32Array | Float64Array)[], method: CalibrationMethod = MINMAX): Map<string, ValueRange> {
  if (inputs.length === 0) throw new InternalError("calibration needs at least one input");
  const g = calibrationGraph(graph);
  const tallies = new Map<string, Tally>();
  const sizes = new Map(g.nodes.map((n) => [n.id, n.shape === undefined ? 0 : n.shape[0] * n.shape[1] * n.shape[2]]));
  /** How many of the largest (and smallest) values a tensor's percentile needs. */
  const keep = (id: string): number => {
    if (method.kind === "minmax") return 0;
    const n = sizes.get(id)! * inputs.length;
    return n - Math.ceil((method.percentile / 100) * n) + 1;
  };
  for (const input of inputs) {
    const values = traceReference(g, input, 1);
    for (const [id, v] of values) {
      let t = tallies.get(id);
      if (t === undefined) {
        t = { min: Infinity, max: -Infinity };
        tallies.set(id, t);
      }
      for (let i = 0; i < v.length; i++) {
        const x = v[i]!;
        if (x < t.min) t.min = x;
        if (x > t.max) t.max = x;
      }
      const k = keep(id);
      if (k > 0) {
        const sorted = Float64Array.from(v).sort();
        const m = Math.min(k, sorted.length);
        t.top = merge(t.top, sorted.subarray(sorted.length - m), k, "top");
        t.bottom = merge(t.bottom, sorted.subarray(0, m), k, "bottom");
      }
    }
  }
  const ranges = new Map<string, ValueRange>();
  for (const [id, t] of tallies) {
    if (method.kind === "minmax" || t.top === undefined || t.bottom === undefined) ranges.set(id, { min: t.min, max: t.max });
    // The kept arrays hold the k = n − r + 1 extremes: v_r is the smallest of the top k, v_(n+1−r) the largest of the bottom k.
    else ranges.set(id, { min: t.bottom[t.bottom.length - 1]!, max: t.top[0]! });
  }
  return ranges;
}

/** The k largest (top) or smallest (bottom) of two ascending arrays, ascending. */
function merge(kept: Float64Array | undefined, more: Float64Array, k: number, which: "top" | "bottom"): Float64Array {
  let all: Float64Array;
  if (kept === undefined) all = Float64Array.from(more);
  else {
    all = new Float64Array(kept.length + more.length);
    all.set(kept);
    all.set(more, kept.length);
    all.sort();
  }
  if (all.length <= k) return all;
  return which === "top" ? all.slice(all.length - k) : all.slice(0, k);
}
