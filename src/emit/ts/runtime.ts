/**
 * The fixed part of a generated module: createModel / createModelAsync, the
 * two engines (WebAssembly SIMD, TypeScript) and the choice between them,
 * run, topK, the weights check, the base64 decoder and the weights repacking
 * for the WebAssembly kernels. Only numbers and names computed by the
 * emitter are spliced in; any text is escaped by the caller.
 */
import { Code, group, stringLiteral, typesIn, type Flavour } from "./code.js";
import { imageApi, imageTypes, type ImageSpec } from "./image.js";
import { FORMAT_VERSION, HEADER_BYTES, MAGIC } from "./weights-file.js";

/**
 * A GEMM layer's weights: in the file, the WebAssembly kernels' panels; in the TypeScript kernels'
 * memory, their own (see `unpackPanels` in the generated code).
 */
export interface GemmWeights {
  readonly kind: "panels";
  readonly layer: string;
  /** Float index of the packed tensor in the file's weights (and in WebAssembly memory). */
  readonly at: number;
  /** Offsets in the TypeScript kernels' memory m of the kernel panels and the bias. */
  readonly kernel: number;
  readonly bias: number;
  /** Output channels, reduction length as the TypeScript kernels read it, their panel width. */
  readonly n: number;
  readonly k: number;
  readonly nr: number;
  /** The WebAssembly panel width (4·nv). */
  readonly panel: number;
  /** The WebAssembly reduction runs over `stride` lanes per pixel of which the first `channels` are real (fc on a padded activation); pointwise and conv: both equal k. */
  readonly channels: number;
  readonly stride: number;
}

/** A depthwise layer's weights: in the file [bias][taps] in rows of roundUp4(C); in m [taps][C] and the bias apart. */
export interface DepthwiseWeights {
  readonly kind: "depthwise";
  readonly layer: string;
  readonly at: number;
  readonly kernel: number;
  readonly bias: number;
  readonly channels: number;
  readonly taps: number;
}

export interface WasmSpec {
  /** The module's size in bytes (its base64 text is the WASM constant). */
  readonly bytes: number;
  /** 64 KiB pages of memory it imports; its weights region starts at byte 0. */
  readonly pages: number;
  /** Byte addresses of one image's input and output. */
  readonly input: number;
  readonly output: number;
  /** Its steps (exported functions taking input and output byte addresses), for profile(). */
  readonly steps: readonly { readonly name: string; readonly input: number; readonly output: number }[];
  /** Byte addresses of one image's every output, in order (a module with named outputs). */
  readonly outputs?: readonly number[];
}

/** One of the outputs a network names: its name, offset in m, values per batch item and shape. */
export interface OutputSpec {
  readonly name: string;
  readonly at: number;
  readonly size: number;
  readonly shape: readonly [number, number, number];
}

export interface RuntimeSpec {
  /** TypeScript, or the same code without its types (JavaScript, its types in a .d.ts: see `declarations`). */
  readonly flavour: Flavour;
  /** The network's name, for messages (a string literal is made of it here). */
  readonly network: string;
  readonly input: readonly [number, number, number];
  /** Values per batch item of the output. */
  readonly outputSize: number;
  readonly memoryFloats: number;
  /** Offsets in m of the input item, the output item and the weights region. */
  readonly inputAt: number;
  readonly outputAt: number;
  readonly weightsAt: number;
  readonly weightFloats: number;
  readonly fingerprint: number;
  readonly embedded: boolean;
  readonly labels: boolean;
  /** Layer function names, in order. */
  readonly layers: readonly string[];
  /** Add `profile()`: per-layer timings with the host's `performance.now()` (for benchmarks only). */
  readonly profile: boolean;
  /** Whether the first output is one pixel of scores: topK, classify and classifyImage exist only then. */
  readonly classifier: boolean;
  /** The outputs the network names (`output a b`, --outputs): outputNames, outputShapes and Model.runAll. */
  readonly outputs?: readonly OutputSpec[];
  /** Where each weighted layer's tensors lie in the file and in m. */
  readonly weights: readonly (GemmWeights | DepthwiseWeights)[];
  /** The embedded WebAssembly kernels; absent with --no-wasm or when the network does not fit them. */
  readonly wasm?: WasmSpec;
  /** Why there are no WebAssembly kernels (when `wasm` is absent). */
  readonly noWasm?: string;
  /** The image input (imageTensor, Model.classifyImage): networks with 1 or 3 input channels. */
  readonly image?: ImageSpec;
}

/**
 * The exported types (Prediction, Backend, ModelOptions, Model): in the
 * TypeScript module itself, beside the JavaScript module in its .d.ts.
 */
