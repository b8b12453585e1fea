/**
 * An α × resolution sweep — the paper's Tables 6 and 7 in one command — as
 * data and as text, Markdown and CSV. (HTML and SVG: html.ts, svg.ts.)
 */
import { bytes, csvLine, group, markdownTable, type Align } from "./format.js";
import { SWEEP_CONVENTION } from "./model.js";

export interface SweepPoint {
  readonly alpha: number;
  readonly resolution: number;
  readonly multAdds: number;
  readonly weights: number;
  readonly params: number;
  readonly peakActivationBytes: number;
}

export interface Sweep {
  readonly mnc: string;
  readonly network: string;
  readonly alphas: readonly number[];
  readonly resolutions: readonly number[];
  /** Row-major: every resolution of the first α, then the next α. */
  readonly points: readonly SweepPoint[];
}

export function sweepPoint(s: Sweep, alpha: number, resolution: number): SweepPoint {
  const p = s.points.find((x) => x.alpha === alpha && x.resolution === resolution);
  if (p === undefined) throw new Error(`no sweep point for α ${alpha} at ${resolution}`);
  return p;
}

export type Metric = { readonly title: string; readonly value: (p: SweepPoint) => string };

/** The grids every sweep format shows. */
export const METRICS: readonly Metric[] = [
  { title: "Mult-adds", value: (p) => group(p.multAdds) },
  { title: "Parameters (weights + biases)", value: (p) => group(p.params) },
  { title: "Peak activation memory (float32, batch 1)", value: (p) => bytes(p.peakActivationBytes) },
];

function grid(s: Sweep, m: Metric): { header: string[]; rows: string[][]; align: Align[] } {
  return {
    header: ["α \\ resolution", ...s.resolutions.map(String)],
    rows: s.alphas.map((a) => [String(a), ...s.resolutions.map((r) => m.value(sweepPoint(s, a, r)))]),
    align: ["left", ...s.resolutions.map((): Align => "right")],
  };
}

export function sweepText(s: Sweep): string {
  const out: string[] = [`${s.network} — α × resolution sweep`, ""];
  for (const m of METRICS) {
    const g = grid(s, m);
    const widths = g.header.map((h, i) => Math.max(h.length, ...g.rows.map((r) => r[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
    out.push(m.title, "", line(g.header), widths.map((w) => "-".repeat(w)).join("  "), ...g.rows.map(line), "");
  }
  out.push("Convention", "", ...SWEEP_CONVENTION.map((c) => `  - ${c}`), "");
  return out.join("\n");
}

export function sweepMarkdown(s: Sweep): string {
  const out: string[] = [`# ${s.network} — α × resolution sweep`, ""];
  for (const m of METRICS) {
    const g = grid(s, m);
    out.push(`## ${m.title}`, "", ...markdownTable(g.header, g.rows, g.align), "");
  }
  out.push("## Convention", "", ...SWEEP_CONVENTION.map((c) => `- ${c}`), "");
  return out.join("\n");
}

export function sweepCsv(s: Sweep): string {
  const header = ["alpha", "resolution", "mult_adds", "weights", "params", "peak_activation_bytes"];
  return [...SWEEP_CONVENTION.map((c) => `# ${c}`), csvLine(header), ...s.points.map((p) => csvLine([p.alpha, p.resolution, p.multAdds, p.weights, p.params, p.peakActivationBytes]))].join("\n") + "\n";
}

export function sweepJson(s: Sweep): string {
  return JSON.stringify(s, null, 2) + "\n";
}
