/**
 * MobileNetV2 and MobileNetV3 (../shared/design/mobilenet-facts.md): the
 * language document's examples compile to exactly the published architecture —
 * mult-adds, weights, torchvision's and Keras' totals, residual adds, SE
 * widths — and TF-Slim's α × resolution table of MobileNetV2, to the integer.
 */
import { describe, expect, it } from "vitest";
import type { Graph } from "../src/ir/graph.js";
import type { CostAnalysis } from "../src/passes/analyze-costs.js";
import { compileOk, readExample } from "./helpers.js";

const v2 = readExample("mobilenet_v2.mn");
const large = readExample("mobilenet_v3_large.mn");
const small = readExample("mobilenet_v3_small.mn");

/** Mult-adds of the SE convolutions (`….se.squeeze`, `….se.excite`). */
const seMultAdds = (costs: CostAnalysis): number => costs.layers.filter((l) => /\.se\.(squeeze|excite)$/.test(l.node.id)).reduce((s, l) => s + l.multAdds, 0);
const count = (graph: Graph, op: string): number => graph.nodes.filter((n) => n.op === op).length;
/** torchvision's count: weights, biases, and BN's γ and β. */
const torchvision = (costs: CostAnalysis): number => costs.totals.params + costs.totals.bnParams / 2;
const keras = (costs: CostAnalysis): number => costs.totals.params + costs.totals.bnParams;

describe("exact figures at 224×224, α = 1", () => {
  type Row = [name: string, source: string, classes: number, multAdds: number, se: number, weights: number | null, params: number | null, tv: number, kerasTotal: number];
  const rows: Row[] = [
    ["MobileNetV2", v2, 1000, 300_774_272, 0, 3_469_760, 3_470_760, 3_504_872, 3_538_984],
    ["MobileNetV2", v2, 1001, 300_775_552, 0, 3_471_040, 3_472_041, 3_506_153, 3_540_265],
    ["MobileNetV3-Large", large, 1000, 216_589_760, 1_507_200, null, null, 5_483_032, 5_507_432],
    ["MobileNetV3-Large", large, 1001, 216_591_040, 1_507_200, 5_452_552, 5_459_913, 5_484_313, 5_508_713],
    ["MobileNetV3-Small", small, 1000, 56_510_400, 458_752, null, null, 2_542_856, 2_554_968],
    ["MobileNetV3-Small", small, 1001, 56_511_424, 458_752, 2_526_856, 2_531_769, 2_543_881, 2_555_993],
  ];
  it.each(rows)("%s, %s classes", (_name, source, classes, multAdds, se, weights, params, tv, kerasTotal) => {
    const { costs } = compileOk(source, { set: { classes: String(classes) } });
    expect(costs.totals.multAdds).toBe(multAdds);
    expect(seMultAdds(costs)).toBe(se);
    if (weights !== null) expect(costs.totals.weights).toBe(weights);
    if (params !== null) expect(costs.totals.params).toBe(params);
    expect(torchvision(costs)).toBe(tv);
    expect(keras(costs)).toBe(kerasTotal);
    // Residual adds and SE multiplies are elementwise work, never mult-adds.
    expect(costs.byCategory.elementwise.multAdds).toBe(0);
    expect(costs.byCategory.elementwise.elementwise).toBe(costs.totals.elementwise);
  });
});

describe("the blocks are built as the released models build them", () => {
  it("MobileNetV2: 17 bottlenecks, 10 residual adds, no expansion in the first, 1280 kept wide", () => {
    const { graph } = compileOk(v2);
    expect(graph.nodes.filter((n) => n.id.endsWith(".project"))).toHaveLength(17);
    expect(count(graph, "add")).toBe(10);
    expect(graph.nodes.some((n) => n.id === "bneck_1.expand")).toBe(false);
    expect(graph.nodes.find((n) => n.id === "bneck_2.expand")?.shape).toEqual([112, 112, 96]);
    // 36 CONV_2D and 17 DEPTHWISE_CONV_2D in the TFLite model: fc counts as its 1x1 conv.
    expect(count(graph, "conv") + count(graph, "fc")).toBe(36);
    expect(count(graph, "depthwise")).toBe(17);
    const narrow = compileOk(v2, { alpha: 0.5 }).graph;
    expect(narrow.nodes.find((n) => n.id === "pw_18")?.shape).toEqual([7, 7, 1280]);
    const wide = compileOk(v2, { alpha: 1.4 }).graph;
    expect(wide.nodes.find((n) => n.id === "pw_18")?.shape).toEqual([7, 7, 1792]);
  });

  it("MobileNetV3: SE squeeze widths, 10 and 6 residual adds", () => {
    const squeezes = (g: Graph): string[] =>
      g.nodes.filter((n) => n.id.endsWith(".se.squeeze")).map((n) => {
        const pool = g.nodes.find((p) => p.id === n.inputs[0])!;
        return `${pool.shape![2]}→${n.shape![2]}`;
      });
    const l = compileOk(large).graph;
    expect(count(l, "add")).toBe(10);
    expect([...new Set(squeezes(l))]).toEqual(["72→24", "120→32", "480→120", "672→168", "960→240"]);
    const s = compileOk(small).graph;
    expect(count(s, "add")).toBe(6);
    expect([...new Set(squeezes(s))]).toEqual(["16→8", "96→24", "240→64", "120→32", "144→40", "288→72", "576→144"]);
    // Expansion factors are exact fractions: 88/24 of 24 channels is 88, not 87.
    expect(s.nodes.find((n) => n.id === "bneck_3.expand")?.shape?.[2]).toBe(88);
    expect(s.nodes.find((n) => n.id === "bneck_2.expand")?.shape?.[2]).toBe(72);
  });
});

describe("MobileNetV2 α × resolution, TF-Slim's table (1001 classes, 1280 kept for α < 1)", () => {
  const table: [alpha: number, multAdds: number[], params: number][] = [
    [1.4, [582_197_616, 428_212_928, 297_918_192, 191_313_408, 108_398_576], 6_062_633],
    [1.0, [300_775_552, 221_317_888, 154_084_480, 99_075_328, 56_290_432], 3_472_041],
    [0.75, [209_071_072, 153_943_168, 107_296_480, 69_131_008, 39_446_752], 2_611_065],
    [0.5, [97_133_120, 71_703_040, 50_185_280, 32_579_840, 18_886_720], 1_951_417],
    [0.35, [59_287_088, 43_897_792, 30_876_080, 20_221_952, 11_935_408], 1_664_329],
  ];
  it.each(table)("α = %s", (alpha, multAdds, params) => {
    const got = [224, 192, 160, 128, 96].map((resolution) => compileOk(v2, { alpha, resolution, set: { classes: "1001" } }).costs);
    expect(got.map((c) => c.totals.multAdds)).toEqual(multAdds);
    expect(got.map((c) => c.totals.params)).toEqual(multAdds.map(() => params));
  });

  it("1000 classes: 1,280 fewer mult-adds and 1,281 fewer parameters (1,792 and 1,793 at α 1.4)", () => {
    for (const [alpha, width] of [[1.0, 1280], [1.4, 1792]] as const) {
      const a = compileOk(v2, { alpha, set: { classes: "1001" } }).costs.totals;
      const b = compileOk(v2, { alpha, set: { classes: "1000" } }).costs.totals;
      expect([a.multAdds - b.multAdds, a.params - b.params]).toEqual([width, width + 1]);
    }
  });
});