export function publicTypes(r: Pick<RuntimeSpec, "input" | "outputSize" | "labels" | "profile" | "wasm" | "image" | "classifier" | "outputs">): Code {
  const code = new Code();
  const [H, W, C] = r.input;
  code.lines([
    ...(r.classifier
      ? [
          "export interface Prediction {",
          "  /** The output index (class id). */",
          "  readonly index: number;",
          "  /** Its value: a probability when the network ends in softmax. */",
          "  readonly probability: number;",
          ...(r.labels ? ["  /** `labels[index]`. */", "  readonly label: Label;"] : []),
          "}",
          "",
        ]
      : []),
    ...(r.outputs !== undefined
      ? ["/** runAll()'s result: every output by name, its batch items one after another, each NHWC (see outputShapes). */", "export type Outputs = { readonly [K in OutputName]: Float32Array };", ""]
      : []),
    "/** The kernels a model runs on: WebAssembly SIMD128, or plain TypeScript. Both compute the same network. */",
    'export type Backend = "wasm-simd" | "typescript";',
    "",
    "export interface ModelOptions {",
    "  /**",
    r.wasm !== undefined
      ? '   * "auto" (the default): WebAssembly SIMD where the host supports it, else TypeScript. Naming a'
      : '   * "auto" (the default) and "typescript": the TypeScript kernels, the only ones in this module;',
    r.wasm !== undefined
      ? "   * backend forces it; createModel throws when the host cannot run the one named."
      : '   * "wasm-simd" throws.',
    "   */",
    '  readonly backend?: "auto" | Backend;',
    "}",
    "",
    "export interface Model {",
    "  /** The kernels this model runs on. */",
    "  readonly backend: Backend;",
    "  /**",
    `   * Run the network on \`batch\` images, NHWC: ${group(H * W * C)} floats (${H}×${W}×${C}) per image, one after`,
    `   * another. Returns [batch, ${r.outputSize}]; pass \`output\` (at least that long) to write into it`,
    "   * instead of a new array. Memory is allocated once, in createModel: a batch runs image by image",
    "   * through the same buffers.",
    "   */",
    "  run(input: Float32Array, batch?: number, output?: Float32Array): Float32Array;",
    ...(r.outputs !== undefined
      ? [
          "  /**",
          `   * Run the network on \`batch\` images as run() does and return every output by name (${r.outputs.map((o) => o.name).join(", ")}),`,
          "   * each [batch, H, W, C] flattened (NHWC, see outputShapes), in new arrays.",
          "   */",
          "  runAll(input: Float32Array, batch?: number): Outputs;",
        ]
      : []),
    ...(r.classifier
      ? [
          `  /** Run one image and return its \`k\` highest outputs, best first${r.labels ? ", with their labels" : ""}. */`,
          "  classify(input: Float32Array, k?: number): Prediction[];",
          ...(r.image !== undefined ? ["  /** classify(imageTensor(image), k): an image of any size, RGBA (a browser's ImageData). */", "  classifyImage(image: RgbaImage, k?: number): Prediction[];"] : []),
        ]
      : []),
    ...(r.profile ? ["  /** Profiling build only: each layer's median time, in milliseconds, over `repeats` runs made layer by layer (each layer timed where a run reaches it). */", "  profile(input: Float32Array, repeats?: number): { layer: string; ms: number }[];"] : []),
    "}",
  ]);
  if (r.image !== undefined) {
    code.line("");
    code.append(imageTypes());
  }
  return code;
}

/** The doc comment of createModel. */
export function createModelDoc(r: Pick<RuntimeSpec, "embedded" | "wasm">): string[] {
  return [
    "/**",
    r.embedded
      ? " * Create a model. The weights are embedded in this module; pass a weights file's bytes to use others."
      : " * Create a model from the weights file emitted with this module (its bytes, as a Uint8Array or ArrayBuffer).",
    " * Throws when the bytes are not that file: another network's weights, a truncated or padded file.",
    ...(r.wasm !== undefined
      ? [
          " *",
          ` * Compiles the WebAssembly kernels (${group(r.wasm.bytes)} bytes) synchronously, which Node, workers and`,
          " * browsers allow for modules of this size (Chromium's main thread refuses above 8 MB); where a host",
          ' * refuses, createModel with backend "auto" falls back to the TypeScript kernels, and createModelAsync',
          " * gets the WebAssembly ones.",
        ]
      : []),
    " */",
  ];
}

/** The doc comment of createModelAsync. */
export const CREATE_MODEL_ASYNC_DOC: readonly string[] = [
  "/**",
  " * createModel, compiling the WebAssembly kernels asynchronously (everywhere, including a browser's",
  " * main thread).",
  " */",
];

/** The doc comment of topK. */
export const TOP_K_DOC: readonly string[] = [
  "/**",
  " * The `k` highest values of batch item `item` of run()'s output, best first (ties: lower index first).",
  " */",
];

/** The weights parameter of createModel and createModelAsync, as declared (a .d.ts or the TypeScript module). */
export function weightsParameter(r: Pick<RuntimeSpec, "embedded">): string {
  return r.embedded ? "weights?: Uint8Array | ArrayBuffer" : "weights: Uint8Array | ArrayBuffer";
}

/**
 * A generated module's createModel and createModelAsync (float and quantized
 * modules alike): read the weights into `local`, then pick the engine — the
 * WebAssembly kernels where the host runs them, unless the options ask for
 * the TypeScript ones (`wasm`), or the TypeScript kernels alone.
 */
