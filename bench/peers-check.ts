/**
 * The TensorFlow.js peer of `npm run bench` (bench/peers.ts) against the reference evaluator
 * (src/ir/reference.ts), on its `cpu` and `wasm` backends:
 *
 * 1. every resize mode and sampling convention on every size from 1..24 to 1..48 along H and along W,
 *    on a ramp input (a nearest resize that picks the wrong source cell is off by at least 1);
 * 2. graphs written here: DeepLab's and the selfie model's ops at small sizes, and a nearest resize
 *    2→41 that the wasm backend samples from other cells than the reference (the peer must refuse it);
 * 3. random graphs of test/graph-generators.ts (dilated and strided convolutions, transposed
 *    convolutions, concats, skips and 1x1xC gates, resizes, standalone activations, argmax and
 *    softmax heads, several outputs), every output compared.
 *
 *   npm run bench:peers [-- --graphs 60 --seed 1]
 *
 * Prints what differs and exits 1 if anything does beyond float32 rounding: |Δ| ≤ 1e-4 · max(1, max |reference|)
 * per output; an argmax may differ only where the reference's two channels are within that of a tie.
 */
import fc from "fast-check";
import { compile } from "../src/index.js";
import type { Graph, ResizeCoords, ResizeMode, ResizeNode, Shape } from "../src/ir/graph.js";
import { RESIZE_COORDS, RESIZE_MODES } from "../src/ir/graph.js";
import { referenceLayer, runReferenceOutputs, traceReference } from "../src/ir/reference.js";
import { validGraphSpec } from "../test/graph-generators.js";
import { flag } from "./args.js";
import { tfjsModel, tfjsResize, tfjsWith, Unsupported } from "./peers.js";

type Tf = Awaited<ReturnType<typeof tfjsWith>>;

const graphs = Number(flag("graphs") ?? 60);
const seed = Number(flag("seed") ?? 1);
const span = { file: "check", start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };

/** Resizes along one axis at a time: how many (size pair, backend) cases differ, and the first few. */
async function resizeSweep(tf: Tf, backend: string, mode: ResizeMode, coords: ResizeCoords): Promise<{ cases: number; wrong: string[] }> {
  const wrong: string[] = [];
  let cases = 0;
  for (const axis of [0, 1] as const) {
    for (let n = 1; n <= 24; n++) {
      for (let m = 1; m <= 48; m++) {
        const inShape: Shape = axis === 0 ? [n, 1, 2] : [1, n, 2];
        const outShape: Shape = axis === 0 ? [m, 1, 2] : [1, m, 2];
        const node: ResizeNode = { op: "resize", id: "r", inputs: ["x"], span, origin: "resize", shape: outShape, attrs: { mode, coords, target: { kind: "scale", factor: [1, 1] } } };
        const x = Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? i / 2 + 1 : 10 * (i >> 1) - 3));
        const want = new Float64Array(2 * m);
        referenceLayer(node, [inShape], outShape)(x, want);
        const got = tf.tidy(() => tfjsResize(tf, mode, coords, tf.tensor4d(Float32Array.from(x), [1, ...inShape]), [outShape[0], outShape[1]]));
        const data = (await got.data()) as Float32Array;
        got.dispose();
        cases++;
        let diff = 0;
        for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(data[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
        if (diff > 1e-5 && wrong.length < 1000) wrong.push(`${axis === 0 ? "H" : "W"} ${n}→${m} (${diff.toExponential(1)})`);
      }
    }
  }
  return { cases, wrong };
}

/** Every output of the graph in TensorFlow.js against the reference; a description of each difference. */
async function compareGraph(tf: Tf, graph: Graph): Promise<string[]> {
  const [h, w, c] = graph.nodes[0]!.shape!;
  const input = Float32Array.from({ length: h * w * c }, (_, i) => Math.sin(i * 0.37 + 0.1));
  const want = runReferenceOutputs(graph, input);
  const model = tfjsModel(tf, graph);
  const x = tf.tensor4d(input, [1, h, w, c]);
  const ys = model(x);
  const got = await Promise.all(ys.map(async (y) => (await y.data()) as Float32Array));
  x.dispose();
  for (const y of ys) y.dispose();
  const problems: string[] = [];
  const trace = graph.nodes.some((n) => n.op === "argmax") ? traceReference(graph, input) : undefined;
  graph.outputs.forEach((id, k) => {
    const ref = want[k]!;
    const out = got[k]!;
    if (out.length !== ref.length) {
      problems.push(`${id}: ${out.length} values, the reference ${ref.length}`);
      return;
    }
    const node = graph.nodes.find((n) => n.id === id)!;
    const scale = Math.max(1, ...Array.from(ref, Math.abs));
    if (node.op === "argmax") {
      // Where the indices differ, the reference's two channels must be a tie to float32 precision.
      const scores = trace!.get(node.inputs[0]!)!;
      const C = scores.length / ref.length;
      const top = Math.max(1, ...Array.from(scores, Math.abs));
      for (let p = 0; p < ref.length; p++) {
        if (out[p] === ref[p]) continue;
        const gap = Math.abs(scores[p * C + ref[p]!]! - scores[p * C + out[p]!]!);
        if (!(gap <= 1e-4 * top)) problems.push(`${id}[${p}]: argmax ${out[p]}, the reference ${ref[p]} (apart by ${gap.toExponential(1)})`);
      }
      return;
    }
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(out[i]! - ref[i]!));
    if (!(worst <= 1e-4 * scale)) problems.push(`${id}: max |Δ| ${worst.toExponential(2)} for values up to ${scale.toExponential(2)}`);
  });
  return problems;
}

