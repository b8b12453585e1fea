/**
 * The network's layout: a verified graph → positioned boxes and polylines,
 * with no colours, fonts or markup (svg.ts renders it; a page may restyle it).
 *
 * One box per IR node — every row of the cost report, the input, adds,
 * concatenations, resizes and the outputs' layers included — labelled with
 * its id and the report's op summary; one edge per input of each node,
 * labelled with the tensor's shape; and one small terminal per network
 * output, below the layer that makes it. The layout is @dagrejs/dagre's
 * layered drawing, top to bottom: a chain runs straight down, and a skip, an
 * SE gate's side branch or a concatenation's operands are routed around the
 * boxes they pass. dagre is deterministic: the same graph gives the same
 * numbers.
 */
import dagre from "@dagrejs/dagre";
import { InternalError } from "../../ir/diagnostics.js";
import type { Graph, Node, Shape } from "../../ir/graph.js";
import type { CostAnalysis, LayerCost } from "../../passes/analyze-costs.js";
import { describeLayer, seRoles, type SeRole } from "../report/model.js";

/** A point of the drawing, in px, y down. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** An axis-aligned rectangle: its top-left corner and size. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One layer's box. */
export interface LaidNode extends Rect {
  readonly id: string;
  readonly node: Node;
  readonly cost: LayerCost;
  /** The report's op summary, typeset: `dw 3×3/2`, `pw (SE squeeze)`, `add (residual)`. */
  readonly summary: string;
}

/** One input of one layer: from the layer that makes the tensor to the layer that reads it. */
export interface LaidEdge {
  readonly from: string;
  readonly to: string;
  /** Which of `to`'s inputs this is (0-based). */
  readonly input: number;
  /** The tensor's shape; `label` is it typeset (`56×56×24`). */
  readonly shape: Shape;
  readonly label: LaidLabel;
  /** From the bottom of `from`'s box to the top of `to`'s, through dagre's bends. */
  readonly points: readonly Point[];
}

/** One network output: a terminal below its layer, and the edge to it. */
export interface LaidOutput extends Rect {
  /** The output's name (an `output` statement's, `--outputs`', or its layer's id). */
  readonly name: string;
  readonly layer: string;
  /** Its place among the network's outputs (0-based). */
  readonly index: number;
  readonly shape: Shape;
  readonly label: LaidLabel;
  readonly points: readonly Point[];
}

/** An edge's text, centred at (x, y) of a box of its measured size. */
export interface LaidLabel extends Rect {
  readonly text: string;
}

export interface GraphLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly LaidNode[];
  readonly edges: readonly LaidEdge[];
  readonly outputs: readonly LaidOutput[];
}

/** How big each text is: the renderer's fonts, so that boxes fit their labels. */
export interface Metrics {
  /** A layer box's size for its id and summary. */
  node(id: string, summary: string): { readonly width: number; readonly height: number };
  /** An output terminal's size for its name. */
  output(name: string): { readonly width: number; readonly height: number };
  /** An edge label's size. */
  label(text: string): { readonly width: number; readonly height: number };
}

/**
 * Spacing, in px. The rank separation is small because dagre puts each edge
 * label on a rank of its own between the layers (and halves ranksep to do so):
 * MobileNet's long chains stay compact, the labels still clear the boxes.
 */
export const SPACING = { nodesep: 28, edgesep: 14, ranksep: 26, margin: 8 } as const;

/** `56×56×24`. */
export function shapeText(s: Shape): string {
  return s.join("×");
}

/** The report's summary with a multiplication sign between numbers: `conv 3x3/2` → `conv 3×3/2`. */
export function summaryText(n: Node, role: SeRole | undefined): string {
  return describeLayer(n, role).replace(/(\d)x(?=\d)/g, "$1×");
}

/** Ids dagre holds for the output terminals: a NUL cannot appear in a layer id. */
const terminalId = (index: number): string => `\u0000output:${index}`;

interface NodeLabel {
  width: number;
  height: number;
  x?: number;
  y?: number;
}
interface EdgeLabel {
  width: number;
  height: number;
  labelpos: "l" | "c" | "r";
  labeloffset: number;
  weight: number;
  x?: number;
  y?: number;
  points?: Point[];
}

