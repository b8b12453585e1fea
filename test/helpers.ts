import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import type { CostAnalysis } from "../src/passes/analyze-costs.js";
import type { Graph } from "../src/ir/graph.js";
import type { Diagnostic } from "../src/ir/diagnostics.js";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const shared = join(root, "..", "shared");

export function readExample(name: string): string {
  return readFileSync(join(root, "examples", name), "utf8");
}

export function exampleFiles(): string[] {
  return readdirSync(join(root, "examples"))
    .filter((f) => f.endsWith(".mn"))
    .sort();
}

/** Compile and insist on success, showing the diagnostics otherwise. */
export function compileOk(source: string, options: CompileOptions = {}): { graph: Graph; costs: CostAnalysis } {
  const r = compile(source, options);
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined || r.costs === undefined) throw new Error("no graph");
  return { graph: r.graph, costs: r.costs };
}

/** Compile and return the diagnostics, insisting there are some. */
export function compileErrors(source: string, options: CompileOptions = {}): readonly Diagnostic[] {
  const r = compile(source, options);
  expect(r.graph).toBeUndefined();
  expect(r.diagnostics.length).toBeGreaterThan(0);
  return r.diagnostics;
}

/** ```fenced``` code blocks of a Markdown file. */
export function codeBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const re = /^```[^\n]*\n([\s\S]*?)^```/gm;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) blocks.push(m[1]!);
  return blocks;
}
