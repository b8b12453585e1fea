import type { Diagnostic } from "../ir/diagnostics.js";
import type { Graph } from "../ir/graph.js";
import type { WeightSource } from "../weights/source.js";

/** How α rounds a layer's channels: Keras' floor (default), TF-Slim's floor with a minimum of 8, or MobileNetV2's nearest multiple of 8. */
export type WidthRounding = "floor" | "min8" | "div8";

export interface PassOptions {
  /** H = W = resolution (`--resolution R`). */
  readonly resolution?: number;
  /** H = round(H·ρ), W = round(W·ρ) (`--rho P`). */
  readonly rho?: number;
  readonly widthRounding?: WidthRounding;
  /** Seed of the deterministic weights (init-weights). */
  readonly seed?: number;
  /** A weight file, read (import-weights); without it, init-weights seeds every layer. */
  readonly weightSource?: WeightSource;
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
