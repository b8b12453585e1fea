/**
 * The language services (src/ide) called directly, the TextMate grammar of
 * editors/vscode, and `mnc lsp` as an editor runs it: the built executable in
 * a child process, spoken to in JSON-RPC with Content-Length framing on its
 * standard input and output.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { languageDocument, type Position } from "../src/ide/index.js";
import { BUILTINS, DEFAULTABLE, FROM, OPTION_WORDS, STRUCTURAL } from "../src/ir/builtins.js";
import { ACTIVATIONS, PADDINGS, RESIZE_COORDS, WIDTH_ROUNDINGS } from "../src/ir/graph.js";
import { report } from "../src/index.js";
import { exampleFiles, root } from "./helpers.js";

const example = (name: string): string => readFileSync(join(root, "examples", name), "utf8");

/** The position of the `nth` occurrence of `needle` in `text` (plus `shift` characters). */
function at(text: string, needle: string, shift = 0, nth = 0): Position {
  let offset = -1;
  for (let k = 0; k <= nth; k++) {
    offset = text.indexOf(needle, offset + 1);
    if (offset < 0) throw new Error(`'${needle}' not in the text`);
  }
  offset += shift;
  const before = text.slice(0, offset).split("\n");
  return { line: before.length - 1, character: before[before.length - 1]!.length };
}

const labels = (items: readonly { label: string }[]): string[] => items.map((i) => i.label);

/** The figures `mnc report` gives a layer. */
function reportLayer(source: string, name: string, options: { alpha?: number } = {}): { multAdds: number; params: number } {
  const r = report(source, options).report!;
  const l = r.layers.find((x) => x.name === name)!;
  return { multAdds: l.multAdds, params: l.params };
}

const group = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

const BLOCKS = `block dws(c, s = 1) {
  dw 3x3 stride=s
  pw c
}

network Net(classes = 10) {
  input 64x64x3
  stem = conv 3x3 16 stride=2
  dws 32 s=2
  deep = dws 64
  repeat 2 { dws 64 }
  add deep
  avgpool global
  fc classes
}
`;

