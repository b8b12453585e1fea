/** The grammar: every construct of the core syntax, spans, and recovery. */
import { describe, expect, it } from "vitest";
import { parse } from "../src/index.js";
import type { Expr, Statement } from "../src/parser/ast.js";

function statements(source: string): readonly Statement[] {
  const r = parse(source);
  expect(r.diagnostics).toEqual([]);
  return r.ast!.declarations[0]!.body.statements;
}

function show(e: Expr): string {
  switch (e.kind) {
    case "number":
      return e.text;
    case "shape":
      return e.text;
    case "name":
      return e.name;
    case "paren":
      return show(e.inner);
    case "unary":
      return `(${e.op}${show(e.operand)})`;
    case "binary":
      return `(${show(e.left)} ${e.op} ${show(e.right)})`;
  }
}

describe("parsing", () => {
  it("reads statements separated by newlines and semicolons, skipping comments", () => {
    const s = statements("network N { # a comment\n  input 8x8x3; pw 4 # trailing\n\n  dw 3x3 ; ; softmax\n}");
    expect(s.map((x) => x.name.name)).toEqual(["input", "pw", "dw", "softmax"]);
  });

  it("reads positional and named arguments, shapes and numbers", () => {
    const [conv] = statements("network N {\n  conv 3x5 32 stride=2 act=relu6 width=0.5\n}");
    expect(conv!.args.map((a) => `${a.name?.name ?? "_"}=${show(a.value)}`)).toEqual(["_=3x5", "_=32", "stride=2", "act=relu6", "width=0.5"]);
  });

  it("parses expressions with precedence, parentheses and unary signs", () => {
    const [pw] = statements("network N(a = 1, b = 2) {\n  pw a + b * 3 - -4 / (a - b)\n}");
    expect(show(pw!.args[0]!.value)).toBe("((a + (b * 3)) - ((-4) / (a - b)))");
  });

  it("parses numbers in every written form", () => {
    const [s] = statements("network N {\n  x 32 0.75 1e-3 .5 2E+2\n}");
    expect(s!.args.map((a) => (a.value.kind === "number" ? a.value.value : NaN))).toEqual([32, 0.75, 0.001, 0.5, 200]);
  });

  it("parses nested bodies: repeat and width regions on one line or many", () => {
    const s = statements("network N {\n  repeat 5 { separable 512 }\n  width 0.5 {\n    repeat 2 {\n      pw 8\n    }\n  }\n}");
    expect(s[0]!.body!.statements.map((x) => x.name.name)).toEqual(["separable"]);
    expect(s[1]!.body!.statements[0]!.body!.statements[0]!.name.name).toBe("pw");
  });

  it("parses blocks and networks with parameter lists, over several lines too", () => {
    const r = parse("block dws(out, s = 1) {\n  dw 3x3 stride=s\n  pw out\n}\nnetwork Tiny(\n  classes = 10,\n  base = 16\n)\n{\n  input 96x96x3\n}");
    expect(r.diagnostics).toEqual([]);
    const [block, net] = r.ast!.declarations;
    expect([block!.kind, block!.name.name, block!.params.map((p) => p.name.name)]).toEqual(["block", "dws", ["out", "s"]]);
    expect([net!.kind, net!.name.name, net!.params.map((p) => p.name.name)]).toEqual(["network", "Tiny", ["classes", "base"]]);
  });

  it("does not treat op names as keywords", () => {
    // 'conv' and 'separable' are plain names to the grammar: a parameter may be called 'conv'.
    const [s] = statements("network N(conv = 3) {\n  separable conv\n}");
    expect(show(s!.args[0]!.value)).toBe("conv");
  });

  it("puts a span on every node", () => {
    const [s] = statements("network N {\n  conv 3x3 32 stride=2\n}");
    expect([s!.span.line, s!.span.column, s!.span.endColumn]).toEqual([2, 3, 23]);
    expect([s!.args[2]!.span.column, s!.args[2]!.value.span.column]).toEqual([15, 22]);
    expect(s!.name.span.end - s!.name.span.start).toBe(4);
  });
});

describe("syntax errors", () => {
  it("reports every syntax error of a file in one run", () => {
    const source = [
      "network N {",
      "  input 8x8x3",
      "  conv 3x3 8 stride=", // missing value
      "  pw 8 )", // stray parenthesis
      "  dw 3x3 @", // unexpected character
      "  pw 12ab", // malformed number
      "  fc (3 +", // unfinished expression
      "}",
      "network M {",
      "  pw 3", // unclosed network
    ].join("\n");
    const r = parse(source, { file: "bad.mn" });
    expect(r.ast).toBeUndefined();
    expect(r.diagnostics.map((d) => `${d.code} ${d.span!.line}:${d.span!.column}`)).toEqual([
      "MN1002 3:21",
      "MN1002 4:8",
      "MN1001 5:10",
      "MN1004 6:6",
      "MN1002 7:10",
      "MN1003 10:6",
    ]);
  });

  it("refuses nesting deep enough to exhaust the parser, without a stack overflow", () => {
    const deep = `network N {\n  pw ${"(".repeat(100_000)}1${")".repeat(100_000)}\n}`;
    expect(parse(deep).diagnostics.map((d) => d.code)).toEqual(["MN1005"]);
    const signs = `network N {\n  pw ${"-".repeat(100_000)}1\n}`;
    expect(parse(signs).diagnostics.map((d) => d.code)).toEqual(["MN1005"]);
    const braces = `network N ${"{ repeat 1 ".repeat(5000)}`;
    expect(parse(braces).diagnostics.map((d) => d.code)).toEqual(["MN1005"]);
  });

  it("points at the last character when the file ends inside a body", () => {
    const r = parse("network N {\n  repeat 2 {\n    pw 4\n", { file: "x.mn" });
    expect(r.diagnostics.map((d) => `${d.code} ${d.span!.line}:${d.span!.column} ${d.message}`)).toEqual([
      "MN1003 3:8 a statement's body is not closed: expected '}' before the end of the file",
    ]);
  });
});
