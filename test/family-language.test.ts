/**
 * The MobileNet-family forms of `.mn` (language.md, "Core syntax, part 2"):
 * bottleneck, se, residual, act=hswish|hsigmoid|sigmoid, width rounding= and
 * width=grow — their exact semantics, golden IR dumps, and every hostile
 * input as a located MNxxxx error.
 */
import { describe, expect, it } from "vitest";
import { printGraph } from "../src/ir/print.js";
import type { Graph } from "../src/ir/graph.js";
import { compileErrors, compileOk, readExample } from "./helpers.js";

const net = (body: string, input = "8x8x3", width = ""): string => `network N {\n  input ${input}\n${width ? `  ${width}\n` : ""}${body.split("\n").map((l) => `  ${l}`).join("\n")}\n}\n`;
const widths = (g: Graph): string[] => g.nodes.map((n) => `${n.id} ${n.shape!.join("x")}${n.op === "add" || n.op === "mul" ? ` ${n.op}(${n.inputs.join(",")})` : ""}`);
const errorsOf = (source: string, options = {}): string[] => compileErrors(source, options).map((d) => `${d.code} ${d.span ? `${d.span.line}:${d.span.column}` : "-"}${d.related.map((r) => ` [${r.span?.line}:${r.span?.column} ${r.message}]`).join("")}`);

describe("golden IR dumps", () => {
  it.each(["mobilenet_v2", "mobilenet_v3_small"])("%s", async (name) => {
    const { graph } = compileOk(readExample(`${name}.mn`));
    await expect(printGraph(graph)).toMatchFileSnapshot(`golden/ir/${name}.txt`);
  });
});

describe("bottleneck", () => {
  it("expands T × the block's actual input (after α), not × α again, and adds the input back when widths agree", () => {
    const { graph } = compileOk(net("conv 3x3 16\nbottleneck 16 expand=6\nbottleneck 24 expand=6 stride=2"), { alpha: 0.5 });
    expect(widths(graph)).toEqual([
      "input 8x8x3",
      "conv_0 8x8x8",
      "bneck_1.expand 8x8x48",
      "bneck_1.dw 8x8x48",
      "bneck_1.project 8x8x8",
      "bneck_1.add 8x8x8 add(conv_0,bneck_1.project)",
      "bneck_2.expand 8x8x48",
      "bneck_2.dw 4x4x48",
      "bneck_2.project 4x4x12",
    ]);
    const project = graph.nodes.find((n) => n.id === "bneck_1.project")!;
    expect(project.op === "conv" && project.attrs.act).toBe("linear");
  });

  it("leaves out the add when the widths differ, and its readers read the projection", () => {
    const { graph } = compileOk(net("conv 3x3 12\nbottleneck 8 expand=2\npw 4"));
    expect(graph.nodes.some((n) => n.op === "add")).toBe(false);
    expect(graph.nodes.find((n) => n.id === "pw_2")!.inputs).toEqual(["bneck_1.project"]);
    // The same block keeps its add where α makes the widths agree, and a later expansion follows it.
    const g = compileOk(net("conv 3x3 8\nbottleneck 8 expand=1\nbottleneck 8 expand=2"), {}).graph;
    expect(widths(g).filter((r) => r.includes("add"))).toEqual([
      "bneck_1.add 8x8x8 add(conv_0,bneck_1.project)",
      "bneck_2.add 8x8x8 add(bneck_1.add,bneck_2.project)",
    ]);
    const removed = compileOk(net("conv 3x3 12\nbottleneck 8 expand=1\nbottleneck 8 expand=3")).graph;
    const expand = removed.nodes.find((n) => n.id === "bneck_2.expand")!;
    expect(expand.inputs).toEqual(["bneck_1.project"]);
    expect(expand.op === "conv" && expand.attrs.size).toMatchObject({ kind: "ratio", of: "bneck_1.project" });
    expect(expand.shape![2]).toBe(24);
  });

  it("has no expansion exactly when T = 1; T < 1 narrows; fractions are exact", () => {
    const one = compileOk(net("conv 3x3 24\nbottleneck 24 expand=4/4")).graph;
    expect(one.nodes.some((n) => n.id.endsWith(".expand"))).toBe(false);
    const narrow = compileOk(net("conv 3x3 24\nbottleneck 24 expand=0.5")).graph;
    expect(narrow.nodes.find((n) => n.id === "bneck_1.expand")!.shape![2]).toBe(12);
    const exact = compileOk(net("conv 3x3 24\nbottleneck 24 expand=88/24")).graph;
    expect(exact.nodes.find((n) => n.id === "bneck_1.expand")!.shape![2]).toBe(88);
  });

  it("puts SE after the depthwise and its activation, before the linear projection", () => {
    const { graph } = compileOk(net("conv 3x3 16\nbottleneck 16 expand=3 kernel=5x5 se=0.25 act=hswish", "8x8x3", "width 1.0 rounding=div8"));
    expect(widths(graph)).toEqual([
      "input 8x8x3",
      "conv_0 8x8x16",
      "bneck_1.expand 8x8x48",
      "bneck_1.dw 8x8x48",
      "bneck_1.se.pool 1x1x48",
      "bneck_1.se.squeeze 1x1x16",
      "bneck_1.se.excite 1x1x48",
      "bneck_1.se.scale 8x8x48 mul(bneck_1.dw,bneck_1.se.excite)",
      "bneck_1.project 8x8x16",
      "bneck_1.add 8x8x16 add(conv_0,bneck_1.project)",
    ]);
    const acts = Object.fromEntries(graph.nodes.map((n) => [n.id, "norm" in n.attrs ? `${n.attrs.act}${n.attrs.norm === "none" ? " bias" : " bn"}` : ""]));
    expect([acts["bneck_1.expand"], acts["bneck_1.dw"], acts["bneck_1.se.squeeze"], acts["bneck_1.se.excite"], acts["bneck_1.project"]]).toEqual([
      "hswish bn",
      "hswish bn",
      "relu bias",
      "hsigmoid bias",
      "linear bn",
    ]);
  });
});

