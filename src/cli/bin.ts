#!/usr/bin/env node
/**
 * The `mnc` executable. Standard output and error are written synchronously,
 * byte for byte, so that a failure is known where it happens:
 * - standard output closed by its reader (`mnc report … | head -1`, EPIPE) ends
 *   mnc quietly with exit 0 — the reader has what it wanted;
 * - any other failure (a full disk: `> /dev/full`) is said on standard error
 *   and ends mnc with exit 1.
 * A failure on standard error itself is ignored: there is nowhere left to say it.
 */
import { writeSync } from "node:fs";
import { main } from "./main.js";

const EXIT_ERRORS = 1;

const WHY: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EIO: "input/output error",
  EBADF: "it is closed",
  EFBIG: "file too large",
};

/** Write every byte to `fd`, waiting out a full non-blocking pipe. */
function writeAll(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let written = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (written < bytes.length) {
    try {
      written += writeSync(fd, bytes, written, bytes.length - written);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

function toStdout(data: string | Uint8Array): void {
  try {
    writeAll(1, data);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "EPIPE") process.exit(0);
    toStderr(`mnc: error: cannot write standard output: ${WHY[code] ?? (/^[A-Z0-9]+: ([^,]+)/.exec((e as Error).message)?.[1] ?? "the system refused it")}\n`);
    process.exit(EXIT_ERRORS);
  }
}

function toStderr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // Nowhere left to say it.
  }
}

process.exitCode = main(process.argv.slice(2), { out: toStdout, err: toStderr, bytes: toStdout });
