/**
 * `mnc run` on graph networks: a summary per output (statistics, pixels per
 * argmax class, the fraction above 0.5), `--mask [NAME=]PATH` PNGs decoded
 * back and compared with the reference evaluator's argmax and rounding, the
 * usage errors and failed writes that leave nothing behind, a classifier's
 * listing unchanged — and, with the shared data, the trained DeepLab and selfie
 * models giving exactly the ground-truth masks.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { analyze, compile } from "../src/index.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { codeBlocks, inputs, readExample, root, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

const work = mkdtempSync(join(tmpdir(), "mnc-run-graph-"));
const at = (name: string): string => join(work, name);

/** mnc in this process: exit status, standard output and error. */
function mnc(...args: string[]): { status: number; out: string; err: string } {
  let out = "";
  let err = "";
  const status = main(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { status, out, err };
}

/** A PNG's gray levels, row by row, and its size. */
function gray(path: string): { width: number; height: number; colorType: number; pixels: number[] } {
  const png = PNG.sync.read(readFileSync(path));
  const pixels: number[] = [];
  for (let i = 0; i < png.width * png.height; i++) {
    expect([png.data[4 * i], png.data[4 * i + 2]]).toEqual([png.data[4 * i + 1], png.data[4 * i + 1]]);
    pixels.push(png.data[4 * i]!);
  }
  return { width: png.width, height: png.height, colorType: (png as unknown as { colorType: number }).colorType, pixels };
}

/** Per pixel, the first largest channel: written here from the definition, not mnc's code. */
function argmax(values: Float64Array, pixels: number, channels: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < pixels; p++) {
    const row = Array.from(values.subarray(p * channels, (p + 1) * channels));
    out.push(row.indexOf(Math.max(...row)));
  }
  return out;
}

/** A float32 HWC input file, used by mnc run as it is (no normalisation). */
function floatInput(name: string, length: number, seed: number): { path: string; data: Float32Array } {
  const data = inputs(length, seed);
  const path = at(name);
  writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return { path, data };
}

/** The reference evaluator's outputs for a network compiled as mnc run compiles it. */
function reference(source: string, data: Float32Array, options: { seed: number; outputs?: string[] }): Float64Array[] {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runReferenceOutputs(r.graph!, data);
}

const f4 = (x: number): string => x.toFixed(4);
const stats = (v: Float64Array): string => `min ${f4(v.reduce((m, x) => Math.min(m, x), Infinity))}, max ${f4(v.reduce((m, x) => Math.max(m, x), -Infinity))}, mean ${f4(v.reduce((s, x) => s + x, 0) / v.length)}`;

/** Four outputs: a 6x5 class-score map, a 1-channel probability map, an argmax output, a vector. */
const SEG = `network Seg {
  image = input 12x10x3
  conv 3x3 8 act=relu norm=none
  f = pw 8 stride=2
  scores = conv 1x1 5 norm=none act=linear
  resize 2 coords=half_pixel
  cls = argmax
  prob = conv 1x1 1 norm=none act=sigmoid from=f
  avgpool global from=f
  vec = fc 4
  output scores prob cls vec
}
`;

