/**
 * `mnc serve [FILE]`: the playground (dist/web, built by `npm run build:web`)
 * from a static file server on 127.0.0.1 only. It serves the files of that
 * folder and nothing else — a path that climbs out (`..`, encoded or not), an
 * absolute or backslashed path, a symbolic link that leads outside, a
 * directory other than the root, a dot file: all refused — with each file's
 * content type and the page's Content-Security-Policy as a header. The page
 * compiles in the browser; the server only hands out its files. With FILE,
 * the printed URL carries FILE's source in its fragment (never sent to the
 * server). SIGINT (Ctrl-C) and SIGTERM stop it: exit 0 after a "stopped" line.
 */
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { deflateRawSync } from "node:zlib";
import { READ_LIMITS, ReadError, readBounded } from "./read.js";

const EXIT_OK = 0;
const EXIT_ERRORS = 1;
const EXIT_USAGE = 2;

/** Loopback only: the page is for the person at this machine. */
export const HOST = "127.0.0.1";

/** The page's policy (web/index.html states the same in a meta element), plus what only a header can say. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
};

export const SERVE_HELP = `Usage: mnc serve [FILE] [--port N]

Serves the playground — an editor for .mn with the live cost report, the
graph of the network, the α × resolution sweep and the downloads, all
computed in the browser — from a local web server on 127.0.0.1 only, and
prints its URL. With FILE, the URL opens with FILE's source (carried in the
URL's fragment; the server never sees it). Ctrl-C stops the server.

The page is dist/web, built by npm run build (or npm run build:web); it is
plain static files and can be hosted anywhere. See docs/playground.md.

Options:
  --port N                the port to listen on (default 0: any free port)
  -h, --help              show this help
`;

/** dist/web beside the running code: dist/mnc.js (the bundle), dist/cli/serve.js, or src/cli/serve.ts. */
export function defaultWebRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "web"), join(here, "..", "web"), join(here, "..", "..", "dist", "web")];
  // A built page has its bundle (the repository's web/ folder, the page's source, has none).
  return candidates.find((c) => existsSync(join(c, "index.html")) && existsSync(join(c, "main.js"))) ?? candidates[0]!;
}

/** The URL fragment that opens FILE's source in the page (web/share.ts reads it). */
export function sourceFragment(name: string, source: string): string {
  const z = deflateRawSync(Buffer.from(source, "utf8")).toString("base64url");
  return new URLSearchParams({ name, z }).toString();
}

