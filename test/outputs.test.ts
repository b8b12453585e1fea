/**
 * Where mnc writes: never over one of its inputs, through devices and links
 * rather than replacing them, byte for byte to standard output with -o -, and
 * quietly or plainly when standard output goes away.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, linkSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { RESIDUAL_SE, root } from "./helpers.js";

const work = mkdtempSync(join(tmpdir(), "mnc-outputs-"));
const bin = join(root, "dist", "mnc.js");

function mnc(...args: string[]): { status: number; stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  const status = main(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { status, stdout, stderr };
}

const source = join(work, "net.mn");
writeFileSync(source, RESIDUAL_SE);

describe("-o naming an input", () => {
  const weights = join(work, "w.safetensors");
  const labels = join(work, "labels.txt");
  expect(mnc("weights", "export", source, "-o", weights).status).toBe(0);
  writeFileSync(labels, Array.from({ length: 10 }, (_, i) => `c${i}`).join("\n") + "\n");
  const kept = (): string[] => [readFileSync(source, "utf8"), readFileSync(weights).toString("base64"), readFileSync(labels, "utf8")];
  const before = kept();

  const refused: Record<string, { args: string[]; what: RegExp }> = {
    "compile over its spec": { args: ["compile", source, "-o", source], what: /would overwrite the spec '.*net\.mn'/ },
    "report over its spec": { args: ["report", source, "-o", source], what: /the spec/ },
    "sweep over its spec": { args: ["sweep", source, "-o", source], what: /the spec/ },
    "compile over its weights": { args: ["compile", source, "--weights", weights, "-o", weights], what: /the weights '.*w\.safetensors'/ },
    "weights export over its weights": { args: ["weights", "export", source, "--weights", weights, "-o", weights], what: /the weights/ },
    "a module over its labels": { args: ["compile", source, "--emit", "ts", "--embed-weights", "--labels", labels, "-o", labels], what: /the labels/ },
    // The module's weights file is derived from -o: m.ts → m.weights.bin.
    "a module's weights over the labels": { args: ["compile", source, "--emit", "ts", "--labels", join(work, "m.weights.bin"), "-o", join(work, "m.ts")], what: /the labels '.*m\.weights\.bin' \(as '.*m\.weights\.bin'\)/ },
    "the spec through a symbolic link": { args: ["compile", source, "-o", join(work, "link.mn")], what: /the spec/ },
    "the spec through a hard link": { args: ["report", source, "-o", join(work, "hard.mn")], what: /the spec/ },
    "the spec by another spelling": { args: ["compile", join(work, ".", "net.mn"), "-o", join(work, "..", work.split("/").at(-1)!, "net.mn")], what: /the spec/ },
  };
  symlinkSync(source, join(work, "link.mn"));
  linkSync(source, join(work, "hard.mn"));
  writeFileSync(join(work, "m.weights.bin"), "c0\n");

  for (const [name, { args, what }] of Object.entries(refused)) {
    it(`refuses ${name} with exit 2, before any work`, () => {
      const r = mnc(...args);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^mnc: -o '.*' would overwrite /);
      expect(r.stderr).toMatch(what);
      expect(r.stderr).toMatch(/; give another output path\n$/);
      expect(kept()).toEqual(before);
      expect(readFileSync(join(work, "m.weights.bin"), "utf8")).toBe("c0\n");
      expect(lstatSync(join(work, "link.mn")).isSymbolicLink()).toBe(true);
    });
  }

  it("still writes to a file of the same name elsewhere", () => {
    expect(mnc("report", source, "-o", join(work, "other.mn")).status).toBe(0);
  });
});

describe("devices and links", () => {
  it("writes through /dev/null and a symbolic link to it, which stays a link", () => {
    const link = join(work, "null-link");
    symlinkSync("/dev/null", link);
    for (const args of [["compile", source], ["compile", source, "--emit", "ts", "--embed-weights"], ["report", source], ["sweep", source], ["weights", "export", source]]) {
      for (const out of ["/dev/null", link]) expect(mnc(...args, "-o", out).status, `${args.join(" ")} -o ${out}`).toBe(0);
    }
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe("/dev/null");
    expect(lstatSync("/dev/null").isCharacterDevice()).toBe(true);
    expect(readdirSync(work).filter((n) => n.includes(".mnc-"))).toEqual([]);
  });

  it("replaces the target of a symbolic link to a file, keeping the link", () => {
    const target = join(work, "target.txt");
    const link = join(work, "report-link.txt");
    writeFileSync(target, "old");
    symlinkSync(target, link);
    expect(mnc("report", source, "-o", link).status).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toMatch(/mult-adds/);
    expect(readdirSync(work).filter((n) => n.includes(".mnc-"))).toEqual([]);
  });
});

describe("-o - writes to standard output", () => {
  it("exactly the ONNX bytes of a normal compile, the status line on standard error", () => {
    const file = join(work, "plain.onnx");
    expect(spawnSync(process.execPath, [bin, "compile", "net.mn", "-o", file], { cwd: work }).status).toBe(0);
    const r = spawnSync(process.execPath, [bin, "compile", "net.mn", "-o", "-"], { cwd: work });
    expect(r.status).toBe(0);
    expect(Buffer.compare(r.stdout, readFileSync(file))).toBe(0);
    expect(r.stderr.toString()).toMatch(/^-: T α=1 32x32x3 → .* mult-adds, .* params, batch-norm fused/);
    const quiet = spawnSync(process.execPath, [bin, "compile", "net.mn", "-o", "-", "--quiet"], { cwd: work });
    expect(Buffer.compare(quiet.stdout, readFileSync(file))).toBe(0);
    expect(quiet.stderr.toString()).toBe("");
  }, 30_000);

  it("the safetensors bytes of weights export, and a module with embedded weights", () => {
    const file = join(work, "plain.safetensors");
    expect(spawnSync(process.execPath, [bin, "weights", "export", "net.mn", "-o", file], { cwd: work }).status).toBe(0);
    const r = spawnSync(process.execPath, [bin, "weights", "export", "net.mn", "-o", "-"], { cwd: work });
    expect(r.status).toBe(0);
    expect(Buffer.compare(r.stdout, readFileSync(file))).toBe(0);
    const ts = spawnSync(process.execPath, [bin, "compile", "net.mn", "--emit", "ts", "--embed-weights", "-o", "-"], { cwd: work, encoding: "utf8" });
    expect(ts.status).toBe(0);
    expect(ts.stdout).toMatch(/export function createModel/);
    expect(ts.stderr).toMatch(/^-: T /);
  }, 30_000);

  it("-o /dev/stdout is -o -, also when standard output is a file; a file behind /dev/stderr is appended to, not replaced", () => {
    const expected = spawnSync(process.execPath, [bin, "compile", "net.mn", "-o", "-"], { cwd: work }).stdout;
    const file = join(work, "redirected.onnx");
    const fd = openSync(file, "w");
    try {
      const r = spawnSync(process.execPath, [bin, "compile", "net.mn", "-o", "/dev/stdout"], { cwd: work, stdio: ["ignore", fd, "pipe"], encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/^-: T /);
    } finally {
      closeSync(fd);
    }
    expect(Buffer.compare(readFileSync(file), expected)).toBe(0);
    const log = join(work, "log.txt");
    writeFileSync(log, "earlier\n");
    const append = openSync(log, "a");
    try {
      expect(spawnSync(process.execPath, [bin, "report", "net.mn", "-o", "/dev/stderr"], { cwd: work, stdio: ["ignore", "pipe", append] }).status).toBe(0);
    } finally {
      closeSync(append);
    }
    expect(readFileSync(log, "utf8")).toMatch(/^earlier\nT — α 1, input 32x32x3/);
    expect(lstatSync(log).isFile()).toBe(true);
  }, 30_000);

  it("is refused for outputs of several files, and with --dump-ir", () => {
    const cases: [string[], RegExp][] = [
      [["--emit", "js"], /^mnc: -o -: --emit js writes several files \(the module and its declarations\); give -o a file name\n$/],
      [["--emit", "ts"], /^mnc: -o -: --emit ts writes several files \(the module and its weights\); give -o a file name or add --embed-weights\n$/],
      [["--dump-ir"], /^mnc: -o - and --dump-ir both write to standard output/],
    ];
    for (const [extra, message] of cases) {
      const r = mnc("compile", source, ...extra, "-o", "-");
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
    }
  });
});

describe("standard output going away", () => {
  it("a reader that closes early (… | head -1) ends mnc quietly with exit 0", async () => {
    const child = spawn(process.execPath, [bin, "sweep", join(root, "examples", "mobilenet_v1.mn"), "--format", "html"], { stdio: ["ignore", "pipe", "pipe"] });
    // Close the reading end at once: every write of the child meets EPIPE.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  }, 30_000);

  it.runIf(existsSync("/dev/full"))("a full disk (> /dev/full) is said in one line, exit 1", () => {
    const fd = openSync("/dev/full", "w");
    try {
      const r = spawnSync(process.execPath, [bin, "report", "net.mn"], { cwd: work, stdio: ["ignore", fd, "pipe"], encoding: "utf8" });
      expect(r.stderr).toBe("mnc: error: cannot write standard output: no space left on device\n");
      expect(r.status).toBe(1);
    } finally {
      closeSync(fd);
    }
  }, 30_000);
});
