/**
 * How far a quantized classifier is from the float network it was quantized
 * from, on a set of inputs: the float reference (ir/reference.ts) against the
 * integer reference (ir/reference-int.ts, XNNPACK's rounding), both read as
 * class probabilities.
 *
 *   probabilities  the float output when the network ends in a softmax, else
 *                  its softmax; the integer output dequantized when the
 *                  softmax is computed in integers (it has a quantization),
 *                  else the softmax of the dequantized values it reads
 *   logits         what the final softmax reads (the output itself when there
 *                  is no softmax): the float values and the integer ones dequantized
 *   top-1          the two largest probabilities name the same class (ties: the larger
 *                  logit, then the lower index — a quantized softmax rounds many small
 *                  probabilities to the same value)
 *   top-5 overlap  |top-5 float ∩ top-5 integer| / 5, averaged over the inputs
 *   max |Δprob|    the largest difference of one class's probability, over all inputs
 *   max |Δlogit|   the same for the logits, beside the float logits' span (max − min)
 *
 * The output is read as one vector of classes (flattened H·W·C). Pure.
 */
import { InternalError } from "../ir/diagnostics.js";
import type { Graph } from "../ir/graph.js";
import { dequantize, runReferenceIntTrace } from "../ir/reference-int.js";
import { traceReference } from "../ir/reference.js";

/** One input, as each network takes it. */
export interface AgreementInput {
  /** Normalised float NHWC (batch 1), the float network's input. */
  readonly float: Float32Array | Float64Array;
  /** The stored integers of the quantized network's input. */
  readonly stored: ArrayLike<number>;
}

export interface InputAgreement {
  readonly floatTop5: readonly number[];
  readonly quantizedTop5: readonly number[];
  readonly maxProbDelta: number;
  readonly maxLogitDelta: number;
  /** max − min of the float logits. */
  readonly logitSpan: number;
}

export interface Agreement {
  readonly inputs: readonly InputAgreement[];
  /** Inputs whose top-1 class is the same. */
  readonly top1: number;
  /** Mean share of the float top 5 that the quantized top 5 holds. */
  readonly top5Overlap: number;
  readonly maxProbDelta: number;
  readonly maxLogitDelta: number;
  /** The largest float logit span over the inputs (to read max |Δlogit| against). */
  readonly logitSpan: number;
}

/** Indices of the k largest values; ties by the larger `then` value (when given), then the lower index. */
export function topK(values: ArrayLike<number>, k: number, then?: ArrayLike<number>): number[] {
  return Array.from(values, (v, i) => [v, then?.[i] ?? 0, i] as const)
    .sort((a, b) => b[0] - a[0] || b[1] - a[1] || a[2] - b[2])
    .slice(0, k)
    .map(([, , i]) => i);
}

/** Softmax of a vector, in float64. */
export function softmax(values: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const out = Float64Array.from(values, (v) => Math.exp(v - max));
  const sum = out.reduce((a, b) => a + b, 0);
  return out.map((v) => v / sum);
}

function maxDelta(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Compare `quantized` with `float` (the graph it was quantized from) on every input. */
export function agreement(float: Graph, quantized: Graph, inputs: readonly AgreementInput[]): Agreement {
  const outputId = quantized.outputs[0];
  if (outputId === undefined || float.outputs[0] !== outputId) throw new InternalError("the quantized graph's output is not the float graph's");
  const output = quantized.nodes.find((n) => n.id === outputId)!;
  const logitsId = output.op === "softmax" ? output.inputs[0]! : outputId;
  const results = inputs.map((input): InputAgreement => {
    const f = traceReference(float, input.float, 1);
    const q = runReferenceIntTrace(quantized, input.stored, "xnnpack");
    const fLogits = f.get(logitsId)!;
    const qt = q.get(logitsId)!;
    const qLogits = Float64Array.from(qt.data, (v) => dequantize(v, qt.quant));
    const fProbs = output.op === "softmax" ? f.get(outputId)! : softmax(fLogits);
    let qProbs: Float64Array;
    if (output.op === "softmax" && output.quant !== undefined) {
      const o = q.get(outputId)!;
      qProbs = Float64Array.from(o.data, (v) => dequantize(v, o.quant));
    } else qProbs = softmax(qLogits);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of fLogits) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return { floatTop5: topK(fProbs, 5, fLogits), quantizedTop5: topK(qProbs, 5, qLogits), maxProbDelta: maxDelta(fProbs, qProbs), maxLogitDelta: maxDelta(fLogits, qLogits), logitSpan: hi - lo };
  });
  const n = results.length;
  return {
    inputs: results,
    top1: results.filter((r) => r.floatTop5[0] === r.quantizedTop5[0]).length,
    top5Overlap: n === 0 ? 0 : results.reduce((s, r) => s + r.floatTop5.filter((c) => r.quantizedTop5.includes(c)).length / r.floatTop5.length, 0) / n,
    maxProbDelta: Math.max(0, ...results.map((r) => r.maxProbDelta)),
    maxLogitDelta: Math.max(0, ...results.map((r) => r.maxLogitDelta)),
    logitSpan: Math.max(0, ...results.map((r) => r.logitSpan)),
  };
}
