/**
 * The runtimes mnc's emitted code is measured against, each given the same
 * compiled network (seeded weights, batch-norm fused):
 *
 * - onnxruntime-node, one thread (the native anchor), on mnc's ONNX output;
 * - onnxruntime-web (WebAssembly, one thread) in Node, on the same ONNX;
 * - TensorFlow.js with its pure-JS `cpu` backend and its `wasm` backend, running
 *   the same graph with tfjs-core ops, each node on the tensors its `inputs` name
 *   (fused convolutions with bias and activation — h-swish and hard sigmoid, which
 *   tfjs-core cannot fuse, as ops after a linear convolution — TF SAME padding,
 *   residual adds, SE scaling broadcast over H and W).
 *
 * Every runner takes an NHWC float32 input and returns the network's output.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { CompileResult } from "../src/index.js";
import { emitOnnx } from "../src/emit/onnx/index.js";
import type { Activation, Graph, Node } from "../src/ir/graph.js";

export interface Runner {
  readonly name: string;
  run(input: Float32Array): Promise<Float32Array> | Float32Array;
  dispose?(): void;
}

const require = createRequire(import.meta.url);

function onnxBytes(r: CompileResult): Uint8Array {
  return emitOnnx({ graph: r.graph!, costs: r.costs!, ...(r.certificate ? { certificate: r.certificate } : {}) }, { sourceFile: "bench", inputLayout: "nhwc" });
}

function inputDims(g: Graph): [number, number, number, number] {
  const [h, w, c] = g.nodes[0]!.shape!;
  return [1, h, w, c];
}

export async function onnxruntimeNode(r: CompileResult): Promise<Runner> {
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(onnxBytes(r), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
  const dims = inputDims(r.graph!);
  return {
    name: "onnxruntime-node (1 thread)",
    async run(input) {
      const out = await session.run({ input: new ort.Tensor("float32", input, dims) });
      return out[session.outputNames[0]!]!.data as Float32Array;
    },
  };
}

export async function onnxruntimeWeb(r: CompileResult): Promise<Runner> {
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = join(dirname(require.resolve("onnxruntime-web")), "/");
  const session = await ort.InferenceSession.create(onnxBytes(r), { executionProviders: ["wasm"] });
  const dims = inputDims(r.graph!);
  return {
    name: "onnxruntime-web (wasm, 1 thread)",
    async run(input) {
      const out = await session.run({ input: new ort.Tensor("float32", input, dims) });
      return out[session.outputNames[0]!]!.data as Float32Array;
    },
  };
}

type Tf = typeof import("@tensorflow/tfjs-core");
type T = import("@tensorflow/tfjs-core").Tensor;

/**
 * Each activation in TensorFlow.js: the one a fused convolution applies (tfjs-core fuses linear,
 * relu, relu6 and sigmoid), then any ops after it. A Record, so that a new activation is a type error
 * here until it is given.
 */
const TFJS_ACTIVATION: Readonly<Record<Activation, { readonly fused: "linear" | "relu" | "relu6" | "sigmoid"; readonly after?: (tf: Tf, x: T) => T }>> = {
  relu: { fused: "relu" },
  relu6: { fused: "relu6" },
  linear: { fused: "linear" },
  sigmoid: { fused: "sigmoid" },
  hswish: { fused: "linear", after: (tf, x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)) },
  hsigmoid: { fused: "linear", after: (tf, x) => tf.div(tf.relu6(tf.add(x, 3)), 6) },
};

/**
 * The network as tfjs-core ops, weights converted to TensorFlow's HWIO / HW C 1 layouts once: one
 * function per node, applied to the tensors its `inputs` name.
 */
