/**
 * Go to definition: a block's name where it is used as a layer → its
 * `block` declaration; a tensor's name (`from=`, `to=`, the operands of
 * `add`, `mul`, `concat`, `output`, a block's argument) → the statement that
 * names it, as the compiler's scopes see it; a parameter's name in an
 * expression → the parameter.
 */
import type { DocumentAnalysis } from "./document.js";
import { allStatements, declarationAt, visibleTensors, type OutlineDeclaration, type OutlineStatement, type Word } from "./outline.js";
import type { Definition, Position } from "./types.js";

/** The name under or just before the cursor. */
export function wordAt(text: string, offset: number): Word | undefined {
  let start = offset;
  while (start > 0 && /[A-Za-z0-9_]/.test(text[start - 1]!)) start--;
  let end = offset;
  while (end < text.length && /[A-Za-z0-9_]/.test(text[end]!)) end++;
  const w = text.slice(start, end);
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(w) ? { text: w, start, end } : undefined;
}

export function definition(doc: DocumentAnalysis, position: Position): Definition | undefined {
  const offset = doc.lines.offsetAt(position);
  const w = wordAt(doc.text, offset);
  const decl = declarationAt(doc.outline, offset);
  if (w === undefined || decl === undefined) return undefined;
  const here = (start: number, end: number, selStart: number, selEnd: number): Definition => ({ range: doc.lines.range(start, end), selectionRange: doc.lines.range(selStart, selEnd) });
  const statements = [...allStatements(decl.body)];
  const used = statements.find((s) => s.name.start === w.start);
  if (used !== undefined) {
    const block = doc.outline.declarations.find((d) => d.kind === "block" && d.name?.text === w.text);
    return block?.name === undefined ? undefined : here(block.start, block.end, block.name.start, block.name.end);
  }
  const owner = statements.find((s) => s.args.some((a) => a.value.some((v) => v.start === w.start)));
  if (owner !== undefined) {
    const tensor = tensorAt(doc, offset);
    if (tensor !== undefined) return here(tensor.maker.start, tensor.maker.end, tensor.name.start, tensor.name.end);
    return parameter(decl, w, here);
  }
  // A parameter's default may use the parameters before it.
  if (decl.params.some((p) => p.value.some((v) => v.start === w.start))) return parameter(decl, w, here, w.start);
  return undefined;
}

/** The tensor a name in an argument stands for (`add skip`, `from=deep`): its name where bound, and the statement that makes it. */
export function tensorAt(doc: DocumentAnalysis, offset: number): { name: Word; maker: OutlineStatement; use: Word } | undefined {
  const w = wordAt(doc.text, offset);
  const decl = declarationAt(doc.outline, offset);
  if (w === undefined || decl === undefined) return undefined;
  const statements = [...allStatements(decl.body)];
  const owner = statements.find((s) => s.args.some((a) => a.value.some((v) => v.start === w.start)));
  if (owner === undefined) return undefined;
  const name = visibleTensors(decl, owner.start).find((t) => t.text === w.text);
  const maker = name === undefined ? undefined : statements.find((s) => s.binding === name);
  return name === undefined || maker === undefined ? undefined : { name, maker, use: w };
}

function parameter(decl: OutlineDeclaration, w: Word, here: (a: number, b: number, c: number, d: number) => Definition, before = Infinity): Definition | undefined {
  const p = decl.params.find((q) => q.name.text === w.text && q.name.start < before);
  if (p === undefined) return undefined;
  const end = p.value.length === 0 ? p.name.end : p.value[p.value.length - 1]!.end;
  return here(p.name.start, end, p.name.start, p.name.end);
}

