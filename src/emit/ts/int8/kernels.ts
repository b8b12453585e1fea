/**
 * The integer kernels of a quantized module: one generated function per
 * layer, every shape, offset, zero point and multiplier a constant, as
 * src/ir/reference-int.ts defines the arithmetic in its `xnnpack` rounding.
 *
 * Memory: the activations (stored integers) in a Float32Array `a`; the
 * weights minus their zero points (w − w_zp) in a Float32Array `k`,
 * reordered so that a layer reads them in the order it walks its input — a
 * convolution's and an fc's in panels of NR outputs,
 * [out / NR][kh][kw][in][out % NR] (a patch's order; an fc's [h][w][c], the
 * activation's), a depthwise convolution's [tap][channel] —; the int32
 * biases in a Float64Array `kb`, a convolution's and an fc's folded with
 * the input's zero point: b − x_zp·Σ(w − w_zp), so that Σ x·(w − w_zp) over
 * the patch (the padding holding x_zp) plus it is the reference's
 * Σ (x − x_zp)(w − w_zp) + b. Every value is an integer, every product and
 * sum exact in float64 (|acc| < 2^53): float arithmetic with no int32
 * overflow checks, which V8 runs about a fifth faster than Int32Arrays.
 *
 * Requantization: round-half-to-even(fround(fround(acc) · M)) with M the
 * float32 multiplier of `multiplier(…)`, written as
 * `Math.fround(Math.fround(acc) * M) + 6755399441055744 - 6755399441055744`:
 * adding 1.5·2^52 in float64 leaves no fraction bits, so the sum rounds to
 * an integer half to even (exact for |x| < 2^51); then the zero point and
 * the activation's clamp, or for a table activation the 256-entry table of
 * `activationTable(…)`.
 */
import { InternalError } from "../../../ir/diagnostics.js";
import { QUANTIZED_RANGE, type Activation, type NodeOf, type OpKind, type Quantization, type Shape } from "../../../ir/graph.js";
import { activationRange, activationTable, isTableActivation, multiplier, poolMultiplier, softmaxTable, xnnpackAddParameters } from "../../../ir/reference-int.js";
import { Code, group, typesIn, type Flavour } from "../code.js";
import { actName, interior, padsOf, size } from "../layer.js";

/** A tensor a layer reads: its offset in `a`, its shape and the quantization of its integers. */
export interface Int8Operand {
  readonly at: number;
  readonly shape: Shape;
  readonly quant: Quantization;
}

/** Where one integer layer works. */
export interface Int8Context {
  /** The layer's function name. */
  readonly name: string;
  /** Its inputs, in `inputs` order. */
  readonly inputs: readonly Int8Operand[];
  /** Its output: offset in `a`, shape, quantization. */
  readonly y: number;
  readonly outShape: Shape;
  readonly quant: Quantization;
  /** Offset in `a` of the scratch area (at least `scratch(…)` ints). */
  readonly scratch: number;
  readonly flavour: Flavour;
  /** A fresh module-level name from `base` (for the layer's constants). */
  unique(base: string): string;
  /** Reserve room for one of the layer's tensors, its kernel in `k` or its biases in `kb`; returns its offset there. */
  place(length: number, what: "kernel" | "bias"): number;
}

/** One layer's function: summary and doc lines, module-level constants, the body. */
export interface Int8Code {
  readonly summary: string;
  readonly doc: readonly string[];
  readonly constants?: Code;
  readonly body: Code;
  readonly multAdds: number;
}

/**
 * How createModel unpacks one weighted layer from the blob (see `unpack` in
 * the generated code): `rows` output channels (a depthwise layer's: its
 * channels), each `channels` × `taps` weights in mnc's layout ([row][channel][tap]),
 * into `k` at `kernel` in the kernels' order; the biases at `bias`, folded
 * with `xzp` unless `depthwise`.
 */
export interface Int8Unpack {
  readonly node: string;
  readonly depthwise: boolean;
  readonly rows: number;
  readonly channels: number;
  readonly taps: number;
  readonly kernel: number;
  readonly bias: number;
  readonly xzp: number;
  readonly zeroPoints: readonly number[];
}

export interface Int8Emitter<K extends OpKind> {
  /** Ints of scratch the layer needs. */
  scratch(node: NodeOf<K>, inShape: Shape, outShape: Shape): number;
  emit(node: NodeOf<K>, ctx: Int8Context): Int8Code;
  /** A weighted layer's unpacking (after emit has placed its tensors). */
  unpack?(node: NodeOf<K>, ctx: Int8Context, placed: { readonly kernel: number; readonly bias: number }): Int8Unpack;
}

const shapeText = (s: Shape): string => s.join("x");
const ROUND = "6755399441055744";

/** A float32 multiplier or table value as an exact literal. */
const lit = (x: number): string => String(x);

