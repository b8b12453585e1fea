/**
 * The playground: `mnc serve` (node dist/mnc.js serve, as a user runs it)
 * and its page in headless Chromium (puppeteer-core driving Debian's
 * /usr/bin/chromium; one browser for the file). The server binds 127.0.0.1
 * only, refuses every path outside dist/web, and stops cleanly on SIGINT and
 * SIGTERM. The page loads with no console error and no request beyond the
 * server; an error typed into the editor is underlined with its MN code;
 * fixed, the report shows; the α slider moves the totals to what
 * `mnc report --alpha` prints; the graph has one node per layer and a click
 * on one selects its line; the downloaded ONNX file equals `mnc compile`'s
 * byte for byte and runs in ONNX Runtime. Screenshots at 1400 and 600 px go to
 * test-output/playground/ for review. Needs `npm run build` (npm test's pretest).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/index.js";
import { runReference } from "../src/ir/reference.js";
import { resolveRequest, serve } from "../src/cli/serve.js";
import { inputs, relativeError, root } from "./helpers.js";
import { available } from "./optional.js";

const chromium = "/usr/bin/chromium";
const haveChromium = available(existsSync(chromium) || process.env["CI"] === "true", "the playground in a browser", `${chromium} is not installed`);
const mnc = join(root, "dist", "mnc.js");
const web = join(root, "dist", "web");
const shots = join(root, "test-output", "playground");
const work = mkdtempSync(join(tmpdir(), "mnc-playground-"));

/** How long a step in the page may take on a loaded machine. */
const STEP_MS = 30_000;

/** A small network: the page analyses it in milliseconds and compiles it quickly. */
const TINY = `network Tiny(classes = 10) {
  input 32x32x3
  conv 3x3 16 stride=2
  separable 32 stride=2
  separable 64
  avgpool global
  fc classes
  softmax
}
`;

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** Everything the server printed so far. */
  readonly output: () => string;
  /** Its exit code and signal, once it has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node dist/mnc.js serve ARGS`, once it has printed its URL. */
