// Commands that never run a model never load native code (koffi, llama.cpp): --help stays as fast
// as Node itself, and file-only commands work where llama.cpp cannot load. Checked in the process's
// own memory map after the command ran.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { readModelFingerprint } from "../../src/engine/fingerprint.js";
import { Model } from "../../src/engine/model.js";
import { ROOT, STORIES_GGUF, tmpFile } from "../support/models.js";

const MAIN = pathToFileURL(join(ROOT, "dist", "cli", "main.js")).href;
const BUNDLE = join(ROOT, "reports", "organism", "organism.bundle.gguf");

/** Runs the CLI in-process and reports its exit code and whether native code got mapped. */
function runAndMap(args: string[]) {
  const script = `
    const { readFileSync } = await import("node:fs");
    const { main } = await import(${JSON.stringify(MAIN)});
    const code = await main(["node", "safesteer", ...${JSON.stringify(args)}]);
    const maps = readFileSync("/proc/self/maps", "utf8");
    process.stderr.write("\\n@@" + JSON.stringify({ code, koffi: maps.includes("koffi"), llama: /libllama/.test(maps) }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", cwd: ROOT });
  const tail = r.stderr.slice(r.stderr.lastIndexOf("@@") + 2);
  return { ...(JSON.parse(tail) as { code: number; koffi: boolean; llama: boolean }), out: r.stdout, err: r.stderr };
}

describe("start-up: native code only when a model runs", { skip: process.platform !== "linux" && "reads /proc/self/maps" }, () => {
  it("--help, inspect, data list and import load neither koffi nor llama.cpp; generate loads both", () => {
    assert.ok(existsSync(new URL(MAIN)), "dist/ is built (npm test builds it first)");
    const help = runAndMap(["--help"]);
    assert.deepEqual([help.code, help.koffi, help.llama], [0, false, false]);
    assert.match(help.out, /Usage: safesteer/);
    const inspect = runAndMap(["inspect", BUNDLE, "--json"]);
    assert.deepEqual([inspect.code, inspect.koffi, inspect.llama], [0, false, false], inspect.err);
    assert.ok(JSON.parse(inspect.out).categories.violence);
    const data = runAndMap(["data", "list", "--json"]);
    assert.deepEqual([data.code, data.koffi, data.llama], [0, false, false], data.err);
    const cv = tmpFile("startup-cv.gguf");
    assert.equal(runAndMap(["export", "--bundle", BUNDLE, "--category", "theft", "-o", cv]).llama, false);
    const imported = runAndMap(["import", cv, "-m", STORIES_GGUF, "-o", tmpFile("startup-imported.gguf")]);
    assert.deepEqual([imported.code, imported.koffi, imported.llama], [0, false, false], imported.err);
    const gen = runAndMap(["generate", "-m", STORIES_GGUF, "-n", "2", "-t", "0"]);
    assert.deepEqual([gen.code, gen.koffi, gen.llama], [0, true, true], gen.err);
  });

  it("the fingerprint read from the GGUF header equals the one of the loaded model", async () => {
    const model = Model.load(STORIES_GGUF);
    try {
      const { name, ...header } = await readModelFingerprint(STORIES_GGUF);
      assert.deepEqual(header, await model.fingerprint());
      assert.equal(name, model.info.name);
    } finally {
      model.dispose();
    }
  });
});

describe("layers", () => {
  it("src/ has no import cycle, eval imports nothing from the organism, only src/native touches FFI (dependency-cruiser)", () => {
    const bin = join(ROOT, "node_modules", ".bin", "depcruise");
    const r = spawnSync(bin, ["src", "--config", ".dependency-cruiser.cjs", "--output-type", "err"], { encoding: "utf8", cwd: ROOT });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
