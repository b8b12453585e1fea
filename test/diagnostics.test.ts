/**
 * The message catalogue: every code's own example triggers exactly that code,
 * and the rendered output (source line, caret) is a reviewed golden file.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { Messages } from "../src/ir/diagnostics.js";
import { renderDiagnostic } from "../src/ir/render.js";
import { compileErrors, exampleOptions } from "./helpers.js";

const entries = Object.entries(Messages).sort((a, b) => a[1].code.localeCompare(b[1].code));

function baseline(source: string, diagnostics: readonly Parameters<typeof renderDiagnostic>[0][]): string {
  const numbered = source
    .split("\n")
    .map((line, i) => `${String(i + 1).padStart(3)} | ${line}`)
    .join("\n");
  return `${numbered}\n---\n${diagnostics.map((d) => renderDiagnostic(d, source)).join("\n")}\n`;
}

describe("the catalogue", () => {
  it("has unique codes in the documented ranges", () => {
    const codes = entries.map(([, e]) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^MN[1-6]\d{3}$/);
    // Warnings, and only warnings, are MN6xxx.
    for (const [, e] of entries) expect(e.severity === "warning").toBe(e.code.startsWith("MN6"));
  });

  it.each(entries)("%s: its example triggers it, with a golden baseline", async (_key, entry) => {
    const { source } = entry.example;
    const result = compile(source, { file: "example.mn", ...exampleOptions(entry.example) });
    // A warning never stops the pipeline: its example still compiles, with that warning alone.
    if (entry.severity === "warning") expect(result.graph).toBeDefined();
    else expect(result.graph).toBeUndefined();
    expect(result.diagnostics.length).toBeGreaterThan(0);
    for (const d of result.diagnostics) expect(d.severity).toBe(d.code.startsWith("MN6") ? "warning" : "error");
    // A weight file's summary (MN4011) comes first, before the per-layer MN4xxx details it sums up.
    const codes = result.diagnostics.map((d) => d.code);
    const summary = Messages.weightFileSummary.code;
    const details = codes[0] === summary && entry.code.startsWith("MN4") ? codes.slice(1) : codes;
    if (entry.code === summary) {
      expect(codes[0]).toBe(summary);
      expect(details.length).toBeGreaterThan(0);
      for (const c of details) expect(c).toMatch(/^MN40(0\d|10)$/);
    } else {
      expect(details).toEqual(details.map(() => entry.code));
    }
    for (const d of result.diagnostics) {
      if (d.span === undefined) continue;
      expect(d.span.start).toBeGreaterThanOrEqual(0);
      expect(d.span.end).toBeLessThanOrEqual(source.length);
      expect(d.span.line).toBeGreaterThanOrEqual(1);
    }
    await expect(baseline(source, result.diagnostics)).toMatchFileSnapshot(`golden/errors/${entry.code}.txt`);
  });
});

describe("what must be an error, each with its span", () => {
  const at = (source: string, options = {}) =>
    compileErrors(source, { file: "t.mn", ...options }).map((d) => `${d.code} ${d.span ? `${d.span.line}:${d.span.column}` : "-"} ${d.message}`);

  it("unknown op with a suggestion", () => {
    expect(at("network N {\n  input 8x8x3\n  seperable 16\n}")).toEqual(["MN2001 3:3 unknown op or block 'seperable'; did you mean 'separable'?"]);
  });

  it("unknown parameter in an expression, and unknown option", () => {
    expect(at("network N(classes = 4) {\n  input 8x8x3\n  fc clases\n  pw 4 acts=relu\n}")).toEqual([
      "MN2002 3:6 unknown name 'clases'; did you mean 'classes'?",
      "MN2003 4:8 'pw' has no argument 'acts'; did you mean 'act'?",
    ]);
  });

  it("missing and extra arguments", () => {
    expect(at("network N {\n  input 8x8x3\n  conv 3x3\n  dropout 0.1 0.2\n}")).toEqual([
      "MN2004 3:3 'conv' needs a value for 'filters'",
      "MN2005 4:15 'dropout' takes 1 positional argument",
    ]);
  });

  it("duplicate option, named twice or positionally and by name", () => {
    expect(at("network N {\n  input 8x8x3\n  pw 4 act=relu act=relu6\n  pw 4 filters=8\n}")).toEqual([
      "MN2006 3:17 'act' is given more than once",
      "MN2006 4:8 'filters' is given more than once",
    ]);
  });

  it.each([
    ["stride=0", "conv 3x3 8 stride=0", "MN3001 3:21 conv's stride must be a positive integer, not 0"],
    ["negative channels", "pw -4", "MN3001 3:6 pw's filters must be a positive integer, not -4"],
    ["fractional channels", "pw 2.5", "MN3001 3:6 pw's filters must be a positive integer, not 2.5"],
    ["fractional kernel", "dw 1.5", "MN3001 3:6 dw's kernel must be a positive integer, not 1.5"],
    ["zero kernel", "conv 0x3 8", "MN3001 3:8 conv's kernel must be a positive integer, not 0"],
    ["negative stride", "dw 3x3 stride=-2", "MN3001 3:17 dw's stride must be a positive integer, not -2"],
  ])("%s", (_name, layer, expected) => {
    expect(at(`network N {\n  input 8x8x3\n  ${layer}\n}`)).toEqual([expected]);
  });

  it("a width that rounds a layer to 0 channels names the layer", () => {
    expect(at("network N {\n  input 8x8x3\n  pw 16\n  separable 2\n}", { alpha: 0.25 })).toEqual([
      "MN3002 4:3 width 0.25 leaves 'sep_1.pw' with 0 channels (floor(2 × 0.25) = 0)",
    ]);
  });

  it("α ≤ 0 in the source or the options", () => {
    expect(at("network N {\n  input 8x8x3\n  width -0.5\n  pw 4\n}")).toEqual(["MN3003 3:9 the width multiplier must be greater than 0, not -0.5"]);
    expect(at("network N {\n  input 8x8x3\n  pw 4\n}", { alpha: 0 })).toEqual(["MN3003 - the width multiplier must be greater than 0, not 0"]);
  });

  it("a block that calls itself through another block", () => {
    const source = "block a(n) {\n  b n\n}\nblock b(n) {\n  pw n\n  a n\n}\nnetwork N {\n  input 8x8x3\n  a 4\n}";
    expect(at(source)).toEqual(["MN2008 6:3 block 'a' calls itself through 'b'"]);
  });

  it("an expansion past the layer limit is refused before any work is done", () => {
    const source = "network N {\n  input 8x8x3\n  repeat 1000000000 {\n    repeat 1000000000 { pw 4 }\n  }\n}";
    const started = performance.now();
    expect(at(source)).toEqual(["MN3006 1:9 the network expands to more than 100,000 layers"]);
    // Bounded work: a refusal, not an attempt (generous bound; this is not a timing test).
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("the limit also counts layers inside blocks and parameterised repeats", () => {
    const source = "block deep(n) {\n  repeat n { pw 4 }\n}\nnetwork N(k = 400) {\n  input 8x8x3\n  repeat k { deep k }\n}";
    expect(at(source)).toEqual(["MN3006 4:9 the network expands to more than 100,000 layers"]);
    expect(at(source, { maxLayers: 10 })).toEqual(["MN3006 4:9 the network expands to more than 10 layers"]);
  });

  it("a file without a network, and two networks with the same name", () => {
    expect(at("# nothing here\n")).toEqual(["MN2009 1:1 the file declares no network"]);
    expect(at("network N {\n  input 8x8x3\n  pw 4\n}\nnetwork N {\n  input 8x8x3\n  pw 8\n}")).toEqual(["MN2010 5:9 network 'N' is declared more than once"]);
  });

  it("division by zero", () => {
    expect(at("network N(a = 2) {\n  input 8x8x3\n  pw 8 / (a - 2)\n}")).toEqual(["MN2015 3:6 division by zero"]);
  });

  it("an input that shrinks to nothing, and a window that does not fit", () => {
    expect(at("network N {\n  input 8x8x3\n  pw 4\n}", { rho: 0.05 })).toEqual(["MN3004 2:3 the input shrinks to 0x0; its height and width must be at least 1"]);
    expect(at("network N {\n  input 8x8x3\n  conv 3x3 8 stride=4\n  maxpool 3x3\n}")).toEqual([
      "MN3005 4:3 'maxpool_0': a 3x3 window with pad=valid does not fit its 2x2x8 input",
    ]);
  });

  it("several networks need a choice, and the choice must exist", () => {
    const two = "network Big {\n  input 8x8x3\n  pw 8\n}\nnetwork Small {\n  input 8x8x3\n  pw 4\n}";
    expect(at(two)).toEqual(["MN2014 - the file declares 2 networks ('Big', 'Small'); choose one with --network"]);
    expect(at(two, { network: "Smal" })).toEqual(["MN2013 - no network named 'Smal' (the file declares 'Big', 'Small'); did you mean 'Small'?"]);
  });

  it("reports problems in every statement, each once, even inside repeats", () => {
    const source = "network N {\n  input 8x8x3\n  repeat 3 {\n    pw 4 act=rleu\n    dw 3x3 stride=0\n  }\n}";
    expect(at(source)).toEqual([
      "MN2007 4:14 'rleu' is not a valid value for 'act' (expected 'relu', 'relu6', 'linear', 'hswish', 'hsigmoid', 'sigmoid'); did you mean 'relu'?",
      "MN3001 5:19 dw's stride must be a positive integer, not 0",
    ]);
  });
});

describe("rendering in files with other line endings", () => {
  // The same error on line 3 in every file: the rendered excerpt is the line without its terminator.
  it.each([
    ["\\r\\n", "network N {\r\n  input 8x8x3\r\n  seperable 16\r\n}\r\n"],
    ["lone \\r", "network N {\r  input 8x8x3\r  seperable 16\r}\r"],
    ["mixed", "network N {\n  input 8x8x3\r\n  seperable 16\r}\n"],
  ])("%s", (_name, source) => {
    const diagnostics = compileErrors(source, { file: "t.mn" });
    expect(diagnostics.map((d) => renderDiagnostic(d, source)).join("\n")).toBe(
      [
        "t.mn:3:3: error MN2001: unknown op or block 'seperable'; did you mean 'separable'?",
        "  3 |   seperable 16",
        "    |   ^~~~~~~~~",
      ].join("\n"),
    );
  });
});
