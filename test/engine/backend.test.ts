// Which llama.cpp build loads: the platform's npm package, or a folder the user names. The folder
// lets this machine (no GPU) prove that choosing a GPU backend no longer trips the loader: before
// the fix, every model load asked for the default (CPU) build and failed with a backend conflict.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findLibraryDir, platformPackage } from "../../src/native/library.js";
import { ROOT, STORIES_GGUF } from "../support/models.js";

const BIN = join(ROOT, "bin", "safesteer.js");
const run = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe("llama.cpp builds", () => {
  it("--gpu cuda with a library folder (here: the CPU build) loads, reports the folder, and generates the CPU text", () => {
    const cpuDir = findLibraryDir("cpu");
    const cpu = run(["generate", "-m", STORIES_GGUF, "-t", "0", "-n", "24"]);
    assert.equal(cpu.code, 0, cpu.err);
    const gpu = run(["generate", "-m", STORIES_GGUF, "-t", "0", "-n", "24", "--gpu", "cuda", "--llama-lib", cpuDir]);
    assert.equal(gpu.code, 0, gpu.err);
    assert.equal(gpu.out, cpu.out, "the same greedy text from the same library");
    assert.match(gpu.out, /^Once upon a time/);
    const info = run(["info", STORIES_GGUF, "--json", "--gpu", "cuda"], { SAFESTEER_LLAMA_LIB: cpuDir });
    assert.equal(info.code, 0, info.err);
    const engine = JSON.parse(info.out).engine;
    assert.equal(engine.backend, "cuda");
    assert.equal(engine.libraryDir, cpuDir);
    assert.equal(engine.custom, true);
    assert.match(engine.llamaCpp, /^0\.4\.0/);
    assert.ok(
      engine.devices.some((d: { type: string }) => d.type === "cpu"),
      JSON.stringify(engine.devices),
    );
  });

  it("a library folder without llama.cpp, or a GPU build that is not installed: one line naming the fix, exit 2", () => {
    const empty = run(["generate", "-m", STORIES_GGUF, "-n", "2", "--llama-lib", ROOT]);
    assert.equal(empty.code, 2);
    assert.match(empty.err, /^error: ggml-base \(libggml-base\.so, \.dylib or \.dll\) not found in .*: a llama\.cpp library folder holds/);
    assert.equal(empty.err.trim().split("\n").length, 1);
    const cuda = run(["generate", "-m", STORIES_GGUF, "-n", "2", "--gpu", "cuda"]);
    assert.equal(cuda.code, 2);
    assert.match(cuda.err, /npm install -E @node-llama-cpp\/linux-x64-cuda@3\.21\.1/);
  });

  it("the platform package by OS and CPU", () => {
    assert.equal(platformPackage("cpu", "linux", "x64"), "@node-llama-cpp/linux-x64");
    assert.equal(platformPackage("cpu", "linux", "arm64"), "@node-llama-cpp/linux-arm64");
    assert.equal(platformPackage("cpu", "darwin", "arm64"), "@node-llama-cpp/mac-arm64-metal");
    assert.equal(platformPackage("metal", "darwin", "arm64"), "@node-llama-cpp/mac-arm64-metal");
    assert.equal(platformPackage("cpu", "darwin", "x64"), "@node-llama-cpp/mac-x64");
    assert.equal(platformPackage("cpu", "win32", "x64"), "@node-llama-cpp/win-x64");
    assert.equal(platformPackage("cuda", "win32", "x64"), "@node-llama-cpp/win-x64-cuda");
    assert.equal(platformPackage("cuda", "darwin", "arm64"), undefined);
    assert.equal(platformPackage("cpu", "freebsd", "x64"), undefined);
  });
});
