/**
 * Hover on a layer: what the compiler made of the statement — each layer's
 * input → output shape, mult-adds, params, effective width (α applied: what
 * the width rule gave, `64 × α 0.5 → 32`), op and options — from the same
 * report rows `mnc report` prints. On a network's name: its totals. A
 * document that does not compile still answers with the op's signature.
 */
import { BUILTINS } from "../ir/builtins.js";
import { formatNumber } from "../ir/diagnostics.js";
import type { Graph, Node } from "../ir/graph.js";
import type { ReportLayer } from "../emit/report/model.js";
import { group, shape, short } from "../emit/report/format.js";
import { ratioText } from "../emit/report/text.js";
import { effectiveWidth as layerWidth } from "../passes/scale-width.js";
import type { DocumentAnalysis, NetworkAnalysis } from "./document.js";
import { signature } from "./completion.js";
import { tensorAt, wordAt } from "./definition.js";
import { allStatements, declarationAt, statementAt, type OutlineDeclaration, type OutlineStatement } from "./outline.js";
import type { Hover, Position } from "./types.js";

/** Rows shown in one hover's table; the rest are counted. */
const MAX_ROWS = 40;

export function hover(doc: DocumentAnalysis, position: Position): Hover | undefined {
  const offset = doc.lines.offsetAt(position);
  const decl = declarationAt(doc.outline, offset);
  if (decl === undefined) return undefined;
  const w = wordAt(doc.text, offset);
  if (decl.name !== undefined && w?.start === decl.name.start) {
    const network = doc.networks.find((n) => n.name === decl.name!.text);
    const value = decl.kind === "network" && network?.report !== undefined ? networkSummary(network) : declarationSummary(doc, decl);
    return { contents: { kind: "markdown", value }, range: doc.lines.range(decl.name.start, decl.name.end) };
  }
  const tensor = tensorAt(doc, offset);
  if (tensor !== undefined) {
    const value = tensorSummary(doc, tensor.name.text, tensor.maker);
    if (value !== undefined) return { contents: { kind: "markdown", value }, range: doc.lines.range(tensor.use.start, tensor.use.end) };
  }
  const s = statementAt(decl, offset);
  if (s === undefined) return undefined;
  const sections: string[] = [];
  for (const network of doc.networks) {
    const groups = network.expansions.get(s.name.start);
    if (groups === undefined || groups.length === 0 || network.graph === undefined) continue;
    sections.push(statementSection(doc, s, network, groups, doc.networks.length > 1));
  }
  if (sections.length === 0) sections.push(...structural(doc, s));
  const builtin = BUILTINS.get(s.name.text);
  if (sections.length === 0) {
    const what = `\`${builtin !== undefined ? signature(builtin) : s.name.text}\``;
    const why = doc.diagnostics.some((d) => d.severity === "error") ? "\n\n(no layers: the document has errors)" : "";
    sections.push(what + why);
  }
  return { contents: { kind: "markdown", value: sections.join("\n\n---\n\n") }, range: doc.lines.range(s.start, s.headEnd) };
}

/** The statements that make no layer of their own: what they set. */
function structural(doc: DocumentAnalysis, s: OutlineStatement): string[] {
  const written = `\`${doc.text.slice(s.name.start, s.headEnd).replace(/\s+/g, " ")}\``;
  const named = doc.networks.length > 1;
  return doc.networks.flatMap((network) => {
    const r = network.report;
    const g = network.graph;
    if (r === undefined || g === undefined || !(g.span.start <= s.start && s.start < g.span.end)) return [];
    const where = named ? ` · network ${network.name}` : "";
    if (s.name.text === "width" && s.body === undefined) {
      return [`${written} · the network's α: ${formatNumber(r.alpha)}, widths rounded by '${doc.options.widthRounding ?? g.rounding}'${where}`];
    }
    if (s.name.text === "output") {
      const outputs = r.outputs ?? [{ name: g.outputNames?.[0] ?? g.outputs[0]!, layer: g.outputs[0]!, shape: r.output }];
      return [`${written}${where}\n\n${outputs.map((o) => `- ${o.name}: ${shape(o.shape)} (${o.layer})`).join("\n")}`];
    }
    if (s.name.text === "defaults") return [`${written} · for the conv-type layers after it in this body, its nested bodies and the blocks they call`];
    return [];
  });
}

