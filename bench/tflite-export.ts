/**
 * A quantized graph as a TensorFlow Lite model, so that TensorFlow Lite's
 * interpreter can run a network no .tflite file exists for (MobileNetV1
 * 1.0-224 quantized after training): int8/uint8 tensors with the graph's
 * scales and zero points, kernels in TensorFlow Lite's layouts (CONV_2D
 * OHWI, DEPTHWISE_CONV_2D 1HWC; per-channel on the output channel), int32
 * biases at s_input·s_weight, the clamps as fused activations. Written with
 * the repository's TFLite test builder (test/tflite-builder.ts). Only what
 * the benchmark's networks hold: conv, depthwise, average pooling, fc, add,
 * softmax, dropout.
 */
import type { Builder } from "flatbuffers";
import type { Activation, Graph, Node, Quantization } from "../src/ir/graph.js";
import { dilated, slide } from "../src/ir/ops/window.js";
import { ACT, activationOptions, conv2dOptions, depthwiseOptions, OP, OPTIONS, PAD, pool2dOptions, TfliteNet, TYPE } from "../test/tflite-builder.js";

/** Each clamp activation as a fused activation; the others have no int8 form here. */
const FUSED: Readonly<Record<Activation, number | undefined>> = { linear: ACT.NONE, relu: ACT.RELU, relu6: ACT.RELU6, sigmoid: undefined, hswish: undefined, hsigmoid: undefined };

const typeOf = (q: Quantization): number => (q.type === "int8" ? TYPE.INT8 : TYPE.UINT8);
const params = (q: Quantization, dimension?: number) => ({ scale: q.scale, zeroPoint: q.zeroPoint, ...(dimension === undefined ? {} : { dimension }) });

function softmaxOptions(b: Builder): number {
  b.startObject(1);
  b.addFieldFloat32(0, 1, 0);
  return b.endObject();
}

function fused(n: Node & { attrs: { act: Activation } }): number {
  const a = FUSED[n.attrs.act];
  if (a === undefined) throw new Error(`${n.id}: no TensorFlow Lite int8 form for ${n.attrs.act}`);
  return a;
}

/** TensorFlow Lite's SAME or VALID for the node's explicit pads (refused when they are neither). */
function padding(n: Node & { attrs: { kernel: readonly [number, number]; stride: readonly [number, number]; padding: "same" | "valid"; pads?: readonly number[]; dilation?: readonly [number, number] } }, input: readonly number[]): number {
  const tf = slide([input[0]!, input[1]!], dilated(n.attrs.kernel, n.attrs.dilation), n.attrs.stride, n.attrs.padding);
  if (tf === undefined || n.attrs.pads === undefined || tf.pads.some((p, i) => p !== n.attrs.pads![i])) throw new Error(`${n.id}: pads are not TensorFlow's ${n.attrs.padding.toUpperCase()}`);
  return n.attrs.padding === "same" ? PAD.SAME : PAD.VALID;
}