describe("language services", () => {
  it("diagnostics: every one mnc check gives, located in the editor's terms, with its code and notes", () => {
    const text = "network N {\n  input 32x32x3\n  seperable 16\n  conv 3x3 8 stride=2 stride=1\n}\n";
    const doc = languageDocument(text, { file: "n.mn" });
    expect(doc.diagnostics).toEqual([
      {
        range: { start: { line: 2, character: 2 }, end: { line: 2, character: 11 } },
        severity: 1,
        code: "MN2001",
        source: "mnc",
        message: "unknown op or block 'seperable'; did you mean 'separable'?",
        relatedInformation: [],
      },
      {
        range: { start: { line: 3, character: 22 }, end: { line: 3, character: 28 } },
        severity: 1,
        code: "MN2006",
        source: "mnc",
        message: "'stride' is given more than once",
        relatedInformation: [{ range: { start: { line: 3, character: 13 }, end: { line: 3, character: 21 } }, message: "first given here" }],
      },
    ]);
    // A warning is severity 2; a character outside the language is counted in UTF-16 code units.
    const warned = languageDocument("network N {\n  input 3x224x224\n  pw 8\n}\n");
    expect(warned.diagnostics.map((d) => [d.code, d.severity, d.range.start])).toEqual([["MN6001", 2, { line: 1, character: 2 }]]);
    const emoji = languageDocument("network N {\n  input 8x8x3 # 😀\n  pw 8 😀\n}\n");
    expect(emoji.diagnostics.map((d) => [d.code, d.range])).toEqual([["MN1001", { start: { line: 2, character: 7 }, end: { line: 2, character: 9 } }]]);
  });

  it("diagnostics follow the options mnc check takes (α, --set, --network)", () => {
    const text = "network N(c = 8) {\n  input 8x8x3\n  pw c\n}\n";
    expect(languageDocument(text, { alpha: 0.1 }).diagnostics.map((d) => d.code)).toEqual(["MN3002"]);
    expect(languageDocument(text, { set: { d: "1" } }).diagnostics.map((d) => d.code)).toEqual(["MN2019"]);
    // A problem with an option has no place in the text: it sits at its start.
    expect(languageDocument(text, { network: "M" }).diagnostics.map((d) => [d.code, d.range])).toEqual([["MN2013", { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }]]);
    expect(languageDocument(text).diagnostics).toEqual([]);
  });

  it("hover on a layer: its shapes, mult-adds and params as mnc report gives them, its effective width, op and options", () => {
    const text = example("mobilenet_v1.mn");
    const h = languageDocument(text, { alpha: 0.5 }).hover(at(text, "conv 3x3 32", 2))!;
    const figures = reportLayer(text, "conv_0", { alpha: 0.5 });
    expect(h.contents.kind).toBe("markdown");
    expect(h.contents.value).toContain("**conv_0** · `conv 3x3/2` · 224x224x3 → 112x112x16");
    expect(h.contents.value).toContain(`- mult-adds: ${group(figures.multAdds)} `);
    expect(h.contents.value).toContain(`- params: ${group(figures.params)} `);
    expect(h.contents.value).toContain("- width: 32 × α 0.5 → 16");
    expect(h.contents.value).toContain("stride=2x2 act=relu norm=batchnorm pad=same pads=[0,0,1,1]");
    expect(h.range).toEqual({ start: at(text, "conv 3x3 32"), end: at(text, "conv 3x3 32", "conv 3x3 32 stride=2".length) });

    // A statement that makes several layers: a table of them, with the totals.
    const v2 = example("mobilenet_v2.mn");
    const b = languageDocument(v2).hover(at(v2, "bottleneck 24 expand=6 stride=2", 3))!.contents.value;
    const r = report(v2).report!;
    const rows = r.layers.filter((l) => l.name.startsWith("bneck_2."));
    expect(rows.map((l) => l.name)).toEqual(["bneck_2.expand", "bneck_2.dw", "bneck_2.project"]);
    expect(b).toContain(`- mult-adds: ${group(rows.reduce((s, l) => s + l.multAdds, 0))} `);
    expect(b).toContain("| bneck_2.expand | pw | 112x112x16 → 112x112x96 | ×6 of 16 → 96 |");
    expect(b).toContain(`| bneck_2.project | pw | 56x56x96 → 56x56x24 | 24 × α 1 → 24 | ${group(rows[2]!.multAdds)} | ${group(rows[2]!.params)} |`);
    // width=grow at α 0.5: max(α, 1).
    const grow = languageDocument(v2, { alpha: 0.5 }).hover(at(v2, "pw 1280"))!.contents.value;
    expect(grow).toContain("- width: 1280 × α 1 → 1280 (width=grow: max(α 0.5, 1))");
    // A width region multiplies α; width=fixed leaves α out.
    const deeplab = example("deeplabv3_mobilenet_v2.mn");
    const region = languageDocument(deeplab, { alpha: 0.5 });
    expect(region.hover(at(deeplab, "conv 3x3 32"))!.contents.value).toContain("- width: 32 × α 0.25 → 8 (α 0.5 × 0.5)");
    expect(region.hover(at(deeplab, "scores = conv"))!.contents.value).toContain("- width: 21 × α 1 → 21 (width=fixed)");
    // A network's name: its totals.
    expect(languageDocument(v2).hover(at(v2, "network MobileNetV2", 9))!.contents.value).toContain(`- mult-adds: ${group(r.totals.multAdds)} `);
  });

  it("hover on a tensor's name: its shape and the layer that makes it; on width and output: what they set", () => {
    const doc = languageDocument(BLOCKS);
    const deep = doc.hover(at(BLOCKS, "add deep", 5))!;
    expect(deep.contents.value).toBe("**deep** · 16x16x64 · made by dws_2.pw_1 (`dws 64`)");
    expect(deep.range).toEqual({ start: at(BLOCKS, "add deep", 4), end: at(BLOCKS, "add deep", 8) });
    const v2 = example("mobilenet_v2.mn");
    expect(languageDocument(v2, { alpha: 0.75 }).hover(at(v2, "width 1.0 rounding"))!.contents.value).toBe("`width 1.0 rounding=div8` · the network's α: 0.75, widths rounded by 'div8'");
    const outputs = "network N {\n  image = input 8x8x3\n  feat = pw 8\n  scores = pw 4 from=image\n  output feat scores\n}\n";
    expect(languageDocument(outputs).hover(at(outputs, "output"))!.contents.value).toBe("`output feat scores`\n\n- feat: 8x8x8 (pw_0)\n- scores: 8x8x4 (pw_1)");
  });

  it("hover inside a block and in a repeat lists every expansion; a document with errors still answers", () => {
    const doc = languageDocument(BLOCKS);
    const pw = doc.hover(at(BLOCKS, "pw c"))!.contents.value;
    // dws is called four times (once, once, twice in the repeat): its pw made four layers.
    expect(pw).toContain("4 layers · 4 expansions");
    for (const id of ["dws_1.pw_1", "dws_2.pw_1", "dws_3.pw_1", "dws_4.pw_1"]) expect(pw).toContain(`| ${id} | pw |`);
    expect(doc.hover(at(BLOCKS, "dws(c", 1))!.contents.value).toBe("`block dws(c, s = 1)`\n\n- called 4 times: 8 layers");
    const call = doc.hover(at(BLOCKS, "dws 32"))!.contents.value;
    expect(call).toContain("**`dws 32 s=2`** · 32x32x16 → 16x16x32 · 2 layers");
    const broken = BLOCKS.replace("fc classes", "fc classes @");
    expect(languageDocument(broken).hover(at(broken, "dw 3x3"))!.contents.value).toBe("`dw kernel [stride=] [dilation=] [act=] [norm=] [pad=]`\n\n(no layers: the document has errors)");
  });

  it("answers on every truncation and garbling of every example without failing", () => {
    for (const file of exampleFiles()) {
      const full = example(file);
      for (let cut = 0; cut < full.length; cut += 97) {
        const text = full.slice(0, cut) + (cut % 2 === 0 ? "" : " =( x@ ") + full.slice(cut + (cut % 5));
        const doc = languageDocument(text);
        const lines = text.split("\n");
        for (let k = 0; k < 4; k++) {
          const line = (cut * 7 + k * 13) % lines.length;
          const p = { line, character: (cut + k * 5) % (lines[line]!.length + 1) };
          expect(() => [doc.hover(p), doc.definition(p), doc.completion(p), doc.documentSymbols()], `${file} cut ${cut} at ${line}:${p.character}`).not.toThrow();
        }
      }
    }
  }, 60_000);

  it("counts lines as mnc does, whatever ends them", () => {
    const lf = "network N {\n  input 8x8x3\n  pw 8 act=relu7\n}\n";
    const expected = languageDocument(lf).diagnostics;
    expect(expected.map((d) => [d.code, d.range.start])).toEqual([["MN2007", { line: 2, character: 11 }]]);
    expect(languageDocument(lf.replace(/\n/g, "\r\n")).diagnostics).toEqual(expected);
    expect(languageDocument(lf.replace(/\n/g, "\r")).diagnostics).toEqual(expected);
    const crlf = lf.replace("relu7", "relu6").replace(/\n/g, "\r\n");
    expect(languageDocument(crlf).hover({ line: 1, character: 4 })!.contents.value).toContain("**input** · `input` · 8x8x3");
  });

  it("definition: a block's use → its declaration; a tensor's name → the statement that names it; a parameter → its declaration", () => {
    const doc = languageDocument(BLOCKS);
    const lines = (r: { start: Position; end: Position }): number[] => [r.start.line, r.start.character, r.end.line, r.end.character];
    const block = doc.definition(at(BLOCKS, "dws 64", 1))!;
    expect(lines(block.selectionRange)).toEqual([0, 6, 0, 9]);
    expect(lines(block.range)).toEqual([0, 0, 3, 1]);
    const deep = doc.definition(at(BLOCKS, "add deep", 5))!;
    expect(lines(deep.selectionRange)).toEqual([9, 2, 9, 6]);
    expect(lines(deep.range)).toEqual([9, 2, 9, 15]);
    const classes = doc.definition(at(BLOCKS, "fc classes", 4))!;
    expect(lines(classes.selectionRange)).toEqual([5, 12, 5, 19]);
    const s = doc.definition(at(BLOCKS, "stride=s", 7))!;
    expect(lines(s.selectionRange)).toEqual([0, 13, 0, 14]);
    expect(doc.definition(at(BLOCKS, "conv 3x3"))).toBeUndefined();
    // A graph example: the operand of concat and the target of resize.
    const deeplab = example("deeplabv3_mobilenet_v2.mn");
    const d = languageDocument(deeplab);
    expect(d.definition(at(deeplab, "concat aspp0", 7))!.selectionRange.start).toEqual(at(deeplab, "aspp0 = pw"));
    expect(d.definition(at(deeplab, "to=features", 3))!.selectionRange.start).toEqual(at(deeplab, "features = bottleneck"));
    expect(d.definition(at(deeplab, "to=image", 3))!.selectionRange.start).toEqual(at(deeplab, "image = input"));
    const outputs = "network N {\n  image = input 8x8x3\n  feat = pw 8\n  scores = pw 4\n  output feat scores\n}\n";
    const o = languageDocument(outputs);
    expect(o.diagnostics).toEqual([]);
    expect(o.definition(at(outputs, "output feat", 8))!.selectionRange.start).toEqual(at(outputs, "feat = pw"));
    expect(o.definition(at(outputs, "feat scores", 6))!.selectionRange.start).toEqual(at(outputs, "scores = pw"));
    // A tensor passed to a block by name: the block's parameter.
    const passed = "block gate(skip) {\n  mul skip\n}\nnetwork N {\n  input 8x8x3\n  s = pw 8\n  pw 8\n  gate s\n}\n";
    const g = languageDocument(passed);
    expect(g.diagnostics).toEqual([]);
    expect(g.definition(at(passed, "mul skip", 4))!.selectionRange.start).toEqual(at(passed, "skip)"));
    expect(g.definition(at(passed, "gate s", 5))!.selectionRange.start).toEqual(at(passed, "s = pw"));
    expect(labels(g.completion(at(passed, "mul skip", 4)))).toEqual(["skip", "from="]);
  });

  it("completion: ops, statements and blocks at a statement's start; options after it; an option's values after '='", () => {
    const doc = (text: string) => languageDocument(text);
    const start = "block b(n) { pw n }\nnetwork N {\n  input 8x8x3\n  \n}\n";
    expect(labels(doc(start).completion({ line: 3, character: 2 }))).toEqual([...BUILTINS.keys(), ...STRUCTURAL, "b"]);
    expect(labels(doc(start).completion({ line: 5, character: 0 }))).toEqual(["network", "block"]);
    expect(labels(doc(start).completion({ line: 4, character: 1 }))).toEqual([]);
    const withText = (line: string): string[] => {
      const text = `block b(n) { pw n }\nnetwork N(classes = 10) {\n  input 8x8x3\n  skip = pw 8\n  ${line}\n}\n`;
      return labels(doc(text).completion({ line: 4, character: 2 + line.length }));
    };
    expect(withText("conv 3x3 8 act=")).toEqual([...ACTIVATIONS]);
    expect(withText("conv 3x3 8 act=rel")).toEqual([...ACTIVATIONS]);
    expect(withText("pw 8 pad=")).toEqual([...PADDINGS]);
    expect(withText("resize 2 coords=")).toEqual([...RESIZE_COORDS]);
    expect(withText("pw 8 norm=")).toEqual([...OPTION_WORDS["norm"]!]);
    expect(withText("pw 8 width=")).toEqual(["fixed", "grow", "classes"]);
    expect(withText("defaults act=")).toEqual([...ACTIVATIONS]);
    expect(withText("pw 8 from=")).toEqual(["skip"]);
    expect(withText("fc ")).toEqual(["units=", "from=", "classes"]);
    expect(withText("fc 10 ")).toEqual(["units=", "from="]);
    expect(withText("fc 2 * ")).toEqual(["classes"]);
    expect(withText("conv 3x3 8 stride=2 ")).toEqual(["kernel=", "filters=", "dilation=", "act=", "norm=", "pad=", "width=", "from="]);
    expect(withText("add ")).toEqual(["skip", "from="]);
    expect(withText("b ")).toEqual(["n=", "from=", "classes"]);
    expect(withText("defaults ")).toEqual(Object.keys(DEFAULTABLE).map((k) => `${k}=`));
    expect(withText("output ")).toEqual(["skip"]);
    expect(withText("conv 3x3 8 # act=")).toEqual([]);
    const width = "network N {\n  input 8x8x3\n  width 0.5 rounding=\n}\n";
    expect(labels(doc(width).completion({ line: 2, character: 21 }))).toEqual([...WIDTH_ROUNDINGS]);
    // Scopes: a repeat's own names end with it.
    const scoped = "network N {\n  input 8x8x3\n  a = pw 8\n  repeat 2 { inner = pw 8; add a }\n  b = pw 8\n  add \n}\n";
    expect(labels(doc(scoped).completion({ line: 5, character: 6 }))).toEqual(["b", "a", FROM + "="]);
  });

  it("completion and symbols work on a document with syntax errors", () => {
    const broken = "block b(n) {\n  pw n\n}\nnetwork N {\n  input 8x8x3\n  conv 3x3 8 stride=\n  pw 8 act=\n";
    const doc = languageDocument(broken);
    expect(doc.diagnostics.length).toBeGreaterThan(0);
    expect(labels(doc.completion({ line: 6, character: 11 }))).toEqual([...ACTIVATIONS]);
    expect(doc.documentSymbols().map((s) => [s.name, s.detail, s.children.map((c) => c.name)])).toEqual([
      ["b", "block(n)", ["pw"]],
      ["N", "network", ["input", "conv", "pw"]],
    ]);
    expect(doc.definition({ line: 3, character: 9 })).toBeUndefined();
  });

  it("document symbols: networks and blocks, their statements as children, bodies nested", () => {
    const syms = languageDocument(BLOCKS).documentSymbols();
    expect(syms.map((s) => [s.name, s.kind, s.detail])).toEqual([
      ["dws", 12, "block(c, s = 1)"],
      ["Net", 5, "network(classes = 10)"],
    ]);
    const net = syms[1]!;
    expect(net.children.map((c) => `${c.name} ${c.detail}`)).toEqual(["input 64x64x3", "stem = conv 3x3 16 stride=2", "dws 32 s=2", "deep = dws 64", "repeat 2", "add deep", "avgpool global", "fc classes"]);
    expect(net.children[4]!.children.map((c) => c.name)).toEqual(["dws"]);
    expect(net.selectionRange).toEqual({ start: { line: 5, character: 8 }, end: { line: 5, character: 11 } });
  });
});

