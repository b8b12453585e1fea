/**
 * The shapes the language services answer in: the Language Server Protocol's
 * own (0-based lines, characters in UTF-16 code units), declared here so that
 * the services stay free of any editor library. `mnc lsp` sends them as they are.
 */

export interface Position {
  /** 0-based line. */
  readonly line: number;
  /** 0-based offset in the line, in UTF-16 code units. */
  readonly character: number;
}

export interface Range {
  readonly start: Position;
  readonly end: Position;
}

/** LSP's DiagnosticSeverity: 1 error, 2 warning. */
export type Severity = 1 | 2;

export interface RelatedInformation {
  readonly range: Range;
  readonly message: string;
}

export interface EditorDiagnostic {
  readonly range: Range;
  readonly severity: Severity;
  /** The catalogue code, `MN2001`. */
  readonly code: string;
  readonly source: "mnc";
  readonly message: string;
  /** Notes with a place in the same document ("first declared here"). */
  readonly relatedInformation: readonly RelatedInformation[];
}

export interface Hover {
  /** Markdown. */
  readonly contents: { readonly kind: "markdown"; readonly value: string };
  readonly range: Range;
}

/** A place in the same document: the whole thing and the name to select. */
export interface Definition {
  readonly range: Range;
  readonly selectionRange: Range;
}

/** LSP's CompletionItemKind, the ones used here. */
export const CompletionKind = { Function: 3, Field: 5, Variable: 6, Class: 7, Module: 9, Property: 10, Value: 12, Keyword: 14, EnumMember: 20 } as const;
export type CompletionKind = (typeof CompletionKind)[keyof typeof CompletionKind];

export interface CompletionItem {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly detail?: string;
  /** What is inserted, when not the label (`stride=`). */
  readonly insertText?: string;
  /** Orders the items: the services list them in the order they mean. */
  readonly sortText: string;
}

/** LSP's SymbolKind, the ones used here. */
export const SymbolKind = { Module: 2, Class: 5, Function: 12, Variable: 13, Field: 8, Operator: 25, Namespace: 3 } as const;
export type SymbolKind = (typeof SymbolKind)[keyof typeof SymbolKind];

export interface DocumentSymbol {
  readonly name: string;
  readonly detail: string;
  readonly kind: SymbolKind;
  readonly range: Range;
  readonly selectionRange: Range;
  readonly children: readonly DocumentSymbol[];
}
