/**
 * Input that is large but not deep: long flat expressions, floods of errors,
 * costs beyond exact integers, deeply nested names. Each gets a result or a
 * located error in bounded time, never an internal error.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyze, check, compile } from "../src/index.js";
import { MAX_ID_LENGTH } from "../src/ir/build.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import { MAX_SYNTAX_ERRORS } from "../src/parser/grammar.js";
import { root } from "./helpers.js";

/** `pw 1 op 1 op 1 …` with `count` operands. */
const flat = (count: number, op: string, operand = "1"): string =>
  `network N {\n  input 8x8x3\n  pw ${Array.from({ length: count }, () => operand).join(op)}\n}\n`;

describe("flat expression chains", () => {
  it("a 40 KB chain of additions evaluates", () => {
    const text = flat(20_000, "+");
    expect(text.length).toBeGreaterThan(40_000);
    const r = analyze(text);
    expect(r.diagnostics).toEqual([]);
    expect(r.graph!.nodes.at(-1)!.shape).toEqual([8, 8, 20_000]);
  });

  it("a 400 KB chain of additions evaluates in bounded time", () => {
    const text = flat(200_000, "+");
    expect(text.length).toBeGreaterThan(400_000);
    const t0 = performance.now();
    const r = analyze(text);
    expect(r.diagnostics).toEqual([]);
    expect(r.graph!.nodes.at(-1)!.shape).toEqual([8, 8, 200_000]);
    expect(performance.now() - t0).toBeLessThan(15_000);
  }, 30_000);

  it("long chains of every operator keep their left associativity", () => {
    // 64 - 1 - 1 - … (60 times) = 4; 2 * 1 * 1 … = 2; 4096 / 2 / 2 … (10 times) = 4
    const minus = `network N {\n  input 8x8x3\n  pw 64${" - 1".repeat(60)}\n}\n`;
    expect(analyze(minus).graph!.nodes.at(-1)!.shape).toEqual([8, 8, 4]);
    const times = `network N {\n  input 8x8x3\n  pw 2${" * 1".repeat(30_000)}\n}\n`;
    expect(analyze(times).graph!.nodes.at(-1)!.shape).toEqual([8, 8, 2]);
    const divide = `network N {\n  input 8x8x3\n  pw 4096${" / 2".repeat(10)}\n}\n`;
    expect(analyze(divide).graph!.nodes.at(-1)!.shape).toEqual([8, 8, 4]);
  }, 30_000);

  it("errors inside a long chain are located, each one reported", () => {
    const text = `network N {\n  input 8x8x3\n  pw 1${" + 1".repeat(30_000)} + nope + 1/0\n}\n`;
    const r = check(text);
    expect(r.diagnostics.map((d) => d.code).sort()).toEqual(["MN2002", "MN2015"]);
  }, 30_000);
});