/** Small graphs of the segmenters' ops, each with what the peer must do on each backend. */
const WRITTEN: readonly { readonly source: string; readonly refuse: readonly string[] }[] = [
  {
    // DeepLab's head: dilated depthwise, image pooling upsampled from 1x1, concat, aligned-corner upsampling.
    source: `network Head {
  image = input 17x17x3
  conv 3x3 8 stride=2
  dw 3x3 dilation=2
  f = pw 12
  a = pw 8 act=relu
  avgpool global from=f
  pw 8 act=relu
  resize to=f coords=align_corners
  concat a
  pw 5 act=linear norm=none
  resize to=image coords=align_corners
}`,
    refuse: [],
  },
  {
    // The selfie decoder: half-pixel upsampling, a gate broadcast over H and W, a 2x2/2 transposed convolution.
    source: `network Decoder {
  image = input 16x16x4
  s = conv 3x3 8 stride=2 act=hswish norm=none
  dw 5x5 stride=2 act=hswish norm=none
  resize 2 coords=half_pixel
  u = conv 1x1 8 act=linear norm=none
  add s
  avgpool global
  g = conv 1x1 8 act=sigmoid norm=none
  mul g from=s
  add u
  deconv 2x2 1 stride=2 act=sigmoid norm=none
}`,
    refuse: [],
  },
  {
    // 41 → 21 → 11 → 6 → 3 → 2, then nearest half-pixel back to 41.
    source: `network Nearest {
  image = input 41x41x2
  repeat 5 { conv 3x3 2 stride=2 act=linear }
  resize to=image mode=nearest coords=half_pixel
}`,
    refuse: ["wasm"],
  },
];

let failed = false;
for (const backend of ["cpu", "wasm"] as const) {
  const tf = await tfjsWith(backend);
  for (const mode of RESIZE_MODES) {
    for (const coords of RESIZE_COORDS) {
      const { cases, wrong } = await resizeSweep(tf, backend, mode, coords);
      console.log(`${backend} resize ${mode} ${coords}: ${cases - wrong.length}/${cases} sizes equal the reference${wrong.length ? `; differ: ${wrong.slice(0, 8).join(", ")}${wrong.length > 8 ? ", …" : ""}` : ""}`);
      // A nearest resize at a size where TensorFlow.js reads other cells is refused by the peer (probed per node);
      // a bilinear one never may be.
      if (wrong.length && mode === "bilinear") failed = true;
    }
  }
  for (const { source, refuse } of WRITTEN) {
    const r = compile(source, {});
    if (r.graph === undefined) throw new Error(`does not compile:\n${source}\n${r.diagnostics.map((d) => d.message).join("\n")}`);
    let outcome: string;
    try {
      const problems = await compareGraph(tf, r.graph);
      outcome = problems.length ? problems.join("; ") : "equal";
    } catch (e) {
      outcome = e instanceof Unsupported ? `refused: ${e.message}` : `throws: ${(e as Error).message}`;
    }
    const ok = refuse.includes(backend) ? outcome.startsWith("refused") : outcome === "equal";
    if (!ok) failed = true;
    console.log(`${backend} ${r.graph.name}: ${outcome}${ok ? "" : " (not as expected)"}`);
  }
  const specs = fc.sample(validGraphSpec({ maxSize: 12, maxMap: 32, maxLength: 10 }), { numRuns: graphs, seed });
  const ops = new Map<string, number>();
  let bad = 0;
  const refused: string[] = [];
  for (const spec of specs) {
    const r = compile(spec.source, {});
    if (r.graph === undefined) throw new Error(`does not compile:\n${spec.source}\n${r.diagnostics.map((d) => d.message).join("\n")}`);
    for (const n of r.graph.nodes) {
      const dilated = (n.op === "conv" || n.op === "depthwise") && (n.attrs.dilation?.[0] ?? 1) > 1 ? " dilated" : "";
      const key = n.op === "resize" ? `resize ${n.attrs.mode} ${n.attrs.coords}` : `${n.op}${dilated}`;
      ops.set(key, (ops.get(key) ?? 0) + 1);
    }
    let problems: string[];
    try {
      problems = await compareGraph(tf, r.graph);
    } catch (e) {
      if (e instanceof Unsupported) {
        refused.push(e.message);
        continue;
      }
      problems = [`throws: ${(e as Error).message}`];
    }
    if (problems.length) {
      bad++;
      failed = true;
      console.log(`${backend}: differs from the reference:\n${spec.source}${problems.slice(0, 5).map((p) => `  ${p}`).join("\n")}`);
    }
  }
  console.log(`${backend}: ${specs.length - bad - refused.length}/${specs.length} random graphs equal the reference, ${refused.length} refused (${refused.join("; ")}); nodes: ${[...ops].map(([k, v]) => `${k} ${v}`).join(", ")}`);
}
process.exit(failed ? 1 : 0);