export function tfliteOf(graph: Graph): Uint8Array {
  const net = new TfliteNet();
  const tensorOf = new Map<string, number>();
  const shapeOf = new Map(graph.nodes.map((n) => [n.id, n.shape!]));
  const quantOf = new Map<string, Quantization>();
  const input = (n: Node, k = 0): number => tensorOf.get(n.inputs[k]!)!;
  const activation = (n: Node, shape: readonly number[]): number => {
    const q = n.quant!;
    quantOf.set(n.id, q);
    const t = net.tensor(n.id, shape, params(q), typeOf(q));
    tensorOf.set(n.id, t);
    return t;
  };
  for (const n of graph.nodes) {
    const [h, w, c] = n.shape!;
    switch (n.op) {
      case "input":
        activation(n, [1, h, w, c]);
        break;
      case "dropout":
        tensorOf.set(n.id, input(n));
        quantOf.set(n.id, quantOf.get(n.inputs[0]!)!);
        break;
      case "softmax":
        if (n.quant === undefined) {
          tensorOf.set(n.id, input(n));
          quantOf.set(n.id, quantOf.get(n.inputs[0]!)!);
          break;
        }
        net.op(OP.SOFTMAX, [input(n)], [activation(n, [1, h * w * c])], OPTIONS.Softmax, softmaxOptions);
        break;
      case "conv":
      case "depthwise": {
        const q = n.weights!.quantized!;
        const kq = q.kernelQuant;
        const [o, i, kh, kw] = q.kernel.shape as [number, number, number, number];
        const inQ = quantOf.get(n.inputs[0]!)!;
        // OIHW → OHWI (conv); C1HW → 1HWC (depthwise), per-channel on the output channel (axis 0, or 3).
        const data = new Int32Array(q.kernel.data.length);
        const depthwise = n.op === "depthwise";
        for (let a = 0; a < o; a++)
          for (let b = 0; b < i; b++)
            for (let y = 0; y < kh; y++)
              for (let x = 0; x < kw; x++) {
                const from = ((a * i + b) * kh + y) * kw + x;
                data[depthwise ? (y * kw + x) * o + a : ((a * kh + y) * kw + x) * i + b] = q.kernel.data[from]!;
              }
        const weight = net.constant(`${n.id}.weight`, depthwise ? [1, kh, kw, o] : [o, kh, kw, i], typeOf(kq), data, params(kq, kq.scale.length > 1 ? (depthwise ? 3 : 0) : undefined));
        const biasScale = kq.scale.map((s) => inQ.scale[0]! * s);
        const bias = net.constant(`${n.id}.bias`, [o], TYPE.INT32, q.bias ?? new Int32Array(o), { scale: biasScale, zeroPoint: biasScale.map(() => 0), ...(biasScale.length > 1 ? { dimension: 0 } : {}) });
        const out = activation(n, [1, h, w, c]);
        const pad = padding(n, shapeOf.get(n.inputs[0]!)!);
        const stride = n.attrs.stride;
        if (n.attrs.dilation !== undefined && (n.attrs.dilation[0] !== 1 || n.attrs.dilation[1] !== 1)) throw new Error(`${n.id}: dilation`);
        if (depthwise) net.op(OP.DEPTHWISE_CONV_2D, [input(n), weight, bias], [out], OPTIONS.DepthwiseConv2D, depthwiseOptions({ padding: pad, stride: stride[0], activation: fused(n), depthMultiplier: 1 }));
        else net.op(OP.CONV_2D, [input(n), weight, bias], [out], OPTIONS.Conv2D, conv2dOptions({ padding: pad, strideW: stride[1], strideH: stride[0], activation: fused(n) }));
        break;
      }
      case "avgpool": {
        const from = shapeOf.get(n.inputs[0]!)!;
        if (n.attrs.kernel !== "global" || from[0] !== from[1]) throw new Error(`${n.id}: only a global average pool over a square map`);
        if (n.quant === undefined) throw new Error(`${n.id}: no quantization`);
        net.op(OP.AVERAGE_POOL_2D, [input(n)], [activation(n, [1, 1, 1, c])], OPTIONS.Pool2D, pool2dOptions({ padding: PAD.VALID, filter: from[0] }));
        break;
      }
      case "fc": {
        const q = n.weights!.quantized!;
        const kq = q.kernelQuant;
        const from = shapeOf.get(n.inputs[0]!)!;
        // mnc's [out, C·H·W] is channel-major; TensorFlow Lite flattens NHWC: the same order on a 1×1 map only.
        if (from[0] !== 1 || from[1] !== 1) throw new Error(`${n.id}: an fc on a ${from.join("x")} map`);
        const [o, k] = q.kernel.shape as [number, number];
        const inQ = quantOf.get(n.inputs[0]!)!;
        const weight = net.constant(`${n.id}.weight`, [o, k], typeOf(kq), q.kernel.data, params(kq, kq.scale.length > 1 ? 0 : undefined));
        const biasScale = kq.scale.map((s) => inQ.scale[0]! * s);
        const bias = net.constant(`${n.id}.bias`, [o], TYPE.INT32, q.bias ?? new Int32Array(o), { scale: biasScale, zeroPoint: biasScale.map(() => 0), ...(biasScale.length > 1 ? { dimension: 0 } : {}) });
        net.op(OP.FULLY_CONNECTED, [input(n), weight, bias], [activation(n, [1, o])], OPTIONS.FullyConnected, activationOptions(ACT.NONE));
        break;
      }
      case "add":
        net.op(OP.ADD, [input(n, 0), input(n, 1)], [activation(n, [1, h, w, c])], OPTIONS.Add, activationOptions(ACT.NONE));
        break;
      default:
        throw new Error(`${n.id}: no TensorFlow Lite form for ${n.op} here`);
    }
  }
  return net.build([tensorOf.get(graph.nodes[0]!.id)!], graph.outputs.map((id) => tensorOf.get(id)!));
}
