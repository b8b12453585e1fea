/**
 * The built-in layer statements of `.mn` — `conv`, `dw`, `pw`, `separable`,
 * `bottleneck`, `se`, `avgpool`, `maxpool`, `fc`, `softmax`, `dropout` — with
 * their arguments and how each lowers to IR nodes. The grammar knows none of these names; the
 * builder looks them up here, then among the user's blocks.
 */
import type { Expr } from "../parser/ast.js";
import { error } from "./diagnostics.js";
import { type Env, type Evaluator } from "./evaluate.js";
import {
  ACTIVATIONS,
  NORMS,
  PADDINGS,
  type Activation,
  type AlphaMode,
  type ChannelRule,
  type Node,
  type Norm,
  type Padding,
  type Pair,
  type Ratio,
  type RatioRole,
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
}

export interface Builtin {
  readonly name: string;
  /** Prefix of the ids it produces. */
  readonly prefix: string;
  /** Does it carry weights (and so take a number in the layer sequence)? */
  readonly weighted: boolean;
  /** The most nodes one statement lowers to (to measure an expansion before doing it). */
  readonly nodes: number;
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
  act: Activation;
  norm: Norm;
  pad: Padding;
  width: "fixed" | "grow" | number;
}

/** A convolution node: its window and epilogue, and where its output channels come from. */
function convNode(id: string, size: ChannelRule, a: Pick<ConvArgs, "kernel" | "stride" | "pad" | "norm" | "act">, ctx: LowerContext): NodeDraft {
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
    },
  };
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
  drafts.push(dwDraft(`${id}.dw`, a, ctx));
  if (a.se !== null) drafts.push(...seDrafts(`${id}.se`, `${id}.dw`, a.se, "hsigmoid", ctx));
  drafts.push(convDraft(`${id}.project`, { ...a, kernel: [1, 1], stride: [1, 1], act: "linear" }, ctx));
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
    attrs: { kernel: a.kernel, stride: a.stride, padding: a.pad, norm: a.norm, act: a.act },
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
        params: [positional("kernel", pair), positional("filters", count), stride, ...convOptions, widthOption],
        lower: (a, ctx) => [convDraft(ctx.id, a as unknown as ConvArgs, ctx)],
      },
      {
        name: "dw",
        prefix: "dw",
        nodes: 1,
        weighted: true,
        params: [positional("kernel", pair), stride, ...convOptions],
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
        params: [positional("filters", count), stride, named("kernel", pair, [3, 3] as Pair), ...convOptions, widthOption],
        lower: (a, ctx) => {
          const args = a as unknown as ConvArgs;
          return [
            dwDraft(`${ctx.id}.dw`, args, ctx),
            convDraft(`${ctx.id}.pw`, { ...args, kernel: [1, 1], stride: [1, 1] }, ctx),
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
          optional("se", ratio),
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
export const STRUCTURAL = ["input", "width", "defaults", "repeat", "residual"] as const;
