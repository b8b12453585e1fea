/** The report as one JSON object (schema: docs/report.md). */
import type { Report } from "./model.js";

export function reportJson(r: Report): string {
  return JSON.stringify(r, null, 2) + "\n";
}
