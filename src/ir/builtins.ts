/**
 * The built-in layer statements of `.mn` — `conv`, `dw`, `pw`, `separable`,
 * `avgpool`, `maxpool`, `fc`, `softmax`, `dropout` — with their arguments and
 * how each lowers to IR nodes. The grammar knows none of these names; the
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
  type Node,
  type Norm,
  type Padding,
  type Pair,
  type WidthRule,
} from "./graph.js";
import type { Span } from "./span.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A node before the builder links it to its input. */
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
}

export interface Builtin {
  readonly name: string;
  /** Prefix of the ids it produces. */
  readonly prefix: string;
  /** Does it carry weights (and so take a number in the layer sequence)? */
  readonly weighted: boolean;
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

/** `width=fixed` exempts a layer from α; `width=0.5` narrows it further. */
const width: Reader<"fixed" | number> = (ev, e, env, what) => {
  const v = ev.evaluate(e, env);
  if (v?.kind === "word" && v.word === "fixed") return "fixed";
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

function widthRule(option: unknown, regionScale: number): WidthRule {
  return option === "fixed" ? { scale: regionScale, fixed: true } : { scale: regionScale * (option as number), fixed: false };
}

interface ConvArgs {
  kernel: Pair;
  filters: number;
  stride: Pair;
  act: Activation;
  norm: Norm;
  pad: Padding;
  width: "fixed" | number;
}

function convDraft(id: string, a: ConvArgs, ctx: LowerContext): NodeDraft {
  return {
    op: "conv",
    id,
    span: ctx.span,
    origin: ctx.origin,
    attrs: {
      kernel: a.kernel,
      stride: a.stride,
      padding: a.pad,
      filters: a.filters,
      channels: a.filters,
      width: widthRule(a.width, ctx.widthScale),
      norm: a.norm,
      act: a.act,
    },
  };
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
        weighted: true,
        params: [positional("kernel", pair), positional("filters", count), stride, ...convOptions, widthOption],
        lower: (a, ctx) => [convDraft(ctx.id, a as unknown as ConvArgs, ctx)],
      },
      {
        name: "dw",
        prefix: "dw",
        weighted: true,
        params: [positional("kernel", pair), stride, ...convOptions],
        lower: (a, ctx) => [dwDraft(ctx.id, a as unknown as ConvArgs, ctx)],
      },
      {
        name: "pw",
        prefix: "pw",
        weighted: true,
        params: [positional("filters", count), stride, ...convOptions, widthOption],
        lower: (a, ctx) => [convDraft(ctx.id, { ...(a as unknown as ConvArgs), kernel: [1, 1] }, ctx)],
      },
      {
        name: "separable",
        prefix: "sep",
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
      pool("avgpool", true),
      pool("maxpool", false),
      {
        name: "fc",
        prefix: "fc",
        weighted: true,
        params: [positional("units", count)],
        lower: (a, ctx) => [{ op: "fc", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: { units: a["units"] as number } }],
      },
      {
        name: "softmax",
        prefix: "softmax",
        weighted: false,
        params: [],
        lower: (_a, ctx) => [{ op: "softmax", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: {} }],
      },
      {
        name: "dropout",
        prefix: "dropout",
        weighted: false,
        params: [positional("rate", rate)],
        lower: (a, ctx) => [{ op: "dropout", id: ctx.id, span: ctx.span, origin: ctx.origin, attrs: { rate: a["rate"] as number } }],
      },
    ] satisfies Builtin[]
  ).map((b) => [b.name, b]),
);

/** Statements with structure rather than layers; handled by the builder itself. */
export const STRUCTURAL = ["input", "width", "defaults", "repeat"] as const;

/** How many IR nodes a built-in statement produces. */
export function nodeCount(builtin: Builtin): number {
  return builtin.name === "separable" ? 2 : 1;
}
