/**
 * `mnc report` and `mnc sweep`: totals against an independent count written
 * from the paper's formulas, golden text/Markdown/CSV, budgets, and the CLI.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { report, sweep, type Report } from "../src/index.js";
import { reportCsv } from "../src/emit/report/csv.js";
import { reportJson } from "../src/emit/report/json.js";
import { reportMarkdown, reportText } from "../src/emit/report/text.js";
import { sweepCsv, sweepJson, sweepMarkdown, sweepText } from "../src/emit/report/sweep.js";
import { budget } from "../src/cli/main.js";
import { group } from "../src/emit/report/format.js";
import { readExample, root } from "./helpers.js";

const v1 = readExample("mobilenet_v1.mn");

function reportOk(source: string, options = {}): Report {
  const r = report(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.report!;
}

/**
 * An independent count of MobileNetV1, straight from the paper (§3 and Table 1,
 * with the stride-1 correction): Dk·Dk·αM·ρDf·ρDf + αM·αN·ρDf·ρDf per separable
 * layer, Df from TensorFlow SAME (ceil(in/stride)), FC 1024α × 1000 unscaled.
 */
function paperCount(alpha: number, resolution: number): { multAdds: number; weights: number; params: number; bnParams: number } {
  const a = (n: number): number => Math.floor(n * alpha);
  let size = Math.ceil(resolution / 2);
  let m = a(32);
  let multAdds = 3 * 3 * 3 * m * size * size;
  let weights = 3 * 3 * 3 * m;
  let bn = m;
  const table1: [number, number][] = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];
  for (const [filters, stride] of table1) {
    size = Math.ceil(size / stride);
    const n = a(filters);
    multAdds += 3 * 3 * m * size * size + m * n * size * size;
    weights += 3 * 3 * m + m * n;
    bn += m + n;
    m = n;
  }
  multAdds += m * 1000;
  weights += m * 1000;
  return { multAdds, weights, params: weights + 1000, bnParams: 4 * bn };
}

describe("report totals agree with an independent count", () => {
  const alphas = [1, 0.75, 0.5, 0.25];
  const resolutions = [224, 192, 160, 128];
  it.each(alphas.flatMap((a) => resolutions.map((r) => [a, r] as const)))("MobileNetV1 α=%s at %s", (alpha, resolution) => {
    const t = reportOk(v1, { alpha, resolution }).totals;
    const expected = paperCount(alpha, resolution);
    expect({ multAdds: t.multAdds, weights: t.weights, params: t.params, bnParams: t.bnParams }).toEqual(expected);
  });

  it("on networks the repo has never seen: the per-layer rows add up, and each row follows the formulas", () => {
    const layer = fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 64 }), fc.constantFrom(1, 2)).map(([n, s]) => ({ src: `separable ${n} stride=${s}`, kind: "sep", n, s })),
      fc.tuple(fc.integer({ min: 1, max: 64 }), fc.constantFrom(1, 3, 5)).map(([n, k]) => ({ src: `conv ${k}x${k} ${n}`, kind: "conv", n, s: 1, k })),
    );
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 40 }), fc.array(layer, { minLength: 1, maxLength: 6 }), (size, layers) => {
        const source = `network G {\n  input ${size}x${size}x3\n${layers.map((l) => `  ${l.src}\n`).join("")}  avgpool global\n  fc 7\n}\n`;
        const r = reportOk(source);
        let h = size;
        let m = 3;
        let multAdds = 0;
        let weights = 0;
        for (const l of layers) {
          if (l.kind === "sep") {
            h = Math.ceil(h / l.s);
            multAdds += 9 * m * h * h + m * l.n * h * h;
            weights += 9 * m + m * l.n;
          } else {
            const k = (l as { k: number }).k;
            multAdds += k * k * m * l.n * h * h;
            weights += k * k * m * l.n;
          }
          m = l.n;
        }
        multAdds += m * 7;
        weights += m * 7;
        expect(r.totals.multAdds).toBe(multAdds);
        expect(r.totals.weights).toBe(weights);
        expect(r.layers.reduce((s, l) => s + l.multAdds, 0)).toBe(r.totals.multAdds);
        expect(r.layers.reduce((s, l) => s + l.params, 0)).toBe(r.totals.params);
      }),
      { seed: 7, numRuns: 200 },
    );
  });
});

