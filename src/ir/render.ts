/**
 * Rendering diagnostics as text, the one place that decides how a message looks:
 *
 *   net.mn:3:3: error MN2001: unknown op or block 'seperable'; did you mean 'separable'?
 *       3 |   seperable 16
 *         |   ^~~~~~~~~
 *
 * Nothing the user wrote reaches a terminal raw: control characters in file
 * names, messages (which quote names from the source, the options and weight
 * files) and source lines are shown escaped (see escapeControls). Tabs in a
 * source line are kept, so that the caret line, which copies them, lines up.
 */
import type { Diagnostic } from "./diagnostics.js";
import { lineText, type Span } from "./span.js";

/**
 * A string made safe to print: every C0 control (U+0000–U+001F), DEL (U+007F)
 * and C1 control (U+0080–U+009F) becomes the four characters `\xNN` (lower-case
 * hex; ESC is `\x1b`), except the ones named in `keep` ("\t", "\n"). A backslash
 * itself is left alone, so text without controls is unchanged.
 */
export function escapeControls(text: string, keep = ""): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    keep.includes(c) ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** Render one diagnostic; `source` is the text of the file its span points into. */
export function renderDiagnostic(d: Diagnostic, source: string | undefined, program = "mnc"): string {
  const lines: string[] = [];
  const head = `${d.severity} ${d.code}: ${escapeControls(d.message)}`;
  if (d.span === undefined) {
    lines.push(`${program}: ${head}`);
  } else {
    lines.push(`${location(d.span)}: ${head}`);
    if (source !== undefined) lines.push(...excerpt(d.span, source));
  }
  for (const r of d.related) {
    if (r.span === undefined) {
      lines.push(`${program}: note: ${escapeControls(r.message)}`);
    } else {
      lines.push(`${location(r.span)}: note: ${escapeControls(r.message)}`);
      if (source !== undefined) lines.push(...excerpt(r.span, source));
    }
  }
  return lines.join("\n");
}

export function location(span: Span): string {
  return `${escapeControls(span.file)}:${span.line}:${span.column}`;
}

/**
 * The source line of the span's start and a caret line underneath it. The line
 * is shown with its controls escaped (tabs kept); the caret's columns are
 * counted in the shown text, so it stays under the same characters.
 */
function excerpt(span: Span, source: string): string[] {
  const line = lineText(source, span.line);
  if (line === undefined) return [];
  const gutter = String(span.line);
  const pad = " ".repeat(gutter.length);
  const startCol = Math.min(span.column, line.length + 1);
  const endCol = span.endLine === span.line ? Math.max(span.endColumn, startCol + 1) : line.length + 1;
  const shownWidth = (from: number, to: number) => escapeControls(line.slice(from, to), "\t").length;
  const width = Math.max(1, shownWidth(startCol - 1, Math.min(endCol, line.length + 1) - 1));
  // Keep tabs in the indentation so that the caret lines up in any terminal.
  const lead = escapeControls(line.slice(0, startCol - 1), "\t").replace(/[^\t]/g, " ");
  const escaped = escapeControls(line, "\t");
  const shown = escaped.length > 400 ? escaped.slice(0, 400) + "…" : escaped;
  return [`  ${gutter} | ${shown}`, `  ${pad} | ${lead}^${"~".repeat(Math.max(0, width - 1))}`];
}
