/**
 * AST → IR: pick the network, evaluate its parameters, expand repeats and
 * block calls, resolve every statement name against the built-in ops and the
 * user's blocks, and name every node after its source position in the layer
 * sequence (`conv_0`, `sep_1.dw`, `sep_1.pw`, …, `fc_14`).
 *
 * Naming: layers with weights are numbered in order (as TF-Slim numbers
 * Conv2d_0 … Conv2d_13); layers without weights are numbered per op
 * (`avgpool_0`, `softmax_0`), so adding a pooling layer never renames a
 * weight. A call of a user block is one numbered layer whose inner layers are
 * named inside it: `dws_1.dw_0`, `dws_1.pw_1`; so is a `residual { … }`
 * (`res_4.pw_0`, …, `res_4.add`) and a bottleneck (`bneck_3.expand`, `.dw`,
 * `.se.squeeze`, `.project`, `.add`).
 *
 * Every node reads the current tensor (the node before it) unless its op
 * names other inputs: a residual's add reads the tensor from before the
 * body and the body's last, an SE's multiply the tensor and its gate.
 */
import type * as A from "../parser/ast.js";
import { BUILTINS, DEFAULTABLE, FROM, STRUCTURAL, type Builtin, type NodeDraft } from "./builtins.js";
import { error, errorWith, type Diagnostic } from "./diagnostics.js";
import { Evaluator, MAX_SIZE, describeValue, type BuildValue, type Env } from "./evaluate.js";
import { WIDTH_ROUNDINGS, type Graph, type Node, type Shape, type Value, type WidthRounding } from "./graph.js";
import type { Span } from "./span.js";
import { argumentHint, didYouMean, statementHint } from "./suggest.js";

export interface BuildOptions {
  /** Which network of the file (needed when it declares several). */
  readonly network?: string;
  /** Parameter overrides, as text (`--set classes=10`). */
  readonly set?: Readonly<Record<string, string>>;
  /** Overrides the network's `width`. */
  readonly alpha?: number;
  /** Refuse networks that expand to more layers than this (default 100,000). */
  readonly maxLayers?: number;
  /**
   * Compute only these named tensors (`--outputs`), in this order, instead of
   * the network's outputs; the layers they do not need are left out.
   */
  readonly outputs?: readonly string[];
  /**
   * Called after each statement is expanded, with the ids of the nodes it made
   * (a block call, `repeat` or `residual`: every node of its body), once per
   * expansion: a statement in a block called twice is reported twice. For
   * tools that map source to layers (hover in an editor); the graph is the same with or without it.
   */
  readonly trace?: (statement: A.Statement, nodeIds: readonly string[]) => void;
}

export const DEFAULT_MAX_LAYERS = 100_000;
/** Blocks may call blocks this many levels deep. */
export const MAX_BLOCK_DEPTH = 64;

/** The longest generated layer name before `.add` (a residual's sum) is appended; see `Builder.bounded`. */
export const MAX_ID_LENGTH = 60;

/** FNV-1a, 64 bits, of a string's UTF-16 code units, as 16 hex digits. */
function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n);
  return h.toString(16).padStart(16, "0");
}

export interface BuildResult {
  readonly graph?: Graph;
  readonly diagnostics: readonly Diagnostic[];
}

/** Abandons building after a fatal diagnostic (the expansion limit). */
class Abort extends Error {}

interface Namespace {
  readonly prefix: string;
  weighted: number;
  readonly counts: Map<string, number>;
}

/**
 * Named tensors visible in a body: its own and its enclosing bodies' (a
 * `repeat` or `residual` body sees the names before it; its own end with it;
 * a `width` region shares its parent's), or, in a block, only its own and the
 * tensors passed to it by name.
 */
interface TensorScope {
  readonly names: Map<string, { readonly id: string; readonly span: Span }>;
  readonly parent?: TensorScope;
}

interface Scope {
  /** Parameters visible here (lexical: a block sees only its own). */
  readonly env: Env;
  readonly tensors: TensorScope;
  /** Options set by `defaults`, inherited by everything that follows, blocks included. */
  readonly defaults: ReadonlyMap<string, unknown>;
  readonly widthScale: number;
  readonly ns: Namespace;
  readonly level: "network" | "block" | "nested";
}

export function buildGraph(file: A.SourceFile, options: BuildOptions = {}): BuildResult {
  return new Builder(file, options).run();
}

class Builder {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly ev = new Evaluator(this.diagnostics);
  private readonly blocks = new Map<string, A.Declaration>();
  private readonly weightedBlocks = new Set<string>();
  /** Names shortened by `bounded`, to keep them unique. */
  private readonly shortened = new Set<string>();
  private readonly nodes: Node[] = [];
  private readonly limit: number;
  private last: string | undefined;
  private input: { shape: Shape; span: Span } | undefined;
  private missingInputReported = false;
  private width: { value: number; span: Span } | undefined;
  private rounding: WidthRounding | undefined;
  /** `output a b`: the tensors and the names they were given. */
  private outputs: { ids: string[]; names: string[]; span: Span } | undefined;
  /** The network's top-level tensor names (for --outputs). */
  private topLevel: TensorScope | undefined;
  /** Where every tensor name in the file is bound, to tell "named later" from "unknown". */
  private readonly bindings = new Map<string, Span>();
  /** Where the statement being expanded starts (a name it binds itself is not yet visible to it). */
  private statementStart = 0;
  /** The user's name of each named node. */
  private readonly tensorNames = new Map<string, string>();

