/**
 * Text → AST, with every syntax error in the file. Lexer errors, malformed
 * numbers and parser errors are all reported in one run; the AST is produced
 * only when there are none.
 */
import { EOF, type CstNode, type IRecognitionException, type IToken } from "chevrotain";
import * as T from "./tokens.js";
import { MAX_SYNTAX_ERRORS, mnParser } from "./grammar.js";
import { toAst } from "./to-ast.js";
import type { SourceFile } from "./ast.js";
import { error, sortDiagnostics, type Diagnostic } from "../ir/diagnostics.js";
import { spanAt, type Span } from "../ir/span.js";
import { tokenSpan } from "./token-span.js";

export interface ParseResult {
  /** Present when the file has no syntax errors. */
  readonly ast?: SourceFile;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parentheses, braces and signs nested deeper than this are refused before parsing. */
export const MAX_NESTING = 64;

export function parse(text: string, file = "<input>"): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const lexed = T.mnLexer.tokenize(text);
  const spanOf = spanFinder(file, text);

  for (const e of lexed.errors) {
    const span = spanOf(e.offset, e.offset + Math.max(1, e.length));
    diagnostics.push(error("unexpectedCharacter", span, text.slice(e.offset, e.offset + Math.max(1, e.length))));
  }
  for (const t of (lexed.groups["malformed"] ?? []) as IToken[]) {
    diagnostics.push(error("malformedNumber", tokenSpan(file, t), t.image));
  }

  const tooDeep = nestingProblem(lexed.tokens, file);
  if (tooDeep !== undefined) {
    diagnostics.push(tooDeep);
    return { diagnostics: sortDiagnostics(diagnostics) };
  }

  mnParser.input = lexed.tokens;
  mnParser.stopped = false;
  const cst = mnParser.file();
  // At the end of the file, errors point at its last non-blank character, where the user will look.
  const lastAt = Math.max(0, text.trimEnd().length - 1);
  for (const e of mnParser.errors) diagnostics.push(parserDiagnostic(e, file, lastAt, text.length, spanOf));
  const stopped = mnParser.stopped ? stopNote(mnParser.errors, file, text) : [];
  diagnostics.push(...commaProblems(cst, file, text));

  if (diagnostics.length > 0) return { diagnostics: sortDiagnostics([...dedupe(diagnostics), ...stopped]) };
  return { ast: toAst(cst, file, text), diagnostics: [] };
}

/**
 * spanAt with the line starts found once, so that a file with many errors is
 * located in linear time. Lines end as lineColumn counts them ("\r\n", a lone "\r", "\n").
 */
function spanFinder(file: string, text: string): (start: number, end: number) => Span {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1);
  }
  const at = (offset: number): { line: number; column: number } => {
    let [lo, hi] = [0, starts.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  };
  return (start, end) => {
    const e = Math.max(start, end);
    const [s, t] = [at(Math.min(start, text.length)), at(Math.min(e, text.length))];
    return { file, start, end: e, line: s.line, column: start - starts[s.line - 1]! + 1, endLine: t.line, endColumn: e - starts[t.line - 1]! + 1 };
  };
}

function parserDiagnostic(e: IRecognitionException, file: string, lastAt: number, lastEnd: number, spanOf: (start: number, end: number) => Span): Diagnostic {
  const t = e.token;
  if (t.tokenType === EOF || Number.isNaN(t.startOffset)) {
    const span = spanOf(lastAt, Math.min(lastAt + 1, Math.max(lastAt, lastEnd)));
    if (/'\}'/.test(e.message)) return error("unterminatedBlock", span, openedWhat(e));
    return error("syntaxError", span, e.message);
  }
  return error("syntaxError", tokenSpan(file, t), e.message);
}

/** After MAX_SYNTAX_ERRORS the parser stops recovering in repetitions: when it did, say so after the last error it reported. */
function stopNote(errors: readonly IRecognitionException[], file: string, text: string): Diagnostic[] {
  const last = errors[errors.length - 1]!.token;
  const at = Number.isNaN(last.startOffset) ? Math.max(0, text.length - 1) : last.startOffset;
  const message = `more than ${MAX_SYNTAX_ERRORS.toLocaleString("en-US")} syntax errors: the parser stopped recovering from them, so later ones may be missing; fix these and check again`;
  return [error("syntaxError", spanAt(file, text, at, Math.min(text.length, at + 1)), message)];
}

function openedWhat(e: IRecognitionException): string {
  const rules = e.context.ruleStack;
  if (rules.includes("statement")) return "a statement's body";
  if (rules.includes("block")) return "the block";
  if (rules.includes("network")) return "the network";
  return "a body";
}

/** Recovery can report the same position twice; keep the first. */
function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.span?.start}:${d.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Refuse input nested deep enough to exhaust a recursive-descent parser's stack. */
function nestingProblem(tokens: readonly IToken[], file: string): Diagnostic | undefined {
  let depth = 0;
  let signs = 0;
  for (const t of tokens) {
    const type = t.tokenType;
    if (type === T.LParen || type === T.LBrace) depth++;
    else if (type === T.RParen || type === T.RBrace) depth = Math.max(0, depth - 1);
    signs = type === T.Minus || type === T.Plus ? signs + 1 : 0;
    if (depth > MAX_NESTING || signs > MAX_NESTING) {
      return error("nestingTooDeep", tokenSpan(file, t), MAX_NESTING);
    }
  }
  return undefined;
}

/**
 * Commas between a statement's arguments (`conv 3x3, 32, stride=2`, as in Keras
 * and PyTorch): one message per statement, at its first comma, with the
 * statement as mnc writes it. Numbers joined by a comma alone (`224,224,3`)
 * read as a shape.
 */
function commaProblems(cst: CstNode | undefined, file: string, text: string): Diagnostic[] {
  const found: Diagnostic[] = [];
  const visit = (node: CstNode): void => {
    const commas = ((node.children["Comma"] ?? []) as IToken[]).filter((t) => !Number.isNaN(t.startOffset));
    if (node.name === "statement" && commas.length > 0) {
      const name = (node.children["Identifier"] as IToken[] | undefined)?.[0];
      const args = (node.children["argument"] ?? []) as CstNode[];
      const ends = [...commas.map((t) => t.endOffset ?? -1), ...args.map((a) => a.location?.endOffset ?? -1)].filter((e) => Number.isFinite(e));
      const start = name?.startOffset ?? commas[0]!.startOffset;
      const written = text.slice(start, Math.max(...ends) + 1);
      const fixed = written
        .replace(/(?<![\w.])\d+(?:,\d+)+(?![\w.])/g, (run) => run.replace(/,/g, "x"))
        .replace(/\s*,\s*/g, " ")
        .trim();
      found.push(error("argumentComma", tokenSpan(file, commas[0]!), fixed));
    }
    for (const list of Object.values(node.children)) {
      for (const child of list) if ("children" in child) visit(child);
    }
  };
  if (cst !== undefined) visit(cst);
  return found;
}
