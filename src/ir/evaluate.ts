/**
 * Expressions → values, and the typed readers that turn a value into what an
 * op needs (a positive count, a kernel, an activation, …), each reporting a
 * located diagnostic when the value does not fit.
 */
import type { Expr } from "../parser/ast.js";
import { error, formatNumber, type Diagnostic } from "./diagnostics.js";
import type { Pair, Ratio } from "./graph.js";
import type { Span } from "./span.js";
import { didYouMean } from "./suggest.js";

/**
 * A value during building. A bare name that no parameter binds evaluates to a
 * word (`global`, `relu6`, `fixed`); where a number is needed, an unbound word
 * is reported as an unknown name.
 */
export type BuildValue =
  | { readonly kind: "number"; readonly value: number; readonly exact?: Ratio }
  | { readonly kind: "shape"; readonly dims: readonly number[] }
  | { readonly kind: "word"; readonly word: string; readonly origin?: WordOrigin };

/** Where a word passed into a block was written, to report a typo there rather than inside the block. */
export interface WordOrigin {
  readonly span: Span;
  /** The names in scope where it was written (for "did you mean"). */
  readonly names: readonly string[];
}

type NumberValue = Extract<BuildValue, { kind: "number" }>;

export type Env = ReadonlyMap<string, BuildValue>;

/** The largest channel count, unit count or spatial size mnc accepts. */
export const MAX_SIZE = 1 << 20;
/** The largest kernel or stride. */
export const MAX_WINDOW = 1024;

export class Evaluator {
  constructor(readonly diagnostics: Diagnostic[]) {}

  evaluate(expr: Expr, env: Env): BuildValue | undefined {
    switch (expr.kind) {
      case "number":
        return number(expr.value, decimalFraction(expr.value));
      case "shape":
        return { kind: "shape", dims: expr.dims };
      case "name":
        return env.get(expr.name) ?? { kind: "word", word: expr.name };
      case "paren":
        return this.evaluate(expr.inner, env);
      case "unary": {
        const v = this.numberValue(expr.operand, env, "an operand");
        if (v === undefined) return undefined;
        return expr.op === "-" ? number(-v.value, v.exact && { num: -v.exact.num, den: v.exact.den }) : v;
      }
      case "binary":
        return this.chain(expr, env);
    }
  }

  /**
   * A left-associative chain `a + b - c * …` without recursion along its left
   * spine: a flat chain of any length is not nesting and must not use the stack.
   * Every operand is evaluated, in source order, so all of its errors are reported.
   */
  private chain(expr: Extract<Expr, { kind: "binary" }>, env: Env): BuildValue | undefined {
    const spine: Extract<Expr, { kind: "binary" }>[] = [];
    let leftmost: Expr = expr;
    while (leftmost.kind === "binary") {
      spine.push(leftmost);
      leftmost = leftmost.left;
    }
    let acc = this.numberValue(leftmost, env, "an operand");
    let failed = acc === undefined;
    for (let i = spine.length - 1; i >= 0; i--) {
      const node = spine[i]!;
      const rv = this.numberValue(node.right, env, "an operand");
      if (failed || acc === undefined || rv === undefined) {
        failed = true;
        continue;
      }
      const next = this.apply(node, acc, rv);
      if (next === undefined || next.kind !== "number") failed = true;
      else acc = next;
    }
    return failed ? undefined : acc;
  }

  private apply(expr: Extract<Expr, { kind: "binary" }>, lv: NumberValue, rv: NumberValue): BuildValue | undefined {
    const [l, r, a, b] = [lv.value, rv.value, lv.exact, rv.exact];
    switch (expr.op) {
      case "+":
        return number(l + r, a && b && fraction(a.num * b.den + b.num * a.den, a.den * b.den));
      case "-":
        return number(l - r, a && b && fraction(a.num * b.den - b.num * a.den, a.den * b.den));
      case "*":
        return number(l * r, a && b && fraction(a.num * b.num, a.den * b.den));
      case "/":
        if (r === 0) {
          this.diagnostics.push(error("divisionByZero", expr.span));
          return undefined;
        }
        return number(l / r, a && b && fraction(a.num * b.den * Math.sign(b.num), a.den * Math.abs(b.num)));
    }
  }

  /** Evaluate to a number, or report why not. `what` names the value in messages. */
  number(expr: Expr, env: Env, what: string): number | undefined {
    return this.numberValue(expr, env, what)?.value;
  }

