/**
 * The WebAssembly SIMD backend on graph networks (src/emit/wasm): several
 * outputs, each in its own region; the kernels of segmentation heads —
 * dilated depthwise and full convolutions, transposed convolutions, resizes
 * (bilinear and nearest, every coordinate convention), concatenations,
 * standalone activations, argmax, adds and muls with a 1×1×C operand —
 * against the float64 reference evaluator on hand-made edge cases, on
 * random graphs (test/graph-generators.ts) and on both segmentation
 * examples, every output compared; and the trained DeepLabV3 and selfie
 * segmentation models on the shared photos against their ground truth.
 * Run at the WebAssembly level, as test/wasm.test.ts does (the generated
 * module's own tests are test/emit-ts-graph.test.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { compileNetworkWasm, type WasmOptions } from "../src/emit/wasm/index.js";
import type { Graph } from "../src/ir/graph.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { runs, timeLimit } from "./fuzz-scale.js";
import { validGraphSpec } from "./graph-generators.js";
import { inputs, readExample, relativeError } from "./helpers.js";
import { DEEPLAB_DATA, float32File, grayPng, maxAbsDiff, photoBatch, PHOTOS, SELFIE_DATA } from "./segmentation-data.js";
import { haveShared } from "./optional.js";
import { loadWasm as load } from "./wasm-host.js";

// ── a tiny host, as test/wasm.test.ts has it ───────────────────────────────

function graphOf(source: string, options: CompileOptions = {}): Graph {
  const r = compile(source, options);
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (r.graph === undefined) throw new Error("no graph");
  return r.graph;
}

const inputSize = (g: Graph): number => {
  const s = g.nodes[0]!.shape!;
  return s[0] * s[1] * s[2];
};

/** Every output of the module against the reference's: the largest relative error, per output. */
function errors(graph: Graph, batch: number, seed: number, options: WasmOptions = {}): number[] {
  const loaded = load(graph, { ...options, maxBatch: batch });
  const x = inputs(batch * inputSize(graph), seed);
  const got = loaded.runAll(x, batch);
  const expected = runReferenceOutputs(graph, x, batch);
  expect(got.length).toBe(expected.length);
  return expected.map((e, k) => relativeError(got[k]!, e));
}

const FUSIONS = ["auto", "none", "all"] as const;

// ── several outputs ────────────────────────────────────────────────────────