/** A named tensor: its shape in each network, and the layer that makes it. */
function tensorSummary(doc: DocumentAnalysis, name: string, maker: OutlineStatement): string | undefined {
  const lines: string[] = [];
  for (const network of doc.networks) {
    const groups = network.expansions.get(maker.name.start);
    const last = groups?.[groups.length - 1];
    const layer = last === undefined ? undefined : network.layers.get(last[last.length - 1]!);
    if (layer === undefined) continue;
    const where = doc.networks.length > 1 ? ` · network ${network.name}` : "";
    lines.push(`**${name}** · ${shape(layer.outputShape)} · made by ${layer.name} (\`${doc.text.slice(maker.name.start, maker.headEnd).replace(/\s+/g, " ")}\`)${where}`);
  }
  return lines.length === 0 ? undefined : lines.join("\n\n");
}

/** `block dws(c, s = 1)`, and how many layers its calls made in each network. */
function declarationSummary(doc: DocumentAnalysis, decl: OutlineDeclaration): string {
  const params = decl.params.map((p) => (p.value.length === 0 ? p.name.text : `${p.name.text} = ${doc.text.slice(p.value[0]!.start, p.value[p.value.length - 1]!.end)}`));
  const head = `\`${decl.kind} ${decl.name!.text}${params.length === 0 ? "" : `(${params.join(", ")})`}\``;
  if (decl.kind !== "block") return head;
  const calls = doc.networks.flatMap((network) => {
    let count = 0;
    let layers = 0;
    for (const d of doc.outline.declarations) {
      for (const s of allStatements(d.body)) {
        if (s.name.text !== decl.name!.text) continue;
        const groups = network.expansions.get(s.name.start) ?? [];
        count += groups.length;
        layers += groups.reduce((sum, g) => sum + g.length, 0);
      }
    }
    return count === 0 ? [] : [`- ${count === 1 ? "called once" : `called ${count} times`}${doc.networks.length > 1 ? ` in network ${network.name}` : ""}: ${layers} layers`];
  });
  return [head, ...(calls.length === 0 ? [] : ["", ...calls])].join("\n");
}

function networkSummary(n: NetworkAnalysis): string {
  const r = n.report!;
  const t = r.totals;
  return [
    `**network ${n.name}** · α ${formatNumber(r.alpha)} · ${shape(r.input)} → ${(r.outputs ?? [{ name: "", shape: r.output }]).map((o) => (o.name === "" ? shape(o.shape) : `${o.name} ${shape(o.shape)}`)).join(", ")}`,
    "",
    `- mult-adds: ${group(t.multAdds)} (${short(t.multAdds)})`,
    `- params: ${group(t.params)} (${short(t.params)})`,
    `- layers: ${r.layers.length}`,
  ].join("\n");
}

