/**
 * certify-fusion — the proof that batch-norm fusion kept the network's
 * meaning: run the unfused and the fused graph on the same seeded random
 * inputs with the float64 reference evaluator, and measure
 *
 *   error = max_i |fused_i − unfused_i| / max_i |unfused_i|
 *
 * (the largest difference relative to the output's scale, so that outputs near
 * zero do not inflate it). The compile fails above the tolerance.
 */
import { error, type Diagnostic } from "../ir/diagnostics.js";
import type { Graph } from "../ir/graph.js";
import { Random } from "../ir/random.js";
import { runReference } from "../ir/reference.js";

export const FUSION_TOLERANCE = 1e-4;
/** Random inputs per certificate (run as one batch). */
export const CERTIFICATE_INPUTS = 2;

export interface FusionCertificate {
  /** The largest relative difference measured. */
  readonly maxRelativeError: number;
  readonly inputs: number;
  readonly tolerance: number;
}

export function certifyFusion(unfused: Graph, fused: Graph, seed: number, diagnostics: Diagnostic[]): FusionCertificate {
  const shape = unfused.nodes[0]!.shape!;
  const size = shape[0] * shape[1] * shape[2];
  const rng = new Random(seed, "certify-fusion");
  const input = new Float32Array(size * CERTIFICATE_INPUTS);
  for (let i = 0; i < input.length; i++) input[i] = rng.uniform(-1, 1);
  const a = runReference(unfused, input, CERTIFICATE_INPUTS);
  const b = runReference(fused, input, CERTIFICATE_INPUTS);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]!));
    const d = Math.abs(a[i]! - b[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  const maxRelativeError = diff === 0 ? 0 : scale === 0 ? Infinity : diff / scale;
  if (!(maxRelativeError <= FUSION_TOLERANCE)) diagnostics.push(error("fusionCertificate", undefined, maxRelativeError, FUSION_TOLERANCE));
  return { maxRelativeError, inputs: CERTIFICATE_INPUTS, tolerance: FUSION_TOLERANCE };
}