describe("mnc run: a summary per output of a graph network", () => {
  const spec = at("seg.mn");
  writeFileSync(spec, SEG);
  const input = floatInput("seg.f32", 12 * 10 * 3, 5);
  const [scores, prob, cls, vec] = reference(SEG, input.data, { seed: 3 });

  it("statistics, pixels per argmax class, the fraction above 0.5, a vector's top classes", () => {
    const r = mnc("run", spec, "--input", input.path, "--seed", "3");
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toBe(`${input.path}: Seg`);
    expect(lines[1]).toBe(`  scores 6x5x5: ${stats(scores!)}`);
    // The pixels of each argmax class, most first, then by index.
    const counts = new Map<number, number>();
    for (const k of argmax(scores!, 30, 5)) counts.set(k, (counts.get(k) ?? 0) + 1);
    const ranked = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    expect(lines[2]).toBe(`    pixels per class (argmax of 5 channels; ${ranked.length} class${ranked.length === 1 ? "" : "es"} present):`);
    const listed = lines.slice(3, 3 + ranked.length).map((l) => /^ +\d+\. class (\d+) +(\d+) +([\d.]+) % +\((\d+)\)$/.exec(l)!.slice(1).map(Number));
    expect(listed).toEqual(ranked.map(([k, n]) => [k, n, Number(((100 * n) / 30).toFixed(2)), k]));
    const rest = lines.slice(3 + ranked.length);
    expect(rest[0]).toBe(`  prob 6x5x1: ${stats(prob!)}`);
    const above = [...prob!].filter((p) => p > 0.5).length;
    expect(rest[1]).toBe(`    fraction above 0.5: ${(above / 30).toFixed(4)} (${above} of 30 pixels)`);
    expect(rest[2]).toBe(`  cls 12x10x1: ${stats(cls!)}`);
    expect(rest[3]).toMatch(/^ {4}pixels per class \(\d+ class(es)? present\):$/);
    const vecAt = rest.indexOf(`  vec 1x1x4: ${stats(vec!)}`);
    expect(vecAt).toBeGreaterThan(3);
    const top = [...vec!].map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p || a.i - b.i);
    expect(rest.slice(vecAt + 1, vecAt + 5)).toEqual(top.map(({ p, i }, k) => `    ${String(k + 1).padStart(2)}. class ${i}  ${p.toFixed(4)}  (${i})`));
  }, 30_000);

  it("--mask NAME=PATH writes each image output as an 8-bit PNG: argmax, class values, round(255·p)", () => {
    const r = mnc("run", spec, "--input", input.path, "--seed", "3", "--mask", `scores=${at("scores.png")}`, "--mask", `cls=${at("cls.png")}`, "--mask", `prob=${at("prob.png")}`);
    expect(r.status).toBe(0);
    expect(r.out).toContain(`${at("scores.png")}: mask of 'scores', 6x5 pixels, class index per pixel\n`);
    expect(r.out).toContain(`${at("prob.png")}: mask of 'prob', 6x5 pixels, round(255·p) per pixel\n`);
    const s = gray(at("scores.png"));
    expect([s.width, s.height, s.colorType]).toEqual([5, 6, 0]);
    expect(s.pixels).toEqual(argmax(scores!, 30, 5));
    const p = gray(at("prob.png"));
    expect(p.pixels).toEqual([...prob!].map((v) => Math.round(255 * v)));
    const c = gray(at("cls.png"));
    expect([c.width, c.height]).toEqual([10, 12]);
    expect(c.pixels).toEqual([...cls!]);
    // A layer's id names its output too.
    expect(mnc("run", spec, "--input", input.path, "--seed", "3", "--mask", `conv_2=${at("by-id.png")}`).status).toBe(0);
    expect(readFileSync(at("by-id.png"))).toEqual(readFileSync(at("scores.png")));
  }, 30_000);

  it("--labels names a map's classes by channel", () => {
    const labels = at("five.txt");
    writeFileSync(labels, "sky\nroad\ntree\ncar\nperson\n");
    const r = mnc("run", spec, "--input", input.path, "--seed", "3", "--labels", labels);
    expect(r.status).toBe(0);
    const names = ["sky", "road", "tree", "car", "person"];
    const first = argmax(scores!, 30, 5);
    const most = [...new Set(first)].sort((a, b) => first.filter((k) => k === b).length - first.filter((k) => k === a).length || a - b)[0]!;
    expect(r.out.split("\n")[3]).toMatch(new RegExp(`^ {5}1\\. ${names[most]} +\\d+ +[\\d.]+ % +\\(${most}\\)$`));
    const wrong = at("three.txt");
    writeFileSync(wrong, "a\nb\nc\n");
    const bad = mnc("run", spec, "--input", input.path, "--labels", wrong);
    expect(bad.status).toBe(1);
    expect(bad.err).toBe(`mnc: error: ${wrong}: 3 labels, but no output has that many classes (classes per output: 'scores' 5, 'prob' none, 'cls' 5, 'vec' 4); give one label per class, one per line\n`);
  }, 30_000);
});

