/**
 * int8 memory in `mnc report`: weight bytes (kernels, int32 biases, scales and
 * zero points) and live activation bytes with their peak (TensorFlow Lite
 * Micro's arena), for the trained uint8 MobileNets as stored and for float
 * graphs on request (--int8); each figure against a count written here from
 * the shapes or the data's READMEs, and float reports without the request
 * unchanged.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyze, calibrate, compile, quantizeGraph, report, type Report } from "../src/index.js";
import { buildReport, QUANT_PARAM_BYTES } from "../src/emit/report/model.js";
import { reportCsv } from "../src/emit/report/csv.js";
import { reportHtml } from "../src/emit/report/html.js";
import { reportJson } from "../src/emit/report/json.js";
import { reportMarkdown, reportText } from "../src/emit/report/text.js";
import { readExample, root, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

/** A stem, one residual bottleneck (expand 2), a pool and an FC: small enough to count every live tensor by hand. */
const SMALL = `network Small {
  input 8x8x3
  defaults act=relu6
  conv 3x3 8
  bottleneck 8 expand=2
  avgpool global
  fc 4
}
`;

function int8Report(source: string, options = {}): Report {
  const r = analyze(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return buildReport(r.graph!, r.costs!, { int8: true });
}

describe("int8 memory of a float graph (--int8): what 8-bit per-channel quantization would store", () => {
  const r = int8Report(SMALL);
  const layer = (name: string) => r.layers.find((l) => l.name === name)!.int8!;

  it("counts each weighted layer's kernel in 1 byte, a deployed int32 bias and a scale and zero point per output channel", () => {
    // conv 3x3 3→8 with batch-norm: 216 weights, 8 fused biases, 8 channels.
    expect(layer("conv_0")).toMatchObject({ kernelBytes: 216, biasBytes: 8 * 4, quantBytes: 8 * 8, weightBytes: 216 + 32 + 64 });
    expect(layer("bneck_1.expand")).toMatchObject({ kernelBytes: 8 * 16, biasBytes: 16 * 4, quantBytes: 16 * 8 });
    expect(layer("bneck_1.dw")).toMatchObject({ kernelBytes: 9 * 16, biasBytes: 16 * 4, quantBytes: 16 * 8 });
    expect(layer("bneck_1.project")).toMatchObject({ kernelBytes: 16 * 8, biasBytes: 8 * 4, quantBytes: 8 * 8 });
    // The FC has its own bias (no batch-norm): 8·4 weights, 4 biases, 4 channels.
    expect(layer("fc_2")).toMatchObject({ kernelBytes: 32, biasBytes: 16, quantBytes: 32, weightBytes: 80 });
    for (const name of ["input", "bneck_1.add", "avgpool_0"]) expect(layer(name)).toMatchObject({ kernelBytes: 0, biasBytes: 0, quantBytes: 0, weightBytes: 0 });
    expect(r.int8).toMatchObject({ basis: "estimate", kernelBytes: 648, biasBytes: 4 * (8 + 16 + 16 + 8 + 4), quantBytes: 8 * (8 + 16 + 16 + 8 + 4) });
    expect(r.int8!.weightBytes).toBe(648 + 208 + 416);
    // Kernels and biases are the float report's int8 figure; the scales and zero points come on top.
    expect(r.int8!.kernelBytes + r.int8!.biasBytes).toBe(r.totals.weightBytesInt8);
  });

  it("holds every live tensor in 1 byte per value: the arena's peak, counted by hand", () => {
    // Outputs: input 8·8·3 = 192, conv_0 512, expand 1024, dw 1024, project 512, add 512, pool 8, fc 4.
    // conv_0 stays live until the residual add reads it.
    const live: Record<string, number> = {
      input: 192,
      conv_0: 192 + 512,
      "bneck_1.expand": 512 + 1024,
      "bneck_1.dw": 512 + 1024 + 1024,
      "bneck_1.project": 512 + 1024 + 512,
      "bneck_1.add": 512 + 512 + 512,
      avgpool_0: 512 + 8,
      fc_2: 8 + 4,
    };
    for (const l of r.layers) {
      expect(l.int8!.liveBytes, l.name).toBe(live[l.name]);
      expect(l.int8!.activationBytes).toBe(l.activationBytes / 4);
    }
    expect(r.int8).toMatchObject({ peakActivationBytes: 2560, peakActivationLayer: "bneck_1.dw", peakActivationLive: ["conv_0", "bneck_1.expand", "bneck_1.dw"] });
    // The same schedule as the float32 figure, a quarter of the bytes.
    expect(r.int8!.peakActivationBytes * 4).toBe(r.totals.peakActivationBytes);
  });

  it("MobileNetV2 1.0-224: the same weights as the trained uint8 file, per-channel parameters on top", () => {
    const v2 = int8Report(readExample("mobilenet_v2.mn"), { set: { classes: "1001" } });
    // mobilenet_v2_quant/README.md: 3,471,040 weights and 18,057 biases; 52 convolutions and the FC, one scale per output channel.
    expect(v2.int8).toMatchObject({ kernelBytes: 3_471_040, biasBytes: 18_057 * 4, quantBytes: 18_057 * QUANT_PARAM_BYTES });
    // The widest pair: bneck_2's expansion to 112·112·96 and its stride-2 depthwise output 56·56·96.
    expect(v2.int8).toMatchObject({ peakActivationBytes: 112 * 112 * 96 + 56 * 56 * 96, peakActivationLayer: "bneck_2.dw" });
  });

  it("a float report without --int8 has no int8 figures and prints as before", () => {
    const plain = report(SMALL).report!;
    expect(plain.int8).toBeUndefined();
    expect(plain.layers.every((l) => l.int8 === undefined)).toBe(true);
    expect(reportJson(plain)).not.toContain("int8_");
    expect(reportJson(plain)).not.toContain('"int8"');
    for (const text of [reportText(plain), reportMarkdown(plain), reportCsv(plain), reportHtml(plain)]) expect(text).not.toMatch(/int8 (weight memory|peak|live|arena)|int8_/);
    // The int8 report is the float one plus its own fields.
    const { int8: _int8, layers, convention, ...rest } = r;
    const { layers: plainLayers, convention: plainConvention, ...plainRest } = plain;
    expect(rest).toEqual(plainRest);
    expect(layers.map(({ int8: _i, ...l }) => l)).toEqual(plainLayers);
    expect(convention.slice(0, -1)).toEqual(plainConvention);
    expect(convention.at(-1)).toMatch(/^int8 weight memory is what 8-bit quantization would store/);
  });

  it("every format prints them", () => {
    const text = reportText(r);
    expect(text).toMatch(/int8 weights\s+int8 live/);
    expect(text).toContain("int8 weight memory             1,272 B (1.24 KiB)   (after 8-bit per-channel quantization: kernels 648 B + int32 biases 208 B + scales and zero points 416 B)");
    expect(text).toContain("int8 peak activations          2,560 B (2.50 KiB) at bneck_1.dw (1 byte per value, batch 1: the least TensorFlow Lite Micro arena; also live: conv_0)");
    // The layer table's total row: int8 weights in total, the peak under "int8 live".
    expect(text).toMatch(/^total\s.*\s1,272\s+2,560$/m);
    expect(reportMarkdown(r)).toContain("- **int8 weight memory**: 1,272 B (1.24 KiB)");
    const csv = reportCsv(r).split("\n").filter((l) => !l.startsWith("#"));
    const header = csv[0]!.split(",");
    const row = (name: string): Record<string, string> => Object.fromEntries(csv.find((l) => l.startsWith(`${name},`))!.split(",").map((v, i) => [header[i]!, v]));
    expect(row("bneck_1.dw")).toMatchObject({ int8_kernel_bytes: "144", int8_bias_bytes: "64", int8_quant_bytes: "128", int8_weight_bytes: "336", int8_activation_bytes: "1024", int8_live_bytes: "2560" });
    expect(row("total")).toMatchObject({ int8_kernel_bytes: "648", int8_bias_bytes: "208", int8_quant_bytes: "416", int8_weight_bytes: "1272", int8_activation_bytes: "", int8_live_bytes: "2560" });
    const json = JSON.parse(reportJson(r)) as Report;
    expect(json.int8).toEqual(r.int8);
    const html = reportHtml(r);
    expect(html).toContain("int8 arena (activations)");
    expect(html).toContain("2,560 B (2.50 KiB)");
    expect(html).toContain("1,272 B (1.24 KiB)");
  });
});

describe("int8 memory of a graph quantized after training", () => {
  it("counts its stored integers: per-channel kernels, a scale and zero point per output channel — what --int8 estimated", () => {
    const r = compile(SMALL, { seed: 1 });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const pixels = (seed: number): Float32Array => Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => (Math.sin(i * 0.7 + seed) + 1) * 127.5);
    const graph = quantizeGraph(r.graph!, calibrate(r.graph!, [pixels(1), pixels(2)]));
    const q = buildReport(graph, r.costs!);
    expect(q.int8).toMatchObject({ basis: "quantized", kernelBytes: 648, biasBytes: 208, quantBytes: 416, weightBytes: 1272, peakActivationBytes: 2560, peakActivationLayer: "bneck_1.dw" });
    const estimate = int8Report(SMALL).int8!;
    expect({ ...q.int8!, basis: "estimate" }).toEqual(estimate);
  });
});

