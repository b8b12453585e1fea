/**
 * What reaches the terminal: control characters from anything the user
 * supplies (source text, file names, --network, tensor names in weight files,
 * option values, paths) are shown escaped, never raw; and files with "\r\n",
 * lone "\r" or mixed line endings are numbered and quoted as an editor shows
 * them, caret under the right column, no stray "\r".
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { error, type Diagnostic } from "../src/ir/diagnostics.js";
import { escapeControls, renderDiagnostic } from "../src/ir/render.js";
import { lineColumn, lineText, spanAt } from "../src/ir/span.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import { buildModel } from "../src/emit/onnx/index.js";
import { root } from "./helpers.js";
import { OP, TfliteNet, TYPE } from "./tflite-builder.js";

/** Any character a terminal would act on rather than show (tab and newline allowed where said). */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const RAW_OR_TAB_OR_NL = /[\u0000-\u001f\u007f-\u009f]/;
/** Rendered diagnostics are lines joined by "\n": nothing else may be a control. */
const RAW_BUT_NL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const ESC = "\u001b";

function rendered(source: string, options: CompileOptions = {}): string {
  const r = compile(source, { file: "t.mn", ...options });
  expect(r.diagnostics.length).toBeGreaterThan(0);
  return r.diagnostics.map((d) => renderDiagnostic(d, source)).join("\n");
}

describe("escapeControls", () => {
  it("writes C0, DEL and C1 controls as \\xNN and leaves everything else alone", () => {
    expect(escapeControls(`a${ESC}[31mb`)).toBe("a\\x1b[31mb");
    expect(escapeControls("\u0000\u0007\b\t\n\r\u007f\u0080\u009b\u009f")).toBe("\\x00\\x07\\x08\\x09\\x0a\\x0d\\x7f\\x80\\x9b\\x9f");
    expect(escapeControls("tab\there\nnl\r", "\t\n")).toBe("tab\there\nnl\\x0d");
    expect(escapeControls("é ü \\x1b ∑ \u00a0 \u2028 😀")).toBe("é ü \\x1b ∑ \u00a0 \u2028 😀");
  });

  it("leaves no control but the kept ones, for any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (s) => {
        expect(escapeControls(s)).not.toMatch(RAW_OR_TAB_OR_NL);
        expect(escapeControls(s, "\t\n")).not.toMatch(RAW);
        // Text without controls is unchanged.
        if (!RAW_OR_TAB_OR_NL.test(s)) expect(escapeControls(s)).toBe(s);
      }),
      { seed: 14, numRuns: 300 },
    );
  });
});

