/**
 * The batch-norm-fusion certificate, layer by layer: it passes true folds,
 * refuses broken ones (one channel's bias or scale, a wrong ε, any single
 * weight of any tap and channel, a channel a ReLU would hide) with MN4007 at
 * the layer, and agrees with running the whole networks.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { certifyFusion, FUSION_TOLERANCE } from "../src/passes/certify-fusion.js";
import { fold, fuseBatchNorm } from "../src/passes/fuse-batch-norm.js";
import { runReference } from "../src/ir/reference.js";
import type { Diagnostic } from "../src/ir/diagnostics.js";
import type { Graph, LayerWeights, Node } from "../src/ir/graph.js";
import { exampleOptions, readExample } from "./helpers.js";

const weightsOf = (n: Node): LayerWeights | undefined => ("weights" in n ? n.weights : undefined);

function compiled(source: string, options = {}): { unfused: Graph; fused: Graph } {
  const r = compile(source, { file: "n.mn", ...options });
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return { unfused: r.unfused!, fused: r.graph! };
}

/** The fused graph with one layer's folded weights replaced. */
function alter(fused: Graph, id: string, change: (w: LayerWeights) => LayerWeights): Graph {
  return {
    ...fused,
    nodes: fused.nodes.map((n) => (n.id === id ? ({ ...n, weights: change((n as { weights: LayerWeights }).weights) } as Node) : n)),
  };
}

const copy = (w: LayerWeights): { kernel: Float32Array; bias: Float32Array } => ({ kernel: Float32Array.from(w.kernel.data), bias: Float32Array.from(w.bias!.data) });
const withData = (w: LayerWeights, kernel: Float32Array, bias: Float32Array): LayerWeights => ({
  kernel: { shape: w.kernel.shape, data: kernel },
  bias: { shape: w.bias!.shape, data: bias },
});

function certify(unfused: Graph, fused: Graph): { error: number; layers: number; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const c = certifyFusion(unfused, fused, 1, diagnostics);
  return { error: c.maxRelativeError, layers: c.layers, diagnostics };
}

const SMALL = "network N {\n  input 9x9x3\n  conv 3x3 4 stride=2\n  separable 6 stride=2\n  dw 5x5 act=relu\n  pw 5 act=hswish\n}\n";

