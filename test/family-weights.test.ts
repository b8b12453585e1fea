/**
 * MobileNetV2/V3 weights by name: `mnc weights export` writes every tensor of
 * the new layers (expansions, projections, SE convolutions with their biases)
 * and reading the file back is lossless; batch-norm fusion of the family is
 * certified against the float64 reference.
 */
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { isWeighted, type Graph } from "../src/ir/graph.js";
import { runReference } from "../src/ir/reference.js";
import { exportSafetensors } from "../src/weights/export.js";
import { readSafetensors } from "../src/weights/safetensors.js";
import { inputs, readExample, relativeError } from "./helpers.js";

function compiled(source: string, options: CompileOptions): { graph: Graph; unfused: Graph; error: number } {
  const r = compile(source, options);
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return { graph: r.graph!, unfused: r.unfused!, error: r.certificate?.maxRelativeError ?? NaN };
}

describe.each(["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"])("%s", (name) => {
  const source = readExample(`${name}.mn`);
  const options: CompileOptions = { resolution: 64, set: { classes: "10" }, seed: 5 };

  it("exports every tensor by name and reads it back bit for bit", () => {
    const first = compiled(source, options);
    const bytes = exportSafetensors(first.unfused);
    const names = readSafetensors(bytes).tensors.map((t) => t.name);
    const weighted = first.unfused.nodes.filter(isWeighted);
    for (const n of weighted) {
      expect(names).toContain(`${n.id}.weight`);
      if (n.op === "fc" || n.attrs.norm === "none") expect(names).toContain(`${n.id}.bias`);
      else expect(names).toContain(`${n.id}.bn.gamma`);
    }
    if (name !== "mobilenet_v2") expect(names).toContain(name === "mobilenet_v3_small" ? "bneck_1.se.squeeze.bias" : "bneck_4.se.squeeze.bias");
    const second = compiled(source, { ...options, weights: bytes, weightsFile: "w.safetensors" });
    expect(Buffer.from(exportSafetensors(second.unfused)).equals(Buffer.from(bytes))).toBe(true);
    const x = inputs(64 * 64 * 3, 1);
    expect(Array.from(runReference(second.graph, x))).toEqual(Array.from(runReference(first.graph, x)));
  }, 60_000);

  it("fuses batch-norm within the certificate's tolerance, and the fused graph computes the unfused one", () => {
    const r = compiled(source, options);
    expect(r.error).toBeLessThan(1e-4);
    const x = inputs(64 * 64 * 3, 2);
    expect(relativeError(runReference(r.graph, x), runReference(r.unfused, x))).toBeLessThan(1e-5);
    // The SE convolutions carry biases and no batch-norm in both graphs.
    const squeeze = r.unfused.nodes.find((n) => n.id.endsWith(".se.squeeze"));
    if (squeeze !== undefined) expect(squeeze.op === "conv" && squeeze.weights?.bn === undefined && squeeze.weights?.bias !== undefined).toBe(true);
  }, 60_000);
});