export function createModelFunctions(
  code: Code,
  f: { readonly T: (text: string) => string; readonly params: string; readonly bytes: string; readonly local: string; readonly wasm: boolean; readonly doc: readonly string[]; readonly asyncDoc: readonly string[] },
): void {
  const { T, local } = f;
  for (const async of [false, true]) {
    if (async) code.line("");
    code.lines(async ? f.asyncDoc : f.doc);
    const signature = async ? `export async function createModelAsync(${f.params}, options${T(": ModelOptions")} = {})${T(": Promise<Model>")}` : `export function createModel(${f.params}, options${T(": ModelOptions")} = {})${T(": Model")}`;
    code.block(signature, () => {
      code.line(`const ${local} = readWeights(${f.bytes});`);
      if (f.wasm) {
        code.line("const backend = backendOf(options);");
        code.line(`return modelOf(backend === "typescript" ? typescriptEngine(${local}) : wasmOrTypescript(${local}, backend, ${async ? "await wasmModuleAsync()" : "wasmModuleSync()"}));`);
      } else {
        code.line("backendOf(options);");
        code.line(`return modelOf(typescriptEngine(${local}));`);
      }
    });
  }
}

/**
 * A generated module's WebAssembly loading (float and quantized modules
 * alike): the kernels' bytes checked against the host, compiled once
 * (synchronously or not), and the engine picked — the kernels, or the
 * TypeScript ones where the host cannot run them and the options allow.
 */
export function wasmLoaderFunctions(code: Code, T: (text: string) => string, nn: string, local: string): void {
  code.block(`function wasmBytes()${T(": Uint8Array | string")}`, () => {
    code.line('if (wasmApi === undefined) return "the host has no WebAssembly";');
    code.line('if (!LITTLE_ENDIAN) return "the host is big-endian";');
    code.line("const bytes = decodeBase64(WASM);");
    code.line('return wasmApi.validate(bytes) ? bytes : "the host\'s WebAssembly has no SIMD128";');
  });
  code.line("");
  code.block(`function wasmModuleSync()${T(": { readonly module: object } | { readonly refused: string }")}`, () => {
    code.block("if (compiled === undefined)", () => {
      code.line("const bytes = wasmBytes();");
      code.line('if (typeof bytes === "string") return (compiled = { refused: bytes });');
      code.line("try {");
      code.line(`  compiled = { module: new wasmApi${nn}.Module(bytes) };`);
      code.line("} catch (e) {");
      code.line("  // A browser's main thread may refuse to compile synchronously (Chromium above 8 MB); createModelAsync can.");
      code.line("  return { refused: `the host refused to compile WebAssembly synchronously (${String(e)}); use createModelAsync` };");
      code.line("}");
    });
    code.line("return compiled;");
  });
  code.line("");
  code.block(`async function wasmModuleAsync()${T(": Promise<{ readonly module: object } | { readonly refused: string }>")}`, () => {
    code.block('if (compiled === undefined || "refused" in compiled)', () => {
      code.line("const bytes = wasmBytes();");
      code.line(`compiled = typeof bytes === "string" ? { refused: bytes } : { module: await wasmApi${nn}.compile(bytes) };`);
    });
    code.line("return compiled;");
  });
  code.line("");
  code.block(
    `function wasmOrTypescript(${local}${T(": Uint8Array")}, backend${T(': "auto" | "wasm-simd"')}, wasm${T(": { readonly module: object } | { readonly refused: string }")})${T(": Engine")}`,
    () => {
      code.line(`if ("module" in wasm) return wasmEngine(${local}, wasm.module);`);
      code.line('if (backend === "wasm-simd") throw new Error(`${NETWORK}: cannot run the WebAssembly SIMD kernels: ${wasm.refused}`);');
      code.line(`return typescriptEngine(${local});`);
    },
  );
}

export function publicApi(r: RuntimeSpec): Code {
  const code = new Code();
  const T = typesIn(r.flavour);
  const weightsParam = r.flavour === "ts" ? weightsParameter(r) : "weights";
  const weightsBytes = r.embedded ? "weights === undefined ? decodeBase64(EMBEDDED_WEIGHTS) : bytesOf(weights)" : "bytesOf(weights)";
  if (r.flavour === "ts") {
    code.append(publicTypes(r));
    code.line("");
  }
  createModelFunctions(code, { T, params: weightsParam, bytes: weightsBytes, local: "w", wasm: r.wasm !== undefined, doc: createModelDoc(r), asyncDoc: CREATE_MODEL_ASYNC_DOC });
  if (r.classifier) topKFunction(code, r);
  if (r.image !== undefined) {
    code.line("");
    code.append(imageApi(r.flavour, r.input, r.image));
  }
  return code;
}