describe("--mask refuses what it cannot do, and writes all masks or none", () => {
  const spec = at("seg2.mn");
  writeFileSync(spec, SEG);
  const input = floatInput("seg2.f32", 12 * 10 * 3, 6);

  it("usage errors (exit 2): an unnamed mask of several outputs, an unknown output, a vector, standard output, a path twice, an input", () => {
    const cases: [string[], string][] = [
      [["--mask", at("x.png")], "mnc: --mask PATH: the network has 4 outputs (scores, prob, cls, vec); say which: --mask NAME=PATH\n"],
      [["--mask", `nothing=${at("x.png")}`], "mnc: --mask: the network has no output 'nothing' (its outputs: scores, prob, cls, vec)\n"],
      [["--mask", `vec=${at("x.png")}`], "mnc: --mask: 'vec' is 1x1x4, a vector, not an image\n"],
      [["--mask", "scores=-"], "mnc: --mask writes a PNG file; standard output carries the summary, give a file name\n"],
      [["--mask", `scores=${at("x.png")}`, "--mask", `prob=${at("x.png")}`], `mnc: --mask gives '${at("x.png")}' twice\n`],
      [["--mask", `scores=${spec}`], `mnc: --mask '${spec}' would overwrite the spec '${spec}'; give another path\n`],
      [["--mask", `scores=${input.path}`], `mnc: --mask '${input.path}' would overwrite the input '${input.path}'; give another path\n`],
      [["--mask", "scores="], "mnc: --mask expects PATH or NAME=PATH, not 'scores='\n"],
    ];
    for (const [args, message] of cases) {
      const r = mnc("run", spec, "--input", input.path, ...args);
      expect({ status: r.status, err: r.err, out: r.out }).toEqual({ status: 2, err: message, out: "" });
    }
    expect(existsSync(at("x.png"))).toBe(false);
    expect(readFileSync(spec, "utf8")).toBe(SEG);
  }, 30_000);

  it("a 1-channel map outside [0, 1] is an error (exit 1) and no mask is written, not even the good ones", () => {
    const linear = at("linear.mn");
    writeFileSync(linear, "network L {\n  image = input 6x6x3\n  a = conv 3x3 4 norm=none act=linear\n  b = conv 1x1 1 norm=none act=linear\n  output a b\n}\n");
    const r = mnc("run", linear, "--input", floatInput("l.f32", 108, 2).path, "--mask", `a=${at("a.png")}`, "--mask", `b=${at("b.png")}`);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(new RegExp(`^mnc: error: --mask ${at("b.png")}: 'b' is a 1-channel map with values in \\[-?\\d+\\.\\d{4}, -?\\d+\\.\\d{4}\\]; a mask is written from values in \\[0, 1\\] \\(round\\(255·p\\)\\)\\n$`));
    expect(r.out).toBe("");
    expect([existsSync(at("a.png")), existsSync(at("b.png"))]).toEqual([false, false]);
  }, 30_000);

  it("a failed write leaves every destination as it was", () => {
    writeFileSync(at("keep.png"), "previous");
    const r = mnc("run", spec, "--input", input.path, "--mask", `scores=${at("keep.png")}`, "--mask", `prob=${join(work, "missing", "p.png")}`);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^mnc: error: cannot write '.*p\.png': the directory '.*missing' does not exist\n$/);
    expect(readFileSync(at("keep.png"), "utf8")).toBe("previous");
  }, 30_000);

  it("a classifier prints its top classes as before, and has no image to write", () => {
    const kws = readExample("keyword_spotter.mn");
    const pixels = at("grey.raw");
    writeFileSync(pixels, new Uint8Array(96 * 96).fill(128));
    const r = mnc("run", join(root, "examples", "keyword_spotter.mn"), "--input", pixels, "--seed", "2", "--top", "3");
    expect(r.status).toBe(0);
    const graph = compile(kws, { seed: 2 }).graph!;
    const [probs] = runReferenceOutputs(graph, new Float32Array(96 * 96).fill(128));
    const top = [...probs!].map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p || a.i - b.i).slice(0, 3);
    const width = Math.max(...top.map(({ i }) => `class ${i}`.length));
    expect(r.out).toBe(`${pixels}: PocketNet\n` + top.map(({ p, i }, k) => `   ${k + 1}. ${`class ${i}`.padEnd(width)}  ${p.toFixed(4)}  (${i})\n`).join(""));
    const masked = mnc("run", join(root, "examples", "keyword_spotter.mn"), "--input", pixels, "--mask", at("kws.png"));
    expect(masked).toMatchObject({ status: 2, err: "mnc: --mask: 'softmax_0' is 1x1x12, a vector, not an image\n" });
  }, 30_000);
});

