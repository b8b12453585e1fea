/** The compiler's diagnostics as an editor shows them: located, coded, with their notes. */
import type { Diagnostic } from "../ir/diagnostics.js";
import type { DocumentAnalysis } from "./document.js";
import { spanRange } from "./position.js";
import type { EditorDiagnostic, Range } from "./types.js";

/** Problems with no place in the text (an option such as an unknown --network) sit at its start. */
const START: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

export function editorDiagnostic(d: Diagnostic): EditorDiagnostic {
  const placed = d.related.filter((r) => r.span !== undefined);
  const unplaced = d.related.filter((r) => r.span === undefined).map((r) => `\nnote: ${r.message}`);
  return {
    range: d.span === undefined ? START : spanRange(d.span),
    severity: d.severity === "error" ? 1 : 2,
    code: d.code,
    source: "mnc",
    message: d.message + unplaced.join(""),
    relatedInformation: placed.map((r) => ({ range: spanRange(r.span!), message: r.message })),
  };
}

export function diagnostics(doc: DocumentAnalysis): EditorDiagnostic[] {
  return doc.diagnostics.map(editorDiagnostic);
}
