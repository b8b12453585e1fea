/** The report's layers as CSV: the convention as `#` comments, then one row per layer and a total; exact integers. */
import type { Report } from "./model.js";
import { csvLine } from "./format.js";

export function reportCsv(r: Report): string {
  const header = ["name", "op", "layer", "type", "input_h", "input_w", "input_c", "output_h", "output_w", "output_c", "width", "mult_adds", "weights", "biases", "params", "bn_params", "activation_bytes", "line"];
  const rows = r.layers.map((l) => [
    l.name,
    l.op,
    l.layer,
    l.type,
    ...(l.inputShape ?? ["", "", ""]),
    ...l.outputShape,
    l.width ?? "",
    l.multAdds,
    l.weights,
    l.biases,
    l.params,
    l.bnParams,
    l.activationBytes,
    l.line,
  ]);
  const t = r.totals;
  const total = ["total", "", "", "", "", "", "", "", "", "", "", t.multAdds, t.weights, t.biases, t.params, t.bnParams, "", ""];
  // The convention leads the file as '#' comment lines (pandas: read_csv(path, comment="#")).
  const convention = r.convention.map((c) => `# ${c}`);
  return [...convention, csvLine(header), ...rows.map(csvLine), csvLine(total)].join("\n") + "\n";
}