/** " + k", " - |k|" or nothing. */
const offset = (k: number): string => (k === 0 ? "" : k > 0 ? ` + ${k}` : ` - ${-k}`);

/** `v − zp` as text: v itself for a zero point of 0, parenthesised otherwise. */
const sub = (v: string, zp: number): string => (zp === 0 ? v : `(${v}${offset(-zp)})`);

/** Σ name·coef + constant, the trivial parts left out: lin([["oy", 2], ["i", 1]], -1) is "oy * 2 + i - 1". */
function lin(terms: readonly (readonly [string, number])[], constant: number): string {
  const parts = terms.filter(([, c]) => c !== 0).map(([v, c]) => (c === 1 ? v : `${v} * ${c}`));
  if (parts.length === 0) return String(constant);
  return parts.join(" + ") + offset(constant);
}

/**
 * How a weighted layer turns its accumulator into its output: the
 * multipliers (one, or one per channel), the zero point and clamp of the
 * requantized value, and the table of a table activation.
 */
interface Epilogue {
  /** Module-level constants (per-channel multipliers, a table). */
  readonly constants: Code;
  /** Lines storing `store` = the output of accumulator `acc` for channel expression `c`. */
  lines(acc: string, c: string, store: string, q: string): string[];
  readonly doc: string;
}

function epilogue(node: NodeOf<"conv" | "depthwise" | "fc">, x: Quantization, y: Quantization, ctx: Int8Context): Epilogue {
  const qw = node.weights?.quantized;
  if (qw === undefined) throw new InternalError(`emit ts int8: '${node.id}' has no quantized weights`);
  const act: Activation = node.op === "fc" ? "linear" : node.attrs.act;
  const T = typesIn(ctx.flavour);
  const nn = T("!");
  const table = isTableActivation(act);
  const lq = table ? qw.linear : y;
  if (lq === undefined) throw new InternalError(`emit ts int8: '${node.id}' has a ${act} activation but no linear-output quantization`);
  const [lo, hi] = table ? QUANTIZED_RANGE[lq.type] : activationRange(y, act);
  const zp = lq.zeroPoint[0]!;
  const ks = qw.kernelQuant.scale;
  const ms = ks.map((s) => multiplier(x.scale[0]!, s, lq.scale[0]!, "xnnpack"));
  const constants = new Code();
  let m = lit(ms[0]!);
  if (ms.length > 1) {
    m = ctx.unique(`M_${ctx.name}`);
    constants.line(`/** ${ctx.name}: each output channel's multiplier s_x·s_w[c]/s_y (float32). */`);
    constants.line(`const ${m}${T(": readonly number[]")} = [${ms.map(lit).join(", ")}];`);
  }
  let tableName = "";
  if (table) {
    tableName = ctx.unique(`TABLE_${ctx.name}`);
    constants.line(`/** ${ctx.name}: ${act} from the linear output's integers (index q − ${lo}) to the output's. */`);
    constants.line(`const ${tableName}${T(": readonly number[]")} = [${Array.from(activationTable(act, lq, y)).join(", ")}];`);
  }
  const mOf = (c: string): string => (ms.length > 1 ? `${m}[${c}]${nn}` : m);
  return {
    constants,
    doc: `Requantized with ${ms.length > 1 ? `per-channel multipliers (${m})` : `M = ${m}`}, plus the zero point ${zp}, ${table ? `clamped to [${lo}, ${hi}], then ${act} through ${tableName}` : `clamped to [${lo}, ${hi}] (${actName(act)})`}.`,
    lines: (acc, c, store, q) => [
      `${q} = Math.fround(Math.fround(${acc}) * ${mOf(c)}) + ${ROUND} - ${ROUND}${offset(zp)};`,
      table
        ? `${store} = ${tableName}[(${q} < ${lo} ? ${lo} : ${q} > ${hi} ? ${hi} : ${q})${offset(-lo)}]${nn};`
        : `${store} = ${q} < ${lo} ? ${lo} : ${q} > ${hi} ? ${hi} : ${q};`,
    ],
  };
}

function weightsOf(node: NodeOf<"conv" | "depthwise" | "fc">): { readonly zeroPoints: readonly number[]; readonly shape: readonly number[] } {
  const qw = node.weights?.quantized;
  if (qw === undefined) throw new InternalError(`emit ts int8: '${node.id}' has no quantized weights`);
  return { zeroPoints: qw.kernelQuant.zeroPoint, shape: qw.kernel.shape };
}

function expectShape(node: NodeOf<"conv" | "depthwise" | "fc">, shape: readonly number[]): void {
  const got = weightsOf(node).shape;
  if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
    throw new InternalError(`emit ts int8: '${node.id}' kernel has shape [${got.join(", ")}], expected [${shape.join(", ")}]`);
  }
}

/** Output channels computed together by the matrix kernels (a panel), and pixels at most. */
export const NR = 4;
const MR = 3;