describe("the segmentation examples, seeded", () => {
  it("selfie: the person map's summary and mask; --outputs features works too", () => {
    const source = readExample("selfie_segmentation.mn");
    const input = floatInput("selfie.f32", 256 * 256 * 3, 11);
    const [mask] = reference(source, input.data, { seed: 4 });
    const r = mnc("run", join(root, "examples", "selfie_segmentation.mn"), "--input", input.path, "--seed", "4", "--mask", at("selfie.png"));
    expect(r.status).toBe(0);
    const above = [...mask!].filter((p) => p > 0.5).length;
    expect(r.out.split("\n").slice(1, 3)).toEqual([`  mask 256x256x1: ${stats(mask!)}`, `    fraction above 0.5: ${(above / 65536).toFixed(4)} (${above.toLocaleString("en-US")} of 65,536 pixels)`]);
    expect(gray(at("selfie.png")).pixels).toEqual([...mask!].map((p) => Math.round(255 * p)));

    const [features] = reference(source, input.data, { seed: 4, outputs: ["features"] });
    const f = mnc("run", join(root, "examples", "selfie_segmentation.mn"), "--input", input.path, "--seed", "4", "--outputs", "features", "--mask", at("features.png"));
    expect(f.status).toBe(0);
    expect(f.out.split("\n")[1]).toBe(`  features 128x128x16: ${stats(features!)}`);
    expect(gray(at("features.png")).pixels).toEqual(argmax(features!, 128 * 128, 16));
  }, 60_000);

  it("DeepLab: 257x257 class scores, pixels per class with the label names, and the class mask", () => {
    const source = readExample("deeplabv3_mobilenet_v2.mn");
    const pixels = new Uint8Array(257 * 257 * 3).map((_, i) => (i * 37 + (i >> 7)) % 256);
    writeFileSync(at("photo.rgb"), pixels);
    const data = new Float32Array(pixels.length).map((_, i) => (pixels[i]! - 127.5) / 127.5);
    const [logits] = reference(source, data, { seed: 1 });
    const labels = at("voc.txt");
    writeFileSync(labels, Array.from({ length: 21 }, (_, i) => `voc${i}`).join("\n") + "\n");
    const r = mnc("run", join(root, "examples", "deeplabv3_mobilenet_v2.mn"), "--input", at("photo.rgb"), "--labels", labels, "--top", "21", "--mask", at("voc.png"));
    expect(r.status).toBe(0);
    const classes = argmax(logits!, 257 * 257, 21);
    const counts = new Map<number, number>();
    for (const k of classes) counts.set(k, (counts.get(k) ?? 0) + 1);
    const lines = r.out.split("\n");
    expect(lines[1]).toBe(`  logits 257x257x21: ${stats(logits!)}`);
    const listed = lines.slice(3, 3 + counts.size).map((l) => /^ +\d+\. voc(\d+) +([\d,]+) /.exec(l)!.slice(1).map((x) => Number(x.replace(/,/g, ""))));
    expect(new Map(listed.map(([k, n]) => [k!, n!]))).toEqual(counts);
    expect(gray(at("voc.png")).pixels).toEqual(classes);
  }, 90_000);
});

describe("the trained models give the ground-truth masks", () => {
  const deeplab = join(shared, "data", "deeplabv3_mobilenet_v2");
  it.runIf(haveShared(join(deeplab, "model", "deeplabv3.tflite"), "mnc run --mask with DeepLab's trained weights"))(
    "DeepLab on the rider photo: the interpreter's category mask on all 66,049 pixels",
    () => {
      const out = at("rider.png");
      const r = mnc(
        "run",
        join(root, "examples", "deeplabv3_mobilenet_v2.mn"),
        "--weights",
        join(deeplab, "model", "deeplabv3.tflite"),
        "--input",
        join(deeplab, "images", "segmentation_input.jpg"),
        "--labels",
        join(deeplab, "model", "labelmap.txt"),
        "--mask",
        out,
      );
      expect(r.err).toBe("");
      expect(r.status).toBe(0);
      expect(r.out.split("\n").slice(2, 6)).toEqual([
        "    pixels per class (argmax of 21 channels; 3 classes present):",
        "     1. background  25,044   37.92 %  (0)",
        "     2. person      22,121   33.49 %  (15)",
        "     3. horse       18,884   28.59 %  (13)",
      ]);
      const truth = gray(join(deeplab, "ground_truth", "segmentation_input.mask.png"));
      const mask = gray(out);
      expect([mask.width, mask.height]).toEqual([257, 257]);
      expect(mask.pixels.filter((k, i) => k !== truth.pixels[i]).length).toBe(0);
      // tflite-support's golden mask stores class × 10.
      expect(gray(join(deeplab, "images", "segmentation_golden.png")).pixels).toEqual(mask.pixels.map((k) => 10 * k));
    },
    120_000,
  );

  const selfie = join(shared, "data", "selfie_segmentation_v3");
  it.runIf(haveShared(join(selfie, "model", "selfie_segmentation.tflite"), "mnc run --mask with the selfie model's trained weights"))(
    "selfie on the portrait: the README's mean and fraction above 0.5, and the ground-truth PNG",
    () => {
      const out = at("portrait.png");
      const r = mnc("run", join(root, "examples", "selfie_segmentation.mn"), "--weights", join(selfie, "model", "selfie_segmentation.tflite"), "--input", join(selfie, "images", "grace_hopper.rgb256"), "--mask", `mask=${out}`, "--outputs", "mask");
      expect(r.err).toBe("");
      expect(r.status).toBe(0);
      expect(r.out.split("\n")[1]).toMatch(/^ {2}mask 256x256x1: min 0\.\d{4}, max [01]\.\d{4}, mean 0\.5881$/);
      expect(r.out.split("\n")[2]).toBe("    fraction above 0.5: 0.5892 (38,617 of 65,536 pixels)");
      const truth = gray(join(selfie, "ground_truth", "grace_hopper.mask.png"));
      expect(gray(out).pixels.filter((v, i) => v !== truth.pixels[i]).length).toBe(0);
    },
    120_000,
  );
});

