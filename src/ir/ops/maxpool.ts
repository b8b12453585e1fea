/** `maxpool KxK [stride=S]` — the maximum of each window per channel. No mult-adds, no parameters. */
import { poolOp } from "./pool.js";

export const maxpool = poolOp("maxpool");
