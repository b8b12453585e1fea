/**
 * Reports of graph networks: the two segmentation examples' exact figures
 * (mult-adds by layer type, weights, biases, params, elementwise work, peak
 * activation memory), the DeepLab backbone and head against the data README
 * and the TFLite file's own tensors, the selfie model's 106,401 parameters,
 * every layer against its formula, the peak against an independent liveness
 * count, the layers' inputs in every format, several outputs, and the golden
 * IR dumps and reports of both examples.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { report, sweep, type Report } from "../src/index.js";
import type { Graph, Shape } from "../src/ir/graph.js";
import { printGraph } from "../src/ir/print.js";
import { reportCsv } from "../src/emit/report/csv.js";
import { reportHtml } from "../src/emit/report/html.js";
import { reportJson } from "../src/emit/report/json.js";
import { reportMarkdown, reportText, showsInputs } from "../src/emit/report/text.js";
import { layerBarChart, layerGraphChart } from "../src/emit/report/svg.js";
import { validGraphSpec } from "./graph-generators.js";
import { runs, timeLimit } from "./fuzz-scale.js";
import { codeBlocks, compileOk, readExample, RESIDUAL_SE, root, shared } from "./helpers.js";
import { main } from "../src/cli/main.js";
import { haveShared } from "./optional.js";

const deeplab = readExample("deeplabv3_mobilenet_v2.mn");
const selfie = readExample("selfie_segmentation.mn");

function reportOk(source: string, options = {}): Report {
  const r = report(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)).toEqual([]);
  return r.report!;
}

const elements = (s: Shape): number => s[0] * s[1] * s[2];

/** The report's counts of one op kind: layers, mult-adds, elementwise, weights, biases. */
function byOp(r: Report, op: string): { layers: number; multAdds: number; elementwise: number; weights: number; biases: number } {
  const ls = r.layers.filter((l) => l.op === op);
  return {
    layers: ls.length,
    multAdds: ls.reduce((s, l) => s + l.multAdds, 0),
    elementwise: ls.reduce((s, l) => s + l.elementwise, 0),
    weights: ls.reduce((s, l) => s + l.weights, 0),
    biases: ls.reduce((s, l) => s + l.biases, 0),
  };
}

/** Table 2's rows as [label, mult-adds, elementwise, weights]. */
const table2 = (r: Report): [string, number, number, number][] => r.byType.map((t) => [t.label, t.multAdds, t.elementwise, t.weights]);