/** A request path resolved inside `root`, or the status to answer instead. */
export function resolveRequest(root: string, rawUrl: string): { readonly file: string } | { readonly status: 400 | 403 | 404 } {
  const pathPart = rawUrl.split(/[?#]/, 1)[0] ?? "";
  if (!pathPart.startsWith("/")) return { status: 400 };
  let path: string;
  try {
    path = decodeURIComponent(pathPart);
  } catch {
    return { status: 400 };
  }
  // Backslashes, NUL and a doubly encoded '%' have no place in the page's file names.
  if (path.includes("\0") || path.includes("\\") || path.includes("%")) return { status: 400 };
  const segments = path.split("/").slice(1);
  if (segments.some((s) => s === ".." || s === ".")) return { status: 403 };
  if (segments.some((s) => s.startsWith("."))) return { status: 404 };
  const relative = path === "/" ? "index.html" : segments.join("/");
  if (relative === "" || relative.startsWith("/") || relative.includes("//")) return { status: 404 };
  const candidate = join(root, relative);
  let real: string;
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(candidate);
  } catch {
    return { status: 404 };
  }
  // A symbolic link may lead anywhere: what is served must lie inside the root as the file system resolves it.
  if (!real.startsWith(realRoot + sep)) return { status: 403 };
  try {
    if (!statSync(real).isFile()) return { status: 404 };
  } catch {
    return { status: 404 };
  }
  return { file: real };
}

const REASONS: Readonly<Record<number, string>> = { 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 421: "Misdirected Request" };

function headers(type: string, length: number): Record<string, string | number> {
  return {
    "Content-Type": type,
    "Content-Length": length,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
  };
}

/** The request handler: GET and HEAD of the root's files, for a Host that names this server. */
export function handler(root: string, port: () => number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const answer = (status: number): void => {
      const body = `${status} ${REASONS[status] ?? ""}\n`;
      res.writeHead(status, { ...headers("text/plain; charset=utf-8", Buffer.byteLength(body)), ...(status === 405 ? { Allow: "GET, HEAD" } : {}) });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    // Another name for this address (DNS rebinding) is not this server.
    const host = req.headers.host ?? "";
    if (host !== `${HOST}:${port()}` && host !== `localhost:${port()}`) return answer(421);
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405);
    const found = resolveRequest(root, req.url ?? "");
    if ("status" in found) return answer(found.status);
    let body: Buffer;
    try {
      body = readFileSync(found.file);
    } catch {
      return answer(404);
    }
    res.writeHead(200, headers(CONTENT_TYPES[extname(found.file).toLowerCase()] ?? "application/octet-stream", body.length));
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

export interface ServeIo {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Starts the server and returns 0, or returns the exit code of a mistake found
 * before it starts. A failure to listen, later, is said on `io` and ends the
 * process with exit 1.
 */
export function serve(args: readonly string[], io: ServeIo, root: string = defaultWebRoot()): number {
  let values: { port?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...args], options: { port: { type: "string" }, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true }));
  } catch (e) {
    io.err(`mnc: serve: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  if (values.help === true) {
    io.out(SERVE_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 1) {
    io.err(`mnc: serve: takes at most one FILE, not ${positionals.length}\n`);
    return EXIT_USAGE;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!/^\d+$/.test(values.port ?? "0") || !Number.isInteger(port) || port > 65535) {
    io.err(`mnc: serve: --port must be a whole number from 0 to 65535, not '${values.port}'\n`);
    return EXIT_USAGE;
  }
  if (!existsSync(join(root, "index.html")) || !existsSync(join(root, "main.js"))) {
    io.err(`mnc: error: the playground is not built (no index.html and main.js in ${root}); run 'npm run build:web'\n`);
    return EXIT_ERRORS;
  }
  let fragment = "";
  const file = positionals[0];
  if (file !== undefined) {
    let source: string;
    try {
      source = Buffer.from(readBounded(file, "network", READ_LIMITS.source)).toString("utf8");
    } catch (e) {
      if (!(e instanceof ReadError)) throw e;
      io.err(e.isDirectory ? `mnc: error: '${file}' is a directory, not a .mn file\n` : `mnc: error: cannot read '${file}': ${e.message}\n`);
      return EXIT_ERRORS;
    }
    fragment = `#${sourceFragment(basename(file), source)}`;
  }
  let server: Server | undefined = undefined;
  const listening = (): number => (server?.address() as AddressInfo | null)?.port ?? port;
  server = createServer(handler(root, listening));
  server.on("error", (e: NodeJS.ErrnoException) => {
    const why = e.code === "EADDRINUSE" ? `port ${port} is in use (leave out --port for any free port)` : e.code === "EACCES" ? `port ${port} is not allowed to this user` : e.message;
    io.err(`mnc: error: cannot serve on ${HOST}:${port}: ${why}\n`);
    process.exitCode = EXIT_ERRORS;
    stopSignals();
  });
  const stop = (signal: NodeJS.Signals): void => {
    stopSignals();
    server?.close();
    server?.closeAllConnections();
    io.out(`mnc serve: stopped (${signal})\n`);
    process.exitCode = EXIT_OK;
  };
  const onInt = (): void => stop("SIGINT");
  const onTerm = (): void => stop("SIGTERM");
  const stopSignals = (): void => {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  };
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  server.listen(port, HOST, () => {
    io.out(`mnc serve: the playground is at http://${HOST}:${listening()}/${fragment}\n(Ctrl-C stops it)\n`);
  });
  return EXIT_OK;
}
