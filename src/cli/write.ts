/**
 * Writing outputs so that nothing is ever half-written. Every byte is computed
 * before any file is opened; then the bytes go to a temporary file beside the
 * destination (`.NAME.mnc-PID.tmp`), which is flushed and renamed over the
 * destination — atomic on POSIX. On any failure the temporary file is removed
 * and an existing destination is left untouched.
 *
 * Several files that belong together (a module, its weights, its
 * declarations) are one transaction: all temporary files are written and
 * flushed first; each existing destination is kept under a hard link
 * (`.NAME.mnc-PID.bak.tmp`; a copy where hard links are not supported) while the renames run; a failed rename puts every
 * destination already renamed back. A failed run leaves each destination as it
 * was and no temporary file behind.
 *
 * A destination that is a symbolic link is written through the link (its
 * target is replaced, the link kept); a device, pipe or socket (/dev/null,
 * /dev/stdout, or a link to one) is written in place, never replaced.
 *
 * A process killed outright (SIGKILL, power loss) during those few
 * milliseconds can leave its temporary file behind, never a damaged
 * destination; the next write to the same destination removes temporary files
 * whose process is gone.
 *
 * A failure is thrown as a WriteError that names the destination and says why
 * in plain words (a missing directory, a read-only file system, a full disk).
 */
import * as nodeFs from "node:fs";
import { accessSync, constants, readdirSync, statSync } from "node:fs";
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

/** The file-system calls the writer makes: node:fs, or a stand-in that fails on purpose in tests. */
export interface WriteFs {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  linkSync(existing: string, link: string): void;
  copyFileSync(from: string, to: string): void;
  unlinkSync(path: string): void;
}

export const NODE_FS: WriteFs = {
  openSync: (path, flags, mode) => nodeFs.openSync(path, flags, mode),
  writeSync: (fd, bytes, offset, length) => nodeFs.writeSync(fd, bytes, offset, length),
  fsyncSync: (fd) => nodeFs.fsyncSync(fd),
  closeSync: (fd) => nodeFs.closeSync(fd),
  renameSync: (from, to) => nodeFs.renameSync(from, to),
  linkSync: (existing, link) => nodeFs.linkSync(existing, link),
  copyFileSync: (from, to) => nodeFs.copyFileSync(from, to, nodeFs.constants.COPYFILE_EXCL),
  unlinkSync: (path) => nodeFs.unlinkSync(path),
};

type Kind = "absent" | "file" | "directory" | "special" | "descriptor";

/**
 * Where the bytes for `path` go and how: a symbolic link is followed to its
 * target (renaming over the link would replace the link itself), a directory
 * cannot be replaced by a file.
 */
function destination(path: string): { target: string; kind: Kind } {
  let target = path;
  try {
    if (nodeFs.lstatSync(path).isSymbolicLink()) target = nodeFs.realpathSync(path);
  } catch {
    // A dangling link or an unreachable path: the write says why.
  }
  let kind: Kind;
  try {
    const st = statSync(target);
    kind = st.isFile() ? "file" : st.isDirectory() ? "directory" : "special";
  } catch {
    kind = "absent";
  }
  if (kind === "directory") throw new WriteError(path, "it is a directory");
  // A file reached through /dev or /proc (/dev/stderr redirected to a file) is an open descriptor's: written in place.
  // Appended to, as the shell's `>>` and `>` both expect (`>` has already emptied it).
  if (kind === "file" && throughSystem(path)) return { target: path, kind: "descriptor" };
  return { target, kind };
}

const SYSTEM = /^\/(?:proc\/|dev\/(?!shm\/))/;

/** Whether `path`, or a link on the way from it to its file, lies in /dev or /proc. */
function throughSystem(path: string): boolean {
  let hop = resolve(path);
  for (let i = 0; i < 40; i++) {
    if (SYSTEM.test(hop)) return true;
    try {
      if (!nodeFs.lstatSync(hop).isSymbolicLink()) return false;
      hop = resolve(dirname(hop), nodeFs.readlinkSync(hop));
    } catch {
      return false;
    }
  }
  return false;
}

function writeAll(fs: WriteFs, fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
}