// ── the TextMate grammar ──────────────────────────────────────────────────

interface Rule {
  match?: string;
  begin?: string;
  end?: string;
  name?: string;
  include?: string;
  captures?: Record<string, { name: string }>;
  patterns?: Rule[];
}
const vscodeDir = join(root, "editors", "vscode");
const grammar = JSON.parse(readFileSync(join(vscodeDir, "syntaxes", "mn.tmLanguage.json"), "utf8")) as { scopeName: string; patterns: Rule[]; repository: Record<string, Rule> };

/** Every rule of the grammar, included ones resolved, in the order a tokenizer tries them. */
function rules(list: readonly Rule[]): Rule[] {
  return list.flatMap((r) => (r.include !== undefined ? rules([grammar.repository[r.include.slice(1)]!]) : r.patterns !== undefined ? rules(r.patterns) : [r]));
}

/** A tiny TextMate tokenizer for grammars of `match` rules: the earliest match wins, the first rule on a tie. */
function tokenize(line: string): { text: string; scope: string }[] {
  const compiled = rules(grammar.patterns).map((r) => ({ rule: r, re: new RegExp(r.match!, "dg") }));
  const tokens: { text: string; scope: string }[] = [];
  let pos = 0;
  while (pos < line.length) {
    let best: { rule: Rule; m: RegExpExecArray } | undefined;
    for (const { rule, re } of compiled) {
      re.lastIndex = pos;
      const m = re.exec(line);
      if (m !== null && m[0].length > 0 && (best === undefined || m.index < best.m.index)) best = { rule, m };
    }
    if (best === undefined) break;
    const { rule, m } = best;
    if (rule.name !== undefined) tokens.push({ text: m[0], scope: rule.name });
    for (const [k, c] of Object.entries(rule.captures ?? {})) {
      const span = m.indices![Number(k)];
      if (span !== undefined) tokens.push({ text: line.slice(span[0], span[1]), scope: c.name });
    }
    pos = m.index + m[0].length;
  }
  return tokens;
}

