/**
 * The network as a graph drawing: a verified graph and its costs → SVG text.
 * layout.ts places the boxes and edges (@dagrejs/dagre), svg.ts draws them;
 * both are pure, so the drawing is made the same way in the CLI (`mnc graph`),
 * the HTML report and a browser. See docs/graph.md.
 */
import type { Graph } from "../../ir/graph.js";
import type { CostAnalysis } from "../../passes/analyze-costs.js";
import { drawGraph, type ColourBy } from "./svg.js";

/**
 * The SVG drawing of `graph`: one `<g class="node" data-node data-line data-col
 * data-op>` per layer, coloured by `colourBy` (mult-adds by default) on a log
 * scale, one `<g class="edge" data-from data-to data-input>` per input labelled
 * with the tensor's shape. Deterministic: the same graph gives the same bytes.
 */
export function graphDrawing(graph: Graph, costs: CostAnalysis, options: { readonly colourBy?: ColourBy } = {}): string {
  return drawGraph(graph, costs, options);
}

export type { ColourBy, GraphDrawingOptions } from "./svg.js";
export { COLOUR_BY, METRICS, renderGraph } from "./svg.js";
export { layoutGraph, shapeText, type GraphLayout, type LaidEdge, type LaidNode, type LaidOutput, type Metrics, type Point, type Rect } from "./layout.js";