describe("DeepLabV3-MobileNetV2: exact figures", () => {
  const r = reportOk(deeplab);

  it("mult-adds by layer type, elementwise work, weights, biases, params", () => {
    expect(r.totals).toMatchObject({
      multAdds: 725_849_344,
      flops: 1_451_698_688,
      seMultAdds: 0,
      elementwise: 2_692_257,
      weights: 679_680,
      biases: 21,
      params: 679_701,
      bnParams: 34_624,
      deployedParams: 688_357,
      weightBytesFloat32: 4 * 688_357,
      weightBytesInt8: 679_680 + 4 * 8_677,
    });
    expect(table2(r)).toEqual([
      ["Conv 1x1", 678_064_096, 0, 647_136],
      ["Conv DW", 40_596_336, 0, 32_112],
      ["Conv (full, not 1x1)", 7_188_912, 0, 432],
      ["Fully connected", 0, 0, 0],
      ["Elementwise (add, mul, concat, resize)", 0, 2_692_257, 0],
    ]);
    // The elementwise work, op by op: ten residual adds, the concat, the image-pooling and final resizes.
    expect(byOp(r, "add")).toMatchObject({ layers: 10, elementwise: 468_876 });
    expect(byOp(r, "concat")).toMatchObject({ layers: 1, elementwise: 33 * 33 * 512 });
    expect(byOp(r, "resize")).toMatchObject({ layers: 2, elementwise: 33 * 33 * 256 + 257 * 257 * 21 });
    // 38 CONV_2D and 17 DEPTHWISE_CONV_2D, as in the TFLite model.
    expect([byOp(r, "conv").layers, byOp(r, "depthwise").layers]).toEqual([38, 17]);
  });

  it("a dilated depthwise convolution costs what an undilated one does", () => {
    const dilated = r.layers.find((l) => l.name === "bneck_15.dw")!;
    expect(dilated.layer).toBe("dw 3x3 dil4");
    expect(dilated.multAdds).toBe(3 * 3 * 480 * 33 * 33);
    expect(r.convention.some((c) => c.startsWith("A dilated convolution counts as a convolution of its kernel"))).toBe(true);
  });

  it("peak activation memory: the final resize, its 33x33x21 input and 257x257x21 output", () => {
    expect(r.totals).toMatchObject({ peakActivationBytes: 4 * (33 * 33 * 21 + 257 * 257 * 21), peakActivationLayer: "resize_1", peakActivationLive: ["conv_21", "resize_1"] });
    expect(r.totals.peakActivationBytes).toBe(5_639_592);
    // The 1x1 branch (aspp0) is held across image pooling until the concat reads it.
    for (const name of ["avgpool_0", "pw_19", "resize_0"]) expect(r.layers.find((l) => l.name === name)!.liveBytes).toBeGreaterThanOrEqual(4 * 33 * 33 * 256);
    expect(r.layers.find((l) => l.name === "concat_0")!.liveBytes).toBe(4 * 33 * 33 * (256 + 256 + 512));
    // Without the last upsampling the peak is in the backbone, at the widest dilated depthwise convolution.
    const scores = reportOk(deeplab, { outputs: ["scores"] });
    expect(scores.totals).toMatchObject({ peakActivationBytes: 4_530_240, peakActivationLayer: "bneck_15.dw", peakActivationLive: ["bneck_14.project", "bneck_15.expand", "bneck_15.dw"] });
  });

  it("the backbone has the data README's 461,312 weights and 7,888 biases once batch-norm is folded; the head the rest", () => {
    const backbone = reportOk(deeplab, { outputs: ["features"] }).totals;
    // As written, a normalised layer has no bias: β takes its place, and folding makes it the bias.
    expect(backbone).toMatchObject({ weights: 461_312, biases: 0, bnParams: 4 * 7_888, deployedParams: 461_312 + 7_888, multAdds: 532_611_072, elementwise: 468_876 });
    const t = r.totals;
    const head = { weights: t.weights - backbone.weights, writtenBiases: t.biases - backbone.biases, foldedBiases: (t.bnParams - backbone.bnParams) / 4 };
    // pw 160→256 twice, pw 512→256, conv 256→21 with its 21 biases; three normalised 256-wide layers.
    expect(head).toEqual({ weights: 218_368, writtenBiases: 21, foldedBiases: 768 });
    expect(head.weights).toBe(160 * 256 + 160 * 256 + 512 * 256 + 256 * 21);
    expect(t.deployedParams).toBe(461_312 + 7_888 + 218_368 + 789);
    // The head's mult-adds, of which the concat projection (512→256 on 33x33) is most.
    expect(t.multAdds - backbone.multAdds).toBe(193_238_272);
    expect(r.layers.find((l) => l.name === "pw_20")!.multAdds).toBe(142_737_408);
  });

  const contents = join(shared, "data", "deeplabv3_mobilenet_v2", "model", "tflite_contents.json");
  it.runIf(haveShared(contents, "the DeepLab counts against the TFLite model's tensors"))("the TFLite model's own tensors give the same backbone (ops 0–60) and head (61–69)", () => {
    type Layer = { index: number; op: string; input_shapes: number[][] };
    const layers = (JSON.parse(readFileSync(contents, "utf8")) as { layers: Layer[] }).layers.filter((l) => l.op === "CONV_2D" || l.op === "DEPTHWISE_CONV_2D");
    const size = (s: number[] | undefined): number => (s === undefined ? 0 : s.reduce((p, d) => p * d, 1));
    const sum = (ls: Layer[], i: 1 | 2): number => ls.reduce((s, l) => s + size(l.input_shapes[i]), 0);
    const backbone = layers.filter((l) => l.index <= 60);
    const head = layers.filter((l) => l.index > 60);
    expect([sum(backbone, 1), sum(backbone, 2), sum(head, 1), sum(head, 2)]).toEqual([461_312, 7_888, 218_368, 789]);
    expect(sum(layers, 1) + sum(layers, 2)).toBe(r.totals.deployedParams);
  });
});

