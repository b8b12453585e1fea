/**
 * The abstract syntax tree of a `.mn` file. Every node has a source span.
 * The AST is what was written — names are not resolved and expressions are
 * not evaluated; that is the builder's job (src/ir/build.ts).
 */
import type { Span } from "../ir/span.js";

export interface Identifier {
  readonly name: string;
  readonly span: Span;
}

export type BinaryOperator = "+" | "-" | "*" | "/";

export type Expr =
  | { readonly kind: "number"; readonly value: number; readonly text: string; readonly span: Span }
  | { readonly kind: "shape"; readonly dims: readonly number[]; readonly text: string; readonly span: Span }
  | { readonly kind: "name"; readonly name: string; readonly span: Span }
  | { readonly kind: "unary"; readonly op: "-" | "+"; readonly operand: Expr; readonly span: Span }
  | { readonly kind: "binary"; readonly op: BinaryOperator; readonly left: Expr; readonly right: Expr; readonly span: Span }
  | { readonly kind: "paren"; readonly inner: Expr; readonly span: Span };

/** `value` or `name=value`. */
export interface Argument {
  readonly name?: Identifier;
  readonly value: Expr;
  readonly span: Span;
}

/** `[BINDING =] NAME args… [{ body }]` — a layer, a block call, or a structural statement. */
export interface Statement {
  /** `skip = …`: the name the statement's output tensor is given. */
  readonly binding?: Identifier;
  readonly name: Identifier;
  readonly args: readonly Argument[];
  readonly body?: Body;
  readonly span: Span;
}

export interface Body {
  readonly statements: readonly Statement[];
  readonly span: Span;
}

/** `name` or `name = default` in a network's or block's parameter list. */
export interface Parameter {
  readonly name: Identifier;
  readonly default?: Expr;
  readonly span: Span;
}

export interface Declaration {
  readonly kind: "network" | "block";
  readonly name: Identifier;
  readonly params: readonly Parameter[];
  readonly body: Body;
  readonly span: Span;
}

export interface SourceFile {
  readonly file: string;
  /** Networks and blocks in source order. */
  readonly declarations: readonly Declaration[];
  readonly span: Span;
}
