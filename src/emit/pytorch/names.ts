/**
 * Names in the emitted Python: local variables for tensors, attribute paths
 * for layers (`self.bneck_2.expand`). The output names are
 * src/emit/output-names.ts's, as the ONNX model's.
 */

const KEYWORDS = [
  "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
  "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
  "while", "with", "yield", "match", "case", "type",
];

/**
 * Names an nn.Module already answers to (torch 1.13 and 2.x) and the
 * attributes of the file's helper modules: a layer id part among them cannot
 * be reached as `self.part` and goes through add_layer / layer instead.
 */
const MODULE_ATTRIBUTES = [
  "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu", "cuda", "double",
  "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half",
  "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
  "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
  "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_module",
  "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
  "set_submodule", "share_memory", "smart_apply", "state_dict", "to", "to_empty", "train", "training", "xpu", "zero_grad",
  // The helper modules' own attributes (Conv, ConvTranspose, BatchNorm, nn.Linear, nn.Dropout).
  "weight", "bias", "bn", "act", "stride", "padding", "pad", "crop", "dilation", "groups", "eps", "momentum", "gamma", "beta", "mean",
  "variance", "in_features", "out_features", "p", "inplace",
];

const RESERVED_PARTS: ReadonlySet<string> = new Set([...KEYWORDS, ...MODULE_ATTRIBUTES]);

/** A layer's child that would collide with the tensors of the layer itself. */
export const LAYER_TENSOR_NAMES: ReadonlySet<string> = new Set(["weight", "bias", "bn"]);

/** Whether every part of a layer id can be written as a Python attribute (`self.a.b`). */
export function isPlainPath(parts: readonly string[]): boolean {
  return parts.every((p) => /^[A-Za-z][A-Za-z0-9_]*$/.test(p) && !RESERVED_PARTS.has(p));
}

/** Names a forward() local must not take: the file's modules, helpers and the input. */
const TAKEN_LOCALS = [
  ...KEYWORDS, "self", "x", "torch", "nn", "F", "json", "math", "struct", "sys", "resize", "resize_axis", "max_pool_same", "avg_pool_same",
  "layer", "add_layer", "init_weights", "print", "len", "range", "list", "tuple", "dict", "min", "max", "sum", "input",
];

/** Python identifiers for tensors, one per id, unique: `bneck_1.se.scale` → `bneck_1_se_scale`. */
export class Locals {
  private readonly taken = new Set<string>(TAKEN_LOCALS);
  private readonly byId = new Map<string, string>();

  name(id: string): string {
    const known = this.byId.get(id);
    if (known !== undefined) return known;
    let base = id.replace(/[^A-Za-z0-9_]/g, "_");
    if (base === "" || /^[0-9]/.test(base)) base = `_${base}`;
    let name = base;
    for (let k = 2; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    this.byId.set(id, name);
    return name;
  }
}

/** Python identifier for the network's class. */
export function className(name: string, taken: readonly string[]): string {
  let base = name.replace(/[^A-Za-z0-9_]/g, "_");
  if (base === "" || /^[0-9]/.test(base) || KEYWORDS.includes(base)) base = `Net_${base}`;
  let n = base;
  for (let k = 2; taken.includes(n); k++) n = `${base}_${k}`;
  return n;
}
