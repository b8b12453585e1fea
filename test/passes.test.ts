/**
 * The passes, as Before/Expected pairs written in .mn: the graph a pass makes
 * from `before` has the shapes and costs that `expected` declares directly.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import type { Graph } from "../src/ir/graph.js";
import { printGraph } from "../src/ir/print.js";
import { roundChannels } from "../src/passes/scale-width.js";
import { Random } from "../src/ir/random.js";
import { compileOk, readExample } from "./helpers.js";

/** What a graph computes, without the bookkeeping of how it was written. */
function signature(graph: Graph): string[] {
  return graph.nodes.map((n) => {
    const a = n.attrs as Record<string, unknown>;
    return `${n.op} ${n.shape!.join("x")} ${JSON.stringify({ k: a["kernel"], s: a["stride"], p: a["pads"], act: a["act"], norm: a["norm"] })}`;
  });
}

function samePass(before: string, options: object, expected: string): void {
  const a = compileOk(before, options);
  const b = compileOk(expected);
  expect(signature(a.graph)).toEqual(signature(b.graph));
  expect(a.costs.totals).toEqual(b.costs.totals);
}

describe("scale-width (α)", () => {
  it("scales conv, pw and separable by floor(N·α); dw keeps its input's channels; fc is never scaled", () => {
    samePass(
      "network N {\n  input 32x32x3\n  conv 3x3 30 stride=2\n  separable 50\n  pw 7\n  dw 3x3\n  avgpool global\n  fc 10\n}",
      { alpha: 0.75 },
      "network N {\n  input 32x32x3\n  conv 3x3 22 stride=2\n  separable 37\n  pw 5\n  dw 3x3\n  avgpool global\n  fc 10\n}",
    );
  });

  it("takes the network's `width` unless --alpha overrides it", () => {
    const source = "network N {\n  input 8x8x3\n  width 0.5\n  pw 64\n}";
    expect(compileOk(source).graph.nodes[1]!.shape![2]).toBe(32);
    expect(compileOk(source, { alpha: 0.25 }).graph.nodes[1]!.shape![2]).toBe(16);
  });

  it("multiplies width regions into α, and exempts width=fixed layers from α", () => {
    samePass(
      "network N {\n  input 8x8x3\n  width 0.5\n  pw 64\n  width 0.5 {\n    pw 64\n    width 0.5 { pw 64 }\n  }\n  pw 64 width=fixed\n  pw 64 width=2\n}",
      {},
      "network N {\n  input 8x8x3\n  pw 32\n  pw 16\n  pw 8\n  pw 64\n  pw 64\n}",
    );
  });

  it("offers TF-Slim's and MobileNetV2's rounding rules as options", () => {
    expect([roundChannels(32 * 0.1, "floor"), roundChannels(32 * 0.1, "min8"), roundChannels(32 * 0.1, "div8")]).toEqual([3, 8, 8]);
    expect([roundChannels(100 * 0.75, "floor"), roundChannels(100 * 0.75, "div8")]).toEqual([75, 72]);
    // For MobileNetV1 at the paper's α values all three agree.
    for (const alpha of [1, 0.75, 0.5, 0.25]) {
      const totals = (["floor", "min8", "div8"] as const).map((r) => compileOk(readExample("mobilenet_v1.mn"), { alpha, widthRounding: r }).costs.totals.multAdds);
      expect(new Set(totals).size).toBe(1);
    }
  });

  it("is idempotent: it reads only the declared filters", () => {
    const r = compile("network N {\n  input 8x8x3\n  pw 64\n}", { alpha: 0.5 });
    expect(r.graph!.nodes[1]!.attrs).toMatchObject({ size: { kind: "filters", filters: 64 }, channels: 32 });
  });
});

describe("scale-resolution (ρ) and infer-shapes", () => {
  it("--resolution sets H = W = R; --rho rounds H·ρ and W·ρ", () => {
    const source = "network N {\n  input 224x200x3\n  pw 8\n}";
    expect(compileOk(source, { resolution: 160 }).graph.nodes[0]!.shape).toEqual([160, 160, 3]);
    expect(compileOk(source, { rho: 0.714 }).graph.nodes[0]!.shape).toEqual([160, 143, 3]);
  });

  it("follows TensorFlow SAME arithmetic: ceil(in/stride), 0 before and 1 after for stride 2 on even inputs", () => {
    samePass(
      "network N {\n  input 224x224x3\n  conv 3x3 8 stride=2\n  conv 3x3 8 stride=2\n  dw 3x3 stride=2\n}",
      { resolution: 114 },
      "network N {\n  input 114x114x3\n  conv 3x3 8 stride=2\n  conv 3x3 8 stride=2\n  dw 3x3 stride=2\n}",
    );
    const g = compileOk("network N {\n  input 114x114x3\n  conv 3x3 8 stride=2\n  conv 3x3 8 stride=2\n  dw 3x3 stride=2\n  dw 5x5\n  dw 4x4\n}").graph;
    const rows = g.nodes.slice(1).map((n) => `${n.shape![0]} ${JSON.stringify((n.attrs as { pads?: unknown }).pads)}`);
    // 114 → 57 (even input: 0 before, 1 after) → 29 (odd: 1, 1) → 15 (odd: 1, 1); 5x5: 2, 2; 4x4: 1, 2.
    expect(rows).toEqual(["57 [0,0,1,1]", "29 [1,1,1,1]", "15 [1,1,1,1]", "15 [2,2,2,2]", "15 [1,1,2,2]"]);
  });

  it("computes VALID windows and pooling with the stride defaulting to the window", () => {
    const g = compileOk("network N {\n  input 15x15x4\n  conv 3x3 8 pad=valid\n  maxpool 2x2\n  avgpool 3x3 stride=1 pad=same\n  avgpool global\n}").graph;
    expect(g.nodes.slice(1).map((n) => n.shape!.join("x"))).toEqual(["13x13x8", "6x6x8", "6x6x8", "1x1x8"]);
  });

  it("MobileNetV1 at every paper resolution ends 7x7, 6x6, 5x5, 4x4 before pooling", () => {
    for (const [r, final] of [[224, 7], [192, 6], [160, 5], [128, 4]] as const) {
      const g = compileOk(readExample("mobilenet_v1.mn"), { resolution: r }).graph;
      expect(g.nodes.find((n) => n.id === "sep_13.pw")!.shape).toEqual([final, final, 1024]);
    }
  });
});

describe("the IR dump", () => {
  it("is stable text (golden file)", async () => {
    const { graph } = compileOk(readExample("mobilenet_v1.mn"), { file: "examples/mobilenet_v1.mn" });
    await expect(printGraph(graph)).toMatchFileSnapshot("golden/ir/mobilenet_v1.txt");
    const tiny = compileOk(readExample("keyword_spotter.mn"), { alpha: 0.5, resolution: 64 });
    await expect(printGraph(tiny.graph)).toMatchFileSnapshot("golden/ir/keyword_spotter-0.5-64.txt");
  });
});

describe("seeded random numbers", () => {
  it("fillNormal gives exactly the values of normal() called in turn, and leaves the same state", () => {
    for (const lengths of [[5], [4, 3], [1, 1, 7], [0, 2, 9]]) {
      const a = new Random(9, "stream");
      const b = new Random(9, "stream");
      for (const n of lengths) {
        const filled = new Float32Array(n);
        a.fillNormal(filled, 0.5);
        expect(Array.from(filled)).toEqual(Array.from(Float32Array.from({ length: n }, () => 0.5 * b.normal())));
        // Interleave a plain draw: both generators must be in the same state.
        expect(a.next()).toBe(b.next());
      }
    }
  });
});