describe("several outputs, each in its own region", () => {
  const source = `network M {
  input 9x7x3
  a = conv 3x3 8 stride=2
  b = dw 3x3 act=relu6
  c = pw 6 act=linear
  pw 6 act=relu
  d = add c
  output b d a
}`;

  it("lays the regions out in graph.outputs order, the first where `output` says, aligned and disjoint", () => {
    const graph = graphOf(source);
    expect(graph.outputs.length).toBe(3);
    const layout = compileNetworkWasm(graph, { maxBatch: 2 }).layout;
    expect(layout.outputs.map((o) => o.id)).toEqual(graph.outputs);
    expect(layout.outputs[0]).toEqual({ id: graph.outputs[0], offset: layout.output, bytes: layout.outputBytes, shape: layout.outputShape });
    expect(layout.outputs.map((o) => o.shape)).toEqual([
      [5, 4, 8],
      [5, 4, 6],
      [5, 4, 8],
    ]);
    let end = layout.input + 2 * layout.inputBytes;
    for (const o of layout.outputs) {
      expect(o.offset % 64).toBe(0);
      expect(o.offset).toBeGreaterThanOrEqual(end);
      expect(o.bytes).toBe(4 * o.shape[0] * o.shape[1] * o.shape[2]);
      end = o.offset + 2 * o.bytes;
    }
    expect(layout.memoryBytes).toBeGreaterThanOrEqual(end);
  });

  it("gives every output equal to the reference's, at batch 1 and 3, with every fusion setting", () => {
    const graph = graphOf(source, { seed: 7 });
    for (const fuse of FUSIONS) for (const batch of [1, 3]) for (const e of errors(graph, batch, batch, { fuse })) expect(e).toBeLessThan(1e-5);
  }, 30_000);

  it("writes nothing past an output of 1–3 channels into the next region (resizes, copies and narrow transposed convolutions into unpadded strides)", () => {
    for (const c of [1, 2, 3, 5]) {
      // Each first output is 8x8xC: its region ends on a 64-byte boundary where C = 1 or 2, so the next region follows at once.
      for (const source of [
        `network M {\n  img = input 4x4x2\n  a = conv 1x1 ${c} act=linear\n  r = resize 2 from=a\n  output r a\n}\n`,
        `network M {\n  img = input 4x4x2\n  a = conv 1x1 ${c} act=linear\n  r = resize 2 mode=nearest from=a\n  output r a\n}\n`,
        `network M {\n  img = input 1x1x1\n  t0 = deconv 2x2 ${c} stride=2 act=relu norm=none\n  t1 = deconv 2x2 ${c} stride=2 act=relu norm=none\n  t2 = conv 1x1 1 act=relu norm=none\n  output t2 t1\n}\n`,
        `network M {\n  img = input 8x8x3\n  a = conv 1x1 ${c} act=linear\n  b = conv 1x1 4 act=linear\n  output a b\n}\n`,
      ]) {
        const graph = graphOf(source, { seed: c });
        for (const batch of [1, 2]) for (const e of errors(graph, batch, c)) expect(e, `${c} channels, batch ${batch}: ${source}`).toBeLessThan(1e-5);
      }
    }
  }, 30_000);

  it("copies out outputs that later steps read, any width (copy_output.k), and the network input as an output", () => {
    for (const c of [1, 3, 4, 21, 37, 64]) {
      const graph = graphOf(`network M {\n  img = input 5x6x3\n  a = conv 3x3 ${c} act=relu\n  b = pw 8 act=linear\n  output b a img\n}\n`, { seed: c });
      const steps = compileNetworkWasm(graph).layout.steps;
      expect(steps.filter((s) => s.kernel === "copy").map((s) => s.name)).toEqual(["copy_output.2", "copy_output.1"]);
      for (const batch of [1, 3]) for (const e of errors(graph, batch, c)) expect(e, `${c} channels`).toBeLessThan(1e-5);
    }
  }, 30_000);
});

// ── one-layer networks ─────────────────────────────────────────────────────

/** The network `input HxWxC` then `layers`, with seeded weights; undefined when mnc refuses it (a window larger than the map). */
function tryGraph(source: string, seed: number): Graph | undefined {
  const r = compile(source, { seed });
  return r.diagnostics.some((d) => d.severity === "error") ? undefined : r.graph;
}

/** Check a family of one-layer sources: every one that compiles equals the reference within `tolerance` at batch 1 and 2. */
function checkLayers(sources: fc.Arbitrary<string>, numRuns: number, tolerance = 1e-5): void {
  let compiled = 0;
  fc.assert(
    fc.property(sources, fc.integer({ min: 1, max: 1000 }), (source, seed) => {
      const graph = tryGraph(source, seed);
      if (graph === undefined) return;
      compiled++;
      for (const batch of [1, 2]) for (const e of errors(graph, batch, seed + batch)) expect(e, source).toBeLessThan(tolerance);
    }),
    { seed: 20261201, numRuns },
  );
  expect(compiled).toBeGreaterThan(numRuns / 2);
}

const map = fc.record({ h: fc.integer({ min: 1, max: 13 }), w: fc.integer({ min: 1, max: 13 }), c: fc.integer({ min: 1, max: 11 }) });
const ACT = fc.constantFrom("relu", "relu6", "linear", "hswish", "hsigmoid", "sigmoid");