describe("selfie segmentation: exact figures", () => {
  const r = reportOk(selfie);

  it("mult-adds by layer type, elementwise work, and the model's 106,401 parameters", () => {
    expect(r.totals).toMatchObject({
      multAdds: 59_215_744,
      seMultAdds: 30_464,
      seParams: 31_168,
      elementwise: 2_195_456,
      weights: 103_480,
      biases: 2_921,
      params: 106_401,
      bnParams: 0,
      deployedParams: 106_401,
      weightBytesFloat32: 425_604,
      weightBytesInt8: 103_480 + 4 * 2_921,
    });
    expect(table2(r)).toEqual([
      ["Conv 1x1", 42_372_992, 0, 87_296],
      ["Conv DW", 8_716_288, 0, 15_688],
      ["Conv (full, not 1x1)", 8_126_464, 0, 496],
      ["Fully connected", 0, 0, 0],
      ["Elementwise (add, mul, resize)", 0, 2_195_456, 0],
    ]);
    // The TFLite model's operator counts: 43 CONV_2D, 11 DEPTHWISE_CONV_2D, 10 MUL, 14 ADD, 3 RESIZE_BILINEAR, 1 transposed conv.
    expect(["conv", "depthwise", "mul", "add", "resize", "deconv", "avgpool"].map((op) => byOp(r, op).layers)).toEqual([43, 11, 10, 14, 3, 1, 10]);
    expect(byOp(r, "mul").elementwise).toBe(589_824);
    expect(byOp(r, "add").elementwise).toBe(1_114_112);
    expect(byOp(r, "resize").elementwise).toBe(32 * 32 * 128 + 64 * 64 * 24 + 128 * 128 * 16);
  });

  it("the transposed convolution counts K·K·Cin·Cout·Hin·Win mult-adds, as a full convolution", () => {
    const d = r.layers.find((l) => l.op === "deconv")!;
    expect(d).toMatchObject({ name: "deconv_17", layer: "deconv 2x2/2", type: "conv", inputShape: [128, 128, 16], outputShape: [256, 256, 1], multAdds: 2 * 2 * 16 * 1 * 128 * 128, weights: 64, biases: 1 });
  });

  it("the parameters split into the encoder, LR-ASPP, the three decoder blocks and the transposed convolution", () => {
    const encoder = reportOk(selfie, { outputs: ["encoded"] }).totals.params;
    const params = (prefix: RegExp): number => r.layers.filter((l) => prefix.test(l.name)).reduce((s, l) => s + l.params, 0);
    const aspp = params(/^(conv_12|conv_13)$/);
    const up = [params(/^up_14\./), params(/^up_15\./), params(/^up_16\./)];
    const deconv = params(/^deconv_17$/);
    expect({ encoder, aspp, up, deconv }).toEqual({ encoder: 90_128, aspp: 8_448, up: [5_136, 1_376, 1_248], deconv: 65 });
    expect(encoder + aspp + up.reduce((a, b) => a + b) + deconv).toBe(106_401);
    // Mult-adds by the same parts.
    const multAdds = (prefix: RegExp): number => r.layers.filter((l) => prefix.test(l.name)).reduce((s, l) => s + l.multAdds, 0);
    expect([reportOk(selfie, { outputs: ["encoded"] }).totals.multAdds, multAdds(/^(conv_12|conv_13)$/), multAdds(/^up_14\./), multAdds(/^up_15\./), multAdds(/^up_16\./), multAdds(/^deconv_17$/)]).toEqual([
      39_196_416, 1_052_672, 3_957_888, 3_211_776, 10_748_416, 1_048_576,
    ]);
  });

  const contents = join(shared, "data", "selfie_segmentation_v3", "model", "tflite_contents.json");
  it.runIf(haveShared(contents, "the selfie model's parameters against its TFLite tensors"))("the model's 110 FLOAT16 tensors hold exactly mnc's params", () => {
    type Tensor = { dtype: string; shape: number[]; constant: boolean };
    const tensors = (JSON.parse(readFileSync(contents, "utf8")) as { tensors: Tensor[] }).tensors.filter((t) => t.constant && t.dtype === "FLOAT16");
    expect(tensors).toHaveLength(110);
    expect(tensors.reduce((s, t) => s + t.shape.reduce((p, d) => p * d, 1), 0)).toBe(r.totals.params);
  });

  it("SE blocks are the encoder's; the decoder's gates and LR-ASPP's are not squeeze-and-excitation", () => {
    const se = r.layers.filter((l) => l.se).map((l) => l.name);
    expect(se.filter((n) => n.endsWith(".scale"))).toEqual(["se_3.scale", "bneck_7.se.scale", "bneck_8.se.scale", "bneck_9.se.scale", "bneck_10.se.scale", "bneck_11.se.scale"]);
    expect(se).toHaveLength(6 * 4);
    expect(r.layers.find((l) => l.name === "up_16.mul_0")).toMatchObject({ layer: "mul", se: false });
    expect(r.layers.find((l) => l.name === "mul_0")).toMatchObject({ layer: "mul", se: false });
  });

  it("peak activation memory holds the stem's skip and the projection across the last decoder block's gate", () => {
    const map = 4 * 128 * 128 * 16;
    expect(r.totals).toMatchObject({ peakActivationBytes: 3 * map + 4 * 16, peakActivationLayer: "up_16.avgpool_0", peakActivationLive: ["conv_0", "up_16.conv_0", "up_16.add_0", "up_16.avgpool_0"] });
    expect(r.totals.peakActivationBytes).toBe(3_145_792);
    // The stem (conv_0, 128x128x16) is live from its making to the last block's gate, which reads it as its skip.
    const steps = r.layers.map((l) => l.name);
    const from = steps.indexOf("conv_0");
    const to = steps.indexOf("up_16.mul_0");
    for (let i = from; i <= to; i++) expect(r.layers[i]!.liveBytes, steps[i]).toBeGreaterThanOrEqual(map);
    expect(r.layers[to + 1]!.liveBytes).toBe(4 * 3 * 128 * 128 * 16);
    expect(reportText(r)).toContain("  peak activations               3,145,792 B (3.00 MiB) at up_16.avgpool_0 (float32, batch 1; also live: conv_0, up_16.conv_0)\n");
  });
});

