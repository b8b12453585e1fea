#!/usr/bin/env node
/** The `mnc` executable. */
import { main } from "./main.js";

process.exitCode = main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
