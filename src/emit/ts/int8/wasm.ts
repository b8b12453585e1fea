/**
 * The WebAssembly int8 kernels inside a quantized module: which exist for a
 * graph, and the engine that runs them. Their contract (src/emit/wasm/int8):
 * the host writes the int8 blob at `blob`, calls `init()` once, then per
 * batch writes the inputs' stored bytes at `input` (one image every
 * `inputBytes`), calls `run(batch)` (batch ≤ maxBatch) and reads each
 * output's bytes at its offset (one image every `bytes`).
 */
import type { Graph } from "../../../ir/graph.js";
import { compileNetworkWasmInt8, int8UnsupportedNode } from "../../wasm/int8/index.js";
import { Code, group, stringLiteral, typesIn, type Flavour } from "../code.js";
import { wasmLoaderFunctions } from "../runtime.js";

/** WebAssembly's 32-bit memory: 65,536 pages of 64 KiB. */
const MAX_PAGES = 65536;

export interface Int8WasmSpec {
  readonly bytes: Uint8Array;
  readonly pages: number;
  readonly maxBatch: number;
  readonly blob: number;
  readonly input: number;
  readonly inputBytes: number;
  readonly outputs: readonly { readonly offset: number; readonly bytes: number }[];
  /** The steps' exported kernels with their input and output byte addresses (profile()). */
  readonly steps: readonly { readonly name: string; readonly input: number; readonly output: number }[];
}

/** The WebAssembly kernels of a quantized graph, or why there are none. */
export function int8WasmOf(graph: Graph): Int8WasmSpec | { readonly why: string } {
  const unsupported = int8UnsupportedNode(graph);
  if (unsupported !== undefined) {
    const what = unsupported.op === "conv" || unsupported.op === "depthwise" ? `${unsupported.op} layers with ${unsupported.attrs.act}` : `${unsupported.op} layers`;
    return { why: `the WebAssembly int8 kernels do not run ${what} yet ('${unsupported.id}')` };
  }
  const { wasm, layout } = compileNetworkWasmInt8(graph, { maxBatch: 1 });
  if (layout.memoryPages > MAX_PAGES) return { why: `the network needs ${group(layout.memoryPages * 65536)} bytes of WebAssembly memory, more than its 4 GiB` };
  return { bytes: wasm, pages: layout.memoryPages, maxBatch: layout.maxBatch, blob: layout.blob, input: layout.input, inputBytes: layout.inputBytes, outputs: layout.outputs, steps: layout.steps.map((st) => ({ name: st.name, input: st.input, output: st.output })) };
}

/** The generated WebAssembly engine: the host's API, compiling once, instantiating with the blob. */
export function wasmEngineCode(code: Code, flavour: Flavour, w: Int8WasmSpec, profile: boolean): void {
  const T = typesIn(flavour);
  const nn = T("!");
  code.line("");
  code.lines([
    "// ── the WebAssembly SIMD kernels ──",
    "",
    ...(flavour === "ts"
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
    `/** 64 KiB pages of memory the kernels import (${group(w.pages * 65536)} bytes). */`,
    `const WASM_PAGES = ${w.pages};`,
    "/** Byte addresses of the blob, of the input and of each output. */",
    `const WASM_BLOB = ${w.blob};`,
    `const WASM_INPUT = ${w.input};`,
    `const WASM_OUTPUTS${T(": readonly number[]")} = [${w.outputs.map((o) => o.offset).join(", ")}];`,
    ...(profile
      ? ["/** The kernels' steps with their input and output byte addresses (profile()). */", `const WASM_STEPS${T(": readonly (readonly [string, number, number])[]")} = [${w.steps.map((st) => `[${stringLiteral(st.name)}, ${st.input}, ${st.output}]`).join(", ")}];`]
      : []),
    "/** Whether the host stores numbers little-endian, as WebAssembly memory does (all current hosts). */",
    "const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;",
    "",
    "/** The compiled kernels, once per module; or why the host cannot run them. */",
    `let compiled${T(": { readonly module: object } | { readonly refused: string } | undefined")};`,
    "",
  ]);
  wasmLoaderFunctions(code, T, nn, "blob");
  code.line("");
  code.line("/** The WebAssembly kernels with their own memory, allocated here once, the blob copied in and unpacked by init(). */");
  code.block(`function wasmEngine(blob${T(": Uint8Array")}, module${T(": object")})${T(": Engine")}`, () => {
    code.line(`const memory = new wasmApi${nn}.Memory({ initial: WASM_PAGES, maximum: WASM_PAGES });`);
    code.line("const bytes = new Uint8Array(memory.buffer);");
    code.line("bytes.set(blob, WASM_BLOB);");
    code.line(`const kernels = new wasmApi${nn}.Instance(module, { env: { memory } }).exports;`);
    code.line(`(kernels["init"]${T(" as () => void")})();`);
    code.line(`const run = kernels["run"]${T(" as (batch: number) => void")};`);
    code.block("return", () => {
      code.line('backend: "wasm-simd",');
      code.block("infer(input, outputs, item)", () => {
        code.line("bytes.set(new Uint8Array(input.buffer, input.byteOffset, input.length), WASM_INPUT);");
        code.line("run(1);");
        code.line(`outputs.forEach((o, i) => o.set(new (o.constructor${T(" as Int8ArrayConstructor")})(memory.buffer, WASM_OUTPUTS[i]${nn}, OUTPUT_SIZES[i]${nn}), item * OUTPUT_SIZES[i]${nn}));`);
      }, "},");
      if (profile) code.line(`layers: WASM_STEPS.map(([name, x, y]) => [name, () => ${flavour === "ts" ? "(kernels[name] as (x: number, y: number) => void)" : "kernels[name]"}(x, y)]${T(" as const")}),`);
    }, "};");
  });
}
