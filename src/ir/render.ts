/**
 * Rendering diagnostics as text, the one place that decides how a message looks:
 *
 *   net.mn:3:3: error MN2001: unknown op or block 'seperable'; did you mean 'separable'?
 *       3 |   seperable 16
 *         |   ^~~~~~~~~
 */
import type { Diagnostic } from "./diagnostics.js";
import type { Span } from "./span.js";

/** Render one diagnostic; `source` is the text of the file its span points into. */
export function renderDiagnostic(d: Diagnostic, source: string | undefined, program = "mnc"): string {
  const lines: string[] = [];
  const head = `${d.severity} ${d.code}: ${d.message}`;
  if (d.span === undefined) {
    lines.push(`${program}: ${head}`);
  } else {
    lines.push(`${location(d.span)}: ${head}`);
    if (source !== undefined) lines.push(...excerpt(d.span, source));
  }
  for (const r of d.related) {
    if (r.span === undefined) {
      lines.push(`${program}: note: ${r.message}`);
    } else {
      lines.push(`${location(r.span)}: note: ${r.message}`);
      if (source !== undefined) lines.push(...excerpt(r.span, source));
    }
  }
  return lines.join("\n");
}

export function location(span: Span): string {
  return `${span.file}:${span.line}:${span.column}`;
}

/** The source line of the span's start and a caret line underneath it. */
function excerpt(span: Span, source: string): string[] {
  const lineText = sourceLine(source, span.line);
  if (lineText === undefined) return [];
  const gutter = String(span.line);
  const pad = " ".repeat(gutter.length);
  const startCol = Math.min(span.column, lineText.length + 1);
  const endCol = span.endLine === span.line ? Math.max(span.endColumn, startCol + 1) : lineText.length + 1;
  const width = Math.max(1, Math.min(endCol, lineText.length + 1) - startCol);
  // Keep tabs in the indentation so that the caret lines up in any terminal.
  const lead = lineText.slice(0, startCol - 1).replace(/[^\t]/g, " ");
  const shown = lineText.length > 400 ? lineText.slice(0, 400) + "…" : lineText;
  return [`  ${gutter} | ${shown}`, `  ${pad} | ${lead}^${"~".repeat(Math.max(0, width - 1))}`];
}

function sourceLine(source: string, line: number): string | undefined {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const nl = source.indexOf("\n", start);
    if (nl < 0) return undefined;
    start = nl + 1;
  }
  let end = source.indexOf("\n", start);
  if (end < 0) end = source.length;
  return source.slice(start, end).replace(/\r$/, "");
}
