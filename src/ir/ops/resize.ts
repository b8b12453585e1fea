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
import { formatPair, type Shape } from "../graph.js";
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
