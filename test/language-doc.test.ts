/**
 * Every example in the language document (../shared/design/language.md)
 * compiles exactly as written.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { codeBlocks, compileOk, shared } from "./helpers.js";

const doc = readFileSync(join(shared, "design", "language.md"), "utf8");
const examples = codeBlocks(doc);

describe("the language document's examples", () => {
  it("has the six examples it promises", () => {
    expect(examples).toHaveLength(6);
  });

  it.each(examples.map((source, i) => [i + 1, source] as const))("example %i compiles", (_i, source) => {
    const { graph } = compileOk(source, { file: "language.md" });
    expect(graph.nodes.length).toBeGreaterThan(3);
  });

  it("the Tiny example: blocks with positional, named and default arguments, under width 0.5", () => {
    const { graph } = compileOk(examples.find((e) => e.includes("network Tiny"))!);
    const rows = graph.nodes.map((n) => `${n.id} ${n.shape!.join("x")}`);
    expect(rows).toEqual([
      "input 96x96x3",
      "conv_0 48x48x8",
      "dws_1.dw_0 48x48x8",
      "dws_1.pw_1 48x48x16",
      "dws_2.dw_0 24x24x16",
      "dws_2.pw_1 24x24x32",
      "dws_3.dw_0 24x24x32",
      "dws_3.pw_1 24x24x32",
      "dws_4.dw_0 24x24x32",
      "dws_4.pw_1 24x24x32",
      "avgpool_0 1x1x32",
      "fc_5 1x1x10",
      "softmax_0 1x1x10",
    ]);
  });
});