/**
 * The dot products of `rows` (1 to MR) rows of `k` integers — row r at
 * `xs[r]` in `a` — with every output's weights, in panels of NR outputs
 * ([panel][k][NR] in `k`, the last panel padded with zero weights), each
 * requantized into `ys[r] + o`. MR×NR accumulators per step: each weight and
 * each input read once per MR·NR products.
 */
function dotRows(body: Code, ep: Epilogue, o: { n: number; k: number; kernel: number; bias: number; xs: readonly string[]; ys: readonly string[]; nn: string }): void {
  const { n, k, kernel, bias, xs, ys, nn } = o;
  const rows = xs.length;
  const full = n - (n % NR);
  /** One panel: its first output `first` (the loop's `o`, or a number), `outputs` of its NR real. */
  const panel = (first: "o" | number, outputs: number): void => {
    const at = (base: number, j: number): string => (first === "o" ? lin([["o", 1]], base + j) : String(base + first + j));
    body.line(`let w = ${first === "o" ? lin([["o", k]], kernel) : kernel + first * k};`);
    const acc = (r: number, j: number): string => `s${r}${j}`;
    for (let j = 0; j < NR; j++) {
      const b = j < outputs ? `kb[${at(bias, j)}]${nn}` : "0";
      body.line(`let ${Array.from({ length: rows }, (_, r) => `${acc(r, j)} = ${b}`).join(", ")};`);
    }
    body.block(`for (let i = 0; i < ${k}; i++, w += ${NR})`, () => {
      body.line(`const ${Array.from({ length: NR }, (_, j) => `w${j} = k[w${offset(j)}]${nn}`).join(", ")};`);
      for (let r = 0; r < rows; r++) {
        body.line(`const x${r} = a[${xs[r]} + i]${nn};`);
        body.line(Array.from({ length: NR }, (_, j) => `${acc(r, j)} += x${r} * w${j};`).join(" "));
      }
    });
    body.line("let q;");
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < outputs; j++) {
        const c = at(0, j);
        body.lines(ep.lines(acc(r, j), c, `a[${ys[r]} + ${c}]`, "q"));
      }
    }
  };
  if (full > NR) body.block(`for (let o = 0; o < ${full}; o += ${NR})`, () => panel("o", NR));
  else if (full === NR) body.block("", () => panel(0, NR));
  if (full < n) body.block("", () => panel(full, n - full));
}

/** A matrix kernel's weights in `k`: NR-wide panels over the outputs rounded up to NR. */
function panelInts(n: number, k: number): number {
  return Math.ceil(n / NR) * NR * k;
}

