/**
 * The emitted module's image input: `imageTensor(image)` of the `--emit ts`
 * (type-stripped by esbuild) and `--emit js` modules gives, bit for bit, the
 * tensor the library's `imageTensor` — what `mnc run` feeds the network —
 * computes from the same RGBA pixels (random images of odd sizes, landscape
 * and portrait, and a shared photo decoded by the library), for networks
 * with and without a declared normalisation, three channels and one;
 * `Model.classifyImage` is `classify` of that tensor; a malformed image is
 * refused; a module without it (2 input channels) has none; and a consumer of
 * `imageTensor` and `classifyImage` type-checks under strict TypeScript
 * against the `.ts` and against the `.d.ts`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { decodeJpeg, runNormalisation } from "../src/cli/image.js";
import { emitJavaScript, emitTypeScript } from "../src/emit/ts/index.js";
import { imageTensor, type RgbaImage } from "../src/image/index.js";
import { compile } from "../src/index.js";
import type { InputNode } from "../src/ir/graph.js";
import { haveShared } from "./optional.js";
import { shared } from "./helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "mnc-emit-image-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;

interface Prediction {
  readonly index: number;
  readonly probability: number;
}
interface Model {
  classify(input: Float32Array, k?: number): Prediction[];
  classifyImage?(image: RgbaImage, k?: number): Prediction[];
}
interface Generated {
  createModel(weights?: Uint8Array): Model;
  imageTensor?(image: RgbaImage): Float32Array;
}

function compiled(source: string) {
  const r = compile(source, { file: "net.mn" });
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  if (r.graph === undefined || r.costs === undefined) throw new Error("no graph");
  return { graph: r.graph, result: { graph: r.graph, costs: r.costs, ...(r.certificate === undefined ? {} : { certificate: r.certificate }) } };
}

const network = (input: string): string => `network P(classes = 4) {\n  input ${input}\n  conv 3x3 8 stride=2\n  separable 8 stride=2\n  avgpool global\n  fc classes\n  softmax\n}\n`;

/** The module of a network in both flavours, loaded: the .ts type-stripped by esbuild, the .js imported as it is. */
async function modules(source: string): Promise<{ flavour: string; mod: Generated; weights: Uint8Array }[]> {
  const net = compiled(source);
  const typescript = emitTypeScript(net.result, { sourceFile: "net.mn", wasm: false });
  const javascript = emitJavaScript(net.result, { sourceFile: "net.mn", wasm: false });
  const stripped = (await transform(typescript.code, { loader: "ts", format: "esm" })).code;
  const loaded: { flavour: string; mod: Generated; weights: Uint8Array }[] = [];
  for (const [flavour, code, weights] of [["ts", stripped, typescript.weights!], ["js", javascript.code, javascript.weights!]] as const) {
    const file = join(scratch, `m${files++}.mjs`);
    writeFileSync(file, code);
    loaded.push({ flavour, mod: (await import(pathToFileURL(file).href)) as Generated, weights });
  }
  return loaded;
}

/** What `mnc run` feeds the network for an image: the library's imageTensor with the network's normalisation. */
function expected(source: string, image: RgbaImage): Float32Array {
  const input = compiled(source).graph.nodes[0] as InputNode;
  return imageTensor(image, input.shape!, runNormalisation(input.attrs.normalisation, {}));
}

