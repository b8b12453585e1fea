/**
 * Language services for `.mn`: pure functions of a document's text (and its
 * file name, and the options `mnc check` takes) that an editor asks — every
 * diagnostic located, hover on a layer, go to definition, completion,
 * document symbols. `mnc lsp` serves them over the Language Server Protocol;
 * the playground calls them in the page.
 *
 *   const doc = languageDocument(text, { file: "net.mn", alpha: 0.5 });
 *   doc.diagnostics; doc.hover({ line: 8, character: 4 })?.contents.value
 */
import { analyzeDocument, type DocumentAnalysis, type DocumentOptions } from "./document.js";
import { completion } from "./completion.js";
import { definition } from "./definition.js";
import { diagnostics } from "./diagnostics.js";
import { hover } from "./hover.js";
import { documentSymbols } from "./symbols.js";
import type { CompletionItem, Definition, DocumentSymbol, EditorDiagnostic, Hover, Position } from "./types.js";

export interface LanguageDocument {
  readonly analysis: DocumentAnalysis;
  readonly diagnostics: readonly EditorDiagnostic[];
  hover(position: Position): Hover | undefined;
  definition(position: Position): Definition | undefined;
  completion(position: Position): CompletionItem[];
  documentSymbols(): DocumentSymbol[];
}

/** Analyse a document once; ask it anything after. */
export function languageDocument(text: string, options: DocumentOptions & { readonly file?: string } = {}): LanguageDocument {
  const { file, ...rest } = options;
  const analysis = analyzeDocument(text, file ?? "<input>", rest);
  return {
    analysis,
    diagnostics: diagnostics(analysis),
    hover: (p) => hover(analysis, p),
    definition: (p) => definition(analysis, p),
    completion: (p) => completion(analysis, p),
    documentSymbols: () => documentSymbols(analysis),
  };
}

export { analyzeDocument, type DocumentAnalysis, type DocumentOptions, type NetworkAnalysis } from "./document.js";
export { completion, COMPLETION_TRIGGERS } from "./completion.js";
export { definition } from "./definition.js";
export { diagnostics, editorDiagnostic } from "./diagnostics.js";
export { hover } from "./hover.js";
export { documentSymbols } from "./symbols.js";
export { outline, type Outline } from "./outline.js";
export { LineIndex, spanRange } from "./position.js";
export * from "./types.js";