/** A generated `backendOf(options)`: the backend asked for, checked; "wasm-simd" refused where the module has no WebAssembly kernels (`noWasm` says why). */
export function backendOfFunction(code: Code, T: (text: string) => string, hasWasm: boolean, noWasm: string | undefined): void {
  code.block(`function backendOf(options${T(": ModelOptions")})${T(': "auto" | Backend')}`, () => {
    code.line("const backend = options.backend ?? \"auto\";");
    code.block('if (backend !== "auto" && backend !== "wasm-simd" && backend !== "typescript")', () => {
      code.line('throw new RangeError(`${NETWORK}: backend must be "auto", "wasm-simd" or "typescript", not ${String(backend)}`);');
    });
    if (!hasWasm) {
      code.block('if (backend === "wasm-simd")', () => {
        code.line(`throw new Error(\`\${NETWORK}: this module has no WebAssembly kernels (${noWasm ?? "it was generated without them"})\`);`);
      });
    }
    code.line("return backend;");
  });
}

/** The lines of a profiling build's `profile(input, repeats)` inside modelOf: each engine layer's median time over `repeats` runs made layer by layer. */
export function profileFunction(flavour: Flavour, inputType: string): string[] {
  const T = typesIn(flavour);
  return [
    "// Profiling build: times each layer with the host's clock (not part of the plain module's contract).",
    "// The layers run in order, as run() calls them, each timed where a run reaches it: it reads what the",
    "// layers before it have just written, so the times sum to about a run's.",
    `const clock = ${flavour === "ts" ? "(globalThis as unknown as { performance: { now(): number } })" : "globalThis"}.performance;`,
    `const profile = (input${T(`: ${inputType}`)}, repeats = 5)${T(": { layer: string; ms: number }[]")} => {`,
    "  run(input, 1);",
    `  const times${T(": number[][]")} = e.layers.map(() => []);`,
    "  for (let r = 0; r < repeats; r++) {",
    "    e.layers.forEach(([, fn], i) => {",
    "      const t = clock.now();",
    "      fn();",
    `      times[i]${T("!")}.push(clock.now() - t);`,
    "    });",
    "  }",
    "  return e.layers.map(([layer], i) => {",
    `    const sorted = times[i]${T("!")}.sort((a, b) => a - b);`,
    `    return { layer, ms: sorted[sorted.length >> 1]${T("!")} };`,
    "  });",
    "};",
  ];
}

/** A generated `bytesOf(weights)`: a Uint8Array view of the bytes given. */
export function bytesOfFunction(code: Code, T: (text: string) => string): void {
  code.block(`function bytesOf(weights${T(": Uint8Array | ArrayBuffer")})${T(": Uint8Array")}`, () => {
    code.line("return ArrayBuffer.isView(weights) ? new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength) : new Uint8Array(weights);");
  });
}

/** A generated `decodeBase64(text)` (standard alphabet, with padding), for embedded WebAssembly or weights. */
export function base64Decoder(code: Code, T: (text: string) => string): void {
  const nn = T("!");
  code.block(`function decodeBase64(text${T(": string")})${T(": Uint8Array")}`, () => {
    code.line('const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";');
    code.line("const value = new Int16Array(128).fill(-1);");
    code.line("for (let i = 0; i < 64; i++) value[alphabet.charCodeAt(i)] = i;");
    code.line('const end = text.endsWith("==") ? text.length - 2 : text.endsWith("=") ? text.length - 1 : text.length;');
    code.line("const out = new Uint8Array(Math.floor((end * 3) / 4));");
    code.line("let bits = 0, count = 0, o = 0;");
    code.block("for (let i = 0; i < end; i++)", () => {
      code.line("const code = text.charCodeAt(i);");
      code.line(`const v = code < 128 ? value[code]${nn} : -1;`);
      code.line("if (v < 0) throw new Error(`${NETWORK}: embedded data is corrupt (character ${i} is not base64)`);");
      code.line("bits = ((bits << 6) | v) & 0xffffff;");
      code.line("count += 6;");
      code.block("if (count >= 8)", () => {
        code.line("count -= 8;");
        code.line("out[o++] = (bits >> count) & 255;");
      });
    });
    code.line("return out;");
  });
}

/** The body of a generated topK up to its result: check k and item, then keep the k best indices of `values` in `best`, ties by index. */
export function topKSelection(code: Code, T: (text: string) => string, values: string): void {
  const nn = T("!");
  code.block("if (!Number.isInteger(k) || k < 0)", () => code.line("throw new RangeError(`topK: k must be a non-negative integer, not ${k}`);"));
  code.line(`const items = ${values}.length / OUTPUT_SIZE;`);
  code.block("if (!Number.isInteger(items) || !Number.isInteger(item) || item < 0 || item >= items)", () => {
    code.line(`throw new RangeError(\`topK: item \${item} of \${${values}.length} values (\${OUTPUT_SIZE} per item)\`);`);
  });
  code.line("const base = item * OUTPUT_SIZE;");
  code.line(`const best${T(": number[]")} = [];`);
  code.block("for (let i = 0; i < OUTPUT_SIZE; i++)", () => {
    code.line(`const v = ${values}[base + i]${nn};`);
    code.line(`if (best.length === k && !(k > 0 && v > ${values}[base + best[k - 1]${nn}]${nn})) continue;`);
    code.line("let j = best.length === k ? k - 1 : best.length;");
    code.block(`while (j > 0 && v > ${values}[base + best[j - 1]${nn}]${nn})`, () => {
      code.line(`best[j] = best[j - 1]${nn};`);
      code.line("j--;");
    });
    code.line("best[j] = i;");
  });
}