/** Every layer's costs from its formula, computed here from the shapes alone. */
function formulaCosts(graph: Graph): Map<string, { multAdds: number; elementwise: number; weights: number }> {
  const shapes = new Map(graph.nodes.map((n) => [n.id, n.shape!]));
  const out = new Map<string, { multAdds: number; elementwise: number; weights: number }>();
  for (const n of graph.nodes) {
    const o = n.shape!;
    const i = n.inputs.length === 0 ? undefined : shapes.get(n.inputs[0]!)!;
    let c = { multAdds: 0, elementwise: 0, weights: 0 };
    if (n.op === "conv") {
      const w = n.attrs.kernel[0] * n.attrs.kernel[1] * i![2] * o[2];
      c = { ...c, weights: w, multAdds: w * o[0] * o[1] };
    } else if (n.op === "depthwise") {
      const w = n.attrs.kernel[0] * n.attrs.kernel[1] * o[2];
      c = { ...c, weights: w, multAdds: w * o[0] * o[1] };
    } else if (n.op === "deconv") {
      const w = n.attrs.kernel[0] * n.attrs.kernel[1] * i![2] * o[2];
      c = { ...c, weights: w, multAdds: w * i![0] * i![1] };
    } else if (n.op === "fc") {
      c = { ...c, weights: elements(i!) * o[2], multAdds: elements(i!) * o[2] };
    } else if (n.op === "add" || n.op === "mul" || n.op === "concat" || n.op === "resize" || n.op === "activation") {
      c = { ...c, elementwise: elements(o) };
    } else if (n.op === "argmax") {
      c = { ...c, elementwise: elements(i!) };
    }
    out.set(n.id, c);
  }
  return out;
}

/** Peak activation memory by brute force: at each step, every tensor already made and still to be read (or an output). */
function bruteForcePeak(graph: Graph): { bytes: number; step: number } {
  const made = new Map(graph.nodes.map((n, i) => [n.id, i]));
  const last = new Map(graph.nodes.map((n, i) => [n.id, i]));
  graph.nodes.forEach((n, i) => n.inputs.forEach((id) => last.set(id, Math.max(last.get(id)!, i))));
  for (const id of graph.outputs) last.set(id, Infinity);
  let best = { bytes: -1, step: -1 };
  graph.nodes.forEach((_n, step) => {
    let bytes = 0;
    for (const m of graph.nodes) if (made.get(m.id)! <= step && last.get(m.id)! >= step) bytes += 4 * elements(m.shape!);
    if (bytes > best.bytes) best = { bytes, step };
  });
  return best;
}