const conv: Int8Emitter<"conv"> = {
  scratch(node, inShape) {
    const [KH, KW] = node.attrs.kernel;
    return pointwise(node) ? 0 : MR * KH * KW * inShape[2];
  },
  emit(node, ctx) {
    const x = ctx.inputs[0]!;
    const [H, W, C] = x.shape;
    const [OH, OW, O] = ctx.outShape;
    const [KH, KW] = node.attrs.kernel;
    const [SH, SW] = node.attrs.stride;
    const [DH, DW] = node.attrs.dilation ?? [1, 1];
    const [top, left] = padsOf(node);
    expectShape(node, [O, C, KH, KW]);
    const K = KH * KW * C;
    const kernel = ctx.place(panelInts(O, K), "kernel");
    const bias = ctx.place(O, "bias");
    const ep = epilogue(node, x.quant, ctx.quant, ctx);
    const nn = typesIn(ctx.flavour)("!");
    const xzp = x.quant.zeroPoint[0]!;
    const body = new Code();
    const flat = pointwise(node);
    const P = OH * OW;
    if (flat) {
      // MR pixels at a time, then the rest one by one.
      const blocked = P - (P % MR);
      const rowsOf = (m: number): { xs: string[]; ys: string[] } => ({
        xs: Array.from({ length: m }, (_, r) => (r === 0 ? "x" : `x + ${r * C}`)),
        ys: Array.from({ length: m }, (_, r) => (r === 0 ? "y" : `y + ${r * O}`)),
      });
      if (blocked > 0) {
        body.block(`for (let p = 0; p < ${blocked}; p += ${MR})`, () => {
          body.line(`const x = ${lin([["p", C]], x.at)}, y = ${lin([["p", O]], ctx.y)};`);
          dotRows(body, ep, { n: O, k: K, kernel, bias, ...rowsOf(MR), nn });
        });
      }
      if (blocked < P) {
        body.block(`for (let p = ${blocked}; p < ${P}; p++)`, () => {
          body.line(`const x = ${lin([["p", C]], x.at)}, y = ${lin([["p", O]], ctx.y)};`);
          dotRows(body, ep, { n: O, k: K, kernel, bias, ...rowsOf(1), nn });
        });
      }
    } else {
      // MR patches gathered at a time into the scratch area, each as [kh][kw][in].
      const S = ctx.scratch;
      body.block(`for (let p0 = 0; p0 < ${P}; p0 += ${MR})`, () => {
        body.line(`const m = Math.min(${MR}, ${P} - p0);`);
        body.block("for (let r = 0; r < m; r++)", () => {
          body.line(`const oy = Math.floor((p0 + r) / ${OW}), ox = p0 + r - oy * ${OW};`);
          body.line(`let s = ${lin([["r", K]], S)};`);
          body.block(`for (let i = 0; i < ${KH}; i++)`, () => {
            body.line(`const iy = ${lin([["oy", SH], ["i", DH]], -top)};`);
            body.block(`for (let j = 0; j < ${KW}; j++)`, () => {
              body.line(`const ix = ${lin([["ox", SW], ["j", DW]], -left)};`);
              body.ifElse(
                `iy < 0 || iy >= ${H} || ix < 0 || ix >= ${W}`,
                () => body.line(`for (let c = 0; c < ${C}; c++) a[s++] = ${xzp}; // the padding: x_zp, real zero`),
                () => {
                  body.line(`const from = ${lin([["iy", W * C], ["ix", C]], x.at)};`);
                  body.line(`for (let c = 0; c < ${C}; c++) a[s++] = a[from + c]${nn};`);
                },
              );
            });
          });
        });
        body.line(`const y = ${lin([["p0", O]], ctx.y)};`);
        body.ifElse(
          `m === ${MR}`,
          () => dotRows(body, ep, { n: O, k: K, kernel, bias, xs: Array.from({ length: MR }, (_, r) => String(S + r * K)), ys: Array.from({ length: MR }, (_, r) => (r === 0 ? "y" : `y + ${r * O}`)), nn }),
          () => body.block(`for (let r = 0; r < m; r++)`, () => {
            body.line(`const x = ${lin([["r", K]], S)}, yr = ${lin([["y", 1], ["r", O]], 0)};`);
            dotRows(body, ep, { n: O, k: K, kernel, bias, xs: ["x"], ys: ["yr"], nn });
          }),
        );
      });
    }
    return {
      summary: `${flat ? "pointwise conv 1x1" : `conv ${KH}x${KW}${SH === 1 && SW === 1 ? "" : ` stride ${SH}x${SW}`}`}, ${shapeText(x.shape)} → ${shapeText(ctx.outShape)}, ${actName(node.attrs.act)}`,
      doc: [
        `${group(OH * OW)} pixel${OH * OW === 1 ? "" : "s"} × ${group(K)} → ${group(O)} channels${flat ? "" : ` (patches gathered at ${ctx.scratch}, pads [${padsOf(node).join(", ")}])`}, ${MR} pixels × ${NR} outputs at a time.`,
        `Weights w − w_zp at ${kernel} in k (panels [${NR} outputs][kh·kw·in][${NR}]), folded biases at ${bias}.`,
        ep.doc,
      ],
      constants: ep.constants,
      body,
      multAdds: OH * OW * O * K,
    };
  },
  unpack(node, ctx, placed) {
    const [, , C] = ctx.inputs[0]!.shape;
    const [KH, KW] = node.attrs.kernel;
    return { node: node.id, depthwise: false, rows: ctx.outShape[2], channels: C, taps: KH * KW, kernel: placed.kernel, bias: placed.bias, xzp: ctx.inputs[0]!.quant.zeroPoint[0]!, zeroPoints: weightsOf(node).zeroPoints };
  },
};

function pointwise(node: NodeOf<"conv">): boolean {
  const [KH, KW] = node.attrs.kernel;
  const [SH, SW] = node.attrs.stride;
  const p = padsOf(node);
  return KH === 1 && KW === 1 && SH === 1 && SW === 1 && p.every((v) => v === 0);
}