const models = [
  {
    name: "MobileNetV2 1.0 (uint8)",
    file: join(shared, "data", "mobilenet_v2_quant", "model", "mobilenet_v2_1.0_224_quant.tflite"),
    source: "mobilenet_v2.mn",
    options: { set: { classes: "1001" } },
    // The README: 3,471,040 uint8 weights, 18,057 int32 biases; 53 convolutions, one scale per tensor.
    kernels: 3_471_040,
    biases: 18_057,
    layers: 53,
    // bneck_2: its expansion to 112·112·96 and its stride-2 depthwise output 56·56·96.
    peak: { bytes: 112 * 112 * 96 + 56 * 56 * 96, layer: "bneck_2.dw" },
  },
  {
    name: "MobileNetV1 0.25 (uint8)",
    file: join(shared, "data", "mobilenet_v1_quant", "model", "mobilenet_v1_0.25_224_quant.tflite"),
    source: "mobilenet_v1_tf.mn",
    options: {},
    // The README: 463,856 uint8 weights, 3,737 int32 biases; 27 convolutions and the 1x1 to 1001.
    kernels: 463_856,
    biases: 3_737,
    layers: 28,
    // A chain: the largest input + output, sep_1's depthwise output 112·112·8 into its pointwise 112·112·16
    // (the stem reads 224·224·3 = 150,528 and writes 112·112·8 = 100,352: less).
    peak: { bytes: 112 * 112 * 8 + 112 * 112 * 16, layer: "sep_1.pw" },
  },
] as const;

