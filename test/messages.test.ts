/**
 * Messages that say how to fix the input: Keras and PyTorch spellings, lists of
 * what exists, commas between arguments; and warnings (MN6xxx) for legal input
 * that is probably a mistake, which never change the exit status unless
 * --warnings-as-errors.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyze, check, compile, type CompileOptions } from "../src/index.js";
import { root } from "./helpers.js";

/** `CODE line:col message` of every diagnostic. */
function said(source: string, options: CompileOptions = {}): string[] {
  return analyze(source, { file: "t.mn", ...options }).diagnostics.map((d) => `${d.code} ${d.span ? `${d.span.line}:${d.span.column}` : "-"} ${d.message}`);
}

const net = (...layers: string[]): string => `network N(classes = 10) {\n  input 32x32x3\n${layers.map((l) => `  ${l}\n`).join("")}}\n`;

describe("other frameworks' names get mnc's", () => {
  it.each([
    ["depthwise 3x3", "'depthwise'; mnc calls it 'dw'"],
    ["DepthwiseConv2D 3x3", "'DepthwiseConv2D'; mnc calls it 'dw'"],
    ["pointwise 16", "'pointwise'; mnc calls it 'pw'"],
    ["conv2d 3x3 16", "'conv2d'; mnc calls it 'conv'"],
    ["Conv2d 3x3 16", "'Conv2d'; mnc calls it 'conv'"],
    ["dense 10", "'dense'; mnc calls it 'fc'"],
    ["Linear 10", "'Linear'; mnc calls it 'fc'"],
    ["SeparableConv2D 64", "'SeparableConv2D'; mnc calls it 'separable'"],
    ["GlobalAveragePooling2D", "'GlobalAveragePooling2D'; mnc calls it 'avgpool global'"],
    ["relu6", "'relu6'; an activation is an option of the layer before it: act=relu6 ('conv 3x3 32 act=relu6', or 'defaults act=relu6' for every layer after it)"],
    ["ReLU", "'ReLU'; an activation is an option of the layer before it: act=relu ('conv 3x3 32 act=relu', or 'defaults act=relu' for every layer after it)"],
    ["hardswish", "'hardswish'; an activation is an option of the layer before it: act=hswish ('conv 3x3 32 act=hswish', or 'defaults act=hswish' for every layer after it)"],
    ["BatchNormalization", "'BatchNormalization'; batch-norm is part of conv, dw and pw, on by default: norm=batchnorm"],
    ["flatten", "'flatten'; fc flattens its input itself: fc"],
  ])("%s", (layer, message) => {
    expect(said(net(layer))).toEqual([`MN2001 3:3 unknown op or block ${message}`]);
  });

  it.each([
    ["conv 3x3 16 activation=relu6", "MN2003 3:15 'conv' has no argument 'activation'; mnc calls it 'act': act=relu6"],
    ["conv 3x3 16 kernel_size=5", "MN2003 3:15 'conv' has no argument 'kernel_size'; mnc calls it 'kernel': kernel=5"],
    ["separable 16 kernel_size=5x5", "MN2003 3:16 'separable' has no argument 'kernel_size'; mnc calls it 'kernel': kernel=5x5"],
    ["dw 3x3 padding=valid", "MN2003 3:10 'dw' has no argument 'padding'; mnc calls it 'pad': pad=valid"],
    ["pw 16 strides=2", "MN2003 3:9 'pw' has no argument 'strides'; mnc calls it 'stride': stride=2"],
    ["bottleneck 16 expand_ratio=6", "MN2003 3:17 'bottleneck' has no argument 'expand_ratio'; mnc calls it 'expand': expand=6"],
    ["pw 16 activation=2*3", "MN2003 3:9 'pw' has no argument 'activation'; mnc calls it 'act': act=…"],
    // pw has no kernel to name: the list of what it takes.
    ["pw 16 kernel_size=3", "MN2003 3:9 'pw' has no argument 'kernel_size'; 'pw' takes filters, stride, act, norm, pad, width"],
    ["conv 3x3 16 groups=2", "MN2003 3:15 'conv' has no argument 'groups'; 'conv' takes kernel, filters, stride, dilation, act, norm, pad, width"],
    ["softmax axis=1", "MN2003 3:11 'softmax' has no argument 'axis'; 'softmax' takes no arguments"],
    ["defaults activation=relu6", "MN2003 3:12 'defaults' has no argument 'activation'; mnc calls it 'act': act=relu6"],
  ])("%s", (layer, message) => {
    expect(said(net(layer))).toEqual([message]);
  });

  it("PyTorch's p of a dropout is its rate", () => {
    expect(said(net("dropout p=0.2"))).toEqual(["MN2004 3:3 'dropout' needs a value for 'rate'", "MN2003 3:11 'dropout' has no argument 'p'; mnc calls it 'rate': rate=0.2"]);
  });

  it("filters= and units= are mnc's names already", () => {
    expect(said(net("conv 3x3 filters=16", "avgpool global", "fc units=10"))).toEqual([]);
  });
});