describe("renderDiagnostic escapes every user string", () => {
  it("a control character in the source: the message quotes it escaped, the excerpt shows it escaped, the caret stays under it", () => {
    const source = `network N {\n  input 8x8x3\n  pw 4 ${ESC}[2J\n}\n`;
    const out = rendered(source);
    expect(out).not.toMatch(RAW);
    expect(out).toContain("t.mn:3:8: error MN1001");
    expect(out).toContain("\\x1b");
    const lines = out.split("\n");
    expect(lines[1]).toBe("  3 |   pw 4 \\x1b[2J");
    // The caret starts under the escape: column 8 of the source, 8 in the shown text too.
    // The span is the two characters the lexer refused, ESC and '[': five characters shown.
    expect(lines[2]).toBe("    |        ^~~~~");
    expect(lines[0]).toContain("unexpected character '\\x1b['");
  });

  it("a control character before the error on its line moves the caret by its escaped width", () => {
    const source = `network N {\n  input 8x8x3\n  conv 3x3 8 stride=0 # ${ESC}[31mred\n}\n`;
    // A comment with a control after the error: the excerpt shows it escaped, the caret is where it was.
    const after = rendered(`network N {\n  input 8x8x3\n  conv 3x3 8 stride=0 # ${ESC}[31m\n}\n`).split("\n");
    expect(after.slice(1)).toEqual(["  3 |   conv 3x3 8 stride=0 # \\x1b[31m", "    |                     ^"]);
    const d: Diagnostic = error("unexpectedCharacter", spanAt("t.mn", source, source.indexOf("red"), source.indexOf("red") + 3), "red");
    const [, line, caret] = renderDiagnostic(d, source).split("\n");
    expect(line).toBe("  3 |   conv 3x3 8 stride=0 # \\x1b[31mred");
    expect(caret!.indexOf("^") - 6).toBe(line!.indexOf("red") - 6);
    expect(caret!.endsWith("^~~")).toBe(true);
  });

  it("tabs in the source line are kept, and copied into the caret line", () => {
    const source = "network N {\n\tinput 8x8x3\n\tconv 3x3 8 stride=0\n}\n";
    const [, line, caret] = rendered(source).split("\n");
    expect(line).toBe("  3 | \tconv 3x3 8 stride=0");
    expect(caret).toBe("    | \t                  ^");
  });

  it("--network NAME with controls", () => {
    const source = "network Big {\n  input 8x8x3\n  pw 8\n}\nnetwork Small {\n  input 8x8x3\n  pw 4\n}\n";
    const out = rendered(source, { network: `Sm${ESC}]0;owned\u0007\r\nall` });
    expect(out).not.toMatch(RAW_OR_TAB_OR_NL);
    expect(out).toContain("no network named 'Sm\\x1b]0;owned\\x07\\x0d\\x0aall'");
    expect(out.split("\n")).toHaveLength(1);
  });

  it("tensor names in a weight file", () => {
    const weights = writeSafetensors([
      { name: "pw_0.weight", shape: [4, 3, 1, 1], data: new Float32Array(12) },
      { name: "pw_0.bias", shape: [4], data: new Float32Array(4) },
      { name: `evil${ESC}[8m\u009b1;1H`, shape: [1], data: new Float32Array(1) },
    ]);
    const out = rendered("network N {\n  input 8x8x3\n  pw 4 norm=none\n}\n", { weights, weightsFile: `w${ESC}.safetensors` });
    expect(out).toContain("MN4004");
    expect(out).toContain("evil\\x1b[8m\\x9b1;1H");
    expect(out).not.toMatch(RAW_BUT_NL);
  });

  it("tensor names in a TFLite file", () => {
    const net = new TfliteNet();
    const x = net.tensor("input", [1, 1, 1, 3]);
    const w = net.constant("fc/weights", [2, 3], TYPE.FLOAT32, [1, 2, 3, 4, 5, 6]);
    const y = net.tensor("logits", [1, 2]);
    net.op(OP.FULLY_CONNECTED, [x, w], [y]);
    const z = net.tensor(`tanh${ESC}]52;c;bad\u0007`, [1, 2]);
    net.op(OP.TANH, [y], [z]);
    const out = rendered("network N {\n  input 1x1x3\n  fc 2\n}\n", { weights: net.build([x], [z]), weightsFile: "t.tflite" });
    expect(out).toContain("MN4009");
    expect(out).toContain("'tanh\\x1b]52;c;bad\\x07'");
    expect(out).not.toMatch(RAW_BUT_NL);
  });

  it("the file name in the location, and related notes", () => {
    const source = "network N {\n  input 8x8x3\n  pw 4\n}\nnetwork N {\n  input 8x8x3\n  pw 8\n}\n";
    const r = compile(source, { file: `a${ESC}[1m.mn` });
    const out = r.diagnostics.map((d) => renderDiagnostic(d, source)).join("\n");
    expect(out).toContain("a\\x1b[1m.mn:5:9: error MN2010");
    expect(out).not.toMatch(RAW_BUT_NL);
    const note: Diagnostic = { ...r.diagnostics[0]!, related: [{ message: `see ${ESC}`, span: r.diagnostics[0]!.span }, { message: `and ${ESC}` }] };
    const withNotes = renderDiagnostic(note, source);
    expect(withNotes).toContain(": note: see \\x1b");
    expect(withNotes).toContain("mnc: note: and \\x1b");
    expect(withNotes).not.toMatch(RAW);
  });
});

describe("the mnc executable escapes what it writes to standard error", () => {
  const work = mkdtempSync(join(tmpdir(), "mnc-terminal-"));
  const mnc = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: work, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const net = join(work, "net.mn");
  writeFileSync(net, "network N {\n  input 8x8x3\n  pw 4\n}\n");

  it.each([
    ["an unreadable path", [`missing${ESC}[2J.mn`], 1, "cannot read 'missing\\x1b[2J.mn'"],
    ["--network", ["--network", `X${ESC}[2J`, net], 1, "no network named 'X\\x1b[2J'"],
    ["an option value", ["--width-rounding", `x${ESC}[2J`, net], 2, "not 'x\\x1b[2J'"],
    ["--set", ["--set", `a${ESC}[2J`, net], 2, "not 'a\\x1b[2J'"],
    ["an unknown option", [`--x${ESC}[2J`, net], 2, "x\\x1b[2J"],
  ])("%s", (_what, args, status, expected) => {
    const r = mnc("check", ...(args as string[]));
    expect(r.status).toBe(status);
    expect(r.stderr).toContain(expected);
    expect(r.stderr).not.toMatch(RAW);
  });

  it("paths and labels on standard output", () => {
    const odd = join(work, `n${ESC}[2J.mn`);
    writeFileSync(odd, "network N {\n  input 4x4x3\n  avgpool global\n  fc 3\n  softmax\n}\n");
    const checked = mnc("check", odd);
    expect(checked.status).toBe(0);
    expect(checked.stdout).toContain("n\\x1b[2J.mn: ok (N)");
    writeFileSync(join(work, "labels.txt"), `cat${ESC}[31m\ndog\u009b\nfox\n`);
    writeFileSync(join(work, `in${ESC}.bin`), new Uint8Array(48));
    const ran = mnc("run", odd, "--input", `in${ESC}.bin`, "--labels", "labels.txt", "--top", "3");
    expect(ran.status).toBe(0);
    expect(ran.stdout).toContain("in\\x1b.bin: N");
    expect(ran.stdout).toContain("cat\\x1b[31m");
    expect(ran.stdout).toContain("dog\\x9b");
    expect(ran.stdout).not.toMatch(RAW);
  });

  it("an unknown command", () => {
    const r = mnc(`chek${ESC}[2J`);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'chek\\x1b[2J'");
    expect(r.stderr).not.toMatch(RAW);
  });
});

