/**
 * The fixed part of a quantized module: its exported types, createModel /
 * createModelAsync, quantizeInput, dequantize, topK, the Model (run, runAll,
 * classify, classifyImage, profile), the TypeScript engine, the weights
 * check and base64 (the WebAssembly engine is in wasm.ts). Only numbers and
 * names computed by the emitter are spliced in; any text is escaped.
 */
import { QUANTIZED_RANGE, type Quantization, type Shape } from "../../../ir/graph.js";
import { Code, group, stringLiteral, typesIn, type Flavour } from "../code.js";
import { imageApi, imageTensorDoc, imageTypes, type ImageSpec } from "../image.js";
import { HEADER_BYTES, MAGIC } from "../weights-file.js";
import { INT8_FORMAT_VERSION } from "./weights.js";
import { wasmEngineCode, type Int8WasmSpec } from "./wasm.js";
import { backendOfFunction, base64Decoder, bytesOfFunction, createModelFunctions, profileFunction, topKSelection } from "../runtime.js";

export interface ApiSpec {
  readonly flavour: Flavour;
  readonly input: Shape;
  readonly inArray: string;
  readonly outArray: string;
  readonly outArrays: readonly string[];
  readonly outputSize: number;
  readonly classifier: boolean;
  readonly labels: boolean;
  readonly embedded: boolean;
  readonly outputNames?: readonly string[];
  readonly wasm?: Int8WasmSpec;
  readonly image?: ImageSpec;
  readonly inQuant: Quantization;
  readonly profile: boolean;
  /** The layer functions, in order, and whether each reads the weights. */
  readonly layers: readonly { readonly name: string; readonly weights: boolean }[];
}

export function publicTypes(r: ApiSpec): Code {
  const code = new Code();
  const [H, W, C] = r.input;
  code.lines([
    "/** An affine quantization: real = scale · (q − zeroPoint), q an integer of `type`'s range. */",
    "export interface Quantization {",
    '  readonly type: "uint8" | "int8";',
    "  readonly scale: number;",
    "  readonly zeroPoint: number;",
    "}",
    "",
    ...(r.classifier
      ? [
          "export interface Prediction {",
          "  /** The output index (class id). */",
          "  readonly index: number;",
          "  /** Its stored integer, as run() returns it. */",
          "  readonly q: number;",
          "  /** Its real value, outputQuantization.scale · (q − zeroPoint): a probability when the network ends in softmax. */",
          "  readonly probability: number;",
          ...(r.labels ? ["  /** `labels[index]`. */", "  readonly label: Label;"] : []),
          "}",
          "",
        ]
      : []),
    ...(r.outputNames !== undefined
      ? ["/** runAll()'s result: every output's stored integers by name, batch items one after another, each NHWC. */", `export type Outputs = { readonly [K in OutputName]: ${r.outArrays.length === 1 || new Set(r.outArrays).size === 1 ? r.outArray : "Uint8Array | Int8Array"} };`, ""]
      : []),
    "/** The kernels a model runs on: WebAssembly SIMD128, or plain TypeScript. Both compute the same integers. */",
    'export type Backend = "wasm-simd" | "typescript";',
    "",
    "export interface ModelOptions {",
    "  /**",
    r.wasm !== undefined
      ? '   * "auto" (the default): WebAssembly SIMD where the host supports it, else TypeScript. Naming a'
      : '   * "auto" (the default) and "typescript": the TypeScript kernels, the only ones in this module;',
    r.wasm !== undefined ? "   * backend forces it; createModel throws when the host cannot run the one named." : '   * "wasm-simd" throws.',
    "   */",
    '  readonly backend?: "auto" | Backend;',
    "}",
    "",
    "export interface Model {",
    "  /** The kernels this model runs on. */",
    "  readonly backend: Backend;",
    "  /**",
    `   * Run the network on \`batch\` images of stored integers, NHWC: ${group(H * W * C)} values (${H}×${W}×${C}) per image,`,
    `   * one after another (quantizeInput makes them from floats). Returns the stored integers [batch, ${r.outputSize}];`,
    "   * pass `output` (at least that long) to write into it instead of a new array.",
    "   */",
    `  run(input: ${r.inArray}, batch?: number, output?: ${r.outArray}): ${r.outArray};`,
    ...(r.outputNames !== undefined
      ? ["  /** Run the network on `batch` images as run() does and return every output's stored integers by name. */", `  runAll(input: ${r.inArray}, batch?: number): Outputs;`]
      : []),
    ...(r.classifier
      ? [
          `  /** Run one image and return its \`k\` highest outputs, best first${r.labels ? ", with their labels" : ""}. */`,
          `  classify(input: ${r.inArray}, k?: number): Prediction[];`,
          ...(r.image !== undefined ? ["  /** classify(imageTensor(image), k): an image of any size, RGBA (a browser's ImageData). */", "  classifyImage(image: RgbaImage, k?: number): Prediction[];"] : []),
        ]
      : []),
    ...(r.profile ? ["  /** Profiling build only: each layer's median time, in milliseconds, over `repeats` runs made layer by layer (each layer timed where a run reaches it). */", `  profile(input: ${r.inArray}, repeats?: number): { layer: string; ms: number }[];`] : []),
    "}",
  ]);
  if (r.image !== undefined) {
    code.line("");
    code.append(imageTypes());
  }
  return code;
}

