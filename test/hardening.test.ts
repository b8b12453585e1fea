/**
 * Whatever a user throws at mnc, it answers with a located error — never a
 * crash, a hang or a half-written file — and legal but extreme input works.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { analyze, compile } from "../src/index.js";
import { emitOnnx } from "../src/emit/onnx/index.js";
import { runReference } from "../src/ir/reference.js";
import { exportSafetensors } from "../src/weights/export.js";
import { backupName, NODE_FS, temporaryName, WriteError, writeFileAtomic, writeFilesAtomic, type WriteFs } from "../src/cli/write.js";
import { readExample, root, shared } from "./helpers.js";
import { runs, timeLimit } from "./fuzz-scale.js";
import { haveShared } from "./optional.js";

const work = mkdtempSync(join(tmpdir(), "mnc-hard-"));
const mnc = (...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: work, encoding: "utf8", timeout: 60_000 });
const ESC = String.fromCharCode(27);

/** Specs the repository has never seen, each wrong in its own way. */
const MALFORMED: Record<string, string> = {
  "missing brace": "network N {\n  input 8x8x3\n  pw 4\n",
  "stray brace": "network N {\n  input 8x8x3\n  pw 4\n}\n}\n",
  "keyword as name": "network block {\n  input 8x8x3\n}\n",
  "shape with a hole": "network N {\n  input 8xx8x3\n  pw 4\n}\n",
  "trailing operator": "network N(a = 3) {\n  input 8x8x3\n  pw a *\n}\n",
  "empty parens": "network N {\n  input 8x8x3\n  pw ()\n}\n",
  "equals without name": "network N {\n  input 8x8x3\n  pw 4 =2\n}\n",
  "nul byte": "network N {\n  input 8x8x3\u0000\n  pw 4\n}\n",
  "unicode operator": "network N {\n  input 8x8x3\n  pw 4 × 2\n}\n",
  "tab and CRLF soup": "network N {\r\n\tinput 8x8x3\r\n\tconv 3x3 8 stride=0\r\n}\r\n",
  "input in a repeat": "network N {\n  input 8x8x3\n  repeat 2 { input 8x8x3 }\n}\n",
  "negative repeat": "network N {\n  input 8x8x3\n  repeat -2 { pw 4 }\n}\n",
  "fractional repeat": "network N {\n  input 8x8x3\n  repeat 2.5 { pw 4 }\n}\n",
  "huge repeat": "network N {\n  input 8x8x3\n  repeat 1e300 { pw 4 }\n}\n",
  "infinite literal": "network N {\n  input 8x8x3\n  pw 1e999\n}\n",
  "window bigger than input": "network N {\n  input 3x3x3\n  maxpool 5x5\n}\n",
  "kernel as shape of three": "network N {\n  input 8x8x3\n  conv 3x3x3 8\n}\n",
  "unknown act through block": "block b(a) {\n  pw 4 act=a\n}\nnetwork N {\n  input 8x8x3\n  b swish\n}\n",
  "missing block argument": "block b(a, c) {\n  pw a\n}\nnetwork N {\n  input 8x8x3\n  b 4\n}\n",
  "width of zero": "network N {\n  input 8x8x3\n  width 0\n  pw 4\n}\n",
  "dropout of one": "network N {\n  input 8x8x3\n  pw 4\n  dropout 1\n}\n",
  "channel explosion": "network N {\n  input 8x8x3\n  pw 1048577\n}\n",
  "activation too large": "network N {\n  input 65536x65536x3\n  pw 4\n}\n",
  "two networks, same name": "network N {\n  input 8x8x3\n  pw 4\n}\nnetwork N {\n  input 8x8x3\n  pw 4\n}\n",
  "only comments": "# nothing\n# at all\n",
  "empty file": "",
  "binary junk": "\u0089PNG\r\n\u001a\n\u0000\u0000\u0000\rIHDR",
};

describe("a corpus of malformed specs", () => {
  it.each(Object.entries(MALFORMED))("%s: exit 1, a located error, no stack trace, no output file", (name, source) => {
    const file = join(work, `${name.replace(/\W+/g, "_")}.mn`);
    writeFileSync(file, source);
    const started = performance.now();
    const r = mnc("compile", file);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(r.status).toBe(1);
    const first = r.stderr.split("\n")[0]!;
    expect(first).toMatch(new RegExp(`^(${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+|mnc): error MN\\d{4}: `));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain(ESC);
    expect(existsSync(file.replace(/\.mn$/, ".onnx"))).toBe(false);
  });
});

