/**
 * Photos as TensorFlow and Pillow see them: mnc's JPEG decoder (libjpeg-turbo's
 * arithmetic, in WebAssembly) gives Pillow's pixels exactly, the centre crop and
 * bilinear resize give the shared `.rgb224` inputs exactly, and `mnc run` on
 * each shared photo reproduces TensorFlow Lite's top-5.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeJpeg } from "../src/cli/image.js";
import { imagePixels } from "../src/image/index.js";
import { analyze } from "../src/index.js";
import { root, shared } from "./helpers.js";

const data = join(shared, "data");
const jpegs = existsSync(data)
  ? readdirSync(data)
      .filter((d) => existsSync(join(data, d, "images")))
      .flatMap((d) => readdirSync(join(data, d, "images")).filter((f) => f.endsWith(".jpg")).map((f) => join(data, d, "images", f)))
      .sort()
  : [];

// Debian's python3-pil (installed by .ci/run) is the reference decoder.
const python = "/usr/bin/python3";
const havePillow = existsSync(python) && spawnSync(python, ["-c", "import PIL"]).status === 0;
if (!havePillow && process.env["CI"] !== "true") {
  console.warn("image.test.ts: /usr/bin/python3 has no PIL (apt-get install python3-pil): skipping the comparison with Pillow's JPEG decoder");
}

describe.runIf(havePillow || process.env["CI"] === "true")("JPEG decoding against Pillow (python3-pil)", () => {
  it("decodes every shared JPEG to Pillow's RGB pixels, identical to the last level", () => {
    expect(jpegs.length).toBeGreaterThanOrEqual(7);
    const out = mkdtempSync(join(tmpdir(), "mnc-pil-"));
    const script = [
      "import sys, os",
      "from PIL import Image",
      "out = sys.argv[1]",
      "for i, p in enumerate(sys.argv[2:]):",
      "    im = Image.open(p).convert('RGB')",
      "    open(os.path.join(out, f'{i}.rgb'), 'wb').write(im.tobytes())",
      "    print(im.width, im.height)",
    ].join("\n");
    const r = spawnSync(python, ["-c", script, out, ...jpegs], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    const sizes = r.stdout.trim().split("\n");
    jpegs.forEach((path, i) => {
      const pillow = readFileSync(join(out, `${i}.rgb`));
      const ours = decodeJpeg(readFileSync(path));
      expect(`${ours.width} ${ours.height}`, basename(path)).toBe(sizes[i]);
      let differing = 0;
      for (let p = 0; p < ours.width * ours.height; p++) {
        for (let ch = 0; ch < 3; ch++) if (ours.data[4 * p + ch] !== pillow[3 * p + ch]) differing++;
      }
      expect(differing, basename(path)).toBe(0);
    });
  }, 60_000);
});

const v1 = join(data, "mobilenet_v1");

describe("the shared MobileNetV1 photos", () => {
  const photos = jpegs.filter((p) => p.startsWith(join(v1, "images")));

  it("crop and resize to the shared .rgb224 inputs exactly (Pillow's bilinear resize)", () => {
    expect(photos).toHaveLength(5);
    for (const path of photos) {
      const pixels = imagePixels(decodeJpeg(readFileSync(path)), [224, 224, 3]);
      const expected = readFileSync(path.replace(/\.jpg$/, ".rgb224"));
      expect(Buffer.compare(Buffer.from(pixels), expected), basename(path)).toBe(0);
    }
  });

  it("mnc run reproduces TensorFlow Lite's top-5 on each, probabilities within 1e-3, normalised as the .mn declares", () => {
    const truth = JSON.parse(readFileSync(join(v1, "ground_truth", "ground_truth.json"), "utf8")) as {
      images: { name: string; top5: { index_1001: number; prob: number }[] }[];
    };
    expect(truth.images).toHaveLength(photos.length);
    for (const image of truth.images) {
      const r = spawnSync(
        process.execPath,
        [join(root, "dist", "mnc.js"), "run", "examples/mobilenet_v1_tf.mn", "--weights", join(v1, "model", "mobilenet_v1_0.25_224_1_default_1.tflite"),
          "--input", join(v1, "images", `${image.name}.jpg`)],
        { cwd: root, encoding: "utf8" },
      );
      expect(r.stderr, image.name).toBe("");
      expect(r.status).toBe(0);
      const rows = r.stdout.trim().split("\n").slice(1).map((line) => {
        const m = /^ +\d+\. .+ +(\d\.\d{4}) +\((\d+)\)$/.exec(line);
        if (m === null) throw new Error(`unexpected line: ${line}`);
        return { index: Number(m[2]), prob: Number(m[1]) };
      });
      expect(rows.map((x) => x.index), image.name).toEqual(image.top5.map((t) => t.index_1001));
      rows.forEach((row, k) => expect(Math.abs(row.prob - image.top5[k]!.prob), `${image.name} #${k + 1}`).toBeLessThanOrEqual(1e-3));
    }
  }, 120_000);
});

const model = join(v1, "model", "mobilenet_v1_0.25_224_1_default_1.tflite");

describe("the input's declared normalisation", () => {
  it("is part of the input node and of the IR dump", () => {
    const r = analyze("network N {\n  input 32x32x3 mean=255/2 std=127.5\n  conv 3x3 8\n}\n");
    expect(r.diagnostics).toEqual([]);
    const input = r.graph!.nodes[0]!;
    expect(input.op === "input" && input.attrs.normalisation).toEqual({ mean: 127.5, std: 127.5 });
    const plain = analyze("network N {\n  input 32x32x3\n  conv 3x3 8\n}\n").graph!.nodes[0]!;
    expect(plain.op === "input" && plain.attrs.normalisation).toBeUndefined();
  });

  it.each([
    ["an option input does not take", "input 32x32x3 scale=2", ["MN2003"]],
    ["a shape that is not HxWxC", "input 32x32", ["MN2016"]],
    ["a std of zero", "input 32x32x3 mean=1 std=0", ["MN2016"]],
    ["a mean that is a shape", "input 32x32x3 mean=1x2", ["MN2016"]],
  ])("reports %s once, never also a missing input", (_what, line, codes) => {
    const r = analyze(`network N {\n  ${line}\n  conv 3x3 8\n}\n`);
    expect(r.diagnostics.map((d) => d.code)).toEqual(codes);
  });

  it("mnc run warns when the input does not look normalised as declared; --mean/--std override the declaration", () => {
    const run = (...extra: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "run", "examples/mobilenet_v1_tf.mn", "--weights", model, "--input", join(v1, "images", "pizza.rgb224"), "--top", "1", ...extra], {
        cwd: root,
        encoding: "utf8",
      });
    const declared = run();
    expect(declared).toMatchObject({ status: 0, stderr: "" });
    expect(declared.stdout).toMatch(/1\. class 964 +0\.850\d/);
    const flags = run("--mean", "127.5", "--std", "127.5");
    expect(flags.stdout).toBe(declared.stdout);
    const raw = run("--mean", "0", "--std", "1");
    expect(raw.status).toBe(0);
    expect(raw.stderr).toMatch(/^mnc: warning: .*pizza\.rgb224: the input's values span \[\d+, \d+\], but the network declares mean=127\.5 std=127\.5, which puts pixels in \[-1, 1\]/);
    expect(raw.stdout).not.toBe(declared.stdout);
  }, 60_000);
});