const QUANTIZE_INPUT_DOC = [
  "/**",
  " * Floats (NHWC, any number of images) to the input's stored integers: round(x / scale) + zeroPoint, rounded half",
  " * away from zero and clamped to the type's range, as TFLite's Quantize and mnc's integer reference.",
  " */",
];
const DEQUANTIZE_DOC = ["/** Stored integers to reals: scale · (q − zeroPoint), by default with the (first) output's quantization. */"];
const TOP_K_DOC = ["/** The `k` highest integers of batch item `item` of run()'s output, best first (ties: lower index first). */"];
const CREATE_DOC = (embedded: boolean): string[] => [
  "/**",
  embedded
    ? " * Create a model. The weights are embedded in this module; pass a weights file's bytes to use others."
    : " * Create a model from the weights file emitted with this module (its bytes, as a Uint8Array or ArrayBuffer).",
  " * Throws when the bytes are not that file: another network's weights, a float module's file, a truncated",
  " * or padded one.",
  " */",
];
const CREATE_ASYNC_DOC = ["/** createModel, compiling the WebAssembly kernels asynchronously (everywhere, including a browser's main thread). */"];

function weightsParam(r: ApiSpec): string {
  return r.embedded ? "weights?: Uint8Array | ArrayBuffer" : "weights: Uint8Array | ArrayBuffer";
}

export function declarations(r: ApiSpec): string[] {
  return [
    ...CREATE_DOC(r.embedded),
    `export declare function createModel(${weightsParam(r)}, options?: ModelOptions): Model;`,
    ...CREATE_ASYNC_DOC,
    `export declare function createModelAsync(${weightsParam(r)}, options?: ModelOptions): Promise<Model>;`,
    ...QUANTIZE_INPUT_DOC,
    `export declare function quantizeInput(input: ArrayLike<number>): ${r.inArray};`,
    ...DEQUANTIZE_DOC,
    "export declare function dequantize(values: ArrayLike<number>, quantization?: Quantization): Float32Array;",
    ...(r.classifier ? [...TOP_K_DOC, "export declare function topK(output: ArrayLike<number>, k?: number, item?: number): Prediction[];"] : []),
    ...(r.image !== undefined ? [...imageTensorDoc(r.input, r.image, r.inQuant.type), `export declare function imageTensor(image: RgbaImage): ${r.inArray};`] : []),
  ];
}

export function publicApi(r: ApiSpec): Code {
  const code = new Code();
  const T = typesIn(r.flavour);
  const nn = T("!");
  const wp = r.flavour === "ts" ? weightsParam(r) : "weights";
  const bytes = r.embedded ? "weights === undefined ? decodeBase64(EMBEDDED_WEIGHTS) : bytesOf(weights)" : "bytesOf(weights)";
  createModelFunctions(code, { T, params: wp, bytes, local: "blob", wasm: r.wasm !== undefined, doc: CREATE_DOC(r.embedded), asyncDoc: CREATE_ASYNC_DOC });
  const [lo, hi] = QUANTIZED_RANGE[r.inQuant.type];
  code.line("");
  code.lines(QUANTIZE_INPUT_DOC);
  code.block(`export function quantizeInput(input${T(": ArrayLike<number>")})${T(`: ${r.inArray}`)}`, () => {
    code.line(`const out = new ${r.inArray}(input.length);`);
    code.block("for (let i = 0; i < input.length; i++)", () => {
      code.line(`const x = input[i]${nn} / inputQuantization.scale;`);
      code.line("const q = (x < 0 ? -Math.round(-x) : Math.round(x)) + inputQuantization.zeroPoint;");
      code.line(`out[i] = q < ${lo} ? ${lo} : q > ${hi} ? ${hi} : q;`);
    });
    code.line("return out;");
  });
  code.line("");
  code.lines(DEQUANTIZE_DOC);
  code.block(`export function dequantize(values${T(": ArrayLike<number>")}, quantization = outputQuantization)${T(": Float32Array")}`, () => {
    code.line("const out = new Float32Array(values.length);");
    code.line(`for (let i = 0; i < values.length; i++) out[i] = quantization.scale * (values[i]${nn} - quantization.zeroPoint);`);
    code.line("return out;");
  });
  if (r.classifier) {
    code.line("");
    code.lines(TOP_K_DOC);
    code.block(`export function topK(output${T(": ArrayLike<number>")}, k = 5, item = 0)${T(": Prediction[]")}`, () => {
      topKSelection(code, T, "output");
      code.block("return best.map((index) =>", () => {
        code.line(`const q = output[base + index]${nn};`);
        code.line(`return { index, q, probability: outputQuantization.scale * (q - outputQuantization.zeroPoint)${r.labels ? `, label: labels[index]${nn}` : ""} };`);
      }, "});");
    });
  }
  if (r.image !== undefined) {
    code.line("");
    code.append(imageApi(r.flavour, r.input, r.image, r.inQuant.type));
  }
  return code;
}