  constructor(
    private readonly file: A.SourceFile,
    private readonly options: BuildOptions,
  ) {
    this.limit = options.maxLayers ?? DEFAULT_MAX_LAYERS;
  }

  run(): BuildResult {
    const networks = this.collect();
    this.checkRecursion();
    const network = this.choose(networks);
    if (network === undefined || this.hasErrors()) return this.result(undefined);

    const env = this.networkParams(network);
    if (env === undefined) return this.result(undefined);

    const ns: Namespace = { prefix: "", weighted: 0, counts: new Map() };
    for (const d of this.file.declarations) for (const t of this.walk(d.body.statements)) if (t.binding !== undefined && !this.bindings.has(t.binding.name)) this.bindings.set(t.binding.name, t.binding.span);
    this.topLevel = { names: new Map() };
    const scope: Scope = { env, tensors: this.topLevel, defaults: new Map(), widthScale: 1, ns, level: "network" };
    try {
      const total = this.measure(network.body.statements, scope);
      if (total > this.limit) throw this.abort(error("expansionLimit", network.name.span, this.limit));
      this.statements(network.body.statements, scope);
    } catch (e) {
      if (e instanceof Abort) return this.result(undefined);
      throw e;
    }

    if (this.input === undefined && !this.missingInputReported) {
      this.diagnostics.push(error("missingInput", network.name.span, network.name.name));
    } else if (this.nodes.length <= 1 && this.input !== undefined && !this.hasErrors()) {
      this.diagnostics.push(error("emptyNetwork", network.name.span, network.name.name));
    }
    if (this.hasErrors()) return this.result(undefined);

    let alpha = this.width?.value ?? 1;
    let alphaSpan = this.width?.span;
    if (this.options.alpha !== undefined) {
      alpha = this.options.alpha;
      alphaSpan = undefined;
      if (!(alpha > 0) || !Number.isFinite(alpha)) {
        this.diagnostics.push(error("widthNotPositive", undefined, alpha));
        return this.result(undefined);
      }
    }
    const params = network.params.map((p) => ({ name: p.name.name, value: toValue(env.get(p.name.name)!) }));
    const chosen = this.chooseOutputs();
    if (chosen === undefined) return this.result(undefined);
    const graph: Graph = {
      name: network.name.name,
      span: network.span,
      alpha,
      rounding: this.rounding ?? "floor",
      ...(alphaSpan === undefined ? {} : { alphaSpan }),
      params,
      nodes: chosen.nodes,
      outputs: chosen.ids,
      ...(chosen.names === undefined ? {} : { outputNames: chosen.names }),
    };
    return this.result(graph);
  }

  /**
   * The graph's outputs: those `--outputs` asks for (keeping only the layers
   * they need), those of the `output` statement, or the last layer (under its
   * name, when the network's top level gave it one). Without
   * `--outputs`, a layer whose result nothing reads is an error.
   */
  private chooseOutputs(): { nodes: Node[]; ids: string[]; names?: string[] } | undefined {
    const wanted = this.options.outputs;
    if (wanted !== undefined && wanted.length > 0) {
      const ids: string[] = [];
      const names = [...(this.topLevel?.names.keys() ?? [])];
      for (const [i, name] of wanted.entries()) {
        if (wanted.indexOf(name) !== i) {
          this.diagnostics.push(error("duplicateArgument", undefined, `--outputs ${name}`));
          continue;
        }
        const found = this.topLevel?.names.get(name);
        if (found === undefined) this.diagnostics.push(error("unknownOutput", undefined, name, names, didYouMean(name, names)));
        else ids.push(found.id);
      }
      if (this.hasErrors()) return undefined;
      const needed = new Set(ids);
      for (let i = this.nodes.length - 1; i >= 0; i--) {
        const n = this.nodes[i]!;
        if (!needed.has(n.id)) continue;
        for (const id of dependencies(n)) needed.add(id);
      }
      return { nodes: this.nodes.filter((n) => needed.has(n.id)), ids, names: [...wanted] };
    }
    const ids = this.outputs?.ids ?? [this.last!];
    const read = new Set([...ids, ...this.nodes.flatMap(dependencies)]);
    for (const n of this.nodes) if (!read.has(n.id)) this.diagnostics.push(error("unusedTensor", n.span, this.tensorNames.get(n.id) ?? n.id));
    if (this.hasErrors()) return undefined;
    if (this.outputs !== undefined) return { nodes: this.nodes, ids, names: this.outputs.names };
    // The one default output keeps the name the network gave it (`logits = resize …`), if any.
    const named = [...(this.topLevel?.names ?? [])].find(([, t]) => t.id === this.last);
    return named === undefined ? { nodes: this.nodes, ids } : { nodes: this.nodes, ids, names: [named[0]] };
  }

