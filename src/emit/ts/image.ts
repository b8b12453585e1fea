/**
 * The generated module's image input: `imageTensor(image)` turns RGBA bytes
 * of any size (a browser's `ImageData`) into the network's input tensor, as
 * `mnc run` and the library's `imageTensor` (src/image/preprocess.ts) compute
 * it — the largest centred square, Pillow's bilinear resize (the triangle
 * filter widened when shrinking, weights fixed to 22 fractional bits, each
 * pass rounded to 8 bits), one grey channel as round(0.299 R + 0.587 G +
 * 0.114 B) for a one-channel network, then (pixel − mean) / std with the
 * network's declared normalisation (mean 0, std 1 when it declares none).
 * The arithmetic here is the library's, statement for statement, so that the
 * two give the same floats bit for bit (test/emit-image.test.ts holds them
 * to it). Only networks with 1 or 3 input channels get it.
 */
import type { Graph, QuantizedType } from "../../ir/graph.js";
import { Code, typesIn, type Flavour } from "./code.js";

/** What the image function needs to know about the network. */
export interface ImageSpec {
  readonly mean: number;
  readonly std: number;
  /** Whether the `.mn` declares the normalisation (`input … mean= std=`). */
  readonly declared: boolean;
}

/** The image spec of a graph: its input's declared normalisation, or none for a network whose input has neither 1 nor 3 channels. */
export function imageSpecOf(graph: Graph): ImageSpec | undefined {
  const input = graph.nodes[0];
  if (input?.op !== "input") return undefined;
  const channels = input.shape?.[2];
  if (channels !== 1 && channels !== 3) return undefined;
  const n = input.attrs.normalisation;
  return n === undefined ? { mean: 0, std: 1, declared: false } : { mean: n.mean, std: n.std, declared: true };
}

/** The exported RGBA image type (in the TypeScript module and in the `.d.ts`). */
export function imageTypes(): Code {
  return new Code().lines([
    "/** Decoded pixels of any size: RGBA bytes, row by row (a browser's ImageData is one). */",
    "export interface RgbaImage {",
    "  readonly width: number;",
    "  readonly height: number;",
    "  readonly data: Uint8Array | Uint8ClampedArray;",
    "}",
  ]);
}

/**
 * The doc comment of imageTensor. `stored`: a quantized module's, whose
 * imageTensor returns the pixels as the input's stored integers (the bytes
 * as they are for uint8, minus 128 for int8), as `mnc run --quantized` feeds them.
 */
export function imageTensorDoc(input: readonly [number, number, number], image: ImageSpec, stored?: QuantizedType): string[] {
  const [H, W, C] = input;
  if (stored !== undefined) {
    return [
      "/**",
      ` * The network's input (${H}×${W}×${C}, NHWC, ${stored}) from an image of any size, exactly as \`mnc run --quantized\``,
      " * computes it from the same pixels: the largest centred square, resized with Pillow's bilinear filter",
      ` * (antialiased when it shrinks; the same integer arithmetic)${C === 1 ? ", made grey as round(0.299 R + 0.587 G + 0.114 B)," : ","}`,
      stored === "uint8"
        ? " * then the bytes as they are: the input's quantization (inputQuantization) is the network's normalisation."
        : " * then each byte − 128: the input's quantization (inputQuantization) is the network's normalisation.",
      " * The alpha channel is ignored.",
      " */",
    ];
  }
  return [
    "/**",
    ` * The network's input (${H}×${W}×${C}, NHWC) from an image of any size, exactly as \`mnc run\` computes it`,
    " * from the same pixels: the largest centred square, resized with Pillow's bilinear filter (antialiased",
    ` * when it shrinks; the same integer arithmetic)${C === 1 ? ", made grey as round(0.299 R + 0.587 G + 0.114 B)," : ","}`,
    ...(image.declared
      ? [` * then (pixel − ${image.mean}) / ${image.std}, the normalisation the network declares.`]
      : [" * then (pixel − 0) / 1, the pixels as they are (0–255): the network declares no normalisation", " * (`input … mean=M std=S`), so mean 0 and std 1."]),
    " * Decoding is the caller's: in a browser, draw an <img> or createImageBitmap(blob) on a canvas and",
    " * pass its getImageData(…); in Node, any decoder's RGBA output (@jsquash/jpeg's decode, pngjs, sharp's",
    " * raw RGBA). The alpha channel is ignored.",
    " */",
  ];
}

