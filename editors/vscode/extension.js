// The mnc extension: starts `mnc lsp` (the `mnc` on PATH, or the setting
// mnc.path) for .mn documents and connects it to the editor over stdio.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

/** A path to a .js file (the repository's dist/mnc.js) runs with the editor's Node; anything else is an executable. */
function serverOptions() {
  const config = vscode.workspace.getConfiguration("mnc");
  const path = config.get("path") || "mnc";
  const args = ["lsp", ...(config.get("args") || [])];
  if (path.endsWith(".js")) return { module: path, args, transport: TransportKind.stdio };
  return { command: path, args, transport: TransportKind.stdio };
}

function start() {
  client = new LanguageClient("mnc", "mnc", serverOptions(), {
    documentSelector: [
      { scheme: "file", language: "mn" },
      { scheme: "untitled", language: "mn" },
    ],
  });
  return client.start();
}

async function restart() {
  if (client !== undefined) await client.stop();
  await start();
}

function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("mnc")) void restart();
    }),
  );
  return start();
}

function deactivate() {
  return client === undefined ? undefined : client.stop();
}

module.exports = { activate, deactivate };