describe("report contents", () => {
  const r = reportOk(v1);

  it("states FLOPs, the Keras totals, weight memory and the peak activation", () => {
    expect(r.totals.flops).toBe(2 * 568_740_352);
    expect([r.totals.kerasTotal, r.totals.kerasTrainable, r.totals.kerasNonTrainable]).toEqual([4_253_864, 4_231_976, 21_888]);
    // After BN fusion each of the 10,944 normalised channels has a bias, plus the FC's 1000.
    expect(r.totals.deployedParams).toBe(4_209_088 + 1000 + 10_944);
    expect(r.totals.weightBytesFloat32).toBe(4 * r.totals.deployedParams);
    expect(r.totals.weightBytesInt8).toBe(4_209_088 + 4 * (1000 + 10_944));
    // 112x112x32 in, 112x112x64 out, float32.
    expect([r.totals.peakActivationLayer, r.totals.peakActivationBytes]).toEqual(["sep_1.pw", 4 * 112 * 112 * (32 + 64)]);
  });

  it("shows each layer's effective width, regions and exemptions included", () => {
    const w = reportOk("network N {\n  input 32x32x3\n  width 0.5\n  conv 3x3 32\n  width 0.5 { separable 64 }\n  pw 16 width=fixed\n  fc 10\n}", {});
    expect(w.layers.map((l) => [l.name, l.width])).toEqual([
      ["input", null],
      ["conv_0", 0.5],
      ["sep_1.dw", 0.5],
      ["sep_1.pw", 0.25],
      ["pw_2", 1],
      ["fc_3", null],
    ]);
  });

  it("text, Markdown and CSV are reviewed golden files", async () => {
    await expect(reportText(r)).toMatchFileSnapshot("golden/report/mobilenet_v1.txt");
    await expect(reportMarkdown(r)).toMatchFileSnapshot("golden/report/mobilenet_v1.md");
    await expect(reportCsv(r)).toMatchFileSnapshot("golden/report/mobilenet_v1.csv");
  });

  it("CSV rows carry the exact per-layer integers", () => {
    const lines = reportCsv(r).trim().split("\n");
    expect(lines.filter((l) => l.startsWith("# "))).toHaveLength(r.convention.length);
    const rows = lines.filter((l) => !l.startsWith("#")).map((l) => l.split(","));
    const header = rows[0]!;
    const fcRow = rows.find((row) => row[0] === "fc_14")!;
    expect(fcRow[header.indexOf("mult_adds")]).toBe("1024000");
    expect(rows.at(-1)![header.indexOf("mult_adds")]).toBe("568740352");
  });
});

