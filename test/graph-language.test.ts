/**
 * The `.mn` language for graphs (docs/language.md, "Graphs"): named tensors,
 * `from=`, `add`/`mul`/`concat`/`resize` of named tensors, dilation, `deconv`,
 * `sigmoid`, `argmax`, `output` and `--outputs`, scopes, blocks that take
 * tensors, α and ρ on graphs, every misuse located — and the reference
 * evaluator's arithmetic for the new ops on inputs small enough to check by hand.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Graph, Node } from "../src/ir/graph.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { analyze, compile } from "../src/index.js";
import { codeBlocks, compileErrors, compileOk, readExample, root, shared } from "./helpers.js";

const rows = (graph: Graph): string[] => graph.nodes.map((n) => `${n.id} ${n.op} ${n.shape!.join("x")}${n.op === "input" ? "" : ` (${n.inputs.join(",")})`}`);
const said = (source: string, options = {}): string[] =>
  compileErrors(source, options).map((d) => `${d.code} ${d.span === undefined ? "-" : `${d.span.line}:${d.span.column}`} ${d.message}`);
const net = (...lines: string[]): string => `network N {\n${lines.map((l) => `  ${l}`).join("\n")}\n}\n`;
const node = (graph: Graph, id: string): Node => graph.nodes.find((n) => n.id === id)!;

describe("named tensors and the statements that read them", () => {
  it("a skip, a branch read with from=, a concat and a resize to a named tensor's size", () => {
    const { graph } = compileOk(
      net(
        "image = input 16x16x3",
        "stem = conv 3x3 8 stride=2",
        "deep = pw 16 stride=2",
        "aspp = pw 12 act=relu",
        "avgpool global from=deep",
        "pw 4",
        "resize to=deep coords=align_corners",
        "concat aspp deep",
        "resize to=stem mode=nearest",
        "pw 8",
        "add stem",
        "resize to=image",
      ),
    );
    expect(rows(graph)).toEqual([
      "input input 16x16x3",
      "conv_0 conv 8x8x8 (input)",
      "pw_1 conv 4x4x16 (conv_0)",
      "pw_2 conv 4x4x12 (pw_1)",
      "avgpool_0 avgpool 1x1x16 (pw_1)",
      "pw_3 conv 1x1x4 (avgpool_0)",
      "resize_0 resize 4x4x4 (pw_3)",
      "concat_0 concat 4x4x32 (resize_0,pw_2,pw_1)",
      "resize_1 resize 8x8x32 (concat_0)",
      "pw_4 conv 8x8x8 (resize_1)",
      "add_0 add 8x8x8 (pw_4,conv_0)",
      "resize_2 resize 16x16x8 (add_0)",
    ]);
    expect(graph.outputs).toEqual(["resize_2"]);
    expect(graph.outputNames).toBeUndefined();
  });

  it("a 1x1xC operand is broadcast, and put second whichever side it is written on", () => {
    const { graph } = compileOk(net("input 8x8x4", "x = pw 6", "avgpool global", "g = pw 6 act=sigmoid", "mul x", "y = pw 6", "avgpool global", "add y"));
    expect(node(graph, "mul_0").inputs).toEqual(["pw_0", "pw_1"]);
    expect(node(graph, "mul_0").shape).toEqual([8, 8, 6]);
    expect(node(graph, "add_0").inputs).toEqual(["pw_2", "avgpool_1"]);
    expect(node(graph, "add_0").shape).toEqual([8, 8, 6]);
  });

  it("a block takes tensors by name; its own names are its own at every call", () => {
    const source = [
      "block join(skip, c) {",
      "  resize 2",
      "  u = pw c",
      "  add skip",
      "  add u",
      "}",
      net("input 32x32x3", "a = conv 3x3 8 stride=2", "b = conv 3x3 8 stride=2", "pw 16 stride=2", "join b 8", "join a 8"),
    ].join("\n");
    const { graph } = compileOk(source);
    expect(rows(graph).slice(4)).toEqual([
      "join_3.resize_0 resize 8x8x16 (pw_2)",
      "join_3.pw_0 conv 8x8x8 (join_3.resize_0)",
      "join_3.add_0 add 8x8x8 (join_3.pw_0,conv_1)",
      "join_3.add_1 add 8x8x8 (join_3.add_0,join_3.pw_0)",
      "join_4.resize_0 resize 16x16x8 (join_3.add_1)",
      "join_4.pw_0 conv 16x16x8 (join_4.resize_0)",
      "join_4.add_0 add 16x16x8 (join_4.pw_0,conv_0)",
      "join_4.add_1 add 16x16x8 (join_4.add_0,join_4.pw_0)",
    ]);
  });

  it("a name on a repeat, a residual, a bottleneck or a width region names its last tensor; names inside a repeat end with it", () => {
    const { graph } = compileOk(net("input 16x16x8", "r = repeat 2 { pw 8 }", "s = residual { dw 3x3 }", "w = width 0.5 { pw 16 }", "b = bottleneck 8 expand=2", "concat r s w"));
    expect(node(graph, "concat_0").inputs).toEqual(["bneck_4.add", "pw_1", "res_2.add", "pw_3"]);
    expect(said(net("input 8x8x8", "repeat 2 { t = pw 8 }", "add t"))).toEqual(["MN2029 4:7 no tensor named 't' here"]);
    // Each iteration names afresh: no duplicate.
    compileOk(net("input 8x8x8", "repeat 2 {", "  t = pw 8", "  add t", "}"));
  });

  it("output lists the outputs by name; --outputs chooses others and leaves out what they do not need", () => {
    const source = net("input 16x16x3", "stem = conv 3x3 8 stride=2", "feat = pw 16", "scores = pw 4", "labels = argmax", "output scores labels");
    const { graph } = compileOk(source);
    expect(graph.outputs).toEqual(["pw_2", "argmax_0"]);
    expect(graph.outputNames).toEqual(["scores", "labels"]);
    const pruned = compileOk(source, { outputs: ["feat", "stem"] }).graph;
    expect(pruned.nodes.map((n) => n.id)).toEqual(["input", "conv_0", "pw_1"]);
    expect(pruned.outputs).toEqual(["pw_1", "conv_0"]);
    expect(pruned.outputNames).toEqual(["feat", "stem"]);
    expect(said(source, { outputs: ["feat", "feat"] })).toEqual(["MN2006 - '--outputs feat' is given more than once"]);
    expect(said(source, { outputs: ["feats"] })).toEqual(["MN2035 - --outputs feats: the network has no tensor 'feats' (named tensors: 'stem', 'feat', 'scores', 'labels'); did you mean 'feat'?"]);
  });

  it("dilation pads by the dilated span, as TensorFlow's SAME does", () => {
    const { graph } = compileOk(net("input 9x9x4", "dw 3x3 dilation=2", "dw 5x5 dilation=2", "conv 2x2 4 dilation=3", "dw 3x3 dilation=4 stride=2", "separable 8 dilation=2", "bottleneck 8 dilation=3"));
    const pads = graph.nodes.filter((n) => n.op === "conv" || n.op === "depthwise").map((n) => `${n.id} ${(n.attrs as { readonly pads?: readonly number[] }).pads!.join(",")} ${n.shape!.join("x")}`);
    expect(pads).toEqual([
      "dw_0 2,2,2,2 9x9x4",
      "dw_1 4,4,4,4 9x9x4",
      "conv_2 1,1,2,2 9x9x4",
      "dw_3 4,4,4,4 5x5x4",
      "sep_4.dw 2,2,2,2 5x5x4",
      "sep_4.pw 0,0,0,0 5x5x8",
      "bneck_5.expand 0,0,0,0 5x5x48",
      "bneck_5.dw 3,3,3,3 5x5x48",
      "bneck_5.project 0,0,0,0 5x5x8",
    ]);
  });

  it("deconv: out = in·s with pad=same (cropping K − s), (in − 1)·s + K with pad=valid", () => {
    const { graph } = compileOk(net("input 5x4x3", "deconv 2x2 8 stride=2", "deconv 3x3 8 stride=2", "deconv 3x3 4 stride=2 pad=valid", "deconv 1x1 2"));
    const d = graph.nodes.filter((n) => n.op === "deconv").map((n) => `${n.id} ${(n.attrs as { readonly pads?: readonly number[] }).pads!.join(",")} ${n.shape!.join("x")}`);
    expect(d).toEqual(["deconv_0 0,0,0,0 10x8x8", "deconv_1 0,0,1,1 20x16x8", "deconv_2 0,0,0,0 41x33x4", "deconv_3 0,0,0,0 41x33x2"]);
  });
});

describe("α and ρ on graphs", () => {
  it("a concat's width is the sum of its inputs', each scaled by α", () => {
    const source = net("input 16x16x3", "a = pw 32", "b = pw 16 from=a", "concat a", "pw 64");
    expect(node(compileOk(source).graph, "concat_0").shape).toEqual([16, 16, 48]);
    expect(node(compileOk(source, { alpha: 0.5 }).graph, "concat_0").shape).toEqual([16, 16, 24]);
  });

  it("a skip that fits at one resolution and not at another is a located error; resize to= keeps fitting", () => {
    const byFactor = net("input 32x32x3", "skip = pw 8", "conv 3x3 8 stride=2", "resize 2", "add skip");
    compileOk(byFactor);
    expect(said(byFactor, { resolution: 33 })).toEqual([
      "MN3018 6:3 'add_0' cannot add 34x34x8 and 33x33x8: it needs one shape, or one of them 1x1xC with the other's channels (after α and ρ)",
    ]);
    const related = compileErrors(byFactor, { resolution: 33 })[0]!.related.map((r) => `${r.span!.line} ${r.message}`);
    expect(related).toEqual(["5 'resize_0' makes 34x34x8", "3 'pw_0' makes 33x33x8"]);
    const toSize = net("input 32x32x3", "skip = pw 8", "conv 3x3 8 stride=2", "resize to=skip", "add skip");
    compileOk(toSize, { resolution: 33 });
    expect(node(compileOk(toSize, { rho: 0.75 }).graph, "add_0").shape).toEqual([24, 24, 8]);
  });

  it("a skip whose widths part under α is a located error naming both sides", () => {
    const source = net("input 8x8x3", "skip = pw 8 width=fixed", "pw 8", "add skip");
    compileOk(source);
    expect(said(source, { alpha: 0.5 })[0]).toMatch(/^MN3018 5:3 'add_0' cannot add 8x8x4 and 8x8x8/);
  });
});

describe("misuse is located", () => {
  it.each([
    [["input 8x8x8", "skip = pw 8", "add skp"], "MN2029 4:7 no tensor named 'skp' here; did you mean 'skip'?"],
    [["input 8x8x8", "pw 8", "add 3"], "MN2029 4:7 no tensor named '3' here; write a tensor's name, as given by 'NAME = …'"],
    [["input 8x8x8", "a = pw 8", "add b", "b = pw 8"], "MN2030 4:7 'b' is not named until later in the file; a layer can read only tensors named before it, so a graph cannot have a cycle"],
    [["input 8x8x8", "x = add x"], "MN2030 3:11 'x' is not named until this statement; a layer can read only tensors named before it, so a graph cannot have a cycle"],
    [["input 8x8x8", "x = pw 8", "x = pw 8"], "MN2031 4:3 the tensor name 'x' is already taken; give each tensor its own name"],
    [["input 8x8x8", "a = pw 8", "pw 16", "pw 4 from=a"], "MN2033 4:3 the result of 'pw_1' is never used: read it (add, mul, concat, from=, resize to=) or list it in 'output'"],
    [["input 8x8x8", "d = defaults act=relu6", "pw 8"], "MN2034 3:3 'defaults' makes no tensor to name"],
    [["image = input 8x8x8", "resize 2 to=image"], "MN2036 3:3 resize takes a scale factor or to=NAME, not both"],
    [["input 8x8x8", "a = pw 8", "pw 8", "concat"], "MN2037 5:3 'concat' takes one or more tensor names besides the current tensor, not 0"],
    [["input 8x8x8", "a = pw 8", "b = pw 8", "add a b"], "MN2037 5:9 'add' takes 1 tensor name besides the current tensor, not 2"],
    [["input 16x16x8", "skip = pw 8", "pw 8 stride=2", "concat skip"], "MN3018 5:3 'concat_0' cannot concatenate 8x8x8 and 16x16x8: it needs the same height and width (after α and ρ)"],
    [["input 8x8x8", "g = pw 4", "pw 8", "mul g"], "MN3018 5:3 'mul_0' cannot mul 8x8x8 and 8x8x4: it needs one shape, or one of them 1x1xC with the other's channels (after α and ρ)"],
    [["input 8x8x8", "deconv 2x2 4 stride=3"], "MN3019 3:3 'deconv_0': a 2x2 transposed convolution with stride 3x3 and pad=same would leave output cells no tap reaches; use a kernel at least as large as the stride, or pad=valid"],
  ])("%j", (lines, message) => {
    expect(said(net(...lines))).toEqual([message]);
  });

  it("a tensor name may not be a parameter's; output belongs at the top level, once", () => {
    expect(said("network N(c = 8) {\n  input 8x8x8\n  c = pw c\n}\n")).toEqual(["MN2032 3:3 'c' is a parameter here; a tensor may not take its name"]);
    expect(said("block b() {\n  x = pw 8\n  output x\n}\n" + net("input 8x8x8", "b"))[0]).toMatch(/^MN2022 3:3 'output' belongs at the top level of a network/);
    expect(said(net("input 8x8x8", "a = pw 8", "b = pw 8", "output a", "output b"))[0]).toMatch(/^MN2022 6:3 'output' is given twice/);
  });

  it("a block parameter given a number is not a tensor", () => {
    expect(said(["block b(skip) {", "  add skip", "}", net("input 8x8x8", "b 3")].join("\n"))[0]).toMatch(/^MN2029 2:7 no tensor named 'skip' here/);
  });
});

describe("the reference evaluator on the new ops, by hand", () => {
  const run = (source: string, input: number[]): number[][] => {
    const graph = compile(source, { seed: 1 }).graph!;
    return runReferenceOutputs(graph, Float32Array.from(input)).map((y) => Array.from(y, (v) => Math.round(v * 1e6) / 1e6));
  };

  it("bilinear resizes under each coordinate convention, and nearest", () => {
    // A 1x2 map [0, 1] resized by 2 (or 3), row by row.
    const at = (source: string): number[] => run(source, [0, 1])[0]!;
    const spec = (target: string, options: string): string => `network N {\n  input 1x2x1\n  resize ${target} ${options}\n}\n`;
    expect(at(spec("2", "coords=align_corners"))).toEqual([0, 1 / 3, 2 / 3, 1, 0, 1 / 3, 2 / 3, 1].map((v) => Math.round(v * 1e6) / 1e6));
    expect(at(spec("2", "coords=half_pixel"))).toEqual([0, 0.25, 0.75, 1, 0, 0.25, 0.75, 1]);
    expect(at(spec("2", "coords=asymmetric"))).toEqual([0, 0.5, 1, 1, 0, 0.5, 1, 1]);
    expect(at(spec("2", "mode=nearest coords=asymmetric"))).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    expect(at(spec("3", "mode=nearest coords=half_pixel"))).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]);
  });

  it("a transposed convolution scatters each input cell into its window; argmax takes the first of equals", () => {
    const graph = compile("network N {\n  input 1x2x1\n  deconv 2x2 1 stride=2 norm=none act=linear\n}\n", { seed: 1 }).graph!;
    const d = graph.nodes[1]!;
    const k = d.op === "deconv" ? d.weights!.kernel.data : new Float32Array();
    const b = d.op === "deconv" ? d.weights!.bias!.data[0]! : 0;
    const [y] = runReferenceOutputs(graph, Float32Array.from([2, 3]));
    // Output 2x4: row i, column 2x + j is x[x]·k[i, j] + b.
    const expected = [0, 1].flatMap((i) => [2, 3].flatMap((x) => [0, 1].map((j) => x * k[i * 2 + j]! + b)));
    expect(Array.from(y!)).toEqual(expected);
    expect(run("network N {\n  input 1x3x3\n  argmax\n}\n", [1, 5, 5, 7, 2, 0, -1, -1, -3])[0]).toEqual([1, 0, 0]);
  });
});

describe("the two segmentation examples", () => {
  it("DeepLabV3: output stride 8 with dilations 2 and 4, image pooling, concat, 257x257x21 logits", () => {
    const { graph } = compileOk(readExample("deeplabv3_mobilenet_v2.mn"));
    const dilations = graph.nodes.filter((n) => n.op === "depthwise").map((n) => (n.op === "depthwise" ? (n.attrs.dilation?.[0] ?? 1) : 0));
    expect(dilations).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4]);
    expect(node(graph, "concat_0").shape).toEqual([33, 33, 512]);
    expect(graph.outputs.map((id) => node(graph, id).shape)).toEqual([[257, 257, 21]]);
  });

  it("257x257 suits DeepLab's align_corners resizes; 256x256 draws MN6003 with that reason", () => {
    const source = readExample("deeplabv3_mobilenet_v2.mn");
    expect(analyze(source).diagnostics).toEqual([]);
    const warned = analyze(source, { resolution: 256 }).diagnostics.map((d) => `${d.code} ${d.message}`);
    expect(warned).toEqual([
      "MN6003 'conv_0' strides 2 over a 256x256 input, whose size less one 2 does not divide: it gives 128x128, whose corners do not fall on the input's, as the network's align_corners resizes assume; at 257x257 (multiples of 8, plus 1, as its align_corners resizes assume) every stride divides evenly",
    ]);
  });

  it("DeepLab's 21 labels name the channels of its per-pixel classifier: no MN6004", () => {
    const labels = readFileSync(join(shared, "data", "deeplabv3_mobilenet_v2", "model", "labelmap.txt"), "utf8").trim().split("\n");
    expect(labels).toHaveLength(21);
    expect(analyze(readExample("deeplabv3_mobilenet_v2.mn"), { labels }).diagnostics).toEqual([]);
    expect(analyze(readExample("deeplabv3_mobilenet_v2.mn"), { labels: labels.slice(1) }).diagnostics.map((d) => d.code)).toEqual(["MN6004"]);
  });

  it("selfie segmentation: a 256x256x1 mask, and 128x128x16 features with --outputs features", () => {
    const source = readExample("selfie_segmentation.mn");
    const { graph } = compileOk(source);
    expect(graph.outputs.map((id) => node(graph, id).shape)).toEqual([[256, 256, 1]]);
    const features = compileOk(source, { outputs: ["features"] }).graph;
    expect(features.outputs.map((id) => node(features, id).shape)).toEqual([[128, 128, 16]]);
    expect(features.nodes.some((n) => n.op === "deconv")).toBe(false);
    // Its decoder's ×2 resizes meet the encoder's maps only at multiples of 16; elsewhere the skip is a located error.
    compileOk(source, { resolution: 48, alpha: 0.5 });
    const at33 = said(source, { resolution: 33 });
    expect(at33).toEqual(["MN3018 14:3 'up_14.add_0' cannot add 6x6x24 and 5x5x24: it needs one shape, or one of them 1x1xC with the other's channels (after α and ρ)"]);
  });

  it("the graph example in docs/language.md compiles with its two outputs", () => {
    const doc = readFileSync(join(root, "docs", "language.md"), "utf8");
    const example = codeBlocks(doc).find((b) => b.includes("network Decoder"))!;
    const { graph } = compileOk(example);
    expect(graph.outputNames).toEqual(["scores", "labels"]);
    expect(graph.outputs.map((id) => node(graph, id).shape)).toEqual([
      [64, 64, 21],
      [64, 64, 1],
    ]);
  });
});