const depthwise: Int8Emitter<"depthwise"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const x = ctx.inputs[0]!;
    const [H, W, C] = x.shape;
    const [OH, OW] = ctx.outShape;
    const [KH, KW] = node.attrs.kernel;
    const [SH, SW] = node.attrs.stride;
    const [DH, DW] = node.attrs.dilation ?? [1, 1];
    const [top, left] = padsOf(node);
    expectShape(node, [C, 1, KH, KW]);
    const kernel = ctx.place(KH * KW * C, "kernel");
    const bias = ctx.place(C, "bias");
    const ep = epilogue(node, x.quant, ctx.quant, ctx);
    const nn = typesIn(ctx.flavour)("!");
    const xzp = x.quant.zeroPoint[0]!;
    const [y0, y1] = interior(OH, H, (KH - 1) * DH + 1, SH, top);
    const [x0, x1] = interior(OW, W, (KW - 1) * DW + 1, SW, left);
    const body = new Code();
    body.block(`for (let oy = 0; oy < ${OH}; oy++)`, () => {
      body.line(`const inside = oy >= ${y0} && oy < ${y1};`);
      body.line(`const iy0 = ${lin([["oy", SH]], -top)};`);
      body.block(`for (let ox = 0; ox < ${OW}; ox++)`, () => {
        body.line(`const ix0 = ${lin([["ox", SW]], -left)};`);
        body.line(`const y = ${lin([["oy", OW * C], ["ox", C]], ctx.y)};`);
        body.line("let q;");
        body.ifElse(
          `inside && ox >= ${x0} && ox < ${x1}`,
          () => {
            body.line("// Every tap inside the input.");
            body.line(`const p = ${lin([["iy0", W * C], ["ix0", C]], x.at)};`);
            body.block(`for (let c = 0; c < ${C}; c++)`, () => {
              const terms: string[] = [];
              for (let i = 0; i < KH; i++) {
                for (let j = 0; j < KW; j++) {
                  const off = (i * DH * W + j * DW) * C;
                  terms.push(`${sub(`a[${lin([["p", 1], ["c", 1]], off)}]${nn}`, xzp)} * k[${lin([["c", 1]], kernel + (i * KW + j) * C)}]${nn}`);
                }
              }
              body.line(`const s = kb[${lin([["c", 1]], bias)}]${nn} +`);
              terms.forEach((t, i) => body.line(`  ${t}${i === terms.length - 1 ? ";" : " +"}`));
              body.lines(ep.lines("s", "c", "a[y + c]", "q"));
            });
          },
          () => {
            body.line("// A window reaching into the padding: the taps inside only (the padding is x_zp, real zero).");
            body.block(`for (let c = 0; c < ${C}; c++)`, () => {
              body.line(`let s = kb[${lin([["c", 1]], bias)}]${nn};`);
              body.block(`for (let i = 0; i < ${KH}; i++)`, () => {
                body.line(`const iy = ${lin([["iy0", 1], ["i", DH]], 0)};`);
                body.line(`if (iy < 0 || iy >= ${H}) continue;`);
                body.block(`for (let j = 0; j < ${KW}; j++)`, () => {
                  body.line(`const ix = ${lin([["ix0", 1], ["j", DW]], 0)};`);
                  body.line(`if (ix >= 0 && ix < ${W}) s += ${sub(`a[${lin([["iy", W * C], ["ix", C], ["c", 1]], x.at)}]${nn}`, xzp)} * k[${lin([["i", KW * C], ["j", C], ["c", 1]], kernel)}]${nn};`);
                });
              });
              body.lines(ep.lines("s", "c", "a[y + c]", "q"));
            });
          },
        );
      });
    });
    return {
      summary: `depthwise ${KH}x${KW}${SH === 1 && SW === 1 ? "" : ` stride ${SH}x${SW}`}, ${shapeText(x.shape)} → ${shapeText(ctx.outShape)}, ${actName(node.attrs.act)}`,
      doc: [`Weights w − w_zp at ${kernel} in k ([tap][channel]), biases at ${bias}; interior windows unrolled, rows ${y0}–${y1 - 1} × columns ${x0}–${x1 - 1}.`, ep.doc],
      constants: ep.constants,
      body,
      multAdds: OH * OW * C * KH * KW,
    };
  },
  unpack(node, ctx, placed) {
    const [KH, KW] = node.attrs.kernel;
    return { node: node.id, depthwise: true, rows: ctx.outShape[2], channels: 1, taps: KH * KW, kernel: placed.kernel, bias: placed.bias, xzp: ctx.inputs[0]!.quant.zeroPoint[0]!, zeroPoints: weightsOf(node).zeroPoints };
  },
};

const fc: Int8Emitter<"fc"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const x = ctx.inputs[0]!;
    const K = size(x.shape);
    const O = ctx.outShape[2];
    expectShape(node, [O, K]);
    const kernel = ctx.place(panelInts(O, K), "kernel");
    const bias = ctx.place(O, "bias");
    const ep = epilogue(node, x.quant, ctx.quant, ctx);
    const nn = typesIn(ctx.flavour)("!");
    const body = new Code();
    dotRows(body, ep, { n: O, k: K, kernel, bias, xs: [String(x.at)], ys: [String(ctx.y)], nn });
    return {
      summary: `fc, ${shapeText(x.shape)} → ${O}`,
      doc: [`Weights w − w_zp at ${kernel} in k (panels [${NR} outputs][h·w·c][${NR}]), folded biases at ${bias}.`, ep.doc],
      constants: ep.constants,
      body,
      multAdds: O * K,
    };
  },
  unpack(node, ctx, placed) {
    const [H, W, C] = ctx.inputs[0]!.shape;
    return { node: node.id, depthwise: false, rows: ctx.outShape[2], channels: C, taps: H * W, kernel: placed.kernel, bias: placed.bias, xzp: ctx.inputs[0]!.quant.zeroPoint[0]!, zeroPoints: weightsOf(node).zeroPoints };
  },
};

