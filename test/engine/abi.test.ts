import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import type { EngineError } from "../../src/engine/errors.js";
import { Model } from "../../src/engine/model.js";
import { abiMismatchMessage, checkContextRoundTrip } from "../../src/native/abi.js";
import { engineInfo } from "../../src/native/llama.js";
import { LLAMA_CPP_VERSION } from "../../src/native/versions.js";
import { STORIES_GGUF } from "../support/models.js";

describe("ABI guard", () => {
  it("the loaded llama.cpp is the pinned version", () => {
    Model.load(STORIES_GGUF).dispose(); // runs the start-up checks, including the context round trip
    assert.ok(engineInfo().version.startsWith(LLAMA_CPP_VERSION), engineInfo().version);
  });

  it("a context made with distinct n_ctx / n_batch / n_ubatch / n_seq_max reads them back", () => {
    const model = Model.load(STORIES_GGUF);
    const ctx = new Context(model, { nCtx: 768, nBatch: 48, nSeq: 5 });
    assert.deepEqual([ctx.nCtx, ctx.nBatch, ctx.native.nUbatch, ctx.nSeq], [768, 48, 48, 5]);
    ctx.dispose();
    model.dispose();
  });

  it("refuses to run when sizes do not round-trip", () => {
    const req = { nCtx: 512, nBatch: 64, nUbatch: 32, nSeqMax: 3 };
    checkContextRoundTrip(req, { ...req });
    for (const bad of [{ nBatch: 32 }, { nUbatch: 64 }, { nSeqMax: 1 }, { nCtx: 2048 }]) {
      assert.throws(
        () => checkContextRoundTrip(req, { ...req, ...bad }),
        (e: EngineError) => e.code === "abi_mismatch" && /npm ci/.test(e.message),
      );
    }
  });

  it("the mismatch error names the package of the platform it runs on, and the pinned versions", () => {
    const here = abiMismatchMessage("x");
    assert.match(here, new RegExp(`from @node-llama-cpp/${process.platform === "linux" ? "linux" : ""}`));
    assert.match(abiMismatchMessage("x", "darwin", "arm64"), /from @node-llama-cpp\/mac-arm64-metal@3\.21\.1 and koffi@3\.3\.4 /);
    assert.match(abiMismatchMessage("x", "win32", "x64"), /from @node-llama-cpp\/win-x64@3\.21\.1 /);
    assert.match(abiMismatchMessage("x", "freebsd", "x64"), /from node-llama-cpp \(no prebuilt package for freebsd-x64\)@3\.21\.1 /);
    assert.doesNotMatch(abiMismatchMessage("x", "linux", "arm64"), /linux-x64/);
  });
});