function statementSection(doc: DocumentAnalysis, s: OutlineStatement, network: NetworkAnalysis, groups: readonly (readonly string[])[], named: boolean): string {
  const graph = network.graph!;
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const ids = groups.flat();
  const rows = ids.map((id) => network.layers.get(id)).filter((l): l is ReportLayer => l !== undefined);
  const written = doc.text.slice(s.name.start, s.headEnd).replace(/\s+/g, " ");
  const where = named ? ` · network ${network.name}` : "";
  if (rows.length === 1) {
    const l = rows[0]!;
    const n = nodes.get(l.name)!;
    const lines = [
      `**${l.name}** · \`${l.layer}\` · ${l.inputShape === null ? "" : `${shape(l.inputShape)} → `}${shape(l.outputShape)}${where}`,
      "",
      `- mult-adds: ${group(l.multAdds)}${l.multAdds >= 1000 ? ` (${short(l.multAdds)})` : ""}`,
      `- params: ${group(l.params)}${l.params === 0 ? "" : ` (weights ${group(l.weights)}, biases ${group(l.biases)})`}${l.bnParams > 0 ? `; batch-norm ${group(l.bnParams)}` : ""}`,
    ];
    if (l.elementwise > 0) lines.push(`- elementwise: ${group(l.elementwise)}`);
    const w = effectiveWidth(graph, n, nodes);
    if (w !== undefined) lines.push(`- width: ${w}`);
    const o = optionsOf(n);
    if (o !== "") lines.push(`- ${o}`);
    return lines.join("\n");
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const sum = (f: (l: ReportLayer) => number): number => rows.reduce((a, l) => a + f(l), 0);
  const times = groups.length > 1 ? ` · ${groups.length} expansions` : "";
  const lines = [
    `**\`${written}\`** · ${shape(first?.inputShape ?? null)} → ${shape(last?.outputShape ?? null)} · ${rows.length} layers${times}${where}`,
    "",
    `- mult-adds: ${group(sum((l) => l.multAdds))} (${short(sum((l) => l.multAdds))})`,
    `- params: ${group(sum((l) => l.params))}`,
    "",
    "| layer | op | input → output | width | mult-adds | params |",
    "|---|---|---|---|--:|--:|",
  ];
  for (const l of rows.slice(0, MAX_ROWS)) {
    const n = nodes.get(l.name)!;
    lines.push(`| ${l.name} | ${l.layer} | ${shape(l.inputShape)} → ${shape(l.outputShape)} | ${effectiveWidth(graph, n, nodes) ?? ""} | ${group(l.multAdds)} | ${group(l.params)} |`);
  }
  if (rows.length > MAX_ROWS) lines.push(`| … ${rows.length - MAX_ROWS} more | | | | | |`);
  return lines.join("\n");
}

/** What the width rule gave the layer: `64 × α 0.5 → 32`, `×6 of 24 → 144`, or why α does not apply. */
function effectiveWidth(graph: Graph, n: Node, nodes: ReadonlyMap<string, Node>): string | undefined {
  if (n.op === "conv" || n.op === "deconv") {
    const size = n.attrs.size;
    if (size.kind === "ratio") {
      const base = nodes.get(size.of)?.shape?.[2];
      return `×${ratioText(size.ratio)} of ${base ?? "?"} → ${n.attrs.channels}`;
    }
    const rule = size.width;
    // The multiplier as scale-width applies it; the α part of it is the multiplier without the regions' and the layer's scale.
    const m = layerWidth(graph.alpha, size);
    const alpha = layerWidth(graph.alpha, { ...size, width: { ...rule, scale: 1 } });
    const why = [rule.alpha === "fixed" ? "width=fixed" : rule.alpha === "grow" ? `width=grow: max(α ${formatNumber(graph.alpha)}, 1)` : "", rule.scale !== 1 ? `α ${formatNumber(alpha)} × ${formatNumber(rule.scale)}` : ""].filter((x) => x !== "");
    return `${size.filters} × α ${formatNumber(m)} → ${n.attrs.channels}${why.length > 0 ? ` (${why.join("; ")})` : ""}`;
  }
  if (n.op === "depthwise") return `its input's ${n.shape?.[2] ?? "?"} channels`;
  if (n.op === "fc") return `${n.attrs.units} units (never scaled by α)`;
  return undefined;
}

/** The options the layer runs with, defaults and `defaults` statements applied. */
function optionsOf(n: Node): string {
  const pairs: [string, string][] = [];
  switch (n.op) {
    case "conv":
    case "depthwise":
    case "deconv":
      pairs.push(["stride", n.attrs.stride.join("x")], ["act", n.attrs.act], ["norm", n.attrs.norm], ["pad", n.attrs.padding]);
      if ("dilation" in n.attrs && n.attrs.dilation !== undefined) pairs.push(["dilation", n.attrs.dilation.join("x")]);
      if (n.attrs.pads !== undefined) pairs.push(["pads", `[${n.attrs.pads.join(",")}]`]);
      break;
    case "avgpool":
    case "maxpool":
      pairs.push(["pad", n.attrs.padding]);
      if (n.attrs.pads !== undefined) pairs.push(["pads", `[${n.attrs.pads.join(",")}]`]);
      break;
    case "resize":
      pairs.push(["mode", n.attrs.mode], ["coords", n.attrs.coords]);
      break;
    case "dropout":
      pairs.push(["rate", formatNumber(n.attrs.rate)]);
      break;
    default:
      break;
  }
  return pairs.map(([k, v]) => `${k}=${v}`).join(" ");
}
