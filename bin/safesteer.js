#!/usr/bin/env node
// The `safesteer` command: the compiled CLI (npm run build writes dist/; npm ci and npm pack run it).
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("error: safesteer is not built (dist/ is missing): run npm run build in the package folder.\n");
  process.exit(2);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv);
