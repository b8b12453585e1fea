/**
 * Output paths: a write that cannot happen is said in plain words about the
 * user's path (never an errno code or a temporary file's name), and no output
 * records an absolute path of the machine that produced it.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { describeWriteFailure, recordedPath, WriteError, writeFileAtomic, writeFilesAtomic } from "../src/cli/write.js";
import { RESIDUAL_SE, root } from "./helpers.js";

const work = mkdtempSync(join(tmpdir(), "mnc-paths-"));

function mnc(...args: string[]): { status: number; stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  const status = main(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { status, stdout, stderr };
}

/** Neither an errno code nor the writer's temporary file name. */
function plain(message: string): void {
  expect(message).not.toMatch(/\bE[A-Z]{3,}\b/);
  expect(message).not.toMatch(/\.mnc-\d+\.tmp/);
}

const source = join(work, "net.mn");
writeFileSync(source, RESIDUAL_SE);

describe("a destination that cannot be written", () => {
  it("names the missing directory", () => {
    const r = mnc("compile", source, "-o", join(work, "out", "x.onnx"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mnc: error: cannot write '${join(work, "out", "x.onnx")}': the directory '${join(work, "out")}' does not exist\n`);
    expect(existsSync(join(work, "out"))).toBe(false);
  });

  it("says a directory that exists but takes no files (/proc) is not missing", () => {
    for (const emit of ["onnx", "ts"]) {
      const r = mnc("compile", source, "--emit", emit, "-o", `/proc/x.${emit}`);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`mnc: error: cannot write '/proc/x.${emit}': the directory '/proc' exists but does not accept new files\n`);
    }
  });

  it("says which part of the path is a file, for --emit ts as for ONNX and reports", () => {
    const file = join(work, "a-file");
    writeFileSync(file, "kept");
    for (const args of [["compile", source, "-o", join(file, "x.onnx")], ["compile", source, "--emit", "ts", "-o", join(file, "sub", "x.ts")], ["report", source, "-o", join(file, "r.txt")]]) {
      const r = mnc(...args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^mnc: error: cannot write '.*': '.*a-file' is a file, not a directory\n$/);
      plain(r.stderr);
    }
    expect(readFileSync(file, "utf8")).toBe("kept");
  });

  it("refuses to replace a directory, naming the file of a module's pair that is one, and leaves no temporary file", () => {
    const dir = join(work, "pair");
    mkdirSync(join(dir, "m.weights.bin"), { recursive: true });
    const r = mnc("compile", source, "--emit", "ts", "-o", join(dir, "m.ts"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mnc: error: cannot write '${join(dir, "m.weights.bin")}': it is a directory\n`);
    expect(readdirSync(dir)).toEqual(["m.weights.bin"]);
    expect(mnc("compile", source, "-o", dir).stderr).toBe(`mnc: error: cannot write '${dir}': it is a directory\n`);
  });

  it("writes into a device in place rather than renaming over it", () => {
    expect(mnc("report", source, "-o", "/dev/null").status).toBe(0);
    expect(readdirSync("/dev").some((n) => n.includes(".mnc-"))).toBe(false);
    if (existsSync("/dev/full")) {
      const r = mnc("compile", source, "-o", "/dev/full");
      expect(r.stderr).toBe("mnc: error: cannot write '/dev/full': no space left on the device\n");
    }
  });

  it("turns every errno into words", () => {
    const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: some words, open '/x/.y.mnc-1.tmp'`), { code });
    const cases: Record<string, RegExp> = {
      EACCES: /^permission denied/,
      EPERM: /^permission denied/,
      EROFS: /^the directory '.*' is on a read-only file system$/,
      ENOSPC: /^no space left on the device$/,
      EDQUOT: /^the disk quota is exceeded$/,
      EISDIR: /^it is a directory$/,
      ENAMETOOLONG: /^the file name is too long$/,
      EWHATEVER: /^some words$/,
    };
    for (const [code, expected] of Object.entries(cases)) {
      const why = describeWriteFailure(join(work, "x.onnx"), errno(code));
      expect(why, code).toMatch(expected);
      plain(why);
    }
    expect(describeWriteFailure(join(work, "no", "x"), errno("ENOENT"))).toBe(`the directory '${join(work, "no")}' does not exist`);
  });

  it("is thrown as a WriteError by both writers, the destination untouched", () => {
    const keep = join(work, "keep.txt");
    writeFileSync(keep, "previous");
    expect(() => writeFilesAtomic([{ path: keep, content: "new" }, { path: join(work, "none", "w.bin"), content: "w" }])).toThrow(WriteError);
    expect(() => writeFileAtomic(join(work, "none", "x"), "x")).toThrow(/^the directory '.*none' does not exist$/);
    expect(readFileSync(keep, "utf8")).toBe("previous");
    expect(readdirSync(work).filter((n) => n.includes(".mnc-"))).toEqual([]);
  });
});

describe("no output records an absolute path", () => {
  it("records the source relative to the working directory, or by its name when outside it", () => {
    expect(recordedPath("examples/net.mn", "/home/u/mnc")).toBe("examples/net.mn");
    expect(recordedPath("./examples/../net.mn", "/home/u/mnc")).toBe("net.mn");
    expect(recordedPath("/home/u/mnc/examples/net.mn", "/home/u/mnc")).toBe("examples/net.mn");
    expect(recordedPath("/elsewhere/net.mn", "/home/u/mnc")).toBe("net.mn");
    expect(recordedPath("../other/net.mn", "/home/u/mnc")).toBe("net.mn");
  });

  it("an absolute input path appears in no ONNX model, TypeScript module, weights file, report or sweep", () => {
    const outputs: string[] = [];
    const out = (name: string): string => {
      const path = join(work, "abs", name);
      outputs.push(path);
      return path;
    };
    mkdirSync(join(work, "abs"), { recursive: true });
    const runs = [
      ["compile", source, "-o", out("m.onnx")],
      ["compile", source, "--emit", "ts", "-o", out("m.ts")],
      ["compile", source, "--emit", "ts", "--embed-weights", "-o", out("e.ts")],
      ...["text", "md", "json", "csv", "html"].map((f) => ["report", source, "--format", f, "-o", out(`r.${f}`)]),
      ...["text", "md", "json", "csv", "html", "svg"].map((f) => ["sweep", source, "--format", f, "-o", out(`s.${f}`)]),
    ];
    // A JavaScript target, where the command line offers one, is held to the same rule.
    if (mnc("compile", source, "--emit", "js", "-o", join(work, "probe.js")).status !== 2) runs.push(["compile", source, "--emit", "js", "-o", out("m.js")]);
    for (const args of runs) expect(mnc(...args).status, args.join(" ")).toBe(0);
    outputs.push(join(work, "abs", "m.weights.bin"));
    for (const path of outputs) {
      const bytes = readFileSync(path).toString("latin1");
      expect(bytes.includes(work), path).toBe(false);
      expect(bytes.includes(tmpdir() + "/"), path).toBe(false);
    }
    // The source is recorded by name: the ONNX metadata and the module's header.
    expect(readFileSync(join(work, "abs", "m.onnx")).toString("latin1")).toContain("net.mn");
    expect(readFileSync(join(work, "abs", "m.ts"), "utf8")).toMatch(/^ \* +source +net\.mn$/m);
  }, 60_000);

  it("a path inside the working directory is recorded relative to it", () => {
    const abs = join(root, "examples", "keyword_spotter.mn");
    const target = join(work, "kws.ts");
    expect(mnc("compile", abs, "--emit", "ts", "--embed-weights", "-o", target).status).toBe(0);
    const header = readFileSync(target, "utf8");
    expect(header).toMatch(/^ \* +source +examples\/keyword_spotter\.mn$/m);
    expect(header.includes(root)).toBe(false);
  }, 30_000);
});