describe("MobileNetV2 and V3: bottlenecks, squeeze-and-excitation, residual adds", () => {
  const v2 = reportOk(readExample("mobilenet_v2.mn"));
  const large = reportOk(readExample("mobilenet_v3_large.mn"));
  const small = reportOk(readExample("mobilenet_v3_small.mn"));
  /** A totals line of the text report: the figure after its key. */
  const line = (text: string, key: string): string => {
    const found = text.split("\n").find((l) => l.startsWith(`  ${key}  `));
    if (found === undefined) throw new Error(`no '${key}' line`);
    return found.slice(key.length + 2).trim();
  };

  it.each([
    ["MobileNetV2", v2, { multAdds: 300_774_272, seMultAdds: 0, weights: 3_469_760, params: 3_470_760, torchvisionParams: 3_504_872, kerasTotal: 3_538_984 }],
    ["MobileNetV3-Large", large, { multAdds: 216_589_760, seMultAdds: 1_507_200, torchvisionParams: 5_483_032, kerasTotal: 5_507_432 }],
    ["MobileNetV3-Small", small, { multAdds: 56_510_400, seMultAdds: 458_752, torchvisionParams: 2_542_856, kerasTotal: 2_554_968 }],
  ] as const)("%s: the published exact figures, in JSON and in the text", (_name, r, expected) => {
    const j = JSON.parse(reportJson(r)) as Report;
    expect(j.totals).toMatchObject(expected);
    expect(j.totals.kerasTrainable).toBe(expected.torchvisionParams);
    const text = reportText(r);
    expect(line(text, "mult-adds")).toMatch(new RegExp(`^${group(expected.multAdds)}   \\(FLOPs`));
    expect(line(text, "torchvision / Keras trainable")).toBe(`${group(expected.torchvisionParams)}   (params + BN γ, β)`);
    expect(line(text, "Keras total")).toMatch(new RegExp(`^${group(expected.kerasTotal)}   \\(${group(expected.torchvisionParams)} trainable`));
    if (expected.seMultAdds === 0) expect(text).not.toMatch(/^ {2}of which SE/m);
    else expect(line(text, "of which SE")).toMatch(new RegExp(`^${group(expected.seMultAdds)}   \\(`));
    if ("weights" in expected) expect([line(text, "weights"), line(text, "params").split(" ")[0]]).toEqual([group(expected.weights), group(expected.params)]);
  });

  it("SE convolutions are 1x1 convolutions in mult-adds; adds and multiplies are elementwise, apart from mult-adds", () => {
    for (const r of [v2, large, small]) {
      const sum = (ls: readonly Report["layers"][number][], k: "multAdds" | "elementwise" | "params"): number => ls.reduce((s, l) => s + l[k], 0);
      const se = r.layers.filter((l) => l.se);
      expect(sum(se, "multAdds")).toBe(r.totals.seMultAdds);
      expect(sum(se, "params")).toBe(r.totals.seParams);
      expect(se.filter((l) => l.op === "conv").every((l) => l.type === "conv1x1")).toBe(true);
      const ew = r.layers.filter((l) => l.op === "add" || l.op === "mul");
      for (const l of ew) expect([l.type, l.multAdds, l.elementwise]).toEqual(["elementwise", 0, l.outputShape[0] * l.outputShape[1] * l.outputShape[2]]);
      expect(sum(ew, "elementwise")).toBe(r.totals.elementwise);
      expect(sum(r.layers, "multAdds")).toBe(r.totals.multAdds);
      const row = r.byType.find((t) => t.type === "elementwise")!;
      expect([row.multAdds, row.weights, row.elementwise]).toEqual([0, 0, r.totals.elementwise]);
      expect(r.byType.reduce((s, t) => s + t.multAdds, 0)).toBe(r.totals.multAdds);
    }
    // V2: 10 residual adds, no SE; V3-Small: 6 adds, 9 SE blocks.
    expect([v2.layers.filter((l) => l.op === "add").length, v2.layers.filter((l) => l.se).length]).toEqual([10, 0]);
    expect([small.layers.filter((l) => l.op === "add").length, small.layers.filter((l) => l.op === "mul" && l.se).length]).toEqual([6, 9]);
    // A network without add or mul has no elementwise row (so V1's Table 2 is the paper's).
    expect(reportOk(v1).byType.map((t) => t.type)).toEqual(["conv1x1", "depthwise", "conv", "fc"]);
  });

  it("names each part of a block, says what add and mul do, and shows a ratio convolution's width as its ratio", () => {
    const source = [
      "network T(classes = 10) {",
      "  input 32x32x3",
      "  width 0.5 rounding=div8",
      "  conv 3x3 16 stride=2 act=hswish",
      "  bottleneck 16 expand=1 se=0.25 act=relu",
      "  bottleneck 24 expand=4 stride=2 act=hswish",
      "  bottleneck 24 expand=88/24 kernel=5x5 se=0.25 act=hswish",
      "  residual { pw 24 act=sigmoid; dw 3x3 act=relu6 }",
      "  avgpool global",
      "  fc classes",
      "  softmax",
      "}",
    ].join("\n");
    const r = reportOk(source);
    const rows = r.layers.map((l) => [l.name, l.layer, l.se, l.width, l.ratio === null ? null : `${l.ratio.num}/${l.ratio.den}`]);
    expect(rows).toEqual([
      ["input", "input", false, null, null],
      ["conv_0", "conv 3x3/2", false, 0.5, null],
      ["bneck_1.dw", "dw 3x3", false, 0.5, null],
      ["bneck_1.se.pool", "avgpool global (SE)", true, null, null],
      ["bneck_1.se.squeeze", "pw (SE squeeze)", true, null, "1/4"],
      ["bneck_1.se.excite", "pw (SE excite)", true, null, "1/1"],
      ["bneck_1.se.scale", "mul (SE scale)", true, null, null],
      ["bneck_1.project", "pw", false, 0.5, null],
      ["bneck_1.add", "add (residual)", false, null, null],
      ["bneck_2.expand", "pw", false, null, "4/1"],
      ["bneck_2.dw", "dw 3x3/2", false, null, null],
      ["bneck_2.project", "pw", false, 0.5, null],
      ["bneck_3.expand", "pw", false, null, "11/3"],
      ["bneck_3.dw", "dw 5x5", false, null, null],
      ["bneck_3.se.pool", "avgpool global (SE)", true, null, null],
      ["bneck_3.se.squeeze", "pw (SE squeeze)", true, null, "1/4"],
      ["bneck_3.se.excite", "pw (SE excite)", true, null, "1/1"],
      ["bneck_3.se.scale", "mul (SE scale)", true, null, null],
      ["bneck_3.project", "pw", false, 0.5, null],
      ["bneck_3.add", "add (residual)", false, null, null],
      ["res_4.pw_0", "pw", false, 0.5, null],
      // A depthwise layer takes the width of the channels it reads.
      ["res_4.dw_1", "dw 3x3", false, 0.5, null],
      ["res_4.add", "add (residual)", false, null, null],
      ["avgpool_0", "avgpool global", false, null, null],
      ["fc_5", "fc", false, null, null],
      ["softmax_0", "softmax", false, null, null],
    ]);
    // The text's width column: the multiplier, or ×ratio (a short decimal, else the fraction).
    const cells = new Map(reportText(r).split("\n").map((l) => [l.split(/\s+/)[0], l] as const));
    expect(cells.get("bneck_2.expand")).toMatch(/ ×4 /);
    expect(cells.get("bneck_3.expand")).toMatch(/ ×11\/3 /);
    expect(cells.get("bneck_1.se.squeeze")).toMatch(/ ×0\.25 /);
    expect(cells.get("bneck_1.se.excite")).toMatch(/ ×1 /);
    expect(cells.get("bneck_1.dw")).toMatch(/ 0\.5 /);
  });

  it("text and Markdown are reviewed golden files; so is V3-Small's CSV", async () => {
    await expect(reportText(v2)).toMatchFileSnapshot("golden/report/mobilenet_v2.txt");
    await expect(reportMarkdown(v2)).toMatchFileSnapshot("golden/report/mobilenet_v2.md");
    await expect(reportText(small)).toMatchFileSnapshot("golden/report/mobilenet_v3_small.txt");
    await expect(reportMarkdown(small)).toMatchFileSnapshot("golden/report/mobilenet_v3_small.md");
    await expect(reportCsv(small)).toMatchFileSnapshot("golden/report/mobilenet_v3_small.csv");
  });

  it("CSV adds the ratio and elementwise columns for such networks only", () => {
    const header = (r: Report): string[] => reportCsv(r).split("\n").find((l) => !l.startsWith("#"))!.split(",");
    expect(header(reportOk(v1))).not.toContain("elementwise");
    expect(header(reportOk(v1))).not.toContain("ratio");
    const h = header(small);
    const rows = reportCsv(small).trim().split("\n").filter((l) => !l.startsWith("#")).slice(1).map((l) => l.split(","));
    const row = (name: string): string[] => rows.find((x) => x[0] === name)!;
    expect(row("bneck_2.expand")[h.indexOf("ratio")]).toBe("4.5");
    expect(row("bneck_3.expand")[h.indexOf("ratio")]).toBe("11/3");
    expect(row("bneck_3.add")[h.indexOf("elementwise")]).toBe(String(28 * 28 * 24));
    expect(row("bneck_3.add")[h.indexOf("mult_adds")]).toBe("0");
    expect(rows.at(-1)![h.indexOf("elementwise")]).toBe(String(small.totals.elementwise));
    expect(rows.every((x) => x.length === h.length)).toBe(true);
  });
});

