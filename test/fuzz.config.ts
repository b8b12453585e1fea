/**
 * `npm run fuzz`: the property and hardening tests with many more generated
 * cases (the normal run keeps them bounded).
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/properties.test.ts", "test/hardening.test.ts", "test/family-differential.test.ts", "test/onnx-graph.test.ts", "test/emit-ts-graph.test.ts", "test/wasm-graph.test.ts", "test/quantized.test.ts", "test/ptq.test.ts", "test/onnx-quantized.test.ts", "test/wasm-int8.test.ts"],
    provide: { fuzzScale: 25 },
    setupFiles: ["test/event-loop-turn.ts"],
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
