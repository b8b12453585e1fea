/**
 * Text → AST, with every syntax error in the file. Lexer errors, malformed
 * numbers and parser errors are all reported in one run; the AST is produced
 * only when there are none.
 */
import { EOF, type CstNode, type IRecognitionException, type IToken } from "chevrotain";
import * as T from "./tokens.js";
import { mnParser } from "./grammar.js";
import { toAst } from "./to-ast.js";
import type { SourceFile } from "./ast.js";
import { error, sortDiagnostics, type Diagnostic } from "../ir/diagnostics.js";
import { spanAt } from "../ir/span.js";
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

  for (const e of lexed.errors) {
    const span = spanAt(file, text, e.offset, e.offset + Math.max(1, e.length));
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
  const cst = mnParser.file();
  for (const e of mnParser.errors) diagnostics.push(parserDiagnostic(e, file, text));
  diagnostics.push(...commaProblems(cst, file, text));

  if (diagnostics.length > 0) return { diagnostics: sortDiagnostics(dedupe(diagnostics)) };
  return { ast: toAst(cst, file, text), diagnostics: [] };
}

function parserDiagnostic(e: IRecognitionException, file: string, text: string): Diagnostic {
  const t = e.token;
  if (t.tokenType === EOF || Number.isNaN(t.startOffset)) {
    // At the end of the file: point at the last character, where the user will look.
    const at = Math.max(0, text.replace(/\s+$/, "").length - 1);
    const span = spanAt(file, text, at, Math.min(text.length, at + 1));
    if (/'\}'/.test(e.message)) return error("unterminatedBlock", span, openedWhat(e));
    return error("syntaxError", span, e.message);
  }
  return error("syntaxError", tokenSpan(file, t), e.message);
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
