/**
 * The IR as text (`--dump-ir`): one line per node, in graph order, then the
 * outputs when an `output` statement or `--outputs` named them.
 *
 *   network MobileNetV1  alpha=1  params: classes=1000
 *     input       input      224x224x3                       -> 224x224x3     # 5:3
 *     conv_0      conv       3x3 s2x2 32 same[0,0,1,1] bn relu  -> 112x112x32 # 8:3
 *
 * A quantized graph (`--quantized`) adds each node's output quantization and
 * a weighted layer's kernel's after the shape: `uint8 s=0.023528 zp=0  w uint8
 * s=0.0339689 zp=122` (per-channel kernels: `w int8 s=×32`).
 */
import { formatNumber } from "./diagnostics.js";
import { formatShape, isWeighted, type Graph, type Node, type Quantization, type Value } from "./graph.js";
import { describeNode } from "./ops/index.js";

export function printGraph(graph: Graph): string {
  const params = graph.params.map((p) => `${p.name}=${formatValue(p.value)}`).join(" ");
  const head = `network ${graph.name}  alpha=${formatNumber(graph.alpha)}${params ? `  params: ${params}` : ""}`;
  const rows = graph.nodes.map((n) => {
    const inputs = n.op === "input" ? "" : `(${n.inputs.join(", ")})`;
    return [n.id, n.op, describeNode(n), inputs, n.shape === undefined ? "?" : formatShape(n.shape), `${n.span.line}:${n.span.column}`, quantization(n)];
  });
  const widths = [0, 1, 2, 3, 4, 6].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const quantized = widths[5]! > 0;
  const lines = rows.map((r) =>
    `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]!.padEnd(widths[3]!)}  -> ${r[4]!.padEnd(widths[4]!)}  ${quantized ? `${r[6]!.padEnd(widths[5]!)}  ` : ""}# ${r[5]}`.trimEnd(),
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

/** A node's output quantization and its kernel's, or "" for a float node. */
function quantization(n: Node): string {
  const parts: string[] = [];
  if (n.quant !== undefined) parts.push(formatQuantization(n.quant));
  const w = isWeighted(n) ? n.weights?.quantized : undefined;
  if (w !== undefined) parts.push(`w ${formatQuantization(w.kernelQuant)}`);
  return parts.join("  ");
}

function formatQuantization(q: Quantization): string {
  if (q.scale.length > 1) return `${q.type} s=×${q.scale.length}`;
  return `${q.type} s=${Number(q.scale[0]!.toPrecision(6))} zp=${q.zeroPoint[0]}`;
}