/** backendOf, modelOf, the TypeScript engine, the weights check, base64 and the WebAssembly engine. */
export function runtimeInternals(code: Code, r: ApiSpec, noWasm: string | undefined): void {
  const T = typesIn(r.flavour);
  const nn = T("!");
  const [H, W, C] = r.input;
  backendOfFunction(code, T, r.wasm !== undefined, noWasm);
  code.line("");
  const inputOk = r.inArray === "Uint8Array" ? "value instanceof Uint8Array || value instanceof Uint8ClampedArray" : "value instanceof Int8Array";
  code.block(`function modelOf(e${T(": Engine")})${T(": Model")}`, () => {
    code.block(`const check = (input${T(`: ${r.inArray}`)}, batch${T(": number")})${T(": void")} =>`, () => {
      code.line(`const value${T(": unknown")} = input;`);
      code.block(`if (!(${inputOk}))`, () => {
        code.line(`throw new TypeError(\`\${NETWORK}: the input must be a ${r.inArray} of stored ${r.inQuant.type} integers (NHWC; quantizeInput makes them from floats), not \${Array.isArray(input) ? "an Array" : ArrayBuffer.isView(input) ? ${r.flavour === "ts" ? "(input as object)" : "input"}.constructor.name : typeof input}\`);`);
      });
      code.block("if (!Number.isInteger(batch) || batch < 1)", () => code.line("throw new RangeError(`${NETWORK}: batch must be a positive integer, not ${batch}`);"));
      code.block("if (input.length !== batch * INPUT_SIZE)", () => {
        code.line(`throw new RangeError(\`\${NETWORK}: the input has \${input.length} values; a batch of \${batch} needs \${batch * INPUT_SIZE} (\${batch} × ${H}×${W}×${C}, NHWC)\`);`);
      });
    }, "};");
    const others = r.outArrays.slice(1);
    code.block(`const run = (input${T(`: ${r.inArray}`)}, batch = 1, output${T(`?: ${r.outArray}`)})${T(`: ${r.outArray}`)} =>`, () => {
      code.line("check(input, batch);");
      code.line(`const out = output ?? new ${r.outArray}(batch * OUTPUT_SIZE);`);
      code.block("if (out.length < batch * OUTPUT_SIZE)", () => {
        code.line("throw new RangeError(`${NETWORK}: the output array holds ${out.length} values; a batch of ${batch} needs ${batch * OUTPUT_SIZE}`);");
      });
      // Outputs beyond the first are computed by the kernels anyway; run() reads only the first.
      code.line(`const rest${T(": Stored[]")} = [${others.map((a, i) => `new ${a}(OUTPUT_SIZES[${i + 1}]${nn})`).join(", ")}];`);
      code.line(`for (let b = 0; b < batch; b++) e.infer(input.subarray(b * INPUT_SIZE, (b + 1) * INPUT_SIZE), [out.subarray(b * OUTPUT_SIZE, (b + 1) * OUTPUT_SIZE), ...rest], 0);`);
      code.line("return out;");
    }, "};");
    const methods = ["backend: e.backend", "run"];
    if (r.outputNames !== undefined) {
      code.block(`const runAll = (input${T(`: ${r.inArray}`)}, batch = 1)${T(": Outputs")} =>`, () => {
        code.line("check(input, batch);");
        code.line(`const outs${T(": Stored[]")} = [${r.outArrays.map((a, i) => `new ${a}(batch * OUTPUT_SIZES[${i}]${nn})`).join(", ")}];`);
        code.line("for (let b = 0; b < batch; b++) e.infer(input.subarray(b * INPUT_SIZE, (b + 1) * INPUT_SIZE), outs, b);");
        code.line(`return { ${(r.outputNames ?? []).map((n, i) => `${stringLiteral(n)}: outs[${i}]${nn}${r.flavour === "ts" ? ` as ${r.outArrays[i]}` : ""}`).join(", ")} };`);
      }, "};");
      methods.push("runAll");
    }
    if (r.classifier) {
      code.line(`const classify = (input${T(`: ${r.inArray}`)}, k = 5)${T(": Prediction[]")} => topK(run(input, 1), k);`);
      methods.push("classify");
      if (r.image !== undefined) {
        code.line(`const classifyImage = (image${T(": RgbaImage")}, k = 5)${T(": Prediction[]")} => classify(imageTensor(image), k);`);
        methods.push("classifyImage");
      }
    }
    if (r.profile) {
      code.lines(profileFunction(r.flavour, r.inArray));
      methods.push("profile");
    }
    code.line(`return { ${methods.join(", ")} };`);
  });
  code.line("");
  code.line("/** The TypeScript kernels: the activations in `a`, the weights in `k`, the biases in `kb`, allocated here once. */");
  code.block(`function typescriptEngine(blob${T(": Uint8Array")})${T(": Engine")}`, () => {
    code.line("const a = new Float32Array(ACTIVATION_INTS);");
    code.line("const k = new Float32Array(WEIGHT_FLOATS);");
    code.line("const kb = new Float64Array(BIASES);");
    code.line("unpack(blob, k, kb);");
    code.block("return", () => {
      code.line('backend: "typescript",');
      code.block("infer(input, outputs, item)", () => {
        code.line("a.set(input, INPUT_AT);");
        code.line("forward(a, k, kb);");
        code.line(`outputs.forEach((o, i) => o.set(a.subarray(OUTPUT_ATS[i]${nn}, OUTPUT_ATS[i]${nn} + OUTPUT_SIZES[i]${nn}), item * OUTPUT_SIZES[i]${nn}));`);
      }, "},");
      if (r.profile) code.line(`layers: [${r.layers.map((l) => `[${stringLiteral(l.name)}, () => ${l.name}(a${l.weights ? ", k, kb" : ""})]`).join(", ")}],`);
    }, "};");
  });
  if (r.wasm !== undefined) wasmEngineCode(code, r.flavour, r.wasm, r.profile);
  code.line("");
  bytesOfFunction(code, T);
  code.line("");
  code.lines([
    "/**",
    ` * Check a weights file and return its blob: a ${HEADER_BYTES}-byte header (magic "MNCW", format version ${INT8_FORMAT_VERSION} — 8-bit`,
    " * integers —, layout fingerprint, blob bytes, all u32 little-endian), then the blob.",
    " */",
  ]);
  code.block(`function readWeights(bytes${T(": Uint8Array")})${T(": Uint8Array")}`, () => {
    code.line(`const refuse = (why${T(": string")})${T(": Error")} =>`);
    code.line("  new Error(`${NETWORK}: these are not this model's weights: ${why}. Use the .weights.bin file emitted together with this module (${WEIGHTS_BYTES} bytes).`);");
    code.line(`if (bytes.byteLength < ${HEADER_BYTES}) throw refuse(\`the file has \${bytes.byteLength} bytes, shorter than the ${HEADER_BYTES}-byte header\`);`);
    code.line("const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);");
    code.line(`if (view.getUint32(0, true) !== 0x${MAGIC.toString(16)}) throw refuse('the file does not start with "MNCW"');`);
    code.line("const version = view.getUint32(4, true);");
    code.line(`if (version === 2) throw refuse("it is a float module's file (format version 2, float32 weights); this module computes in integers and reads 8-bit weights (format version ${INT8_FORMAT_VERSION})");`);
    code.line(`if (version !== ${INT8_FORMAT_VERSION}) throw refuse(\`format version \${version}, expected ${INT8_FORMAT_VERSION}\`);`);
    code.block("if (view.getUint32(8, true) !== FINGERPRINT)", () => {
      code.line('throw refuse(`they are laid out for another network (fingerprint 0x${view.getUint32(8, true).toString(16).padStart(8, "0")}, expected 0x${FINGERPRINT.toString(16).padStart(8, "0")})`);');
    });
    code.block("if (view.getUint32(12, true) !== BLOB_BYTES || bytes.byteLength !== WEIGHTS_BYTES)", () => {
      code.line("throw refuse(`the file has ${bytes.byteLength} bytes (${view.getUint32(12, true)} declared), expected ${WEIGHTS_BYTES}`);");
    });
    code.line(`return bytes.subarray(${HEADER_BYTES});`);
  });
  if (r.embedded || r.wasm !== undefined) {
    code.line("");
    code.line("/** Standard base64 (with padding) to bytes. */");
    base64Decoder(code, T);
  }
}

