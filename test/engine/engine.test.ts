// The engine object: llama.cpp is loaded once per process and owned by one object; models are loaded
// on it; Model.load is the shortcut to the same engine; its log goes where the caller says.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import type { EngineError } from "../../src/engine/errors.js";
import { generate } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { engineInfo, type LogLevel, loadEngine } from "../../src/engine/runtime.js";
import { openEngine } from "../../src/native/llama.js";
import { LLAMA_CPP_VERSION } from "../../src/native/versions.js";
import { ROOT, STORIES_GGUF } from "../support/models.js";

describe("the engine object", () => {
  it("loadEngine loads llama.cpp once and checks it; loadModel and Model.load run on that one engine", async () => {
    const lines: Array<[LogLevel, string]> = [];
    const engine = await loadEngine({ gpu: "cpu", log: (level, text) => lines.push([level, text]) });
    assert.equal(engine.backend, "cpu");
    assert.ok(engine.info().version.startsWith(LLAMA_CPP_VERSION), engine.info().version);
    assert.ok(engine.info().devices.some((d) => d.type === "cpu"));
    // one owner: the process's engine, whichever way it is reached
    const again = await loadEngine();
    assert.deepEqual(again.info(), engine.info());
    assert.deepEqual(engineInfo(), engine.info());
    assert.equal(openEngine().contextAbiChecked, false, "no model loaded yet: the context round trip has not run");

    const model = await engine.loadModel(STORIES_GGUF);
    assert.equal(openEngine().contextAbiChecked, true, "the first model ran the context round trip");
    // llama.cpp's log of the model load went to the sink given to loadEngine
    assert.ok(
      lines.some(([, text]) => text.includes("llama_model_loader")),
      `no model loader line among ${lines.length} log lines`,
    );
    const shortcut = Model.load(STORIES_GGUF);
    const run = async (m: Model) => {
      const ctx = new Context(m, { nCtx: 128 });
      try {
        return (await generate(ctx, m.tokenize("Once upon a time"), { maxTokens: 12, temperature: 0 })).text;
      } finally {
        ctx.dispose();
      }
    };
    const [a, b] = [await run(model), await run(shortcut)];
    assert.ok(a.length > 0);
    assert.equal(b, a, "the same greedy text from both models");
    model.dispose();
    shortcut.dispose();

    // the log is routed from now on, and only from now on
    const quiet = lines.length;
    engine.setLog("quiet");
    (await engine.loadModel(STORIES_GGUF)).dispose();
    assert.equal(lines.length, quiet);
  });

  it("another backend or library folder in the same process: backend_conflict, naming the loaded one", async () => {
    await assert.rejects(
      loadEngine({ gpu: "cuda" }),
      (e: EngineError) => e.code === "backend_conflict" && /already loaded from .* \(cpu\)/.test(e.message),
    );
    await assert.rejects(loadEngine({ llamaLib: ROOT }), (e: EngineError) => e.code === "backend_conflict");
    assert.throws(
      () => Model.load(STORIES_GGUF, { gpu: "vulkan" }),
      (e: EngineError) => e.code === "backend_conflict",
    );
    // "auto" and no choice take the loaded build
    assert.equal((await loadEngine({ gpu: "auto" })).backend, "cpu");
  });

  it("loadModel refuses a file that is not a model, with the fix", async () => {
    const engine = await loadEngine();
    await assert.rejects(engine.loadModel(`${ROOT}/missing.gguf`), (e: EngineError) => e.code === "model_not_found");
    await assert.rejects(engine.loadModel(`${ROOT}/package.json`), (e: EngineError) => e.code === "model_invalid");
  });
});
