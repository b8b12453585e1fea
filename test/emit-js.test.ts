/**
 * The JavaScript target (`mnc compile --emit js`): an ES module that Node
 * imports as it is, with its `.d.ts`, from the same templates as the
 * TypeScript module. Node 20 runs the emitted `.js` in a child process on
 * both kernel sets, equal to the TypeScript module and within 1e-4 of the
 * reference; the JavaScript is the TypeScript with its types left out; the
 * `.d.ts` type-checks a consumer under `tsc --strict`; plain `tsc --strict`
 * accepts the `.ts`; the CLI writes exactly the module, its declarations and
 * its weights; and the commands of docs/typescript.md run as written.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { emitJavaScript, emitTypeScript, type TsEmitOptions } from "../src/emit/ts/index.js";
import { runReference } from "../src/ir/reference.js";
import { codeBlocks, inputs, RESIDUAL_SE, relativeError, root } from "./helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "mnc-emit-js-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

function compiled(source: string) {
  const r = compile(source, { file: "net.mn" });
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  if (r.graph === undefined || r.costs === undefined) throw new Error("no graph");
  return { graph: r.graph, result: { graph: r.graph, costs: r.costs, ...(r.certificate === undefined ? {} : { certificate: r.certificate }) } };
}

/** A fresh directory with an ES-module package.json (as a Node project that imports the files would have). */
function directory(files: Record<string, string | Uint8Array>): string {
  const dir = join(scratch, `d${dirs++}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** Run an ES module's text in a child Node process (cwd `dir`); its standard output. */
function node(dir: string, script: string): string {
  return execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: dir, encoding: "utf8" });
}

const net = compiled(RESIDUAL_SE);
const size = 32 * 32 * 3;
const batch = new Float32Array(3 * size);
for (let b = 0; b < 3; b++) batch.set(inputs(size, b + 7), b * size);

describe("--emit js: the module Node imports as it is", () => {
  it("is the TypeScript module with its types left out, for every variant (esbuild prints both the same)", async () => {
    const variants: Partial<TsEmitOptions>[] = [{}, { wasm: false }, { embedWeights: true }, { labels: Array.from({ length: 10 }, (_, i) => `class "${i}"`) }, { profile: true }];
    for (const v of variants) {
      const options = { sourceFile: "net.mn", ...v };
      const typescript = emitTypeScript(net.result, { ...options, moduleName: "net.ts" });
      const javascript = emitJavaScript(net.result, { ...options, moduleName: "net.js" });
      expect(javascript.weights).toEqual(typescript.weights);
      expect(javascript.kernels).toEqual(typescript.kernels);
      const fromTs = await transform(typescript.code, { loader: "ts", format: "esm" });
      const fromJs = await transform(javascript.code, { loader: "js", format: "esm" });
      expect(fromJs.code, JSON.stringify(v)).toBe(fromTs.code);
      // No TypeScript syntax is left for esbuild to strip: the JavaScript parses as JavaScript.
      expect(javascript.code).not.toMatch(/^\s*(interface|type|declare)\s|\]!|\bas const\b|: Float32Array\b/m);
    }
  });

  it("runs in Node 20 from the file, on both kernel sets: equal to the TypeScript module, within 1e-4 of the reference", { timeout: 60_000 }, async () => {
    const js = emitJavaScript(net.result, { sourceFile: "net.mn", moduleName: "net.js" });
    const dir = directory({ "net.js": js.code, "net.weights.bin": js.weights!, "input.bin": new Uint8Array(batch.buffer) });
    const out = node(
      dir,
      `import { readFileSync } from "node:fs";
       import { createModel, createModelAsync } from "./net.js";
       const weights = readFileSync("net.weights.bin");
       const b = readFileSync("input.bin");
       const input = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
       const results = {};
       for (const backend of ["wasm-simd", "typescript"]) {
         const model = createModel(weights, { backend });
         results[backend] = { backend: model.backend, out: Array.from(model.run(input, 3)) };
       }
       results.auto = (await createModelAsync(weights)).backend;
       console.log(JSON.stringify(results));`,
    );
    const results = JSON.parse(out) as Record<"wasm-simd" | "typescript", { backend: string; out: number[] }> & { auto: string };
    expect(results.auto).toBe("wasm-simd");
    // The TypeScript module, type-stripped and imported here.
    const typescript = emitTypeScript(net.result, { sourceFile: "net.mn", moduleName: "net.ts" });
    const file = join(scratch, "net-ts.mjs");
    writeFileSync(file, (await transform(typescript.code, { loader: "ts", format: "esm" })).code);
    const mod = (await import(pathToFileURL(file).href)) as { createModel(w: Uint8Array, o: { backend: string }): { run(x: Float32Array, b: number): Float32Array } };
    const reference = runReference(net.graph, batch, 3);
    for (const backend of ["wasm-simd", "typescript"] as const) {
      expect(results[backend].backend).toBe(backend);
      const fromJs = Float32Array.from(results[backend].out);
      expect(fromJs).toEqual(mod.createModel(typescript.weights!, { backend }).run(batch, 3));
      expect(relativeError(fromJs, reference), backend).toBeLessThan(1e-4);
    }
  });

  it("embeds the weights with --embed-weights and types its labels in the .d.ts", { timeout: 60_000 }, () => {
    const labels = Array.from({ length: 10 }, (_, i) => (i === 3 ? 'a "quoted" */ label' : `c${i}`));
    const js = emitJavaScript(net.result, { sourceFile: "net.mn", moduleName: "net.js", embedWeights: true, wasm: false, labels });
    expect(js.weights).toBeUndefined();
    const dir = directory({ "net.js": js.code, "net.d.ts": js.declarations, "input.bin": new Uint8Array(batch.buffer, 0, size * 4) });
    const out = node(
      dir,
      `import { readFileSync } from "node:fs";
       import { createModel, labels } from "./net.js";
       const b = readFileSync("input.bin");
       const model = createModel();
       console.log(JSON.stringify({ backend: model.backend, labels, top: model.classify(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), 2) }));`,
    );
    const r = JSON.parse(out) as { backend: string; labels: string[]; top: { index: number; label: string }[] };
    expect(r.backend).toBe("typescript");
    expect(r.labels).toEqual(labels);
    expect(r.top.map((p) => p.label)).toEqual(r.top.map((p) => labels[p.index]));
    expect(js.declarations).toContain(`export declare const labels: readonly [`);
    expect(js.declarations).toContain(`  "a \\"quoted\\" */ label",`);
    expect(js.declarations).toContain("export declare function createModel(weights?: Uint8Array | ArrayBuffer, options?: ModelOptions): Model;");
  });
});

// ── types ─────────────────────────────────────────────────────────────────

/** Type-check files under `tsc --strict` (ES2022, Node's ES module resolution, no Node or DOM types). */
function typeCheck(dir: string, files: readonly string[]): string[] {
  const program = ts.createProgram(
    files.map((f) => join(dir, f)),
    { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, lib: ["lib.es2022.d.ts"], types: [] },
  );
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName.slice(dir.length + 1) ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

describe("types", () => {
  it("the .d.ts type-checks a consumer under tsc --strict, and refuses a wrong one", { timeout: 60_000 }, () => {
    const js = emitJavaScript(net.result, { sourceFile: "net.mn", moduleName: "net.js", labels: Array.from({ length: 10 }, (_, i) => `c${i}`) });
    const consumer = `import { createModel, createModelAsync, inputShape, outputShape, labels, topK, type Label, type Model, type Prediction } from "./net.js";
declare const bytes: Uint8Array;
const model: Model = createModel(bytes, { backend: "typescript" });
const [, H, W, C] = inputShape;
const out: Float32Array = model.run(new Float32Array(H * W * C), 1);
const best: Prediction[] = topK(out, 3);
const label: Label | undefined = best[0]?.label;
const first: "c0" = labels[0];
export const all = [model.backend, outputShape[1], label, first, createModelAsync(new ArrayBuffer(8))] as const;
`;
    const dir = directory({ "package.json": '{ "type": "module" }', "net.js": js.code, "net.d.ts": js.declarations, "consumer.ts": consumer });
    expect(typeCheck(dir, ["consumer.ts"])).toEqual([]);
    writeFileSync(join(dir, "wrong.ts"), 'import { createModel, type Label } from "./net.js";\ncreateModel(new Uint8Array(0)).run([1, 2, 3]);\nexport const l: Label = "c10";\ncreateModel();\n');
    const errors = typeCheck(dir, ["wrong.ts"]);
    expect(errors.join("\n")).toMatch(/number\[\]' is not assignable to parameter of type 'Float32Array/);
    expect(errors.join("\n")).toMatch(/"c10"' is not assignable to type/);
    expect(errors.join("\n")).toMatch(/Expected 1-2 arguments, but got 0/);
  });

  it("plain tsc --strict accepts the emitted .ts: on the command line and with a default tsconfig.json", { timeout: 120_000 }, () => {
    const { code } = emitTypeScript(net.result, { sourceFile: "net.mn", moduleName: "net.ts" });
    const dir = directory({ "net.ts": code, "tsconfig.json": '{ "compilerOptions": { "strict": true, "noEmit": true } }\n' });
    const run = (args: string[], cwd = dir) => spawnSync(process.execPath, [tsc, ...args], { cwd, encoding: "utf8" });
    const cli = run(["--strict", "--noEmit", "net.ts"]);
    expect(cli.stdout + cli.stderr).toBe("");
    expect(cli.status).toBe(0);
    const project = run(["-p", "."]);
    expect(project.stdout + project.stderr).toBe("");
    expect(project.status).toBe(0);
    // tsc --init's tsconfig.json (nodenext, verbatimModuleSyntax, …) in an ES-module package.
    const init = directory({ "net.ts": code, "package.json": '{ "type": "module" }\n' });
    expect(run(["--init"], init).status).toBe(0);
    const initialised = run(["-p", ".", "--noEmit"], init);
    expect(initialised.stdout + initialised.stderr).toBe("");
    // Without the library reference, the command line fails as it did (ES5's library has no Promise).
    writeFileSync(join(dir, "net.ts"), code.replace('/// <reference lib="es2017" />\n', ""));
    expect(run(["--strict", "--noEmit", "net.ts"]).stdout).toMatch(/requires the 'Promise' constructor/);
  });
});

// ── the command line and the documentation ───────────────────────────────

const mnc = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

describe("mnc compile --emit js", () => {
  it("writes exactly the module, its declarations and its weights, with no temporary files left", { timeout: 60_000 }, () => {
    const dir = directory({ "net.mn": RESIDUAL_SE });
    const r = mnc(dir, "compile", "net.mn", "--emit", "js");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^net\.js: T α=1 32x32x3 → 1x1x10, .*; WebAssembly SIMD and TypeScript kernels\n$/);
    expect(readdirSync(dir).sort()).toEqual(["net.d.ts", "net.js", "net.mn", "net.weights.bin"]);
    // The same bytes as the library gives (the module names itself net.js).
    const c = compiled(RESIDUAL_SE);
    const js = emitJavaScript(c.result, { sourceFile: "net.mn", moduleName: "net.js" });
    expect(readFileSync(join(dir, "net.d.ts"), "utf8")).toBe(js.declarations);
    expect(new Uint8Array(readFileSync(join(dir, "net.weights.bin")))).toEqual(js.weights);
    expect(readFileSync(join(dir, "net.js"), "utf8").replace(/max relative error \S+/, "")).toBe(js.code.replace(/max relative error \S+/, ""));

    const out = join(dir, "out");
    mkdirSync(out);
    const embedded = mnc(dir, "compile", "net.mn", "--emit", "js", "--embed-weights", "--no-wasm", "-o", "out/m.mjs");
    expect(embedded.status).toBe(0);
    expect(embedded.stdout).toMatch(/TypeScript kernels only \(generated with --no-wasm\)/);
    expect(readdirSync(out).sort()).toEqual(["m.d.mts", "m.mjs"]);

    // A failed write leaves nothing, not even a temporary file.
    const blocked = mnc(dir, "compile", "net.mn", "--emit", "js", "-o", "missing/net.js");
    expect(blocked.status).toBe(1);
    expect(blocked.stderr).toMatch(/cannot write/);
    expect(readdirSync(dir).sort()).toEqual(["net.d.ts", "net.js", "net.mn", "net.weights.bin", "out"]);
    expect(mnc(dir, "compile", "net.mn", "--emit", "wasm").stderr).toMatch(/--emit must be one of onnx, ts, js, pytorch, not 'wasm'/);
  });

  describe("docs/typescript.md, as written", () => {
    const blocks = codeBlocks(readFileSync(join(root, "docs", "typescript.md"), "utf8"));
    const shell = blocks.find((b) => b.includes("--emit js") && b.includes("node app.mjs"))!;
    const app = blocks.find((b) => b.startsWith("// app.mjs"))!;
    const browser = blocks.find((b) => b.includes("fetch(") && !b.includes(": "))!;
    let dir = "";
    let server: Server | undefined;
    beforeAll(() => {
      dir = directory({ "net.mn": RESIDUAL_SE });
    });
    afterAll(() => server?.close());

    it("compiles with --emit js and runs app.mjs in Node", { timeout: 60_000 }, () => {
      expect(shell).toBeDefined();
      expect(app).toBeDefined();
      for (const line of shell.split("\n").filter((l) => l.trim() !== "")) {
        const [command] = line.split("#");
        const words = command!.trim().split(/\s+/);
        if (words[0] === "npx" && words[1] === "mnc") {
          const r = mnc(dir, ...words.slice(2));
          expect(r.status, r.stderr).toBe(0);
          expect(readdirSync(dir).sort()).toEqual(["net.d.ts", "net.js", "net.mn", "net.weights.bin"]);
        } else {
          expect(words).toEqual(["node", "app.mjs"]);
          writeFileSync(join(dir, "app.mjs"), app);
          const r = spawnSync(process.execPath, ["app.mjs"], { cwd: dir, encoding: "utf8" });
          expect(r.stderr).toBe("");
          expect(r.stdout).toMatch(/^wasm-simd \[\n  \{ index: \d, probability: [0-9.e-]+ \},\n/);
        }
      }
    });

    it("runs the browser snippet against the files served over HTTP (fetch relative to the page)", { timeout: 60_000 }, async () => {
      expect(browser).toBeDefined();
      server = createServer((req, res) => {
        try {
          res.end(readFileSync(join(dir, new URL(req.url ?? "/", "http://x").pathname.slice(1))));
        } catch {
          res.statusCode = 404;
          res.end();
        }
      });
      await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as { port: number }).port;
      // The page is http://127.0.0.1:PORT/: a relative fetch resolves against it, as in a browser.
      writeFileSync(join(dir, "page.mjs"), `const base = "http://127.0.0.1:${port}/";\nconst get = globalThis.fetch;\nglobalThis.fetch = (url, init) => get(new URL(url, base), init);\n${browser}`);
      const r = await nodeAsync(dir, "page.mjs");
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/^wasm-simd \[\n  \{ index: \d, probability: [0-9.e-]+ \},\n/);
    });
  });
});

/** Node on a script file, asynchronously (the test's HTTP server must keep answering meanwhile). */
function nodeAsync(cwd: string, script: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { cwd, encoding: "utf8" }, (error, stdout, stderr) => (error === null ? resolve({ stdout, stderr }) : reject(new Error(`${error.message}\n${stderr}`))));
  });
}