describe("legal but extreme specs", () => {
  const extreme: Record<string, string> = {
    "a 1x1 input": "network N {\n  input 1x1x1\n  conv 3x3 4 stride=2\n  separable 8 stride=2\n  avgpool global\n  fc 2\n  softmax\n}\n",
    "the widest layer allowed": "network N {\n  input 1x1x1\n  pw 1048576 norm=none\n}\n",
    "the largest kernel allowed": "network N {\n  input 1024x1024x1\n  conv 1024x1024 2 pad=valid norm=none\n}\n",
    "close to the layer limit": "network N {\n  input 2x2x1\n  repeat 49990 { separable 1 }\n}\n",
    "a long name": `network ${"N".repeat(10_000)}(${"p".repeat(5000)} = 4) {\n  input 8x8x3\n  pw ${"p".repeat(5000)}\n}\n`,
    "deep expressions": `network N {\n  input 8x8x3\n  pw ${"(".repeat(60)}4${")".repeat(60)} * ${"-".repeat(30)}1 * ${"-".repeat(30)}1\n}\n`,
    "CRLF line endings and tabs": "network N(c = 4)\r\n{\r\n\tinput 8x8x3 ; pw c\r\n\tsoftmax\r\n}\r\n",
    "odd sizes everywhere": "network N {\n  input 97x13x5\n  conv 7x3 9 stride=3x2\n  dw 5x5 stride=2 pad=valid\n  maxpool 2x2\n  avgpool global\n  fc 3\n}\n",
  };
  it.each(Object.entries(extreme))("%s", (_name, source) => {
    const r = analyze(source);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.costs!.totals.params).toBeGreaterThan(0);
  }, 60_000);

  it("the small extreme ones compile, and their ONNX runs in ONNX Runtime", async () => {
    for (const source of [extreme["a 1x1 input"]!, extreme["odd sizes everywhere"]!, extreme["CRLF line endings and tabs"]!]) {
      const r = compile(source);
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      const bytes = emitOnnx({ graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "x.mn", inputLayout: "nhwc" });
      const [h, w, c] = r.graph!.nodes[0]!.shape!;
      const x = Float32Array.from({ length: h * w * c }, (_, i) => Math.cos(i));
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ input: new ort.Tensor("float32", x, [1, h, w, c]) });
      const got = out[session.outputNames[0]!]!.data as Float32Array;
      const want = runReference(r.graph!, x);
      expect(got.length).toBe(want.length);
    }
  });
});

describe("generated input", () => {
  it("a very long line of junk is answered quickly", () => {
    const source = `network N {\n  input 8x8x3\n  pw 4 ${"@#$%^&".repeat(200_000)}\n}\n`;
    const started = performance.now();
    const r = analyze(source);
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("every answer comes within a time bound", () => {
    const sources = ["mobilenet_v1.mn", "keyword_spotter.mn"].map(readExample);
    const mutated = fc.tuple(fc.constantFrom(...sources), fc.nat(), fc.string({ unit: "binary", maxLength: 40 })).map(([s, i, junk]) => s.slice(0, i % s.length) + junk + s.slice(i % s.length));
    fc.assert(
      fc.property(mutated, (source) => {
        const started = performance.now();
        const r = analyze(source, { file: "m.mn" });
        expect(performance.now() - started).toBeLessThan(2_000);
        if (r.graph === undefined) expect(r.diagnostics.some((d) => /^MN\d{4}$/.test(d.code))).toBe(true);
      }),
      { seed: 99, numRuns: runs(200) },
    );
  }, 60_000);

  it("random valid specs compile to ONNX that ONNX Runtime runs like the reference evaluator", async () => {
    const layer = fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 24 }), fc.constantFrom(1, 2)).map(([n, s]) => `separable ${n} stride=${s}`),
      fc.tuple(fc.constantFrom("1x1", "3x3", "5x3"), fc.integer({ min: 1, max: 24 }), fc.constantFrom("relu", "relu6", "linear")).map(([k, n, a]) => `conv ${k} ${n} act=${a}`),
      fc.constantFrom("maxpool 2x2 pad=same", "avgpool 3x3 stride=1 pad=same", "dw 3x3 norm=none"),
    );
    const spec = fc.tuple(fc.integer({ min: 3, max: 24 }), fc.integer({ min: 3, max: 24 }), fc.array(layer, { minLength: 1, maxLength: 5 }), fc.boolean()).map(
      ([h, w, layers, head]) => `network R {\n  input ${h}x${w}x3\n${layers.map((l) => `  ${l}\n`).join("")}${head ? "  avgpool global\n  fc 5\n  softmax\n" : ""}}\n`,
    );
    await fc.assert(
      fc.asyncProperty(spec, async (source) => {
        const r = compile(source);
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        const bytes = emitOnnx({ graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "r.mn", inputLayout: "nhwc" });
        const [h, w, c] = r.graph!.nodes[0]!.shape!;
        const x = Float32Array.from({ length: h * w * c }, (_, i) => Math.sin(i));
        const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
        const out = await session.run({ input: new ort.Tensor("float32", x, [1, h, w, c]) });
        const got = out[session.outputNames[0]!]!.data as Float32Array;
        const want = runReference(r.graph!, x);
        const last = r.graph!.nodes[r.graph!.nodes.length - 1]!.shape!;
        // ONNX outputs NCHW; compare as sets of values per position only for 1x1 outputs, else in NCHW order.
        const [oh, ow, oc] = last;
        let scale = 0;
        let diff = 0;
        for (let ch = 0; ch < oc; ch++)
          for (let p = 0; p < oh * ow; p++) {
            const a = want[p * oc + ch]!;
            const b = got[ch * oh * ow + p]!;
            scale = Math.max(scale, Math.abs(a));
            diff = Math.max(diff, Math.abs(a - b));
          }
        expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(scale, 1e-6));
      }),
      { seed: 5, numRuns: runs(25) },
    );
  }, timeLimit(120_000));
});