function writeInPlace(fs: WriteFs, path: string, target: string, bytes: Uint8Array, append: boolean): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(target, append ? "a" : "w");
    writeAll(fs, fd, bytes);
  } catch (e) {
    throw new WriteError(path, describeWriteFailure(path, e));
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
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

/** The errors of a file system that has no hard links (or none across this pair). */
const NO_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK", "EXDEV"]);

const TEMP = /^\.(.+)\.mnc-(\d+)(?:\.bak)?\.tmp$/;

export function temporaryName(path: string, pid = process.pid): string {
  return join(dirname(path), `.${basename(path)}.mnc-${pid}.tmp`);
}

/** Where an existing destination is kept while a transaction of several files runs. */
export function backupName(path: string, pid = process.pid): string {
  return join(dirname(path), `.${basename(path)}.mnc-${pid}.bak.tmp`);
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
        nodeFs.unlinkSync(join(dirname(path), name));
      } catch {
        // Someone else removed it first.
      }
    }
  }
}

export function writeFileAtomic(path: string, content: string | Uint8Array, fs: WriteFs = NODE_FS): void {
  writeFilesAtomic([{ path, content }], fs);
}

/**
 * Several files that belong together (a module, its weights, its declarations)
 * as one transaction: either every destination gets its new bytes, or — on any
 * failure — every destination keeps its old ones, and no temporary file remains.
 */
export function writeFilesAtomic(files: readonly { readonly path: string; readonly content: string | Uint8Array }[], fs: WriteFs = NODE_FS): void {
  const all = files.map((f) => ({ path: f.path, bytes: typeof f.content === "string" ? new TextEncoder().encode(f.content) : f.content, ...destination(f.path) }));
  const regular = all.filter((f) => f.kind === "file" || f.kind === "absent");
  /** Temporary files still on disk, and the backups of destinations already replaced. */
  const temps = new Set<string>();
  const forget = (path: string): void => {
    try {
      fs.unlinkSync(path);
    } catch {
      // Never created, or already gone.
    }
    temps.delete(path);
  };
  const fail = (path: string, e: unknown): never => {
    for (const t of [...temps]) forget(t);
    throw e instanceof WriteError ? e : new WriteError(path, describeWriteFailure(path, e));
  };

  // 1. Every temporary file, written and flushed.
  const staged: { path: string; target: string; temp: string; existed: boolean }[] = [];
  for (const f of regular) {
    removeStale(f.target);
    const temp = temporaryName(f.target);
    let fd: number | undefined;
    try {
      fd = fs.openSync(temp, "wx", 0o644);
      temps.add(temp);
      writeAll(fs, fd, f.bytes);
      fs.fsyncSync(fd);
      const closing = fd;
      fd = undefined;
      fs.closeSync(closing);
    } catch (e) {
      if (fd !== undefined) {
        try {
          fs.closeSync(fd);
        } catch {
          // The failure being reported matters more.
        }
      }
      fail(f.path, e);
    }
    staged.push({ path: f.path, target: f.target, temp, existed: f.kind === "file" });
  }

  // 2. With several files, each existing destination kept under a second name while the renames run.
  const backups = new Map<string, string>();
  if (staged.length > 1) {
    for (const s of staged) {
      if (!s.existed) continue;
      const backup = backupName(s.target);
      try {
        fs.linkSync(s.target, backup);
      } catch (e) {
        // A file system without hard links: the backup is a copy.
        if (!NO_LINKS.has((e as NodeJS.ErrnoException).code ?? "")) fail(s.path, e);
        try {
          temps.add(backup);
          fs.copyFileSync(s.target, backup);
        } catch (e) {
          fail(s.path, e);
        }
      }
      temps.add(backup);
      backups.set(s.target, backup);
    }
  }

  // 3. The renames; a failure puts back every destination already replaced.
  const done: (typeof staged)[number][] = [];
  for (const s of staged) {
    try {
      fs.renameSync(s.temp, s.target);
      temps.delete(s.temp);
      done.push(s);
    } catch (e) {
      for (const d of done.reverse()) {
        const backup = backups.get(d.target);
        try {
          if (backup !== undefined) {
            fs.renameSync(backup, d.target);
            temps.delete(backup);
          } else fs.unlinkSync(d.target);
        } catch {
          // Nothing more can be done; the error below names the failed file.
        }
      }
      fail(s.path, e);
    }
  }
  for (const b of backups.values()) forget(b);

  for (const f of all) if (f.kind === "special" || f.kind === "descriptor") writeInPlace(fs, f.path, f.target, f.bytes, f.kind === "descriptor");
}