  /**
   * A number > 0 as an exact fraction where the expression is one (`88/24`,
   * `0.25`, `6`), for ratios that multiply channel counts; reports
   * ratioNotPositive naming `what` otherwise.
   */
  ratio(expr: Expr, env: Env, what: string): Ratio | undefined {
    const v = this.numberValue(expr, env, what);
    if (v === undefined) return undefined;
    if (!(v.value > 0) || !Number.isFinite(v.value)) {
      this.diagnostics.push(error("ratioNotPositive", expr.span, what, v.value));
      return undefined;
    }
    return v.exact ?? { num: v.value, den: 1 };
  }

  private numberValue(expr: Expr, env: Env, what: string): NumberValue | undefined {
    const v = this.evaluate(expr, env);
    if (v === undefined) return undefined;
    if (v.kind === "number") return v;
    this.notA(v, expr, env, what, "a number");
    return undefined;
  }

  /** A positive integer no larger than `limit`. */
  count(expr: Expr, env: Env, what: string, limit = MAX_SIZE): number | undefined {
    const v = this.number(expr, env, what);
    if (v === undefined) return undefined;
    return this.checkCount(v, expr.span, what, limit);
  }

  checkCount(v: number, span: Span, what: string, limit: number): number | undefined {
    if (!Number.isInteger(v) || v <= 0) {
      this.diagnostics.push(error("notPositiveInteger", span, what, v));
      return undefined;
    }
    if (v > limit) {
      this.diagnostics.push(error("sizeLimit", span, what, v, limit));
      return undefined;
    }
    return v;
  }

  /** A window size or stride: `3` means 3x3; `3x5` is 3 high, 5 wide. */
  pair(expr: Expr, env: Env, what: string): Pair | undefined {
    const v = this.evaluate(expr, env);
    if (v === undefined) return undefined;
    if (v.kind === "number") {
      const n = this.checkCount(v.value, expr.span, what, MAX_WINDOW);
      return n === undefined ? undefined : [n, n];
    }
    if (v.kind === "shape" && v.dims.length === 2) {
      const h = this.checkCount(v.dims[0]!, expr.span, what, MAX_WINDOW);
      const w = this.checkCount(v.dims[1]!, expr.span, what, MAX_WINDOW);
      return h === undefined || w === undefined ? undefined : [h, w];
    }
    this.notA(v, expr, env, what, "a number or a 2-D shape like 3x3");
    return undefined;
  }

  /** One of a fixed set of words (`act=relu6`). */
  word<W extends string>(expr: Expr, env: Env, key: string, allowed: readonly W[]): W | undefined {
    const v = this.evaluate(expr, env);
    if (v === undefined) return undefined;
    const text = v.kind === "word" ? v.word : v.kind === "number" ? formatNumber(v.value) : v.dims.join("x");
    if (v.kind === "word" && (allowed as readonly string[]).includes(v.word)) return v.word as W;
    const hint = v.kind === "word" ? didYouMean(v.word, allowed) : "";
    this.diagnostics.push(error("badOptionValue", expr.span, key, text, allowed, hint));
    return undefined;
  }

  private notA(v: BuildValue, expr: Expr, env: Env, what: string, expected: string): void {
    if (v.kind === "word") {
      const span = v.origin?.span ?? expr.span;
      const names = v.origin?.names ?? [...env.keys()];
      this.diagnostics.push(error("unknownName", span, v.word, didYouMean(v.word, names)));
      return;
    }
    this.diagnostics.push(error("wrongValueKind", expr.span, what, expected, describeValue(v)));
  }
}

function number(value: number, exact: Ratio | undefined): BuildValue {
  return exact === undefined ? { kind: "number", value } : { kind: "number", value, exact };
}

/** num/den in lowest terms, or undefined when either leaves the range of exact integers. */
function fraction(num: number, den: number): Ratio | undefined {
  if (!Number.isSafeInteger(num) || !Number.isSafeInteger(den) || den <= 0) return undefined;
  let [a, b] = [Math.abs(num), den];
  while (b !== 0) [a, b] = [b, a % b];
  return { num: num / (a || 1), den: den / (a || 1) };
}

/** A literal as the decimal fraction it was written as (`0.25` → 1/4, `1e-3` → 1/1000). */
function decimalFraction(value: number): Ratio | undefined {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(value));
  if (m === null) return undefined;
  const digits = m[1]! + (m[2] ?? "");
  const exponent = Number(m[3] ?? 0) - (m[2]?.length ?? 0);
  if (Math.abs(exponent) > 15 || digits.length > 15) return undefined;
  return exponent >= 0 ? fraction(Number(digits) * 10 ** exponent, 1) : fraction(Number(digits), 10 ** -exponent);
}

export function describeValue(v: BuildValue): string {
  switch (v.kind) {
    case "number":
      return `the number ${formatNumber(v.value)}`;
    case "shape":
      return `the shape ${v.dims.join("x")}`;
    case "word":
      return `the word '${v.word}'`;
  }
}
