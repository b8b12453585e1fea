/**
 * The canonical int8 weights blob (src/weights/int8.ts) of the trained uint8
 * MobileNetV1 0.25: every layer's stored kernel bytes and int32 biases where
 * its table says, 16-byte aligned, the gaps zero.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { int8Blob } from "../src/weights/int8.js";
import { readExample, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

const model = join(shared, "data", "mobilenet_v1_quant", "model", "mobilenet_v1_0.25_224_quant.tflite");

describe.runIf(haveShared(model, "the trained MobileNetV1 0.25 (uint8)"))("the int8 weights blob", () => {
  it("holds every quantized layer's stored kernel and bias, aligned, nothing else", { timeout: 60_000 }, () => {
    const r = compile(readExample("mobilenet_v1_tf.mn"), { alpha: 0.25, weights: new Uint8Array(readFileSync(model)), weightsFile: "m.tflite", quantized: true });
    expect(r.diagnostics).toEqual([]);
    const graph = r.graph!;
    const blob = int8Blob(graph);
    const weighted = graph.nodes.filter((n) => (n.op === "conv" || n.op === "depthwise" || n.op === "fc") && n.weights?.quantized !== undefined);
    expect(blob.layers.map((l) => l.node)).toEqual(weighted.map((n) => n.id));
    const covered = new Uint8Array(blob.bytes.length);
    const view = new DataView(blob.bytes.buffer);
    let weights = 0;
    for (const layer of blob.layers) {
      const node = graph.nodes.find((n) => n.id === layer.node)!;
      const q = (node as { weights?: { quantized?: { kernel: { data: Int32Array }; bias?: Int32Array } } }).weights!.quantized!;
      expect(layer.kernel.offset % 16).toBe(0);
      expect(layer.bias.offset % 16).toBe(0);
      expect(Array.from(blob.bytes.subarray(layer.kernel.offset, layer.kernel.offset + layer.kernel.bytes))).toEqual(Array.from(q.kernel.data));
      const bias = Array.from({ length: layer.bias.count }, (_, i) => view.getInt32(layer.bias.offset + 4 * i, true));
      expect(bias).toEqual(Array.from(q.bias ?? new Int32Array(layer.bias.count)));
      covered.fill(1, layer.kernel.offset, layer.kernel.offset + layer.kernel.bytes);
      covered.fill(1, layer.bias.offset, layer.bias.offset + 4 * layer.bias.count);
      weights += layer.kernel.bytes;
    }
    // The README's 463,856 uint8 weights, one byte each, and 3,737 int32 biases; the gaps hold zeros.
    expect(weights).toBe(463_856);
    expect(blob.layers.reduce((s, l) => s + l.bias.count, 0)).toBe(3_737);
    expect(blob.bytes.every((b, i) => covered[i] === 1 || b === 0)).toBe(true);
  });
});
