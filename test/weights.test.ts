/**
 * Weights: seeded initialisation, batch-norm fusion and its certificate,
 * safetensors round trips, and the trained TFLite MobileNetV1 classifying the
 * shared photos exactly as TensorFlow Lite does.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { isWeighted, type Graph, type Node } from "../src/ir/graph.js";
import { runReference } from "../src/ir/reference.js";
import { fuseBatchNorm } from "../src/passes/fuse-batch-norm.js";
import { exportSafetensors } from "../src/weights/export.js";
import { readSafetensors } from "../src/weights/safetensors.js";
import { exampleFiles, fitResolution, readExample, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

function compiled(source: string, options: CompileOptions = {}) {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return r as Required<Pick<typeof r, "graph" | "unfused" | "costs">> & typeof r;
}

const weightsOf = (g: Graph, id: string) => (g.nodes.find((n) => n.id === id) as Extract<Node, { op: "conv" }>).weights!;

describe("seeded weights", () => {
  const net = "network N {\n  input 16x16x3\n  conv 3x3 8 stride=2\n  separable 16\n  pw 4 norm=none\n  avgpool global\n  fc 5\n}\n";

  it("are deterministic, change with the seed, and are drawn per layer", () => {
    const a = exportSafetensors(compiled(net).unfused);
    const b = exportSafetensors(compiled(net).unfused);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(exportSafetensors(compiled(net, { seed: 2 }).unfused)).equals(Buffer.from(a))).toBe(false);
    // Inserting a layer changes no other layer's weights.
    const longer = compiled(net.replace("  avgpool global", "  maxpool 2x2 pad=same\n  avgpool global")).unfused;
    expect(weightsOf(longer, "sep_1.pw").kernel.data).toEqual(weightsOf(compiled(net).unfused, "sep_1.pw").kernel.data);
  });

  it("have He-normal kernels and batch-norm statistics that are not the identity", () => {
    const g = compiled("network N {\n  input 8x8x64\n  pw 256\n}\n").unfused;
    const w = weightsOf(g, "pw_0");
    const k = w.kernel.data;
    const variance = k.reduce((s, v) => s + v * v, 0) / k.length;
    expect(variance).toBeGreaterThan(0.8 * (2 / 64));
    expect(variance).toBeLessThan(1.2 * (2 / 64));
    const bn = w.bn!;
    expect(bn.mean.data.some((m) => Math.abs(m) > 0.05)).toBe(true);
    expect(bn.variance.data.every((v) => v >= 0.5 && v < 2)).toBe(true);
    expect(bn.variance.data.some((v) => Math.abs(v - 1) > 0.2)).toBe(true);
  });
});

describe("batch-norm fusion", () => {
  it("follows W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β", () => {
    const { unfused, graph } = compiled("network N {\n  input 4x4x2\n  pw 3\n}\n");
    const before = weightsOf(unfused, "pw_0");
    const after = weightsOf(graph, "pw_0");
    const bn = before.bn!;
    for (let c = 0; c < 3; c++) {
      const s = bn.gamma.data[c]! / Math.sqrt(bn.variance.data[c]! + bn.epsilon);
      for (let i = 0; i < 2; i++) expect(after.kernel.data[c * 2 + i]).toBe(Math.fround(before.kernel.data[c * 2 + i]! * s));
      expect(after.bias!.data[c]).toBe(Math.fround(-bn.mean.data[c]! * s + bn.beta.data[c]!));
    }
    expect(after.bn).toBeUndefined();
    expect((graph.nodes[1]!.attrs as { norm: string }).norm).toBe("none");
  });

  it("is idempotent", () => {
    const { graph } = compiled(readExample("keyword_spotter.mn"));
    const again = fuseBatchNorm.run(graph, { options: {}, diagnostics: [] });
    expect(again.nodes).toEqual(graph.nodes);
  });

  // Small resolutions keep the float64 reference runs short (Conv MobileNet is 4.9 G mult-adds at 224).
  it.each(exampleFiles().flatMap((f) => [[f, 1, 64], [f, 0.5, 48], [f, 0.75, 33]] as const))(
    "keeps %s's outputs (α %s, resolution %s) within 1e-4, certified and checked independently",
    (file, alpha, resolution) => {
      const r = compiled(readExample(file), { alpha, resolution: fitResolution(file, resolution) });
      expect(r.certificate!.maxRelativeError).toBeLessThan(1e-4);
      // An independent check on another input: the outputs of the unfused and fused graphs.
      const shape = r.graph.nodes[0]!.shape!;
      const x = new Float32Array(shape[0] * shape[1] * shape[2]).map((_, i) => Math.sin(i * 0.37));
      const a = runReference(r.unfused, x);
      const b = runReference(r.graph, x);
      const scale = Math.max(...a.map(Math.abs));
      const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
      expect(diff / scale).toBeLessThan(1e-4);
    },
    60_000,
  );

  it("--no-fuse-bn keeps batch-norm", () => {
    const r = compiled("network N {\n  input 4x4x2\n  pw 3\n}\n", { fuseBatchNorm: false });
    expect(r.certificate).toBeUndefined();
    expect(weightsOf(r.graph, "pw_0").bn).toBeDefined();
  });
});

describe("safetensors export and import", () => {
  it("round-trips bit for bit", () => {
    const source = readExample("keyword_spotter.mn");
    const first = compiled(source, { seed: 7 });
    const bytes = exportSafetensors(first.unfused);
    const file = readSafetensors(bytes);
    expect(file.metadata).toMatchObject({ format: "mnc", network: "PocketNet", bn_epsilon: "0.001" });
    expect(file.tensors.map((t) => t.name).slice(0, 6)).toEqual(["conv_0.weight", "conv_0.bn.gamma", "conv_0.bn.beta", "conv_0.bn.mean", "conv_0.bn.variance", "unit_1.dw_0.weight"]);
    const second = compiled(source, { weights: bytes, weightsFile: "w.safetensors" });
    expect(Buffer.from(exportSafetensors(second.unfused)).equals(Buffer.from(bytes))).toBe(true);
    for (const n of first.unfused.nodes.filter(isWeighted)) {
      expect(weightsOf(second.unfused, n.id).kernel.data).toEqual(n.weights!.kernel.data);
    }
  });

  it("accepts folded weights for a network that declares batch-norm", () => {
    const source = "network N {\n  input 8x8x3\n  pw 4\n}\n";
    const folded = exportSafetensors(compiled(source).graph);
    const r = compiled(source, { weights: folded });
    expect((r.unfused.nodes[1]!.attrs as { norm: string }).norm).toBe("none");
    expect(weightsOf(r.unfused, "pw_0").bias).toBeDefined();
  });

  it("rejects corrupt files with a located error, never a crash", () => {
    const good = exportSafetensors(compiled("network N {\n  input 8x8x3\n  pw 4\n}\n").unfused);
    for (let cut = 0; cut < good.length; cut += 7) {
      const r = compile("network N {\n  input 8x8x3\n  pw 4\n}\n", { weights: good.slice(0, cut), weightsFile: "w.safetensors" });
      expect(r.graph).toBeUndefined();
      expect(r.diagnostics[0]!.code).toMatch(/^MN4\d{3}$/);
    }
  });
});

const data = join(shared, "data", "mobilenet_v1");
const model = join(data, "model", "mobilenet_v1_0.25_224_1_default_1.tflite");

describe.runIf(haveShared(model, "batch-norm on the trained MobileNetV1 0.25"))(`the trained MobileNetV1 0.25 (from ${data})`, () => {
  interface Truth {
    images: { name: string; expected_label: string; top5: { index_1001: number; label: string; prob: number }[] }[];
  }
  const truthFile = JSON.parse(readFileSync(join(data, "ground_truth", "ground_truth.json"), "utf8")) as Truth;
  const images = truthFile.images.map((i) => i.name).sort();
  const tflite = new Uint8Array(readFileSync(model));
  const network = readExample("mobilenet_v1_tf.mn");
  const imported = compiled(network, { weights: tflite });

  const input = (name: string): Float32Array => {
    const pixels = readFileSync(join(data, "images", `${name}.rgb224`));
    return Float32Array.from(pixels, (p) => (p - 127.5) / 127.5);
  };
  const truth = (name: string): Float32Array => {
    const b = readFileSync(join(data, "ground_truth", `${name}.probs.f32`));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const top5 = (p: ArrayLike<number>): number[] =>
    Array.from(p, (v, i) => [v, i] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, 5)
      .map(([, i]) => i);

  it("has five photos with ground truth", () => {
    expect(images).toEqual(["basketball", "burger", "cat", "mountain", "pizza"]);
  });

  it.each(images)("%s: every probability within 1e-4 of TFLite, same top-5", (name) => {
    const out = runReference(imported.graph, input(name));
    const want = truth(name);
    expect(out.length).toBe(1001);
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect(top5(out)).toEqual(top5(want));
    const expected = truthFile.images.find((i) => i.name === name)!;
    expect(top5(out)).toEqual(expected.top5.map((t) => t.index_1001));
  });

  it("keeps its outputs through batch-norm attached by the test, exported, imported and fused", () => {
    // Re-express every folded layer as conv → BN with random statistics and the same function:
    // W_bn = W / s, γ = s·√(σ² + ε), β = b + s·μ, so γ·(W_bn·x − μ)/√(σ² + ε) + β = W·x + b.
    let seed = 12345;
    const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const eps = 0.001;
    const nodes = imported.unfused.nodes.map((n): Node => {
      if ((n.op !== "conv" && n.op !== "depthwise") || n.weights?.bias === undefined) return n;
      const w = n.weights;
      const c = w.bias!.data.length;
      const per = w.kernel.data.length / c;
      const s = Float32Array.from({ length: c }, () => 0.5 + 1.5 * rand());
      const mean = Float32Array.from({ length: c }, () => rand() - 0.5);
      const variance = Float32Array.from({ length: c }, () => 0.5 + rand());
      const kernel = w.kernel.data.map((v, i) => v / s[Math.floor(i / per)]!);
      const gamma = s.map((sc, i) => sc * Math.sqrt(variance[i]! + eps));
      const beta = w.bias!.data.map((b, i) => b + s[i]! * mean[i]!);
      const v = (d: Float32Array) => ({ shape: [c], data: d });
      return { ...n, attrs: { ...n.attrs, norm: "batchnorm" }, weights: { kernel: { shape: w.kernel.shape, data: kernel }, bn: { gamma: v(gamma), beta: v(beta), mean: v(mean), variance: v(variance), epsilon: eps } } } as Node;
    });
    const bytes = exportSafetensors({ ...imported.unfused, nodes });
    const withBn = compiled(network, { weights: bytes });
    expect(withBn.certificate!.maxRelativeError).toBeLessThan(1e-4);
    expect(weightsOf(withBn.unfused, "sep_5.pw").bn).toBeDefined();
    for (const name of ["pizza", "cat"]) {
      const x = input(name);
      const unfused = runReference(withBn.unfused, x);
      const fused = runReference(withBn.graph, x);
      const want = truth(name);
      for (let i = 0; i < want.length; i++) {
        expect(Math.abs(unfused[i]! - want[i]!)).toBeLessThan(1e-4);
        expect(Math.abs(fused[i]! - want[i]!)).toBeLessThan(1e-4);
      }
    }
  }, 60_000);

  it("rejects truncated and corrupted copies of the model cleanly", () => {
    for (const cut of [0, 10, 100, 1000, 100_000, 1_000_000, tflite.length - 100]) {
      const r = compile(network, { weights: tflite.slice(0, cut), weightsFile: "m.tflite" });
      expect(r.graph).toBeUndefined();
      expect(r.diagnostics.map((d) => d.code)).toEqual(["MN4001"]);
    }
  });
});
