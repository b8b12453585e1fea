/**
 * npm run bench:compile — how long `mnc compile` takes, as a user runs it:
 * the wall time of a `node dist/mnc.js compile …` child process (start-up,
 * parsing, passes, seeded weights, batch-norm fusion and its certificate, the
 * emitter, writing the files), for MobileNetV1 and MobileNetV2 1.0-224, to
 * ONNX and with --emit ts. The target is 0.5 s each.
 *
 * Each case runs --runs N times (default 7) after one untimed warm-up run (the
 * operating system's file cache); the table gives the median and the range.
 * `node dist/mnc.js --version` is timed the same way: the floor that Node's
 * start-up and loading the bundle set. On Linux the child's CPU time (user +
 * system, all its threads, from /proc/self/stat's cutime and cstime; 10 ms
 * steps) is given too: on a busy machine the wall time swings with the load,
 * printed with the table, and the CPU time much less. Outputs go to a
 * temporary directory.
 * Run `npm run build` first; --only v1|v2 keeps one network; --mnc FILE times
 * another build of the CLI (an older commit's bundle, to compare); exits 1
 * when a median is over the target.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { flag } from "./args.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const runs = Number(flag("runs") ?? 7);
const only = flag("only");
const TARGET_SECONDS = 0.5;

const out = mkdtempSync(join(tmpdir(), "mnc-bench-compile-"));
const mnc = flag("mnc") ?? join(root, "dist", "mnc.js");

interface Case {
  readonly label: string;
  readonly args: readonly string[];
  /** Held to the target. */
  readonly target: boolean;
}

const NETWORKS = [
  { key: "v1", example: "mobilenet_v1" },
  { key: "v2", example: "mobilenet_v2" },
].filter((n) => only === undefined || n.key === only);

const CASES: Case[] = [
  { label: "node dist/mnc.js --version", args: ["--version"], target: false },
  ...NETWORKS.flatMap(({ example }): Case[] => {
    const source = join(root, "examples", `${example}.mn`);
    return [
      { label: `compile ${example}.mn (ONNX)`, args: ["compile", source, "-o", join(out, `${example}.onnx`)], target: true },
      { label: `compile ${example}.mn --emit ts`, args: ["compile", source, "--emit", "ts", "-o", join(out, `${example}.ts`)], target: true },
    ];
  }),
];

/** CPU seconds of the waited-for children so far (Linux: fields 16 and 17 of /proc/self/stat, in clock ticks of 1/100 s). */
function childCpu(): number | undefined {
  if (!existsSync("/proc/self/stat")) return undefined;
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

function once(c: Case): { wall: number; cpu: number | undefined } {
  const cpu0 = childCpu();
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [mnc, ...c.args], { cwd: root, encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu1 = childCpu();
  if (r.status !== 0) throw new Error(`${c.label} exited with ${r.status}:\n${r.stderr}`);
  return { wall, cpu: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

let over = 0;
try {
  console.log(`${mnc}: mnc compile, wall time of the child process, median of ${runs} runs (range); target ${TARGET_SECONDS} s\n`);
  console.log(`| case | median s | min–max s | median CPU s | |`);
  console.log(`|---|---:|---:|---:|---|`);
  for (const c of CASES) {
    once(c);
    const samples = Array.from({ length: runs }, () => once(c));
    const times = samples.map((s) => s.wall);
    const m = median(times);
    const cpus = samples.flatMap((s) => (s.cpu === undefined ? [] : [s.cpu]));
    const cpu = cpus.length === 0 ? "—" : median(cpus).toFixed(2);
    const verdict = !c.target ? "" : m < TARGET_SECONDS ? "ok" : "over";
    if (verdict === "over") over++;
    console.log(`| ${c.label} | ${m.toFixed(3)} | ${Math.min(...times).toFixed(3)}–${Math.max(...times).toFixed(3)} | ${cpu} | ${verdict} |`);
  }
  console.log(`\nload average (1, 5, 15 min): ${loadavg().map((l) => l.toFixed(2)).join(", ")} on ${availableParallelism()} cores`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (over > 0) {
  console.log(`\n${over} case${over === 1 ? "" : "s"} over ${TARGET_SECONDS} s`);
  process.exitCode = 1;
}
