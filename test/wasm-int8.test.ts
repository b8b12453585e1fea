/**
 * The int8 WebAssembly module (src/emit/wasm/int8/) against the integer
 * reference in its xnnpack rounding, bit for bit: the trained uint8
 * MobileNetV1 0.25 and MobileNetV2 1.0 on the five shared photos (batch 1
 * and 2, every step's output against the reference's trace on one photo),
 * and random small quantized graphs (test/int8-generators.ts): shapes,
 * strides, kernels, zero points at the ends of their range, per-channel
 * int8 weights, saturation at both ends.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileNetworkWasmInt8, INT8_TUNING, int8UnsupportedNode, type Int8Tuning, type Int8WasmLayout } from "../src/emit/wasm/int8/index.js";
import { compile } from "../src/index.js";
import type { Graph, Node } from "../src/ir/graph.js";
import { runReferenceIntOutputs, runReferenceIntTrace } from "../src/ir/reference-int.js";
import { int8Blob } from "../src/weights/int8.js";
import { readExample, shared } from "./helpers.js";
import { quantizeRandom, randomInput, rng } from "./int8-generators.js";
import { runs, timeLimit } from "./fuzz-scale.js";
import { haveShared } from "./optional.js";
import { WA, type WasmMemory } from "./wasm-host.js";

interface Int8Loaded {
  readonly layout: Int8WasmLayout;
  readonly memory: WasmMemory;
  readonly exports: Record<string, (...args: number[]) => void>;
  /** Write `batch` items of stored values, run, read every output's stored values (as the types' numbers). */
  run(items: readonly ArrayLike<number>[]): number[][][];
}

/** Compile, validate, instantiate, write the blob, init(). */
function loadInt8(graph: Graph, maxBatch = 1, tuning?: Int8Tuning): Int8Loaded {
  const { wasm, layout } = compileNetworkWasmInt8(graph, { maxBatch, ...(tuning === undefined ? {} : { tuning }) });
  expect(WA.validate(wasm)).toBe(true);
  const memory = new WA.Memory({ initial: layout.memoryPages });
  const exports = new WA.Instance(new WA.Module(wasm), { env: { memory } }).exports as unknown as Record<string, (...args: number[]) => void>;
  const blob = int8Blob(graph).bytes;
  expect(blob.length).toBe(layout.blobBytes);
  new Uint8Array(memory.buffer, layout.blob, blob.length).set(blob);
  exports.init!();
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  /** A value's type: a dropout's (or an unquantized softmax's) is its input's. */
  const typeOf = (id: string): string => {
    const n = byId.get(id)!;
    return n.quant?.type ?? typeOf(n.inputs[0]!);
  };
  const signed = graph.outputs.map((id) => typeOf(id) === "int8");
  const run = (items: readonly ArrayLike<number>[]): number[][][] => {
    const bytes = new Uint8Array(memory.buffer, layout.input, items.length * layout.inputBytes);
    items.forEach((item, b) => {
      expect(item.length).toBe(layout.inputBytes);
      for (let i = 0; i < item.length; i++) bytes[b * layout.inputBytes + i] = item[i]! & 0xff;
    });
    exports.run!(items.length);
    return layout.outputs.map((o, k) =>
      items.map((_, b) => {
        const view = signed[k] ? new Int8Array(memory.buffer, o.offset + b * o.bytes, o.bytes) : new Uint8Array(memory.buffer, o.offset + b * o.bytes, o.bytes);
        return Array.from(view);
      }),
    );
  };
  return { layout, memory, exports, run };
}

const photos = ["basketball", "burger", "cat", "mountain", "pizza"];
const photo = (name: string): Uint8Array => new Uint8Array(readFileSync(join(shared, "data", "mobilenet_v1", "images", `${name}.rgb224`)));

const models = [
  { name: "MobileNetV1 0.25 (uint8)", dir: join(shared, "data", "mobilenet_v1_quant"), file: "mobilenet_v1_0.25_224_quant.tflite", source: "mobilenet_v1_tf.mn", set: {} },
  { name: "MobileNetV2 1.0 (uint8)", dir: join(shared, "data", "mobilenet_v2_quant"), file: "mobilenet_v2_1.0_224_quant.tflite", source: "mobilenet_v2.mn", set: { classes: "1001" } },
] as const;

