/**
 * `mnc lsp`: the language services of src/ide over the Language Server
 * Protocol, on standard input and output (vscode-languageserver). Full-text
 * sync; diagnostics published whenever a document opens or changes (each with
 * its MN code, source "mnc", severity and notes); hover, definition,
 * completion (triggered by `=` and space) and document symbols. Nothing but
 * protocol messages goes to standard output: console output is sent to the
 * client's log. The server ends on the protocol's `exit` (status 0 after
 * `shutdown`) or when its input ends.
 */
import "./node-require.js";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createConnection,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
  type Diagnostic,
  type DocumentSymbol,
  type InitializeResult,
  type Location,
  type LocationLink,
} from "vscode-languageserver/node";
import { TextDocument } from "vscode-languageserver-textdocument";
import { COMPLETION_TRIGGERS, languageDocument, type DocumentOptions, type DocumentSymbol as EditorSymbol, type EditorDiagnostic, type LanguageDocument } from "../ide/index.js";
import { VERSION } from "../version.js";

/** The capabilities `mnc lsp` advertises (formatting only once `mnc fmt` exists). */
export const CAPABILITIES: InitializeResult["capabilities"] = {
  textDocumentSync: TextDocumentSyncKind.Full,
  hoverProvider: true,
  definitionProvider: true,
  completionProvider: { triggerCharacters: [...COMPLETION_TRIGGERS] },
  documentSymbolProvider: true,
};

/** The name diagnostics are given: the document's file name. */
function fileName(uri: string): string {
  try {
    return uri.startsWith("file:") ? basename(fileURLToPath(uri)) : decodeURIComponent(uri.slice(uri.lastIndexOf("/") + 1)) || uri;
  } catch {
    return uri;
  }
}

function protocolDiagnostic(uri: string, d: EditorDiagnostic): Diagnostic {
  return {
    range: d.range,
    severity: d.severity,
    code: d.code,
    source: d.source,
    message: d.message,
    ...(d.relatedInformation.length === 0 ? {} : { relatedInformation: d.relatedInformation.map((r) => ({ location: { uri, range: r.range }, message: r.message })) }),
  };
}

function protocolSymbol(s: EditorSymbol): DocumentSymbol {
  return { name: s.name, detail: s.detail, kind: s.kind, range: s.range, selectionRange: s.selectionRange, children: s.children.map(protocolSymbol) };
}

export function startLsp(options: DocumentOptions): Connection {
  const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
  // Standard output carries the protocol alone.
  const log = (...args: unknown[]): void => connection.console.log(args.map(String).join(" "));
  console.log = log;
  console.info = log;
  console.debug = log;
  console.warn = (...args: unknown[]) => connection.console.warn(args.map(String).join(" "));
  console.error = (...args: unknown[]) => connection.console.error(args.map(String).join(" "));

  const documents = new TextDocuments(TextDocument);
  const analysed = new Map<string, { version: number; doc: LanguageDocument }>();
  let linkSupport = false;

  /** The document's analysis, made once per version. */
  const get = (uri: string): LanguageDocument | undefined => {
    const text = documents.get(uri);
    if (text === undefined) return undefined;
    const cached = analysed.get(uri);
    if (cached !== undefined && cached.version === text.version) return cached.doc;
    const doc = languageDocument(text.getText(), { ...options, file: fileName(uri) });
    analysed.set(uri, { version: text.version, doc });
    return doc;
  };

  /** A request's answer, or null (and a message in the client's log) if the compiler fails. */
  const guarded = <T>(what: string, f: () => T | undefined): T | null => {
    try {
      return f() ?? null;
    } catch (e) {
      connection.console.error(`mnc: internal error in ${what}: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    }
  };

  connection.onInitialize((params) => {
    linkSupport = params.capabilities.textDocument?.definition?.linkSupport === true;
    return { capabilities: CAPABILITIES, serverInfo: { name: "mnc", version: VERSION } };
  });

  documents.onDidChangeContent(({ document }) => {
    const diagnostics = guarded("diagnostics", () => get(document.uri)?.diagnostics.map((d) => protocolDiagnostic(document.uri, d))) ?? [];
    void connection.sendDiagnostics({ uri: document.uri, version: document.version, diagnostics });
  });
  documents.onDidClose(({ document }) => {
    analysed.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  connection.onHover(({ textDocument, position }) => guarded("hover", () => get(textDocument.uri)?.hover(position)));
  connection.onDefinition(({ textDocument, position }) =>
    guarded("definition", (): Location | LocationLink[] | undefined => {
      const doc = get(textDocument.uri);
      const d = doc?.definition(position);
      if (d === undefined) return undefined;
      if (!linkSupport) return { uri: textDocument.uri, range: d.selectionRange };
      return [{ targetUri: textDocument.uri, targetRange: d.range, targetSelectionRange: d.selectionRange }];
    }),
  );
  connection.onCompletion(({ textDocument, position }) => guarded("completion", () => get(textDocument.uri)?.completion(position)) ?? []);
  connection.onDocumentSymbol(({ textDocument }) => guarded("document symbols", () => get(textDocument.uri)?.documentSymbols().map(protocolSymbol)));

  documents.listen(connection);
  connection.listen();
  return connection;
}
