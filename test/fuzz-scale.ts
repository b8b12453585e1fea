import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** How many times more generated cases to try (npm run fuzz sets it; the normal run uses 1). */
    fuzzScale: number;
  }
}

/** `n` generated cases, scaled up under `npm run fuzz`. */
export function runs(n: number): number {
  const scale = (inject("fuzzScale") as number | undefined) ?? 1;
  return Math.round(n * scale);
}

/** A test's time limit, scaled with its number of cases. */
export function timeLimit(ms: number): number {
  return runs(ms);
}