describe("costs beyond exact integers", () => {
  it("one layer's cost is a located error in check, not only in report", () => {
    const text = "network N {\n  input 1048576x1048576x3\n  pw 1048576\n}\n";
    for (const r of [check(text), analyze(text)]) {
      expect(r.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([["MN3017", 3]]);
      expect(r.graph).toBeUndefined();
    }
  });

  it("a running total that leaves the range points at the layer where it does", () => {
    const text = "network N {\n  input 1048576x1048576x1\n  pw 2048\n  pw 1\n  pw 2048\n  pw 1\n}\n";
    const r = check(text);
    expect(r.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([["MN3017", 6]]);
    expect(r.diagnostics[0]!.message).toContain("up to and including 'pw_3'");
    // One layer fewer stays within range.
    expect(check(text.replace("  pw 1\n}", "}")).diagnostics).toEqual([]);
  });
});

describe("batch-norm statistics from a weight file", () => {
  const net = "network N {\n  input 4x4x3\n  pw 2\n}\n";
  const tensor = (name: string, shape: number[], values: number[]) => ({ name, shape, data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => values[i % values.length]!) });
  const file = (variance: number[], gamma: number[] = [1], metadata?: Record<string, string>) =>
    writeSafetensors(
      [
        tensor("pw_0.weight", [2, 3, 1, 1], [0.5]),
        tensor("pw_0.bn.gamma", [2], gamma),
        tensor("pw_0.bn.beta", [2], [0]),
        tensor("pw_0.bn.mean", [2], [0]),
        tensor("pw_0.bn.variance", [2], variance),
      ],
      metadata,
    );
  const codes = (weights: Uint8Array, fuse: boolean) => compile(net, { weights, weightsFile: "w.safetensors", fuseBatchNorm: fuse }).diagnostics.map((d) => d.code);

  it("a sound file compiles, fused or not", () => {
    for (const fuse of [true, false]) expect(codes(file([1]), fuse)).toEqual([]);
  });

  it("an ε that is infinite, NaN, zero or negative is refused, with batch-norm kept as well as fused", () => {
    for (const eps of ["Infinity", "1e999", "NaN", "0", "-0.001", "nope"]) {
      for (const fuse of [true, false]) expect(codes(file([1], [1], { bn_epsilon: eps }), fuse), eps).toEqual(["MN4001"]);
    }
  });

  it("a negative variance is MN4012 at the layer, naming the element", () => {
    for (const fuse of [true, false]) {
      const r = compile(net, { weights: file([1, -0.25]), weightsFile: "w.safetensors", fuseBatchNorm: fuse });
      expect(r.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([["MN4012", 3]]);
      expect(r.diagnostics[0]!.message).toContain("element 1");
    }
  });

  it("non-finite γ is MN4008", () => {
    expect(codes(file([1], [Number.NaN]), false)).toEqual(["MN4008"]);
  });
});

describe("generated layer names", () => {
  /** Blocks nested `depth` deep, each with a layer before and after the next, a residual at the bottom. */
  const nested = (depth: number, name = (i: number) => `b${i}`): string => {
    const blocks = Array.from({ length: depth }, (_, i) =>
      i === depth - 1 ? `block ${name(i)} {\n  pw 4\n  residual { dw 3x3; pw 4 }\n  bottleneck 4 expand=2 se=0.25\n}\n` : `block ${name(i)} {\n  pw 4\n  ${name(i + 1)}\n  pw 4\n}\n`,
    );
    return `${blocks.join("")}network N {\n  input 8x8x3\n  ${name(0)}\n  ${name(0)}\n}\n`;
  };

  it("stay unique and bounded in length at block nesting depth 64", () => {
    const counts: number[] = [];
    for (const name of [(i: number) => `b${i}`, (i: number) => `block_with_a_rather_long_descriptive_name_${i}`]) {
      const r = check(nested(64, name));
      expect(r.diagnostics).toEqual([]);
      const ids = r.graph!.nodes.map((n) => n.id);
      counts.push(ids.length);
      expect(new Set(ids).size).toBe(ids.length);
      // The bound, plus a built-in's own suffix at most.
      expect(Math.max(...ids.map((id) => id.length))).toBeLessThanOrEqual(MAX_ID_LENGTH + ".se.squeeze".length);
      // Deep names are shortened; the same source gives the same names.
      expect(ids.some((id) => /_h[0-9a-f]{16}/.test(id))).toBe(true);
      expect(check(nested(64, name)).graph!.nodes.map((n) => n.id)).toEqual(ids);
    }
    expect(counts[0]).toBeGreaterThan(2 * 63 * 2);
    expect(counts[1]).toBe(counts[0]);
  });

  it("short names are left as they are", () => {
    const ids = check(nested(3)).graph!.nodes.map((n) => n.id);
    expect(ids).toContain("b0_1.b1_1.b2_1.res_1.dw_0");
  });
});

describe("floods of errors", () => {
  const lines = (count: number, line: string) => `network N {\n  input 8x8x3\n${`  ${line}\n`.repeat(count)}}\n`;

  it("100,000 bad lines are all reported, each at its line, in linear time", () => {
    for (const [line, code] of [["pw nope", "MN2002"], ["pw 4 @", "MN1001"]] as const) {
      const t0 = performance.now();
      const r = check(lines(100_000, line));
      expect(performance.now() - t0).toBeLessThan(20_000);
      expect(r.diagnostics.length).toBe(100_000);
      expect(r.diagnostics.every((d) => d.code === code)).toBe(true);
      expect(r.diagnostics.at(-1)!.span!.line).toBe(100_002);
    }
  }, 60_000);

  it("syntax errors the parser must recover from are capped, and the cap is said", () => {
    for (const line of ["pw )", "}"]) {
      const t0 = performance.now();
      const r = check(lines(100_000, line));
      expect(performance.now() - t0).toBeLessThan(20_000);
      expect(r.diagnostics.length).toBeGreaterThanOrEqual(MAX_SYNTAX_ERRORS);
      expect(r.diagnostics.length).toBeLessThan(MAX_SYNTAX_ERRORS + 10);
      expect(r.diagnostics.at(-1)!.message).toMatch(/^more than 100 syntax errors/);
    }
    // Below the cap, no note.
    expect(check(lines(10, "pw )")).diagnostics.map((d) => d.message).join("\n")).not.toContain("more than");
  }, 60_000);

  it("the command line prints the first 50 and counts the rest", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnc-limits-"));
    writeFileSync(join(dir, "flood.mn"), lines(1000, "pw nope"));
    const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "check", "flood.mn"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.match(/error MN2002/g)).toHaveLength(50);
    expect(r.stderr).toContain("flood.mn:52:6: error MN2002");
    expect(r.stderr).not.toContain("flood.mn:53:6");
    expect(r.stderr).toContain("… and 950 more errors\n1000 errors\n");
  }, 60_000);
});

describe("weight files and large networks", () => {
  it("per-layer weight mismatches are all returned, and the command line prints 50 of them", () => {
    const layers = 3000;
    const net = `network N {\n  input 4x4x4\n  repeat ${layers} { pw 4 norm=none }\n}\n`;
    // Every kernel is the wrong shape.
    const tensors = Array.from({ length: layers }, (_, i) => [
      { name: `pw_${i}.weight`, shape: [4, 5, 1, 1], data: new Float32Array(20) },
      { name: `pw_${i}.bias`, shape: [4], data: new Float32Array(4) },
    ]).flat();
    const weights = writeSafetensors(tensors);
    const t0 = performance.now();
    const r = compile(net, { weights, weightsFile: "w.safetensors" });
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(r.diagnostics.filter((d) => d.code === "MN4002")).toHaveLength(layers);
    const dir = mkdtempSync(join(tmpdir(), "mnc-limits-"));
    writeFileSync(join(dir, "n.mn"), net);
    writeFileSync(join(dir, "w.safetensors"), weights);
    const cli = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), "compile", "n.mn", "--weights", "w.safetensors"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    expect(cli.status).toBe(1);
    expect((cli.stderr.match(/: error MN4\d{3}/g) ?? []).length).toBe(50);
    expect(cli.stderr).toMatch(/… and [\d,]+ more errors\n/);
  }, 60_000);

  it("one 256 MiB activation compiles without touching it (the certificate runs per layer on one window)", () => {
    const t0 = performance.now();
    const r = compile("network N {\n  input 4096x4096x4\n  pw 4\n}\n");
    expect(r.diagnostics).toEqual([]);
    expect(r.certificate!.maxRelativeError).toBeLessThan(1e-4);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});
