/**
 * The command line, run as a user runs it: the built `mnc` executable in a
 * child process. Exit codes: 0 success, 1 input errors, 2 usage, 70 internal.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { InternalError } from "../src/ir/diagnostics.js";
import { sweep } from "../src/index.js";
import { exampleFiles, root } from "./helpers.js";
import { haveShared } from "./optional.js";

function mnc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const work = mkdtempSync(join(tmpdir(), "mnc-cli-"));
function file(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

describe("mnc", () => {
  it("--version prints the package's version", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    expect(mnc("--version")).toMatchObject({ status: 0, stdout: `mnc ${pkg.version}\n` });
  });

  it("--help lists the commands; each command has its own --help", () => {
    const r = mnc("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mnc check FILE/);
    expect(r.stdout).toMatch(/mnc compile FILE/);
    for (const command of ["check", "compile", "report", "sweep", "run", "weights"]) {
      const h = mnc(command, "--help");
      expect(h.status).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`Usage: mnc ${command}`));
      expect(h.stdout).toMatch(/--alpha /);
      expect(r.stdout).toMatch(new RegExp(`mnc ${command} `));
    }
  }, 30_000);

  it("check accepts every example", () => {
    const r = mnc("check", ...exampleFiles().map((f) => `examples/${f}`));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(exampleFiles().length);
  });

  it("compile writes the model and prints one line: path, exact figures, the fusion certificate", () => {
    const out = join(work, "v1.onnx");
    const r = mnc("compile", "examples/mobilenet_v1.mn", "-o", out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: MobileNetV1 α=1 224x224x3 → 1x1x1000, 568,740,352 mult-adds, 4,210,088 params, batch-norm fused \\(max relative error \\d\\.\\d\\de-\\d+\\)\n$`),
    );
    expect(existsSync(out)).toBe(true);
    // Without -o the model goes next to the source: net.mn → net.onnx.
    const source = file("beside.mn", "network N {\n  input 8x8x3\n  pw 4\n}\n");
    expect(mnc("compile", source).status).toBe(0);
    expect(existsSync(source.replace(/\.mn$/, ".onnx"))).toBe(true);
    const small = mnc("compile", "examples/mobilenet_v1.mn", "--alpha", "0.25", "--resolution", "96", "--set", "classes=10", "-o", join(work, "small.onnx"), "--no-fuse-bn");
    expect(small.stdout).toMatch(/α=0.25 96x96x3 → 1x1x10, .* batch-norm kept\n$/);
  }, 60_000);

  it("--quiet prints nothing on success, and errors all the same", () => {
    expect(mnc("check", "examples/mobilenet_v1.mn", "--quiet")).toMatchObject({ status: 0, stdout: "", stderr: "" });
    const bad = file("quiet.mn", "network N {\n  input 8x8x3\n  pw 0\n}\n");
    const r = mnc("check", bad, "-q");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error MN3001/);
    expect(mnc("check", bad, "-q", "--verbose").status).toBe(2);
  });

  it("--dump-ir prints the IR", () => {
    const r = mnc("check", "examples/mobilenet_v1.mn", "--dump-ir");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}sep_3\.pw +conv +1x1 128 /m);
    expect(r.stdout).toMatch(/^ {2}fc_14 +fc +1000 /m);
  });

  it("reports errors as FILE:LINE:COL with the source line and a caret, and exits 1", () => {
    const path = file("bad.mn", "network N {\n  input 8x8x3\n  seperable 16\n  pw 4 strde=2\n}\n");
    const r = mnc("check", path);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      [
        `${path}:3:3: error MN2001: unknown op or block 'seperable'; did you mean 'separable'?`,
        "  3 |   seperable 16",
        "    |   ^~~~~~~~~",
        `${path}:4:8: error MN2003: 'pw' has no argument 'strde'; did you mean 'stride'?`,
        "  4 |   pw 4 strde=2",
        "    |        ^~~~~",
        "2 errors",
        "",
      ].join("\n"),
    );
  });

  it("checks every network of a file, and compile asks which one", () => {
    const path = file("two.mn", "network A {\n  input 8x8x3\n  pw 4\n}\nnetwork B {\n  input 8x8x3\n  pw 8\n}\n");
    expect(mnc("check", path)).toMatchObject({ status: 0, stdout: `${path}: ok (A, B)\n` });
    const r = mnc("compile", path);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^mnc: error MN2014: the file declares 2 networks/);
    expect(mnc("compile", path, "--network", "B")).toMatchObject({ status: 0 });
  });

  it.each([
    [["compile"], /missing FILE argument/],
    [["check", "examples/mobilenet_v1.mn", "--bogus"], /Unknown option '--bogus'/],
    [["compile", "examples/mobilenet_v1.mn", "--alpha", "0"], /--alpha must be a number greater than 0, not '0'/],
    [["compile", "examples/mobilenet_v1.mn", "--resolution", "-5"], /--resolution must be a positive integer, not '-5'/],
    [["compile", "examples/mobilenet_v1.mn", "--resolution", "160", "--rho", "0.5"], /either --resolution or --rho/],
    [["compile", "examples/mobilenet_v1.mn", "--set", "classes"], /--set expects NAME=VALUE/],
    [["frobnicate"], /unknown command 'frobnicate'/],
  ])("usage mistake %j exits 2 with one line", (args, message) => {
    const r = mnc(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a missing file or a directory exits 1 naming the path", () => {
    expect(mnc("check", "no/such.mn")).toMatchObject({ status: 1, stderr: "mnc: error: cannot read 'no/such.mn': no such file\n" });
    expect(mnc("check", "examples")).toMatchObject({ status: 1, stderr: "mnc: error: 'examples' is a directory, not a .mn file\n" });
  });

  it("user errors never show a stack trace", () => {
    const path = file("soup.mn", "network { ( } ) = = 3x3x\n block block\n");
    const r = mnc("check", path);
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).toMatch(/error MN1\d{3}/);
  });

  const data = join(root, "..", "shared", "data", "mobilenet_v1");
  const model = join(data, "model", "mobilenet_v1_0.25_224_1_default_1.tflite");
  const labels = join(data, "model", "labels_1001.txt");

  it.runIf(haveShared(model, "mnc run on a photo with the trained weights"))("run classifies a photo with the trained weights, from raw pixels or a JPEG", () => {
    const raw = mnc("run", "examples/mobilenet_v1_tf.mn", "--weights", model, "--input", join(data, "images", "pizza.rgb224"), "--mean", "127.5", "--std", "127.5", "--labels", labels);
    expect(raw.stderr).toBe("");
    expect(raw.status).toBe(0);
    const lines = raw.stdout.trim().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^ {3}1\. pizza +0\.8503 +\(964\)$/);
    expect(lines[2]).toMatch(/^ {3}2\. burrito +0\.0737 +\(966\)$/);
    // The same pixels as a PNG (no crop or resize needed at 224x224) give the same answer.
    const png = new PNG({ width: 224, height: 224 });
    const rgb = readFileSync(join(data, "images", "pizza.rgb224"));
    for (let i = 0; i < 224 * 224; i++) {
      png.data[4 * i] = rgb[3 * i]!;
      png.data[4 * i + 1] = rgb[3 * i + 1]!;
      png.data[4 * i + 2] = rgb[3 * i + 2]!;
      png.data[4 * i + 3] = 255;
    }
    const pngPath = join(work, "pizza.png");
    writeFileSync(pngPath, PNG.sync.write(png));
    const fromPng = mnc("run", "examples/mobilenet_v1_tf.mn", "--weights", model, "--input", pngPath, "--mean", "127.5", "--std", "127.5", "--labels", labels);
    expect(fromPng.stdout.split("\n").slice(1)).toEqual(raw.stdout.split("\n").slice(1));
    const jpeg = mnc("run", "examples/mobilenet_v1_tf.mn", "--weights", model, "--input", join(data, "images", "pizza.jpg"), "--mean", "127.5", "--std", "127.5", "--labels", labels, "--top", "1");
    expect(jpeg.stdout).toMatch(/\n {3}1\. pizza +0\.8\d{3} +\(964\)\n$/);
  }, 60_000);

  it("run explains inputs it cannot use, and needs --input", () => {
    const path = file("odd.bin", "not an image");
    const r = mnc("run", "examples/keyword_spotter.mn", "--input", path);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/odd\.bin: not an input for a 96x96x1 network: expected 9,216 bytes \(uint8 HWC\), 36,864 bytes \(float32 HWC\), a JPEG or a PNG; found 12 bytes/);
    expect(mnc("run", "examples/keyword_spotter.mn").status).toBe(2);
    // Labels must name every output, as for --emit ts --labels.
    const pixels = join(work, "grey.raw");
    writeFileSync(pixels, new Uint8Array(96 * 96).fill(128));
    const three = file("three-labels.txt", "a\nb\nc\n");
    const labelled = mnc("run", "examples/keyword_spotter.mn", "--input", pixels, "--labels", three);
    expect(labelled.status).toBe(1);
    expect(labelled.stderr).toMatch(/^mnc: error MN5001: 3 labels for the 12 outputs of 'softmax_0' \(.*three-labels\.txt\): give exactly one label per output, one per line$/m);
  }, 30_000);

  it("weights export writes safetensors that --weights reads back", () => {
    const out = join(work, "pocket.safetensors");
    const r = mnc("weights", "export", "examples/keyword_spotter.mn", "-o", out, "--seed", "3");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${out}: PocketNet, 12 layers of weights\n`);
    const back = mnc("compile", "examples/keyword_spotter.mn", "--weights", out, "-o", join(work, "pocket.onnx"));
    expect(back.status).toBe(0);
    const wrong = mnc("compile", "examples/mobilenet_v1.mn", "--weights", out, "-o", join(work, "wrong.onnx"));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/error MN4\d{3}: /);
    expect(mnc("weights", "export", "examples/keyword_spotter.mn").status).toBe(2);
  }, 30_000);

  it("compile --emit ts writes the module and its weights, or with --embed-weights the module alone", async () => {
    const out = join(work, "pocket.ts");
    const r = mnc("compile", "examples/keyword_spotter.mn", "--emit", "ts", "-o", out, "--resolution", "48");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/pocket\.ts: PocketNet α=1 48x48x1 → 1x1x12, /);
    const code = readFileSync(out, "utf8");
    expect(code).toMatch(/^export function createModel\(weights: Uint8Array \| ArrayBuffer, options: ModelOptions = \{\}\): Model/m);
    expect(code).toMatch(/^const WASM = "/m);
    expect(existsSync(join(work, "pocket.weights.bin"))).toBe(true);
    const weights = readFileSync(join(work, "pocket.weights.bin"));
    // --no-wasm: the TypeScript kernels alone, with the same weights file.
    const plain = join(work, "plain.ts");
    expect(mnc("compile", "examples/keyword_spotter.mn", "--emit", "ts", "--no-wasm", "-o", plain, "--resolution", "48").status).toBe(0);
    expect(readFileSync(plain, "utf8")).not.toMatch(/^const WASM = /m);
    expect(readFileSync(plain, "utf8")).toMatch(/^ \*   kernels +TypeScript only \(generated with --no-wasm\)$/m);
    expect(readFileSync(join(work, "plain.weights.bin"))).toEqual(weights);
    expect(mnc("compile", "examples/keyword_spotter.mn", "--no-wasm").status).toBe(2);
    const embedded = join(work, "pocket-embedded.ts");
    expect(mnc("compile", "examples/keyword_spotter.mn", "--emit", "ts", "--embed-weights", "-o", embedded, "--resolution", "48").status).toBe(0);
    expect(existsSync(join(work, "pocket-embedded.weights.bin"))).toBe(false);
    const labels = file("three.txt", "a\nb\nc\n");
    const wrong = mnc("compile", "examples/keyword_spotter.mn", "--emit", "ts", "--labels", labels, "-o", join(work, "labelled.ts"));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^mnc: error MN5001: 3 labels for the 12 outputs of 'softmax_0' \(.*three\.txt\)/);
    expect(existsSync(join(work, "labelled.ts"))).toBe(false);
    expect(mnc("compile", "examples/keyword_spotter.mn", "--labels", labels).status).toBe(2);
  }, 60_000);

  it("a compiler bug is an internal error with exit 70, not a user error", () => {
    const err: string[] = [];
    const status = main(["check", "examples/mobilenet_v1.mn"], {
      out: () => {
        throw new InternalError("broken invariant");
      },
      err: (t) => err.push(t),
    });
    expect(status).toBe(70);
    expect(err.join("")).toMatch(/^mnc: internal error: broken invariant\nThis is a bug in mnc/);
  });
});

describe("mnc sweep's default grid surrounds the network's own α and resolution", () => {
  const run = (...args: string[]): { status: number; stdout: string; stderr: string } => {
    let stdout = "";
    let stderr = "";
    const status = main(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
    return { status, stdout, stderr };
  };
  const grid = (...args: string[]): { alphas: number[]; resolutions: number[] } => {
    const r = run("sweep", ...args, "--format", "json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as { alphas: number[]; resolutions: number[]; points: unknown[] };
    expect(s.points).toHaveLength(s.alphas.length * s.resolutions.length);
    return { alphas: s.alphas, resolutions: s.resolutions };
  };

  it("MobileNetV1 (α 1, 224 px) gets the paper's grid", () => {
    expect(grid("examples/mobilenet_v1.mn")).toEqual({ alphas: [1, 0.75, 0.5, 0.25], resolutions: [224, 192, 160, 128] });
  });

  it("a 96 px network sweeps 96, 64 and 32 px; a network written at α 0.35 sweeps α 0.35 downwards", () => {
    expect(grid("examples/keyword_spotter.mn").resolutions).toEqual([96, 64, 32]);
    const narrow = file("narrow.mn", "network N {\n  input 160x160x3\n  width 0.35\n  conv 3x3 32 stride=2\n  separable 64\n  avgpool global\n  fc 10\n}\n");
    expect(grid(narrow)).toEqual({ alphas: [0.35, 0.2625, 0.175, 0.0875], resolutions: [160, 128, 96, 64] });
    // A given list replaces only its own axis.
    expect(grid(narrow, "--resolution", "100")).toEqual({ alphas: [0.35, 0.2625, 0.175, 0.0875], resolutions: [100] });
    expect(grid(narrow, "--alpha", "1,0.5")).toEqual({ alphas: [1, 0.5], resolutions: [160, 128, 96, 64] });
  });

  it("stops at the first resolution the network no longer fits, and reports a network that fits none", () => {
    // A 20x20 window after a valid stride-2 convolution: 96 → 47 and 64 → 31 fit, 32 → 15 does not.
    const pooled = file("pooled.mn", "network P {\n  input 96x96x3\n  conv 3x3 8 stride=2 pad=valid\n  avgpool 20x20\n  fc 4\n}\n");
    expect(grid(pooled).resolutions).toEqual([96, 64]);
    const explicit = run("sweep", pooled, "--resolution", "96,32");
    expect(explicit.status).toBe(1);
    expect(explicit.stderr).toMatch(/error MN\d{4}/);
    const broken = run("sweep", file("broken.mn", "network B {\n  input 8x8x3\n  avgpool 9x9\n}\n"));
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/broken\.mn:3:3: error MN\d{4}/);
  });

  it("the library's sweep() takes the same defaults", () => {
    const s = sweep(readFileSync(join(root, "examples", "keyword_spotter.mn"), "utf8")).sweep!;
    expect([s.alphas, s.resolutions]).toEqual([[1, 0.75, 0.5, 0.25], [96, 64, 32]]);
  });
});
