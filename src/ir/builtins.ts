/**
 * The built-in layer statements of `.mn` — `conv`, `dw`, `pw`, `separable`,
 * `bottleneck`, `se`, `avgpool`, `maxpool`, `fc`, `softmax`, `dropout` — with
 * their arguments and how each lowers to IR nodes. The grammar knows none of these names; the
 * builder looks them up here, then among the user's blocks.
 */
import type { Expr } from "../parser/ast.js";
import { error, type Diagnostic } from "./diagnostics.js";
import { type Env, type Evaluator } from "./evaluate.js";
import {
  ACTIVATIONS,
  NORMS,
  PADDINGS,
  RESIZE_COORDS,
  RESIZE_MODES,
  WIDTH_ROUNDINGS,
  type Activation,
  type AlphaMode,
  type ChannelRule,
  type Node,
  type Norm,
  type Padding,
  type Pair,
  type Ratio,
  type RatioRole,
  type ResizeCoords,
  type ResizeMode,
  type WidthRule,
} from "./graph.js";
import type { Span } from "./span.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> & { readonly inputs?: readonly string[] } : never;
/**
 * A node before the builder links it: without `inputs` it reads the node
 * before it (the current tensor); with them, exactly those.
 */
export type NodeDraft = DistributiveOmit<Node, "inputs">;

type Reader<T> = (ev: Evaluator, expr: Expr, env: Env, what: string) => T | undefined;

export interface BuiltinParam {
  readonly name: string;
  /** Can be given without `name=`, in declaration order. */
  readonly positional: boolean;
  /**
   * Names a tensor rather than a value: the builder resolves it and passes the
   * node id (`to=feat`). `many`: every positional argument, each a tensor
   * (`concat a b`, `add skip`).
   */
  readonly tensor?: "one" | "many";
  readonly read: Reader<unknown>;
  /** Absent and not required: this value. */
  readonly default?: unknown;
  /** Filled from the enclosing `defaults` statement when not given. */
  readonly fromDefaults?: boolean;
}

export interface LowerContext {
  /** The statement's id (`conv_0`, `sep_3`, …). */
  readonly id: string;
  readonly span: Span;
  readonly origin: string;
  /** Product of the enclosing `width A { … }` regions. */
  readonly widthScale: number;
  /** The id of the current tensor, which the statement reads. */
  readonly input: string;
  /** The user's names of the tensors a `tensor` parameter resolved to, by node id. */
  readonly tensorNames: ReadonlyMap<string, string>;
}

export interface Builtin {
  readonly name: string;
  /** Prefix of the ids it produces. */
  readonly prefix: string;
  /** Does it carry weights (and so take a number in the layer sequence)? */
  readonly weighted: boolean;
  /** The most nodes one statement lowers to (to measure an expansion before doing it). */
  readonly nodes: number;
  /** A problem with the arguments taken together (each is valid alone). */
  validate?(args: Readonly<Record<string, unknown>>, span: Span): Diagnostic | undefined;
  /** How many tensor operands a `many` parameter takes. */
  readonly operandCount?: { readonly min: number; readonly max?: number };
  readonly params: readonly BuiltinParam[];
  lower(args: Readonly<Record<string, unknown>>, ctx: LowerContext): NodeDraft[];
}

// ── readers ────────────────────────────────────────────────────────────────
const count: Reader<number> = (ev, e, env, what) => ev.count(e, env, what);
const pair: Reader<Pair> = (ev, e, env, what) => ev.pair(e, env, what);
const act: Reader<Activation> = (ev, e, env) => ev.word(e, env, "act", ACTIVATIONS);
const norm: Reader<Norm> = (ev, e, env) => ev.word(e, env, "norm", NORMS);
const pad: Reader<Padding> = (ev, e, env) => ev.word(e, env, "pad", PADDINGS);

const poolKernel: Reader<Pair | "global"> = (ev, e, env, what) => {
  const v = ev.evaluate(e, env);
  if (v?.kind === "word" && v.word === "global") return "global";
  return v === undefined ? undefined : ev.pair(e, env, what);
};