  private result(graph: Graph | undefined): BuildResult {
    // Statements inside repeats are visited once per iteration; report each problem once.
    const seen = new Set<string>();
    const diagnostics = this.diagnostics.filter((d) => {
      const key = `${d.code}@${d.span?.start ?? -1}:${d.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    return graph === undefined || diagnostics.some((d) => d.severity === "error") ? { diagnostics } : { graph, diagnostics };
  }

  private hasErrors(): boolean {
    return this.diagnostics.some((d) => d.severity === "error");
  }

  private abort(d: Diagnostic): Abort {
    this.diagnostics.push(d);
    return new Abort();
  }

  // ── declarations ─────────────────────────────────────────────────────────

  private collect(): A.Declaration[] {
    const networks: A.Declaration[] = [];
    const firstNetwork = new Map<string, A.Declaration>();
    for (const d of this.file.declarations) {
      this.checkParamList(d.params);
      if (d.kind === "network") {
        const prior = firstNetwork.get(d.name.name);
        if (prior !== undefined) {
          this.diagnostics.push(errorWith("duplicateNetwork", d.name.span, [{ message: "first declared here", span: prior.name.span }], d.name.name));
          continue;
        }
        firstNetwork.set(d.name.name, d);
        networks.push(d);
      } else {
        const name = d.name.name;
        if (BUILTINS.has(name) || (STRUCTURAL as readonly string[]).includes(name)) {
          this.diagnostics.push(error("blockShadowsBuiltin", d.name.span, name));
          continue;
        }
        const prior = this.blocks.get(name);
        if (prior !== undefined) {
          this.diagnostics.push(errorWith("duplicateBlock", d.name.span, [{ message: "first declared here", span: prior.name.span }], name));
          continue;
        }
        this.blocks.set(name, d);
      }
    }
    return networks;
  }

  private checkParamList(params: readonly A.Parameter[]): void {
    const seen = new Map<string, A.Parameter>();
    for (const p of params) {
      const prior = seen.get(p.name.name);
      if (prior !== undefined) {
        this.diagnostics.push(errorWith("duplicateParameter", p.name.span, [{ message: "first declared here", span: prior.name.span }], p.name.name));
      } else {
        seen.set(p.name.name, p);
      }
    }
  }

  /** Every statement in a body, nested bodies included. */
  private *walk(statements: readonly A.Statement[]): Generator<A.Statement> {
    for (const s of statements) {
      yield s;
      if (s.body !== undefined) yield* this.walk(s.body.statements);
    }
  }

  /** Report blocks that call themselves; note which blocks contain weighted layers. */
  private checkRecursion(): void {
    const calls = new Map<string, A.Statement[]>();
    for (const [name, block] of this.blocks) {
      calls.set(name, [...this.walk(block.body.statements)].filter((s) => this.blocks.has(s.name.name)));
    }
    const state = new Map<string, "active" | "done">();
    const reported = new Set<string>();
    let tooDeep = false;
    const visit = (name: string, path: string[]): void => {
      state.set(name, "active");
      for (const call of calls.get(name) ?? []) {
        const callee = call.name.name;
        if (state.get(callee) === "active") {
          const cycle = [...path.slice(path.indexOf(callee)), callee];
          const key = [...cycle].sort().join(",");
          if (!reported.has(key)) {
            reported.add(key);
            const first = this.blocks.get(callee)!;
            this.diagnostics.push(errorWith("recursiveBlock", call.name.span, [{ message: `block '${callee}' is declared here`, span: first.name.span }], cycle));
          }
        } else if (path.length >= MAX_BLOCK_DEPTH) {
          // Refuse chains of calls deep enough to exhaust the builder's stack.
          if (!tooDeep) this.diagnostics.push(error("blockNestingTooDeep", call.name.span, MAX_BLOCK_DEPTH));
          tooDeep = true;
        } else if (state.get(callee) === undefined) {
          visit(callee, [...path, callee]);
        }
      }
      state.set(name, "done");
    };
    for (const name of this.blocks.keys()) if (state.get(name) === undefined) visit(name, [name]);
    if (this.hasErrors()) return;

    // Weighted blocks, memoised over the (now acyclic, shallow) call graph.
    const weighted = new Map<string, boolean>();
    const isWeighted = (name: string): boolean => {
      const known = weighted.get(name);
      if (known !== undefined) return known;
      const block = this.blocks.get(name)!;
      const result = [...this.walk(block.body.statements)].some((s) => BUILTINS.get(s.name.name)?.weighted === true || (this.blocks.has(s.name.name) && isWeighted(s.name.name)));
      weighted.set(name, result);
      return result;
    };
    for (const name of this.blocks.keys()) if (isWeighted(name)) this.weightedBlocks.add(name);
  }

  private choose(networks: A.Declaration[]): A.Declaration | undefined {
    const names = networks.map((n) => n.name.name);
    const wanted = this.options.network;
    if (wanted !== undefined) {
      const found = networks.find((n) => n.name.name === wanted);
      if (found === undefined) {
        if (networks.length === 0 && !this.hasErrors()) this.diagnostics.push(error("noNetwork", undefined));
        else this.diagnostics.push(error("unknownNetwork", undefined, wanted, names, didYouMean(wanted, names)));
      }
      return found;
    }
    if (networks.length === 0) {
      if (!this.hasErrors()) this.diagnostics.push(error("noNetwork", this.file.span));
      return undefined;
    }
    if (networks.length > 1) {
      this.diagnostics.push(error("networkRequired", undefined, names));
      return undefined;
    }
    return networks[0];
  }

  /** Evaluate the network's parameters in order, applying --set overrides. */
  private networkParams(network: A.Declaration): Env | undefined {
    const overrides = new Map<string, BuildValue>();
    const declared = network.params.map((p) => p.name.name);
    for (const [name, text] of Object.entries(this.options.set ?? {})) {
      if (!declared.includes(name)) {
        this.diagnostics.push(error("unknownSetParameter", undefined, name, network.name.name, didYouMean(name, declared)));
        continue;
      }
      const value = parseSetValue(text);
      if (value === undefined) this.diagnostics.push(error("badSetValue", undefined, name, text));
      else overrides.set(name, value);
    }
    const env = new Map<string, BuildValue>();
    for (const p of network.params) {
      const override = overrides.get(p.name.name);
      if (override !== undefined) {
        env.set(p.name.name, override);
      } else if (p.default !== undefined) {
        const v = this.ev.evaluate(p.default, env);
        if (v !== undefined) env.set(p.name.name, v);
      } else {
        this.diagnostics.push(error("parameterNeedsValue", p.name.span, p.name.name));
      }
    }
    return this.hasErrors() ? undefined : env;
  }

  // ── expansion ────────────────────────────────────────────────────────────

  private statements(statements: readonly A.Statement[], scope: Scope): void {
    let current = scope;
    for (const s of statements) current = this.statement(s, current);
  }

  /** Expand one statement, then give its tensor the statement's name (`skip = …`); returns the scope for the statements after it. */
  private statement(s: A.Statement, scope: Scope): Scope {
    this.statementStart = s.span.start;
    const before = this.last;
    const errors = this.diagnostics.length;
    const made = this.nodes.length;
    const next = this.expand(s, scope);
    if (s.binding !== undefined) this.bindTensor(s, scope, before, errors);
    this.options.trace?.(s, this.nodes.slice(made).map((n) => n.id));
    return next;
  }

  private bindTensor(s: A.Statement, scope: Scope, before: string | undefined, errors: number): void {
    const binding = s.binding!;
    const name = binding.name;
    const kind = s.name.name;
    if (kind === "defaults" || kind === "output" || (kind === "width" && s.body === undefined)) {
      this.diagnostics.push(error("misplacedBinding", binding.span, kind));
      return;
    }
    if (scope.env.has(name)) {
      this.diagnostics.push(error("tensorShadowsParameter", binding.span, name));
      return;
    }
    const prior = lookup(scope.tensors, name);
    if (prior !== undefined) {
      this.diagnostics.push(errorWith("duplicateTensor", binding.span, [{ message: "first named here", span: prior.span }], name));
      return;
    }
    // A statement in error made no tensor; its own message says why.
    if (this.diagnostics.length > errors || this.last === undefined || this.last === before) return;
    scope.tensors.names.set(name, { id: this.last, span: binding.span });
    if (!this.tensorNames.has(this.last)) this.tensorNames.set(this.last, name);
  }

  /**
   * The node a tensor name in an argument stands for. A name bound later in
   * the file is "named later" (the way a cycle would be written); any other
   * unknown name gets a suggestion from the names in scope.
   */
  private resolveTensor(expr: A.Expr, scope: Scope): string | undefined {
    if (expr.kind !== "name") {
      this.diagnostics.push(error("unknownTensor", expr.span, exprText(expr) ?? "this expression", "; write a tensor's name, as given by 'NAME = …'"));
      return undefined;
    }
    const found = lookup(scope.tensors, expr.name);
    if (found !== undefined) return found.id;
    const later = this.bindings.get(expr.name);
    if (later !== undefined && later.start >= this.statementStart) {
      const self = later.start === this.statementStart;
      this.diagnostics.push(errorWith("tensorUsedEarly", expr.span, self ? [] : [{ message: `'${expr.name}' is named here`, span: later }], expr.name, self));
      return undefined;
    }
    this.diagnostics.push(error("unknownTensor", expr.span, expr.name, didYouMean(expr.name, visible(scope.tensors))));
    return undefined;
  }

  /** `from=NAME`: the statement reads that tensor; returns the statement without the option, or undefined after an error. */
  private applyFrom(s: A.Statement, scope: Scope): A.Statement | undefined {
    const from = s.args.filter((a) => a.name?.name === FROM);
    if (from.length === 0) return s;
    if (from.length > 1) {
      this.diagnostics.push(errorWith("duplicateArgument", from[1]!.name!.span, [{ message: "first given here", span: from[0]!.span }], FROM));
      return undefined;
    }
    const id = this.resolveTensor(from[0]!.value, scope);
    if (id === undefined) return undefined;
    this.last = id;
    return { ...s, args: s.args.filter((a) => a !== from[0]) };
  }

  private expand(s: A.Statement, scope: Scope): Scope {
    const name = s.name.name;
    switch (name) {
      case "input":
        this.inputStatement(s, scope);
        return scope;
      case "width":
        return this.widthStatement(s, scope);
      case "defaults":
        return this.defaultsStatement(s, scope);
      case "repeat":
        this.repeatStatement(s, scope);
        return scope;
      case "residual":
        this.residualStatement(s, scope);
        return scope;
      case "output":
        this.outputStatement(s, scope);
        return scope;
    }
    const builtin = BUILTINS.get(name);
    if (builtin !== undefined) {
      const t = this.applyFrom(s, scope);
      if (t !== undefined && this.noBody(t)) this.builtinStatement(builtin, t, scope);
      return scope;
    }
    const block = this.blocks.get(name);
    if (block !== undefined) {
      const t = this.applyFrom(s, scope);
      if (t !== undefined && this.noBody(t)) this.blockCall(block, t, scope);
      return scope;
    }
    this.diagnostics.push(error("unknownStatement", s.name.span, name, statementHint(name, [...BUILTINS.keys()], STRUCTURAL, [...this.blocks.keys()])));
    return scope;
  }

  private noBody(s: A.Statement): boolean {
    if (s.body === undefined) return true;
    this.diagnostics.push(error("unexpectedBody", s.body.span, s.name.name, false));
    return false;
  }

  private inputStatement(s: A.Statement, scope: Scope): void {
    if (scope.level !== "network") {
      this.diagnostics.push(error("misplacedStatement", s.name.span, "input", "belongs at the top level of a network"));
      return;
    }
    // The statement is there: whatever is wrong with it is reported here, never
    // again as a missing input at the first layer.
    const declared = (): void => {
      this.missingInputReported = true;
    };
    if (!this.noBody(s)) return declared();
    const bound = this.bind("input", s, [
      { name: "shape", positional: true, required: true },
      { name: "mean", positional: false, required: false },
      { name: "std", positional: false, required: false },
    ]);
    const expr = bound?.get("shape");
    if (expr === undefined) return declared();
    const v = this.ev.evaluate(expr, scope.env);
    if (v === undefined) return declared();
    if (v.kind !== "shape" || v.dims.length !== 3) {
      this.diagnostics.push(error("wrongValueKind", expr.span, "the input", "a shape HxWxC like 224x224x3", describeValue(v)));
      return declared();
    }
    const dims = v.dims.map((d) => this.ev.checkCount(d, expr.span, "an input dimension", MAX_SIZE));
    if (dims.some((d) => d === undefined)) return declared();
    const meanExpr = bound?.get("mean");
    const stdExpr = bound?.get("std");
    const mean = meanExpr === undefined ? 0 : this.ev.number(meanExpr, scope.env, "the input's mean");
    let std = stdExpr === undefined ? 1 : this.ev.number(stdExpr, scope.env, "the input's std");
    if (stdExpr !== undefined && std !== undefined && !(std > 0 && Number.isFinite(std))) {
      this.diagnostics.push(error("wrongValueKind", stdExpr.span, "the input's std", "a number greater than 0", describeValue({ kind: "number", value: std })));
      std = undefined;
    }
    if (mean === undefined || std === undefined) return declared();
    if (this.input !== undefined) {
      this.diagnostics.push(errorWith("duplicateInput", s.span, [{ message: "the input is declared here", span: this.input.span }]));
      return;
    }
    const shape = dims as unknown as Shape;
    this.input = { shape, span: s.span };
    const normalisation = meanExpr === undefined && stdExpr === undefined ? {} : { normalisation: { mean, std } };
    this.append([{ op: "input", id: "input", span: s.span, origin: "input", attrs: { declared: shape, size: shape, ...normalisation } }], s);
  }

  /** `output a b …`: the network's outputs, by name, in order. */
  private outputStatement(s: A.Statement, scope: Scope): void {
    if (scope.level !== "network") {
      this.diagnostics.push(error("misplacedStatement", s.name.span, "output", "belongs at the top level of a network"));
      return;
    }
    if (!this.noBody(s)) return;
    if (this.outputs !== undefined) {
      this.diagnostics.push(errorWith("misplacedStatement", s.name.span, [{ message: "the outputs are listed here", span: this.outputs.span }], "output", "is given twice; list every output in one statement"));
      return;
    }
    const ids: string[] = [];
    const names: string[] = [];
    for (const arg of s.args) {
      if (arg.name !== undefined) {
        this.diagnostics.push(error("unknownArgument", arg.name.span, "output", arg.name.name, ""));
        continue;
      }
      const id = this.resolveTensor(arg.value, scope);
      if (id === undefined) continue;
      const name = (arg.value as { name: string }).name;
      if (names.includes(name)) {
        this.diagnostics.push(error("duplicateArgument", arg.span, name));
        continue;
      }
      ids.push(id);
      names.push(name);
    }
    if (s.args.length === 0) this.diagnostics.push(error("missingArgument", s.span, "output", "a tensor name"));
    if (ids.length === s.args.length && ids.length > 0) this.outputs = { ids, names, span: s.span };
  }

  private widthStatement(s: A.Statement, scope: Scope): Scope {
    const bound = this.bind("width", s, [
      { name: "alpha", positional: true, required: true },
      { name: "rounding", positional: false, required: false },
    ]);
    const expr = bound?.get("alpha");
    const value = expr === undefined ? undefined : this.ev.number(expr, scope.env, "a width multiplier");
    const valid = value !== undefined && expr !== undefined && this.positiveWidth(value, expr.span);
    const roundingExpr = bound?.get("rounding");
    if (roundingExpr !== undefined && s.body !== undefined) {
      this.diagnostics.push(
        error("misplacedStatement", roundingExpr.span, "rounding", "applies to the whole network: give it on the network's 'width A rounding=R', not on a region"),
      );
      return scope;
    }
    const rounding = roundingExpr === undefined ? undefined : this.ev.word(roundingExpr, scope.env, "rounding", WIDTH_ROUNDINGS);
    if (s.body !== undefined) {
      // A region: its layers get this multiplier on top of the network's α.
      const inner: Scope = { ...scope, widthScale: scope.widthScale * (valid ? value : 1), level: "nested" };
      this.statements(s.body.statements, inner);
      return scope;
    }
    if (scope.level !== "network") {
      this.diagnostics.push(
        error("misplacedStatement", s.name.span, "width", "without a body sets the network's α and belongs at its top level; use 'width A { … }' for a region"),
      );
      return scope;
    }
    if (this.width !== undefined) {
      this.diagnostics.push(errorWith("duplicateWidth", s.span, [{ message: "the width is set here", span: this.width.span }]));
    } else if (valid) {
      this.width = { value, span: s.span };
      if (rounding !== undefined) this.rounding = rounding;
    }
    return scope;
  }

  private positiveWidth(value: number, span: Span): boolean {
    if (value > 0 && Number.isFinite(value)) return true;
    this.diagnostics.push(error("widthNotPositive", span, value));
    return false;
  }

  private defaultsStatement(s: A.Statement, scope: Scope): Scope {
    if (!this.noBody(s)) return scope;
    const keys = Object.keys(DEFAULTABLE);
    const defaults = new Map(scope.defaults);
    const seen = new Map<string, A.Argument>();
    for (const arg of s.args) {
      if (arg.name === undefined) {
        this.diagnostics.push(error("tooManyArguments", arg.span, "defaults", 0));
        continue;
      }
      const key = arg.name.name;
      const read = DEFAULTABLE[key];
      if (read === undefined) {
        this.diagnostics.push(error("unknownArgument", arg.name.span, "defaults", key, argumentHint("defaults", key, exprText(arg.value), keys, "op")));
        continue;
      }
      const prior = seen.get(key);
      if (prior !== undefined) {
        this.diagnostics.push(errorWith("duplicateArgument", arg.name.span, [{ message: "first given here", span: prior.span }], key));
        continue;
      }
      seen.set(key, arg);
      const value = read(this.ev, arg.value, scope.env, key);
      if (value !== undefined) defaults.set(key, value);
    }
    return { ...scope, defaults };
  }

  private repeatStatement(s: A.Statement, scope: Scope): void {
    const bound = this.bind("repeat", s, [{ name: "count", positional: true, required: true }]);
    const expr = bound?.get("count");
    const n = expr === undefined ? undefined : this.ev.count(expr, scope.env, "a repeat count", Number.MAX_SAFE_INTEGER);
    if (s.body === undefined) {
      this.diagnostics.push(error("unexpectedBody", s.name.span, "repeat", true));
      return;
    }
    const inner: Scope = { ...scope, level: "nested" };
    const perIteration = this.measure(s.body.statements, inner);
    if (n !== undefined && this.nodes.length + n * perIteration > this.limit) {
      throw this.abort(error("expansionLimit", s.span, this.limit));
    }
    // A body without layers is expanded once, for its diagnostics; its defaults and tensor names end with it.
    const iterations = n === undefined || perIteration === 0 ? 1 : n;
    for (let i = 0; i < iterations; i++) this.statements(s.body.statements, { ...inner, tensors: { names: new Map(), parent: scope.tensors } });
  }

  /** `residual { … }`: the body, then the tensor from before it added to the body's result. */
  private residualStatement(s: A.Statement, scope: Scope): void {
    if (this.bind("residual", s, []) === undefined) return;
    if (s.body === undefined) {
      this.diagnostics.push(error("unexpectedBody", s.name.span, "residual", true));
      return;
    }
    const x = this.last;
    // A residual with weights takes a number in the layer sequence (`res_4`); one without is
    // numbered apart (`residual_0`), so that it never renames a weight nor meets a `res_N`.
    const weighted = this.hasWeights(s.body.statements);
    const id = this.nextId(scope.ns, weighted ? "res" : "residual", weighted);
    const ns: Namespace = { prefix: `${id}.`, weighted: 0, counts: new Map() };
    const before = this.diagnostics.length;
    this.statements(s.body.statements, { ...scope, ns, level: "nested", tensors: { names: new Map(), parent: scope.tensors } });
    if (x === undefined || this.diagnostics.length > before) return;
    if (this.last === x) {
      this.diagnostics.push(error("emptyResidual", s.span));
      return;
    }
    this.append([{ op: "add", id: `${id}.add`, span: s.span, origin: "residual", inputs: [x, this.last!], attrs: { when: "always" } }], s);
  }

  /** Do these statements make any layer with weights? */
  private hasWeights(statements: readonly A.Statement[]): boolean {
    return [...this.walk(statements)].some((t) => BUILTINS.get(t.name.name)?.weighted === true || this.weightedBlocks.has(t.name.name));
  }

  private builtinStatement(builtin: Builtin, s: A.Statement, scope: Scope): void {
    // Tensor operands (`concat a b`) are every positional argument; the rest bind as usual.
    const many = builtin.params.find((p) => p.tensor === "many");
    const operandArgs = many === undefined ? [] : s.args.filter((a) => a.name === undefined);
    const rest = many === undefined ? s : { ...s, args: s.args.filter((a) => a.name !== undefined) };
    const params = builtin.params.filter((p) => p !== many).map((p) => ({ name: p.name, positional: p.positional, required: p.default === undefined }));
    const bound = this.bind(builtin.name, rest, params);
    if (bound === undefined) return;
    const args: Record<string, unknown> = {};
    const tensorNames = new Map<string, string>();
    let ok = true;
    if (many !== undefined) {
      const count = builtin.operandCount ?? { min: 1 };
      if (operandArgs.length < count.min || (count.max !== undefined && operandArgs.length > count.max)) {
        this.diagnostics.push(error("operandCount", operandArgs[count.max ?? 0]?.span ?? s.span, builtin.name, count.min, count.max, operandArgs.length));
        ok = false;
      }
      const ids = operandArgs.map((a) => this.resolveTensor(a.value, scope));
      if (ids.some((id) => id === undefined)) ok = false;
      args[many.name] = ids;
    }
    for (const p of builtin.params) {
      if (p === many) continue;
      const expr = bound.get(p.name);
      let value: unknown;
      if (expr !== undefined && p.tensor === "one") {
        value = this.resolveTensor(expr, scope);
        if (value !== undefined && expr.kind === "name") tensorNames.set(value as string, expr.name);
      } else if (expr !== undefined) value = p.read(this.ev, expr, scope.env, `${builtin.name}'s ${p.name}`);
      else if (p.fromDefaults === true && scope.defaults.has(p.name)) value = scope.defaults.get(p.name);
      else value = p.default;
      if (value === undefined) ok = false;
      args[p.name] = value;
    }
    if (!ok) return;
    const invalid = builtin.validate?.(args, s.span);
    if (invalid !== undefined) {
      this.diagnostics.push(invalid);
      return;
    }
    const id = this.nextId(scope.ns, builtin.prefix, builtin.weighted);
    if (this.last === undefined) {
      this.append([], s);
      return;
    }
    this.append(builtin.lower(args, { id, span: s.span, origin: builtin.name, widthScale: scope.widthScale, input: this.last, tensorNames }), s);
  }

  private blockCall(block: A.Declaration, s: A.Statement, scope: Scope): void {
    const params = block.params.map((p) => ({ name: p.name.name, positional: true, required: p.default === undefined }));
    const bound = this.bind(block.name.name, s, params);
    if (bound === undefined) return;
    const env = new Map<string, BuildValue>();
    const callerNames = [...scope.env.keys()];
    for (const p of block.params) {
      const arg = bound.get(p.name.name);
      const v = arg !== undefined ? this.ev.evaluate(arg, scope.env) : p.default !== undefined ? this.ev.evaluate(p.default, env) : undefined;
      if (v === undefined) return;
      // A word passed in keeps its origin, so that a typo is reported at the call.
      env.set(p.name.name, v.kind === "word" && arg !== undefined && v.origin === undefined ? { ...v, origin: { span: arg.span, names: callerNames } } : v);
    }
    // A parameter given a tensor's name stands for that tensor inside the block (`block up(skip) { add skip }`).
    const tensors: TensorScope = { names: new Map() };
    for (const p of block.params) {
      const v = env.get(p.name.name);
      const found = v?.kind === "word" ? lookup(scope.tensors, v.word) : undefined;
      if (found !== undefined) tensors.names.set(p.name.name, found);
    }
    const id = this.nextId(scope.ns, block.name.name, this.weightedBlocks.has(block.name.name));
    const ns: Namespace = { prefix: `${id}.`, weighted: 0, counts: new Map() };
    const before = this.diagnostics.length;
    this.statements(block.body.statements, { env, tensors, defaults: scope.defaults, widthScale: scope.widthScale, ns, level: "block" });
    // A problem inside the block also says which call led to it.
    for (let i = before; i < this.diagnostics.length; i++) {
      const d = this.diagnostics[i]!;
      this.diagnostics[i] = { ...d, related: [...d.related, { message: `in '${id}', called here`, span: s.span }] };
    }
  }

  /**
   * Match a statement's arguments to parameters: positional ones in order,
   * then `name=value`. Reports unknown, duplicate, surplus and missing
   * arguments; returns undefined if any.
   */
  private bind(
    callee: string,
    s: A.Statement,
    params: readonly { name: string; positional: boolean; required: boolean }[],
  ): Map<string, A.Expr> | undefined {
    const bound = new Map<string, A.Argument>();
    const positional = params.filter((p) => p.positional);
    let next = 0;
    let ok = true;
    for (const arg of s.args) {
      if (arg.name === undefined) {
        const p = positional[next++];
        if (p === undefined) {
          this.diagnostics.push(error("tooManyArguments", arg.span, callee, positional.length));
          ok = false;
        } else {
          bound.set(p.name, arg);
        }
        continue;
      }
      const key = arg.name.name;
      if (!params.some((p) => p.name === key)) {
        const hint = argumentHint(callee, key, exprText(arg.value), params.map((p) => p.name), this.blocks.has(callee) ? "block" : "op");
        this.diagnostics.push(error("unknownArgument", arg.name.span, callee, key, hint));
        ok = false;
        continue;
      }
      const prior = bound.get(key);
      if (prior !== undefined) {
        this.diagnostics.push(errorWith("duplicateArgument", arg.name.span, [{ message: "first given here", span: prior.span }], key));
        ok = false;
        continue;
      }
      bound.set(key, arg);
    }
    for (const p of params) {
      if (p.required && !bound.has(p.name)) {
        this.diagnostics.push(error("missingArgument", s.span, callee, p.name));
        ok = false;
      }
    }
    return ok ? new Map([...bound].map(([k, a]) => [k, a.value])) : undefined;
  }

  private nextId(ns: Namespace, prefix: string, weighted: boolean): string {
    if (weighted) return this.bounded(`${ns.prefix}${prefix}_${ns.weighted++}`);
    const n = ns.counts.get(prefix) ?? 0;
    ns.counts.set(prefix, n + 1);
    return this.bounded(`${ns.prefix}${prefix}_${n}`);
  }

  /**
   * A name longer than MAX_ID_LENGTH keeps its beginning and ends in `_h` and
   * 16 hex digits of a hash of the whole name; the names inside a block or
   * residual then grow from the shortened one, so no name exceeds the bound
   * however deeply blocks nest. The whole names are unique, so their hashes
   * are too; a collision (never seen) is resolved by hashing again, deterministically.
   */
  private bounded(id: string): string {
    if (id.length <= MAX_ID_LENGTH) return id;
    for (let salt = 0; ; salt++) {
      const short = `${id.slice(0, MAX_ID_LENGTH - 18)}_h${fnv1a64(salt === 0 ? id : `${id}#${salt}`)}`;
      if (!this.shortened.has(short)) {
        this.shortened.add(short);
        return short;
      }
    }
  }

  /** Add drafts to the graph, each reading the node before it unless it names its inputs. */
  private append(drafts: NodeDraft[], s: A.Statement): void {
    if (drafts.length === 0) this.requireInput(s);
    for (const d of drafts) {
      if (d.op !== "input" && this.input === undefined) {
        this.requireInput(s);
        return;
      }
      if (this.nodes.length >= this.limit) throw this.abort(error("expansionLimit", s.span, this.limit));
      this.nodes.push({ ...d, inputs: d.inputs ?? (this.last === undefined ? [] : [this.last]) } as Node);
      this.last = d.id;
    }
  }

  /** Report, once, a layer that comes before the network's input. */
  private requireInput(s: A.Statement): void {
    if (this.input !== undefined || this.missingInputReported) return;
    const network = this.file.declarations.find((x) => x.kind === "network" && x.span.start <= s.span.start && s.span.end <= x.span.end);
    this.diagnostics.push(error("missingInput", s.span, network?.name.name ?? "?"));
    this.missingInputReported = true;
  }

  /**
   * How many nodes statements expand to, without expanding them — so that
   * `repeat 1000000 { … }` is refused before any work is done. Problems are
   * not reported here (expansion reports them); a statement in error counts 0.
   */
  private measure(statements: readonly A.Statement[], scope: Scope): number {
    const quiet = new Evaluator([]);
    let total = 0;
    for (const s of statements) {
      const name = s.name.name;
      const builtin = BUILTINS.get(name);
      if (builtin !== undefined) total += builtin.nodes;
      else if (name === "width" && s.body !== undefined) total += this.measure(s.body.statements, scope);
      else if (name === "residual" && s.body !== undefined) total += 1 + this.measure(s.body.statements, scope);
      else if (name === "repeat" && s.body !== undefined) {
        const countArg = s.args[0];
        const n = countArg === undefined ? undefined : quiet.number(countArg.value, scope.env, "count");
        if (n !== undefined && Number.isInteger(n) && n > 0) total += n * this.measure(s.body.statements, scope);
      } else {
        const block = this.blocks.get(name);
        if (block !== undefined) {
          const env = new Map<string, BuildValue>();
          const positional = s.args.filter((a) => a.name === undefined);
          block.params.forEach((p, i) => {
            const arg = s.args.find((a) => a.name?.name === p.name.name) ?? positional[i];
            const v = arg !== undefined ? quiet.evaluate(arg.value, scope.env) : p.default !== undefined ? quiet.evaluate(p.default, env) : undefined;
            if (v !== undefined) env.set(p.name.name, v);
          });
          total += this.measure(block.body.statements, { ...scope, env });
        }
      }
      if (total > this.limit) return total;
    }
    return total;
  }
}

function lookup(scope: TensorScope | undefined, name: string): { id: string; span: Span } | undefined {
  for (let t = scope; t !== undefined; t = t.parent) {
    const found = t.names.get(name);
    if (found !== undefined) return found;
  }
  return undefined;
}

function visible(scope: TensorScope): string[] {
  const names: string[] = [];
  for (let t: TensorScope | undefined = scope; t !== undefined; t = t.parent) names.push(...t.names.keys());
  return names;
}

/** The nodes a node needs: its inputs, and the tensor a `resize to=` takes its size from. */
function dependencies(n: Node): string[] {
  return n.op === "resize" && n.attrs.target.kind === "like" ? [...n.inputs, n.attrs.target.of] : [...n.inputs];
}

function parseSetValue(text: string): BuildValue | undefined {
  const t = text.trim();
  if (/^\d+(x\d+)+$/.test(t)) return { kind: "shape", dims: t.split("x").map(Number) };
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return { kind: "number", value: Number(t) };
  return undefined;
}

/** An argument's value as written, when it is one literal or name (for suggestions). */
function exprText(e: A.Expr): string | undefined {
  return e.kind === "number" || e.kind === "shape" ? e.text : e.kind === "name" ? e.name : undefined;
}

function toValue(v: BuildValue): Value {
  return v.kind === "word" ? { kind: "word", word: v.word } : v.kind === "number" ? { kind: "number", value: v.value } : v;
}