describe("every row follows its formula; the peak is an independent liveness count's", () => {
  it.each([
    ["deeplab", deeplab],
    ["selfie", selfie],
  ])("%s", (_name, source) => {
    const { graph } = compileOk(source);
    const r = reportOk(source);
    const expected = formulaCosts(graph);
    for (const l of r.layers) expect({ name: l.name, multAdds: l.multAdds, elementwise: l.elementwise, weights: l.weights }).toEqual({ name: l.name, ...expected.get(l.name)! });
    const peak = bruteForcePeak(graph);
    expect([r.totals.peakActivationBytes, r.totals.peakActivationLayer]).toEqual([peak.bytes, graph.nodes[peak.step]!.id]);
  });

  it(
    "on random graphs: rows by formula, rows summing to the totals, the brute-force peak, the from column",
    () => {
      fc.assert(
        fc.property(validGraphSpec({ maxSize: 12, maxMap: 24, maxLength: 10 }), (spec) => {
          const source = spec.source;
          const options = spec.outputs.length === 0 ? {} : { outputs: [...spec.outputs] };
          const { graph } = compileOk(source, options);
          const r = reportOk(source, options);
          const expected = formulaCosts(graph);
          for (const l of r.layers) expect({ multAdds: l.multAdds, elementwise: l.elementwise, weights: l.weights }).toEqual(expected.get(l.name));
          expect(r.layers.reduce((s, l) => s + l.multAdds, 0)).toBe(r.totals.multAdds);
          expect(r.layers.reduce((s, l) => s + l.elementwise, 0)).toBe(r.totals.elementwise);
          expect(r.layers.reduce((s, l) => s + l.params, 0)).toBe(r.totals.params);
          expect(r.totals.peakActivationBytes).toBe(bruteForcePeak(graph).bytes);
          // The from column, when shown, names exactly the inputs of the rows that read other than the row above.
          if (showsInputs(r)) {
            const rows = markdownRows(reportMarkdown(r));
            r.layers.forEach((l, i) => {
              const implied = l.inputs.length === 0 || (l.inputs.length === 1 && l.inputs[0] === r.layers[i - 1]?.name);
              expect(rows.get(l.name)!.from).toBe(implied ? "" : l.inputs.join(", "));
            });
          }
          expect(reportHtml(r)).toBe(reportHtml(reportOk(source, options)));
        }),
        { seed: 15, numRuns: runs(60) },
      );
    },
    timeLimit(60_000),
  );
});

/** The Markdown layer table's rows by layer name: its op and from cells. */
function markdownRows(md: string): Map<string, { op: string; from: string }> {
  const lines = md.split("\n");
  const start = lines.indexOf("## Layers") + 2;
  const header = lines[start]!.split(" | ").map((c) => c.replace(/^\| |\s\|$/g, "").trim());
  const col = (name: string): number => header.indexOf(name);
  const rows = new Map<string, { op: string; from: string }>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("| ")) break;
    const cells = line.slice(2, -2).split(" | ");
    rows.set(cells[0]!, { op: cells[col("op")]!, from: col("from") < 0 ? "" : cells[col("from")]! });
  }
  return rows;
}