const rate: Reader<number> = (ev, e, env, what) => {
  const v = ev.number(e, env, what);
  if (v === undefined) return undefined;
  if (!(v >= 0 && v < 1)) {
    ev.diagnostics.push(error("dropoutRate", e.span, v));
    return undefined;
  }
  return v;
};

const ratio: Reader<Ratio> = (ev, e, env, what) => ev.ratio(e, env, what);
const gate: Reader<Activation> = (ev, e, env) => ev.word(e, env, "gate", SE_GATES);
const SE_GATES: readonly Activation[] = ["hsigmoid", "sigmoid"];

/** `width=fixed` exempts a layer from α, `width=grow` lets only an α above 1 apply; `width=0.5` narrows it further. */
const width: Reader<Exclude<AlphaMode, "scaled"> | number> = (ev, e, env, what) => {
  const v = ev.evaluate(e, env);
  if (v?.kind === "word" && (v.word === "fixed" || v.word === "grow")) return v.word;
  if (v === undefined) return undefined;
  const n = ev.number(e, env, what);
  if (n === undefined) return undefined;
  if (!(n > 0) || !Number.isFinite(n)) {
    ev.diagnostics.push(error("widthNotPositive", e.span, n));
    return undefined;
  }
  return n;
};

/**
 * The words an option takes, by option name, as its reader accepts them (for
 * completion in editors; the readers above are what checks them).
 */
const WIDTH_WORDS: Readonly<Record<Exclude<AlphaMode, "scaled">, true>> = { fixed: true, grow: true };
export const OPTION_WORDS: Readonly<Record<string, readonly string[]>> = {
  act: ACTIVATIONS,
  norm: NORMS,
  pad: PADDINGS,
  gate: SE_GATES,
  mode: RESIZE_MODES,
  coords: RESIZE_COORDS,
  width: Object.keys(WIDTH_WORDS),
  rounding: WIDTH_ROUNDINGS,
};

/** Options that `defaults key=value …` may set, with their readers. */
export const DEFAULTABLE: Readonly<Record<string, Reader<unknown>>> = { act, norm, pad };

// ── parameter lists ────────────────────────────────────────────────────────
const positional = (name: string, read: Reader<unknown>): BuiltinParam => ({ name, positional: true, read });
const named = (name: string, read: Reader<unknown>, dflt: unknown): BuiltinParam => ({ name, positional: false, read, default: dflt });
const fromDefaults = (name: string, read: Reader<unknown>, dflt: unknown): BuiltinParam => ({
  name,
  positional: false,
  read,
  default: dflt,
  fromDefaults: true,
});

const stride = named("stride", pair, [1, 1] as Pair);
const dilation = named("dilation", pair, [1, 1] as Pair);
const mode: Reader<ResizeMode> = (ev, e, env) => ev.word(e, env, "mode", RESIZE_MODES);
const coords: Reader<ResizeCoords> = (ev, e, env) => ev.word(e, env, "coords", RESIZE_COORDS);
/** A tensor operand; the builder resolves these, the reader is never called. */
const tensorRef: Reader<string> = () => undefined;
const operands: BuiltinParam = { name: "operands", positional: true, read: tensorRef, tensor: "many" };
const convOptions = [fromDefaults("act", act, "relu"), fromDefaults("norm", norm, "batchnorm"), fromDefaults("pad", pad, "same")];
const widthOption = named("width", width, 1);
/** An optional named argument with no default value: absent is null. */
const optional = (name: string, read: Reader<unknown>): BuiltinParam => named(name, read, null);

function widthRule(option: unknown, regionScale: number): WidthRule {
  return typeof option === "number" ? { scale: regionScale * option, alpha: "scaled" } : { scale: regionScale, alpha: option as AlphaMode };
}

interface ConvArgs {
  kernel: Pair;
  filters: number;
  stride: Pair;
  dilation?: Pair;
  act: Activation;
  norm: Norm;
  pad: Padding;
  width: "fixed" | "grow" | number;
}