for (const m of models) {
  const modelFile = join(m.dir, "model", m.file);
  describe.runIf(haveShared(modelFile, `the trained ${m.name}`))(`the int8 module of the trained ${m.name}`, () => {
    const graph = (): Graph => {
      const r = compile(readExample(m.source), { weights: new Uint8Array(readFileSync(modelFile)), weightsFile: m.file, quantized: true, set: m.set });
      expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
      return r.graph!;
    };

    it(
      "equals the integer reference (and so the interpreter's raw outputs) on all five photos, at batch 1 and batch 2",
      () => {
        const g = graph();
        expect(int8UnsupportedNode(g)).toBeUndefined();
        const one = loadInt8(g, 1);
        const two = loadInt8(g, 2);
        // The reference equals ground_truth/<photo>.out.u8 bit for bit (test/quantized.test.ts); checked here on one photo, the files on all.
        const reference = runReferenceIntOutputs(g, photo("burger"), "xnnpack")[0]!.data;
        expect(one.run([photo("burger")])[0]![0]).toEqual(Array.from(reference));
        for (const name of photos) {
          const truth = Array.from(new Uint8Array(readFileSync(join(m.dir, "ground_truth", `${name}.out.u8`))));
          expect(one.run([photo(name)])[0]![0], name).toEqual(truth);
        }
        for (const [a, b] of [["cat", "pizza"], ["mountain", "basketball"]] as const) {
          const [ya, yb] = two.run([photo(a), photo(b)])[0]!;
          expect(ya, a).toEqual(Array.from(new Uint8Array(readFileSync(join(m.dir, "ground_truth", `${a}.out.u8`)))));
          expect(yb, b).toEqual(Array.from(new Uint8Array(readFileSync(join(m.dir, "ground_truth", `${b}.out.u8`)))));
        }
      },
      { timeout: 60_000 },
    );

    it(
      "reads the blob in init() only: its bytes are the activation buffers', and overwritten after init() the outputs stay the interpreter's",
      () => {
        const g = graph();
        const { layout, memory, run } = loadInt8(g, 1);
        // The buffers start where the blob does: some step writes inside it.
        expect(layout.steps.some((s) => s.output >= layout.blob && s.output < layout.blob + layout.blobBytes)).toBe(true);
        new Uint8Array(memory.buffer, layout.blob, layout.blobBytes).fill(0xa5);
        for (const name of ["cat", "mountain"]) {
          const truth = Array.from(new Uint8Array(readFileSync(join(m.dir, "ground_truth", `${name}.out.u8`))));
          expect(run([photo(name)])[0]![0], name).toEqual(truth);
        }
      },
      { timeout: 60_000 },
    );

    it(
      "every step's output, called one by one through its export, equals the reference's trace on a photo",
      () => {
        const g = graph();
        const { layout, memory, exports } = loadInt8(g, 1);
        const input = photo("cat");
        const trace = runReferenceIntTrace(g, input, "xnnpack");
        new Uint8Array(memory.buffer, layout.input, input.length).set(input);
        const byId = new Map(g.nodes.map((n) => [n.id, n]));
        let checked = 0;
        for (const step of layout.steps) {
          exports[step.name]!(step.input, step.output);
          const id = step.nodes[step.nodes.length - 1];
          if (id === undefined) continue;
          const [h, w, c] = byId.get(id)!.shape!;
          const stride = Math.ceil(c / 16) * 16;
          const bytes = new Uint8Array(memory.buffer, step.output, h * w * stride);
          const ours = Array.from({ length: h * w * c }, (_, i) => bytes[Math.floor(i / c) * stride + (i % c)]!);
          expect(ours, step.name).toEqual(Array.from(trace.get(id)!.data));
          checked++;
        }
        expect(checked).toBe(g.nodes.filter((n) => n.op !== "input" && n.op !== "dropout" && n.quant !== undefined).length);
      },
      { timeout: 60_000 },
    );
  });
}

// ── random quantized graphs ────────────────────────────────────────────────

const act = fc.constantFrom("relu", "relu6", "linear", "hswish", "hsigmoid", "sigmoid");
const layer = fc.oneof(
  fc.record({ op: fc.constant("conv"), k: fc.constantFrom(1, 2, 3, 5), n: fc.integer({ min: 1, max: 40 }), s: fc.constantFrom(1, 2), act }).map((l) => `conv ${l.k}x${l.k} ${l.n} stride=${l.s} act=${l.act}`),
  fc.record({ k: fc.constantFrom(1, 3, 5), s: fc.constantFrom(1, 2), act }).map((l) => `dw ${l.k}x${l.k} stride=${l.s} act=${l.act}`),
  fc.record({ op: fc.constantFrom("dw 3x3", "conv 3x3 6", "dw 5x5"), d: fc.constantFrom(2, 3), act }).map((l) => `${l.op} dilation=${l.d} act=${l.act}`),
  fc.record({ n: fc.integer({ min: 1, max: 70 }), act }).map((l) => `pw ${l.n} act=${l.act}`),
  fc.record({ k: fc.constantFrom(1, 3), act }).map((l) => `residual { dw ${l.k}x${l.k} act=${l.act} }`),
  fc.record({ n: fc.integer({ min: 1, max: 24 }), act }).map((l) => `residual { pw ${l.n} act=${l.act}\n    pw ${"$C"} act=linear }`),
  fc.constantFrom("avgpool global", "avgpool 2x2", "avgpool 3x3 stride=1", "maxpool 2x2", "maxpool 3x3 stride=1", "maxpool 3x3 stride=2", "sigmoid"),
  fc.record({ r: fc.constantFrom(0.25, 0.5), gate: fc.constantFrom("hsigmoid", "sigmoid") }).map((l) => `se ${l.r} gate=${l.gate}`),
  fc.integer({ min: 1, max: 30 }).map((n) => `fc ${n}`),
  fc.constant("dropout 0.5"),
);