for (const m of models) {
  describe.runIf(haveShared(m.file, `the int8 report of the trained ${m.name}`))(`int8 memory of the trained ${m.name} as stored`, () => {
    const bytes = new Uint8Array(readFileSync(m.file));

    it("kernels, biases and per-tensor scales and zero points: the file's own counts", { timeout: 30_000 }, () => {
      const c = compile(readExample(m.source), { ...m.options, weights: bytes, weightsFile: "model.tflite", quantized: true });
      expect(c.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      // A quantized graph's report has its int8 memory without being asked.
      const r = buildReport(c.graph!, c.costs!);
      expect(r.int8).toMatchObject({ basis: "quantized", kernelBytes: m.kernels, biasBytes: m.biases * 4, quantBytes: m.layers * QUANT_PARAM_BYTES });
      expect(r.int8!.weightBytes).toBe(m.kernels + 4 * m.biases + 8 * m.layers);
      expect(r.layers.filter((l) => l.int8!.kernelBytes > 0)).toHaveLength(m.layers);
      expect(r.layers.reduce((s, l) => s + l.int8!.weightBytes, 0)).toBe(r.int8!.weightBytes);
      expect(r.int8!.peakActivationBytes).toBe(m.peak.bytes);
      expect(r.int8!.peakActivationLayer).toBe(m.peak.layer);
      expect(Math.max(...r.layers.map((l) => l.int8!.liveBytes))).toBe(m.peak.bytes);
      expect(r.convention.at(-1)).toMatch(/^int8 weight memory is that of the quantized model as stored/);
    });
  });
}

describe("the CLI: mnc report --int8, --weights F --quantized", () => {
  const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
  const v2 = join(shared, "data", "mobilenet_v2_quant", "model", "mobilenet_v2_1.0_224_quant.tflite");

  it("--quantized needs --weights, and --weights goes with --quantized (usage errors, exit 2)", () => {
    const noWeights = mnc("report", "examples/mobilenet_v2.mn", "--quantized");
    expect(noWeights.status).toBe(2);
    expect(noWeights.stderr).toContain("report --quantized reads a quantized model's integers: give it with --weights PATH");
    const noQuantized = mnc("report", "examples/mobilenet_v2.mn", "--weights", v2);
    expect(noQuantized.status).toBe(2);
    expect(noQuantized.stderr).toContain("report: --weights goes with --quantized");
  });

  it("--int8 --format json on a float network", () => {
    const r = mnc("report", "examples/mobilenet_v2.mn", "--set", "classes=1001", "--int8", "--format", "json");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as Report;
    expect(j.int8).toMatchObject({ basis: "estimate", kernelBytes: 3_471_040, biasBytes: 18_057 * 4, peakActivationBytes: 1_505_280, peakActivationLayer: "bneck_2.dw" });
  });

  it.runIf(haveShared(v2, "report() on the trained MobileNetV2"))("the library's report() gives the CLI's JSON: { int8: true } for a float network, { weights, quantized: true } for a quantized one", { timeout: 30_000 }, () => {
    const source = readExample("mobilenet_v2.mn");
    const set = { classes: "1001" };
    const cli = (...extra: string[]) => JSON.parse(mnc("report", "examples/mobilenet_v2.mn", "--set", "classes=1001", "--format", "json", ...extra).stdout) as Report;
    expect(JSON.parse(JSON.stringify(report(source, { set, int8: true }).report))).toEqual(cli("--int8"));
    const quantized = report(source, { set, weights: new Uint8Array(readFileSync(v2)), weightsFile: v2, quantized: true }).report!;
    expect(quantized.int8).toMatchObject({ kernelBytes: 3_471_040, biasBytes: 18_057 * 4, peakActivationBytes: 1_505_280 });
    expect(JSON.parse(JSON.stringify(quantized))).toEqual(cli("--weights", v2, "--quantized"));
  });

  it.runIf(haveShared(v2, "mnc report --quantized on the trained MobileNetV2"))("--weights F --quantized: the file's integers as stored", { timeout: 30_000 }, () => {
    const r = mnc("report", "examples/mobilenet_v2.mn", "--set", "classes=1001", "--weights", v2, "--quantized");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("int8 weight memory             3,543,692 B (3.38 MiB)   (as stored: kernels 3,471,040 B + int32 biases 72,228 B + scales and zero points 424 B)");
    expect(r.stdout).toContain("int8 peak activations          1,505,280 B (1.44 MiB) at bneck_2.dw");
  });
});