describe("each layer's inputs, where a layer reads other than the row before it", () => {
  const d = reportOk(deeplab);
  const s = reportOk(selfie);

  it("text and Markdown show them in a from column: skips, a concat's operands, a from= branch", () => {
    const text = reportText(d).split("\n");
    expect(text[2]).toMatch(/^layer +op +from +input +output +width +mult-adds/);
    const row = (name: string): string => text.find((l) => l.startsWith(`${name} `))!;
    expect(row("concat_0")).toMatch(/^concat_0 +concat +resize_0, pw_18 +33x33x256 +33x33x512 /);
    expect(row("avgpool_0")).toMatch(/^avgpool_0 +avgpool global +bneck_17\.project +33x33x160 +1x1x160 /);
    expect(row("bneck_3.add")).toMatch(/^bneck_3\.add +add \(residual\) +bneck_2\.project, bneck_3\.project +65x65x12 /);
    // A layer that reads the row above says nothing more.
    expect(row("pw_20")).toMatch(/^pw_20 +pw +33x33x512 +33x33x256 /);
    const md = markdownRows(reportMarkdown(s));
    expect(md.get("up_16.add_0")).toEqual({ op: "add", from: "up_16.conv_0, conv_0" });
    expect(md.get("up_16.mul_0")).toEqual({ op: "mul", from: "conv_0, up_16.conv_2" });
    expect(md.get("avgpool_0")).toEqual({ op: "avgpool global", from: "bneck_11.add" });
    expect(md.get("bneck_7.se.scale")).toEqual({ op: "mul (SE scale)", from: "bneck_7.dw, bneck_7.se.excite" });
    expect(md.get("up_16.conv_3")).toEqual({ op: "pw", from: "" });
  });

  it("CSV has every layer's inputs, space-separated; JSON its inputs array", () => {
    const lines = reportCsv(d).split("\n").filter((l) => !l.startsWith("#"));
    const header = lines[0]!.split(",");
    expect(header.slice(0, 6)).toEqual(["name", "op", "layer", "type", "inputs", "input_h"]);
    const cells = (name: string): string[] => lines.find((l) => l.startsWith(`${name},`))!.split(",");
    expect(cells("concat_0")[header.indexOf("inputs")]).toBe("resize_0 pw_18");
    expect(cells("pw_20")[header.indexOf("inputs")]).toBe("concat_0");
    expect(cells("input")[header.indexOf("inputs")]).toBe("");
    const json = JSON.parse(reportJson(d)) as Report;
    expect(json.layers.find((l) => l.name === "concat_0")!.inputs).toEqual(["resize_0", "pw_18"]);
  });

  it("the HTML page has the from column and says what it means", () => {
    const html = reportHtml(s);
    expect(html).toContain('<th scope="col">from</th>');
    expect(html).toContain("<td>up_16.conv_0, conv_0</td>");
    expect(html).toContain("From: the layers a layer reads, where it reads other than the row above it");
    expect(html).toBe(reportHtml(reportOk(selfie)));
  });

  it("networks that are chains of blocks (residual adds, SE) show no from column, as before", () => {
    for (const source of [readExample("mobilenet_v1.mn"), readExample("mobilenet_v2.mn"), readExample("mobilenet_v3_small.mn"), readExample("mobilenet_v3_large.mn"), RESIDUAL_SE]) {
      const r = reportOk(source);
      expect(showsInputs(r)).toBe(false);
      expect(reportText(r).split("\n")[2]).not.toMatch(/ from /);
      expect(reportCsv(r)).not.toMatch(/,inputs,/);
    }
  });
});