describe("the TextMate grammar", () => {
  it("every match, begin and end compiles as a JavaScript RegExp (the grammar keeps to what Oniguruma and JavaScript share)", () => {
    const all: string[] = [];
    const visit = (r: Rule): void => {
      for (const k of ["match", "begin", "end"] as const) if (r[k] !== undefined) all.push(r[k]!);
      r.patterns?.forEach(visit);
    };
    grammar.patterns.forEach(visit);
    Object.values(grammar.repository).forEach(visit);
    expect(all.length).toBeGreaterThan(10);
    for (const source of all) {
      expect(() => new RegExp(source, "u"), source).not.toThrow();
      // Oniguruma-only syntax JavaScript reads differently: \h, \A, \z, \G, possessive quantifiers, (?x).
      expect(source, source).not.toMatch(/\\[hAzZG]|[*+?]\+|\(\?[imx]/);
    }
  });

  it("its op and statement names are the compiler's, and its words include every option's", () => {
    const statement = grammar.repository["statement"]!.match!;
    const alternatives = [...statement.matchAll(/\(((?:[a-z0-9]+\|)+[a-z0-9]+)\)/g)].map((m) => m[1]!.split("|"));
    expect(alternatives).toContainEqual([...STRUCTURAL]);
    expect(alternatives).toContainEqual([...BUILTINS.keys()]);
    const words = new RegExp(grammar.repository["word"]!.match!);
    for (const w of Object.values(OPTION_WORDS).flat()) expect(`x ${w} y`).toMatch(words);
  });

  it("highlights every example: comments, declarations, each statement's name by what it is, options, shapes and numbers", () => {
    for (const file of exampleFiles()) {
      const text = example(file);
      const doc = languageDocument(text);
      const blocks = new Set(doc.documentSymbols().filter((s) => s.kind === 12).map((s) => s.name));
      const heads = new Map<number, string[]>();
      for (const s of doc.analysis.outline.declarations.flatMap((d) => [...allHeads(d.body)])) {
        const p = doc.analysis.lines.positionAt(s.start);
        heads.set(p.line, [...(heads.get(p.line) ?? []), s.name]);
      }
      text.split("\n").forEach((line, i) => {
        const tokens = tokenize(line);
        const scopes = (scope: string): string[] => tokens.filter((t) => t.scope === scope).map((t) => t.text);
        const comment = line.indexOf("#");
        if (comment >= 0) expect(scopes("comment.line.number-sign.mn"), `${file}:${i + 1}`).toEqual([line.slice(comment)]);
        const code = comment >= 0 ? line.slice(0, comment) : line;
        for (const kw of code.match(/\b(network|block)\b/g) ?? []) expect(scopes("keyword.declaration.mn")).toContain(kw);
        for (const name of heads.get(i) ?? []) {
          const scope = BUILTINS.has(name) ? "support.function.op.mn" : (STRUCTURAL as readonly string[]).includes(name) ? "keyword.control.statement.mn" : "entity.name.function.block.mn";
          if (scope === "entity.name.function.block.mn") expect(blocks.has(name), `${file}:${i + 1}: ${name}`).toBe(true);
          expect(scopes(scope), `${file}:${i + 1}: ${name}`).toContain(name);
        }
        for (const m of code.matchAll(/\b([a-z]+)=/g)) expect(scopes("variable.parameter.option.mn"), `${file}:${i + 1}`).toContain(m[1]);
        for (const m of code.matchAll(/(?<![\w.])\d+(?:x\d+)+(?![\w.])/g)) expect(scopes("constant.numeric.shape.mn"), `${file}:${i + 1}`).toContain(m[0]);
      });
    }
  });

  it("the extension's manifest contributes the language, the grammar and a language configuration that exist", () => {
    const pkg = JSON.parse(readFileSync(join(vscodeDir, "package.json"), "utf8")) as {
      main: string;
      dependencies: Record<string, string>;
      contributes: { languages: { id: string; extensions: string[]; configuration: string }[]; grammars: { language: string; scopeName: string; path: string }[] };
    };
    expect(pkg.contributes.languages[0]).toMatchObject({ id: "mn", extensions: [".mn"] });
    expect(pkg.contributes.grammars[0]).toMatchObject({ language: "mn", scopeName: grammar.scopeName });
    expect(Object.keys(pkg.dependencies)).toEqual(["vscode-languageclient"]);
    const config = JSON.parse(readFileSync(join(vscodeDir, pkg.contributes.languages[0]!.configuration), "utf8")) as { comments: { lineComment: string }; brackets: string[][] };
    expect(config.comments.lineComment).toBe("#");
    expect(config.brackets).toEqual([["{", "}"], ["(", ")"]]);
    expect(readFileSync(join(vscodeDir, pkg.contributes.grammars[0]!.path), "utf8").length).toBeGreaterThan(0);
    const extension = readFileSync(join(vscodeDir, pkg.main), "utf8");
    expect(extension).toContain('require("vscode-languageclient/node")');
    expect(extension).toContain('["lsp"');
    expect(spawnSync(process.execPath, ["--check", join(vscodeDir, pkg.main)]).status).toBe(0);
  });
});

function* allHeads(body: { statements: readonly { start: number; name: { text: string }; body?: unknown }[] } | undefined): Generator<{ start: number; name: string }> {
  if (body === undefined) return;
  for (const s of body.statements) {
    yield { start: s.start, name: s.name.text };
    yield* allHeads(s.body as never);
  }
}

// ── mnc lsp over stdio ────────────────────────────────────────────────────

interface Message {
  jsonrpc: "2.0";
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

/** A language client: Content-Length framing both ways; every byte the server writes must be a framed message. */
class Client {
  readonly server: ChildProcessWithoutNullStreams;
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly waiting: { test: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  readonly received: Message[] = [];
  readonly exited: Promise<number | null>;
  stderr = "";

  constructor(args: string[] = []) {
    this.server = spawn(process.execPath, [join(root, "dist", "mnc.js"), "lsp", ...args], { cwd: root });
    this.server.stdout.on("data", (d: Buffer) => this.read(d));
    this.server.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.server.on("exit", (code) => resolve(code)));
  }

  private read(data: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, data]);
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const header = this.buffer.subarray(0, end).toString("ascii");
      const m = /^Content-Length: (\d+)$/.exec(header);
      if (m === null) throw new Error(`not a message header: ${JSON.stringify(header)}`);
      const length = Number(m[1]);
      if (this.buffer.length < end + 4 + length) return;
      const message = JSON.parse(this.buffer.subarray(end + 4, end + 4 + length).toString("utf8")) as Message;
      this.buffer = this.buffer.subarray(end + 4 + length);
      this.received.push(message);
      const i = this.waiting.findIndex((w) => w.test(message));
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(message);
    }
  }

  private write(message: object): void {
    const body = JSON.stringify({ jsonrpc: "2.0", ...message });
    this.server.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  /** The first message (already received or to come) that passes `test`. */
  next(test: (m: Message) => boolean): Promise<Message> {
    const seen = this.received.findIndex(test);
    if (seen >= 0) return Promise.resolve(this.received.splice(seen, 1)[0]!);
    return new Promise((resolve) => this.waiting.push({ test, resolve: (m) => (this.received.splice(this.received.indexOf(m), 1), resolve(m)) }));
  }

  async request<T>(method: string, params: unknown): Promise<T> {
    const id = this.nextId++;
    this.write({ id, method, params });
    const reply = await this.next((m) => m.id === id && m.method === undefined);
    if (reply.error !== undefined) throw new Error(JSON.stringify(reply.error));
    return reply.result as T;
  }

  notify(method: string, params: unknown): void {
    this.write({ method, params });
  }

  diagnostics(uri: string, version: number): Promise<{ version: number; diagnostics: { range: unknown; code: string; severity: number; source: string; message: string; relatedInformation?: unknown[] }[] }> {
    return this.next((m) => m.method === "textDocument/publishDiagnostics" && (m.params as { uri: string; version?: number }).uri === uri && (m.params as { version?: number }).version === version).then((m) => m.params as never);
  }
}