/** The layout of a verified graph whose costs are `costs` (one entry per node, in order). */
export function layoutGraph(graph: Graph, costs: CostAnalysis, metrics: Metrics): GraphLayout {
  if (costs.layers.length !== graph.nodes.length) throw new InternalError(`graph drawing: ${costs.layers.length} cost rows for ${graph.nodes.length} nodes`);
  const roles = seRoles(graph);
  const shapes = new Map<string, Shape>();
  const g = new dagre.graphlib.Graph<object, NodeLabel, EdgeLabel>({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: SPACING.nodesep, edgesep: SPACING.edgesep, ranksep: SPACING.ranksep, marginx: SPACING.margin, marginy: SPACING.margin });

  const summaries = graph.nodes.map((n, i) => {
    if (costs.layers[i]!.node.id !== n.id) throw new InternalError(`graph drawing: the cost analysis is not of this graph ('${costs.layers[i]!.node.id}' at '${n.id}')`);
    if (n.shape === undefined) throw new InternalError(`graph drawing: '${n.id}' has no shape`);
    shapes.set(n.id, n.shape);
    const summary = summaryText(n, roles.get(n.id));
    g.setNode(n.id, { ...metrics.node(n.id, summary) });
    return summary;
  });
  const edgeName = (input: number): string => `in${input}`;
  graph.nodes.forEach((n) => {
    n.inputs.forEach((from, input) => {
      const shape = shapes.get(from);
      if (shape === undefined) throw new InternalError(`graph drawing: '${n.id}' reads '${from}', which is not before it`);
      const text = shapeText(shape);
      // The first input is the main line: dagre keeps heavier edges short and straight.
      g.setEdge(from, n.id, { ...metrics.label(text), labelpos: "r", labeloffset: 6, weight: input === 0 ? 2 : 1 }, edgeName(input));
    });
  });
  graph.outputs.forEach((layer, index) => {
    const name = graph.outputNames?.[index] ?? layer;
    const shape = shapes.get(layer);
    if (shape === undefined) throw new InternalError(`graph drawing: output '${layer}' is not a layer`);
    g.setNode(terminalId(index), { ...metrics.output(name) });
    g.setEdge(layer, terminalId(index), { ...metrics.label(shapeText(shape)), labelpos: "r", labeloffset: 6, weight: 2 }, "output");
  });

  dagre.layout(g);

  const box = (id: string): Rect => {
    const l = g.node(id);
    if (l.x === undefined || l.y === undefined) throw new InternalError(`graph drawing: dagre placed no '${id}'`);
    return { x: l.x - l.width / 2, y: l.y - l.height / 2, width: l.width, height: l.height };
  };
  const label = (l: EdgeLabel, text: string): LaidLabel => {
    if (l.x === undefined || l.y === undefined) throw new InternalError(`graph drawing: dagre placed no label '${text}'`);
    return { x: l.x - l.width / 2, y: l.y - l.height / 2, width: l.width, height: l.height, text };
  };
  const points = (l: EdgeLabel): Point[] => (l.points ?? []).map((p) => ({ x: p.x, y: p.y }));

  const nodes = graph.nodes.map((n, i): LaidNode => ({ ...box(n.id), id: n.id, node: n, cost: costs.layers[i]!, summary: summaries[i]! }));
  const edges = graph.nodes.flatMap((n) =>
    n.inputs.map((from, input): LaidEdge => {
      const l = g.edge(from, n.id, edgeName(input));
      const shape = shapes.get(from)!;
      return { from, to: n.id, input, shape, label: label(l, shapeText(shape)), points: points(l) };
    }),
  );
  const outputs = graph.outputs.map((layer, index): LaidOutput => {
    const l = g.edge(layer, terminalId(index), "output");
    const shape = shapes.get(layer)!;
    return { ...box(terminalId(index)), name: graph.outputNames?.[index] ?? layer, layer, index, shape, label: label(l, shapeText(shape)), points: points(l) };
  });
  const size = g.graph() as { width?: number; height?: number };
  return { width: size.width ?? 0, height: size.height ?? 0, nodes, edges, outputs };
}
