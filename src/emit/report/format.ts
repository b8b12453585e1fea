/** Number and table formatting shared by the report's text formats. Deterministic: no locale. */

/** 1234567 → "1,234,567". */
export function group(n: number): string {
  const sign = n < 0 ? "-" : "";
  const digits = String(Math.abs(Math.trunc(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A percentage with two decimals: 94.8566… → "94.86 %". */
export function percent(p: number): string {
  return `${p.toFixed(2)} %`;
}

/** 17_234_567 bytes → "17,234,567 B (16.44 MiB)". */
export function bytes(n: number): string {
  const units = ["KiB", "MiB", "GiB"];
  let v = n;
  let unit = "";
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit === "" ? `${group(n)} B` : `${group(n)} B (${v.toFixed(2)} ${unit})`;
}

/** 568740352 → "568.74 M". */
export function short(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} k`;
  return String(n);
}

export function shape(s: readonly number[] | null): string {
  return s === null ? "" : s.join("x");
}

export function width(w: number | null): string {
  return w === null ? "" : String(w);
}

export type Align = "left" | "right";

/** A plain-text table: a header row, a rule, the rows; columns padded to fit. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (align[i] === "right" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/** A Markdown (GFM) table. Cells are escaped for `|`. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[]): string[] {
  const esc = (c: string): string => c.replace(/\|/g, "\\|");
  return [
    `| ${header.map(esc).join(" | ")} |`,
    `|${align.map((a) => (a === "right" ? "---:" : "---")).join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ];
}

/** RFC 4180 CSV: quote fields that need it. */
export function csvLine(cells: readonly (string | number)[]): string {
  return cells
    .map((c) => {
      const s = String(c);
      return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    })
    .join(",");
}