/** A pool's window: kernel, stride and pads (a global pool's the whole input). */
function windowOf(node: NodeOf<"avgpool" | "maxpool">, inShape: Shape): { kh: number; kw: number; sh: number; sw: number; top: number; left: number } {
  const [H, W] = inShape;
  const [kh, kw] = node.attrs.kernel === "global" ? [H, W] : node.attrs.kernel;
  const [sh, sw] = node.attrs.stride === "kernel" ? [kh, kw] : node.attrs.stride;
  const [top, left] = node.attrs.kernel === "global" ? [0, 0] : padsOf(node);
  return { kh, kw, sh, sw, top, left };
}

/** The loops of a pool over its window's in-bounds cells: `cell(index)` per cell, then `done` (with the cells' `count` in scope when `counts`). */
function poolLoops(body: Code, x: Int8Operand, out: Shape, y: number, win: ReturnType<typeof windowOf>, init: string, cell: (i: string) => string, done: string[], counts: boolean): void {
  const [H, W, C] = x.shape;
  const [OH, OW] = out;
  body.block(`for (let oy = 0; oy < ${OH}; oy++)`, () => {
    body.line(`const r0 = Math.max(0, ${lin([["oy", win.sh]], -win.top)}), r1 = Math.min(${H}, ${lin([["oy", win.sh]], win.kh - win.top)});`);
    body.block(`for (let ox = 0; ox < ${OW}; ox++)`, () => {
      body.line(`const c0 = Math.max(0, ${lin([["ox", win.sw]], -win.left)}), c1 = Math.min(${W}, ${lin([["ox", win.sw]], win.kw - win.left)});`);
      if (counts) body.line("const count = (r1 - r0) * (c1 - c0);");
      body.line(`const y = ${lin([["oy", OW * C], ["ox", C]], y)};`);
      body.block(`for (let c = 0; c < ${C}; c++)`, () => {
        body.line(`let v = ${init};`);
        body.line(`for (let r = r0; r < r1; r++) for (let q = c0; q < c1; q++) ${cell(lin([["r", W * C], ["q", C], ["c", 1]], x.at))};`);
        body.lines(done);
      });
    });
  });
}

const avgpool: Int8Emitter<"avgpool"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const x = ctx.inputs[0]!;
    const win = windowOf(node, x.shape);
    const T = typesIn(ctx.flavour);
    const nn = T("!");
    const xzp = x.quant.zeroPoint[0]!;
    const y = ctx.quant;
    const [lo, hi] = QUANTIZED_RANGE[y.type];
    // M = s_x / (s_y · count) per window size, as the reference computes it in xnnpack mode.
    const ms = Array.from({ length: win.kh * win.kw + 1 }, (_, count) => (count === 0 ? 0 : poolMultiplier(x.quant.scale[0]!, y.scale[0]!, count)));
    const global = node.attrs.kernel === "global";
    const table = ctx.unique(`M_${ctx.name}`);
    const constants = new Code();
    if (!global) {
      constants.line(`/** ${ctx.name}: the multiplier s_x / (s_y · count) of a window of \`count\` cells. */`);
      constants.line(`const ${table}${T(": readonly number[]")} = [${ms.map(lit).join(", ")}];`);
    }
    const body = new Code();
    const [H, W, C] = x.shape;
    if (global) {
      const count = H * W;
      body.block(`for (let c = 0; c < ${C}; c++)`, () => {
        body.line("let v = 0;");
        body.line(`for (let p = 0; p < ${count}; p++) v += a[${lin([["p", C], ["c", 1]], x.at)}]${nn};`);
        body.line(`const q = Math.fround(Math.fround(v${offset(-count * xzp)}) * ${lit(ms[count]!)}) + ${ROUND} - ${ROUND}${offset(y.zeroPoint[0]!)};`);
        body.line(`a[${lin([["c", 1]], ctx.y)}] = q < ${lo} ? ${lo} : q > ${hi} ? ${hi} : q;`);
      });
    } else {
      poolLoops(body, x, ctx.outShape, ctx.y, win, "0", (i) => `v += a[${i}]${nn}`, [
        `const q = Math.fround(Math.fround(${xzp === 0 ? "v" : `v ${xzp > 0 ? "-" : "+"} count * ${Math.abs(xzp)}`}) * ${table}[count]${nn}) + ${ROUND} - ${ROUND}${offset(y.zeroPoint[0]!)};`,
        `a[y + c] = q < ${lo} ? ${lo} : q > ${hi} ? ${hi} : q;`,
      ], true);
    }
    return {
      summary: `${global ? "global average pool" : `average pool ${win.kh}x${win.kw}`}, ${shapeText(x.shape)} → ${shapeText(ctx.outShape)}`,
      doc: [`Σ (x − x_zp) over the window's cells (x_zp = ${xzp}), requantized by s_x / (s_y · count), plus the zero point ${y.zeroPoint[0]!}.`],
      ...(global ? {} : { constants }),
      body,
      multAdds: 0,
    };
  },
};

