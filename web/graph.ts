/** The network drawn as a graph (src/emit/graph): dagre's layout, as SVG whose layers carry data-node, data-line, data-col. */
import { graphDrawing, type ColourBy } from "../src/emit/graph/index.js";
import type { CostAnalysis } from "../src/passes/analyze-costs.js";
import type { Graph } from "../src/ir/graph.js";

export type { ColourBy };

export function drawing(graph: Graph, costs: CostAnalysis, colourBy: ColourBy): string | undefined {
  return graphDrawing(graph, costs, { colourBy });
}
