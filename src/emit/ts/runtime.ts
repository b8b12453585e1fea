/**
 * The fixed part of a generated module: createModel, run, topK, the weights
 * check, and the base64 decoder of embedded weights. Only numbers and names
 * computed by the emitter are spliced in; any text is escaped by the caller.
 */
import { Code, group, plus, stringLiteral } from "./code.js";
import { FORMAT_VERSION, HEADER_BYTES, MAGIC } from "./weights-file.js";

export interface RuntimeSpec {
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
}

export function publicApi(r: RuntimeSpec): Code {
  const code = new Code();
  const [H, W, C] = r.input;
  const weightsParam = r.embedded ? "weights?: Uint8Array | ArrayBuffer" : "weights: Uint8Array | ArrayBuffer";
  code.lines([
    "export interface Prediction {",
    "  /** The output index (class id). */",
    "  readonly index: number;",
    "  /** Its value: a probability when the network ends in softmax. */",
    "  readonly probability: number;",
    ...(r.labels ? ["  /** `labels[index]`. */", "  readonly label: Label;"] : []),
    "}",
    "",
    "export interface Model {",
    "  /**",
    `   * Run the network on \`batch\` images, NHWC: ${group(H * W * C)} floats (${H}×${W}×${C}) per image, one after`,
    `   * another. Returns [batch, ${r.outputSize}]; pass \`output\` (at least that long) to write into it`,
    "   * instead of a new array. Memory is allocated once, in createModel: a batch runs image by image",
    "   * through the same buffers.",
    "   */",
    "  run(input: Float32Array, batch?: number, output?: Float32Array): Float32Array;",
    `  /** Run one image and return its \`k\` highest outputs, best first${r.labels ? ", with their labels" : ""}. */`,
    "  classify(input: Float32Array, k?: number): Prediction[];",
    ...(r.profile ? ["  /** Profiling build only: each layer's median time over `repeats` runs, in milliseconds. */", "  profile(input: Float32Array, repeats?: number): { layer: string; ms: number }[];"] : []),
    "}",
    "",
    "/**",
    r.embedded
      ? " * Create a model. The weights are embedded in this module; pass a weights file's bytes to use others."
      : " * Create a model from the weights file emitted with this module (its bytes, as a Uint8Array or ArrayBuffer).",
    " * Throws when the bytes are not that file: another network's weights, a truncated or padded file.",
    " */",
  ]);
  code.block(`export function createModel(${weightsParam}): Model`, () => {
    code.line("const m = new Float32Array(MEMORY_FLOATS);");
    code.line(r.embedded ? "loadWeights(m, weights === undefined ? decodeBase64(EMBEDDED_WEIGHTS) : bytesOf(weights));" : "loadWeights(m, bytesOf(weights));");
    code.block("const run = (input: Float32Array, batch = 1, output?: Float32Array): Float32Array =>", () => {
      code.block("if (!Number.isInteger(batch) || batch < 1)", () => {
        code.line(`throw new RangeError(\`\${NETWORK}: batch must be a positive integer, not \${batch}\`);`);
      });
      code.block("if (input.length !== batch * INPUT_SIZE)", () => {
        code.line(
          `throw new RangeError(\`\${NETWORK}: the input has \${input.length} values; a batch of \${batch} needs \${batch * INPUT_SIZE} (\${batch} × ${H}×${W}×${C}, NHWC)\`);`,
        );
      });
      code.line("const out = output ?? new Float32Array(batch * OUTPUT_SIZE);");
      code.block("if (out.length < batch * OUTPUT_SIZE)", () => {
        code.line(`throw new RangeError(\`\${NETWORK}: the output array holds \${out.length} values; a batch of \${batch} needs \${batch * OUTPUT_SIZE}\`);`);
      });
      code.block("for (let b = 0; b < batch; b++)", () => {
        code.line(`for (let i = 0, from = b * INPUT_SIZE; i < INPUT_SIZE; i++) m[${plus("i", r.inputAt)}] = input[from + i]!;`);
        for (const l of r.layers) code.line(`${l}(m);`);
        code.line(`for (let i = 0, to = b * OUTPUT_SIZE; i < OUTPUT_SIZE; i++) out[to + i] = m[${plus("i", r.outputAt)}]!;`);
      });
      code.line("return out;");
    }, "};");
    if (r.profile) {
      code.lines([
        "// Profiling build: times each layer with the host's clock (not part of the plain module's contract).",
        "const clock = (globalThis as unknown as { performance: { now(): number } }).performance;",
        "const profile = (input: Float32Array, repeats = 5): { layer: string; ms: number }[] =>",
        "  LAYERS.map(([layer, fn]) => {",
        "    run(input, 1);",
        "    const times: number[] = [];",
        "    for (let r = 0; r < repeats; r++) {",
        "      run(input, 1);",
        "      const t = clock.now();",
        "      fn(m);",
        "      times.push(clock.now() - t);",
        "    }",
        "    times.sort((a, b) => a - b);",
        "    return { layer, ms: times[times.length >> 1]! };",
        "  });",
        "return { run, classify: (input, k = 5) => topK(run(input, 1), k), profile };",
      ]);
    } else {
      code.line("return { run, classify: (input, k = 5) => topK(run(input, 1), k) };");
    }
  });
  code.lines([
    "",
    "/**",
    " * The `k` highest values of batch item `item` of run()'s output, best first (ties: lower index first).",
    " */",
  ]);
  code.block("export function topK(probabilities: ArrayLike<number>, k = 5, item = 0): Prediction[]", () => {
    code.block("if (!Number.isInteger(k) || k < 0)", () => code.line("throw new RangeError(`topK: k must be a non-negative integer, not ${k}`);"));
    code.line("const items = probabilities.length / OUTPUT_SIZE;");
    code.block("if (!Number.isInteger(items) || !Number.isInteger(item) || item < 0 || item >= items)", () => {
      code.line(
        "throw new RangeError(`topK: item ${item} of ${probabilities.length} values (${OUTPUT_SIZE} per item)`);",
      );
    });
    code.line("const base = item * OUTPUT_SIZE;");
    code.line("const best: number[] = [];");
    code.block("for (let i = 0; i < OUTPUT_SIZE; i++)", () => {
      code.line("const v = probabilities[base + i]!;");
      code.line("if (best.length === k && !(k > 0 && v > probabilities[base + best[k - 1]!]!)) continue;");
      code.line("let j = best.length === k ? k - 1 : best.length;");
      code.block("while (j > 0 && v > probabilities[base + best[j - 1]!]!)", () => {
        code.line("best[j] = best[j - 1]!;");
        code.line("j--;");
      });
      code.line("best[j] = i;");
    });
    code.line(
      `return best.map((index) => ({ index, probability: probabilities[base + index]!${r.labels ? ", label: labels[index]!" : ""} }));`,
    );
  });
  return code;
}

