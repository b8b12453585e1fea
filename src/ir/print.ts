/**
 * The IR as text (`--dump-ir`): one line per node, in graph order, then the
 * outputs when an `output` statement or `--outputs` named them.
 *
 *   network MobileNetV1  alpha=1  params: classes=1000
 *     input       input      224x224x3                       -> 224x224x3     # 5:3
 *     conv_0      conv       3x3 s2x2 32 same[0,0,1,1] bn relu  -> 112x112x32 # 8:3
 */
import { formatNumber } from "./diagnostics.js";
import { formatShape, type Graph, type Value } from "./graph.js";
import { describeNode } from "./ops/index.js";

export function printGraph(graph: Graph): string {
  const params = graph.params.map((p) => `${p.name}=${formatValue(p.value)}`).join(" ");
  const head = `network ${graph.name}  alpha=${formatNumber(graph.alpha)}${params ? `  params: ${params}` : ""}`;
  const rows = graph.nodes.map((n) => {
    const inputs = n.op === "input" ? "" : `(${n.inputs.join(", ")})`;
    return [n.id, n.op, describeNode(n), inputs, n.shape === undefined ? "?" : formatShape(n.shape), `${n.span.line}:${n.span.column}`];
  });
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]!.padEnd(widths[3]!)}  -> ${r[4]!.padEnd(widths[4]!)}  # ${r[5]}`.trimEnd(),
  );
  // A graph with named or several outputs says which (a stack's one output is its last line).
  const outputs = graph.outputNames === undefined ? [] : [`  outputs: ${graph.outputs.map((id, i) => (graph.outputNames![i] === id ? id : `${graph.outputNames![i]}=${id}`)).join(", ")}`];
  return [head, ...lines, ...outputs].join("\n") + "\n";
}

function formatValue(v: Value): string {
  switch (v.kind) {
    case "number":
      return formatNumber(v.value);
    case "shape":
      return v.dims.join("x");
    case "word":
      return v.word;
  }
}