describe("peak activation memory follows liveness", () => {
  it("a residual connection's input stays live across the body", () => {
    // input 8x8x4 (256 values) is read again by the add, so while pw_1 runs the input, pw_0 (8x8x16) and pw_1 (8x8x4) are all held.
    const r = reportOk("network R {\n  input 8x8x4\n  residual { pw 16; pw 4 }\n}\n");
    expect(r.layers.map((l) => [l.name, l.liveBytes])).toEqual([
      ["input", 4 * 256],
      ["res_0.pw_0", 4 * (256 + 1024)],
      ["res_0.pw_1", 4 * (256 + 1024 + 256)],
      ["res_0.add", 4 * (256 + 256 + 256)],
    ]);
    expect(r.totals).toMatchObject({ peakActivationBytes: 6144, peakActivationLayer: "res_0.pw_1", peakActivationLive: ["input", "res_0.pw_0", "res_0.pw_1"] });
    // Input + output alone would say 5,120 B at res_0.pw_0.
    expect(Math.max(...r.layers.map((l) => l.activationBytes + (l.inputShape === null ? 0 : 4 * l.inputShape[0] * l.inputShape[1] * l.inputShape[2])))).toBe(5120);
    expect(line(reportText(r))).toBe("6,144 B (6.00 KiB) at res_0.pw_1 (float32, batch 1; also live: input)");
  });

  it("SE: the tensor being scaled is live through the pool, squeeze and excite, and a mul holds both its inputs", () => {
    // input 4x4x8 = 128 values; pool 8; squeeze to floor(8 × 0.25) = 2; excite 8; scale 128.
    const r = reportOk("network S {\n  input 4x4x8\n  se 0.25\n}\n");
    expect(r.layers.map((l) => [l.name, l.liveBytes / 4])).toEqual([
      ["input", 128],
      ["se_0.pool", 128 + 8],
      ["se_0.squeeze", 128 + 8 + 2],
      ["se_0.excite", 128 + 2 + 8],
      ["se_0.scale", 128 + 8 + 128],
    ]);
    expect([r.totals.peakActivationBytes, r.totals.peakActivationLayer]).toEqual([4 * 264, "se_0.scale"]);
    expect(line(reportText(r))).toBe("1,056 B (1.03 KiB) at se_0.scale (float32, batch 1)");
  });

  it("on a chain (MobileNetV1) every layer holds its input and output, as before", () => {
    const r = reportOk(v1);
    const size = (s: readonly number[] | null): number => (s === null ? 0 : 4 * s[0]! * s[1]! * s[2]!);
    for (const l of r.layers) expect(l.liveBytes).toBe(size(l.inputShape) + size(l.outputShape));
    expect(r.totals.peakActivationBytes).toBe(Math.max(...r.layers.map((l) => l.liveBytes)));
    expect(r.totals.peakActivationLive).toEqual(["sep_1.dw", "sep_1.pw"]);
  });

  /** The peak line of the text report. */
  function line(text: string): string {
    return text.split("\n").find((l) => l.startsWith("  peak activations"))!.replace(/^ {2}peak activations\s+/, "");
  }
});

