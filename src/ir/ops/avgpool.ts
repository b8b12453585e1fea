/**
 * `avgpool global` / `avgpool KxK [stride=S]` — the mean of each window per channel.
 * With pad=same the padded cells are left out of the mean (TensorFlow's rule).
 * No mult-adds, no parameters.
 */
import { poolOp } from "./pool.js";

export const avgpool = poolOp("avgpool");
