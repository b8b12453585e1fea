/**
 * certify-fusion — the proof that batch-norm fusion kept the network's
 * meaning, layer by layer. Fusion is a per-layer, per-channel affine rewrite
 * (fuse-batch-norm.ts), so each fused layer is checked on its own: the unfused
 * layer (conv → BN → act) and the fused one (conv with the folded bias → act)
 * run on the same seeded random input patches with the float64 reference
 * evaluator's arithmetic for that one node (referenceLayer, reference.ts).
 *
 * The patch: a KH×KW×C window with no padding, whose one output pixel reads
 * every tap of the kernel for every input channel and computes every output
 * channel — every weight of the layer takes part (depthwise alike, a 1×1
 * convolution on a 1×1×C patch). CERTIFICATE_INPUTS patches per layer, values
 * uniform in [−1, 1), from a random stream keyed by the seed and the layer's id.
 *
 * Per layer, with z the output before the activation and a = act(z):
 *
 *   error = max_i max(|z_fused,i − z_unfused,i|, |a_fused,i − a_unfused,i|) / max_i |z_unfused,i|
 *
 * (the largest difference relative to the layer's scale, so that outputs near
 * zero do not inflate it; measured before the activation too, so that a ReLU
 * cannot hide a channel whose values all come out negative). The
 * certificate's figure is the largest error over all fused layers; a layer
 * above FUSION_TOLERANCE is refused (MN4007, at that layer). Any other node
 * fusion changed is certified the same way when it has weights (fc on its
 * whole input); a change of structure or geometry is a compiler bug.
 */
import { error, InternalError, type Diagnostic } from "../ir/diagnostics.js";
import type { ConvNode, DeconvNode, DepthwiseNode, FcNode, Graph, Node, Shape } from "../ir/graph.js";
import { Random } from "../ir/random.js";
import { ACTIVATION, referenceLayer } from "../ir/reference.js";
import { dilated } from "../ir/ops/window.js";

export const FUSION_TOLERANCE = 1e-4;
/** Random input patches per certified layer. */
export const CERTIFICATE_INPUTS = 2;

export interface FusionCertificate {
  /** The largest relative difference measured, over all certified layers. */
  readonly maxRelativeError: number;
  /** Random input patches per layer. */
  readonly inputs: number;
  /** How many layers were certified (the fused ones). */
  readonly layers: number;
  readonly tolerance: number;
}

export function certifyFusion(unfused: Graph, fused: Graph, seed: number, diagnostics: Diagnostic[]): FusionCertificate {
  if (unfused.nodes.length !== fused.nodes.length) throw new InternalError("certify-fusion: fusion changed the number of nodes");
  if (unfused.outputs.join() !== fused.outputs.join()) throw new InternalError("certify-fusion: fusion changed the graph's outputs");
  const shapes = new Map<string, Shape>();
  let maxRelativeError = 0;
  let layers = 0;
  unfused.nodes.forEach((before, i) => {
    const after = fused.nodes[i]!;
    if (before.id !== after.id || before.op !== after.op || before.inputs.join() !== after.inputs.join()) {
      throw new InternalError(`certify-fusion: fusion changed the graph's structure at '${before.id}'`);
    }
    if (before.shape === undefined) throw new InternalError(`certify-fusion: '${before.id}' has no shape`);
    shapes.set(before.id, before.shape);
    if (before === after) return;
    if (before.op === "input" || (before.op !== "conv" && before.op !== "depthwise" && before.op !== "deconv" && before.op !== "fc")) {
      throw new InternalError(`certify-fusion: fusion changed '${before.id}', a ${before.op} node`);
    }
    const inShape = shapes.get(before.inputs[0]!);
    if (inShape === undefined) throw new InternalError(`certify-fusion: '${before.id}' reads '${before.inputs[0]}', which is not an earlier node`);
    const e = certifyLayer(before, after as typeof before, inShape, seed);
    layers++;
    maxRelativeError = Math.max(maxRelativeError, e);
    if (!(e <= FUSION_TOLERANCE)) diagnostics.push(error("fusionCertificate", before.span, before.id, e, FUSION_TOLERANCE));
  });
  return { maxRelativeError, inputs: CERTIFICATE_INPUTS, layers, tolerance: FUSION_TOLERANCE };
}