/** Memory-layout constants and the weights loader (module internals). */
export function internals(r: RuntimeSpec): Code {
  const code = new Code();
  code.lines([
    `const NETWORK = ${stringLiteral(r.network)};`,
    `const INPUT_SIZE = ${r.input[0] * r.input[1] * r.input[2]};`,
    `const OUTPUT_SIZE = ${r.outputSize};`,
    `/** Floats of memory: activations, scratch, then ${group(r.weightFloats)} floats of weights at ${r.weightsAt}. */`,
    `const MEMORY_FLOATS = ${r.memoryFloats};`,
    `const WEIGHTS_AT = ${r.weightsAt};`,
    `const WEIGHT_FLOATS = ${r.weightFloats};`,
    `const WEIGHTS_BYTES = ${HEADER_BYTES + 4 * r.weightFloats};`,
    `const FINGERPRINT = 0x${r.fingerprint.toString(16).padStart(8, "0")};`,
    ...(r.profile ? [`const LAYERS: [string, (m: Float32Array) => void][] = [${r.layers.map((l) => `[${stringLiteral(l)}, ${l}]`).join(", ")}];`] : []),
    "",
  ]);
  code.block("function bytesOf(weights: Uint8Array | ArrayBuffer): Uint8Array", () => {
    code.line("return ArrayBuffer.isView(weights) ? new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength) : new Uint8Array(weights);");
  });
  code.line("");
  code.lines([
    "/**",
    ` * Check and copy a weights file: a ${HEADER_BYTES}-byte header (magic "MNCW", version, layout fingerprint, float`,
    " * count, all u32 little-endian), then the packed weights as float32 little-endian.",
    " */",
  ]);
  code.block("function loadWeights(m: Float32Array, bytes: Uint8Array): void", () => {
    code.line("const refuse = (why: string): Error =>");
    code.line(
      "  new Error(`${NETWORK}: these are not this model's weights: ${why}. Use the .weights.bin file emitted together with this module (${WEIGHTS_BYTES} bytes).`);",
    );
    code.line(`if (bytes.byteLength < ${HEADER_BYTES}) throw refuse(\`the file has \${bytes.byteLength} bytes, shorter than the ${HEADER_BYTES}-byte header\`);`);
    code.line("const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);");
    code.line(`if (view.getUint32(0, true) !== 0x${MAGIC.toString(16)}) throw refuse('the file does not start with "MNCW"');`);
    code.line(`if (view.getUint32(4, true) !== ${FORMAT_VERSION}) throw refuse(\`format version \${view.getUint32(4, true)}, expected ${FORMAT_VERSION}\`);`);
    code.block("if (view.getUint32(8, true) !== FINGERPRINT)", () => {
      code.line("throw refuse(`they are laid out for another network (fingerprint 0x${view.getUint32(8, true).toString(16).padStart(8, \"0\")}, expected 0x${FINGERPRINT.toString(16).padStart(8, \"0\")})`);");
    });
    code.block("if (view.getUint32(12, true) !== WEIGHT_FLOATS || bytes.byteLength !== WEIGHTS_BYTES)", () => {
      code.line("throw refuse(`the file has ${bytes.byteLength} bytes (${view.getUint32(12, true)} floats declared), expected ${WEIGHTS_BYTES} (${WEIGHT_FLOATS} floats)`);");
    });
    code.line(`for (let i = 0; i < WEIGHT_FLOATS; i++) m[WEIGHTS_AT + i] = view.getFloat32(${HEADER_BYTES} + 4 * i, true);`);
  });
  if (r.embedded) {
    code.line("");
    code.line("/** Standard base64 (with padding) to bytes. */");
    code.block("function decodeBase64(text: string): Uint8Array", () => {
      code.line('const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";');
      code.line("const value = new Int16Array(128).fill(-1);");
      code.line("for (let i = 0; i < 64; i++) value[alphabet.charCodeAt(i)] = i;");
      code.line('const end = text.endsWith("==") ? text.length - 2 : text.endsWith("=") ? text.length - 1 : text.length;');
      code.line("const out = new Uint8Array(Math.floor((end * 3) / 4));");
      code.line("let bits = 0, count = 0, o = 0;");
      code.block("for (let i = 0; i < end; i++)", () => {
        code.line("const code = text.charCodeAt(i);");
        code.line("const v = code < 128 ? value[code]! : -1;");
        code.line('if (v < 0) throw new Error(`${NETWORK}: the embedded weights are corrupt (character ${i} is not base64)`);');
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
  return code;
}
