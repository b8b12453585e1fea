/**
 * fast-check generators of valid `.mn` specs: random stacks of every layer
 * statement — convolutions, separable and user blocks, MobileNetV2/V3
 * bottlenecks with and without SE, residual bodies, every activation —
 * under random widths, rounding rules and defaults.
 */
import fc from "fast-check";

export const ACTS = ["relu", "relu6", "linear", "hswish", "hsigmoid", "sigmoid"] as const;
const act = fc.constantFrom("", ...ACTS.map((a) => ` act=${a}`));
const norm = fc.constantFrom("", "", " norm=none");
const stride = fc.constantFrom("", "", " stride=2");
const kernel = fc.constantFrom("1x1", "3x3", "5x5", "3x1", "3");
const channels = fc.integer({ min: 8, max: 96 });

/** A bottleneck whose expansion and SE squeeze always keep at least one channel. */
const bottleneck = fc
  .tuple(channels, fc.constantFrom("1", "2", "6", "3/2", "88/24"), stride, fc.constantFrom("", " kernel=5x5"), fc.boolean(), act)
  .map(([n, t, s, k, se, a]) => `bottleneck ${n} expand=${t}${s}${k}${se ? ` se=${t === "2" || t === "6" ? "0.5" : "1"}` : ""}${a}`);

/** Bodies that keep their input's shape, as a residual needs. */
const residual = fc
  .array(fc.oneof(fc.tuple(fc.constantFrom("3x3", "5x5"), act).map(([k, a]) => `dw ${k}${a}`), fc.constantFrom("se 1", "se 1 gate=sigmoid", "maxpool 3x3 stride=1 pad=same")), { minLength: 1, maxLength: 3 })
  .map((ls) => ["residual {", ...ls.map((l) => `  ${l}`), "}"]);

const layer: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(kernel, channels, stride, act, norm).map(([k, n, s, a, b]) => `conv ${k} ${n}${s}${a}${b}`),
  fc.tuple(kernel, stride, act).map(([k, s, a]) => `dw ${k}${s}${a}`),
  fc.tuple(channels, act, norm).map(([n, a, b]) => `pw ${n}${a}${b}`),
  fc.tuple(channels, stride, fc.constantFrom("", " kernel=5x5")).map(([n, s, k]) => `separable ${n}${s}${k}`),
  fc.constantFrom("maxpool 2x2 pad=same", "avgpool 3x3 stride=1 pad=same", "dropout 0.25", "se 1"),
  fc.tuple(channels).map(([n]) => `unit ${n}`),
  bottleneck,
);

const body: fc.Arbitrary<string[]> = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: layer.map((l) => [l]) },
      { weight: 1, arbitrary: residual },
      { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.array(layer, { minLength: 1, maxLength: 3 })).map(([n, ls]) => [`repeat ${n} {`, ...ls.map((l) => `  ${l}`), "}"]) },
    ),
    { minLength: 1, maxLength: 10 },
  )
  .map((groups) => groups.flat());

export interface SpecSize {
  readonly minSize?: number;
  readonly maxSize?: number;
}

/** A valid network: random input, header, layers and (maybe) a classifier head. */
export function validSpec({ minSize = 8, maxSize = 64 }: SpecSize = {}): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.integer({ min: minSize, max: maxSize }),
      fc.integer({ min: minSize, max: maxSize }),
      fc.integer({ min: 1, max: 4 }),
      body,
      fc.constantFrom("", "width 0.5\n", "defaults act=relu6\n", "width 1.0 rounding=div8\n", "defaults act=hswish\n"),
      fc.boolean(),
    )
    .map(([h, w, c, lines, header, head]) =>
      [
        "block unit(out, s = 1) {",
        "  dw 3x3 stride=s",
        "  pw out",
        "}",
        "network Random(classes = 10) {",
        `  input ${h}x${w}x${c}`,
        `  ${header}`,
        ...lines.map((l) => `  ${l}`),
        ...(head ? ["  avgpool global", "  fc classes", "  softmax"] : []),
        "}",
        "",
      ].join("\n"),
    );
}
