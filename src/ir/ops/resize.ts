/**
 * `resize scale=F` / `resize to=NAME` — bilinear or nearest resampling of H
 * and W; channels unchanged. The sampling convention (`coords=`) is part of
 * the op, because real models differ: DeepLab aligns corners, MediaPipe and
 * Keras sample at half-pixel centres (see ResizeCoords in graph.ts).
 *
 *   shape:       [H, W, C] → [F·H, F·W, C], or the named tensor's H and W
 *   elementwise: H'·W'·C values written;  no parameters
 */
import { InternalError } from "../diagnostics.js";
import { formatPair, type ResizeCoords, type ResizeMode, type Shape } from "../graph.js";
import { NO_COST, type OpDef } from "./types.js";

export const resize: OpDef<"resize"> = {
  kind: "resize",
  arity: 1,
  infer(node, [input], _sources, earlier) {
    if (input === undefined) return { node };
    const t = node.attrs.target;
    let size: readonly [number, number];
    if (t.kind === "scale") {
      size = [input[0] * t.factor[0], input[1] * t.factor[1]];
    } else {
      const like = earlier.get(t.of)?.shape;
      if (like === undefined) throw new InternalError(`'${node.id}' takes its size from '${t.of}', which is not an earlier shaped node`);
      size = [like[0], like[1]];
    }
    const shape: Shape = [size[0], size[1], input[2]];
    return { node: { ...node, shape } };
  },
  channels: (_node, [c]) => c!,
  cost: (node) => (node.shape === undefined ? NO_COST : { ...NO_COST, elementwise: node.shape[0] * node.shape[1] * node.shape[2] }),
  category: () => "elementwise",
  describe(node) {
    const a = node.attrs;
    const target = a.target.kind === "scale" ? `×${a.target.factor[0] === a.target.factor[1] ? a.target.factor[0] : formatPair(a.target.factor)}` : `to ${a.target.name}`;
    return `${a.mode} ${a.coords} ${target}`;
  },
};

/** Per output index along one axis: the two source indices and the weight of the second (nearest: lo = hi, weight 0). */
export interface ResizeAxis {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly frac: Float64Array;
}

/** The source coordinate of output index o along one axis (in → out cells), by the coordinate convention. */
export function sourceCoordinate(coords: ResizeCoords, o: number, inSize: number, outSize: number): number {
  switch (coords) {
    case "align_corners":
      return outSize === 1 ? 0 : (o * (inSize - 1)) / (outSize - 1);
    case "half_pixel":
      return ((o + 0.5) * inSize) / outSize - 0.5;
    case "asymmetric":
      return (o * inSize) / outSize;
  }
}

/**
 * The sampling of one axis, the one rule every target follows: bilinear clamps
 * the source to [0, in − 1], lo = ⌊src⌋, hi = min(lo + 1, in − 1), weight
 * src − lo; nearest takes ⌊src⌋ (asymmetric), ⌊(o + ½)·in/out⌋ (half_pixel) or
 * ⌊src + ½⌋ (align_corners), clamped to [0, in − 1].
 */
export function resizeAxis(mode: ResizeMode, coords: ResizeCoords, inSize: number, outSize: number): ResizeAxis {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    if (mode === "nearest") {
      const src =
        coords === "half_pixel"
          ? Math.floor(((o + 0.5) * inSize) / outSize)
          : coords === "align_corners"
            ? Math.floor(sourceCoordinate(coords, o, inSize, outSize) + 0.5)
            : Math.floor(sourceCoordinate(coords, o, inSize, outSize));
      lo[o] = hi[o] = Math.min(Math.max(src, 0), inSize - 1);
      continue;
    }
    const src = Math.min(Math.max(sourceCoordinate(coords, o, inSize, outSize), 0), inSize - 1);
    const l = Math.floor(src);
    lo[o] = l;
    hi[o] = Math.min(l + 1, inSize - 1);
    frac[o] = src - l;
  }
  return { lo, hi, frac };
}