const maxpool: Int8Emitter<"maxpool"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const x = ctx.inputs[0]!;
    const win = windowOf(node, x.shape);
    const nn = typesIn(ctx.flavour)("!");
    const y = ctx.quant;
    const same = x.quant.scale[0] === y.scale[0] && x.quant.zeroPoint[0] === y.zeroPoint[0];
    const [lo, hi] = QUANTIZED_RANGE[y.type];
    const m = multiplier(x.quant.scale[0]!, 1, y.scale[0]!, "xnnpack");
    const body = new Code();
    poolLoops(
      body,
      x,
      ctx.outShape,
      ctx.y,
      win,
      "-Infinity",
      (i) => `v = Math.max(v, a[${i}]${nn})`,
      same
        ? ["a[y + c] = v;"]
        : [`const q = Math.fround(Math.fround(v${offset(-x.quant.zeroPoint[0]!)}) * ${lit(m)}) + ${ROUND} - ${ROUND}${offset(y.zeroPoint[0]!)};`, `a[y + c] = q < ${lo} ? ${lo} : q > ${hi} ? ${hi} : q;`],
      false,
    );
    return {
      summary: `max pool ${win.kh}x${win.kw}, ${shapeText(x.shape)} → ${shapeText(ctx.outShape)}`,
      doc: [same ? "The largest stored value of the window's cells (input and output share a quantization)." : `The largest stored value of the window's cells, requantized with M = ${lit(m)}.`],
      body,
      multAdds: 0,
    };
  },
};


/** Loops over the elements of an elementwise op with a second operand that may be [1, 1, C]. */
function elementwise(body: Code, ctx: Int8Context, value: (a: string, b: string) => string[]): void {
  const [A, B] = [ctx.inputs[0]!, ctx.inputs[1]!];
  const nn = typesIn(ctx.flavour)("!");
  const n = size(ctx.outShape);
  const C = ctx.outShape[2];
  const broadcast = B.shape[0] === 1 && B.shape[1] === 1 && size(B.shape) !== n;
  if (broadcast) {
    body.block(`for (let p = 0; p < ${n / C}; p++)`, () => {
      body.block(`for (let c = 0; c < ${C}; c++)`, () => {
        body.line(`const i = p * ${C} + c;`);
        body.lines(value(`a[${lin([["i", 1]], A.at)}]${nn}`, `a[${lin([["c", 1]], B.at)}]${nn}`).map((l) => l.replace("STORE", `a[${lin([["i", 1]], ctx.y)}]`)));
      });
    });
  } else {
    body.block(`for (let i = 0; i < ${n}; i++)`, () => {
      body.lines(value(`a[${lin([["i", 1]], A.at)}]${nn}`, `a[${lin([["i", 1]], B.at)}]${nn}`).map((l) => l.replace("STORE", `a[${lin([["i", 1]], ctx.y)}]`)));
    });
  }
}

const add: Int8Emitter<"add"> = {
  scratch: () => 0,
  emit(_node, ctx) {
    const [A, B] = [ctx.inputs[0]!, ctx.inputs[1]!];
    const y = ctx.quant;
    const [lo, hi] = QUANTIZED_RANGE[y.type];
    const p = xnnpackAddParameters(A.quant.scale[0]!, B.quant.scale[0]!, y.scale[0]!, A.quant.zeroPoint[0]!, B.quant.zeroPoint[0]!);
    const body = new Code();
    elementwise(body, ctx, (a, b) => [
      `const q = Math.floor((${p.bias} + ${a} * ${p.ma} + ${b} * ${p.mb}) * ${lit(2 ** -p.shift)})${offset(y.zeroPoint[0]!)};`,
      `STORE = q < ${lo} ? ${lo} : q > ${hi} ? ${hi} : q;`,
    ]);
    return {
      summary: `add, ${shapeText(A.shape)} + ${shapeText(B.shape)}`,
      doc: [`XNNPACK's quantized add: ⌊(${p.bias} + a·${p.ma} + b·${p.mb}) / 2^${p.shift}⌋ plus the zero point ${y.zeroPoint[0]!}, clamped to [${lo}, ${hi}].`],
      body,
      multAdds: 0,
    };
  },
};

