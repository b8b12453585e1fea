/**
 * The report's layers as CSV: the convention as `#` comments, then one row per
 * layer and a total; exact integers. The `ratio` and `elementwise` columns
 * appear only for networks that have ratio convolutions (expansion, SE) or add
 * and mul layers, and the `inputs` column only for graphs (a layer that reads
 * other than the row before it, beyond residual adds and SE scaling), so other
 * networks' files read as they always have. The int8 columns appear only in
 * a report with int8 memory (a quantized graph, or `--int8`); their total row
 * holds the weight totals and, under int8_live_bytes, the peak.
 */
import type { Report } from "./model.js";
import { csvLine } from "./format.js";
import { hasInt8, ratioText, showsInputs } from "./text.js";

type Layer = Report["layers"][number];
type Cell = string | number;

interface CsvColumn {
  readonly header: string;
  readonly cell: (l: Layer) => Cell | readonly Cell[];
  /** The total row's cell, or cells for a column of several (the rest left empty). */
  readonly total: (r: Report) => Cell | readonly Cell[];
  readonly shown?: (r: Report) => boolean;
}

const none = (): Cell => "";

const int8Cells = (l: Layer, keys: readonly (keyof NonNullable<Layer["int8"]>)[]): Cell[] => keys.map((k) => l.int8?.[k] ?? "");

const COLUMNS: readonly CsvColumn[] = [
  { header: "name", cell: (l) => l.name, total: () => "total" },
  { header: "op", cell: (l) => l.op, total: none },
  { header: "layer", cell: (l) => l.layer, total: none },
  { header: "type", cell: (l) => l.type, total: none },
  // Every input of every layer, separated by spaces (layer names have none).
  { header: "inputs", cell: (l) => l.inputs.join(" "), total: none, shown: showsInputs },
  { header: "input_h,input_w,input_c", cell: (l) => l.inputShape ?? ["", "", ""], total: none },
  { header: "output_h,output_w,output_c", cell: (l) => l.outputShape, total: none },
  { header: "width", cell: (l) => l.width ?? "", total: none },
  { header: "ratio", cell: (l) => (l.ratio === null ? "" : ratioText(l.ratio)), total: none, shown: (r) => r.layers.some((l) => l.ratio !== null) },
  { header: "mult_adds", cell: (l) => l.multAdds, total: (r) => r.totals.multAdds },
  { header: "elementwise", cell: (l) => l.elementwise, total: (r) => r.totals.elementwise, shown: (r) => r.layers.some((l) => l.elementwise > 0) },
  { header: "weights", cell: (l) => l.weights, total: (r) => r.totals.weights },
  { header: "biases", cell: (l) => l.biases, total: (r) => r.totals.biases },
  { header: "params", cell: (l) => l.params, total: (r) => r.totals.params },
  { header: "bn_params", cell: (l) => l.bnParams, total: (r) => r.totals.bnParams },
  { header: "activation_bytes", cell: (l) => l.activationBytes, total: none },
  // int8 memory, only in a report that has it: the weight bytes' parts and total, the output and the live bytes (the total row: the peak).
  { header: "int8_kernel_bytes,int8_bias_bytes,int8_quant_bytes,int8_weight_bytes", cell: (l) => int8Cells(l, ["kernelBytes", "biasBytes", "quantBytes", "weightBytes"]), total: (r) => [r.int8?.kernelBytes ?? "", r.int8?.biasBytes ?? "", r.int8?.quantBytes ?? "", r.int8?.weightBytes ?? ""], shown: hasInt8 },
  { header: "int8_activation_bytes,int8_live_bytes", cell: (l) => int8Cells(l, ["activationBytes", "liveBytes"]), total: (r) => ["", r.int8?.peakActivationBytes ?? ""], shown: hasInt8 },
  { header: "line", cell: (l) => l.line, total: none },
];

export function reportCsv(r: Report): string {
  const columns = COLUMNS.filter((c) => c.shown?.(r) ?? true);
  const header = columns.flatMap((c) => c.header.split(","));
  const rows = r.layers.map((l) => columns.flatMap((c): Cell[] => {
    const v = c.cell(l);
    return Array.isArray(v) ? [...(v as readonly Cell[])] : [v as Cell];
  }));
  const total = columns.flatMap((c) => {
    const width = c.header.split(",").length;
    const cells = ([] as Cell[]).concat(c.total(r));
    return [...cells, ...Array<Cell>(width - cells.length).fill("")];
  });
  // The convention leads the file as '#' comment lines (pandas: read_csv(path, comment="#")).
  const convention = r.convention.map((c) => `# ${c}`);
  return [...convention, csvLine(header), ...rows.map(csvLine), csvLine(total)].join("\n") + "\n";
}
