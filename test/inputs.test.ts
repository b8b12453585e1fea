/**
 * The files mnc reads: only regular files, under a size limit, read with a
 * bounded read; images refused from their headers when they declare too many
 * pixels; JPEG and PNG bytes decoded as images whatever their length; labels
 * with CRLF line ends; an antialiased photo resize.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeJpeg, loadInput } from "../src/cli/image.js";
import { READ_LIMITS, readBounded, ReadError } from "../src/cli/read.js";
import { imagePixels, MAX_IMAGE_PIXELS } from "../src/image/index.js";
import { root } from "./helpers.js";

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function mnc(...args: string[]): Result {
  const r = spawnSync(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, encoding: "utf8", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** mnc run asynchronously, killed after `ms` so a hang fails the test rather than stalling it. */
function mncWithin(ms: number, ...args: string[]): Promise<Result & { timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, "dist", "mnc.js"), ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, ms);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, timedOut });
    });
  });
}

const work = mkdtempSync(join(tmpdir(), "mnc-inputs-"));

function file(name: string, content: string | Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

/** A sparse file of `size` bytes (none written). */
function sparse(name: string, size: number): string {
  const path = join(work, name);
  closeSync(openSync(path, "w"));
  truncateSync(path, size);
  return path;
}

const TINY = `network Tiny(classes = 4) {
  input 16x16x3
  conv 3x3 8 stride=2 act=relu
  avgpool global
  fc classes
  softmax
}
`;

// An 8x8 colour gradient, baseline JPEG (298 bytes), made with MozJPEG.
const JPEG_8X8 = Buffer.from(
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wCEAAMDAwMDAwQEBAQFBQUFBQcHBgYHBwsICQgJCAsRCwwLCwwLEQ8SDw4PEg8bFRMTFRsfGhkaHyYiIiYwLTA+PlQBAwMDAwMDBAQEBAUFBQUFBwcGBgcHCwgJCAkICxELDAsLDAsRDxIPDg8SDxsVExMVGx8aGRofJiIiJjAtMD4+VP/AABEIAAgACAMBEQACEQEDEQH/xABYAAEAAAAAAAAAAAAAAAAAAAAGEAAABwAAAAAAAAAAAAAAAAAABgckMkFRAQEBAAAAAAAAAAAAAAAAAAADBhEAAQQDAAAAAAAAAAAAAAAABwAjQVEGMzT/2gAMAwEAAhEDEQA/ABJWRSDfKFCW893u3KINEzneqV//2Q==",
  "base64",
);

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid-looking PNG of a few bytes whose IHDR declares width×height RGB pixels. */
function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.alloc(4))), chunk("IEND", new Uint8Array())]);
}

/** The 8x8 JPEG with its frame header saying width×height, padded with zeros to `length` bytes. */
function jpegDeclaring(width: number, height: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  JPEG_8X8.copy(b);
  const sof = b.indexOf(Buffer.from([0xff, 0xc0]));
  expect(sof).toBeGreaterThan(0);
  b.writeUInt16BE(height, sof + 5);
  b.writeUInt16BE(width, sof + 7);
  return b;
}

describe("decompression bombs", () => {
  it("a 69-byte PNG declaring 25000x25000 is refused from its header, quickly", () => {
    const png = pngDeclaring(25000, 25000);
    expect(png.length).toBe(69);
    const start = performance.now();
    expect(() => loadInput(png, [16, 16, 3], { mean: 0, std: 1 })).toThrow(
      `the PNG declares 25000x25000 pixels (625,000,000), over the limit of ${MAX_IMAGE_PIXELS.toLocaleString("en-US")} pixels`,
    );
    expect(performance.now() - start).toBeLessThan(2000);
  });

  it("a 700-byte JPEG declaring 9000x9000 is refused from its frame header, quickly", () => {
    const jpeg = jpegDeclaring(9000, 9000, 700);
    const start = performance.now();
    expect(() => decodeJpeg(jpeg)).toThrow(/^the JPEG declares 9000x9000 pixels \(81,000,000\), over the limit of 50,000,000 pixels$/);
    expect(performance.now() - start).toBeLessThan(2000);
  });

  it("a JPEG with bytes between its markers is measured as libjpeg reads it", () => {
    // Garbage before the frame header (which libjpeg skips with a warning) does not hide it.
    const bomb = jpegDeclaring(9000, 9000, 700);
    const sof = bomb.indexOf(Buffer.from([0xff, 0xc0]));
    const hidden = Buffer.concat([bomb.subarray(0, sof), Buffer.from([0x00, 0x12, 0x34]), bomb.subarray(sof)]);
    expect(() => decodeJpeg(hidden)).toThrow(/over the limit of 50,000,000 pixels/);
    // No frame header at all: refused, not handed to the decoder to guess.
    expect(() => decodeJpeg(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]))).toThrow("cannot decode the JPEG: no frame header (SOF marker) before the image data");
  });

  it("mnc run refuses both, exit 1 naming the file and the limit", () => {
    const png = file("bomb.png", pngDeclaring(25000, 25000));
    const jpeg = file("bomb.jpg", jpegDeclaring(9000, 9000, 700));
    const net = file("tiny.mn", TINY);
    for (const [path, what] of [[png, "PNG declares 25000x25000"], [jpeg, "JPEG declares 9000x9000"]] as const) {
      const r = mnc("run", net, "--input", path);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`mnc: error: ${path}: the ${what} pixels (${what.startsWith("PNG") ? "625,000,000" : "81,000,000"}), over the limit of 50,000,000 pixels\n`);
    }
  }, 30_000);
});