describe("the selfie model cut at its features", () => {
  const selfie = join(shared, "data", "selfie_segmentation_v3");
  const cut = join(selfie, "model", "selfie_segmentation_features_only.tflite");
  it.runIf(haveShared(cut, "mnc run --outputs features with the cut selfie model"))(
    "--outputs features with the cut file: the interpreter's features, to float32 rounding",
    () => {
      const r = mnc("run", join(root, "examples", "selfie_segmentation.mn"), "--weights", cut, "--input", join(selfie, "images", "grace_hopper.rgb256"), "--outputs", "features");
      expect(r.err).toBe("");
      expect(r.status).toBe(0);
      const m = /^ {2}features 128x128x16: min (\S+), max (\S+), mean (\S+)$/.exec(r.out.split("\n")[1]!)!;
      const bytes = readFileSync(join(selfie, "ground_truth", "grace_hopper.features.f32"));
      const truth = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const expected = [truth.reduce((a, x) => Math.min(a, x), Infinity), truth.reduce((a, x) => Math.max(a, x), -Infinity), truth.reduce((a, x) => a + x, 0) / truth.length];
      // The README: the features reach about 95 and agree to 2.5e-4; the summary prints four decimals.
      m.slice(1).map(Number).forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-3));
    },
    120_000,
  );
});

describe("docs/segmentation.md's runs, as written", () => {
  const doc = readFileSync(join(root, "docs", "segmentation.md"), "utf8");
  const blocks = codeBlocks(doc).filter((b) => b.startsWith("$ mnc run "));
  const data = join(shared, "data");
  it.runIf(haveShared(join(data, "deeplabv3_mobilenet_v2", "model", "deeplabv3.tflite"), "docs/segmentation.md's mnc run examples") && existsSync(join(data, "selfie_segmentation_v3", "model", "selfie_segmentation.tflite")))(
    "print what the document shows (the masks written to a temporary directory instead)",
    () => {
      expect(blocks).toHaveLength(2);
      for (const block of blocks) {
        const [command, ...expected] = block.trimEnd().split("\n");
        const args = command!.slice("$ mnc ".length).split(" ");
        const mask = args.indexOf("--mask") + 1;
        const [name, path] = args[mask]!.includes("=") ? args[mask]!.split("=") : [undefined, args[mask]!];
        args[mask] = name === undefined ? at(`doc-${path}`) : `${name}=${at(`doc-${path}`)}`;
        const cwd = process.cwd();
        process.chdir(root);
        let r: ReturnType<typeof mnc>;
        try {
          r = mnc(...args);
        } finally {
          process.chdir(cwd);
        }
        expect(r.err).toBe("");
        expect(r.status).toBe(0);
        expect(r.out.trimEnd().split("\n")).toEqual(expected.map((l) => l.replace(`${path}: mask of`, `${at(`doc-${path}`)}: mask of`)));
      }
    },
    180_000,
  );
});

describe("--outputs on the other commands", () => {
  it("sweep and report cost only the layers the chosen outputs need", () => {
    const example = join(root, "examples", "selfie_segmentation.mn");
    const sweep = mnc("sweep", example, "--outputs", "features", "--alpha", "1", "--resolution", "256", "--format", "csv");
    expect(sweep.status).toBe(0);
    const whole = analyze(readExample("selfie_segmentation.mn")).costs!.totals;
    const features = analyze(readExample("selfie_segmentation.mn"), { outputs: ["features"] }).costs!.totals;
    // The transposed convolution (16 → 1, 2x2, on 128x128) is all that the features leave out.
    expect(whole.multAdds - features.multAdds).toBe(2 * 2 * 16 * 1 * 128 * 128);
    expect(sweep.out).toContain(features.multAdds.toString());
    expect(sweep.out).not.toContain(whole.multAdds.toString());
  }, 60_000);
});