/** topK: the highest values of one batch item of run()'s output (a classifier's). */
function topKFunction(code: Code, r: RuntimeSpec): void {
  const T = typesIn(r.flavour);
  const nn = T("!");
  code.line("");
  code.lines(TOP_K_DOC);
  code.block(`export function topK(probabilities${T(": ArrayLike<number>")}, k = 5, item = 0)${T(": Prediction[]")}`, () => {
    topKSelection(code, T, "probabilities");
    code.line(`return best.map((index) => ({ index, probability: probabilities[base + index]${nn}${r.labels ? `, label: labels[index]${nn}` : ""} }));`);
  });
}

/** Memory-layout constants, the engines, the weights loader (module internals). */
export function internals(r: RuntimeSpec): Code {
  const code = new Code();
  const T = typesIn(r.flavour);
  const nn = T("!");
  code.lines([
    `const NETWORK = ${stringLiteral(r.network)};`,
    `const INPUT_SIZE = ${r.input[0] * r.input[1] * r.input[2]};`,
    `const OUTPUT_SIZE = ${r.outputSize};`,
    `/** Floats of the TypeScript kernels' memory: activations, scratch, then their weights at ${r.weightsAt}. */`,
    `const MEMORY_FLOATS = ${r.memoryFloats};`,
    `const INPUT_AT = ${r.inputAt};`,
    `const OUTPUT_AT = ${r.outputAt};`,
    "/** Floats in the weights file. */",
    `const WEIGHT_FLOATS = ${r.weightFloats};`,
    `const WEIGHTS_BYTES = ${HEADER_BYTES + 4 * r.weightFloats};`,
    `const FINGERPRINT = 0x${r.fingerprint.toString(16).padStart(8, "0")};`,
    ...(r.outputs === undefined
      ? []
      : [
          "/** Per output (outputNames order): values per batch item, and its offset in the TypeScript kernels' memory. */",
          `const OUTPUT_SIZES${T(": readonly number[]")} = [${r.outputs.map((o) => o.size).join(", ")}];`,
          `const OUTPUT_ATS${T(": readonly number[]")} = [${r.outputs.map((o) => o.at).join(", ")}];`,
        ]),
    "",
  ]);

  // ── the engines ──
  if (r.flavour === "ts") {
    code.lines([
      "/** One image's way through the network: write `input`, call `forward()`, read `output`. */",
      "interface Engine {",
      "  readonly backend: Backend;",
      "  readonly input: Float32Array;",
      "  readonly output: Float32Array;",
      ...(r.outputs === undefined ? [] : ["  /** Every output, in outputNames order (the first is `output`). */", "  readonly outputs: readonly Float32Array[];"]),
      "  forward(): void;",
      ...(r.profile ? ["  /** Each layer alone, reading and writing where it does in forward(). */", "  readonly layers: readonly (readonly [string, () => void])[];"] : []),
      "}",
      "",
    ]);
  }
  backendOfFunction(code, T, r.wasm !== undefined, r.noWasm);
  code.line("");
  code.block(`function modelOf(e${T(": Engine")})${T(": Model")}`, () => {
    const checks = (): void => {
      code.block(`if (!ArrayBuffer.isView(input) || typeof ${r.flavour === "ts" ? "(input as { subarray?: unknown })" : "input"}.subarray !== "function")`, () => {
        code.line("throw new TypeError(`${NETWORK}: the input must be a Float32Array of NHWC values, not ${Array.isArray(input) ? \"an Array\" : typeof input}`);");
      });
      code.block("if (!Number.isInteger(batch) || batch < 1)", () => {
        code.line("throw new RangeError(`${NETWORK}: batch must be a positive integer, not ${batch}`);");
      });
      code.block("if (input.length !== batch * INPUT_SIZE)", () => {
        const [H, W, C] = r.input;
        code.line(`throw new RangeError(\`\${NETWORK}: the input has \${input.length} values; a batch of \${batch} needs \${batch * INPUT_SIZE} (\${batch} × ${H}×${W}×${C}, NHWC)\`);`);
      });
    };
    const outputs = r.outputs;
    if (outputs !== undefined) code.block(`const check = (input${T(": Float32Array")}, batch${T(": number")})${T(": void")} =>`, checks, "};");
    code.block(`const run = (input${T(": Float32Array")}, batch = 1, output${T("?: Float32Array")})${T(": Float32Array")} =>`, () => {
      if (outputs === undefined) checks();
      else code.line("check(input, batch);");
      code.line("const out = output ?? new Float32Array(batch * OUTPUT_SIZE);");
      code.block("if (out.length < batch * OUTPUT_SIZE)", () => {
        code.line("throw new RangeError(`${NETWORK}: the output array holds ${out.length} values; a batch of ${batch} needs ${batch * OUTPUT_SIZE}`);");
      });
      code.block("for (let b = 0; b < batch; b++)", () => {
        code.line("e.input.set(input.subarray(b * INPUT_SIZE, (b + 1) * INPUT_SIZE));");
        code.line("e.forward();");
        code.line("out.set(e.output, b * OUTPUT_SIZE);");
      });
      code.line("return out;");
    }, "};");
    if (outputs !== undefined) {
      code.block(`const runAll = (input${T(": Float32Array")}, batch = 1)${T(": Outputs")} =>`, () => {
        code.line("check(input, batch);");
        code.line("const outs = OUTPUT_SIZES.map((n) => new Float32Array(batch * n));");
        code.block("for (let b = 0; b < batch; b++)", () => {
          code.line("e.input.set(input.subarray(b * INPUT_SIZE, (b + 1) * INPUT_SIZE));");
          code.line("e.forward();");
          code.line(`e.outputs.forEach((o, i) => outs[i]${nn}.set(o, b * OUTPUT_SIZES[i]${nn}));`);
        });
        code.line(`return { ${outputs.map((o, i) => `${stringLiteral(o.name)}: outs[${i}]${nn}`).join(", ")} };`);
      }, "};");
    }
    if (r.classifier) {
      code.line(`const classify = (input${T(": Float32Array")}, k = 5)${T(": Prediction[]")} => topK(run(input, 1), k);`);
      if (r.image !== undefined) code.line(`const classifyImage = (image${T(": RgbaImage")}, k = 5)${T(": Prediction[]")} => classify(imageTensor(image), k);`);
    }
    const methods = ["backend: e.backend", "run", ...(outputs === undefined ? [] : ["runAll"]), ...(r.classifier ? ["classify", ...(r.image !== undefined ? ["classifyImage"] : [])] : [])];
    if (r.profile) {
      code.lines([
        ...profileFunction(r.flavour, "Float32Array"),
        `return { ${[...methods, "profile"].join(", ")} };`,
      ]);
    } else {
      code.line(`return { ${methods.join(", ")} };`);
    }
  });
  code.line("");
  code.line("/** The TypeScript kernels: every float in one array `m` (activations, scratch, weights), allocated here once. */");
  code.block(`function typescriptEngine(weights${T(": Uint8Array")})${T(": Engine")}`, () => {
    code.line("const m = new Float32Array(MEMORY_FLOATS);");
    code.line("const w = floatsOf(weights);");
    code.line("for (const t of GEMM_WEIGHTS) unpackPanels(w, m, t);");
    code.line("for (const t of DEPTHWISE_WEIGHTS) unpackDepthwise(w, m, t);");
    code.block("return", () => {
      code.line('backend: "typescript",');
      code.line("input: m.subarray(INPUT_AT, INPUT_AT + INPUT_SIZE),");
      code.line("output: m.subarray(OUTPUT_AT, OUTPUT_AT + OUTPUT_SIZE),");
      if (r.outputs !== undefined) code.line(`outputs: OUTPUT_ATS.map((at, i) => m.subarray(at, at + OUTPUT_SIZES[i]${nn})),`);
      code.block("forward()", () => {
        for (const l of r.layers) code.line(`${l}(m);`);
      }, "},");
      if (r.profile) code.line(`layers: [${r.layers.map((l) => `[${stringLiteral(l)}, () => ${l}(m)]`).join(", ")}],`);
    }, "};");
  });
  weightTables(code, r);
  if (r.wasm !== undefined) wasmInternals(code, r, r.wasm);

  // ── weights ──
  code.line("");
  bytesOfFunction(code, T);
  code.line("");
  code.lines([
    "/**",
    ` * Check a weights file and return its floats' bytes: a ${HEADER_BYTES}-byte header (magic "MNCW", version,`,
    " * layout fingerprint, float count, all u32 little-endian), then the packed weights as float32 little-endian.",
    " */",
  ]);
  code.block(`function readWeights(bytes${T(": Uint8Array")})${T(": Uint8Array")}`, () => {
    code.line(`const refuse = (why${T(": string")})${T(": Error")} =>`);
    code.line("  new Error(`${NETWORK}: these are not this model's weights: ${why}. Use the .weights.bin file emitted together with this module (${WEIGHTS_BYTES} bytes).`);");
    code.line(`if (bytes.byteLength < ${HEADER_BYTES}) throw refuse(\`the file has \${bytes.byteLength} bytes, shorter than the ${HEADER_BYTES}-byte header\`);`);
    code.line("const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);");
    code.line(`if (view.getUint32(0, true) !== 0x${MAGIC.toString(16)}) throw refuse('the file does not start with "MNCW"');`);
    code.line(`if (view.getUint32(4, true) !== ${FORMAT_VERSION}) throw refuse(\`format version \${view.getUint32(4, true)}, expected ${FORMAT_VERSION}\`);`);
    code.block("if (view.getUint32(8, true) !== FINGERPRINT)", () => {
      code.line('throw refuse(`they are laid out for another network (fingerprint 0x${view.getUint32(8, true).toString(16).padStart(8, "0")}, expected 0x${FINGERPRINT.toString(16).padStart(8, "0")})`);');
    });
    code.block("if (view.getUint32(12, true) !== WEIGHT_FLOATS || bytes.byteLength !== WEIGHTS_BYTES)", () => {
      code.line("throw refuse(`the file has ${bytes.byteLength} bytes (${view.getUint32(12, true)} floats declared), expected ${WEIGHTS_BYTES} (${WEIGHT_FLOATS} floats)`);");
    });
    code.line(`return bytes.subarray(${HEADER_BYTES});`);
  });
  code.line("");
  code.line("/** Whether the host stores numbers little-endian, as the weights file and WebAssembly memory do (all current hosts). */");
  code.line("const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;");
  code.line("");
  code.line("/** The weights file's floats: its bytes as they are on a little-endian host, read one by one on another. */");
  code.block(`function floatsOf(bytes${T(": Uint8Array")})${T(": Float32Array")}`, () => {
    code.line("const w = new Float32Array(WEIGHT_FLOATS);");
    code.line("if (LITTLE_ENDIAN) new Uint8Array(w.buffer).set(bytes);");
    code.block("else", () => {
      code.line("const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);");
      code.line("for (let i = 0; i < WEIGHT_FLOATS; i++) w[i] = view.getFloat32(4 * i, true);");
    });
    code.line("return w;");
  });
  if (r.embedded || r.wasm !== undefined) {
    code.line("");
    code.line(`/** Standard base64 (with padding) to bytes: the embedded ${[r.wasm !== undefined ? "WebAssembly" : "", r.embedded ? "weights" : ""].filter((x) => x !== "").join(" and ")}. */`);
    base64Decoder(code, T);
  }
  return code;
}

