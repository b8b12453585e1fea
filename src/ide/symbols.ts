/** The document's outline as symbols: networks and blocks, their statements as children. */
import type { DocumentAnalysis } from "./document.js";
import type { OutlineStatement } from "./outline.js";
import { SymbolKind, type DocumentSymbol } from "./types.js";
import { BUILTINS } from "../ir/builtins.js";

export function documentSymbols(doc: DocumentAnalysis): DocumentSymbol[] {
  const { lines, text } = doc;
  const statement = (s: OutlineStatement): DocumentSymbol => {
    const op = s.name.text;
    const args = text.slice(s.name.end, s.headEnd).trim().replace(/\s+/g, " ");
    return {
      name: s.binding === undefined ? op : `${s.binding.text} = ${op}`,
      detail: args,
      kind: s.binding !== undefined ? SymbolKind.Variable : BUILTINS.has(op) ? SymbolKind.Operator : s.body !== undefined ? SymbolKind.Namespace : SymbolKind.Field,
      range: lines.range(s.start, s.end),
      selectionRange: lines.range((s.binding ?? s.name).start, (s.binding ?? s.name).end),
      children: (s.body?.statements ?? []).map(statement),
    };
  };
  return doc.outline.declarations.flatMap((d) => {
    if (d.name === undefined) return [];
    const params = d.params.map((p) => (p.value.length === 0 ? p.name.text : `${p.name.text} = ${text.slice(p.value[0]!.start, p.value[p.value.length - 1]!.end)}`));
    return [
      {
        name: d.name.text,
        detail: `${d.kind}${params.length === 0 ? "" : `(${params.join(", ")})`}`,
        kind: d.kind === "network" ? SymbolKind.Class : SymbolKind.Function,
        range: lines.range(d.start, d.end),
        selectionRange: lines.range(d.name.start, d.name.end),
        children: (d.body?.statements ?? []).map(statement),
      },
    ];
  });
}