describe("every new kernel equals the reference evaluator on one-layer networks (1e-5 relative)", () => {
  it("dilated depthwise: kernels 1–5, dilations 1–6 (beyond the map too), strides 1–2, SAME and VALID", () => {
    checkLayers(
      fc
        .tuple(map, fc.constantFrom(1, 2, 3, 5), fc.constantFrom(1, 2, 3, 4, 6), fc.constantFrom(1, 2), fc.constantFrom("same", "valid"), ACT)
        .map(([{ h, w, c }, k, d, s, pad, act]) => `network T {\n  input ${h}x${w}x${c}\n  dw ${k}x${k} dilation=${d} stride=${s} pad=${pad} act=${act}\n}\n`),
      runs(60),
    );
  }, timeLimit(60_000));

  it("dilated full convolution: kernels 1–5, dilations 1–4, strides 1–2, SAME and VALID", () => {
    checkLayers(
      fc
        .tuple(map, fc.constantFrom(2, 3, 5), fc.constantFrom(1, 2, 3, 4), fc.constantFrom(1, 2), fc.constantFrom("same", "valid"), fc.integer({ min: 1, max: 13 }), ACT)
        .map(([{ h, w, c }, k, d, s, pad, n, act]) => `network T {\n  input ${h}x${w}x${c}\n  conv ${k}x${k} ${n} dilation=${d} stride=${s} pad=${pad} act=${act}\n}\n`),
      runs(40),
    );
  }, timeLimit(60_000));
});

describe("more kernels on one-layer networks (1e-5 relative)", () => {
  it("transposed convolution: kernels 1–4, strides 1–3, SAME and VALID, any channels, every activation", () => {
    checkLayers(
      fc
        .tuple(map, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom("same", "valid"), fc.integer({ min: 1, max: 9 }), ACT, fc.constantFrom("none", "batchnorm"))
        .map(([{ h, w, c }, k, s, pad, n, act, norm]) => `network T {\n  input ${h}x${w}x${c}\n  deconv ${k}x${k} ${n} stride=${s} pad=${pad} act=${act} norm=${norm}\n}\n`),
      runs(60),
    );
  }, timeLimit(60_000));

  it("transposed convolution to 1–3 channels (summed over input channel vectors) from up to 40 channels, into the output region or a padded buffer", () => {
    checkLayers(
      fc
        .tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), ACT, fc.boolean())
        .map(([h, w, c, k, s, n, act, then]) => `network T {\n  input ${h}x${w}x${c}\n  deconv ${k}x${k} ${n} stride=${s} pad=valid act=${act}\n${then ? "  pw 5 act=relu\n" : ""}}\n`),
      runs(40),
    );
  }, timeLimit(60_000));

  const MODES = fc.constantFrom("bilinear", "nearest");
  const COORDS = fc.constantFrom("align_corners", "half_pixel", "asymmetric");

  it("resize by a factor (1–4 per axis): bilinear and nearest, every coordinate convention", () => {
    checkLayers(
      fc
        .tuple(map, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), MODES, COORDS)
        .map(([{ h, w, c }, fh, fw, mode, coords]) => `network T {\n  input ${h}x${w}x${c}\n  resize ${fh}x${fw} mode=${mode} coords=${coords}\n}\n`),
      runs(60),
    );
  }, timeLimit(60_000));

  it("resize to another tensor's size, up and down by any ratio (the output region written in place, unpadded)", () => {
    checkLayers(
      fc
        .tuple(map, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), MODES, COORDS, fc.boolean())
        .map(([{ h, w, c }, sh, sw, mode, coords, down]) =>
          down
            ? `network T {\n  img = input ${h}x${w}x${c}\n  small = conv 3x3 ${c} stride=${sh}x${sw}\n  resize to=small from=img mode=${mode} coords=${coords}\n  add small\n}\n`
            : `network T {\n  img = input ${h}x${w}x${c}\n  conv 3x3 ${c + 2} stride=${sh}x${sw}\n  resize to=img mode=${mode} coords=${coords}\n}\n`,
        ),
      runs(60),
    );
  }, timeLimit(60_000));

  it("concat of two to four tensors, any channels (slices at any lane), the network input among them", () => {
    checkLayers(
      fc
        .tuple(map, fc.array(fc.integer({ min: 1, max: 21 }), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean())
        .map(([{ h, w, c }, widths, withInput, head]) => {
          const names = widths.map((_, i) => `t${i}`);
          const layers = widths.map((n, i) => `  t${i} = conv 1x1 ${n} act=linear from=img`);
          const parts = withInput ? [...names, "img"] : names;
          return `network T {\n  img = input ${h}x${w}x${c}\n${layers.join("\n")}\n  concat ${parts.slice(1).join(" ")} from=${parts[0]}\n${head ? "  pw 5 act=relu\n" : ""}}\n`;
        }),
      runs(60),
    );
  }, timeLimit(60_000));

  it("standalone activations, argmax and softmax heads", () => {
    checkLayers(
      fc
        .tuple(map, fc.constantFrom("sigmoid", "argmax", "softmax"), fc.boolean())
        .map(([{ h, w, c }, head, deep]) => `network T {\n  input ${h}x${w}x${c}\n  conv 3x3 ${c + 1} act=linear\n  ${head}\n${deep ? "  pw 3 act=relu\n" : ""}}\n`),
      runs(40),
    );
  }, timeLimit(60_000));

  it("argmax picks the first largest channel on ties, 1–90 channels (masked last vector, looped beyond 64), as the reference does", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 90 }), fc.integer({ min: 2, max: 5 }), fc.integer(), (h, w, c, levels, seed) => {
        const graph = graphOf(`network T {\n  input ${h}x${w}x${c}\n  argmax\n}\n`);
        const x = Float32Array.from(inputs(2 * h * w * c, seed), (v) => Math.floor((v + 1) * levels) - 1);
        const got = load(graph, { maxBatch: 2 }).runAll(x, 2)[0]!;
        expect([...got]).toEqual([...runReferenceOutputs(graph, x, 2)[0]!]);
      }),
      { seed: 20261203, numRuns: runs(60) },
    );
  }, timeLimit(30_000));

  it("add and mul with a 1x1xC operand (an SE-style gate, an image-pooling branch), the broadcast one made first or last", () => {
    checkLayers(
      fc
        .tuple(map, fc.constantFrom("add", "mul"), ACT, fc.boolean())
        .map(([{ h, w, c }, op, act, gateFirst]) =>
          gateFirst
            ? `network T {\n  img = input ${h}x${w}x${c}\n  avgpool global\n  g = conv 1x1 ${c + 3} act=${act}\n  x = conv 1x1 ${c + 3} act=linear from=img\n  ${op} g\n}\n`
            : `network T {\n  img = input ${h}x${w}x${c}\n  x = conv 3x3 ${c + 3} act=linear\n  avgpool global\n  conv 1x1 ${c + 3} act=${act}\n  ${op} x\n}\n`,
        ),
      runs(40),
    );
  }, timeLimit(60_000));
});