describe("an unknown name lists what exists", () => {
  it("an unknown op lists the ops and the file's blocks", () => {
    const ops = "conv, dw, pw, separable, bottleneck, se, deconv, add, mul, concat, resize, sigmoid, argmax, avgpool, maxpool, fc, softmax, dropout";
    expect(said(net("frobnicate 3"))).toEqual([`MN2001 3:3 unknown op or block 'frobnicate'; the ops are ${ops} (the file declares no blocks)`]);
    const withBlocks = `block dws(n, s = 1) {\n  dw 3x3 stride=s\n  pw n\n}\nblock head {\n  fc 10\n}\n${net("frobnicate 3")}`;
    expect(said(withBlocks)).toEqual([`MN2001 10:3 unknown op or block 'frobnicate'; the ops are ${ops}; the file's blocks are dws, head`]);
  });

  it("a typo is still answered with the closest name", () => {
    expect(said(net("seperable 16"))).toEqual(["MN2001 3:3 unknown op or block 'seperable'; did you mean 'separable'?"]);
    expect(said(`block dws(n) {\n  pw n\n}\n${net("dwss 16")}`)).toEqual(["MN2001 6:3 unknown op or block 'dwss'; did you mean 'dws'?"]);
  });

  it("an unknown argument of a block lists the block's parameters", () => {
    const blocks = "block dws(n, s = 1) {\n  dw 3x3 stride=s\n  pw n\n}\nblock plain {\n  pw 8\n}\n";
    expect(said(`${blocks}${net("dws 16 stride=2")}`)).toEqual(["MN2003 10:10 'dws' has no argument 'stride'; block 'dws' has parameters n, s"]);
    expect(said(`${blocks}${net("plain width=2")}`)).toEqual(["MN2003 10:9 'plain' has no argument 'width'; block 'plain' has no parameters"]);
  });
});

describe("commas between arguments", () => {
  it.each([
    ["conv 3x3, 16, stride=2", "MN1006 3:11 arguments are separated by spaces, not commas: write 'conv 3x3 16 stride=2'"],
    ["conv 3x3 16,stride=2", "MN1006 3:14 arguments are separated by spaces, not commas: write 'conv 3x3 16 stride=2'"],
    ["pw 16,", "MN1006 3:8 arguments are separated by spaces, not commas: write 'pw 16'"],
    ["conv 3,3 16", "MN1006 3:9 arguments are separated by spaces, not commas: write 'conv 3x3 16'"],
    ["conv 3x3,16", "MN1006 3:11 arguments are separated by spaces, not commas: write 'conv 3x3 16'"],
  ])("%s", (layer, message) => {
    expect(said(net(layer))).toEqual([message]);
  });

  it("one message per statement, every statement, and nothing else", () => {
    const source = "network N {\n  input 224,224,3\n  conv 3x3, 8, stride=2\n  pw 16 { }\n}\n";
    expect(said(source)).toEqual([
      "MN1006 2:12 arguments are separated by spaces, not commas: write 'input 224x224x3'",
      "MN1006 3:11 arguments are separated by spaces, not commas: write 'conv 3x3 8 stride=2'",
    ]);
  });

  it("commas still separate a declaration's parameters", () => {
    expect(said("network N(a = 4, b = 8) {\n  input 8x8x3\n  pw a\n  pw b\n}\n")).toEqual([]);
  });
});

