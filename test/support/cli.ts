// The CLI run from source (src/cli/main.ts through tsx) in a child process, as a user would run it.
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./models.js";

const MAIN = join(ROOT, "src", "cli", "main.ts");

/** `safesteer ...args` from the checkout's sources; stdout, stderr and the exit status as text. */
export function cliFromSource(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `const { main } = await import(${JSON.stringify(MAIN)}); process.exitCode = await main(["node", "safesteer", ...process.argv.slice(1)]);`,
      ...args,
    ],
    { encoding: "utf8", cwd: ROOT },
  );
}