const mul: Int8Emitter<"mul"> = {
  scratch: () => 0,
  emit(_node, ctx) {
    const [A, B] = [ctx.inputs[0]!, ctx.inputs[1]!];
    const y = ctx.quant;
    const [lo, hi] = QUANTIZED_RANGE[y.type];
    const m = multiplier(A.quant.scale[0]!, B.quant.scale[0]!, y.scale[0]!, "xnnpack");
    const body = new Code();
    elementwise(body, ctx, (a, b) => [
      `const q = Math.fround(Math.fround(${sub(a, A.quant.zeroPoint[0]!)} * ${sub(b, B.quant.zeroPoint[0]!)}) * ${lit(m)}) + ${ROUND} - ${ROUND}${offset(y.zeroPoint[0]!)};`,
      `STORE = q < ${lo} ? ${lo} : q > ${hi} ? ${hi} : q;`,
    ]);
    return {
      summary: `mul, ${shapeText(A.shape)} · ${shapeText(B.shape)}`,
      doc: [`(a − a_zp)(b − b_zp) requantized with M = ${lit(m)}, plus the zero point ${y.zeroPoint[0]!}, clamped to [${lo}, ${hi}].`],
      body,
      multAdds: size(ctx.outShape),
    };
  },
};

const activation: Int8Emitter<"activation"> = {
  scratch: () => 0,
  emit(node, ctx) {
    const x = ctx.inputs[0]!;
    const T = typesIn(ctx.flavour);
    const nn = T("!");
    const lo = QUANTIZED_RANGE[x.quant.type][0];
    const table = ctx.unique(`TABLE_${ctx.name}`);
    const constants = new Code();
    constants.line(`/** ${ctx.name}: ${node.attrs.act} from the input's integers (index q − ${lo}) to the output's. */`);
    constants.line(`const ${table}${T(": readonly number[]")} = [${Array.from(activationTable(node.attrs.act, x.quant, ctx.quant)).join(", ")}];`);
    const body = new Code();
    body.line(`for (let i = 0; i < ${size(ctx.outShape)}; i++) a[${lin([["i", 1]], ctx.y)}] = ${table}[a[${lin([["i", 1]], x.at)}]${nn}${offset(-lo)}]${nn};`);
    return { summary: `${node.attrs.act}, ${shapeText(x.shape)}`, doc: [`Through the 256-entry table ${table}.`], constants, body, multAdds: 0 };
  },
};

/**
 * TFLite's quantized softmax as the reference computes it: a float32 table
 * t[d] = exp(−s_x·d) (softmaxTable), then per
 * pixel p_i = t[max − q_i] · fround(1 / fround(Σ t · s_y)), y = ⌊p_i + ½⌋ + y_zp.
 */
const softmax: Int8Emitter<"softmax"> = {
  scratch: () => 0,
  emit(_node, ctx) {
    const x = ctx.inputs[0]!;
    const T = typesIn(ctx.flavour);
    const nn = T("!");
    const values = Array.from(softmaxTable(x.quant));
    const table = ctx.unique(`EXP_${ctx.name}`);
    const constants = new Code();
    constants.line(`/** ${ctx.name}: fround(exp(−s_x·d)) for d = max − q. */`);
    constants.line(`const ${table}${T(": readonly number[]")} = [${values.map(lit).join(", ")}];`);
    const y = ctx.quant;
    const [lo, hi] = QUANTIZED_RANGE[y.type];
    const [H, W, C] = x.shape;
    const body = new Code();
    body.block(`for (let p = 0; p < ${H * W}; p++)`, () => {
      body.line(`const x = ${lin([["p", C]], x.at)}, y = ${lin([["p", C]], ctx.y)};`);
      body.line("let max = -Infinity;");
      body.line(`for (let c = 0; c < ${C}; c++) max = Math.max(max, a[x + c]${nn});`);
      body.line("let sum = 0;");
      body.line(`for (let c = 0; c < ${C}; c++) sum = Math.fround(sum + ${table}[max - a[x + c]${nn}]${nn});`);
      body.line(`const inv = Math.fround(1 / Math.fround(sum * ${lit(Math.fround(y.scale[0]!))}));`);
      body.block(`for (let c = 0; c < ${C}; c++)`, () => {
        body.line(`const q = Math.floor(Math.fround(${table}[max - a[x + c]${nn}]${nn} * inv) + 0.5)${offset(y.zeroPoint[0]!)};`);
        body.line(`a[y + c] = q < ${lo} ? ${lo} : q > ${hi} ? ${hi} : q;`);
      });
    });
    return { summary: `softmax over ${C} channels`, doc: ["TFLite's quantized softmax (β = 1)."], constants, body, multAdds: 0 };
  },
};

/**
 * The integer kernels per op; `undefined` for an op that runs no code
 * (input, dropout: the value of its input) and for the ops integer inference
 * does not run (the emitter refuses those by name first).
 */
export const INT8_OPS: Readonly<{ [K in OpKind]: Int8Emitter<K> | "alias" | "input" | undefined }> = {
  input: "input",
  conv,
  depthwise,
  fc,
  avgpool,
  maxpool,
  add,
  mul,
  activation,
  softmax,
  dropout: "alias",
  deconv: undefined,
  concat: undefined,
  resize: undefined,
  argmax: undefined,
};