describe("warnings", () => {
  it("an input that looks channels-first", () => {
    expect(said("network N {\n  input 3x224x224\n  conv 3x3 8 stride=2\n}\n")).toEqual([
      "MN6001 2:3 the input 3x224x224 is read as 3 rows, 224 columns and 224 channels (mnc's shapes are HxWxC, channels last); for 3-channel 224x224 images write 'input 224x224x3'",
    ]);
    // Small feature maps and single-row inputs are not mistaken for channels.
    for (const shape of ["4x4x16", "1x1x64", "3x3x3", "224x224x3", "8x8x4"]) expect(said(`network N {\n  input ${shape}\n  pw 8\n}\n`)).toEqual([]);
  });

  it("α above 4, written or given as --alpha", () => {
    expect(said("network N {\n  input 8x8x3\n  width 8\n  pw 8\n}\n")).toEqual([
      "MN6002 3:3 a width multiplier of 8 makes every layer 8 times as wide and costs about 64 times the mult-adds; α is a fraction such as 1, 0.75, 0.5 or 0.25",
    ]);
    expect(said("network N {\n  input 8x8x3\n  pw 8\n}\n", { alpha: 4.5 })).toEqual([
      "MN6002 - a width multiplier of 4.5 makes every layer 4.5 times as wide and costs about 20.25 times the mult-adds; α is a fraction such as 1, 0.75, 0.5 or 0.25",
    ]);
    expect(said("network N {\n  input 8x8x3\n  width 4\n  pw 8\n}\n")).toEqual([]);
  });

  it("a stride that does not divide the size it strides names the first such layer", () => {
    const v1ish = "network N {\n  input 224x224x3\n  conv 3x3 32 stride=2\n  separable 64 stride=2\n  separable 128 stride=2\n  avgpool global\n  fc 10\n}\n";
    expect(said(v1ish)).toEqual([]);
    expect(said(v1ish, { resolution: 225 })).toEqual([
      "MN6003 3:3 'conv_0' strides 2 over a 225x225 input, which 2 does not divide: it gives 113x113 (225/2 rounded up), so its outputs do not tile the input evenly; at 224x224 (multiples of 8) every stride divides evenly",
    ]);
    expect(said(v1ish, { resolution: 228 })[0]).toMatch(/^MN6003 5:3 'sep_2\.dw' strides 2 over a 57x57 input, .* at 232x232 \(multiples of 8\)/);
    // A valid-padded pool: no advice about sizes, which would not hold.
    expect(said("network N {\n  input 13x13x3\n  maxpool 2x2\n}\n")).toEqual([
      "MN6003 3:3 'maxpool_0' strides 2 over a 13x13 input, which 2 does not divide: it gives 6x6 (13/2 rounded down), so its outputs do not tile the input evenly",
    ]);
    // A 1x1 map has nothing to misalign; a global pool has no stride.
    expect(said("network N {\n  input 1x1x3\n  conv 3x3 8 stride=2\n  avgpool global\n}\n")).toEqual([]);
  });

  it("labels for a network that does not end in a classifier", () => {
    const labels = ["a", "b", "c", "d"];
    const ends = (...layers: string[]): string[] => said(`network N {\n  input 8x8x3\n${layers.map((l) => `  ${l}\n`).join("")}}\n`, { labels });
    expect(ends("conv 3x3 4", "avgpool global")).toEqual([
      "MN6004 4:3 the network ends with 'avgpool_0' (an average pool), not a classifier, yet 4 labels name its outputs; end it with 'fc 4' (and 'softmax'), or a 1x1 conv to 4 channels",
    ]);
    expect(ends("avgpool global", "dw 3x3")).toEqual([
      "MN6004 4:3 the network ends with 'dw_0' (a depthwise convolution), not a classifier, yet 4 labels name its outputs; end it with 'fc 4' (and 'softmax'), or a 1x1 conv to 4 channels",
    ]);
    expect(ends("pw 8")[0]).toMatch(/^MN6004 3:3 the network ends with 'pw_0' \(a 1x1 convolution to 8 channels\), not a classifier/);
    expect(ends("avgpool global", "pw 4")).toEqual([]);
    expect(ends("avgpool global", "fc 4")).toEqual([]);
    expect(ends("avgpool global", "fc 4", "softmax")).toEqual([]);
    expect(ends("pw 4", "avgpool global", "dropout 0.2")).toEqual([]);
    // Without labels there is nothing to check.
    expect(said("network N {\n  input 8x8x3\n  conv 3x3 4\n  avgpool global\n}\n")).toEqual([]);
  });

  it("never stop the pipeline: the graph, the costs and the compiled model are there", () => {
    const source = "network N {\n  input 31x31x3\n  conv 3x3 8 stride=2\n  avgpool global\n  fc 2\n}\n";
    const r = compile(source, { file: "t.mn" });
    expect(r.diagnostics.map((d) => `${d.code} ${d.severity}`)).toEqual(["MN6003 warning"]);
    expect(r.graph).toBeDefined();
    expect(r.costs).toBeDefined();
    expect(r.certificate).toBeDefined();
    expect(check(source).graph).toBeDefined();
  });

  it("come after the errors are gone: a file with an error gets no warnings", () => {
    expect(said("network N {\n  input 3x32x32\n  pw 0\n}\n").map((m) => m.slice(0, 6))).toEqual(["MN3001"]);
  });
});