describe("untrusted weight files", () => {
  const source = readExample("keyword_spotter.mn");
  const good = exportSafetensors(compile(source).unfused!);

  it("bit-flipped safetensors either load correctly or fail with MN4xxx", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const bytes = good.slice();
        for (const [at, bit] of flips) bytes[at % bytes.length]! ^= 1 << bit;
        const r = compile(source, { weights: bytes, weightsFile: "w.safetensors", fuseBatchNorm: false });
        if (r.graph === undefined) expect(r.diagnostics.map((d) => d.code)).toEqual(r.diagnostics.map(() => expect.stringMatching(/^MN4\d{3}$/)));
      }),
      { seed: 11, numRuns: runs(150) },
    );
  });

  const model = join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite");
  it.runIf(haveShared(model, "truncated and corrupted copies of the shared .tflite"))("truncated and corrupted copies of the shared .tflite are rejected cleanly or load", () => {
    const tflite = new Uint8Array(readFileSync(model));
    const network = readExample("mobilenet_v1_tf.mn");
    fc.assert(
      fc.property(fc.nat({ max: tflite.length }), fc.array(fc.nat({ max: 4095 }), { maxLength: 3 }), (cut, flips) => {
        // Corrupt the structure (the first and last 4 KiB), not only weight values.
        const bytes = tflite.slice(0, Math.max(cut, 64));
        for (const f of flips) {
          const at = f < 2048 ? f : bytes.length - 1 - (f - 2048);
          if (at >= 0 && at < bytes.length) bytes[at] = bytes[at]! ^ 0x5a;
        }
        const r = analyze(network);
        expect(r.graph).toBeDefined();
        const c = compile(network, { weights: bytes, weightsFile: "m.tflite", fuseBatchNorm: false });
        if (c.graph === undefined) expect(c.diagnostics.every((d) => /^MN4\d{3}$/.test(d.code))).toBe(true);
      }),
      { seed: 12, numRuns: runs(25) },
    );
  }, timeLimit(120_000));
});