describe("line endings", () => {
  // The error is on line 3, column 21 (stride=0's value) in every variant.
  const variants: [string, string][] = [
    ["\\n", "network N {\n  input 8x8x3\n  conv 3x3 8 stride=0\n}\n"],
    ["\\r\\n", "network N {\r\n  input 8x8x3\r\n  conv 3x3 8 stride=0\r\n}\r\n"],
    ["lone \\r", "network N {\r  input 8x8x3\r  conv 3x3 8 stride=0\r}\r"],
    ["mixed", "network N {\r\n  input 8x8x3\r  conv 3x3 8 stride=0\n}\r\n"],
    ["mixed, \\n then \\r", "network N {\n  input 8x8x3\r  conv 3x3 8 stride=0\r\n}\r"],
  ];

  it.each(variants)("%s: the line, the column and the excerpt", (_name, source) => {
    const out = rendered(source);
    expect(out.split("\n")).toEqual([
      "t.mn:3:21: error MN3001: conv's stride must be a positive integer, not 0",
      "  3 |   conv 3x3 8 stride=0",
      "    |                     ^",
    ]);
    expect(out).not.toContain("\r");
  });

  it.each(variants)("%s: a lexer error (located from the offset) on line 3", (_name, source) => {
    const bad = source.replace("stride=0", "stride=0 $");
    const out = rendered(bad);
    expect(out.split("\n")).toEqual([
      "t.mn:3:23: error MN1001: unexpected character '$'",
      "  3 |   conv 3x3 8 stride=0 $",
      "    |                       ^",
    ]);
  });

  it.each(variants)("%s: an unterminated network is located at its last character", (_name, source) => {
    const cut = source.replace(/\}[\r\n]*$/, "");
    const out = rendered(cut);
    expect(out.split("\n")[0]).toMatch(/^t\.mn:3:21: error MN1003/);
    expect(out).not.toContain("\r");
  });

  it.each(variants)("%s: the ONNX model's node doc strings quote the node's own line", (_name, source) => {
    const text = source.replace("stride=0", "stride=2");
    const r = compile(text, { file: "t.mn" });
    expect(r.diagnostics).toEqual([]);
    const model = buildModel({ graph: r.graph!, costs: r.costs! }, { sourceFile: "t.mn", sourceText: text }) as { graph: { node: { docString?: string }[] } };
    const docs = model.graph.node.map((n) => n.docString ?? "").filter((d) => d.startsWith("t.mn:3:"));
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) expect(d).toBe("t.mn:3:3: conv 3x3 8 stride=2");
  });

  it("lineColumn and lineText agree with splitting on every terminator", () => {
    const piece = fc.constantFrom("a", "bc", " ", "\t", "\n", "\r", "\r\n");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), (pieces) => {
        const text = pieces.join("");
        const lines = text.split(/\r\n|\r|\n/);
        lines.forEach((l, i) => expect(lineText(text, i + 1)).toBe(l));
        expect(lineText(text, lines.length + 1)).toBeUndefined();
        // Every offset that is not inside a terminator maps to the line and column an editor shows.
        let offset = 0;
        lines.forEach((l, i) => {
          for (let c = 0; c <= l.length; c++) expect(lineColumn(text, offset + c)).toEqual({ line: i + 1, column: c + 1 });
          offset += l.length + (text.startsWith("\r\n", offset + l.length) ? 2 : 1);
        });
      }),
      { seed: 3, numRuns: 300 },
    );
  });
});