describe("the graph drawing (HTML and SVG)", () => {
  /** The drawing's connections: from, to, and the lane's x with the rows' y range it runs along. */
  function edgesOf(svg: string): { from: string; to: string; x: number; y0: number; y1: number }[] {
    return [...svg.matchAll(/<path class="edge" data-from="([^"]+)" data-to="([^"]+)" d="M [\d.]+ ([\d.]+) H [\d.]+ Q ([\d.]+) [\d.]+ [\d.]+ [\d.]+ V [\d.]+ Q [\d.]+ ([\d.]+)/g)].map((m) => ({
      from: m[1]!,
      to: m[2]!,
      y0: Number(m[3]),
      x: Number(m[4]),
      y1: Number(m[5]),
    }));
  }

  it.each([
    ["deeplab", deeplab],
    ["selfie", selfie],
  ])("%s: one connection per input that is not the row above, no two sharing a lane where they run", (_name, source) => {
    const r = reportOk(source);
    const svg = layerGraphChart(r);
    const expected = r.layers.flatMap((l, i) => l.inputs.filter((id) => id !== r.layers[i - 1]?.name).map((id) => `${id} -> ${l.name}`));
    const edges = edgesOf(svg);
    expect(edges.map((e) => `${e.from} -> ${e.to}`).sort()).toEqual(expected.sort());
    for (const a of edges) for (const b of edges) if (a !== b && a.x === b.x) expect(a.y1 < b.y0 || b.y1 < a.y0, `${a.from}->${a.to} and ${b.from}->${b.to}`).toBe(true);
    const spine = (svg.match(/<line class="spine"/g) ?? []).length;
    expect(spine).toBe(r.layers.filter((l, i) => i > 0 && l.inputs.includes(r.layers[i - 1]!.name)).length);
    expect((svg.match(/<g class="node" data-layer=/g) ?? []).length).toBe(r.layers.length);
  });

  it("the selfie decoder's long skips: the stem reaches the last block, s4 and s8 theirs", () => {
    const edges = edgesOf(layerGraphChart(reportOk(selfie))).map((e) => `${e.from} -> ${e.to}`);
    expect(edges).toEqual(expect.arrayContaining(["conv_0 -> up_16.add_0", "conv_0 -> up_16.mul_0", "pw_4 -> up_15.add_0", "pw_4 -> up_15.mul_0", "bneck_6.add -> up_14.add_0", "bneck_6.add -> up_14.mul_0"]));
  });

  it("the elementwise bar chart of a graph charts its concats and resizes, and says so", () => {
    const svg = layerBarChart(reportOk(deeplab), "elementwise");
    expect(svg).toContain("layers with elementwise work; coloured by type");
    expect([...svg.matchAll(/data-layer="([^"]+)"/g)].map((m) => m[1])).toEqual(reportOk(deeplab).layers.filter((l) => l.elementwise > 0).map((l) => l.name));
    expect(layerBarChart(reportOk(readExample("mobilenet_v2.mn")), "elementwise")).toContain("residual adds and SE multiplies; coloured by type");
  });

  it("is in the HTML page of a graph only; a chain of blocks' page is as before", () => {
    expect(reportHtml(reportOk(deeplab))).toContain('<section id="graph"><h2>Graph</h2>');
    expect(reportHtml(reportOk(readExample("mobilenet_v3_small.mn")))).not.toContain('id="graph"');
  });

  it("the HTML pages of both examples are well-formed: every element closed, in order", () => {
    for (const source of [deeplab, selfie]) {
      const html = reportHtml(reportOk(source)).replace(/^<!DOCTYPE html>\n/, "");
      const stack: string[] = [];
      for (const m of html.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
        const [, close, name, self] = m;
        if (self === "/" || name === "meta") continue;
        if (close === "/") expect(stack.pop()).toBe(name);
        else stack.push(name!);
      }
      expect(stack).toEqual([]);
      expect(html).not.toMatch(/<script/i);
    }
  });

  it("escapes a hostile layer name", () => {
    const r = reportOk(deeplab);
    const hostile = `</text><script>"'&`;
    const svg = layerGraphChart({ ...r, layers: r.layers.map((l) => (l.name === "pw_18" ? { ...l, name: hostile } : l.inputs.includes("pw_18") ? { ...l, inputs: l.inputs.map((id) => (id === "pw_18" ? hostile : id)) } : l)) });
    expect(svg).not.toContain(hostile);
    expect(svg).toContain("&lt;/text&gt;&lt;script&gt;&quot;&#39;&amp;");
  });
});

describe("several outputs", () => {
  it("JSON keeps `output` (the first) and adds `outputs` with names, layers and shapes; text says them all", () => {
    const r = reportOk(selfie, { outputs: ["features", "mask"] });
    const json = JSON.parse(reportJson(r)) as Report;
    expect(json.output).toEqual([128, 128, 16]);
    expect(json.outputs).toEqual([
      { name: "features", layer: "up_16.add_2", shape: [128, 128, 16] },
      { name: "mask", layer: "deconv_17", shape: [256, 256, 1] },
    ]);
    expect(reportText(r).split("\n")[0]).toBe("SelfieSegmentation — α 1, input 256x256x3, outputs features 128x128x16, mask 256x256x1");
    expect(reportMarkdown(r).split("\n")[0]).toBe("# SelfieSegmentation — α 1, input 256x256x3, outputs features 128x128x16, mask 256x256x1");
    expect(reportHtml(r)).toContain("<h1>SelfieSegmentation — α 1, input 256x256x3, outputs features 128x128x16, mask 256x256x1</h1>");
    expect(r.convention.at(-1)).toBe("A network with several outputs holds each of them in activation memory from the layer that makes it to the end.");
    // The same figures as the one-output network that ends in the mask.
    expect(r.totals).toEqual(reportOk(selfie).totals);
  });

  it("a network with one output has no `outputs` field", () => {
    expect(Object.keys(JSON.parse(reportJson(reportOk(deeplab))) as object)).not.toContain("outputs");
    expect(Object.keys(JSON.parse(reportJson(reportOk(selfie, { outputs: ["features"] }))) as object)).not.toContain("outputs");
  });

  it("held outputs count in the peak: an early output stays live to the end", () => {
    const source = "network T {\n  input 8x8x2\n  a = pw 16\n  pw 2\n  b = pw 4\n  output a b\n}\n";
    const r = reportOk(source);
    expect(r.outputs?.map((o) => o.name)).toEqual(["a", "b"]);
    // While b runs: a (8x8x16) is held as an output, pw_1 (8x8x2) is read, b (8x8x4) is made.
    expect(r.layers.at(-1)!.liveBytes).toBe(4 * 64 * (16 + 2 + 4));
  });

  it("mnc report --outputs a,b --format json from the command line", () => {
    const out = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "report", "examples/selfie_segmentation.mn", "--outputs", "features,mask", "--format", "json"], { cwd: root, encoding: "utf8" });
    expect(out.status).toBe(0);
    expect((JSON.parse(out.stdout) as Report).outputs?.map((o) => o.name)).toEqual(["features", "mask"]);
  }, 30_000);
});