type Certified = ConvNode | DepthwiseNode | DeconvNode | FcNode;

/** The input patch a layer is certified on, and the node as it runs on it (no padding, one output pixel). */
interface Patch {
  readonly input: Shape;
  readonly output: Shape;
  /** The node as it runs on the patch, before its activation. */
  readonly node: (n: Certified) => Certified;
}

/** The one-window patch of each certified op (see the file comment). */
const PATCH: Record<Certified["op"], (node: Certified, inShape: Shape) => Patch> = {
  conv: (node, inShape) => window(node as ConvNode, inShape[2], (node as ConvNode).attrs.channels),
  depthwise: (node, inShape) => window(node as DepthwiseNode, inShape[2], inShape[2]),
  fc: (node, inShape) => ({ input: inShape, output: [1, 1, (node as FcNode).attrs.units], node: (n) => n }),
  // One input cell scatters into one K×K window of outputs.
  deconv: (node, inShape) => {
    const [kh, kw] = (node as DeconvNode).attrs.kernel;
    return {
      input: [1, 1, inShape[2]],
      output: [kh, kw, (node as DeconvNode).attrs.channels],
      node: (n) => ({ ...n, attrs: { ...n.attrs, pads: [0, 0, 0, 0], act: "linear" } }) as Certified,
    };
  },
};

function window(node: ConvNode | DepthwiseNode, inChannels: number, outChannels: number): Patch {
  // A dilated kernel's window spans (k − 1)·d + 1 cells.
  const [kh, kw] = dilated(node.attrs.kernel, node.attrs.dilation);
  return {
    input: [kh, kw, inChannels],
    output: [1, 1, outChannels],
    node: (n) => ({ ...n, attrs: { ...n.attrs, pads: [0, 0, 0, 0], act: "linear" } }) as Certified,
  };
}

function certifyLayer(unfused: Certified, fused: Certified, inShape: Shape, seed: number): number {
  if (JSON.stringify(geometry(unfused)) !== JSON.stringify(geometry(fused)) || unfused.shape!.join() !== fused.shape!.join()) {
    throw new InternalError(`certify-fusion: fusion changed the geometry of '${unfused.id}'`);
  }
  const patch = PATCH[unfused.op](unfused, inShape);
  const a = referenceLayer(patch.node(unfused), [patch.input], patch.output);
  const b = referenceLayer(patch.node(fused), [patch.input], patch.output);
  // The activation the node applies after its affine part (fc has none).
  const act = unfused.op === "fc" ? ACTIVATION.linear : ACTIVATION[unfused.attrs.act];
  const rng = new Random(seed, `certify-fusion:${unfused.id}`);
  const x = new Float64Array(patch.input[0] * patch.input[1] * patch.input[2]);
  const outSize = patch.output[0] * patch.output[1] * patch.output[2];
  const za = new Float64Array(outSize);
  const zb = new Float64Array(outSize);
  let scale = 0;
  let diff = 0;
  for (let item = 0; item < CERTIFICATE_INPUTS; item++) {
    for (let i = 0; i < x.length; i++) x[i] = rng.uniform(-1, 1);
    a(x, za);
    b(x, zb);
    for (let i = 0; i < outSize; i++) {
      scale = Math.max(scale, Math.abs(za[i]!));
      const d = Math.max(Math.abs(za[i]! - zb[i]!), Math.abs(act(za[i]!) - act(zb[i]!)));
      diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    }
  }
  return diff === 0 ? 0 : scale === 0 ? Infinity : diff / scale;
}

/** What fusion must leave alone: everything but the weights and whether batch-norm is still there. */
function geometry(node: Certified): unknown {
  const { norm: _norm, ...rest } = node.attrs as Certified["attrs"] & { norm?: unknown };
  return rest;
}