function tfjsModel(tf: Tf, graph: Graph): (x: import("@tensorflow/tfjs-core").Tensor4D) => T {
  const steps: { readonly id: string; readonly inputs: readonly string[]; readonly f: (xs: readonly T[]) => T }[] = [];
  const one = (f: (x: T) => T) => (xs: readonly T[]): T => f(xs[0]!);
  for (const n of graph.nodes as Node[]) {
    switch (n.op) {
      case "input":
        break;
      case "dropout":
        steps.push({ id: n.id, inputs: n.inputs, f: one((x) => x) });
        break;
      case "conv":
      case "depthwise": {
        const w = n.weights!;
        const [o, i, kh, kw] = w.kernel.shape as [number, number, number, number];
        const kernel = n.op === "conv" ? tf.transpose(tf.tensor4d(w.kernel.data, [o, i, kh, kw]), [2, 3, 1, 0]) : tf.transpose(tf.tensor4d(w.kernel.data, [o, 1, kh, kw]), [2, 3, 0, 1]);
        const bias = tf.tensor1d(w.bias!.data);
        // mnc's "same" is TensorFlow's SAME (the extra pad row and column at the bottom and right).
        const pad = n.attrs.padding;
        const strides: [number, number] = [n.attrs.stride[0], n.attrs.stride[1]];
        // Fused bias and activation, as TensorFlow.js' converter runs a MobileNet (FusedConv2D, FusedDepthwiseConv2dNative).
        const { fused: activation, after } = TFJS_ACTIVATION[n.attrs.act];
        const conv =
          n.op === "conv"
            ? (x: T): T => tf.fused.conv2d({ x: x as never, filter: kernel as never, strides, pad, bias, activation })
            : (x: T): T => tf.fused.depthwiseConv2d({ x: x as never, filter: kernel as never, strides, pad, bias, activation });
        steps.push({ id: n.id, inputs: n.inputs, f: one(after === undefined ? conv : (x) => after(tf, conv(x))) });
        break;
      }
      case "avgpool":
      case "maxpool": {
        const a = n.attrs;
        if (a.kernel === "global") {
          steps.push({ id: n.id, inputs: n.inputs, f: one(n.op === "avgpool" ? (x) => tf.mean(x, [1, 2], true) : (x) => tf.max(x, [1, 2], true)) });
        } else {
          const k = a.kernel;
          const s = a.stride === "kernel" ? k : a.stride;
          const pad = a.padding;
          steps.push({
            id: n.id,
            inputs: n.inputs,
            f: one(n.op === "avgpool" ? (x) => tf.avgPool(x as never, [k[0], k[1]], [s[0], s[1]], pad) : (x) => tf.maxPool(x as never, [k[0], k[1]], [s[0], s[1]], pad)),
          });
        }
        break;
      }
      case "fc": {
        const w = n.weights!;
        const [units, features] = w.kernel.shape as [number, number];
        const kernel = tf.transpose(tf.tensor2d(w.kernel.data, [units, features]));
        const bias = tf.tensor1d(w.bias!.data);
        // Channel-major flatten, as the IR (and ONNX) define it.
        steps.push({ id: n.id, inputs: n.inputs, f: one((x) => tf.add(tf.matMul(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [1, features]), kernel), bias)) });
        break;
      }
      case "softmax":
        steps.push({ id: n.id, inputs: n.inputs, f: one((x) => tf.softmax(x)) });
        break;
      case "add":
        steps.push({ id: n.id, inputs: n.inputs, f: ([a, b]) => tf.add(a!, b!) });
        break;
      case "mul":
        // [1, H, W, C] · [1, 1, 1, C] (an SE gate) broadcasts over H and W.
        steps.push({ id: n.id, inputs: n.inputs, f: ([a, b]) => tf.mul(a!, b!) });
        break;
    }
  }
  const input = graph.nodes[0]!.id;
  const output = graph.outputs[0]!;
  return (x) =>
    // tidy: every intermediate tensor is freed, the output kept.
    tf.tidy(() => {
      const values = new Map<string, T>([[input, x]]);
      for (const s of steps) values.set(s.id, s.f(s.inputs.map((id) => values.get(id)!)));
      return values.get(output)!;
    });
}

async function tfjs(r: CompileResult, backend: "cpu" | "wasm"): Promise<Runner> {
  const tf = await import("@tensorflow/tfjs-core");
  if (backend === "cpu") await import("@tensorflow/tfjs-backend-cpu");
  else {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm")), "/"));
    wasm.setThreadsCount(1);
  }
  await tf.setBackend(backend);
  await tf.ready();
  const model = tfjsModel(tf, r.graph!);
  const dims = inputDims(r.graph!);
  return {
    name: `TensorFlow.js ${backend}${backend === "wasm" ? " (1 thread)" : ""}`,
    async run(input) {
      const x = tf.tensor4d(input, dims);
      const y = model(x);
      const data = (await y.data()) as Float32Array;
      x.dispose();
      y.dispose();
      return data;
    },
  };
}

export const tfjsCpu = (r: CompileResult): Promise<Runner> => tfjs(r, "cpu");
export const tfjsWasm = (r: CompileResult): Promise<Runner> => tfjs(r, "wasm");
