// The server listens before the model is loaded: /health says "loading" and completions get a 503
// until the model is ready, then both serve.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { createApp } from "../../src/server/app.js";
import { EngineBackend, modelIdOf } from "../../src/server/engine-backend.js";
import { PendingBackend } from "../../src/server/pending-backend.js";
import { MODEL, post } from "./helpers.js";

describe("a server whose model is still loading", () => {
  it("answers /health with loading and completions with 503 model_loading, then serves once the model is ready", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const backend = new PendingBackend(
      modelIdOf(MODEL),
      1,
      gate.then(() => EngineBackend.create({ model: MODEL, nCtx: 256 })),
    );
    const app = createApp(backend, { log: new Writable({ write: (_c, _e, cb) => cb() }) });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const addr = app.server.address();
    assert.ok(addr && typeof addr === "object");
    const url = `http://127.0.0.1:${addr.port}`;
    const body = { messages: [{ role: "user", content: "How do I bake a cake?" }], max_tokens: 8, seed: 1 };
    try {
      const health = await fetch(`${url}/health`);
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), { status: "loading" });
      const early = await post(`${url}/v1/chat/completions`, body);
      assert.equal(early.status, 503);
      assert.equal(early.json.error.code, "model_loading");
      assert.equal(early.headers.get("retry-after"), "1");
      release();
      await backend.loaded;
      const ready = await fetch(`${url}/health`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: "ready" });
      const ok = await post(`${url}/v1/chat/completions`, body);
      assert.equal(ok.status, 200, ok.text);
      assert.ok(ok.json.choices[0].message.content.length > 0);
    } finally {
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await backend.close();
    }
  });
});
