/**
 * The compiler core has no file system and no process, so that it runs in a
 * browser too: only src/cli may touch either.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { root } from "./helpers.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

describe("the compiler core", () => {
  const core = sources(join(root, "src")).filter((p) => !relative(root, p).startsWith(join("src", "cli")));

  it("covers the parser, IR, passes and emitters", () => {
    const dirs = new Set(core.map((p) => relative(join(root, "src"), p).split(/[\\/]/)[0]));
    for (const d of ["parser", "ir", "passes"]) expect(dirs).toContain(d);
  });

  it.each(core.map((p) => [relative(root, p), p]))("%s imports no Node built-in and uses no process", (_rel, path) => {
    const text = readFileSync(path, "utf8");
    expect(text).not.toMatch(/from\s+["'](node:)?(fs|path|os|child_process|process|url|util|crypto|stream|worker_threads)(\/[a-z]+)?["']/);
    expect(text).not.toMatch(/\bprocess\.\w/);
    expect(text).not.toMatch(/\brequire\(/);
  });
});

describe("the library entry point", () => {
  it("bundles for a browser, with no Node built-ins, and compiles a network there", async () => {
    const result = await build({ entryPoints: [join(root, "src", "index.ts")], bundle: true, platform: "browser", format: "esm", write: false, logLevel: "silent" });
    expect(result.errors).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/from\s*["']node:/);
    // Load the browser bundle as a module and use it.
    const url = `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`;
    const mnc = (await import(url)) as typeof import("../src/index.js");
    const source = "network N {\n  input 8x8x3\n  pw 4\n}\n";
    const r = mnc.compile(source);
    expect(r.costs?.totals.multAdds).toBe(8 * 8 * 3 * 4);
    // The whole way to an ONNX model, in the browser build.
    const bytes = mnc.emitOnnx({ graph: r.graph!, costs: r.costs!, certificate: r.certificate! }, { sourceFile: "n.mn" });
    expect(mnc.dumpOnnx(bytes)).toMatch(/node pw_0: Conv\(input, pw_0\.weight, pw_0\.bias\)/);
  });
});