describe("mnc lsp", () => {
  const uri = pathToFileURL(join(root, "examples", "mobilenet_v1.mn")).href;
  const source = example("mobilenet_v1.mn");
  const broken = source.replace("conv 3x3 32 stride=2", "conv 3x3 32 strde=2");
  let client: Client;

  beforeAll(async () => {
    client = new Client(["--stdio"]);
    const init = await client.request<{ capabilities: Record<string, unknown>; serverInfo: { name: string } }>("initialize", { processId: null, rootUri: null, capabilities: {} });
    expect(init.capabilities).toEqual({
      textDocumentSync: 1,
      hoverProvider: true,
      definitionProvider: true,
      completionProvider: { triggerCharacters: ["=", " "] },
      documentSymbolProvider: true,
    });
    expect(init.serverInfo.name).toBe("mnc");
    client.notify("initialized", {});
  }, 60_000);

  afterAll(() => {
    if (client.server.exitCode === null) client.server.kill();
  });

  it("publishes the located diagnostic when a document with an error opens, and none once a change fixes it", async () => {
    client.notify("textDocument/didOpen", { textDocument: { uri, languageId: "mn", version: 1, text: broken } });
    const opened = await client.diagnostics(uri, 1);
    const line = at(broken, "strde=2").line;
    expect(opened.diagnostics).toEqual([
      {
        range: { start: { line, character: 14 }, end: { line, character: 19 } },
        severity: 1,
        code: "MN2003",
        source: "mnc",
        message: "'conv' has no argument 'strde'; did you mean 'stride'?",
      },
    ]);
    // A note of the diagnostic is its related information, in the same document.
    const twice = source.replace("conv 3x3 32 stride=2", "conv 3x3 32 stride=2 stride=1");
    client.notify("textDocument/didChange", { textDocument: { uri, version: 2 }, contentChanges: [{ text: twice }] });
    const related = (await client.diagnostics(uri, 2)).diagnostics;
    expect(related.map((d) => [d.code, d.relatedInformation])).toEqual([
      ["MN2006", [{ location: { uri, range: { start: { line, character: 14 }, end: { line, character: 22 } } }, message: "first given here" }]],
    ]);
    client.notify("textDocument/didChange", { textDocument: { uri, version: 3 }, contentChanges: [{ text: source }] });
    expect((await client.diagnostics(uri, 3)).diagnostics).toEqual([]);
  }, 30_000);

  it("answers hover with mnc report's figures, definition, completion and document symbols", async () => {
    const hover = await client.request<{ contents: { kind: string; value: string } }>("textDocument/hover", { textDocument: { uri }, position: at(source, "separable 64") });
    const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "report", "examples/mobilenet_v1.mn", "--format", "json"], { cwd: root, encoding: "utf8" });
    const layers = (JSON.parse(r.stdout) as { layers: { name: string; multAdds: number; params: number }[] }).layers;
    expect(hover.contents.kind).toBe("markdown");
    for (const name of ["sep_1.dw", "sep_1.pw"]) {
      const l = layers.find((x) => x.name === name)!;
      expect(hover.contents.value).toContain(`| ${name} | ${name.endsWith("dw") ? "dw 3x3" : "pw"} | `);
      expect(hover.contents.value).toMatch(new RegExp(`\\| ${name.replace(".", "\\.")} .*\\| ${group(l.multAdds)} \\| ${group(l.params)} \\|`));
    }

    const blockUri = "untitled:blocks.mn";
    client.notify("textDocument/didOpen", { textDocument: { uri: blockUri, languageId: "mn", version: 1, text: BLOCKS } });
    expect((await client.diagnostics(blockUri, 1)).diagnostics).toEqual([]);
    const definition = await client.request<{ uri: string; range: unknown }>("textDocument/definition", { textDocument: { uri: blockUri }, position: at(BLOCKS, "dws 64") });
    expect(definition).toEqual({ uri: blockUri, range: { start: { line: 0, character: 6 }, end: { line: 0, character: 9 } } });

    const edited = BLOCKS.replace("fc classes", "fc classes\n  pw 8 act=");
    client.notify("textDocument/didChange", { textDocument: { uri: blockUri, version: 2 }, contentChanges: [{ text: edited }] });
    const completion = await client.request<{ label: string; kind: number }[]>("textDocument/completion", { textDocument: { uri: blockUri }, position: at(edited, "act=", 4) });
    expect(completion.map((c) => c.label)).toEqual([...ACTIVATIONS]);

    const symbols = await client.request<{ name: string; kind: number; children: { name: string }[] }[]>("textDocument/documentSymbol", { textDocument: { uri } });
    expect(symbols.map((s) => [s.name, s.kind])).toEqual([["MobileNetV1", 5]]);
    expect(symbols[0]!.children.slice(0, 3).map((c) => c.name)).toEqual(["input", "width", "conv"]);

    client.notify("textDocument/didClose", { textDocument: { uri: blockUri } });
    expect((await client.next((m) => m.method === "textDocument/publishDiagnostics" && (m.params as { uri: string }).uri === blockUri && (m.params as { version?: number }).version === undefined)).params).toEqual({ uri: blockUri, diagnostics: [] });
  }, 60_000);

  it("exits 0 after shutdown and exit, having written nothing but protocol messages", async () => {
    expect(await client.request("shutdown", null)).toBeNull();
    client.notify("exit", null);
    expect(await client.exited).toBe(0);
    expect(client.stderr).toBe("");
  }, 30_000);

  it("takes mnc check's options (and the arguments clients add); ends when its input ends (status 1 without a shutdown, as the protocol says)", async () => {
    const c = new Client(["--alpha", "0.5", "--stdio", `--clientProcessId=${process.pid}`]);
    await c.request("initialize", { processId: null, rootUri: null, capabilities: {} });
    c.notify("initialized", {});
    c.notify("textDocument/didOpen", { textDocument: { uri, languageId: "mn", version: 1, text: source } });
    expect((await c.diagnostics(uri, 1)).diagnostics).toEqual([]);
    const hover = await c.request<{ contents: { value: string } }>("textDocument/hover", { textDocument: { uri }, position: at(source, "conv 3x3 32") });
    expect(hover.contents.value).toContain("- width: 32 × α 0.5 → 16");
    expect(hover.contents.value).toContain(`- mult-adds: ${group(reportLayer(source, "conv_0", { alpha: 0.5 }).multAdds)} `);
    c.server.stdin.end();
    expect(await c.exited).toBe(1);
  }, 30_000);

  it("has its help, and is listed in mnc's; refuses a FILE and unknown options as usage errors (exit 2)", () => {
    const help = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "lsp", "--help"], { encoding: "utf8" });
    expect([help.status, help.stdout.split("\n")[0]]).toEqual([0, "Usage: mnc lsp [options]"]);
    expect(help.stdout).toContain("--alpha A");
    expect(spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "--help"], { encoding: "utf8" }).stdout).toMatch(/^  mnc lsp {2,}the language server/m);
    const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "lsp", "net.mn"], { encoding: "utf8" });
    expect([r.status, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toContain("lsp: takes no FILE");
    expect(spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "lsp", "--emit", "ts"], { encoding: "utf8" }).status).toBe(2);
  }, 30_000);
});
