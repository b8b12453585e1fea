/**
 * Set-up for every test file: each test starts after a full turn of the
 * event loop. A test worker answers the runner over an RPC whose replies it
 * reads only in the event loop's poll phase, with a fixed 60 s timeout; a
 * file of synchronous tests (the fuzz run's larger property sweeps) would
 * otherwise keep the loop busy past it, and the expired timer fires before
 * the reply that had already arrived ("Timeout calling onTaskUpdate") although
 * every test passed. A turn between tests lets the replies in.
 */
import { beforeEach } from "vitest";

beforeEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
