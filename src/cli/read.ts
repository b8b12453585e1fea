/**
 * Reading the files mnc is given (a network, weights, labels, an input) with
 * limits: only a regular file is read (a directory, a device, a FIFO or a
 * socket is refused before it is opened for reading, so `/dev/zero` or a pipe
 * nobody writes to cannot exhaust memory or hang), a file whose size is over
 * the limit is refused, and the read itself stops one byte past the limit, as
 * a file's size as stat gives it is not trusted (`/proc` files say 0).
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** What a file is read as, and so its size limit. */
export type InputKind = "source" | "weights" | "labels" | "input";

/** The size limits in bytes: generous for their purpose, bounded for memory. */
export const READ_LIMITS: Record<InputKind, number> = {
  source: 16 * MiB,
  labels: 16 * MiB,
  input: 256 * MiB,
  weights: 4 * GiB,
};

/** A file that was not read, and why (a sentence to follow "cannot read …: "). */
export class ReadError extends Error {
  constructor(
    message: string,
    /** The file is a directory (reported as such by the caller). */
    readonly isDirectory = false,
  ) {
    super(message);
  }
}

const KIND_OF_FILE: readonly [(s: Stats) => boolean, string][] = [
  [(s) => s.isDirectory(), "a directory"],
  [(s) => s.isCharacterDevice(), "a character device"],
  [(s) => s.isBlockDevice(), "a block device"],
  [(s) => s.isFIFO(), "a FIFO (named pipe)"],
  [(s) => s.isSocket(), "a socket"],
];

function notRegular(s: Stats): ReadError | undefined {
  if (s.isFile()) return undefined;
  const kind = KIND_OF_FILE.find(([test]) => test(s))?.[1] ?? "not a regular file";
  return new ReadError(`it is ${kind}, not a regular file`, s.isDirectory());
}

/** `16 MiB`, `4 GiB`, or a byte count. */
export function showLimit(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return `${bytes} bytes`;
}

function tooLarge(what: string, limit: number): ReadError {
  return new ReadError(`it is larger than the ${showLimit(limit)} limit for ${what} files`);
}

const WHY: Record<string, string> = { ENOENT: "no such file", EACCES: "permission denied", EISDIR: "it is a directory" };

/**
 * The bytes of the regular file at `path`, at most `limit` of them, or a
 * ReadError saying why not. `what` names the file's role in the message.
 */
export function readBounded(path: string, what: string, limit: number): Uint8Array {
  let fd: number | undefined;
  try {
    const before = notRegular(statSync(path));
    if (before !== undefined) throw before;
    // Non-blocking, so a file swapped for a FIFO after the stat does not hang the open.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const stats = fstatSync(fd);
    const after = notRegular(stats);
    if (after !== undefined) throw after;
    if (stats.size > limit) throw tooLarge(what, limit);
    return readAll(fd, stats.size, what, limit);
  } catch (e) {
    if (e instanceof ReadError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ReadError(code !== undefined && code in WHY ? WHY[code]! : (e as Error).message, code === "EISDIR");
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const CHUNK = 64 * 1024;

/** Reads to the end of the file, refusing it once it passes `limit` bytes whatever its stated size. */
function readAll(fd: number, statedSize: number, what: string, limit: number): Uint8Array {
  let buffer = new Uint8Array(Math.min(limit, Math.max(statedSize, CHUNK)));
  let length = 0;
  const probe = new Uint8Array(1);
  for (;;) {
    if (length === buffer.length) {
      // Full: the end of the file, or one byte more (over the limit, or the buffer grows).
      if (readSync(fd, probe, 0, 1, null) === 0) break;
      if (length >= limit) throw tooLarge(what, limit);
      const grown = new Uint8Array(Math.min(limit, 2 * buffer.length + 1));
      grown.set(buffer);
      grown[length++] = probe[0]!;
      buffer = grown;
      continue;
    }
    const n = readSync(fd, buffer, length, Math.min(buffer.length - length, GiB), null);
    if (n === 0) break;
    length += n;
  }
  return length === buffer.length ? buffer : buffer.slice(0, length);
}
