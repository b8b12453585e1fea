/**
 * Properties over generated inputs (fast-check, seeded): random valid specs
 * (test/generators.ts: every layer statement, bottlenecks, SE, residuals,
 * every activation) compile and verify; α = ρ = 1 changes nothing; mult-adds grow with α and ρ;
 * random token soups and mutated examples never throw and every diagnostic
 * points inside the file.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyze, check, compile } from "../src/index.js";
import { buildGraph } from "../src/ir/build.js";
import { parse } from "../src/parser/parse.js";
import { pipeline } from "../src/passes/pipeline.js";
import { roundChannels } from "../src/passes/scale-width.js";
import { verify } from "../src/ir/verify.js";
import type { Diagnostic } from "../src/ir/diagnostics.js";
import { exampleFiles, readExample } from "./helpers.js";
import { runs as scaled, timeLimit } from "./fuzz-scale.js";
import { validSpec as validSpec_ } from "./generators.js";

const runs = { seed: 20261125, numRuns: scaled(150) };

const validSpec = validSpec_();

function wellPlaced(d: Diagnostic, source: string): boolean {
  if (d.span === undefined) return true;
  const lines = source.split("\n");
  return d.span.start >= 0 && d.span.end <= source.length && d.span.line >= 1 && d.span.line <= lines.length && d.span.column >= 1 && d.span.column <= lines[d.span.line - 1]!.length + 1;
}

// ── properties ─────────────────────────────────────────────────────────────
describe("random valid specs", () => {
  it("compile with seeded weights and certified batch-norm fusion, and the verifier holds after every pass", async () => {
    await fc.assert(
      // Async so that long fuzz runs let the test runner's event loop breathe between cases.
      fc.asyncProperty(validSpec, fc.constantFrom(1, 0.75, 0.5, 0.25), fc.constantFrom(undefined, 0.5, 0.8, 1.3), async (source, alpha, rho) => {
        await new Promise((resolve) => setImmediate(resolve));
        const r = compile(source, { alpha, ...(rho === undefined ? {} : { rho }) });
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]); // odd sizes may warn (MN6003)
        const built = buildGraph(parse(source).ast!, { alpha });
        let g = built.graph!;
        verify(g, { shaped: false });
        const diagnostics: Diagnostic[] = [];
        for (const pass of pipeline) {
          g = pass.run(g, { options: rho === undefined ? {} : { rho }, diagnostics });
          verify(g, { shaped: pass.name === "infer-shapes" }, pass.name);
        }
        expect(diagnostics).toEqual([]);
      }),
      { ...runs, numRuns: scaled(60) },
    );
  }, timeLimit(120_000));

  it("α = 1 and ρ = 1 change nothing (α relative to the network's own width)", () => {
    fc.assert(
      fc.property(validSpec, (source) => {
        const plain = check(source).graph!;
        const unit = check(source, { alpha: plain.alpha, rho: 1 }).graph!;
        expect(JSON.stringify(unit.nodes)).toBe(JSON.stringify(plain.nodes));
        if (!source.includes("width")) {
          expect(JSON.stringify(check(source, { alpha: 1, resolution: plain.nodes[0]!.shape![0] === plain.nodes[0]!.shape![1] ? plain.nodes[0]!.shape![0] : undefined }).graph!.nodes)).toBe(JSON.stringify(plain.nodes));
        }
      }),
      runs,
    );
  });

  it("mult-adds and params never shrink as α or ρ grows", () => {
    fc.assert(
      fc.property(validSpec, fc.double({ min: 0.3, max: 1, noNaN: true }), fc.double({ min: 0.3, max: 1, noNaN: true }), (source, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const small = analyze(source, { alpha: lo, rho: lo });
        const big = analyze(source, { alpha: hi, rho: hi });
        if (small.costs === undefined) return; // a tiny ρ may legitimately shrink an input away
        expect(big.costs!.totals.multAdds).toBeGreaterThanOrEqual(small.costs.totals.multAdds);
        expect(big.costs!.totals.params).toBeGreaterThanOrEqual(small.costs.totals.params);
      }),
      runs,
    );
  });

  it("are deterministic: the same input gives the same IR", () => {
    fc.assert(
      fc.property(validSpec, (source) => {
        expect(JSON.stringify(check(source).graph)).toBe(JSON.stringify(check(source).graph));
      }),
      { ...runs, numRuns: scaled(30) },
    );
  });
});

describe("hostile input", () => {
  const tokens = ["network", "block", "N", "x", "conv", "pw", "repeat", "width", "input", "bottleneck", "se", "residual", "expand", "rounding", "div8", "hswish", "{", "}", "(", ")", "=", ",", ";", "\n", "3x3", "224x224x3", "8", "0", "-1", "0.5", "1e9", "+", "-", "*", "/", "#c\n", "stride", "act", "relu6", "global", "@", " "];
  const soup = fc.array(fc.constantFrom(...tokens), { maxLength: 60 }).map((ts) => ts.join(" "));

  function neverThrows(source: string): void {
    const r = analyze(source, { file: "fuzz.mn" });
    for (const d of r.diagnostics) {
      expect(d.code).toMatch(/^MN\d{4}$/);
      expect(wellPlaced(d, source)).toBe(true);
    }
    if (r.graph === undefined) expect(r.diagnostics.some((d) => d.severity === "error")).toBe(true);
  }

  it("token soups give diagnostics, never an exception", () => {
    fc.assert(fc.property(soup, neverThrows), { ...runs, numRuns: scaled(400) });
  });

  it("mutated examples (deleted, duplicated, swapped lines; truncation; random bytes) never throw", () => {
    const sources = exampleFiles().map(readExample);
    const mutation = fc.tuple(fc.constantFrom(...sources), fc.nat(), fc.nat(), fc.constantFrom("delete", "duplicate", "swap", "truncate", "bytes"), fc.string({ maxLength: 8 })).map(([src, i, j, kind, junk]) => {
      const lines = src.split("\n");
      const a = i % lines.length;
      const b = j % lines.length;
      switch (kind) {
        case "delete":
          lines.splice(a, 1);
          return lines.join("\n");
        case "duplicate":
          lines.splice(a, 0, lines[a]!);
          return lines.join("\n");
        case "swap":
          [lines[a], lines[b]] = [lines[b]!, lines[a]!];
          return lines.join("\n");
        case "truncate":
          return src.slice(0, i % src.length);
        default:
          return src.slice(0, i % src.length) + junk + src.slice(i % src.length);
      }
    });
    fc.assert(fc.property(mutation, neverThrows), { ...runs, numRuns: scaled(400) });
  });
});

/**
 * Width rounding (src/passes/scale-width.ts), against its definitions:
 *   floor  ⌊v⌋;
 *   min8   TF-Slim's max(int(v), 8);
 *   div8   MobileNetV2's _make_divisible(v, 8):
 *            new_v = max(8, int(v + 8 / 2) // 8 * 8)
 *            if new_v < 0.9 * v: new_v += 8
 * and the invariants these imply for every v > 0:
 *   floor: an integer, floor ≤ v < floor + 1;
 *   min8: an integer ≥ 8, equal to floor when v ≥ 8 and to 8 below;
 *   div8: a multiple of 8, ≥ 8, ≥ 0.9·v, idempotent, non-decreasing in v; and for v ≥ 8
 *         either the nearest multiple of 8 (ties up: v − 4 < div8 ≤ v + 4), or,
 *         only when that one is below 0.9·v, which needs v < 40, the next one up
 *         (v + 4 < div8 < 0.9·v + 8).
 */
