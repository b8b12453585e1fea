/**
 * The shape of a document as written, found from its tokens alone, so that a
 * document with syntax errors still has one: its declarations, their
 * parameters and bodies, and every statement (`[NAME =] NAME args… [{ … }]`).
 * It follows the grammar of src/parser/grammar.ts where the text follows it
 * and skips what does not: an unclosed `{` runs to the next declaration or the
 * end, a stray token is passed over. It decides nothing about names — the
 * compiler does; the services use it to know where the cursor is.
 */
import type { IToken, TokenType } from "chevrotain";
import * as T from "../parser/tokens.js";

/** A token's text and offsets (`end` one past its last character). */
export interface Word {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface OutlineArgument {
  /** `key=value`: the key. */
  readonly key?: Word;
  /** The value's tokens (a shape, a number, a name, an expression). */
  readonly value: readonly Word[];
  readonly start: number;
  readonly end: number;
}

export interface OutlineStatement {
  readonly binding?: Word;
  readonly name: Word;
  readonly args: readonly OutlineArgument[];
  readonly body?: OutlineBody;
  readonly start: number;
  /** The end of the statement's head: its last argument (or name). */
  readonly headEnd: number;
  readonly end: number;
}

export interface OutlineBody {
  /** The offset of `{`. */
  readonly start: number;
  /** One past `}`, or where the unclosed body was given up. */
  readonly end: number;
  readonly closed: boolean;
  readonly statements: readonly OutlineStatement[];
}

export interface OutlineParameter {
  readonly name: Word;
  readonly value: readonly Word[];
}

export interface OutlineDeclaration {
  readonly kind: "network" | "block";
  readonly keyword: Word;
  readonly name?: Word;
  readonly params: readonly OutlineParameter[];
  readonly body?: OutlineBody;
  readonly start: number;
  readonly end: number;
}

export interface Outline {
  readonly declarations: readonly OutlineDeclaration[];
}

const word = (t: IToken): Word => ({ text: t.image, start: t.startOffset, end: t.startOffset + t.image.length });

export function outline(text: string): Outline {
  const tokens = T.mnLexer.tokenize(text).tokens;
  let i = 0;
  const peek = (k = 0): IToken | undefined => tokens[i + k];
  const is = (type: TokenType, k = 0): boolean => peek(k)?.tokenType === type;
  const isDeclaration = (): boolean => is(T.Network) || is(T.Block);
  const skipNewlines = (): void => {
    while (is(T.Newline)) i++;
  };

  // value := SHAPE | expression, tolerant: stops at the first token that cannot continue it.
  const value = (): Word[] => {
    if (is(T.Shape)) return [word(tokens[i++]!)];
    const out: Word[] = [];
    const primary = (): boolean => {
      while (is(T.Minus) || is(T.Plus)) out.push(word(tokens[i++]!));
      if (is(T.NumberLiteral) || is(T.Identifier)) {
        out.push(word(tokens[i++]!));
        return true;
      }
      if (is(T.LParen)) {
        out.push(word(tokens[i++]!));
        expression();
        if (is(T.RParen)) out.push(word(tokens[i++]!));
        return true;
      }
      return false;
    };
    const expression = (): void => {
      if (!primary()) return;
      while (is(T.Plus) || is(T.Minus) || is(T.Star) || is(T.Slash)) {
        out.push(word(tokens[i++]!));
        if (!primary()) return;
      }
    };
    expression();
    return out;
  };

  const body = (): OutlineBody => {
    const open = tokens[i++]!;
    const statements: OutlineStatement[] = [];
    while (i < tokens.length) {
      if (is(T.RBrace)) {
        const close = tokens[i++]!;
        return { start: open.startOffset, end: close.startOffset + 1, closed: true, statements };
      }
      if (isDeclaration()) break;
      if (is(T.Newline) || is(T.Semicolon) || is(T.Comma)) {
        i++;
        continue;
      }
      const s = statement();
      if (s !== undefined) statements.push(s);
    }
    // Unclosed: the body runs to the next declaration or the end of the text.
    return { start: open.startOffset, end: isDeclaration() ? peek()!.startOffset : text.length, closed: false, statements };
  };

  const statement = (): OutlineStatement | undefined => {
    const first = peek()!;
    if (first.tokenType !== T.Identifier) {
      // Not a statement: pass over it (and a body it opens).
      if (first.tokenType === T.LBrace) body();
      else i++;
      return undefined;
    }
    let binding: Word | undefined;
    if (is(T.Equals, 1)) {
      binding = word(tokens[i]!);
      i += 2;
      if (!is(T.Identifier)) return undefined;
    }
    const name = word(tokens[i++]!);
    const args: OutlineArgument[] = [];
    let headEnd = name.end;
    while (i < tokens.length && !is(T.Newline) && !is(T.Semicolon) && !is(T.RBrace) && !is(T.LBrace) && !isDeclaration()) {
      if (is(T.Comma)) {
        i++;
        continue;
      }
      const start = peek()!.startOffset;
      let key: Word | undefined;
      if (is(T.Identifier) && is(T.Equals, 1)) {
        key = word(tokens[i]!);
        i += 2;
      }
      const v = value();
      if (key === undefined && v.length === 0) {
        i++; // a token no argument starts with
        continue;
      }
      const end = v.length > 0 ? v[v.length - 1]!.end : tokens[i - 1]!.startOffset + 1;
      args.push({ ...(key === undefined ? {} : { key }), value: v, start, end });
      headEnd = end;
    }
    const b = is(T.LBrace) ? body() : undefined;
    const start = binding?.start ?? name.start;
    return { ...(binding === undefined ? {} : { binding }), name, args, ...(b === undefined ? {} : { body: b }), start, headEnd, end: b?.end ?? headEnd };
  };

  const declaration = (): OutlineDeclaration => {
    const keyword = word(tokens[i++]!);
    const kind = keyword.text === "network" ? "network" : "block";
    const name = is(T.Identifier) ? word(tokens[i++]!) : undefined;
    const params: OutlineParameter[] = [];
    if (is(T.LParen)) {
      i++;
      while (i < tokens.length && !is(T.RParen) && !is(T.LBrace) && !isDeclaration()) {
        if (is(T.Identifier)) {
          const p = word(tokens[i++]!);
          let v: Word[] = [];
          if (is(T.Equals)) {
            i++;
            v = value();
          }
          params.push({ name: p, value: v });
        } else i++;
      }
      if (is(T.RParen)) i++;
    }
    skipNewlines();
    // Anything before the `{` is passed over, on the declaration's line.
    while (i < tokens.length && !is(T.LBrace) && !isDeclaration() && !is(T.Newline)) i++;
    skipNewlines();
    const b = is(T.LBrace) ? body() : undefined;
    const end = b?.end ?? (tokens[i - 1] === undefined ? keyword.end : tokens[i - 1]!.startOffset + tokens[i - 1]!.image.length);
    return { kind, keyword, ...(name === undefined ? {} : { name }), params, ...(b === undefined ? {} : { body: b }), start: keyword.start, end };
  };

  const declarations: OutlineDeclaration[] = [];
  while (i < tokens.length) {
    if (isDeclaration()) declarations.push(declaration());
    else i++;
  }
  return { declarations };
}

/** Every statement of a body, nested bodies included, in source order. */
export function* allStatements(body: OutlineBody | undefined): Generator<OutlineStatement> {
  if (body === undefined) return;
  for (const s of body.statements) {
    yield s;
    yield* allStatements(s.body);
  }
}

/** The declaration whose text holds `offset` (from its keyword to the end of its body). */
export function declarationAt(o: Outline, offset: number): OutlineDeclaration | undefined {
  return o.declarations.find((d) => d.start <= offset && offset <= d.end);
}

/**
 * The bodies that hold `offset`, outermost first, each with the statement
 * that owns it (undefined for the declaration's own body).
 */
export function bodiesAt(d: OutlineDeclaration, offset: number): { body: OutlineBody; owner?: OutlineStatement }[] {
  const path: { body: OutlineBody; owner?: OutlineStatement }[] = [];
  const top = d.body;
  if (top === undefined || offset <= top.start || offset > top.end || (top.closed && offset >= top.end)) return path;
  path.push({ body: top });
  let body: OutlineBody = top;
  for (;;) {
    const inner: OutlineStatement | undefined = body.statements.find((s) => s.body !== undefined && s.body.start < offset && (s.body.closed ? offset < s.body.end : offset <= s.body.end));
    if (inner?.body === undefined) return path;
    body = inner.body;
    path.push({ body, owner: inner });
  }
}

/** The innermost statement whose head (binding, name and arguments) holds `offset`. */
export function statementAt(d: OutlineDeclaration, offset: number): OutlineStatement | undefined {
  let found: OutlineStatement | undefined;
  for (const s of allStatements(d.body)) if (s.start <= offset && offset <= s.headEnd) found = s;
  return found;
}

/**
 * The tensor names visible at `offset` — named before it in its body or an
 * enclosing one (a `width` region's names count as its parent's) — nearest
 * first, each with the name as bound.
 */
export function visibleTensors(d: OutlineDeclaration, offset: number): Word[] {
  const found: Word[] = [];
  const collect = (statements: readonly OutlineStatement[]): void => {
    for (const s of statements) {
      if (s.start >= offset) break;
      if (s.binding !== undefined && s.end <= offset) found.push(s.binding);
      if (s.name.text === "width" && s.body !== undefined && !(s.body.start < offset && offset < s.body.end)) collect(s.body.statements);
    }
  };
  const path = bodiesAt(d, offset);
  for (let k = path.length - 1; k >= 0; k--) {
    const { body } = path[k]!;
    const before = found.length;
    collect(body.statements);
    found.splice(before, found.length - before, ...found.slice(before).reverse());
  }
  return found;
}
