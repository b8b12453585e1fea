/**
 * `npm test`. A default per-test timeout with room for a loaded two-core
 * machine (vitest's own 5 s is not); heavy tests (whole networks, ONNX Runtime,
 * the CLI in a child process) set their own, larger one. Each test starts after a
 * turn of the event loop (test/event-loop-turn.ts).
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 60_000,
    setupFiles: ["test/event-loop-turn.ts"],
  },
});
