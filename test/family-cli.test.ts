/**
 * The MobileNet family from the command line, as a user runs it: the built
 * `mnc` on the V2/V3 examples — check, report figures, ONNX and TypeScript
 * outputs, --dump-ir, and `mnc run` with the trained uint8 MobileNetV2.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { root, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

function mnc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const work = mkdtempSync(join(tmpdir(), "mnc-family-cli-"));

describe("mnc on MobileNetV2 and V3", () => {
  it("compile prints each network's exact figures and writes a model", () => {
    const cases: [string, string][] = [
      ["mobilenet_v2", "MobileNetV2 α=1 224x224x3 → 1x1x1000, 300,774,272 mult-adds, 3,470,760 params"],
      ["mobilenet_v3_small", "MobileNetV3Small α=1 224x224x3 → 1x1x1000, 56,510,400 mult-adds"],
      ["mobilenet_v3_large", "MobileNetV3Large α=1 224x224x3 → 1x1x1000, 216,589,760 mult-adds"],
    ];
    for (const [name, figures] of cases) {
      const out = join(work, `${name}.onnx`);
      const r = mnc("compile", `examples/${name}.mn`, "--resolution", "224", "-o", out);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(figures);
      expect(readFileSync(out).length).toBeGreaterThan(1_000_000);
    }
  }, 120_000);

  it("--dump-ir shows every node's inputs, the residual adds reading two", () => {
    const r = mnc("check", "examples/mobilenet_v2.mn", "--dump-ir");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/bneck_3\.add +add +\(bneck_2\.project, bneck_3\.project\) +-> 56x56x24/);
  }, 30_000);

  it("a hostile bottleneck is a located error with a caret, exit 1, and no output file", () => {
    const spec = join(work, "bad.mn");
    writeFileSync(spec, "network N {\n  input 8x8x8\n  residual {\n    pw 16\n  }\n}\n");
    const out = join(work, "bad.onnx");
    const r = mnc("compile", spec, "-o", out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.mn:3:3: error MN3014: 'res_0\.add' cannot add 8x8x16 to 8x8x8/);
    expect(r.stderr).toMatch(/\n *\| *\^~+/);
    expect(existsSync(out)).toBe(false);
  }, 30_000);

  const data = join(shared, "data", "mobilenet_v2_quant");
  const model = join(data, "model", "mobilenet_v2_1.0_224_quant.tflite");
  it.runIf(haveShared(model, "mnc run with the trained uint8 MobileNetV2"))("run classifies a photo with the trained uint8 MobileNetV2, as TensorFlow Lite does", () => {
    const truth = JSON.parse(readFileSync(join(data, "ground_truth", "ground_truth.json"), "utf8")) as { images: { name: string; top5: { index_1001: number; label: string }[] }[] };
    const burger = truth.images.find((i) => i.name === "burger")!;
    const r = mnc(
      "run", "examples/mobilenet_v2.mn", "--set", "classes=1001", "--weights", model,
      "--input", join(shared, "data", "mobilenet_v1", "images", "burger.rgb224"),
      "--mean", "128", "--std", "128", "--labels", join(data, "model", "labels_1001.txt"), "--top", "1",
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\n {3}1\\. ${burger.top5[0]!.label} +0\\.\\d{4} +\\(${burger.top5[0]!.index_1001}\\)\\n$`));
  }, 120_000);
});
