/**
 * Checks that need something outside the repository — ../shared's trained
 * models and photos, Debian's python3-onnx or chromium — run when it is there.
 * When it is not, the run says what it skipped and why instead of passing in
 * silence (vitest prints it under the test file's name).
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";

/** `condition`; when false, first says on stderr that `skipped` is skipped, and `why`. */
export function available(condition: boolean, skipped: string, why: string): boolean {
  if (!condition) console.warn(`skipped: ${skipped} — ${why}`);
  return condition;
}

/** Whether the shared data file `path` exists; when not, says which checks that skips. */
export function haveShared(path: string, skipped: string): boolean {
  return available(existsSync(path), skipped, `${basename(path)} is not at ${path} (the shared data sits beside the checkout, in ../shared)`);
}
