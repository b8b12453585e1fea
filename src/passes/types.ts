import type { Diagnostic } from "../ir/diagnostics.js";
import type { Graph, WidthRounding } from "../ir/graph.js";
import type { WeightSource } from "../weights/source.js";

export type { WidthRounding } from "../ir/graph.js";

export interface PassOptions {
  /** H = W = resolution (`--resolution R`). */
  readonly resolution?: number;
  /** H = round(H·ρ), W = round(W·ρ) (`--rho P`). */
  readonly rho?: number;
  /** Overrides the network's own rounding rule (`width A rounding=R`). */
  readonly widthRounding?: WidthRounding;
  /** Seed of the deterministic weights (init-weights). */
  readonly seed?: number;
  /** A weight file, read (import-weights); without it, init-weights seeds every layer. */
  readonly weightSource?: WeightSource;
  /**
   * Keep a quantized TFLite file's integers (`--quantized`): uint8/int8
   * kernels, int32 biases and every activation's scale and zero point go on
   * the graph (LayerWeights.quantized, Node.quant) beside the dequantized
   * float weights; float paths are unchanged.
   */
  readonly quantized?: boolean;
}

export interface PassContext {
  readonly options: PassOptions;
  /** Passes report user errors here and return the graph unchanged. */
  readonly diagnostics: Diagnostic[];
}

/** A pass: a pure function from a verified graph to a new graph. */
export interface Pass {
  readonly name: string;
  run(graph: Graph, ctx: PassContext): Graph;
}
