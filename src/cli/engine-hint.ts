// The fast engine without knowing to ask: the first model command on a machine that runs the
// prebuilt CPU libraries says once, in one line, what `safesteer engine build` would bring. Shown in
// a terminal (or with SAFESTEER_ENGINE_HINT=1), never with SAFESTEER_ENGINE_HINT=0 or
// SAFESTEER_NO_ENGINE_BUILD=1; remembered in the per-user cache so it is said only once.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { engineInfo } from "../engine/runtime.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { userCacheDir } from "../util/cache-dir.js";

/** Measured by `npm run bench -- parity --prebuilt` (README, "A llama.cpp build for this machine"). */
export const ENGINE_HINT =
  "note: this is llama.cpp's prebuilt CPU library, which prefilled at 0.4-0.85 of a native build in the bench (up to 2.5x slower); `safesteer engine build` makes one for this machine (~11-22 min on 2 cores, once). Said once.";

export function engineHintFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(userCacheDir(env), "engine-hint-shown");
}

/** Prints the hint if it applies and was not shown before on this machine (per user). */
export function maybeEngineHint(env: NodeJS.ProcessEnv = process.env, stream: NodeJS.WriteStream = process.stderr): void {
  const asked = env.SAFESTEER_ENGINE_HINT;
  if (asked === "0" || env.SAFESTEER_NO_ENGINE_BUILD === "1" || (asked !== "1" && !stream.isTTY)) return;
  const { build, backend } = engineInfo();
  if (build !== "prebuilt" || backend !== "cpu") return;
  const marker = engineHintFile(env);
  if (existsSync(marker)) return;
  try {
    mkdirSync(dirname(marker), { recursive: true });
    writeFileAtomic(marker, [`${new Date().toISOString()}\n`]);
  } catch {
    return; // an unwritable cache: better silent than said on every command
  }
  stream.write(`${ENGINE_HINT}\n`);
}
