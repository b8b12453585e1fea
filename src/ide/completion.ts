/**
 * Completion from the compiler's own tables: at the start of a statement the
 * built-in ops (src/ir/builtins.ts), the structural statements and the file's
 * blocks; after a statement's name its options (`stride=`, `act=`, `from=` …,
 * or a block's parameters); after `key=` the option's words (OPTION_WORDS:
 * `act=` → the activations), the tensors in scope for `from=`/`to=`, and the
 * declaration's parameters where a number goes; the tensors in scope as the
 * operands of `add`, `mul`, `concat` and `output`. At the top level, the two
 * keywords.
 */
import type { IToken } from "chevrotain";
import { BUILTINS, DEFAULTABLE, FROM, OPTION_WORDS, STRUCTURAL, type Builtin } from "../ir/builtins.js";
import * as T from "../parser/tokens.js";
import type { DocumentAnalysis } from "./document.js";
import { allStatements, bodiesAt, declarationAt, visibleTensors, type OutlineDeclaration } from "./outline.js";
import { CompletionKind, type CompletionItem, type Position } from "./types.js";

/** The characters after which an editor should ask for completion. */
export const COMPLETION_TRIGGERS: readonly string[] = ["=", " "];

/** The statement that lists the network's outputs by name. */
const OUTPUT: (typeof STRUCTURAL)[number] = "output";

/** The two keywords, as the lexer knows them. */
const KEYWORDS = [T.Network, T.Block].map((t) => (t.PATTERN as RegExp).source);

export function completion(doc: DocumentAnalysis, position: Position): CompletionItem[] {
  const offset = doc.lines.offsetAt(position);
  const before = doc.text.slice(doc.lines.lineStart(offset), offset);
  if (before.includes("#")) return [];
  const decl = declarationAt(doc.outline, offset);
  const inBody = decl !== undefined && bodiesAt(decl, offset).length > 0;
  if (!inBody) return /^\s*[A-Za-z_]*$/.test(before) ? keywords() : [];
  // The statement being written: after the last separator on the line.
  const cut = Math.max(before.lastIndexOf(";"), before.lastIndexOf("{"), before.lastIndexOf("}"));
  const statement = before.slice(cut + 1);
  const partial = /[A-Za-z_][A-Za-z0-9_]*$/.exec(statement)?.[0] ?? "";
  const head = statement.slice(0, statement.length - partial.length);
  const tokens = T.mnLexer.tokenize(head).tokens;
  const bound = tokens.length >= 2 && tokens[0]!.tokenType === T.Identifier && tokens[1]!.tokenType === T.Equals;
  const rest = bound ? tokens.slice(2) : tokens;
  if (rest.length === 0) return statementStart(doc, decl);
  const name = rest[0]!;
  if (name.tokenType !== T.Identifier) return [];
  const args = rest.slice(1);
  const last = args[args.length - 1];
  const statementOffset = doc.lines.lineStart(offset) + cut + 1;
  if (last?.tokenType === T.Equals) {
    const key = args[args.length - 2];
    return key?.tokenType === T.Identifier ? values(doc, decl, name.image, key.image, statementOffset) : [];
  }
  if (last !== undefined && [T.Plus, T.Minus, T.Star, T.Slash, T.LParen].includes(last.tokenType)) return parameters(decl);
  if (!/\s$/.test(head)) return [];
  const items = options(doc, decl, name.image, given(args), statementOffset);
  // Where a positional argument may still come, the parameters it may name.
  return positionalOpen(doc, decl, name.image, statementOffset, offset) ? [...items, ...parameters(decl, items.length)] : items;
}

/** Whether the statement written from `from` has fewer positional arguments than its op or block takes. */
function positionalOpen(doc: DocumentAnalysis, decl: OutlineDeclaration, name: string, from: number, to: number): boolean {
  const builtin = BUILTINS.get(name);
  const block = doc.outline.declarations.find((d) => d.kind === "block" && d.name?.text === name);
  const takes = builtin !== undefined ? builtin.params.filter((p) => p.positional && p.tensor === undefined).length : block !== undefined ? block.params.length : 0;
  const statement = [...allStatements(decl.body)].find((s) => s.start >= from && s.start < to);
  const given = statement === undefined ? 0 : statement.args.filter((a) => a.key === undefined).length;
  return given < takes;
}

function keywords(): CompletionItem[] {
  return KEYWORDS.map((k, i) => ({ label: k, kind: CompletionKind.Keyword, detail: `${k} NAME(params) { … }`, sortText: order(i) }));
}

const order = (i: number): string => String(i).padStart(4, "0");

/** `conv kernel filters [stride=] …`: a built-in's parameters as a signature. */
export function signature(b: Builtin): string {
  return [b.name, ...b.params.map((p) => (p.tensor === "many" ? "NAME…" : p.positional ? p.name : `[${p.name}=]`))].join(" ");
}