describe("se, residual, rounding, width=grow, activations", () => {
  it("se R [gate=…] squeezes by the network's rounding and excites back to C", () => {
    const { graph } = compileOk(net("pw 12\nse 0.25 gate=sigmoid"));
    expect(widths(graph).slice(2)).toEqual(["se_1.pool 1x1x12", "se_1.squeeze 1x1x3", "se_1.excite 1x1x12", "se_1.scale 8x8x12 mul(pw_0,se_1.excite)"]);
    const excite = graph.nodes.find((n) => n.id === "se_1.excite")!;
    expect(excite.op === "conv" && excite.attrs.act).toBe("sigmoid");
    const div8 = compileOk(net("pw 12\nse 0.25"), { widthRounding: "div8" }).graph;
    // div8 rounds the pw too (12 → 16), and the squeeze (4 → 8); the excite gives back exactly C.
    expect(widths(div8).slice(1, 5)).toEqual(["pw_0 8x8x16", "se_1.pool 1x1x16", "se_1.squeeze 1x1x8", "se_1.excite 1x1x16"]);
  });

  it("residual { … } adds the tensor from before its body; its layers are named inside it", () => {
    const { graph, costs } = compileOk(net("pw 8\nresidual {\n  pw 16 act=hswish\n  dw 3x3 act=hsigmoid\n  pw 8 act=linear\n}\nsoftmax"));
    expect(widths(graph)).toEqual([
      "input 8x8x3",
      "pw_0 8x8x8",
      "res_1.pw_0 8x8x16",
      "res_1.dw_1 8x8x16",
      "res_1.pw_2 8x8x8",
      "res_1.add 8x8x8 add(pw_0,res_1.pw_2)",
      "softmax_0 8x8x8",
    ]);
    expect(costs.totals.elementwise).toBe(8 * 8 * 8);
    expect(graph.outputs).toEqual(["softmax_0"]);
  });

  it("width A rounding=R sets the network's rule; --width-rounding overrides it; width=grow only widens", () => {
    const src = net("pw 12\npw 100 width=grow", "8x8x3", "width 1.0 rounding=div8");
    expect(widths(compileOk(src).graph).slice(1)).toEqual(["pw_0 8x8x16", "pw_1 8x8x104"]);
    expect(widths(compileOk(src, { widthRounding: "floor" }).graph).slice(1)).toEqual(["pw_0 8x8x12", "pw_1 8x8x100"]);
    expect(widths(compileOk(src, { alpha: 0.5 }).graph).slice(1)).toEqual(["pw_0 8x8x8", "pw_1 8x8x104"]);
    expect(widths(compileOk(src, { alpha: 1.5, widthRounding: "floor" }).graph).slice(1)).toEqual(["pw_0 8x8x18", "pw_1 8x8x150"]);
  });
});

describe("hostile input: each a located MNxxxx error", () => {
  it.each([
    ["a residual whose body changes the shape", net("pw 8\nresidual {\n  pw 16\n}"), ["MN3014 4:3 [5:5 'res_1.pw_0' makes 8x8x16]"]],
    ["a residual whose body changes the size", net("pw 8\nresidual {\n  dw 3x3 stride=2\n}"), ["MN3014 4:3 [5:5 'res_1.dw_0' makes 4x4x8]"]],
    ["an se on a 1-channel tensor", net("se 0.25", "8x8x1"), ["MN3016 3:3"]],
    ["expand=0", net("bottleneck 8 expand=0"), ["MN3015 3:23"]],
    ["a negative se ratio", net("bottleneck 8 se=-0.25"), ["MN3015 3:19"]],
    ["a bottleneck that rounds to 0 channels", net("bottleneck 4", "8x8x3", "width 0.1"), ["MN3002 4:3 [3:3 the network's width is set here]"]],
    ["an expansion below one channel", net("bottleneck 4 expand=0.1"), ["MN3016 3:3"]],
    ["an empty residual", net("residual {\n}"), ["MN2028 3:3"]],
    ["a residual without a body", net("residual\npw 4"), ["MN2023 3:3"]],
    ["rounding= on a width region", net("width 0.5 rounding=div8 {\n  pw 8\n}"), ["MN2022 3:22"]],
    ["an unknown rounding rule", net("pw 8", "8x8x3", "width 1.0 rounding=div16"), ["MN2007 3:22"]],
    ["an SE gate that is not a sigmoid", net("pw 8\nse 0.5 gate=relu"), ["MN2007 4:15"]],
    ["an unknown activation", net("bottleneck 8 act=swish"), ["MN2007 3:20"]],
  ])("%s", (_what, source, expected) => {
    expect(errorsOf(source)).toEqual(expected);
  });
});
