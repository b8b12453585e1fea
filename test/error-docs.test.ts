/**
 * docs/errors.md is generated from the catalogue — every code, its summary,
 * an example that triggers it and what mnc prints — so it cannot drift.
 * Regenerate with `npx vitest run -u test/error-docs.test.ts` and review the diff.
 */
import { expect, it } from "vitest";
import { compile } from "../src/index.js";
import { Messages } from "../src/ir/diagnostics.js";
import { renderDiagnostic } from "../src/ir/render.js";
import { exampleOptions } from "./helpers.js";

function flags(options: NonNullable<(typeof Messages)[keyof typeof Messages]["example"]["options"]>): string {
  const parts: string[] = [];
  if (options.network !== undefined) parts.push(`--network ${options.network}`);
  for (const [k, v] of Object.entries(options.set ?? {})) parts.push(`--set ${k}=${v}`);
  if (options.alpha !== undefined) parts.push(`--alpha ${options.alpha}`);
  if (options.resolution !== undefined) parts.push(`--resolution ${options.resolution}`);
  if (options.rho !== undefined) parts.push(`--rho ${options.rho}`);
  if (options.budgets?.multAdds !== undefined) parts.push(`--max-mult-adds ${options.budgets.multAdds}`);
  if (options.budgets?.params !== undefined) parts.push(`--max-params ${options.budgets.params}`);
  if (options.labels !== undefined) parts.push(`--labels labels.txt (${options.labels.length} lines: ${options.labels.join(", ")})`);
  if (options.weights !== undefined) {
    const w = options.weights;
    parts.push("tflite" in w ? `--weights ${w.tflite}.tflite${w.corrupt === undefined ? "" : ` (corrupted: ${w.corrupt})`}` : "bytes" in w ? "--weights w.bin" : `--weights w.safetensors (${w.tensors.map((t) => `${t.name} [${t.shape.join(", ")}]`).join(", ")})`);
  }
  if (options.quantized === true) parts.push("--quantized");
  return parts.join(" ");
}

it("docs/errors.md lists every code with a working example", async () => {
  const entries = Object.values(Messages).sort((a, b) => a.code.localeCompare(b.code));
  const ranges: Record<string, string> = {
    "1": "Syntax",
    "2": "Names, arguments and statements",
    "3": "Shapes, widths, resolutions and limits",
    "4": "Weights",
    "5": "Output",
    "6": "Warnings",
  };
  const out: string[] = [
    "# mnc error codes",
    "",
    "<!-- Generated from src/ir/diagnostics.ts by test/error-docs.test.ts; do not edit by hand. -->",
    "",
    "Every message mnc gives has a stable code. A problem in the input is printed as",
    "`FILE:LINE:COL: error MNxxxx: message`, followed by the source line and a caret under the",
    "span; a problem in a command-line option has no location. mnc exits with status 1.",
    "",
    "The MN6xxx codes are warnings — legal input that is probably a mistake — printed as",
    "`FILE:LINE:COL: warning MNxxxx: message`. They do not change the exit status unless",
    "`--warnings-as-errors` is given (then mnc exits with status 1 and writes nothing).",
    "",
  ];
  let range = "";
  for (const e of entries) {
    const r = e.code[2]!;
    if (r !== range) {
      range = r;
      out.push(`## MN${r}xxx — ${ranges[r]}`, "");
    }
    const { source, options } = e.example;
    const result = compile(source, { file: "example.mn", ...exampleOptions(e.example) });
    // A weight file's summary (MN4011) comes before the per-layer MN4xxx details it sums up.
    const summary = Messages.weightFileSummary.code;
    expect(result.diagnostics.every((d) => d.code === e.code || (d.code.startsWith("MN4") && (e.code === summary || d.code === summary)))).toBe(true);
    out.push(`### ${e.code}: ${e.summary}`, "", "```", source.trimEnd(), "```", "");
    if (options !== undefined) out.push(`with \`${flags(options)}\``, "");
    out.push("```", ...result.diagnostics.map((d) => renderDiagnostic(d, source)), "```", "");
  }
  await expect(out.join("\n")).toMatchFileSnapshot("../docs/errors.md");
});
