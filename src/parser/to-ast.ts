/**
 * CST → AST. Runs only on a tree without syntax errors, so every child the
 * grammar requires is present; a missing one is a compiler bug.
 */
import type { CstNode, IToken } from "chevrotain";
import type * as A from "./ast.js";
import { InternalError } from "../ir/diagnostics.js";
import { joinSpans, type Span } from "../ir/span.js";
import { tokenSpan } from "./token-span.js";

type Child = CstNode | IToken;

export function toAst(cst: CstNode, file: string, text: string): A.SourceFile {
  const spanOf = (from: IToken, to: IToken = from): Span => tokenSpan(file, from, to);

  const nodes = (node: CstNode, key: string): CstNode[] => (node.children[key] ?? []) as CstNode[];
  const tokens = (node: CstNode, key: string): IToken[] => (node.children[key] ?? []) as IToken[];
  const node1 = (node: CstNode, key: string): CstNode => {
    const n = nodes(node, key)[0];
    if (n === undefined) throw new InternalError(`CST rule '${node.name}' lacks '${key}'`);
    return n;
  };
  const token1 = (node: CstNode, key: string): IToken => {
    const t = tokens(node, key)[0];
    if (t === undefined) throw new InternalError(`CST rule '${node.name}' lacks token '${key}'`);
    return t;
  };
  /** All tokens under a node, in source order (for spans). */
  const firstToken = (node: Child): IToken => {
    if (!("children" in node)) return node;
    let best: IToken | undefined;
    for (const list of Object.values(node.children) as Child[][]) {
      for (const c of list) {
        const t = firstToken(c);
        if (best === undefined || t.startOffset < best.startOffset) best = t;
      }
    }
    if (best === undefined) throw new InternalError(`empty CST node '${node.name}'`);
    return best;
  };
  const lastToken = (node: Child): IToken => {
    if (!("children" in node)) return node;
    let best: IToken | undefined;
    for (const list of Object.values(node.children) as Child[][]) {
      for (const c of list) {
        const t = lastToken(c);
        if (best === undefined || t.startOffset > best.startOffset) best = t;
      }
    }
    if (best === undefined) throw new InternalError(`empty CST node '${node.name}'`);
    return best;
  };
  const nodeSpan = (node: CstNode): Span => spanOf(firstToken(node), lastToken(node));
  const ident = (t: IToken): A.Identifier => ({ name: t.image, span: spanOf(t) });

  const value = (node: CstNode): A.Expr => {
    const shape = tokens(node, "Shape")[0];
    if (shape !== undefined) {
      return { kind: "shape", dims: shape.image.split("x").map((d) => Number(d)), text: shape.image, span: spanOf(shape) };
    }
    return expression(node1(node, "expression"));
  };

  /** Left-associative chain `operand (op operand)*`; operators are ordered by position. */
  const chain = (node: CstNode, operandKey: string, opKeys: string[], operand: (n: CstNode) => A.Expr): A.Expr => {
    const operands = nodes(node, operandKey);
    const ops = opKeys.flatMap((k) => tokens(node, k)).sort((a, b) => a.startOffset - b.startOffset);
    let result = operand(operands[0] ?? node1(node, operandKey));
    ops.forEach((op, i) => {
      const rightNode = operands[i + 1];
      if (rightNode === undefined) throw new InternalError("operator without right operand");
      const right = operand(rightNode);
      result = { kind: "binary", op: op.image as A.BinaryOperator, left: result, right, span: joinSpans(result.span, right.span) };
    });
    return result;
  };

  const expression = (node: CstNode): A.Expr => chain(node, "term", ["Plus", "Minus"], term);
  const term = (node: CstNode): A.Expr => chain(node, "unary", ["Star", "Slash"], unary);
  const unary = (node: CstNode): A.Expr => {
    const sign = tokens(node, "Minus")[0] ?? tokens(node, "Plus")[0];
    if (sign !== undefined) {
      const operand = unary(node1(node, "unary"));
      return { kind: "unary", op: sign.image as "-" | "+", operand, span: joinSpans(spanOf(sign), operand.span) };
    }
    return primary(node1(node, "primary"));
  };
  const primary = (node: CstNode): A.Expr => {
    const num = tokens(node, "NumberLiteral")[0];
    if (num !== undefined) return { kind: "number", value: Number(num.image), text: num.image, span: spanOf(num) };
    const name = tokens(node, "Identifier")[0];
    if (name !== undefined) return { kind: "name", name: name.image, span: spanOf(name) };
    const inner = expression(node1(node, "expression"));
    return { kind: "paren", inner, span: spanOf(token1(node, "LParen"), token1(node, "RParen")) };
  };

  const argument = (node: CstNode): A.Argument => {
    const v = value(node1(node, "value"));
    const nameToken = tokens(node, "Identifier")[0];
    if (nameToken !== undefined && tokens(node, "Equals").length > 0) {
      return { name: ident(nameToken), value: v, span: joinSpans(spanOf(nameToken), v.span) };
    }
    return { value: v, span: v.span };
  };

  const body = (node: CstNode): A.Body => ({
    statements: nodes(node, "statement")
      .map(statement)
      .sort((a, b) => a.span.start - b.span.start),
    span: spanOf(token1(node, "LBrace"), token1(node, "RBrace")),
  });

  const statement = (node: CstNode): A.Statement => {
    const name = ident(token1(node, "Identifier"));
    const bindingToken = tokens(node, "binding")[0];
    const binding = bindingToken === undefined ? undefined : ident(bindingToken);
    const args = nodes(node, "argument").map(argument);
    const bodyNode = nodes(node, "body")[0];
    const b = bodyNode === undefined ? undefined : body(bodyNode);
    const last = b?.span ?? args[args.length - 1]?.span ?? name.span;
    const s: A.Statement = { name, args, span: joinSpans(binding?.span ?? name.span, last), ...(binding === undefined ? {} : { binding }) };
    return b === undefined ? s : { ...s, body: b };
  };

  const params = (node: CstNode | undefined): A.Parameter[] =>
    node === undefined
      ? []
      : nodes(node, "param").map((p) => {
          const name = ident(token1(p, "Identifier"));
          const v = nodes(p, "value")[0];
          if (v === undefined) return { name, span: name.span };
          const d = value(v);
          return { name, default: d, span: joinSpans(name.span, d.span) };
        });

  const declaration = (node: CstNode, kind: "network" | "block"): A.Declaration => ({
    kind,
    name: ident(token1(node, "Identifier")),
    params: params(nodes(node, "params")[0]),
    body: body(node1(node, "body")),
    span: nodeSpan(node),
  });

  const declarations = [
    ...nodes(cst, "network").map((n) => declaration(n, "network")),
    ...nodes(cst, "block").map((n) => declaration(n, "block")),
  ].sort((a, b) => a.span.start - b.span.start);

  const end = text.length;
  const whole: Span = { file, start: 0, end, line: 1, column: 1, endLine: 1, endColumn: 1 };
  return { file, declarations, span: whole };
}
