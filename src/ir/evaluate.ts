/**
 * Expressions → values, and the typed readers that turn a value into what an
 * op needs (a positive count, a kernel, an activation, …), each reporting a
 * located diagnostic when the value does not fit.
 */
import type { Expr } from "../parser/ast.js";
import { error, formatNumber, type Diagnostic } from "./diagnostics.js";
import type { Pair } from "./graph.js";
import type { Span } from "./span.js";
import { didYouMean } from "./suggest.js";

/**
 * A value during building. A bare name that no parameter binds evaluates to a
 * word (`global`, `relu6`, `fixed`); where a number is needed, an unbound word
 * is reported as an unknown name.
 */
export type BuildValue =
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "shape"; readonly dims: readonly number[] }
  | { readonly kind: "word"; readonly word: string; readonly origin?: WordOrigin };

/** Where a word passed into a block was written, to report a typo there rather than inside the block. */
export interface WordOrigin {
  readonly span: Span;
  /** The names in scope where it was written (for "did you mean"). */
  readonly names: readonly string[];
}

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
        return { kind: "number", value: expr.value };
      case "shape":
        return { kind: "shape", dims: expr.dims };
      case "name":
        return env.get(expr.name) ?? { kind: "word", word: expr.name };
      case "paren":
        return this.evaluate(expr.inner, env);
      case "unary": {
        const v = this.number(expr.operand, env, "an operand");
        if (v === undefined) return undefined;
        return { kind: "number", value: expr.op === "-" ? -v : v };
      }
      case "binary": {
        const l = this.number(expr.left, env, "an operand");
        const r = this.number(expr.right, env, "an operand");
        if (l === undefined || r === undefined) return undefined;
        switch (expr.op) {
          case "+":
            return { kind: "number", value: l + r };
          case "-":
            return { kind: "number", value: l - r };
          case "*":
            return { kind: "number", value: l * r };
          case "/":
            if (r === 0) {
              this.diagnostics.push(error("divisionByZero", expr.span));
              return undefined;
            }
            return { kind: "number", value: l / r };
        }
      }
    }
  }

  /** Evaluate to a number, or report why not. `what` names the value in messages. */
  number(expr: Expr, env: Env, what: string): number | undefined {
    const v = this.evaluate(expr, env);
    if (v === undefined) return undefined;
    if (v.kind === "number") return v.value;
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
