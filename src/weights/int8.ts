/**
 * The canonical int8 weights blob of a quantized graph: what an int8
 * module's weights file holds and what its kernels unpack.
 *
 * Per weighted layer (a node with `weights.quantized`), in graph order:
 *
 *   kernel  its stored integers, one byte each (uint8 as they are, int8 in
 *           two's complement), in mnc's layout: OIHW for a conv, C·1·H·W for
 *           a depthwise, [out, C·H·W] channel-major for an fc
 *   bias    int32 little-endian, one per output channel (zeros when the
 *           layer has none)
 *
 * each starting on a 16-byte boundary, the gaps zero. Scales, zero points
 * and multipliers are not in the blob: they are constants of the code that
 * reads it. Pure: no I/O.
 */
import { InternalError } from "../ir/diagnostics.js";
import { QUANTIZED_RANGE, type Graph, type QuantizedType } from "../ir/graph.js";

/** Where one layer's tensors lie in the blob (byte offsets). */
export interface Int8Layer {
  /** The node's id. */
  readonly node: string;
  readonly kernel: { readonly offset: number; readonly bytes: number; readonly type: QuantizedType; readonly shape: readonly number[] };
  readonly bias: { readonly offset: number; readonly count: number };
}

export interface Int8Blob {
  readonly bytes: Uint8Array;
  readonly layers: readonly Int8Layer[];
}

const ALIGN = 16;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** The layers' places, without the bytes. */
export function int8Layout(graph: Graph): { readonly layers: readonly Int8Layer[]; readonly bytes: number } {
  const layers: Int8Layer[] = [];
  let at = 0;
  for (const node of graph.nodes) {
    if (node.op !== "conv" && node.op !== "depthwise" && node.op !== "fc") continue;
    const q = node.weights?.quantized;
    if (q === undefined) continue;
    const n = q.kernel.data.length;
    const outputs = q.kernel.shape[0]!;
    const kernel = { offset: at, bytes: n, type: q.kernelQuant.type, shape: q.kernel.shape };
    at = alignUp(at + n);
    const bias = { offset: at, count: outputs };
    at = alignUp(at + 4 * outputs);
    layers.push({ node: node.id, kernel, bias });
  }
  return { layers, bytes: at };
}

/** The blob of a quantized graph. */
export function int8Blob(graph: Graph): Int8Blob {
  const { layers, bytes } = int8Layout(graph);
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  for (const layer of layers) {
    const node = byId.get(layer.node);
    const q = node !== undefined && (node.op === "conv" || node.op === "depthwise" || node.op === "fc") ? node.weights?.quantized : undefined;
    if (q === undefined) throw new InternalError(`int8 blob: '${layer.node}' lost its quantized weights`);
    const [lo, hi] = QUANTIZED_RANGE[q.kernelQuant.type];
    q.kernel.data.forEach((v, i) => {
      if (v < lo || v > hi) throw new InternalError(`int8 blob: '${layer.node}' holds ${v}, outside ${q.kernelQuant.type}`);
      out[layer.kernel.offset + i] = v & 0xff;
    });
    if (q.bias !== undefined) {
      if (q.bias.length !== layer.bias.count) throw new InternalError(`int8 blob: '${layer.node}' has ${q.bias.length} biases for ${layer.bias.count} outputs`);
      q.bias.forEach((b, i) => view.setInt32(layer.bias.offset + 4 * i, b, true));
    }
  }
  return { bytes: out, layers };
}
