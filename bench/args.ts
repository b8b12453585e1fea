/** Command-line flags of the bench scripts (`--rounds 15`, `--only v2-1.0-224`). */
export function flag(name: string, args: readonly string[] = process.argv.slice(2)): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
}