/** A small network: an input, 1–4 layers, maybe a softmax; `$C` in a residual's last pw is the channels it must restore (set once shapes are known, else the case is skipped). */
const network = fc.record({
  h: fc.integer({ min: 1, max: 11 }),
  w: fc.integer({ min: 1, max: 11 }),
  c: fc.integer({ min: 1, max: 19 }),
  layers: fc.array(layer, { minLength: 1, maxLength: 4 }),
  softmax: fc.boolean(),
});

const quantization = fc.record({
  activations: fc.constantFrom("uint8" as const, "int8" as const),
  perChannel: fc.boolean(),
  gain: fc.constantFrom(0.25, 1, 1, 16),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

/** The source of a generated network, or undefined where a residual's restoring pw cannot be written (unknown channels). */
function sourceOf(n: { h: number; w: number; c: number; layers: readonly string[]; softmax: boolean }): string | undefined {
  // Residual bodies that restore the channel count: only right after the input is it known (C).
  const layers = n.layers.map((l, i) => (l.includes("$C") ? (i === 0 ? l.replace("$C", String(n.c)) : undefined) : l));
  if (layers.some((l) => l === undefined)) return undefined;
  return `network R {\n  input ${n.h}x${n.w}x${n.c}\n  ${layers.join("\n  ")}\n${n.softmax ? "  softmax\n" : ""}}\n`;
}

describe("the int8 module on random quantized graphs", () => {
  it(
    "equals the integer reference bit for bit at batch 2: convolutions of any kernel, stride and dilation, depthwise, pointwise, residual adds, pools, fc, softmax, SE gates (mul), table activations fused and standalone",
    () => {
      let compiled = 0;
      fc.assert(
        fc.property(network, quantization, (n, q) => {
          const source = sourceOf(n);
          fc.pre(source !== undefined);
          const r = compile(source!);
          fc.pre(r.graph !== undefined);
          const r2 = rng(q.seed);
          const g = quantizeRandom(r.graph!, r2, q);
          const loaded = loadInt8(g, 2);
          const inputs = [randomInput(g, r2), randomInput(g, r2)];
          const outs = loaded.run(inputs);
          inputs.forEach((input, b) => {
            const ref = runReferenceIntOutputs(g, input, "xnnpack");
            ref.forEach((o, k) => expect(outs[k]![b], `${source} output ${k} item ${b}`).toEqual(Array.from(o.data)));
          });
          compiled++;
        }),
        { numRuns: runs(120), seed: 8008 },
      );
      expect(compiled).toBeGreaterThan(runs(120) / 3);
    },
    { timeout: timeLimit(60_000) },
  );

  it(
    "3×3 depthwise layers read as pair-rows (at every width; the module takes them from 28 outputs on) equal the reference bit for bit: any map and channels, residual, zero points at the ends",
    () => {
      const pairRows: Int8Tuning = { ...INT8_TUNING, dwPairRowsWidth: 1 };
      const dwLayer = fc.oneof(
        act.map((a) => `dw 3x3 act=${a}`),
        fc.record({ n: fc.integer({ min: 1, max: 40 }), act }).map((l) => `pw ${l.n} act=${l.act}`),
        fc.constantFrom("conv 3x3 12 stride=2 act=relu6", "residual { dw 3x3 act=relu }", "avgpool 2x2"),
      );
      const dwNetwork = fc.record({
        h: fc.integer({ min: 1, max: 13 }),
        w: fc.integer({ min: 1, max: 40 }),
        c: fc.integer({ min: 1, max: 40 }),
        layers: fc.array(dwLayer, { minLength: 1, maxLength: 3 }),
      });
      let changed = 0;
      fc.assert(
        fc.property(dwNetwork, quantization, (n, q) => {
          const source = `network P {\n  input ${n.h}x${n.w}x${n.c}\n  ${n.layers.join("\n  ")}\n}\n`;
          const r = compile(source);
          fc.pre(r.graph !== undefined && r.graph.nodes.some((node) => node.op === "depthwise"));
          const r2 = rng(q.seed);
          const g = quantizeRandom(r.graph!, r2, q);
          const wasm = compileNetworkWasmInt8(g, { tuning: pairRows }).wasm;
          const sliding = compileNetworkWasmInt8(g, { tuning: { ...INT8_TUNING, dwPairRowsWidth: Number.POSITIVE_INFINITY } }).wasm;
          if (wasm.length !== sliding.length || wasm.some((b, i) => b !== sliding[i])) changed++;
          const loaded = loadInt8(g, 2, pairRows);
          const inputs = [randomInput(g, r2), randomInput(g, r2)];
          const outs = loaded.run(inputs);
          inputs.forEach((input, b) => {
            const ref = runReferenceIntOutputs(g, input, "xnnpack");
            ref.forEach((o, k) => expect(outs[k]![b], `${source} output ${k} item ${b}`).toEqual(Array.from(o.data)));
          });
        }),
        { numRuns: runs(60), seed: 2811 },
      );
      // The pair-row kernel did run: most cases compiled to other code than the sliding one.
      expect(changed).toBeGreaterThan(runs(60) / 3);
    },
    { timeout: timeLimit(60_000) },
  );

  it(
    "saturates at both ends of uint8 and int8: outputs reach the type's limits and still equal the reference",
    () => {
      let low = 0;
      let high = 0;
      for (const type of ["uint8", "int8"] as const) {
        for (let seed = 0; seed < 6; seed++) {
          const g = quantizeRandom(compile("network S {\n  input 6x5x7\n  conv 3x3 24 stride=2 act=linear\n  dw 3x3 act=linear\n  pw 20 act=linear\n}\n").graph!, rng(seed), { activations: type, perChannel: seed % 2 === 0, gain: 64 });
          const input = randomInput(g, rng(100 + seed));
          const ours = loadInt8(g).run([input])[0]![0]!;
          const ref = Array.from(runReferenceIntOutputs(g, input, "xnnpack")[0]!.data);
          expect(ours).toEqual(ref);
          const [lo, hi] = type === "uint8" ? [0, 255] : [-128, 127];
          low += ref.filter((v) => v === lo).length;
          high += ref.filter((v) => v === hi).length;
        }
      }
      expect(low).toBeGreaterThan(20);
      expect(high).toBeGreaterThan(20);
    },
    { timeout: 30_000 },
  );

  it("zero points at the ends of the range (0 and 255, −128 and 127) compute as any other", () => {
    for (const [type, zps] of [["uint8", [0, 255]], ["int8", [-128, 127]]] as const) {
      for (const zp of zps) {
        const base = quantizeRandom(compile("network Z {\n  input 5x4x9\n  conv 3x3 12 act=relu6\n  dw 3x3 stride=2 act=relu\n  pw 16 act=linear\n}\n").graph!, rng(zp + 1000), { activations: type });
        // Every activation's zero point at the end.
        const g: Graph = { ...base, nodes: base.nodes.map((node) => (node.quant === undefined ? node : { ...node, quant: { ...node.quant, zeroPoint: [zp] } })) };
        const input = randomInput(g, rng(zp + 7));
        expect(loadInt8(g).run([input])[0]![0]).toEqual(Array.from(runReferenceIntOutputs(g, input, "xnnpack")[0]!.data));
      }
    }
  });

  it("refuses, naming the layer, an op it has no kernel for", () => {
    const g = compile("network M {\n  input 8x8x4\n  pw 8\n}\n").graph!;
    // A quantized graph with a node integer inference does not run (a resize, say): the module names it.
    const pw = g.nodes[1]!;
    const odd = { ...g, nodes: [g.nodes[0]!, { ...pw, id: "up", op: "resize", attrs: { mode: "nearest", coords: "asymmetric", target: { kind: "scale", factor: [2, 2] } } } as unknown as Node] };
    expect(int8UnsupportedNode(odd)?.id).toBe("up");
    expect(() => compileNetworkWasmInt8(odd)).toThrow(/no integer kernel for 'up' \(resize\)/);
  });

  it("traps on a batch larger than maxBatch, and runs batch 0 as nothing", () => {
    const g = quantizeRandom(compile("network B {\n  input 3x3x2\n  pw 4\n}\n").graph!, rng(2));
    const loaded = loadInt8(g, 2);
    expect(() => loaded.exports.run!(3)).toThrow();
    expect(() => loaded.exports.run!(0)).not.toThrow();
  });
});
