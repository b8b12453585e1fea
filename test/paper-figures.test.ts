/**
 * The published figures (../shared/design/mobilenet-facts.md), reproduced
 * exactly from the examples — mult-adds, weights, Table 2's shares by layer
 * type, Table 3's single layer, and Keras' parameter totals.
 */
import { describe, expect, it } from "vitest";
import { compileOk, readExample } from "./helpers.js";

const v1 = readExample("mobilenet_v1.mn");

describe("MobileNetV1 (Table 1, 1000 classes)", () => {
  const rows: [alpha: number, resolution: number, multAdds: number, weights: number][] = [
    [1.0, 224, 568_740_352, 4_209_088],
    [0.75, 224, 325_400_448, 2_568_144],
    [0.5, 224, 149_497_088, 1_319_648],
    [0.25, 224, 41_030_272, 463_600],
    [1.0, 192, 418_121_728, 4_209_088],
    [1.0, 160, 290_675_200, 4_209_088],
    [1.0, 128, 186_400_768, 4_209_088],
    [0.5, 160, 76_524_800, 1_319_648],
  ];
  it.each(rows)("α=%s at %s: %s mult-adds, %s weights", (alpha, resolution, multAdds, weights) => {
    const { costs } = compileOk(v1, { alpha, resolution });
    expect(costs.totals.multAdds).toBe(multAdds);
    expect(costs.totals.weights).toBe(weights);
    // Weights + the FC layer's 1000 biases; convolutions followed by batch-norm have no bias.
    expect(costs.totals.params).toBe(weights + 1000);
  });

  it("has 28 layers with weights, counting depthwise and pointwise separately", () => {
    const { graph } = compileOk(v1);
    expect(graph.nodes.filter((n) => n.op === "conv" || n.op === "depthwise")).toHaveLength(27);
    expect(graph.nodes.filter((n) => n.op === "conv" || n.op === "depthwise" || n.op === "fc")).toHaveLength(28);
  });

  it("matches Keras' MobileNet(alpha=1.0) parameter totals", () => {
    const { costs } = compileOk(v1);
    const t = costs.totals;
    expect(t.bnParams).toBe(4 * 10_944);
    expect(t.params + t.bnParams).toBe(4_253_864);
    // Trainable: γ and β of each BN channel, not the moving mean and variance.
    expect(t.params + t.bnParams / 2).toBe(4_231_976);
  });

  it("reproduces Table 2's breakdown by layer type", () => {
    const { costs } = compileOk(v1);
    const c = costs.byCategory;
    expect([c.conv1x1.multAdds, c.conv1x1.weights]).toEqual([539_492_352, 3_139_584]);
    expect([c.depthwise.multAdds, c.depthwise.weights]).toEqual([17_385_984, 44_640]);
    expect([c.conv.multAdds, c.conv.weights]).toEqual([10_838_016, 864]);
    expect([c.fc.multAdds, c.fc.weights]).toEqual([1_024_000, 1_024_000]);
    const share = (x: number, total: number): string => ((100 * x) / total).toFixed(2);
    expect(share(c.conv1x1.multAdds, costs.totals.multAdds)).toBe("94.86");
    expect(share(c.depthwise.multAdds, costs.totals.multAdds)).toBe("3.06");
    expect(share(c.conv.multAdds, costs.totals.multAdds)).toBe("1.91");
    expect(share(c.fc.multAdds, costs.totals.multAdds)).toBe("0.18");
    expect(share(c.conv1x1.weights, costs.totals.weights)).toBe("74.59");
    expect(share(c.fc.weights, costs.totals.weights)).toBe("24.33");
  });
});

describe("other networks of the paper", () => {
  it("Conv MobileNet (Table 4): 4866 M mult-adds without the FC layer, 29.3 M weights", () => {
    const { costs } = compileOk(readExample("conv_mobilenet.mn"));
    expect(costs.totals.multAdds).toBe(4_867_293_184);
    expect(costs.totals.multAdds - costs.byCategory.fc.multAdds).toBe(4_866_269_184);
    expect(costs.totals.weights).toBe(29_281_120);
  });

  it("Shallow MobileNet (Table 5)", () => {
    const { costs } = compileOk(readExample("shallow_mobilenet.mn"));
    expect(costs.totals.multAdds).toBe(307_323_392);
    expect(costs.totals.weights).toBe(2_875_328);
  });

  it("TF-Slim MobileNetV1 0.25 (1001 classes): the trained model's shape", () => {
    const { graph, costs } = compileOk(readExample("mobilenet_v1_tf.mn"));
    const channels = graph.nodes.filter((n) => n.op === "conv").map((n) => n.shape![2]);
    expect(channels).toEqual([8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256]);
    expect(graph.nodes.filter((n) => n.op === "conv" || n.op === "depthwise").every((n) => "act" in n.attrs && n.attrs.act === "relu6")).toBe(true);
    expect(costs.totals.multAdds).toBe(41_030_272 + 256);
    expect(graph.nodes.at(-1)!.shape).toEqual([1, 1, 1001]);
  });
});

describe("Table 3: one 14×14×512 → 512 layer", () => {
  /** Costs of the layers whose ids start with `prefix`. */
  const layer = (source: string, prefix: string, options = {}): [number, number] => {
    const { costs } = compileOk(source, options);
    const rows = costs.layers.filter((l) => l.node.id.startsWith(prefix));
    return [rows.reduce((s, l) => s + l.multAdds, 0), rows.reduce((s, l) => s + l.weights, 0)];
  };
  // A pointwise layer brings the 512 channels (scaled by α like the rest of the network).
  const net = (body: string): string => `network T {\n  input 14x14x8\n  pw 512\n  ${body}\n}\n`;

  it("standard 3x3 convolution", () => {
    expect(layer(net("conv 3x3 512"), "conv_1")).toEqual([462_422_016, 2_359_296]);
  });
  it("depthwise separable", () => {
    expect(layer(net("separable 512"), "sep_1")).toEqual([52_283_392, 266_752]);
  });
  it("α = 0.75", () => {
    expect(layer(net("separable 512"), "sep_1", { alpha: 0.75 })).toEqual([29_578_752, 150_912]);
  });
  it("ρ = 0.714 (14 → 10)", () => {
    expect(layer(net("separable 512"), "sep_1", { alpha: 0.75, rho: 0.714 })).toEqual([15_091_200, 150_912]);
  });
});
