/**
 * The one liveness analysis: on a chain a layer holds its input and its output;
 * a skip connection keeps its tensor live across the body; outputs live to the end.
 */
import { describe, expect, it } from "vitest";
import { liveness, peakLive } from "../src/ir/liveness.js";
import { compileOk } from "./helpers.js";

describe("liveness", () => {
  it("on a chain, step i holds node i's input and output; each tensor dies at its one reader", () => {
    const { graph } = compileOk("network N {\n  input 8x8x3\n  pw 4\n  dw 3x3\n  pw 2\n}\n");
    const l = liveness(graph);
    expect(l.live).toEqual([["input"], ["input", "pw_0"], ["pw_0", "dw_1"], ["dw_1", "pw_2"]]);
    expect(l.dies).toEqual([[], ["input"], ["pw_0"], ["dw_1"]]);
    expect(l.lastUse.get("pw_2")).toBe(4);
  });

  it("a residual's input stays live across its body, until the add", () => {
    const { graph } = compileOk("network N {\n  input 8x8x3\n  pw 4\n  residual {\n    pw 8\n    pw 4\n  }\n  softmax\n}\n");
    const l = liveness(graph);
    expect(l.live[2]).toEqual(["pw_0", "res_1.pw_0"]);
    expect(l.live[3]).toEqual(["pw_0", "res_1.pw_0", "res_1.pw_1"]);
    expect(l.live[4]).toEqual(["pw_0", "res_1.pw_1", "res_1.add"]);
    expect(l.dies[4]).toEqual(["pw_0", "res_1.pw_1"]);
    // Peak in elements: 8·8·(4 + 8 + 4) at step 3.
    const sizes = new Map(graph.nodes.map((n) => [n.id, n.shape![0] * n.shape![1] * n.shape![2]]));
    expect(peakLive(graph, (id) => sizes.get(id)!)).toEqual({ step: 3, bytes: 64 * 16 });
  });
});