describe("the command line", () => {
  function mnc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const work = mkdtempSync(join(tmpdir(), "mnc-messages-"));
  const odd = join(work, "odd.mn");
  writeFileSync(odd, "network Odd {\n  input 31x31x3\n  conv 3x3 8 stride=2\n  avgpool global\n  fc 2\n}\n");
  const warningText = `${odd}:3:3: warning MN6003: 'conv_0' strides 2 over a 31x31 input, which 2 does not divide`;

  it("prints warnings with the caret and keeps the exit status", () => {
    const r = mnc("check", odd);
    expect(r.status).toBe(0);
    expect(r.stderr.startsWith(warningText)).toBe(true);
    expect(r.stderr).toContain("\n  3 |   conv 3x3 8 stride=2\n    |   ^~~~~~~~~~~~~~~~~~~\n");
    expect(r.stdout).toBe(`${odd}: ok (Odd)\n`);
    const out = join(work, "odd.onnx");
    const compiled = mnc("compile", odd, "-o", out);
    expect(compiled.status).toBe(0);
    expect(compiled.stderr.startsWith(warningText)).toBe(true);
    expect(existsSync(out)).toBe(true);
  }, 30_000);

  it("--warnings-as-errors fails with status 1 and writes nothing", () => {
    const r = mnc("check", odd, "--warnings-as-errors");
    expect(r.status).toBe(1);
    expect(r.stderr.startsWith(warningText)).toBe(true);
    expect(r.stderr.endsWith("1 warning (--warnings-as-errors)\n")).toBe(true);
    expect(r.stdout).toBe("");
    const out = join(work, "never.onnx");
    expect(mnc("compile", odd, "-o", out, "--warnings-as-errors").status).toBe(1);
    expect(existsSync(out)).toBe(false);
    // A network without warnings is unaffected.
    expect(mnc("check", "examples/mobilenet_v1.mn", "--warnings-as-errors").status).toBe(0);
  }, 30_000);
});
