// The one-time hint about `safesteer engine build`: said on the first model command of a machine
// running the prebuilt CPU library, remembered in the per-user cache, never said again.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { ENGINE_HINT, engineHintFile } from "../../src/cli/engine-hint.js";
import { ROOT, tmpFile } from "../support/models.js";

function info(env: NodeJS.ProcessEnv) {
  const main = pathToFileURL(join(ROOT, "src", "cli", "main.ts")).href;
  const script = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main([process.execPath, "safesteer", ...process.argv.slice(1)]);`;
  const { SAFESTEER_LLAMA_LIB: _lib, SAFESTEER_NO_ENGINE_BUILD: _no, ...rest } = process.env;
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script, "--", "info", "--no-sites", "--json", join(ROOT, "models", "organism.gguf")],
    { encoding: "utf8", cwd: ROOT, env: { ...rest, ...env } },
  );
  assert.equal(r.status, 0, r.stderr);
  return { build: JSON.parse(r.stdout).engine.build as string, stderr: r.stderr };
}

describe("the engine build hint", () => {
  it("is said once per user cache, on the prebuilt library, and info says which build runs", () => {
    const cache = tmpFile("hint-cache");
    const env = { SAFESTEER_CACHE: cache, SAFESTEER_ENGINE_HINT: "1" };
    const first = info(env);
    assert.equal(first.build, "prebuilt", "a fresh cache holds no build of the user's");
    assert.equal(first.stderr.trim(), ENGINE_HINT);
    assert.ok(existsSync(engineHintFile({ SAFESTEER_CACHE: cache })));
    assert.equal(info(env).stderr, "", "said once");
    // not asked for (a pipe, not a terminal): nothing said, nothing remembered
    const quiet = tmpFile("hint-cache-quiet");
    assert.equal(info({ SAFESTEER_CACHE: quiet }).stderr, "");
    assert.ok(!existsSync(engineHintFile({ SAFESTEER_CACHE: quiet })));
  });
});