describe("fusion where it is right, and only there", () => {
  it("a projection feeding an add whose other operand is 1x1xC broadcast keeps the add apart (and a 1x1 conv on a 1x1 map, broadcast)", () => {
    for (const source of [
      `network T {\n  img = input 6x5x8\n  avgpool global\n  g = conv 1x1 8 act=relu\n  pw 8 act=linear from=img\n  add g\n}\n`,
      `network T {\n  img = input 6x5x8\n  avgpool global\n  conv 1x1 8 act=relu\n  add img\n}\n`,
    ]) {
      const graph = graphOf(source, { seed: 5 });
      const add = graph.nodes.find((n) => n.op === "add")!;
      for (const fuse of FUSIONS) {
        const steps = compileNetworkWasm(graph, { fuse }).layout.steps;
        const step = steps.find((s) => s.nodes.includes(add.id))!;
        expect(step.kernel, source).toBe("add");
        expect(step.nodes).toEqual([add.id]);
        for (const e of errors(graph, 2, 3, { fuse })) expect(e).toBeLessThan(1e-5);
      }
    }
  });

  it("a residual add of two tensors of one shape still fuses into the projection", () => {
    const graph = graphOf(`network T {\n  input 6x5x8\n  r = conv 3x3 8\n  pw 16\n  pw 8 act=linear\n  add r\n}\n`, { seed: 5 });
    const add = graph.nodes.find((n) => n.op === "add")!;
    const step = compileNetworkWasm(graph).layout.steps.find((s) => s.nodes.includes(add.id))!;
    expect(step.kernel).toBe("pointwise");
    for (const e of errors(graph, 1, 3)) expect(e).toBeLessThan(1e-5);
  });
});

