/**
 * `npm run build:web`: the playground as static files in dist/web — the page
 * (index.html, style.css, editor.css, favicon.svg) and one minified ES module (main.js)
 * that bundles the compiler core, CodeMirror and the examples. Nothing is
 * fetched at run time; the output depends only on the sources (no dates, no
 * absolute paths, no source maps).
 */
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
/** `node web/build.mjs [DIR]`: into DIR (relative to the repository) instead of dist/web. */
const out = process.argv[2] === undefined ? join(root, "dist", "web") : resolve(root, process.argv[2]);
const STATIC = ["index.html", "style.css", "editor.css", "favicon.svg"];

/** `import { EXAMPLES } from "mnc:examples"`: every examples/*.mn, by file name, in name order. */
const examples = {
  name: "mnc-examples",
  setup(b) {
    b.onResolve({ filter: /^mnc:examples$/ }, () => ({ path: "examples", namespace: "mnc-examples" }));
    b.onLoad({ filter: /.*/, namespace: "mnc-examples" }, () => {
      const dir = join(root, "examples");
      const files = readdirSync(dir).filter((f) => f.endsWith(".mn")).sort();
      const list = files.map((name) => ({ name, source: readFileSync(join(dir, name), "utf8") }));
      return { contents: `export const EXAMPLES = ${JSON.stringify(list)};`, loader: "js", watchFiles: files.map((f) => join(dir, f)) };
    });
  },
};

/**
 * chevrotain's toFastProperties ends in dead code, `(0, eval)(object)` after a `return`, kept only
 * to stop an optimiser: it is dropped, so the bundle holds no eval at all.
 */
const noDeadEval = {
  name: "no-dead-eval",
  setup(b) {
    b.onLoad({ filter: /[\\/]@chevrotain[\\/]utils[\\/]lib[\\/]src[\\/]to-fast-properties\.js$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      const dead = "(0, eval)(toBecomeFast);";
      if (!text.includes(dead)) throw new Error(`chevrotain changed: '${dead}' is gone; update web/build.mjs`);
      return { contents: text.replace(dead, ""), loader: "js" };
    });
  },
};

/**
 * lodash-es (under chevrotain, the parser) finds the global object with `Function("return this")`
 * as a last resort; a browser has globalThis, so the bundle carries no Function constructor at all
 * and the page's Content-Security-Policy needs no 'unsafe-eval'.
 */
const noFunctionConstructor = {
  name: "global-this",
  setup(b) {
    b.onLoad({ filter: /[\\/]lodash-es[\\/]_root\.js$/ }, () => ({ contents: "export default globalThis;", loader: "js" }));
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: ["web/main.ts"],
  outfile: join(out, "main.js"),
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
  plugins: [examples, noFunctionConstructor, noDeadEval],
});
for (const f of STATIC) copyFileSync(join(root, "web", f), join(out, f));
