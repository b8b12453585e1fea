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
import { reportMarkdown, reportText } from "../src/emit/report/text.js";
import { sweepCsv, sweepText } from "../src/emit/report/sweep.js";
import { budget } from "../src/cli/main.js";
import { readExample, root } from "./helpers.js";

const v1 = readExample("mobilenet_v1.mn");

function reportOk(source: string, options = {}): Report {
  const r = report(source, options);
  expect(r.diagnostics).toEqual([]);
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

describe("sweep", () => {
  it("is the paper's Tables 6 and 7 in one call", async () => {
    const s = sweep(v1, { alphas: [1, 0.75, 0.5, 0.25], resolutions: [224, 192, 160, 128] }).sweep!;
    expect(s.points).toHaveLength(16);
    for (const p of s.points) expect(p.multAdds).toBe(paperCount(p.alpha, p.resolution).multAdds);
    await expect(sweepText(s)).toMatchFileSnapshot("golden/report/mobilenet_v1.sweep.txt");
    expect(sweepCsv(s).split("\n").filter((l) => !l.startsWith("#"))[1]).toBe("1,224,568740352,4209088,4210088,4816896");
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
    expect(bad.stderr).toMatch(/cannot write '.*r\.txt': no such directory/);
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
