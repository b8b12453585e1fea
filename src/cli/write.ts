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
 *
 * A failure is thrown as a WriteError that names the destination and says why
 * in plain words (a missing directory, a read-only file system, a full disk).
 */
import { accessSync, closeSync, constants, fsyncSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/**
 * A destination that cannot be written, said in plain words about the paths
 * the user gave — never an errno code or the temporary file's name.
 */
export class WriteError extends Error {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(why);
    this.name = "WriteError";
  }
}

/** The nearest existing ancestor of `dir`, and whether `dir` itself exists. */
function nearestExisting(dir: string): { path: string; isDirectory: boolean } | undefined {
  let d = dir;
  for (;;) {
    try {
      return { path: d, isDirectory: statSync(d).isDirectory() };
    } catch {
      const up = dirname(d);
      if (up === d) return undefined;
      d = up;
    }
  }
}

/** Why `path` could not be written, from the failure of a system call on it or its temporary file. */
export function describeWriteFailure(path: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const dir = dirname(path);
  switch (code) {
    case "ENOENT":
    case "ENOTDIR": {
      const found = nearestExisting(dir);
      if (found !== undefined && !found.isDirectory) return `'${found.path}' is a file, not a directory`;
      if (found !== undefined && found.path === dir) return `the directory '${dir}' exists but does not accept new files`;
      return `the directory '${dir}' does not exist`;
    }
    case "EACCES":
    case "EPERM":
      return writable(path) ? "permission denied" : `permission denied: the directory '${dir}' is not writable`;
    case "EROFS":
      return `the directory '${dir}' is on a read-only file system`;
    case "ENOSPC":
      return "no space left on the device";
    case "EDQUOT":
      return "the disk quota is exceeded";
    case "EISDIR":
      return "it is a directory";
    case "ENAMETOOLONG":
      return "the file name is too long";
    case "EMFILE":
    case "ENFILE":
      return "too many open files";
    case "EIO":
      return "an input/output error on the device";
    default: {
      // Node's message is "CODE: words, syscall 'path'": keep the words only.
      const m = /^[A-Z0-9]+: ([^,]+)/.exec(e instanceof Error ? e.message : "");
      return m !== null ? m[1]! : "the file system refused it";
    }
  }
}

function writable(path: string): boolean {
  try {
    accessSync(dirname(path), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A regular file (or none yet) is replaced atomically; a device, pipe or socket
 * (-o /dev/stdout) is written in place — renaming over it would replace the
 * device itself. A directory cannot be replaced by a file.
 */
function isSpecial(path: string): boolean {
  let kind: "absent" | "file" | "directory" | "special";
  try {
    const st = statSync(path);
    kind = st.isFile() ? "file" : st.isDirectory() ? "directory" : "special";
  } catch {
    kind = "absent"; // Or unreachable: the write says why.
  }
  if (kind === "directory") throw new WriteError(path, "it is a directory");
  return kind === "special";
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}

function writeInPlace(path: string, bytes: Uint8Array): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "w");
    writeAll(fd, bytes);
  } catch (e) {
    throw new WriteError(path, describeWriteFailure(path, e));
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The path to record inside an output (ONNX metadata, a module's header):
 * relative to the working directory, with '/' separators, or only the file
 * name when the file lies outside it — never an absolute path of this machine.
 */
export function recordedPath(path: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, resolve(cwd, path));
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return basename(path);
  return rel.split(sep).join("/");
}

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
  writeFilesAtomic([{ path, content }]);
}

/**
 * Several files that belong together (a module and its weights): every
 * temporary file is written first, then all are renamed — a failure before the
 * renames leaves every destination untouched.
 */
export function writeFilesAtomic(files: readonly { readonly path: string; readonly content: string | Uint8Array }[]): void {
  const all = files.map((f) => ({ path: f.path, bytes: typeof f.content === "string" ? new TextEncoder().encode(f.content) : f.content, special: isSpecial(f.path) }));
  const temps: { temp: string; path: string }[] = [];
  const removeTemps = (): void => {
    for (const t of temps) {
      try {
        unlinkSync(t.temp);
      } catch {
        // Already renamed, or never created.
      }
    }
  };
  for (const f of all) {
    if (f.special) continue;
    removeStale(f.path);
    const temp = temporaryName(f.path);
    let fd: number | undefined;
    try {
      fd = openSync(temp, "wx", 0o644);
      temps.push({ temp, path: f.path });
      writeAll(fd, f.bytes);
      fsyncSync(fd);
    } catch (e) {
      removeTemps();
      throw new WriteError(f.path, describeWriteFailure(f.path, e));
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  for (const t of temps) {
    try {
      renameSync(t.temp, t.path);
    } catch (e) {
      removeTemps();
      throw new WriteError(t.path, describeWriteFailure(t.path, e));
    }
  }
  for (const f of all) if (f.special) writeInPlace(f.path, f.bytes);
}