describe("certify-fusion, per layer", () => {
  it("certifies every fused layer of MobileNetV1 and V2 within the tolerance", () => {
    for (const [file, layers] of [["mobilenet_v1.mn", 27], ["mobilenet_v2.mn", 52]] as const) {
      const r = compile(readExample(file), { file });
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      const c = r.certificate!;
      expect(c.layers).toBe(layers);
      expect(c.layers).toBe(r.unfused!.nodes.filter((n) => n.op !== "fc" && weightsOf(n)?.bn !== undefined).length);
      expect(c.inputs).toBe(2);
      expect(c.maxRelativeError).toBeGreaterThan(0); // float32 storage of the folded weights rounds
      expect(c.maxRelativeError).toBeLessThan(FUSION_TOLERANCE);
    }
  }, 60_000);

  it("agrees with running the whole small network unfused and fused", () => {
    const { unfused, fused } = compiled(SMALL);
    const c = certify(unfused, fused);
    expect(c.diagnostics).toEqual([]);
    expect(c.layers).toBe(5);
    const x = new Float32Array(9 * 9 * 3).map((_, i) => Math.cos(i * 0.7));
    const a = runReference(unfused, x);
    const b = runReference(fused, x);
    const scale = Math.max(...a.map(Math.abs));
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale).toBeLessThan(FUSION_TOLERANCE);
  });

  it("refuses one channel's bias moved, naming and pointing at the layer", () => {
    const { unfused, fused } = compiled(SMALL);
    const broken = alter(fused, "sep_1.pw", (w) => {
      const { kernel, bias } = copy(w);
      bias[3]! += 0.01;
      return withData(w, kernel, bias);
    });
    const c = certify(unfused, broken);
    expect(c.diagnostics.map((d) => d.code)).toEqual(["MN4007"]);
    expect(c.diagnostics[0]!.message).toContain("'sep_1.pw'");
    expect(c.diagnostics[0]!.span).toEqual(unfused.nodes.find((n) => n.id === "sep_1.pw")!.span);
    expect(c.error).toBeGreaterThan(FUSION_TOLERANCE);
  });

  it("refuses one channel's scale off by 1e-3", () => {
    const { unfused, fused } = compiled(SMALL);
    const broken = alter(fused, "conv_0", (w) => {
      const { kernel, bias } = copy(w);
      const perChannel = kernel.length / 4;
      for (let i = 2 * perChannel; i < 3 * perChannel; i++) kernel[i]! *= 1.001;
      return withData(w, kernel, bias);
    });
    const c = certify(unfused, broken);
    expect(c.diagnostics.map((d) => [d.code, d.message.includes("'conv_0'")])).toEqual([["MN4007", true]]);
  });

  it("refuses a fold computed with the wrong epsilon, in every layer", () => {
    const { unfused } = compiled(SMALL);
    const wrong: Graph = {
      ...unfused,
      nodes: unfused.nodes.map((n) => {
        const w = weightsOf(n);
        if (w?.bn === undefined) return n;
        return { ...n, attrs: { ...n.attrs, norm: "none" }, weights: fold({ ...w, bn: { ...w.bn, epsilon: 0.01 } }) } as Node;
      }),
    };
    const c = certify(unfused, wrong);
    expect(c.diagnostics.map((d) => d.code)).toEqual(["MN4007", "MN4007", "MN4007", "MN4007", "MN4007"]);
  });

  it("exercises every weight: moving any single tap of any channel of any layer is refused", () => {
    const { unfused, fused } = compiled(SMALL);
    let tried = 0;
    for (const node of fused.nodes) {
      const w = weightsOf(node);
      if (w === undefined) continue;
      // A move the size of the layer's largest weight: the one tap's term changes by that times an input in [−1, 1).
      const step = Math.max(...w.kernel.data.map(Math.abs));
      for (let i = 0; i < w.kernel.data.length; i++) {
        const broken = alter(fused, node.id, (v) => {
          const { kernel, bias } = copy(v);
          kernel[i]! += step;
          return withData(v, kernel, bias);
        });
        const c = certify(unfused, broken);
        expect(c.diagnostics.map((d) => d.message.includes(`'${node.id}'`)), `${node.id} kernel[${i}]`).toEqual([true]);
        tried++;
      }
    }
    // 3x3 conv 4·3·9, dw 3x3 4·9, pw 6·4, dw 5x5 6·25, pw 5·6.
    expect(tried).toBe(108 + 36 + 24 + 150 + 30);
  });

  it("sees a channel a ReLU keeps at zero", () => {
    const { unfused, fused } = compiled("network N {\n  input 3x3x2\n  conv 3x3 2 pad=valid act=relu\n}\n");
    // Every value of channel 1 comes out negative: β far below zero, before and after the fold.
    const deep = (g: Graph, f: (w: LayerWeights) => LayerWeights): Graph => ({ ...g, nodes: g.nodes.map((n) => (n.op === "conv" ? ({ ...n, weights: f(n.weights!) } as Node) : n)) });
    const sunk = deep(unfused, (w) => ({ ...w, bn: { ...w.bn!, beta: { shape: [2], data: Float32Array.from([0, -100]) } } }));
    const sunkFused = fuseBatchNorm.run(sunk, { options: {}, diagnostics: [] });
    expect(certify(sunk, sunkFused).diagnostics).toEqual([]);
    const broken = deep(sunkFused, (w) => {
      const { kernel, bias } = copy(w);
      for (let i = 18; i < 36; i++) kernel[i]! *= 1.5;
      return withData(w, kernel, bias);
    });
    // Through the ReLU both are all zeros; before it they differ.
    expect(certify(sunk, broken).diagnostics.map((d) => d.code)).toEqual(["MN4007"]);
    expect(fused.nodes.length).toBe(2);
  });

  it("refuses through compile(): a second layer whose fold overflows float32, at that layer, with no graph", () => {
    const source = "network N {\n  input 8x8x3\n  pw 2\n  pw 2\n}\n";
    const bn = (gamma: number) => [
      { name: "pw_1.bn.gamma", shape: [2], value: gamma },
      { name: "pw_1.bn.beta", shape: [2] },
      { name: "pw_1.bn.mean", shape: [2] },
      { name: "pw_1.bn.variance", shape: [2], value: 1 },
    ];
    const pw0 = [
      { name: "pw_0.weight", shape: [2, 3, 1, 1], value: 0.5 },
      { name: "pw_0.bn.gamma", shape: [2], value: 1 },
      { name: "pw_0.bn.beta", shape: [2], value: 1 },
      { name: "pw_0.bn.mean", shape: [2] },
      { name: "pw_0.bn.variance", shape: [2], value: 1 },
      { name: "pw_1.weight", shape: [2, 2, 1, 1], value: 1e10 },
    ];
    const run = (gamma: number) => compile(source, { file: "n.mn", ...exampleOptions({ source, options: { weights: { tensors: [...pw0, ...bn(gamma)] } } }) });
    expect(run(1).certificate!.layers).toBe(2);
    const r = run(1e30);
    expect(r.graph).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.code, d.span?.line, d.message.slice(0, 59)])).toEqual([
      ["MN4007", 4, "batch-norm fusion changed the outputs of 'pw_1' by Infinity"],
    ]);
  });
});
