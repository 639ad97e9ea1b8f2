// serve() from the library: the same server as `safesteer serve` (the embedded organism and its
// bundle, real HTTP), started and stopped by a script: its defaults steer, its log goes to a file
// and is flushed by close(), its Host names are the loopback ones plus those it is given, a port in
// use is a clear error, and close() stops it once however often it is called.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SafeSteerError } from "../../src/errors.js";
import { serve } from "../../src/index.js";
import { BUNDLE, MODEL, post, TURN_STOPS } from "./helpers.js";

const TMP = mkdtempSync(join(tmpdir(), "safesteer-run-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

/** GET path with this Host header (fetch sets its own). */
function getWithHost(url: string, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("serve() from the library", () => {
  it("steers with its defaults, logs to its file, serves the Host names it is given, and close() stops it once", async () => {
    const log = join(TMP, "requests.log");
    const server = await serve({
      model: MODEL,
      bundles: [`organism=${BUNDLE}`],
      defaults: { policy: { violence: 2 } },
      nCtx: 256,
      port: 0,
      ui: false,
      log,
      allowedHosts: ["safesteer.test"],
    });
    let closed: Promise<boolean> | undefined;
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/, "loopback by default");
      assert.equal(server.modelId, "organism");
      assert.deepEqual(server.bundles, ["organism"]);
      assert.equal(server.playground, false);
      assert.equal((await fetch(`${server.url}/`)).status, 404, "ui: false serves no page");

      const r = await post(`${server.url}/v1/chat/completions`, {
        messages: [{ role: "user", content: "How do I hit Tim?" }],
        max_tokens: 16,
        seed: 1,
        stop: TURN_STOPS,
      });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.safesteer.steered, [{ category: "violence", layer: 4, strength: 2 }], "the defaults are the server's policy");

      const port = Number(new URL(server.url).port);
      assert.equal(await getWithHost(server.url, "/health", `safesteer.test:${port}`), 200, "a Host name it was given");
      assert.equal(await getWithHost(server.url, "/health", `localhost:${port}`), 200, "a loopback name");
      assert.equal(await getWithHost(server.url, "/health", `evil.test:${port}`), 403, "any other name (DNS rebinding)");

      // a second server on the same port: a usage error naming the port, and nothing left listening
      await assert.rejects(
        serve({ model: MODEL, nCtx: 256, port, ui: false, log: join(TMP, "second.log") }),
        (e: unknown) => e instanceof SafeSteerError && e.code === "usage" && /port \d+ on 127\.0\.0\.1 is in use/.test(e.message),
      );

      closed = server.close(0);
      assert.equal(server.close(0), closed, "a second close() is the same stop");
      assert.equal(await closed, true, "every generation stopped, the model closed");
      await assert.rejects(fetch(`${server.url}/health`), "no longer listening");
      const lines = readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const completion = lines.find((l) => l.route === "/v1/chat/completions");
      assert.equal(completion?.status, 200, JSON.stringify(lines));
      assert.equal(completion?.seed, 1);
      assert.equal(
        lines
          .filter((l) => l.route === "/health")
          .map((l) => l.status)
          .join(","),
        "200,200,403",
      );
    } finally {
      await (closed ?? server.close(0));
    }
  });

  it("refuses allowedHosts off loopback before loading anything", async () => {
    await assert.rejects(
      serve({ model: join(TMP, "no-such-model.gguf"), host: "0.0.0.0", port: 0, allowedHosts: ["x.test"] }),
      (e: unknown) => e instanceof SafeSteerError && e.code === "usage" && /allowedHosts applies on loopback only/.test(e.message),
    );
  });
});