describe("JPEG bytes are decoded as a JPEG whatever their length", () => {
  it("a JPEG padded to exactly H·W·C bytes is the photo, not raw pixels", () => {
    const net = file("tiny.mn", TINY);
    const size = 16 * 16 * 3;
    const padded = file("padded.jpg", jpegDeclaring(8, 8, size));
    const pixels = imagePixels(decodeJpeg(JPEG_8X8), [16, 16, 3]);
    const raw = file("decoded.raw", pixels);
    const asJpeg = mnc("run", net, "--input", padded);
    const asRaw = mnc("run", net, "--input", raw);
    expect(asJpeg.status).toBe(0);
    expect(asRaw.status).toBe(0);
    const ranking = (r: Result): string => r.stdout.split("\n").slice(1).join("\n");
    expect(ranking(asJpeg)).toBe(ranking(asRaw));
    // The same tensor as the library computes, and not the bytes read as pixels.
    const tensor = loadInput(jpegDeclaring(8, 8, size), [16, 16, 3], { mean: 0, std: 1 });
    expect([...tensor]).toEqual([...pixels]);
    expect([...tensor]).not.toEqual([...jpegDeclaring(8, 8, size)]);
  }, 30_000);

  it("a JPEG cut to exactly H·W·C bytes is decoded (or refused) as a JPEG", () => {
    const cut = JPEG_8X8.subarray(0, 8 * 8 * 3);
    let tensor: Float32Array | undefined;
    try {
      tensor = loadInput(cut, [8, 8, 3], { mean: 0, std: 1 });
    } catch (e) {
      expect((e as Error).message).toMatch(/^cannot decode the JPEG/);
    }
    if (tensor !== undefined) expect([...tensor]).not.toEqual([...cut]);
  });

  it("a PNG of exactly H·W·C bytes is decoded as a PNG", () => {
    const png = pngDeclaring(25000, 25000);
    const size = png.length;
    expect(size % 3).toBe(0);
    expect(() => loadInput(png, [1, size / 3, 3], { mean: 0, std: 1 })).toThrow(/the PNG declares 25000x25000/);
  });
});