/** Random RGBA pixels (a fixed seed). */
function randomImage(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { width, height, data };
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

const photo = join(shared, "data", "mobilenet_v1", "images", "cat.jpg");
const images: [string, RgbaImage][] = [
  ["random 301x177", randomImage(301, 177, 1)],
  ["random 177x301", randomImage(177, 301, 2)],
  ["random 13x40 (enlarged)", randomImage(13, 40, 3)],
];
if (haveShared(photo, "the module's imageTensor on a shared photo")) images.push(["cat.jpg", decodeJpeg(readFileSync(photo))]);

const NETWORKS: [string, string][] = [
  ["declared mean=127.5 std=127.5, 3 channels", network("37x29x3 mean=127.5 std=127.5")],
  ["no normalisation declared, 3 channels", network("24x24x3")],
  ["declared mean=128 std=64, 1 channel (grey)", network("31x31x1 mean=128 std=64")],
];

describe("imageTensor(image) of the emitted module", () => {
  for (const [what, source] of NETWORKS) {
    it(`is bit for bit the tensor mnc run computes: ${what}, .ts and .js`, { timeout: 60_000 }, async () => {
      for (const { flavour, mod, weights } of await modules(source)) {
        expect(typeof mod.imageTensor, flavour).toBe("function");
        const model = mod.createModel(weights);
        for (const [name, image] of images) {
          const want = expected(source, image);
          const got = mod.imageTensor!(image);
          expect(got.length, `${flavour} ${name}`).toBe(want.length);
          expect(bits(got), `${flavour} ${name}`).toEqual(bits(want));
          expect(model.classifyImage!(image, 3), `${flavour} ${name}`).toEqual(model.classify(want, 3));
        }
      }
    });
  }

  it("declares the normalisation it applies, and that none is declared when so", () => {
    const declared = emitTypeScript(compiled(NETWORKS[0]![1]).result, { sourceFile: "net.mn" }).code;
    expect(declared).toContain("(pixel − 127.5) / 127.5, the normalisation the network declares.");
    const none = emitJavaScript(compiled(NETWORKS[1]![1]).result, { sourceFile: "net.mn" });
    for (const text of [none.code, none.declarations]) expect(text).toContain("the network declares no normalisation\n * (`input … mean=M std=S`), so mean 0 and std 1.");
  });

  it("matches the golden file of the image code, three channels and one (review the diff as text)", async () => {
    const block = (source: string): string => {
      const code = emitTypeScript(compiled(source).result, { sourceFile: "net.mn", wasm: false }).code;
      const start = code.indexOf("/**\n * The network's input");
      const end = code.indexOf("\n}\n", code.indexOf("function imageByte(")) + 3;
      expect(start).toBeGreaterThan(0);
      return code.slice(start, end);
    };
    await expect(`// ${NETWORKS[0]![0]}\n${block(NETWORKS[0]![1])}\n// ${NETWORKS[2]![0]}\n${block(NETWORKS[2]![1])}`).toMatchFileSnapshot("golden/ts/image.ts.txt");
  });

  it("refuses an image whose bytes are not width × height × 4", { timeout: 30_000 }, async () => {
    for (const { flavour, mod } of await modules(NETWORKS[0]![1])) {
      expect(() => mod.imageTensor!({ width: 10, height: 10, data: new Uint8Array(300) }), flavour).toThrow("P: an RGBA image of 10x10 needs 400 bytes, not 300");
      expect(() => mod.imageTensor!({ width: 0, height: 10, data: new Uint8Array(0) }), flavour).toThrow(RangeError);
    }
  });

  it("is not in a module whose network has neither 1 nor 3 input channels", () => {
    const js = emitJavaScript(compiled(network("16x16x2")).result, { sourceFile: "net.mn" });
    expect(js.code).not.toMatch(/imageTensor|classifyImage|RgbaImage/);
    expect(js.declarations).not.toMatch(/imageTensor|classifyImage|RgbaImage/);
  });

  it("type-checks a consumer under strict TypeScript, against the .ts and the .d.ts", { timeout: 60_000 }, () => {
    const net = compiled(NETWORKS[0]![1]);
    const typescript = emitTypeScript(net.result, { sourceFile: "net.mn", moduleName: "net.ts" });
    const javascript = emitJavaScript(net.result, { sourceFile: "net.mn", moduleName: "net.js" });
    const consumer = (from: string, image: string): string => `import { createModel, imageTensor, type Prediction, type RgbaImage } from "${from}";
const image: RgbaImage = ${image};
const tensor: Float32Array = imageTensor(image);
const best: Prediction[] = createModel(new Uint8Array(0)).classifyImage(image, 3);
export { tensor, best };
`;
    const options: ts.CompilerOptions = {
      strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noUnusedLocals: true, noEmit: true,
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, lib: ["lib.es2022.d.ts"], types: [],
    };
    const check = (files: Record<string, string>, root: string): string[] => {
      const dir = join(scratch, `c${files_()}`);
      mkdirSync(dir);
      writeFileSync(join(dir, "package.json"), '{ "type": "module" }');
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
      const program = ts.createProgram([join(dir, root)], options);
      return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    };
    // An ImageData-like value (Uint8ClampedArray) and plain bytes both fit.
    const clamped = "{ width: 2, height: 2, data: new Uint8ClampedArray(16) }";
    expect(check({ "net.ts": typescript.code, "consumer.ts": consumer("./net.js", clamped) }, "consumer.ts")).toEqual([]);
    expect(check({ "net.js": javascript.code, "net.d.ts": javascript.declarations, "consumer.ts": consumer("./net.js", "{ width: 2, height: 2, data: new Uint8Array(16) }") }, "consumer.ts")).toEqual([]);
    // …and a wrong one is refused.
    expect(check({ "net.js": javascript.code, "net.d.ts": javascript.declarations, "consumer.ts": consumer("./net.js", "{ width: 2, height: 2, data: [1, 2] }") }, "consumer.ts")).not.toEqual([]);
  });
});

function files_(): number {
  return files++;
}