describe("edge shapes", () => {
  it("1x1 maps, 1–7 channels, dilations past the map, every op of a segmentation head", () => {
    for (const [h, w] of [
      [1, 1],
      [1, 3],
      [2, 1],
      [3, 3],
    ] as const) {
      for (const c of [1, 2, 3, 5, 7]) {
        const source = `network T {
  img = input ${h}x${w}x${c}
  a = dw 3x3 dilation=4 act=relu6
  b = conv 3x3 ${c + 1} dilation=6 act=hswish
  p = avgpool global from=a
  g = conv 1x1 ${c + 1} act=sigmoid
  mul g from=b
  u = resize to=img coords=align_corners
  d = deconv 3x3 ${c} stride=2
  e = resize to=img mode=nearest coords=half_pixel
  concat a u img from=e
  s = conv 1x1 3 act=linear
  q = sigmoid
  m = argmax from=s
  output q m s
}
`;
        const graph = graphOf(source, { seed: h * 10 + c });
        for (const fuse of FUSIONS) for (const batch of [1, 3]) errors(graph, batch, c, { fuse }).forEach((e, k) => expect(e, `${h}x${w}x${c} ${fuse} output ${k}`).toBeLessThan(1e-5));
      }
    }
  }, 60_000);
});

// ── the examples ───────────────────────────────────────────────────────────

describe("the segmentation examples, seeded, equal the reference evaluator (1e-4 relative)", () => {
  it.each([
    ["selfie_segmentation.mn", undefined, undefined, 1],
    ["selfie_segmentation.mn", 64, undefined, 2],
    ["selfie_segmentation.mn", undefined, ["features"], 1],
    ["deeplabv3_mobilenet_v2.mn", 65, ["scores", "logits"], 2],
    ["deeplabv3_mobilenet_v2.mn", undefined, ["scores", "logits"], 1],
    ["deeplabv3_mobilenet_v2.mn", 33, undefined, 1],
  ] as const)("%s at %s px, outputs %s, batch %s: every output", (file, resolution, outputs, batch) => {
    const graph = graphOf(readExample(file), { seed: 11, ...(resolution === undefined ? {} : { resolution }), ...(outputs === undefined ? {} : { outputs: [...outputs] }) });
    if (outputs !== undefined) expect(graph.outputs.length).toBe(outputs.length);
    for (const e of errors(graph, batch, 17)) expect(e).toBeLessThan(1e-4);
  }, 60_000);
});

// ── random graphs ──────────────────────────────────────────────────────────

describe("random graphs (test/graph-generators.ts): every output equals the reference's", () => {
  it("within 1e-4 at batch 1 and 2, with every fusion setting", async () => {
    await fc.assert(
      fc.asyncProperty(validGraphSpec({ minSize: 1, maxSize: 14, maxMap: 32 }), fc.integer({ min: 1, max: 1000 }), async ({ source }, seed) => {
        // Each run gives the event loop a turn: the fuzz run's hundreds of graphs must not starve the test runner's messages.
        await new Promise((resolve) => setImmediate(resolve));
        const graph = graphOf(source, { seed });
        for (const fuse of FUSIONS) {
          for (const batch of [1, 2]) {
            errors(graph, batch, seed + batch, { fuse }).forEach((e, k) => expect(e, `${fuse}, batch ${batch}, output ${graph.outputs[k]}\n${source}`).toBeLessThan(1e-4));
          }
        }
      }),
      { seed: 20261202, numRuns: runs(40) },
    );
  }, timeLimit(120_000));
});

// ── the trained segmenters on real photos ──────────────────────────────────

const DEEPLAB = DEEPLAB_DATA;
const DEEPLAB_MODEL = join(DEEPLAB, "model", "deeplabv3.tflite");

