/**
 * fast-check generators of valid `.mn` graphs: trunks with named tensors,
 * skips (`add NAME`, including 1x1xC broadcasts), concatenations of several
 * tensors, side branches read with `from=`, resizes (bilinear and nearest,
 * every coordinate convention, by a factor or to another tensor's size),
 * dilated convolutions, transposed convolutions, SE-style gates (`mul`),
 * standalone sigmoids, argmax and softmax heads, and several named outputs.
 *
 * The generator draws a list of instructions and interprets it against the
 * shapes it tracks, so every spec it returns compiles; `shapes` are the
 * shapes mnc must infer, for tests that want them.
 */
import fc from "fast-check";

const ACTS = ["relu", "relu6", "linear", "hswish", "hsigmoid", "sigmoid"] as const;
const COORDS = ["align_corners", "half_pixel", "asymmetric"] as const;

type Shape = readonly [number, number, number];

interface Instruction {
  readonly op: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

const instruction: fc.Arbitrary<Instruction> = fc.record({
  op: fc.integer({ min: 0, max: 11 }),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
});

export interface GraphSpec {
  readonly source: string;
  /** The outputs' names, in order (one name: the last layer, the default output, under its name). */
  readonly outputs: readonly string[];
}

export interface GraphSpecSize {
  readonly minSize?: number;
  readonly maxSize?: number;
  /** The largest height or width any tensor may reach (resizes and transposed convolutions grow maps). */
  readonly maxMap?: number;
  readonly maxLength?: number;
}

/** A valid graph network with its outputs' names. */
export function validGraphSpec({ minSize = 4, maxSize = 16, maxMap = 40, maxLength = 12 }: GraphSpecSize = {}): fc.Arbitrary<GraphSpec> {
  return fc
    .tuple(
      fc.integer({ min: minSize, max: maxSize }),
      fc.integer({ min: minSize, max: maxSize }),
      fc.integer({ min: 1, max: 4 }),
      fc.array(instruction, { minLength: 1, maxLength }),
      fc.constantFrom("none", "softmax", "argmax", "sigmoid"),
      fc.integer({ min: 0, max: 2 }),
    )
    .map(([h, w, c, program, head, extraOutputs]) => interpret([h, w, c], program, head, extraOutputs, maxMap));
}

function interpret(input: Shape, program: readonly Instruction[], head: string, extraOutputs: number, maxMap: number): GraphSpec {
  const lines: string[] = [`image = input ${input.join("x")}`];
  const named: { name: string; shape: Shape }[] = [{ name: "image", shape: input }];
  let current: { name: string; shape: Shape } = named[0]!;
  let count = 0;
  const fresh = (prefix: string): string => `${prefix}${count++}`;
  /** Emit a trunk statement: it reads the current tensor (or `from`) and becomes the current one. */
  const trunk = (text: string, shape: Shape): void => {
    const name = fresh("t");
    lines.push(`${name} = ${text}`);
    current = { name, shape };
    named.push(current);
  };
  const pick = <T>(items: readonly T[], seed: number): T => items[seed % items.length]!;
  const width = (seed: number): number => 1 + (seed % 12);

  for (const { op, a, b, c } of program) {
    const [H, W, C] = current.shape;
    switch (op) {
      case 0: {
        // A full convolution, maybe strided or dilated.
        const k = pick([1, 3, 5], a);
        const stride = k > 1 && b % 3 === 0 ? 2 : 1;
        const dilation = stride === 1 && k > 1 && c % 2 === 0 ? 1 + (c % 3) : 1;
        const n = width(b);
        const out: Shape = [Math.ceil(H / stride), Math.ceil(W / stride), n];
        trunk(`conv ${k}x${k} ${n}${stride > 1 ? " stride=2" : ""}${dilation > 1 ? ` dilation=${dilation}` : ""} act=${pick(ACTS, c)}${a % 2 === 0 ? " norm=none" : ""}`, out);
        break;
      }
      case 1: {
        const k = pick([3, 5, 3], a);
        const stride = b % 4 === 0 ? 2 : 1;
        const dilation = stride === 1 ? 1 + (c % 4) : 1;
        trunk(`dw ${k}x${k}${stride > 1 ? " stride=2" : ""}${dilation > 1 ? ` dilation=${dilation}` : ""} act=${pick(ACTS, b)}`, [Math.ceil(H / stride), Math.ceil(W / stride), C]);
        break;
      }
      case 2: {
        const n = width(a);
        trunk(`pw ${n} act=${pick(ACTS, b)}`, [H, W, n]);
        break;
      }
      case 3: {
        // A skip from an earlier tensor of the same shape, or a 1x1xC one broadcast.
        const fits = named.filter((t) => t !== current && t.shape[2] === C && ((t.shape[0] === H && t.shape[1] === W) || (t.shape[0] === 1 && t.shape[1] === 1)));
        if (fits.length === 0) break;
        trunk(`add ${pick(fits, a).name}`, current.shape);
        break;
      }
      case 4: {
        // A concat of the current tensor and one or two earlier ones of its height and width.
        const fits = named.filter((t) => t !== current && t.shape[0] === H && t.shape[1] === W);
        if (fits.length === 0) break;
        const first = pick(fits, a);
        const second = b % 2 === 0 && fits.length > 1 ? pick(fits, b + 1) : undefined;
        const parts = [first, ...(second === undefined ? [] : [second])];
        trunk(`concat ${parts.map((t) => t.name).join(" ")}`, [H, W, C + parts.reduce((s, t) => s + t.shape[2], 0)]);
        break;
      }
      case 5: {
        const mode = a % 3 === 0 ? "nearest" : "bilinear";
        const coords = pick(COORDS, b);
        const others = named.filter((t) => t !== current && (t.shape[0] !== H || t.shape[1] !== W) && t.shape[0] <= maxMap && t.shape[1] <= maxMap);
        if (c % 2 === 0 && others.length > 0) {
          const like = pick(others, c);
          trunk(`resize to=${like.name} mode=${mode} coords=${coords}`, [like.shape[0], like.shape[1], C]);
        } else {
          const f = 2 + (c % 2);
          if (H * f > maxMap || W * f > maxMap) break;
          trunk(`resize ${f} mode=${mode} coords=${coords}`, [H * f, W * f, C]);
        }
        break;
      }
      case 6: {
        // An SE-style gate of the current tensor, applied with `mul`.
        const source = current;
        const gate = fresh("g");
        lines.push("avgpool global", `conv 1x1 ${Math.max(1, C >> 1)} norm=none act=relu`, `${gate} = conv 1x1 ${C} norm=none act=${pick(["sigmoid", "hsigmoid"], a)}`);
        named.push({ name: gate, shape: [1, 1, C] });
        trunk(b % 2 === 0 ? `mul ${gate} from=${source.name}` : `mul ${source.name}`, source.shape);
        break;
      }
      case 7: {
        const [k, s] = pick([[2, 2], [3, 2], [1, 1], [3, 1], [4, 2]] as const, a);
        if (H * s > maxMap || W * s > maxMap) break;
        const n = width(b);
        trunk(`deconv ${k}x${k} ${n}${s > 1 ? ` stride=${s}` : ""} act=${pick(ACTS, c)}${c % 2 === 0 ? " norm=none" : ""}`, [H * s, W * s, n]);
        break;
      }
      case 8: {
        // A side branch from an earlier tensor of the current height and width, joined back.
        const fits = named.filter((t) => t.shape[0] === H && t.shape[1] === W);
        const from = pick(fits, a);
        const join = b % 2 === 0 ? "concat" : "add";
        const n = join === "add" ? C : width(c);
        const branch = fresh("b");
        lines.push(`${branch} = pw ${n} act=${pick(ACTS, c)} from=${from.name}`);
        named.push({ name: branch, shape: [H, W, n] });
        // The branch's source is read by the branch; the trunk goes on from the tensor before it.
        trunk(`${join} ${branch} from=${current.name}`, join === "add" ? current.shape : [H, W, C + n]);
        break;
      }
      case 9:
        trunk("sigmoid", current.shape);
        break;
      case 10:
        trunk(a % 2 === 0 ? "maxpool 3x3 stride=1 pad=same" : "avgpool 2x2 stride=1 pad=same", current.shape);
        break;
      case 11: {
        const stride = a % 2 === 0 ? 2 : 1;
        trunk(`separable ${width(b)}${stride > 1 ? " stride=2" : ""}${stride === 1 && c % 2 === 0 ? " dilation=2" : ""}`, [Math.ceil(H / stride), Math.ceil(W / stride), width(b)]);
        break;
      }
    }
  }
  if (current.name === "image") trunk("pw 4", [input[0], input[1], 4]);
  if (head !== "none") trunk(head, head === "argmax" ? [current.shape[0], current.shape[1], 1] : current.shape);
  // Several outputs: the last tensor and some earlier trunk tensors (each read later, so none is dead).
  const earlier = named.filter((t) => t.name.startsWith("t") && t !== current);
  const several = extraOutputs > 0 && earlier.length > 0;
  const outputs = several ? [current.name, ...earlier.slice(-extraOutputs).map((t) => t.name)] : [current.name];
  if (several) lines.push(`output ${outputs.join(" ")}`);
  return {
    source: ["network RandomGraph {", ...lines.map((l) => `  ${l}`), "}", ""].join("\n"),
    outputs,
  };
}
