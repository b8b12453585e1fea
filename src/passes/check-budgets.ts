/**
 * check-budgets — an analysis: fail a network that costs more than the user
 * allows (`--max-mult-adds 300M`, `--max-params 2.5M`), naming the figure,
 * the budget and the heaviest layers, each pointing at its source line.
 */
import { error, errorWith, type Diagnostic, type RelatedInformation } from "../ir/diagnostics.js";
import type { CostAnalysis, LayerCost } from "./analyze-costs.js";

export interface Budgets {
  readonly multAdds?: number;
  readonly params?: number;
}

const HEAVIEST = 3;

export function checkBudgets(costs: CostAnalysis, budgets: Budgets): Diagnostic[] {
  const out: Diagnostic[] = [];
  const check = (what: "mult-adds" | "params", flag: string, limit: number | undefined, value: (l: LayerCost | CostAnalysis["totals"]) => number): void => {
    const total = value(costs.totals);
    if (limit === undefined || total <= limit) return;
        // Heaviest first; equal layers in graph order (the sort is stable).
    const heaviest = [...costs.layers].sort((a, b) => value(b) - value(a)).slice(0, HEAVIEST).filter((l) => value(l) > 0);
    const related: RelatedInformation[] = heaviest.map((l) => ({
      message: `${l.node.id}: ${value(l).toLocaleString("en-US")} ${what} (${((100 * value(l)) / total).toFixed(1)} %)`,
      span: l.node.span,
    }));
    out.push(errorWith("budgetExceeded", undefined, related, what, total, limit, flag, heaviest.map((l) => l.node.id)));
  };
  check("mult-adds", "--max-mult-adds", budgets.multAdds, (l) => l.multAdds);
  check("params", "--max-params", budgets.params, (l) => l.params);
  return out;
}

/** float32 bytes one layer's weights, or one activation tensor, may take: 1 GiB. */
export const MAX_TENSOR_BYTES = 1 << 30;
/** float32 bytes all weights together may take: 2 GiB. */
export const MAX_WEIGHT_BYTES = 2 * (1 << 30);

/**
 * Limits checked before anything is allocated (weights, activations): a
 * network beyond them gets a diagnostic naming the layer, not an exhausted heap.
 */
export function checkMemoryLimits(costs: CostAnalysis): Diagnostic[] {
  const out: Diagnostic[] = [];
  let total = 0;
  for (const l of costs.layers) {
    const weightBytes = 4 * (l.weights + l.biases + l.bnParams);
    total += weightBytes;
    const activation = 4 * l.outputShape[0] * l.outputShape[1] * l.outputShape[2];
    if (weightBytes > MAX_TENSOR_BYTES) out.push(error("memoryLimit", l.node.span, "the weights", l.node.id, weightBytes, MAX_TENSOR_BYTES));
    else if (activation > MAX_TENSOR_BYTES) out.push(error("memoryLimit", l.node.span, "the output", l.node.id, activation, MAX_TENSOR_BYTES));
    else if (total > MAX_WEIGHT_BYTES) out.push(error("memoryLimit", l.node.span, "the weights up to and including", l.node.id, total, MAX_WEIGHT_BYTES));
    if (out.length > 0) break;
  }
  return out;
}