/** Where each layer's weights lie in the file and in the TypeScript memory, and the functions that unpack them. */
function weightTables(code: Code, r: RuntimeSpec): void {
  const T = typesIn(r.flavour);
  const nn = T("!");
  const panels = r.weights.filter((t): t is GemmWeights => t.kind === "panels");
  const depthwise = r.weights.filter((t): t is DepthwiseWeights => t.kind === "depthwise");
  code.line("");
  code.lines([
    "// ── the weights ──",
    "",
    "/**",
    " * GEMM layers (see unpackPanels): [at in the file, kernel and bias in m, n, k, nr, panel, channels, stride].",
    " */",
    `const GEMM_WEIGHTS${T(": readonly (readonly number[])[]")} = [`,
    ...panels.map((t) => `  [${[t.at, t.kernel, t.bias, t.n, t.k, t.nr, t.panel, t.channels, t.stride].join(", ")}], // ${t.layer}`),
    "];",
    "/** Depthwise layers (see unpackDepthwise): [at in the file, kernel and bias in m, channels, taps]. */",
    `const DEPTHWISE_WEIGHTS${T(": readonly (readonly number[])[]")} = [`,
    ...depthwise.map((t) => `  [${[t.at, t.kernel, t.bias, t.channels, t.taps].join(", ")}], // ${t.layer}`),
    "];",
    "",
    "/**",
    " * One GEMM layer's weights, from the file's packing — panels of `panel` output channels over the",
    " * channel count rounded up to 4, each panel its bias then one row per reduction index, zero in the",
    " * padding channels; the reduction runs over `stride` lanes per pixel of which the first `channels`",
    " * are real (an fc layer on a channel-padded activation) — to the TypeScript kernels': panels of `nr`",
    " * output channels, each [k][nr] (the last panel narrower), the bias apart.",
    " */",
  ]);
  code.block(`function unpackPanels(w${T(": Float32Array")}, m${T(": Float32Array")}, t${T(": readonly number[]")})${T(": void")}`, () => {
    code.line(`const [at, kernel, bias, n, k, nr, panel, channels, stride] = t${T(" as [number, number, number, number, number, number, number, number, number]")};`);
    code.line("const rows = (k / channels) * stride;");
    code.line("const np = Math.ceil(n / 4) * 4;");
    code.line("// Where each channel of a panel goes in m, and its step from one reduction index to the next.");
    code.line("const to = new Int32Array(panel), step = new Int32Array(panel);");
    code.block("for (let o0 = 0, from = at; o0 < np; o0 += panel)", () => {
      code.line("const width = Math.min(panel, np - o0);");
      code.line("const real = Math.min(width, n - o0);");
      code.block("for (let j = 0; j < real; j++)", () => {
        code.line("const o = o0 + j, p0 = o - (o % nr);");
        code.line("to[j] = kernel + p0 * k + o - p0;");
        code.line("step[j] = Math.min(nr, n - p0);");
        code.line(`m[bias + o] = w[from + j]${nn};`);
      });
      code.line("// Row by row, so that the file is read in order.");
      code.block("for (let row = 0; row < rows; row++)", () => {
        code.line("const lane = row % stride;");
        code.line("if (lane >= channels) continue;");
        code.line("const r = ((row - lane) / stride) * channels + lane;");
        code.line("const line = from + (1 + row) * width;");
        code.line(`for (let j = 0; j < real; j++) m[to[j]${nn} + r * step[j]${nn}] = w[line + j]${nn};`);
      });
      code.line("from += (1 + rows) * width;");
    });
  });
  code.line("");
  code.line("/** One depthwise layer's weights: the file's [bias][taps], rows of roundUp4(channels) → m's [taps][channels] and bias. */");
  code.block(`function unpackDepthwise(w${T(": Float32Array")}, m${T(": Float32Array")}, t${T(": readonly number[]")})${T(": void")}`, () => {
    code.line(`const [at, kernel, bias, channels, taps] = t${T(" as [number, number, number, number, number]")};`);
    code.line("const cs = Math.ceil(channels / 4) * 4;");
    code.block("for (let c = 0; c < channels; c++)", () => {
      code.line(`m[bias + c] = w[at + c]${nn};`);
      code.line(`for (let tap = 0; tap < taps; tap++) m[kernel + tap * channels + c] = w[at + (1 + tap) * cs + c]${nn};`);
    });
  });
}