/** A convolution node: its window and epilogue, and where its output channels come from. */
function convNode(id: string, size: ChannelRule, a: Pick<ConvArgs, "kernel" | "stride" | "pad" | "norm" | "act" | "dilation">, ctx: LowerContext): NodeDraft {
  return {
    op: "conv",
    id,
    span: ctx.span,
    origin: ctx.origin,
    attrs: {
      kernel: a.kernel,
      stride: a.stride,
      padding: a.pad,
      size,
      // The filters as written until scale-width resolves the rule (a ratio has none yet).
      channels: size.kind === "filters" ? size.filters : 0,
      norm: a.norm,
      act: a.act,
      ...dilationAttr(a.dilation),
    },
  };
}

/** `dilation` only where it is not 1×1, so that undilated layers read as they always have. */
function dilationAttr(d: Pair | undefined): { dilation?: Pair } {
  return d === undefined || (d[0] === 1 && d[1] === 1) ? {} : { dilation: d };
}

function convDraft(id: string, a: ConvArgs, ctx: LowerContext): NodeDraft {
  return convNode(id, { kind: "filters", filters: a.filters, width: widthRule(a.width, ctx.widthScale) }, a, ctx);
}

/** A 1x1 convolution whose channels are a multiple of another tensor's (expansion, SE squeeze and excite). */
function ratioDraft(id: string, of: string, r: Ratio, role: RatioRole, conv: { act: Activation; norm: Norm }, ctx: LowerContext): NodeDraft {
  return convNode(id, { kind: "ratio", of, ratio: r, role }, { kernel: [1, 1], stride: [1, 1], pad: "same", act: conv.act, norm: conv.norm }, ctx);
}

/**
 * Squeeze-and-excitation of the tensor `of`: global average pool, 1x1 conv
 * with bias to R·C (rounded by the network's rule) + ReLU, 1x1 conv with bias
 * back to C + the gate, then the tensor times the gate, channel by channel.
 */
function seDrafts(prefix: string, of: string, r: Ratio, gateAct: Activation, ctx: LowerContext): NodeDraft[] {
  const pool = `${prefix}.pool`;
  return [
    { op: "avgpool", id: pool, span: ctx.span, origin: ctx.origin, inputs: [of], attrs: { kernel: "global", stride: "kernel", padding: "valid" } },
    ratioDraft(`${prefix}.squeeze`, of, r, "squeeze", { act: "relu", norm: "none" }, ctx),
    ratioDraft(`${prefix}.excite`, of, { num: 1, den: 1 }, "excite", { act: gateAct, norm: "none" }, ctx),
    { op: "mul", id: `${prefix}.scale`, span: ctx.span, origin: ctx.origin, inputs: [of, `${prefix}.excite`], attrs: {} },
  ];
}

interface BottleneckArgs extends ConvArgs {
  expand: Ratio;
  se: Ratio | null;
  gate: Activation;
}

/**
 * The inverted residual block: expansion `pw` to T × the input's channels
 * (left out when T = 1), depthwise with the stride, SE when asked, a linear
 * projection to N, and the input added back when the stride is 1 (kept by
 * scale-width only if the widths then agree).
 */
function bottleneckDrafts(a: BottleneckArgs, ctx: LowerContext): NodeDraft[] {
  const id = ctx.id;
  const drafts: NodeDraft[] = [];
  if (a.expand.num !== a.expand.den) drafts.push(ratioDraft(`${id}.expand`, ctx.input, a.expand, "expand", a, ctx));
  // (ratioDraft makes a 1x1 convolution: the dilation belongs to the depthwise alone.)
  drafts.push(dwDraft(`${id}.dw`, a, ctx));
  if (a.se !== null) drafts.push(...seDrafts(`${id}.se`, `${id}.dw`, a.se, a.gate, ctx));
  drafts.push(convDraft(`${id}.project`, { ...a, kernel: [1, 1], stride: [1, 1], dilation: [1, 1], act: "linear" }, ctx));
  if (a.stride[0] === 1 && a.stride[1] === 1) {
    drafts.push({ op: "add", id: `${id}.add`, span: ctx.span, origin: ctx.origin, inputs: [ctx.input, `${id}.project`], attrs: { when: "channels-match" } });
  }
  return drafts;
}