describe("width rounding", () => {
  // Written from the Python above, independently of the implementation: int() truncates, // floors.
  const makeDivisible = (v: number): number => {
    const truncated = Math.trunc(v + 4);
    let next = Math.max(8, truncated - (truncated % 8));
    if (next < 0.9 * v) next += 8;
    return next;
  };
  // Real widths (filters × a usual α) and arbitrary positive doubles.
  const width = fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 2048 }), fc.constantFrom(0.25, 0.35, 0.5, 0.75, 1, 1.3, 1.4, 0.1, 2)).map(([f, a]) => f * a),
    fc.double({ min: 1e-3, max: 5000, noNaN: true }),
    fc.integer({ min: 1, max: 64 }).map((k) => k * 4), // exact ties when k is odd (v + 4 a multiple of 8)
  );

  it("floor, min8 and div8 keep their invariants and agree with the definitions", () => {
    fc.assert(
      fc.property(width, fc.double({ min: 0, max: 50, noNaN: true }), (v, dv) => {
        const floor = roundChannels(v, "floor");
        expect(Number.isInteger(floor)).toBe(true);
        expect(floor).toBeLessThanOrEqual(v);
        expect(floor + 1).toBeGreaterThan(v);

        const min8 = roundChannels(v, "min8");
        expect(min8).toBe(v >= 8 ? floor : 8);

        const div8 = roundChannels(v, "div8");
        expect(div8).toBe(makeDivisible(v));
        expect(div8 % 8).toBe(0);
        expect(div8).toBeGreaterThanOrEqual(8);
        expect(div8).toBeGreaterThanOrEqual(0.9 * v);
        expect(roundChannels(div8, "div8")).toBe(div8);
        expect(roundChannels(v + dv, "div8")).toBeGreaterThanOrEqual(div8);
        if (v >= 8) {
          const nearest = div8 > v - 4 && div8 <= v + 4;
          const bumped = v < 40 && div8 > v + 4 && div8 < 0.9 * v + 8;
          expect(nearest || bumped).toBe(true);
        }
      }),
      { seed: 20261126, numRuns: 2000 },
    );
  });

  it("gives MobileNetV2's widths at α = 0.35 and 1.4", () => {
    // 32·0.35 = 11.2: 8 is below 0.9·11.2, so 16 (the published 0.35 model's first layer).
    expect([32, 16, 24, 64, 320, 1280].map((c) => roundChannels(c * 0.35, "div8"))).toEqual([16, 8, 8, 24, 112, 448]);
    expect([32, 16, 24, 96, 160, 320].map((c) => roundChannels(c * 1.4, "div8"))).toEqual([48, 24, 32, 136, 224, 448]);
    // A tie goes up; below 8 it is 8 (0 included: max(min_value, 0)).
    expect([12, 20, 3, 0.5, 0].map((v) => roundChannels(v, "div8"))).toEqual([16, 24, 8, 8, 8]);
    // Exactly 90 % of v is enough: no bump ("<", not "<=").
    for (const m of [8, 16, 24, 32]) {
      expect(0.9 * (m / 0.9)).toBe(m);
      expect(roundChannels(m / 0.9, "div8")).toBe(m);
    }
  });
});
