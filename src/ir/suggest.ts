/** "Did you mean …?" — the closest candidate by edit distance, if it is close enough. */

/** Levenshtein distance, counting a swap of two adjacent letters as one edit. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = [];
  for (let i = 0; i <= m; i++) {
    const row = new Array<number>(n + 1).fill(0);
    row[0] = i;
    d.push(row);
  }
  for (let j = 0; j <= n; j++) d[0]![j] = j;
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[m]![n]!;
}

/**
 * The candidate closest to `name`, or undefined when none is plausibly a typo of it.
 * Ties go to the earlier candidate, so results are deterministic.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = name.toLowerCase();
  for (const candidate of candidates) {
    if (candidate === name) continue;
    const distance = candidate.toLowerCase() === lower ? 0.5 : editDistance(lower, candidate.toLowerCase());
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** " (did you mean 'x'?)" or the empty string. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const guess = closest(name, candidates);
  return guess === undefined ? "" : `; did you mean '${guess}'?`;
}

// ── names from other frameworks ────────────────────────────────────────────

/** A name as Keras and PyTorch spell it, folded: lower case, without `_` and `-`. */
function fold(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}

const AN_OPTION = "an activation is an option of the layer before it";
const PART_OF_CONV = "batch-norm is part of conv, dw and pw, on by default";

/**
 * Layer names of Keras and PyTorch (folded) and what mnc writes instead: a
 * statement, or — for layers that are options in mnc — how to say it.
 */
const STATEMENT_ALIASES: Readonly<Record<string, { readonly use: string; readonly how?: string }>> = {
  depthwise: { use: "dw" },
  depthwiseconv: { use: "dw" },
  depthwiseconv2d: { use: "dw" },
  dwconv: { use: "dw" },
  pointwise: { use: "pw" },
  pointwiseconv: { use: "pw" },
  pointwiseconv2d: { use: "pw" },
  conv2d: { use: "conv" },
  convolution: { use: "conv" },
  convolution2d: { use: "conv" },
  separableconv: { use: "separable" },
  separableconv2d: { use: "separable" },
  sepconv: { use: "separable" },
  sepconv2d: { use: "separable" },
  dense: { use: "fc" },
  linear: { use: "fc" },
  fullyconnected: { use: "fc" },
  invertedresidual: { use: "bottleneck" },
  mbconv: { use: "bottleneck" },
  squeezeexcitation: { use: "se" },
  squeezeexcite: { use: "se" },
  maxpool2d: { use: "maxpool" },
  maxpooling2d: { use: "maxpool" },
  avgpool2d: { use: "avgpool" },
  averagepooling2d: { use: "avgpool" },
  globalaveragepooling2d: { use: "avgpool global" },
  globalavgpool: { use: "avgpool global" },
  globalavgpool2d: { use: "avgpool global" },
  adaptiveavgpool2d: { use: "avgpool global" },
  relu: { use: "act=relu", how: AN_OPTION },
  relu6: { use: "act=relu6", how: AN_OPTION },
  hardswish: { use: "act=hswish", how: AN_OPTION },
  hswish: { use: "act=hswish", how: AN_OPTION },
  hardsigmoid: { use: "act=hsigmoid", how: AN_OPTION },
  hsigmoid: { use: "act=hsigmoid", how: AN_OPTION },
  activation: { use: "act=…", how: AN_OPTION },
  batchnorm: { use: "norm=batchnorm", how: PART_OF_CONV },
  batchnorm2d: { use: "norm=batchnorm", how: PART_OF_CONV },
  batchnormalization: { use: "norm=batchnorm", how: PART_OF_CONV },
  flatten: { use: "fc", how: "fc flattens its input itself" },
  concatenate: { use: "concat" },
  upsample: { use: "resize" },
  upsampling2d: { use: "resize" },
  interpolate: { use: "resize" },
  resizebilinear: { use: "resize" },
  convtranspose: { use: "deconv" },
  convtranspose2d: { use: "deconv" },
  conv2dtranspose: { use: "deconv" },
  multiply: { use: "mul" },
};


/**
 * Why a statement name is unknown and what to write instead: Keras' or
 * PyTorch's name for an op, a typo, or else the list of ops and blocks.
 */
export function statementHint(name: string, ops: readonly string[], structural: readonly string[], blocks: readonly string[]): string {
  const alias = STATEMENT_ALIASES[fold(name)];
  if (alias !== undefined && !ops.includes(name)) {
    if (alias.how === undefined) return `; mnc calls it '${alias.use}'`;
    const example = alias.use.startsWith("act=") ? ` ('conv 3x3 32 ${alias.use}', or 'defaults ${alias.use}' for every layer after it)` : "";
    return `; ${alias.how}: ${alias.use}${example}`;
  }
  const typo = didYouMean(name, [...ops, ...structural, ...blocks]);
  if (typo !== "") return typo;
  const known = `; the ops are ${ops.join(", ")}`;
  return blocks.length === 0 ? `${known} (the file declares no blocks)` : `${known}; the file's blocks are ${blocks.join(", ")}`;
}

/** Argument names of Keras and PyTorch (folded) and mnc's. */
const ARGUMENT_ALIASES: Readonly<Record<string, string>> = {
  activation: "act",
  kernelsize: "kernel",
  poolsize: "kernel",
  padding: "pad",
  strides: "stride",
  outchannels: "filters",
  outfeatures: "units",
  expansion: "expand",
  expandratio: "expand",
  expansionfactor: "expand",
  seratio: "se",
  p: "rate",
};

/**
 * Why an argument name is unknown: Keras' or PyTorch's name for one the
 * callee takes (shown with its value), a typo, or else the list of what the
 * callee takes. `value` is the argument's value as written, when simple.
 */
export function argumentHint(callee: string, name: string, value: string | undefined, params: readonly string[], kind: "op" | "block"): string {
  const alias = ARGUMENT_ALIASES[fold(name)];
  if (alias !== undefined && params.includes(alias)) return `; mnc calls it '${alias}': ${alias}=${value ?? "…"}`;
  const typo = didYouMean(name, params);
  if (typo !== "") return typo;
  if (kind === "block") return params.length === 0 ? `; block '${callee}' has no parameters` : `; block '${callee}' has parameters ${params.join(", ")}`;
  return params.length === 0 ? `; '${callee}' takes no arguments` : `; '${callee}' takes ${params.join(", ")}`;
}
