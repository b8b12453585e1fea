/**
 * Writing outputs so that nothing is ever half-written: the bytes go to a
 * temporary file in the destination's directory, which is then renamed over
 * the destination (atomic on POSIX). On any failure the temporary file is
 * removed and an existing destination is left untouched.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

let counter = 0;

export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", 0o644);
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // The temporary file was never created.
    }
    throw e;
  }
}
