/**
 * Writing outputs so that nothing is ever half-written. Every byte is computed
 * before any file is opened; then the bytes go to a temporary file beside the
 * destination (`.NAME.mnc-PID.tmp`), which is flushed and renamed over the
 * destination — atomic on POSIX. On any failure the temporary file is removed
 * and an existing destination is left untouched.
 *
 * A process killed outright (SIGKILL, power loss) during those few
 * milliseconds can leave its temporary file behind, never a damaged
 * destination; the next write to the same destination removes temporary files
 * whose process is gone.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const TEMP = /^\.(.+)\.mnc-(\d+)\.tmp$/;

export function temporaryName(path: string, pid = process.pid): string {
  return join(dirname(path), `.${basename(path)}.mnc-${pid}.tmp`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Remove temporary files that writers of `path` left when they were killed. */
function removeStale(path: string): void {
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return; // The directory's problems are reported by the write itself.
  }
  for (const name of names) {
    const m = TEMP.exec(name);
    if (m === null || m[1] !== basename(path)) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || !alive(pid)) {
      try {
        unlinkSync(join(dirname(path), name));
      } catch {
        // Someone else removed it first.
      }
    }
  }
}

export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  removeStale(path);
  const temp = temporaryName(path);
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

/**
 * Several files that belong together (a module and its weights): every
 * temporary file is written first, then all are renamed — a failure before the
 * renames leaves every destination untouched.
 */
export function writeFilesAtomic(files: readonly { readonly path: string; readonly content: string | Uint8Array }[]): void {
  const temps: { temp: string; path: string }[] = [];
  try {
    for (const f of files) {
      removeStale(f.path);
      const temp = temporaryName(f.path);
      const bytes = typeof f.content === "string" ? new TextEncoder().encode(f.content) : f.content;
      const fd = openSync(temp, "wx", 0o644);
      temps.push({ temp, path: f.path });
      try {
        let written = 0;
        while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  } catch (e) {
    for (const t of temps) {
      try {
        unlinkSync(t.temp);
      } catch {
        // Already gone.
      }
    }
    throw e;
  }
  for (const t of temps) renameSync(t.temp, t.path);
}