describe("sweeps of graph networks", () => {
  it("use the report's figures, peaks from liveness included", () => {
    const s = sweep(deeplab, { alphas: [1], resolutions: [257, 193] }).sweep!;
    expect(s.points.map((p) => [p.resolution, p.multAdds, p.params, p.peakActivationBytes])).toEqual([
      [257, 725_849_344, 679_701, 5_639_592],
      [193, 416_342_400, 679_701, 3_181_416],
    ]);
    const t = sweep(selfie, { alphas: [1], resolutions: [256, 192] }).sweep!;
    expect(t.points[0]).toMatchObject({ multAdds: 59_215_744, params: 106_401, peakActivationBytes: 3_145_792 });
    expect(t.points[1]!.peakActivationBytes).toBe(reportOk(selfie, { resolution: 192 }).totals.peakActivationBytes);
  });
});

describe("golden files, reviewed line by line", () => {
  it.each([
    ["deeplabv3_mobilenet_v2", deeplab],
    ["selfie_segmentation", selfie],
  ])("%s: IR dump, text, Markdown and CSV reports", async (name, source) => {
    await expect(printGraph(compileOk(source).graph)).toMatchFileSnapshot(`golden/ir/${name}.txt`);
    const r = reportOk(source);
    await expect(reportText(r)).toMatchFileSnapshot(`golden/report/${name}.txt`);
    await expect(reportMarkdown(r)).toMatchFileSnapshot(`golden/report/${name}.md`);
    await expect(reportCsv(r)).toMatchFileSnapshot(`golden/report/${name}.csv`);
  });
});

describe("docs/segmentation.md, as written", () => {
  const doc = readFileSync(join(root, "docs", "segmentation.md"), "utf8");
  const blocks = codeBlocks(doc).filter((b) => b.startsWith("$ mnc report "));

  it("shows mnc report's own lines: each block's lines follow one another in the command's output", () => {
    expect(blocks).toHaveLength(3);
    for (const block of blocks) {
      const [command, ...expected] = block.trimEnd().split("\n");
      let out = "";
      const status = main(command!.slice("$ mnc ".length).split(" "), { out: (t) => void (out += t), err: () => undefined });
      expect(status).toBe(0);
      const lines = out.split("\n");
      const start = lines.indexOf(expected[0]!);
      expect(start, `${command}: ${expected[0]}`).toBeGreaterThanOrEqual(0);
      expect(lines.slice(start, start + expected.length)).toEqual(expected);
    }
  });

  it("states the figures the tests assert", () => {
    for (const figure of ["725,849,344", "461,312", "7,888", "218,368", "789", "688,357", "5,639,592", "4,530,240", "59,215,744", "106,401", "103,480", "2,921", "3,145,792", "90,128", "8,448", "5,136", "1,376", "1,248", "2,692,257", "2,195,456", "39,196,416", "1,052,672", "3,957,888", "3,211,776", "10,748,416", "193,238,272", "142,737,408", "468,876", "557,568", "1,387,029", "1,114,112", "589,824", "491,520"]) {
      expect(doc).toContain(figure);
    }
  });
});