function dwDraft(id: string, a: Omit<ConvArgs, "filters" | "width">, ctx: LowerContext): NodeDraft {
  return {
    op: "depthwise",
    id,
    span: ctx.span,
    origin: ctx.origin,
    attrs: { kernel: a.kernel, stride: a.stride, padding: a.pad, norm: a.norm, act: a.act, ...dilationAttr(a.dilation) },
  };
}

/** A transposed convolution; its channels follow α like a conv's. */
function deconvDraft(a: ConvArgs, ctx: LowerContext): NodeDraft {
  const size: ChannelRule = { kind: "filters", filters: a.filters, width: widthRule(a.width, ctx.widthScale) };
  return {
    op: "deconv",
    id: ctx.id,
    span: ctx.span,
    origin: ctx.origin,
    attrs: { kernel: a.kernel, stride: a.stride, padding: a.pad, size, channels: a.filters, norm: a.norm, act: a.act },
  };
}

/** An op of named tensors: the current tensor first, then the operands in the order written. */
function operandOp(name: "add" | "mul" | "concat", arity: { min: number; max?: number }): Builtin {
  return {
    name,
    prefix: name,
    weighted: false,
    nodes: 1,
    params: [operands],
    operandCount: arity,
    lower: (a, ctx) => {
      const inputs = [ctx.input, ...(a["operands"] as string[])];
      const base = { id: ctx.id, span: ctx.span, origin: ctx.origin, inputs };
      const drafts: Readonly<Record<typeof name, NodeDraft>> = {
        add: { op: "add", ...base, attrs: { when: "always" } },
        mul: { op: "mul", ...base, attrs: {} },
        concat: { op: "concat", ...base, attrs: {} },
      };
      return [drafts[name]];
    },
  };
}

function pool(kind: "avgpool" | "maxpool", allowGlobal: boolean): Builtin {
  return {
    name: kind,
    prefix: kind,
    weighted: false,
    nodes: 1,
    params: [positional("kernel", allowGlobal ? poolKernel : pair), named("stride", pair, "kernel"), named("pad", pad, "valid")],
    lower: (a, ctx) => [
      {
        op: kind,
        id: ctx.id,
        span: ctx.span,
        origin: ctx.origin,
        attrs: { kernel: a["kernel"] as Pair | "global", stride: a["stride"] as Pair | "kernel", padding: a["pad"] as Padding },
      },
    ],
  };
}

