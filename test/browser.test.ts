/**
 * The emitted TypeScript module in a real browser: MobileNetV1 at α 0.25,
 * 96 px, type-stripped by esbuild and loaded by headless Chromium from a
 * local HTTP server. On the main thread, createModel (whatever backend the
 * browser lets it have), createModelAsync (WebAssembly SIMD) and the forced
 * TypeScript kernels; in a module worker, createModel (WebAssembly SIMD,
 * compiled synchronously). Every output of a batch of two is checked against
 * the float64 reference evaluator.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { transform } from "esbuild";
import { describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { emitTypeScript } from "../src/emit/ts/index.js";
import { runReference } from "../src/ir/reference.js";
import { inputs, readExample, relativeError } from "./helpers.js";
import { available } from "./optional.js";

const chromium = "/usr/bin/chromium";
const haveChromium = existsSync(chromium);

/** How long the page has to report before the test gives up. */
const PAGE_TIMEOUT_MS = 60_000;

type Backend = "wasm-simd" | "typescript";

/** One model's answer, as the page reports it. */
interface Run {
  readonly backend: Backend;
  readonly output: number[];
}

/** What the page POSTs to /result: four runs, or why it could not make them. */
interface PageResult {
  readonly error?: string;
  readonly mainSync: Run;
  readonly mainAsync: Run;
  readonly mainTypescript: Run;
  readonly worker: Run;
}

// ── the page ───────────────────────────────────────────────────────────────

/** The page's script: every failure is reported by POST, so the test fails with its message. */
const PAGE_SCRIPT = `
const report = (body) => fetch("/result", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const fail = (e) => report({ error: "page: " + (e && e.stack ? e.stack : String(e)) });
window.onerror = (message, source, line, column, error) => { fail(error ?? message + " at " + source + ":" + line + ":" + column); };
window.onunhandledrejection = (event) => { fail(event.reason); };

const bytes = async (url) => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(url + ": HTTP " + response.status);
  return response.arrayBuffer();
};
const run = (model, input, batch) => ({ backend: model.backend, output: Array.from(model.run(input, batch)) });

/** createModel in a module worker, which may compile WebAssembly synchronously. */
const inWorker = (weights, input, batch) =>
  new Promise((resolve, reject) => {
    const worker = new Worker("/worker.js", { type: "module" });
    worker.onmessage = (event) => {
      worker.terminate();
      if (event.data.error !== undefined) reject(new Error(event.data.error));
      else resolve(event.data);
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error("worker: " + (event.message || "failed to load or run")));
    };
    worker.postMessage({ weights, input, batch });
  });

try {
  const { createModel, createModelAsync } = await import("/model.js");
  const weights = new Uint8Array(await bytes("/weights.bin"));
  const input = new Float32Array(await bytes("/input.bin"));
  const batch = Number(new URLSearchParams(location.search).get("batch"));
  // The synchronous createModel first, before createModelAsync has compiled (and cached) the kernels.
  const mainSync = run(createModel(weights), input, batch);
  const mainAsync = run(await createModelAsync(weights), input, batch);
  const mainTypescript = run(createModel(weights, { backend: "typescript" }), input, batch);
  const worker = await inWorker(weights.slice().buffer, input.slice().buffer, batch);
  await report({ mainSync, mainAsync, mainTypescript, worker });
} catch (e) {
  await fail(e);
}
`;