/** The WebAssembly engine: the host's API, compiling WASM once, instantiating with the file's weights. */
function wasmInternals(code: Code, r: RuntimeSpec, w: WasmSpec): void {
  const T = typesIn(r.flavour);
  const ts = r.flavour === "ts";
  const nn = T("!");
  code.line("");
  code.lines([
    "// ── the WebAssembly SIMD kernels ──",
    "",
    ...(ts
      ? [
          "/** The part of the host's WebAssembly API this module uses (it needs no DOM or Node typings). */",
          "interface WasmApi {",
          "  validate(bytes: Uint8Array): boolean;",
          "  compile(bytes: Uint8Array): Promise<object>;",
          "  Module: new (bytes: Uint8Array) => object;",
          "  Instance: new (module: object, imports: object) => { readonly exports: { readonly [name: string]: unknown } };",
          "  Memory: new (descriptor: { initial: number; maximum?: number }) => { readonly buffer: ArrayBuffer };",
          "}",
          "const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;",
        ]
      : ["/** The host's WebAssembly API (undefined where it has none). */", "const wasmApi = globalThis.WebAssembly;"]),
    "",
    `/** 64 KiB pages of memory the kernels import (${group(w.pages * 65536)} bytes): the weights file's floats at 0, two activation buffers, input, output. */`,
    `const WASM_PAGES = ${w.pages};`,
    "/** Byte addresses of one image's input (NHWC) and output in that memory. */",
    `const WASM_INPUT = ${w.input};`,
    `const WASM_OUTPUT = ${w.output};`,
    ...(r.outputs === undefined
      ? []
      : ["/** Byte addresses of one image's every output, in outputNames order. */", `const WASM_OUTPUTS${T(": readonly number[]")} = [${(w.outputs ?? []).join(", ")}];`]),
    ...(r.profile
      ? ["/** The kernels' steps with their input and output byte addresses (profile()). */", `const WASM_STEPS${T(": readonly (readonly [string, number, number])[]")} = [${w.steps.map((s) => `[${stringLiteral(s.name)}, ${s.input}, ${s.output}]`).join(", ")}];`]
      : []),
    "",
    "/** The compiled kernels, once per module; or why the host cannot run them. */",
    `let compiled${T(": { readonly module: object } | { readonly refused: string } | undefined")};`,
    "",
  ]);
  wasmLoaderFunctions(code, T, nn, "weights");
  code.line("");
  code.lines([
    "/**",
    " * The WebAssembly kernels with their own memory, allocated here once, the weights file's floats copied",
    " * in as they are. V8 first runs a new module with its baseline compiler and optimises each function",
    " * from its next call on: the first run is slower than the rest.",
    " */",
  ]);
  code.block(`function wasmEngine(weights${T(": Uint8Array")}, module${T(": object")})${T(": Engine")}`, () => {
    code.line(`const memory = new wasmApi${nn}.Memory({ initial: WASM_PAGES, maximum: WASM_PAGES });`);
    code.line("new Uint8Array(memory.buffer).set(weights);");
    code.line("const f = new Float32Array(memory.buffer);");
    code.line(`const kernels = new wasmApi${nn}.Instance(module, { env: { memory } }).exports;`);
    code.line(`const run = kernels["run"]${T(" as (batch: number) => void")};`);
    code.block("return", () => {
      code.line('backend: "wasm-simd",');
      code.line("input: f.subarray(WASM_INPUT / 4, WASM_INPUT / 4 + INPUT_SIZE),");
      code.line("output: f.subarray(WASM_OUTPUT / 4, WASM_OUTPUT / 4 + OUTPUT_SIZE),");
      if (r.outputs !== undefined) code.line(`outputs: WASM_OUTPUTS.map((at, i) => f.subarray(at / 4, at / 4 + OUTPUT_SIZES[i]${nn})),`);
      code.line("forward: () => run(1),");
      if (r.profile) code.line(`layers: WASM_STEPS.map(([name, x, y]) => [name, () => ${ts ? "(kernels[name] as (x: number, y: number) => void)" : "kernels[name]"}(x, y)]${T(" as const")}),`);
    }, "};");
  });
}