export const BUILTINS: ReadonlyMap<string, Builtin> = new Map(
  (
    [
      {
        name: "conv",
        prefix: "conv",
        nodes: 1,
        weighted: true,
        params: [positional("kernel", pair), positional("filters", count), stride, dilation, ...convOptions, widthOption],
        lower: (a, ctx) => [convDraft(ctx.id, a as unknown as ConvArgs, ctx)],
      },
      {
        name: "dw",
        prefix: "dw",
        nodes: 1,
        weighted: true,
        params: [positional("kernel", pair), stride, dilation, ...convOptions],
        lower: (a, ctx) => [dwDraft(ctx.id, a as unknown as ConvArgs, ctx)],
      },
      {
        name: "pw",
        prefix: "pw",
        nodes: 1,
        weighted: true,
        params: [positional("filters", count), stride, ...convOptions, widthOption],
        lower: (a, ctx) => [convDraft(ctx.id, { ...(a as unknown as ConvArgs), kernel: [1, 1] }, ctx)],
      },
      {
        name: "separable",
        prefix: "sep",
        nodes: 2,
        weighted: true,
        params: [positional("filters", count), stride, named("kernel", pair, [3, 3] as Pair), dilation, ...convOptions, widthOption],
        lower: (a, ctx) => {
          const args = a as unknown as ConvArgs;
          return [
            dwDraft(`${ctx.id}.dw`, args, ctx),
            convDraft(`${ctx.id}.pw`, { ...args, kernel: [1, 1], stride: [1, 1], dilation: [1, 1] }, ctx),
          ];
        },
      },
      {
        name: "bottleneck",
        prefix: "bneck",
        nodes: 8,
        weighted: true,
        params: [
          positional("filters", count),
          named("expand", ratio, { num: 6, den: 1 } satisfies Ratio),
          stride,
          named("kernel", pair, [3, 3] as Pair),
          dilation,
          optional("se", ratio),
          named("gate", gate, "hsigmoid"),
          ...convOptions,
          widthOption,
        ],
        lower: (a, ctx) => bottleneckDrafts(a as unknown as BottleneckArgs, ctx),
      },
      {
        name: "se",
        prefix: "se",
        nodes: 4,
        weighted: true,
        params: [positional("ratio", ratio), named("gate", gate, "hsigmoid")],
        lower: (a, ctx) => seDrafts(ctx.id, ctx.input, a["ratio"] as Ratio, a["gate"] as Activation, ctx),
      },
      {
        name: "deconv",
        prefix: "deconv",
        nodes: 1,
        weighted: true,
        params: [positional("kernel", pair), positional("filters", count), stride, ...convOptions, widthOption],
        lower: (a, ctx) => [deconvDraft(a as unknown as ConvArgs, ctx)],
      },
      operandOp("add", { min: 1, max: 1 }),
      operandOp("mul", { min: 1, max: 1 }),
      operandOp("concat", { min: 1 }),
      {
        name: "resize",
        prefix: "resize",
        nodes: 1,
        weighted: false,
        params: [
          { name: "scale", positional: true, read: pair, default: null },
          { name: "to", positional: false, read: tensorRef, tensor: "one", default: null },
          named("mode", mode, "bilinear"),
          named("coords", coords, "half_pixel"),
        ],
        validate: (a, span) => ((a["scale"] === null) === (a["to"] === null) ? error("resizeTarget", span, a["scale"] !== null) : undefined),
        lower: (a, ctx) => {
          const to = a["to"] as string | null;
          const target = to === null ? { kind: "scale" as const, factor: a["scale"] as Pair } : { kind: "like" as const, of: to, name: ctx.tensorNames.get(to) ?? to };
          return [{ op: "resize", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: { mode: a["mode"] as ResizeMode, coords: a["coords"] as ResizeCoords, target } }];
        },
      },
      {
        name: "sigmoid",
        prefix: "sigmoid",
        nodes: 1,
        weighted: false,
        params: [],
        lower: (_a, ctx) => [{ op: "activation", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: { act: "sigmoid" } }],
      },
      {
        name: "argmax",
        prefix: "argmax",
        nodes: 1,
        weighted: false,
        params: [],
        lower: (_a, ctx) => [{ op: "argmax", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: {} }],
      },
      pool("avgpool", true),
      pool("maxpool", false),
      {
        name: "fc",
        prefix: "fc",
        nodes: 1,
        weighted: true,
        params: [positional("units", count)],
        lower: (a, ctx) => [{ op: "fc", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: { units: a["units"] as number } }],
      },
      {
        name: "softmax",
        prefix: "softmax",
        nodes: 1,
        weighted: false,
        params: [],
        lower: (_a, ctx) => [{ op: "softmax", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: {} }],
      },
      {
        name: "dropout",
        prefix: "dropout",
        nodes: 1,
        weighted: false,
        params: [positional("rate", rate)],
        lower: (a, ctx) => [{ op: "dropout", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: { rate: a["rate"] as number } }],
      },
    ] satisfies Builtin[]
  ).map((b) => [b.name, b]),
);

/** Statements with structure rather than layers; handled by the builder itself. */
export const STRUCTURAL = ["input", "width", "defaults", "repeat", "residual", "output"] as const;

/** The option every layer and block call takes: read this named tensor instead of the current one. */
export const FROM = "from";