function startServer(args: readonly string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [mnc, "serve", ...args], { cwd: work, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mnc serve printed no URL: ${out}`)), STEP_MS);
    const look = (): void => {
      const m = /http:\/\/127\.0\.0\.1:(\d+)\/\S*/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      resolve({ child, url: m[0], port: Number(m[1]), output: () => out, exited });
    };
    child.stdout!.on("data", look);
    void exited.then(({ code }) => reject(new Error(`mnc serve exited (${code}) before serving: ${out}`)));
  });
}

/** One raw GET (the path as written, no normalisation), its status and body. */
function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; type: string; csp: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", headers: { Host: host }, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), csp: String(res.headers["content-security-policy"] ?? ""), body }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.end();
  });
}

function cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [mnc, ...args], { cwd: work, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const digits = (text: string): number => Number(text.replace(/[^0-9]/g, ""));

let server: Served;

beforeAll(async () => {
  if (!existsSync(mnc) || !existsSync(join(web, "index.html"))) throw new Error("dist/mnc.js or dist/web is missing: run npm run build first");
  writeFileSync(join(work, "tiny.mn"), TINY);
  server = await startServer();
}, 60_000);

afterAll(async () => {
  server?.child.kill("SIGTERM");
  await server?.exited;
  rmSync(work, { recursive: true, force: true });
});

describe("mnc serve and the built page", () => {
  it("serves the page with its content types and Content-Security-Policy, on 127.0.0.1 only", async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    const page = await get(server.port, "/");
    expect(page.status).toBe(200);
    expect(page.type).toBe("text/html; charset=utf-8");
    expect(page.body).toContain('<script type="module" src="main.js"></script>');
    expect(page.csp).toContain("default-src 'none'");
    expect(page.csp).toContain("script-src 'self';");
    expect(page.csp).not.toContain("unsafe");
    // The page's own meta policy says the same (the header adds frame-ancestors, which a meta cannot).
    const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page.body)![1]!;
    expect(page.csp.startsWith(meta)).toBe(true);
    expect((await get(server.port, "/main.js")).type).toBe("text/javascript; charset=utf-8");
    expect((await get(server.port, "/style.css")).type).toBe("text/css; charset=utf-8");
    expect((await get(server.port, "/favicon.svg")).type).toBe("image/svg+xml");
    // Another host name for this address (DNS rebinding) is not answered.
    expect((await get(server.port, "/", `attacker.example:${server.port}`)).status).toBe(421);
    // Not on any other address of this machine.
    const others = Object.values(networkInterfaces()).flatMap((list) => list ?? []).filter((a) => !a.internal && a.family === "IPv4");
    for (const a of others.slice(0, 2)) {
      const refused = await new Promise<string>((resolve) => {
        const req = request({ host: a.address, port: server.port, path: "/", timeout: 2000 }, () => resolve("answered"));
        req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
        req.on("timeout", () => req.destroy());
        req.end();
      });
      expect(refused).toBe("ECONNREFUSED");
    }
  });

  it("refuses paths outside dist/web: .., encoded traversal, backslashes, absolute paths, dot files, directories", async () => {
    const refused = ["/../package.json", "/%2e%2e/package.json", "/..%2fpackage.json", "/%2e%2e%2f%2e%2e%2fpackage.json", "/%252e%252e/package.json", "/..\\package.json", "//etc/passwd", "/.git/config", "/%00index.html", "/nothing.js"];
    for (const path of refused) {
      const r = await get(server.port, path);
      expect([400, 403, 404], path).toContain(r.status);
      expect(r.body, path).not.toContain('"name": "mnc"');
    }
    expect((await get(server.port, "/../package.json")).status).toBe(403);
    expect((await get(server.port, "/nothing.js")).status).toBe(404);
    const dir = mkdtempSync(join(work, "root-"));
    writeFileSync(join(dir, "index.html"), "<!doctype html>");
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(work, "secret.txt"), "secret");
    symlinkSync(join(work, "secret.txt"), join(dir, "link.txt"));
    expect(resolveRequest(dir, "/link.txt")).toEqual({ status: 403 });
    expect(resolveRequest(dir, "/sub")).toEqual({ status: 404 });
    expect(resolveRequest(dir, "/")).toHaveProperty("file");
  });

  it("prints a URL that carries FILE's source; says clearly what it cannot serve", async () => {
    const s = await startServer(["tiny.mn"]);
    try {
      expect(s.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${s.port}/#name=tiny\\.mn&z=[A-Za-z0-9_-]+$`));
    } finally {
      s.child.kill("SIGINT");
      await s.exited;
    }
    const help = cli(["help", "serve"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: mnc serve [FILE] [--port N]");
    expect(cli(["--help"]).stdout).toContain("mnc serve [FILE]");
    const missing = cli(["serve", "missing.mn"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("cannot read 'missing.mn'");
    const port = cli(["serve", "--port", "http"]);
    expect(port.status).toBe(2);
    expect(port.stderr).toContain("--port must be a whole number");
  }, 60_000);

  it("says when the page is not built", () => {
    const err: string[] = [];
    const empty = mkdtempSync(join(work, "empty-"));
    expect(serve([], { out: () => undefined, err: (t) => err.push(t) }, empty)).toBe(1);
    expect(err.join("")).toBe(`mnc: error: the playground is not built (no index.html and main.js in ${empty}); run 'npm run build:web'\n`);
  });

  it("builds the same files twice over, byte for byte (npm run build:web)", () => {
    const a = join(work, "build-a");
    const b = join(work, "build-b");
    for (const dir of [a, b]) {
      const r = spawnSync(process.execPath, [join(root, "web", "build.mjs"), dir], { cwd: root, encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    }
    const files = readdirSync(a).sort();
    expect(files).toEqual(["editor.css", "favicon.svg", "index.html", "main.js", "style.css"]);
    expect(readdirSync(b).sort()).toEqual(files);
    for (const f of files) expect(Buffer.compare(readFileSync(join(a, f)), readFileSync(join(b, f))), f).toBe(0);
  }, 120_000);

  it("serves a bundle with no eval and no Function constructor, and no absolute path of the build machine", () => {
    const bundle = readFileSync(join(web, "main.js"), "utf8");
    // A call of eval takes an argument (the PyTorch module's text mentions `eval()`, a method of nn.Module).
    const calls = [...bundle.matchAll(/\beval\s*\((?!\s*\))|\bnew Function\s*\(|\bFunction\s*\(\s*["'`]/g)].map((m) => bundle.slice(m.index - 40, m.index + 40));
    expect(calls).toEqual([]);
    expect(bundle).not.toContain(root);
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`stops cleanly on ${signal}: exit 0, a "stopped" line, the port closed`, async () => {
      const s = await startServer();
      expect((await get(s.port, "/")).status).toBe(200);
      s.child.kill(signal);
      const { code } = await s.exited;
      expect(code).toBe(0);
      expect(s.output()).toContain(`mnc serve: stopped (${signal})`);
      await expect(get(s.port, "/")).rejects.toThrow(/ECONNREFUSED/);
    }, 60_000);
  }
});

describe.runIf(haveChromium)("the playground in Chromium", () => {
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const foreign: string[] = [];
  const downloads = join(work, "downloads");

  beforeAll(async () => {
    const { default: puppeteer } = await import("puppeteer-core");
    mkdirSync(downloads, { recursive: true });
    mkdirSync(shots, { recursive: true });
    browser = await puppeteer.launch({ executablePath: chromium, args: ["--no-sandbox", "--headless=new"], downloadBehavior: { policy: "allow", downloadPath: downloads } });
    page = await browser.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warn") consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${String(e)}`));
    page.on("request", (r) => {
      const url = r.url();
      if (!url.startsWith(`http://127.0.0.1:${server.port}/`) && !url.startsWith("blob:") && !url.startsWith("data:")) foreign.push(url);
    });
    await page.setViewport({ width: 1400, height: 1000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** The editor's text. */
  const source = (p: Page = page): Promise<string> => p.$$eval(">>> .cm-line", (lines) => lines.map((l) => l.textContent).join("\n"));
  /** Waits until the editor (in its shadow root, which waitForSelector's observer does not see) has `selector`. */
  const inEditor = (selector: string): Promise<unknown> =>
    page.waitForFunction(`document.getElementById("editor").shadowRoot.querySelector(${JSON.stringify(selector)}) !== null`, { timeout: STEP_MS, polling: 100 });
  /** Waits until the title (network, α, input, output) satisfies `test` (a JavaScript expression on `t`). */
  const title = (test: string, p: Page = page): Promise<unknown> => p.waitForFunction(`((t) => ${test})(document.getElementById("title").textContent)`, { timeout: STEP_MS });
  const figure = (name: string): Promise<number> => page.$eval(`[data-total="${name}"]`, (e) => e.textContent ?? "").then(digits);
  /** Puts the cursor at the end of the editor's line `line` (1-based). */
  const endOfLine = async (line: number): Promise<void> => {
    await page.click(">>> .cm-content");
    await page.keyboard.down("Control");
    await page.keyboard.press("Home");
    await page.keyboard.up("Control");
    for (let i = 1; i < line; i++) await page.keyboard.press("ArrowDown");
    await page.keyboard.press("End");
  };

  it("loads a design from the URL; an error is underlined with its code, and fixed, the report shows", async () => {
    const src = Buffer.from(TINY).toString("base64url");
    await page.goto(`${server.url}#name=tiny.mn&src=${src}`, { waitUntil: "load", timeout: STEP_MS });
    await page.waitForSelector("#totals [data-total=multAdds]", { timeout: STEP_MS });
    expect(await source()).toContain("separable 64");
    expect(await page.$eval("#title", (e) => e.textContent)).toBe("Tiny — α 1, input 32x32x3, output 1x1x10");
    // The examples are one click away, bundled into the page.
    const examples = await page.$$eval("#examples option", (os) => os.map((o) => o.getAttribute("value") ?? "").filter((v) => v !== ""));
    expect(examples).toContain("mobilenet_v1.mn");
    expect(examples).toContain("mobilenet_v2.mn");

    // Type a misspelt option at the end of line 4 (`separable 32 stride=2`).
    await endOfLine(4);
    await page.keyboard.type(" strid=1");
    await inEditor(".cm-lintRange-error");
    expect(await page.$eval(">>> .cm-lintRange-error", (e) => e.textContent)).toBe("strid");
    const problem = await page.$eval("#problems li.error", (e) => ({ code: e.getAttribute("data-code"), text: (e as unknown as { innerText: string }).innerText }));
    expect(problem.code).toMatch(/^MN2\d{3}$/);
    expect(problem.text).toContain(`tiny.mn:4:25: error ${problem.code}: `);
    expect(problem.text).toContain("'stride'");
    expect(await page.$eval("#results", (e) => e.classList.contains("stale"))).toBe(true);
    // The underline's tooltip says the same, with the code.
    const box = (await (await page.$(">>> .cm-lintRange-error"))!.boundingBox())!;
    await page.mouse.move(box.x + 2, box.y + box.height / 2);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await inEditor(".cm-tooltip-lint");
    expect(await page.$eval(">>> .cm-tooltip-lint", (e) => (e as unknown as { innerText: string }).innerText)).toContain(`${problem.code} `);

    // Fix it: the underline goes and the report is live again.
    for (let i = 0; i < " strid=1".length; i++) await page.keyboard.press("Backspace");
    await page.waitForFunction(`!document.getElementById("results").classList.contains("stale")`, { timeout: STEP_MS });
    expect(await page.$(">>> .cm-lintRange-error")).toBeNull();
    expect(await source()).toBe(TINY);
    const report = JSON.parse(cli(["report", "tiny.mn", "--format", "json"]).stdout) as { totals: { multAdds: number; params: number }; layers: { name: string }[] };
    expect(await figure("multAdds")).toBe(report.totals.multAdds);
    expect(await figure("params")).toBe(report.totals.params);
    expect(await page.$$eval("#layers tbody tr", (rows) => rows.map((r) => r.getAttribute("data-layer")))).toEqual(report.layers.map((l) => l.name));
    expect(await page.$$eval("#by-type tbody tr", (rows) => rows.map((r) => r.firstElementChild!.textContent))).toEqual(["Conv 1x1", "Conv DW", "Conv (full, not 1x1)", "Fully connected"]);
  }, 120_000);

  it("moves the totals to mnc report --alpha's with the α slider; draws one node per layer, and a click selects its line", async () => {
    await page.focus("#alpha");
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowLeft");
    await title(`t.includes("α 0.5")`);
    expect(await page.$eval("#alpha-value", (e) => (e as unknown as { value: string }).value)).toBe("0.5");
    const r = cli(["report", "tiny.mn", "--alpha", "0.5", "--format", "json"]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { totals: { multAdds: number; params: number; weights: number }; layers: { name: string; line: number }[] };
    for (const name of ["multAdds", "params", "weights"] as const) expect(await figure(name), name).toBe(report.totals[name]);
    expect(report.totals.multAdds).toBeLessThan(JSON.parse(cli(["report", "tiny.mn", "--format", "json"]).stdout).totals.multAdds);

    const nodes = await page.$$eval("#graph g.node", (gs) => gs.map((g) => ({ id: g.getAttribute("data-node"), line: Number(g.getAttribute("data-line")) })));
    expect(nodes).toEqual(report.layers.map((l) => ({ id: l.name, line: l.line })));
    // Edges carry the tensors' shapes.
    expect(await page.$eval("#graph", (e) => e.textContent)).toContain("16×16×8");
    // A click on a node selects its line; the cursor on a line marks its layers' nodes.
    const sep = report.layers.find((l) => l.line === 4)!;
    await page.click(`#graph g.node[data-node="${sep.name}"]`);
    await page.waitForFunction(`document.querySelectorAll("#graph g.node.selected").length > 0`, { timeout: STEP_MS });
    const selected = await page.$$eval("#graph g.node.selected", (gs) => gs.map((g) => g.getAttribute("data-node")));
    expect(selected).toEqual(report.layers.filter((l) => l.line === 4).map((l) => l.name));
    expect(await page.$eval(">>> .cm-activeLine", (e) => e.textContent)).toBe("  separable 32 stride=2");
    // The sweep's chart marks the current configuration; a click on another sets α and the resolution to it.
    // (The sweep is recomputed a moment after the report: wait for the one made at α 0.5.)
    await page.waitForFunction(`document.querySelector("#sweep circle.current")?.getAttribute("data-config") === "0.5-32"`, { timeout: STEP_MS });
    expect(await page.$$eval("#sweep circle.point", (cs) => cs.map((c) => c.getAttribute("data-config")))).toEqual(["1-32", "0.75-32", "0.5-32", "0.25-32"]);
    expect(await page.$eval("#sweep circle.current", (c) => c.getAttribute("data-config"))).toBe("0.5-32");
    await page.click('#sweep circle[data-config="0.75-32"]');
    await title(`t.includes("α 0.75")`);
    await page.waitForFunction(`document.querySelector("#sweep circle.current")?.getAttribute("data-config") === "0.75-32"`, { timeout: STEP_MS });
    await page.click('#sweep circle[data-config="0.5-32"]');
    await title(`t.includes("α 0.5")`);
  }, 120_000);

  it("answers hover on a layer and completes option values, with the language services", async () => {
    const shadowText = (selector: string): Promise<string> => page.$eval(`>>> ${selector}`, (e) => (e as unknown as { innerText: string }).innerText);
    // Hover on line 4's `separable`: the layers it made, their shapes and costs (at α 0.5, as the page is set).
    const line = (await page.$$(">>> .cm-line"))[3]!;
    const box = (await line.boundingBox())!;
    await page.mouse.move(box.x + 30, box.y + box.height / 2);
    await page.mouse.move(box.x + 40, box.y + box.height / 2);
    await inEditor(".cm-tooltip-hover .hover");
    const hover = await shadowText(".cm-tooltip-hover .hover");
    expect(hover).toContain("separable 32 stride=2");
    expect(hover).toContain("sep_1.dw");
    expect(hover).toContain("16x16x8 → 8x8x8");
    await page.screenshot({ path: join(shots, "playground-hover.png") });
    await page.mouse.move(box.x + box.width - 5, box.y + 400);
    // Completion after `act=`: the activations, as the compiler lists them.
    await endOfLine(3);
    await page.keyboard.type(" act=");
    await inEditor(".cm-tooltip-autocomplete");
    const options = await page.$$eval(">>> .cm-tooltip-autocomplete .cm-completionLabel", (ls) => ls.map((l) => l.textContent));
    expect(options).toEqual(expect.arrayContaining(["relu", "relu6", "hswish", "linear"]));
    await page.keyboard.press("Escape");
    for (let i = 0; i < " act=".length; i++) await page.keyboard.press("Backspace");
    expect(await source()).toBe(TINY);
    await title(`t.includes("α 0.5")`);
  }, 120_000);

  it("downloads an ONNX file equal to mnc compile's byte for byte, which runs in ONNX Runtime", async () => {
    await page.click('button[data-download="onnx"]');
    const file = join(downloads, "tiny.onnx");
    const until = Date.now() + STEP_MS;
    while (!existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(file)).toBe(true);
    const c = cli(["compile", "tiny.mn", "--alpha", "0.5", "-o", "cli.onnx"]);
    expect(c.status).toBe(0);
    const fromPage = new Uint8Array(readFileSync(file));
    const fromCli = new Uint8Array(readFileSync(join(work, "cli.onnx")));
    expect(fromPage.length).toBe(fromCli.length);
    expect(Buffer.compare(fromPage, fromCli)).toBe(0);
    // It runs, and agrees with the reference evaluator (a 1x1x10 output: the layouts agree).
    const graph = compile(TINY, { alpha: 0.5 }).graph!;
    const x = inputs(32 * 32 * 3, 7);
    const nchw = new Float32Array(x.length);
    for (let y = 0; y < 32; y++) for (let i = 0; i < 32; i++) for (let ch = 0; ch < 3; ch++) nchw[(ch * 32 + y) * 32 + i] = x[(y * 32 + i) * 3 + ch]!;
    const session = await ort.InferenceSession.create(fromPage, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const out = await session.run({ input: new ort.Tensor("float32", nchw, [1, 3, 32, 32]) });
    const y = out[session.outputNames[0]!]!.data as Float32Array;
    expect(relativeError(y, runReference(graph, x))).toBeLessThan(1e-4);
  }, 120_000);

  it("downloads the TypeScript and JavaScript modules, their weights, the PyTorch module and the HTML report, each as the CLI writes it", async () => {
    const wanted: [string, string][] = [
      ["ts", "tiny.ts"],
      ["weights", "tiny.weights.bin"],
      ["js", "tiny.js"],
      ["dts", "tiny.d.ts"],
      ["pytorch", "tiny.py"],
      ["html", "tiny.report.html"],
    ];
    for (const [kind, name] of wanted) {
      await page.click(`button[data-download="${kind}"]`);
      const until = Date.now() + STEP_MS;
      while (!existsSync(join(downloads, name)) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(join(downloads, name)), name).toBe(true);
    }
    const cliDir = join(work, "cli");
    mkdirSync(cliDir, { recursive: true });
    const same = ["--alpha", "0.5"];
    for (const args of [["--emit", "ts", "-o", "cli/tiny.ts"], ["--emit", "js", "-o", "cli/tiny.js"], ["--emit", "pytorch", "-o", "cli/tiny.py"]]) {
      expect(cli(["compile", "tiny.mn", ...same, ...args]).status).toBe(0);
    }
    const html = cli(["report", "tiny.mn", ...same, "--format", "html"]);
    expect(html.status).toBe(0);
    writeFileSync(join(cliDir, "tiny.report.html"), html.stdout);
    for (const [, name] of wanted) expect(Buffer.compare(readFileSync(join(downloads, name)), readFileSync(join(cliDir, name))), name).toBe(0);
  }, 120_000);

  it("recomputes with a network parameter as mnc report --set does", async () => {
    await page.click('[data-param="classes"]');
    await page.keyboard.type("5");
    await page.keyboard.press("Enter");
    await title(`t.endsWith("output 1x1x5")`);
    const report = JSON.parse(cli(["report", "tiny.mn", "--alpha", "0.5", "--set", "classes=5", "--format", "json"]).stdout) as { totals: { multAdds: number; params: number } };
    expect(await figure("multAdds")).toBe(report.totals.multAdds);
    expect(await figure("params")).toBe(report.totals.params);
    await page.click('[data-param="classes"]', { count: 3 });
    await page.keyboard.press("Backspace");
    await page.keyboard.press("Enter");
    await title(`t.endsWith("output 1x1x10")`);
  }, 120_000);

  it("opens the source of mnc serve FILE from the URL it prints", async () => {
    const s = await startServer(["tiny.mn"]);
    const other = await browser.newPage();
    try {
      await other.goto(s.url, { waitUntil: "load", timeout: STEP_MS });
      await title(`t.startsWith("Tiny")`, other);
      expect(await source(other)).toBe(TINY);
      expect(await other.$eval("#file-name", (e) => (e as unknown as { value: string }).value)).toBe("tiny.mn");
    } finally {
      await other.close();
      s.child.kill("SIGINT");
      await s.exited;
    }
  }, 120_000);

  it("keeps the design in the URL; screenshots at 1400 and 600 px", async () => {
    await page.waitForFunction(`location.hash.includes("z=") || location.hash.includes("src=")`, { timeout: STEP_MS });
    const shared = String(await page.evaluate("location.href"));
    expect(shared).toContain("alpha=0.5");
    const second = await browser.newPage();
    try {
      await second.goto(shared, { waitUntil: "load", timeout: STEP_MS });
      await title(`t.includes("α 0.5")`, second);
      expect(await source(second)).toBe(TINY);
    } finally {
      await second.close();
    }
    // An example, at the two widths.
    await page.select("#examples", "mobilenet_v2.mn");
    await title(`t.startsWith("MobileNetV2")`);
    await page.waitForSelector("#sweep svg", { timeout: STEP_MS });
    await page.screenshot({ path: join(shots, "playground-1400.png") });
    await page.setViewport({ width: 600, height: 1000 });
    await new Promise((r) => setTimeout(r, 300));
    await page.screenshot({ path: join(shots, "playground-600.png") });
    await page.screenshot({ path: join(shots, "playground-600-full.png"), fullPage: true });
  }, 120_000);

  it("said nothing on the console and asked nothing of any other server, all along", () => {
    expect(consoleErrors).toEqual([]);
    expect(foreign).toEqual([]);
  });
});