describe("nothing is lost", () => {
  /**
   * The file-system calls of a transaction, one of which fails on purpose: every
   * write into a temporary file, every fsync, every hard link and every rename.
   */
  function failingAt(failAt: number, links = true): { fs: WriteFs; steps: string[] } {
    const steps: string[] = [];
    const step = (what: string): void => {
      steps.push(what);
      if (steps.length - 1 === failAt) throw Object.assign(new Error(`EIO: i/o error, ${what}`), { code: "EIO" });
    };
    const fs: WriteFs = {
      ...NODE_FS,
      // A temporary file gets its bytes in two writes, so a failure can also strike halfway.
      writeSync: (fd, bytes, offset, length) => {
        step(`write ${offset}`);
        return NODE_FS.writeSync(fd, bytes, offset, Math.min(length, Math.ceil(bytes.length / 2)));
      },
      fsyncSync: (fd) => {
        step("fsync");
        NODE_FS.fsyncSync(fd);
      },
      linkSync: (from, to) => {
        if (!links) throw Object.assign(new Error("EPERM: operation not permitted, link"), { code: "EPERM" });
        step(`link ${basename(from)}`);
        NODE_FS.linkSync(from, to);
      },
      copyFileSync: (from, to) => {
        step(`copy ${basename(from)}`);
        NODE_FS.copyFileSync(from, to);
      },
      renameSync: (from, to) => {
        step(`rename ${basename(to)}`);
        NODE_FS.renameSync(from, to);
      },
    };
    return { fs, steps };
  }

  it.each([
    ["", true],
    [" (a file system without hard links: the backups are copies)", false],
  ])("a module's files are one transaction: a failure at any step leaves every destination as it was and no temporary file%s", (_, links) => {
    const dir = join(work, "transaction");
    const old: Record<string, string | undefined> = { "m.js": "old module", "m.d.ts": undefined, "m.weights.bin": "old weights" };
    const fresh: Record<string, string> = { "m.js": "new module ".repeat(50), "m.d.ts": "new declarations", "m.weights.bin": "new weights ".repeat(80) };
    const reset = (): void => {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      for (const [name, content] of Object.entries(old)) if (content !== undefined) writeFileSync(join(dir, name), content);
    };
    const files = Object.entries(fresh).map(([name, content]) => ({ path: join(dir, name), content }));
    reset();
    const clean = failingAt(-1, links);
    writeFilesAtomic(files, clean.fs);
    for (const [name, content] of Object.entries(fresh)) expect(readFileSync(join(dir, name), "utf8")).toBe(content);
    expect(readdirSync(dir).sort()).toEqual(Object.keys(fresh).sort());
    // Two writes and an fsync per file, a link per existing destination, a rename per file.
    expect(clean.steps.filter((s) => s === "fsync")).toHaveLength(3);
    expect(clean.steps.filter((s) => s.startsWith("write"))).toHaveLength(6);
    expect(clean.steps.filter((s) => s.startsWith(links ? "link" : "copy"))).toHaveLength(2);
    expect(clean.steps.filter((s) => s.startsWith("rename"))).toHaveLength(3);
    for (let k = 0; k < clean.steps.length; k++) {
      reset();
      const { fs, steps } = failingAt(k, links);
      expect(() => writeFilesAtomic(files, fs), clean.steps[k]).toThrow(WriteError);
      expect(steps[k], `step ${k}`).toBe(clean.steps[k]);
      for (const [name, content] of Object.entries(old)) {
        if (content === undefined) expect(existsSync(join(dir, name)), `${clean.steps[k]}: ${name}`).toBe(false);
        else expect(readFileSync(join(dir, name), "utf8"), `${clean.steps[k]}: ${name}`).toBe(content);
      }
      expect(readdirSync(dir).sort(), clean.steps[k]).toEqual(["m.js", "m.weights.bin"]);
    }
  });

  it("a single file is replaced by one rename: a failure at any step leaves the old file and no temporary file", () => {
    const dest = join(work, "single.onnx");
    const clean = failingAt(-1);
    writeFileSync(dest, "old");
    writeFileAtomic(dest, "new model", clean.fs);
    expect(clean.steps).toEqual(["write 0", "write 5", "fsync", "rename single.onnx"]);
    for (let k = 0; k < clean.steps.length; k++) {
      writeFileSync(dest, "old");
      expect(() => writeFileAtomic(dest, "new model", failingAt(k).fs)).toThrow(/^an input\/output error on the device$/);
      expect(readFileSync(dest, "utf8")).toBe("old");
      expect(readdirSync(work).filter((n) => n.includes(".mnc-"))).toEqual([]);
    }
  });

  it("the next write removes the temporary files of a writer that was killed", () => {
    const dest = join(work, "killed.onnx");
    writeFileSync(dest, "old");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    writeFileSync(temporaryName(dest, Number(dead)), "half a mod");
    writeFileSync(backupName(dest, Number(dead)), "old");
    // Another destination's temporary file is left alone.
    writeFileSync(temporaryName(join(work, "other.onnx"), Number(dead)), "other");
    expect(mnc("compile", join(root, "examples", "keyword_spotter.mn"), "-o", dest).status).toBe(0);
    expect(readdirSync(work).filter((n) => n.includes(".mnc-"))).toEqual([basename(temporaryName(join(work, "other.onnx"), Number(dead)))]);
    rmSync(temporaryName(join(work, "other.onnx"), Number(dead)));
  });

  it("an unwritable destination is an error, and an existing file there survives", () => {
    const dir = join(work, "a-file");
    writeFileSync(dir, "not a directory");
    const r = mnc("compile", join(root, "examples", "keyword_spotter.mn"), "-o", join(dir, "x.onnx"));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^mnc: error: cannot write '.*x\.onnx': /);
    expect(readFileSync(dir, "utf8")).toBe("not a directory");
  });
});

describe("the command line", () => {
  it("never colours its output (NO_COLOR, pipes)", () => {
    for (const args of [["check", join(root, "examples", "mobilenet_v1.mn")], ["report", join(root, "examples", "mobilenet_v1.mn")], ["check", join(work, "missing_brace.mn")]]) {
      const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "1" } });
      expect(r.stdout + r.stderr).not.toContain(ESC);
    }
  });
});
