/**
 * The pipeline, top to bottom. Each pass is a pure Graph → Graph function in
 * its own file; the verifier checks the IR's invariants after every one.
 */
import { hasErrors } from "../ir/diagnostics.js";
import type { Graph } from "../ir/graph.js";
import { verify } from "../ir/verify.js";
import { checkCostRange } from "./check-cost-range.js";
import { inferShapes } from "./infer-shapes.js";
import { scaleResolution } from "./scale-resolution.js";
import { scaleWidth } from "./scale-width.js";
import type { Pass, PassContext } from "./types.js";

export const pipeline: readonly Pass[] = [scaleResolution, scaleWidth, inferShapes, checkCostRange];

/** Run the passes in order, stopping after the first that reports an error. */
export function runPipeline(graph: Graph, ctx: PassContext, passes: readonly Pass[] = pipeline): Graph | undefined {
  let g = graph;
  verify(g, { shaped: false });
  for (const pass of passes) {
    g = pass.run(g, ctx);
    if (hasErrors(ctx.diagnostics)) return undefined;
    verify(g, { shaped: g.nodes.every((n) => n.shape !== undefined) }, pass.name);
  }
  return g;
}