describe("sweep", () => {
  it("is the paper's Tables 6 and 7 in one call", async () => {
    const s = sweep(v1, { alphas: [1, 0.75, 0.5, 0.25], resolutions: [224, 192, 160, 128] }).sweep!;
    expect(s.points).toHaveLength(16);
    for (const p of s.points) expect(p.multAdds).toBe(paperCount(p.alpha, p.resolution).multAdds);
    await expect(sweepText(s)).toMatchFileSnapshot("golden/report/mobilenet_v1.sweep.txt");
    expect(sweepCsv(s).split("\n").filter((l) => !l.startsWith("#"))[1]).toBe("1,224,568740352,4209088,4210088,4816896");
  });

  it("covers MobileNetV2: exact mult-adds, liveness peaks, every text format", () => {
    const s = sweep(readExample("mobilenet_v2.mn"), { alphas: [1, 0.5], resolutions: [224, 160] }).sweep!;
    // TF-Slim's README figures for 1001 classes, less 1,280 for the 1000-class head (1280 kept at α 0.5).
    expect(s.points.map((p) => p.multAdds)).toEqual([300_775_552 - 1280, 154_084_480 - 1280, 97_133_120 - 1280, 50_185_280 - 1280]);
    expect(s.points[0]!.peakActivationBytes).toBe(reportOk(readExample("mobilenet_v2.mn")).totals.peakActivationBytes);
    expect(sweepText(s)).toContain("300,774,272");
    expect(sweepMarkdown(s)).toContain("| 1 | 300,774,272 | 154,083,200 |");
    expect(sweepCsv(s).split("\n").filter((l) => !l.startsWith("#"))[1]).toBe(`1,224,300774272,3469760,3470760,${s.points[0]!.peakActivationBytes}`);
    expect(JSON.parse(sweepJson(s)).points).toHaveLength(4);
  });
});