describe.runIf(haveShared(DEEPLAB_MODEL, "the WebAssembly kernels on the trained DeepLabV3"))("the trained DeepLabV3-MobileNetV2 on every shared photo, in one batch", () => {
  it("gives the interpreter's 33x33 scores within 1e-3 and its category mask on all 66,049 pixels, by the module's argmax and by the logits'", () => {
    const source = readExample("deeplabv3_mobilenet_v2.mn").replace(/\}\s*$/, "  mask = argmax\n}\n");
    const graph = graphOf(source, { weights: new Uint8Array(readFileSync(DEEPLAB_MODEL)), weightsFile: "deeplabv3.tflite", outputs: ["scores", "logits", "mask"] });
    const loaded = load(graph, { maxBatch: PHOTOS.length });
    const [scores, logits, mask] = loaded.runAll(photoBatch(graph, DEEPLAB, "rgb257"), PHOTOS.length);
    const S = 33 * 33 * 21;
    const P = 257 * 257;
    PHOTOS.forEach((name, i) => {
      expect(maxAbsDiff(scores!.subarray(i * S, (i + 1) * S), float32File(join(DEEPLAB, "ground_truth", `${name}.logits33.f32`))), name).toBeLessThan(1e-3);
      const truth = grayPng(join(DEEPLAB, "ground_truth", `${name}.mask.png`));
      expect(Uint8Array.from(mask!.subarray(i * P, (i + 1) * P)), name).toEqual(truth);
      const classes = new Uint8Array(P);
      for (let p = 0; p < P; p++) {
        let best = 0;
        for (let c = 1; c < 21; c++) if (logits![(i * P + p) * 21 + c]! > logits![(i * P + p) * 21 + best]!) best = c;
        classes[p] = best;
      }
      expect(classes, name).toEqual(truth);
      if (name === "segmentation_input") expect(maxAbsDiff(logits!.subarray(0, P * 21), float32File(join(DEEPLAB, "ground_truth", "segmentation_input.output.f32")))).toBeLessThan(1e-3);
    });
  }, 120_000);
});

const SELFIE = SELFIE_DATA;
const SELFIE_MODEL = join(SELFIE, "model", "selfie_segmentation.tflite");
const SELFIE_FEATURES = join(SELFIE, "model", "selfie_segmentation_features_only.tflite");

describe.runIf(haveShared(SELFIE_MODEL, "the WebAssembly kernels on the trained selfie segmentation model"))("the trained selfie segmentation model on every shared photo, in one batch", () => {
  it("gives the person mask within 1e-3 of the float64 run on every photo", () => {
    const graph = graphOf(readExample("selfie_segmentation.mn"), { weights: new Uint8Array(readFileSync(SELFIE_MODEL)), weightsFile: "selfie_segmentation.tflite" });
    const loaded = load(graph, { maxBatch: PHOTOS.length });
    const [mask] = loaded.runAll(photoBatch(graph, SELFIE, "rgb256"), PHOTOS.length);
    const P = 256 * 256;
    PHOTOS.forEach((name, i) => expect(maxAbsDiff(mask!.subarray(i * P, (i + 1) * P), float32File(join(SELFIE, "ground_truth", `${name}.mask.f32`))), name).toBeLessThan(1e-3));
  }, 60_000);

  it.runIf(haveShared(SELFIE_FEATURES, "the selfie features-only file"))("gives the interpreter's 128x128x16 features (--outputs features, the features-only file) within 1e-3", () => {
    const graph = graphOf(readExample("selfie_segmentation.mn"), { weights: new Uint8Array(readFileSync(SELFIE_FEATURES)), weightsFile: "selfie_segmentation_features_only.tflite", outputs: ["features"] });
    const loaded = load(graph, { maxBatch: PHOTOS.length });
    const [features] = loaded.runAll(photoBatch(graph, SELFIE, "rgb256"), PHOTOS.length);
    const F = 128 * 128 * 16;
    const at = PHOTOS.indexOf("grace_hopper");
    expect(maxAbsDiff(features!.subarray(at * F, (at + 1) * F), float32File(join(SELFIE, "ground_truth", "grace_hopper.features.f32")))).toBeLessThan(1e-3);
  }, 60_000);
});
