/**
 * The arguments an editor's language client adds when it starts a server:
 * `--stdio` (mnc lsp speaks over standard input and output anyway) and
 * `--clientProcessId N` (vscode-languageserver reads it from the process'
 * arguments itself, to end the server with its editor). `mnc lsp`'s own
 * options are the rest.
 */
export function lspOwnArguments(args: readonly string[]): string[] {
  const own: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--stdio" || a.startsWith("--clientProcessId=")) continue;
    if (a === "--clientProcessId") {
      i++;
      continue;
    }
    own.push(a);
  }
  return own;
}
