/**
 * `mnc` is bundled as one ES module; the language server's libraries
 * (vscode-languageserver, vscode-jsonrpc) are CommonJS and `require` Node's
 * own modules, which an ES module has no `require` for. Imported first by
 * lsp.ts — and so only when `mnc lsp` runs — this gives them Node's.
 */
import { createRequire } from "node:module";

const scope = globalThis as { require?: unknown };
if (typeof scope.require === "undefined") scope.require = createRequire(import.meta.url);