describe("bounded reads", () => {
  it("mnc check /dev/zero is refused at once: a character device", async () => {
    const r = await mncWithin(20_000, "check", "/dev/zero");
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("mnc: error: cannot read '/dev/zero': it is a character device, not a regular file\n");
  }, 30_000);

  it("a directory is refused, as a network, weights, labels and an input", () => {
    const dir = join(work, "a-directory");
    mkdirSync(dir, { recursive: true });
    const net = file("tiny.mn", TINY);
    expect(mnc("check", dir)).toMatchObject({ status: 1, stderr: `mnc: error: '${dir}' is a directory, not a .mn file\n` });
    expect(mnc("compile", net, "--weights", dir, "-o", join(work, "x.onnx"))).toMatchObject({ status: 1, stderr: `mnc: error: the weights '${dir}' is a directory\n` });
    expect(mnc("run", net, "--input", dir)).toMatchObject({ status: 1, stderr: `mnc: error: the input '${dir}' is a directory\n` });
    expect(mnc("run", net, "--input", dir, "--labels", dir)).toMatchObject({ status: 1, stderr: `mnc: error: the labels '${dir}' is a directory\n` });
  }, 30_000);

  it("a FIFO is refused without waiting for a writer", async () => {
    const fifo = join(work, "pipe.mn");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const r = await mncWithin(10_000, "check", fifo);
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mnc: error: cannot read '${fifo}': it is a FIFO (named pipe), not a regular file\n`);
    const net = file("tiny.mn", TINY);
    const input = await mncWithin(10_000, "run", net, "--input", fifo);
    expect(input.timedOut).toBe(false);
    expect(input.stderr).toBe(`mnc: error: cannot read the input '${fifo}': it is a FIFO (named pipe), not a regular file\n`);
  }, 30_000);

  it("a file over its limit is refused naming the limit (sparse files: nothing is written)", () => {
    const net = file("tiny.mn", TINY);
    const source = sparse("huge.mn", READ_LIMITS.source + 1);
    expect(mnc("check", source)).toMatchObject({ status: 1, stderr: `mnc: error: cannot read '${source}': it is larger than the 16 MiB limit for network files\n` });
    const labels = sparse("huge.txt", READ_LIMITS.labels + 1);
    const image = sparse("huge.jpg", READ_LIMITS.input + 1);
    expect(mnc("run", net, "--input", image)).toMatchObject({ status: 1, stderr: `mnc: error: cannot read the input '${image}': it is larger than the 256 MiB limit for input files\n` });
    expect(mnc("run", net, "--input", image, "--labels", labels)).toMatchObject({ status: 1, stderr: `mnc: error: cannot read the labels '${labels}': it is larger than the 16 MiB limit for labels files\n` });
    const weights = sparse("huge.safetensors", READ_LIMITS.weights + 1);
    expect(mnc("compile", net, "--weights", weights, "-o", join(work, "y.onnx"))).toMatchObject({ status: 1, stderr: `mnc: error: cannot read the weights '${weights}': it is larger than the 4 GiB limit for weights files\n` });
    // Exactly at the limit is read.
    const atLimit = sparse("at-limit.mn", READ_LIMITS.source);
    expect(readBounded(atLimit, "network", READ_LIMITS.source).length).toBe(READ_LIMITS.source);
  }, 60_000);

  it("the read stops past the limit whatever the file's stated size", () => {
    // /proc files state a size of 0; a regular file stands in where there is no /proc.
    const stated0 = "/proc/self/status";
    let path = stated0;
    try {
      readBounded(stated0, "status", 1 << 20);
    } catch {
      path = file("status.txt", "x".repeat(200));
    }
    expect(readBounded(path, "status", 1 << 20).length).toBeGreaterThan(16);
    expect(() => readBounded(path, "status", 16)).toThrow(new ReadError("it is larger than the 16 bytes limit for status files"));
    // Reads of every length up to the limit give the file's bytes.
    const bytes = Uint8Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff);
    const small = file("small.bin", bytes);
    expect(readBounded(small, "test", 200)).toEqual(bytes);
    expect(() => readBounded(small, "test", 199)).toThrow(/larger than the 199 bytes limit/);
  });
});

describe("labels and resizing", () => {
  it("labels with CRLF line ends are clean names", () => {
    const net = file("tiny.mn", TINY);
    const labels = file("crlf.txt", "alpha\r\nbeta\r\ngamma\r\ndelta\r\n");
    const input = file("grey.raw", new Uint8Array(16 * 16 * 3).fill(128));
    const r = mnc("run", net, "--input", input, "--labels", labels, "--top", "4");
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/\r/);
    const names = r.stdout.split("\n").slice(1, 5).map((line) => /^\s+\d\. (\S+)\s/.exec(line)?.[1]);
    expect(names.sort()).toEqual(["alpha", "beta", "delta", "gamma"]);
  }, 30_000);

  it("a photo's resize antialiases: a fine checkerboard shrinks to mid-grey", () => {
    const size = 224;
    const data = new Uint8Array(size * size * 4);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = (x + y) % 2 === 0 ? 255 : 0;
        data.set([v, v, v, 255], (y * size + x) * 4);
      }
    }
    const small = imagePixels({ width: size, height: size, data }, [15, 15, 3]);
    // Point sampling gives 0 or 255, a two-tap bilinear mostly one of the pair (the scale is not whole);
    // a filter as wide as the scale averages ~15 source pixels a side: ~127.5.
    for (const v of small) expect(Math.abs(v - 127.5)).toBeLessThanOrEqual(3);
    const grey = imagePixels({ width: size, height: size, data }, [9, 9, 1]);
    for (const v of grey) expect(Math.abs(v - 127.5)).toBeLessThanOrEqual(3);
  });
});
