/**
 * Writing TypeScript text: an indenting line buffer, identifiers from IR ids,
 * and escaping for anything that lands inside a comment or a string literal.
 *
 * The ids come from `.mn` identifiers, so they are tame; everything else that
 * is embedded (the source file name, labels) is escaped anyway, so that a
 * label holding `*\/`, a backtick, `${…}`, quotes or a newline cannot end a
 * comment or a string early.
 */

/**
 * The language of a generated module: TypeScript, or the same code with its
 * types left out — an ES module for Node and bundlers as it is, with a
 * `.d.ts` of its exports beside it. Every template writes both.
 */
export type Flavour = "ts" | "js";

/** The non-null assertion after a read of m (`m[i]!`), the one TypeScript syntax in a layer's body: "!" or, in JavaScript, nothing. */
export type NonNull = "!" | "";

export function nonNullOf(flavour: Flavour): NonNull {
  return flavour === "ts" ? "!" : "";
}

/** TypeScript-only text (a type annotation, an assertion): itself in TypeScript, nothing in JavaScript. */
export function typesIn(flavour: Flavour): (text: string) => string {
  return flavour === "ts" ? (text) => text : () => "";
}

/** Lines of code at a current indentation (two spaces per level). */
export class Code {
  private readonly out: string[] = [];
  private depth = 0;

  /** One line at the current indentation (an empty line stays empty). */
  line(text = ""): this {
    this.out.push(text === "" ? "" : "  ".repeat(this.depth) + text);
    return this;
  }

  /** Several lines. */
  lines(texts: readonly string[]): this {
    for (const t of texts) this.line(t);
    return this;
  }

  /** `head {`, the body one level deeper, then `}` (or `tail`). */
  block(head: string, body: () => void, tail = "}"): this {
    this.line(head === "" ? "{" : `${head} {`);
    this.depth++;
    body();
    this.depth--;
    return this.line(tail);
  }

  /** `if (cond) { … } else { … }`. */
  ifElse(cond: string, then: () => void, otherwise: () => void): this {
    this.line(`if (${cond}) {`);
    this.depth++;
    then();
    this.depth--;
    this.line("} else {");
    this.depth++;
    otherwise();
    this.depth--;
    return this.line("}");
  }

  /** Another Code's lines, at this one's indentation. */
  append(other: Code): this {
    for (const l of other.out) this.line(l);
    return this;
  }

  text(): string {
    return this.out.join("\n") + "\n";
  }

  get length(): number {
    return this.out.length;
  }
}

const RESERVED = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends false finally for function if import in " +
    "instanceof new null return super switch this throw true try typeof var void while with as implements interface let package private " +
    "protected public static yield await async of type undefined NaN Infinity eval arguments"
  ).split(" "),
);

/**
 * A JavaScript identifier for an IR id: every character outside [A-Za-z0-9_]
 * becomes `_` (`sep_3.pw` → `sep_3_pw`), a leading digit or a reserved word
 * gets a `_` prefix, and a name already `taken` gets `_2`, `_3`, … The chosen
 * name is added to `taken`.
 */
export function identifier(id: string, taken: Set<string>): string {
  let base = id.replace(/[^A-Za-z0-9_]/g, "_");
  if (base === "" || /^[0-9]/.test(base) || RESERVED.has(base)) base = `_${base}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/**
 * Text that is safe inside a `/* … *\/` or `//` comment on one line: `*\/`
 * cannot close the comment, and line breaks and other control characters
 * are shown as escapes instead of starting a new line.
 */
export function commentText(text: string): string {
  return text
    .replace(/\*\//g, "*\\/")
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
      if (c === "\n") return "\\n";
      if (c === "\r") return "\\r";
      if (c === "\t") return "\\t";
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    });
}

/**
 * A double-quoted string literal: JSON's escaping (quotes, backslashes,
 * control characters), plus U+2028/U+2029, which older parsers read as line
 * breaks. Backticks and `${` mean nothing inside double quotes.
 */
export function stringLiteral(text: string): string {
  return JSON.stringify(text).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** 1234567 → "1,234,567" (no locale: deterministic). */
export function group(n: number): string {
  const sign = n < 0 ? "-" : "";
  return sign + String(Math.abs(Math.trunc(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A number as a compact, exact literal for the generated code. */
export function num(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  return Object.is(n, -0) ? "0" : String(n);
}

/** `base + k` written without `+ 0` and with `- k` for negative k. */
export function plus(base: string, k: number): string {
  if (k === 0) return base;
  return k > 0 ? `${base} + ${k}` : `${base} - ${-k}`;
}

/** `base + v·coef` with the trivial parts left out; a number when `v` is one. */
export function affine(base: number, v: string | number, coef: number): string {
  if (typeof v === "number") return String(base + v * coef);
  const term = coef === 0 ? "" : coef === 1 ? v : `${v} * ${coef}`;
  if (term === "") return String(base);
  if (base === 0) return term;
  return base > 0 ? `${base} + ${term}` : `${term} - ${-base}`;
}