const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>mnc in the browser</title></head>
<body>
<script type="module">${PAGE_SCRIPT}</script>
</body>
</html>
`;

const WORKER = `
import { createModel } from "/model.js";
self.onmessage = (event) => {
  try {
    const { weights, input, batch } = event.data;
    const model = createModel(weights);
    self.postMessage({ backend: model.backend, output: Array.from(model.run(new Float32Array(input), batch)) });
  } catch (e) {
    self.postMessage({ error: "worker: " + (e && e.stack ? e.stack : String(e)) });
  }
};
`;

// ── the server and the browser ─────────────────────────────────────────────

interface Asset {
  readonly type: string;
  readonly body: string | Uint8Array;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

/**
 * Serve `assets` on 127.0.0.1, open `page` in headless Chromium and return
 * what it POSTs to /result. The browser, its profile and the server are gone
 * when this returns or throws.
 */
async function runInChromium(assets: ReadonlyMap<string, Asset>, page: string): Promise<PageResult> {
  let settle!: { resolve: (r: PageResult) => void; reject: (e: Error) => void };
  const result = new Promise<PageResult>((resolve, reject) => (settle = { resolve, reject }));

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    if (request.method === "POST" && path === "/result") {
      readBody(request).then(
        (text) => {
          response.writeHead(204).end();
          try {
            settle.resolve(JSON.parse(text) as PageResult);
          } catch (e) {
            settle.reject(new Error(`unreadable result: ${String(e)}: ${text.slice(0, 200)}`));
          }
        },
        (e: unknown) => settle.reject(new Error(`reading the result: ${String(e)}`)),
      );
      return;
    }
    const asset = request.method === "GET" ? assets.get(path) : undefined;
    if (asset === undefined) {
      response.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
      return;
    }
    response.writeHead(200, { "Content-Type": asset.type, "Cache-Control": "no-store" }).end(asset.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;

  const profile = mkdtempSync(join(tmpdir(), "mnc-chromium-"));
  let browser: ChildProcess | undefined;
  let stderr = "";
  let timer: NodeJS.Timeout | undefined;
  try {
    browser = spawn(
      chromium,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        `http://127.0.0.1:${port}${page}`,
      ],
      // Its own process group, so that the renderer, GPU and utility processes go with it.
      { detached: true, stdio: ["ignore", "ignore", "pipe"] },
    );
    browser.stderr?.setEncoding("utf8");
    browser.stderr?.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    browser.once("error", (e) => settle.reject(new Error(`cannot start ${chromium}: ${e.message}`)));
    browser.once("exit", (code, signal) => settle.reject(new Error(`Chromium exited early (${code ?? signal}):\n${stderr}`)));
    timer = setTimeout(() => settle.reject(new Error(`no result from the page within ${PAGE_TIMEOUT_MS / 1000} s; Chromium said:\n${stderr}`)), PAGE_TIMEOUT_MS);
    return await result;
  } finally {
    clearTimeout(timer);
    if (browser !== undefined) await stop(browser);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * Stop a browser started detached: SIGTERM lets it shut its helper processes
 * down and reap them; whatever is left of its process group after that, or
 * after a few seconds, is killed.
 */
async function stop(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const signalGroup = (signal: NodeJS.Signals | 0): boolean => {
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      return false; // no process left in the group
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 5_000).unref());
    if ((await Promise.race([exited, timeout])) === "timeout") {
      signalGroup("SIGKILL");
      await exited;
    }
  }
  // Helpers outliving the main process (each exits on its own once the main process is gone).
  for (let i = 0; i < 50 && signalGroup(0); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  signalGroup("SIGKILL");
}

// ── the test ───────────────────────────────────────────────────────────────

// CI installs Chromium; elsewhere the test runs where /usr/bin/chromium exists.
describe.runIf(available(haveChromium || process.env["CI"] === "true", "the headless Chromium test", `no ${chromium} (apt-get install chromium)`))("the emitted module in headless Chromium", () => {
  it("runs MobileNetV1 α 0.25, 96 px on the main thread and in a worker, within 1e-4 of the reference", async () => {
    const compiled = compile(readExample("mobilenet_v1.mn"), { alpha: 0.25, resolution: 96 });
    expect(compiled.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
    const { graph, costs, certificate } = compiled;
    if (graph === undefined || costs === undefined) throw new Error("no graph");
    const emitted = emitTypeScript({ graph, costs, ...(certificate === undefined ? {} : { certificate }) }, { sourceFile: "mobilenet_v1.mn" });
    if (emitted.weights === undefined) throw new Error("no weights file");
    const js = await transform(emitted.code, { loader: "ts", format: "esm" });

    const [H, W, C] = graph.nodes[0]!.shape!;
    const size = H * W * C;
    const batch = 2;
    const input = new Float32Array(batch * size);
    for (let b = 0; b < batch; b++) input.set(inputs(size, b + 1), b * size);
    const reference = runReference(graph, input, batch);

    const assets = new Map<string, Asset>([
      ["/", { type: "text/html; charset=utf-8", body: PAGE }],
      ["/model.js", { type: "text/javascript", body: js.code }],
      ["/worker.js", { type: "text/javascript", body: WORKER }],
      ["/weights.bin", { type: "application/octet-stream", body: emitted.weights }],
      ["/input.bin", { type: "application/octet-stream", body: new Uint8Array(input.buffer) }],
    ]);
    const result = await runInChromium(assets, `/?batch=${batch}`);
    expect(result.error).toBeUndefined();

    // Chromium refuses to compile WebAssembly synchronously on its main thread
    // beyond a size limit, and createModel with backend "auto" then falls back
    // to the TypeScript kernels. Chromium 156 (headless) sets that limit at
    // 8 MB ("WebAssembly.Compile is disallowed on the main thread, if the
    // buffer size is larger than 8MB"); this network's kernels are about
    // 66 KB, so it compiled them and createModel got "wasm-simd", with no
    // fallback. Other versions may differ: either backend must compute the
    // same outputs.
    expect(["wasm-simd", "typescript"]).toContain(result.mainSync.backend);
    expect(result.mainAsync.backend).toBe("wasm-simd");
    expect(result.mainTypescript.backend).toBe("typescript");
    expect(result.worker.backend).toBe("wasm-simd");

    const runs = { mainSync: result.mainSync, mainAsync: result.mainAsync, mainTypescript: result.mainTypescript, worker: result.worker };
    for (const [name, run] of Object.entries(runs)) {
      expect(relativeError(run.output, reference), `${name} (${run.backend})`).toBeLessThan(1e-4);
    }
  }, 120_000);
});