describe("budgets", () => {
  it("parse k, M and G suffixes exactly", () => {
    expect([budget("x", "300M"), budget("x", "2.5M"), budget("x", "41k"), budget("x", "1.2G"), budget("x", "1234")]).toEqual([300_000_000, 2_500_000, 41_000, 1_200_000_000, 1234]);
    expect(() => budget("--max-params", "2.5")).toThrow(/whole count/);
    expect(() => budget("--max-params", "lots")).toThrow(/whole count/);
  });

  it("fail with the figure, the budget and the heaviest layers, each pointing at its line", () => {
    const r = report(v1, { budgets: { multAdds: 300_000_000 } });
    expect(r.report).toBeUndefined();
    const d = r.diagnostics[0]!;
    expect(d.code).toBe("MN3012");
    expect(d.message).toBe("568,740,352 mult-adds exceed the budget of 300,000,000 (--max-mult-adds); the heaviest layers are sep_3.pw, sep_5.pw, sep_7.pw");
    expect(d.related.map((x) => x.span?.line)).toEqual([11, 13, 16]);
    expect(report(v1, { budgets: { multAdds: 568_740_352, params: 4_210_088 } }).report).toBeDefined();
  });
});

describe("the report CLI", () => {
  const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
  const work = mkdtempSync(join(tmpdir(), "mnc-report-"));

  it("--format json writes one object with the documented fields, exact integers", () => {
    const r = mnc("report", "examples/mobilenet_v1.mn", "--alpha", "0.5", "--resolution", "160", "--format", "json");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as Report;
    expect(j.network).toBe("MobileNetV1");
    expect(j.alpha).toBe(0.5);
    expect(j.resolution).toEqual([160, 160]);
    expect(j.totals).toMatchObject({ multAdds: 76_524_800, weights: 1_319_648, params: 1_320_648, bnParams: paperCount(0.5, 160).bnParams });
    expect(Object.keys(j.layers[1]!)).toEqual(expect.arrayContaining(["name", "op", "inputShape", "outputShape", "multAdds", "weights", "biases", "params", "bnParams"]));
  });

  it("-o writes the file; a failed write leaves nothing behind", () => {
    const out = join(work, "r.md");
    expect(mnc("report", "examples/mobilenet_v1.mn", "--format", "md", "-o", out).status).toBe(0);
    expect(readFileSync(out, "utf8")).toMatch(/^# MobileNetV1 — α 1/);
    const bad = mnc("report", "examples/mobilenet_v1.mn", "-o", join(work, "missing", "r.txt"));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/cannot write '.*r\.txt': the directory '.*missing' does not exist/);
    expect(existsSync(join(work, "missing"))).toBe(false);
  });

  it("a budget failure exits 1 and leaves an existing output untouched", () => {
    const out = join(work, "keep.json");
    writeFileSync(out, "previous");
    const r = mnc("report", "examples/mobilenet_v1.mn", "--format", "json", "-o", out, "--max-params", "2.5M");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^mnc: error MN3012: 4,210,088 params exceed the budget of 2,500,000 \(--max-params\)/);
    expect(readFileSync(out, "utf8")).toBe("previous");
  });

  it("rejects unknown formats and options that do not belong to the command", () => {
    expect(mnc("report", "examples/mobilenet_v1.mn", "--format", "xml")).toMatchObject({ status: 2, stderr: "mnc: --format must be one of text, md, json, csv, html, not 'xml'\n" });
    expect(mnc("check", "examples/mobilenet_v1.mn", "--format", "md").status).toBe(2);
    expect(mnc("sweep", "examples/mobilenet_v1.mn", "--alpha", "1,0").status).toBe(2);
  });

  it("sweep defaults to the paper's grid", () => {
    const r = mnc("sweep", "examples/mobilenet_v1.mn", "--format", "csv");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n").filter((l) => !l.startsWith("#"))).toHaveLength(17);
  });
});