/** `imageTensor` and its helpers, in the module. */
export function imageApi(flavour: Flavour, input: readonly [number, number, number], image: ImageSpec, stored?: QuantizedType): Code {
  const T = typesIn(flavour);
  const nn = T("!");
  const [H, W, C] = input;
  const code = new Code();
  const array = stored === undefined ? "Float32Array" : stored === "uint8" ? "Uint8Array" : "Int8Array";
  // The value of a resized byte: normalised (float), as it is (uint8), − 128 (int8).
  const value = (byte: string): string => (stored === undefined ? `(${byte} - mean) / std` : stored === "uint8" ? byte : `${byte} - 128`);
  code.lines(imageTensorDoc(input, image, stored));
  code.block(`export function imageTensor(image${T(": RgbaImage")})${T(`: ${array}`)}`, () => {
    code.line("const { width, height, data } = image;");
    code.block("if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0) || !data || data.length !== width * height * 4)", () => {
      code.line("throw new RangeError(`${NETWORK}: an RGBA image of ${width}x${height} needs ${width * height * 4} bytes, not ${data ? data.length : 0}`);");
    });
    code.line("// The largest centred square.");
    code.line("const size = Math.min(width, height);");
    code.line("const left = Math.floor((width - size) / 2);");
    code.line("const top = Math.floor((height - size) / 2);");
    code.line(`// Across: each row of the square to ${W} pixels, RGB.`);
    code.line(`const xs = imageTaps(size, ${W});`);
    code.line(`const across = new Uint8Array(size * ${W * 3});`);
    code.block("for (let y = 0; y < size; y++)", () => {
      code.block(`for (let x = 0; x < ${W}; x++)`, () => {
        code.line(`const t = xs[x]${nn};`);
        code.line("const from = ((top + y) * width + left + t.start) * 4;");
        code.block("for (let ch = 0; ch < 3; ch++)", () => {
          code.line("let sum = IMAGE_HALF;");
          code.line(`for (let k = 0; k < t.weights.length; k++) sum += t.weights[k]${nn} * data[from + 4 * k + ch]${nn};`);
          code.line(`across[(y * ${W} + x) * 3 + ch] = imageByte(sum);`);
        });
      });
    });
    code.line(`// Down: each column to ${H} pixels, then ${stored === undefined ? "(pixel − mean) / std" : stored === "uint8" ? "the bytes as they are" : "each byte − 128"}.`);
    code.line(`const ys = imageTaps(size, ${H});`);
    if (stored === undefined) code.line(`const mean = ${image.mean}, std = ${image.std};`);
    code.line(`const out = new ${array}(${H * W * C});`);
    if (C === 1) code.line("const rgb = new Uint8Array(3);");
    code.block(`for (let y = 0; y < ${H}; y++)`, () => {
      code.line(`const t = ys[y]${nn};`);
      code.block(`for (let x = 0; x < ${W}; x++)`, () => {
        code.block("for (let ch = 0; ch < 3; ch++)", () => {
          code.line("let sum = IMAGE_HALF;");
          code.line(`for (let k = 0; k < t.weights.length; k++) sum += t.weights[k]${nn} * across[((t.start + k) * ${W} + x) * 3 + ch]${nn};`);
          code.line(C === 3 ? `out[(y * ${W} + x) * 3 + ch] = ${value("imageByte(sum)")};` : "rgb[ch] = imageByte(sum);");
        });
        if (C === 1) code.line(`out[y * ${W} + x] = ${value(`Math.round(0.299 * rgb[0]${nn} + 0.587 * rgb[1]${nn} + 0.114 * rgb[2]${nn})`)};`);
      });
    });
    code.line("return out;");
  });
  code.line("");
  code.line("/** Pillow's bilinear resampling: fixed-point weights with 22 fractional bits, a pass's rounding offset. */");
  code.line("const IMAGE_ONE = 4194304;");
  code.line("const IMAGE_HALF = 2097152;");
  code.line("");
  code.line("/**");
  code.line(" * For each of `outSize` pixels resampled from `inSize`, its first source pixel and fixed-point weights:");
  code.line(" * the triangle filter, widened by the scale when shrinking (every source pixel contributes), normalised.");
  code.line(" */");
  code.block(`function imageTaps(inSize${T(": number")}, outSize${T(": number")})${T(": { start: number; weights: number[] }[]")}`, () => {
    code.line("const scale = inSize / outSize;");
    code.line("const filterScale = Math.max(scale, 1);");
    code.line(`const taps${T(": { start: number; weights: number[] }[]")} = [];`);
    code.block("for (let o = 0; o < outSize; o++)", () => {
      code.line("const centre = (o + 0.5) * scale;");
      code.line("const start = Math.max(0, Math.trunc(centre - filterScale + 0.5));");
      code.line("const end = Math.min(inSize, Math.trunc(centre + filterScale + 0.5));");
      code.line(`const weights${T(": number[]")} = [];`);
      code.line("let total = 0;");
      code.block("for (let i = start; i < end; i++)", () => {
        code.line("const w = Math.max(0, 1 - Math.abs((i - centre + 0.5) / filterScale));");
        code.line("weights.push(w);");
        code.line("total += w;");
      });
      code.block("const fixed = weights.map((w) =>", () => {
        code.line("const k = total === 0 ? w : w / total;");
        code.line("return k < 0 ? Math.trunc(-0.5 + k * IMAGE_ONE) : Math.trunc(0.5 + k * IMAGE_ONE);");
      }, "});");
      code.line("taps.push({ start, weights: fixed });");
    });
    code.line("return taps;");
  });
  code.line("");
  code.line("/** A pass's fixed-point sum to a byte: rounded down, clamped to 0..255. */");
  code.block(`function imageByte(sum${T(": number")})${T(": number")}`, () => {
    code.line("return sum <= 0 ? 0 : sum >= 256 * IMAGE_ONE ? 255 : Math.floor(sum / IMAGE_ONE);");
  });
  return code;
}

/** Names the image code takes at the module's top level. */
export const IMAGE_NAMES = ["RgbaImage", "imageTensor", "imageTaps", "imageByte", "IMAGE_ONE", "IMAGE_HALF", "classifyImage"] as const;