function statementStart(doc: DocumentAnalysis, decl: OutlineDeclaration): CompletionItem[] {
  const items: CompletionItem[] = [];
  for (const b of BUILTINS.values()) items.push({ label: b.name, kind: CompletionKind.Function, detail: signature(b), sortText: order(items.length) });
  for (const s of STRUCTURAL) items.push({ label: s, kind: CompletionKind.Keyword, detail: "statement", sortText: order(items.length) });
  for (const d of doc.outline.declarations) {
    if (d.kind !== "block" || d.name === undefined || d === decl) continue;
    items.push({ label: d.name.text, kind: CompletionKind.Class, detail: `block ${d.name.text}(${d.params.map((p) => p.name.text).join(", ")})`, sortText: order(items.length) });
  }
  return items;
}

/** The keys already given in a statement's arguments. */
function given(args: readonly IToken[]): Set<string> {
  const keys = new Set<string>();
  args.forEach((t, i) => {
    if (t.tokenType === T.Identifier && args[i + 1]?.tokenType === T.Equals) keys.add(t.image);
  });
  return keys;
}

function options(doc: DocumentAnalysis, decl: OutlineDeclaration, name: string, taken: ReadonlySet<string>, at: number): CompletionItem[] {
  const items: CompletionItem[] = [];
  const key = (label: string, detail: string): void => {
    if (!taken.has(label)) items.push({ label: `${label}=`, kind: CompletionKind.Property, detail, insertText: `${label}=`, sortText: order(items.length) });
  };
  const builtin = BUILTINS.get(name);
  const block = doc.outline.declarations.find((d) => d.kind === "block" && d.name?.text === name);
  if (builtin !== undefined) {
    if (builtin.params.some((p) => p.tensor === "many")) items.push(...tensors(decl, at, items.length));
    for (const p of builtin.params) {
      if (p.tensor === "many") continue;
      const words = OPTION_WORDS[p.name];
      key(p.name, p.tensor === "one" ? "a tensor's name" : words !== undefined && p.name !== "width" ? words.join(" | ") : p.positional ? `${name}'s ${p.name}` : `${name}'s option`);
    }
    key(FROM, "read this named tensor instead of the current one");
  } else if (block?.name !== undefined) {
    for (const p of block.params) key(p.name.text, `block ${block.name.text}'s parameter`);
    key(FROM, "read this named tensor instead of the current one");
  } else if (name === "defaults") {
    for (const k of Object.keys(DEFAULTABLE)) key(k, (OPTION_WORDS[k] ?? []).join(" | "));
  } else if (name === OUTPUT) {
    items.push(...tensors(decl, at, 0));
  }
  return items;
}

function values(doc: DocumentAnalysis, decl: OutlineDeclaration, name: string, key: string, at: number): CompletionItem[] {
  const builtin = BUILTINS.get(name);
  const param = builtin?.params.find((p) => p.name === key);
  if (key === FROM || param?.tensor === "one") return tensors(decl, at, 0);
  const words = name === "width" && key !== "rounding" ? undefined : OPTION_WORDS[key];
  const known = builtin !== undefined || name === "defaults" || name === "width";
  if (words !== undefined && known) {
    const items = words.map((w, i) => ({ label: w, kind: CompletionKind.EnumMember, detail: `${key}=${w}`, sortText: order(i) }));
    // `width=` takes a multiplier too.
    return key === "width" ? [...items, ...parameters(decl, items.length)] : items;
  }
  const block = doc.outline.declarations.find((d) => d.kind === "block" && d.name?.text === name);
  if (block !== undefined) return [...tensors(decl, at, 0), ...parameters(decl, 1000)];
  return parameters(decl);
}

/** The declaration's parameters, where a number (or a word) goes. */
function parameters(decl: OutlineDeclaration, from = 0): CompletionItem[] {
  return decl.params.map((p, i) => ({
    label: p.name.text,
    kind: CompletionKind.Variable,
    detail: `${decl.kind} ${decl.name?.text ?? ""}'s parameter`,
    sortText: order(from + i),
  }));
}

/** The tensors named before `at` and visible there. */
function tensors(decl: OutlineDeclaration, at: number, from: number): CompletionItem[] {
  const seen = new Set<string>();
  const items: CompletionItem[] = [];
  // In a block, a parameter may stand for a tensor the caller passes by name.
  const passed = decl.kind === "block" ? decl.params.map((p) => p.name) : [];
  for (const t of [...visibleTensors(decl, at), ...passed]) {
    if (seen.has(t.text)) continue;
    seen.add(t.text);
    items.push({ label: t.text, kind: CompletionKind.Field, detail: "tensor", sortText: order(from + items.length) });
  }
  return items;
}
