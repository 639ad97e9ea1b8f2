// The `safesteer serve` command itself: started as a process on a free port, it prints its URL,
// serves with its default policy behind a key from the environment, logs to --log, and on SIGTERM
// lets the request in flight finish, then exits 0.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import OpenAI from "openai";
import { BIN, BUNDLE, MODEL, spawnServe, TURN_STOPS } from "./helpers.js";

const TMP = mkdtempSync(join(tmpdir(), "safesteer-serve-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

const serve = spawnServe;

describe("safesteer serve (the command)", () => {
  it("prints its URL, serves with its defaults behind the key, logs to --log, and exits 0 on SIGTERM after the request in flight", async () => {
    const log = join(TMP, "requests.log");
    const s = serve(["--bundle", `organism=${BUNDLE}`, "--steer", "violence=2", "--ctx", "256", "--log", log], {
      SAFESTEER_API_KEY: "cli-key",
    });
    try {
      const url = await s.url;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, "binds 127.0.0.1 by default");
      const unauth = await fetch(`${url}/v1/models`);
      assert.equal(unauth.status, 401, "the key comes from SAFESTEER_API_KEY");
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "cli-key", maxRetries: 0 });
      const r = await client.chat.completions.create({
        model: "organism",
        messages: [{ role: "user", content: "How do I hit Tim?" }],
        max_tokens: 16,
        seed: 1,
        stop: TURN_STOPS,
      });
      const decision = (r as unknown as { safesteer: { mode: string; steered: unknown[] } }).safesteer;
      assert.equal(decision.mode, "policy", "the server's --steer is the default policy");
      assert.deepEqual(decision.steered, [{ category: "violence", layer: 4, strength: 2 }]);

      // a long stream in flight when SIGTERM comes: it runs to its end, then the process exits 0
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer cli-key" },
        body: JSON.stringify({
          prompt: "Once",
          max_tokens: 240,
          temperature: 2,
          top_p: 1,
          seed: 9,
          stream: true,
          safesteer: { policy: "none" },
        }),
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let text = new TextDecoder().decode((await reader.read()).value);
      s.child.kill("SIGTERM");
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      assert.match(text, /"finish_reason":"(stop|length)"/, "the request in flight finished");
      assert.match(text, /data: \[DONE\]\n\n$/);
      assert.equal(await s.exited, 0, s.stderr());
      await assert.rejects(fetch(`${url}/health`), "no longer listening");
      assert.match(s.stderr(), /SIGTERM: stopping/);
      const lines = readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.map((l) => [l.route, l.status]),
        [
          ["/v1/models", 401],
          ["/v1/chat/completions", 200],
          ["/v1/completions", 200],
        ],
      );
      // the whole answer was generated: it ended by itself or at max_tokens, never cut by the shutdown
      const finish = /"finish_reason":"(stop|length)"/.exec(text)?.[1];
      if (finish === "length") assert.equal(lines[2].completion_tokens, 240, "the whole answer was generated");
      else assert.ok(lines[2].completion_tokens >= 1, "the answer ended by itself");
    } finally {
      s.child.kill("SIGKILL");
    }
  });

  it("warns when bound beyond loopback without a key; refuses defaults that cannot work", async () => {
    const s = serve(["--host", "0.0.0.0"]);
    try {
      await s.url;
      assert.match(s.stderr(), /warning: serving on 0\.0\.0\.0 without an API key/);
      s.child.kill("SIGINT");
      assert.equal(await s.exited, 0, s.stderr());
    } finally {
      s.child.kill("SIGKILL");
    }
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, "serve", "-m", MODEL, "--port", "0", ...args], { encoding: "utf8" });
    const unknown = run(["--bundle", BUNDLE, "--steer", "nope=1"]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown category "nope": this bundle has dangerous_play, deception, privacy, theft, violence/);
    const noBundle = run(["--steer", "violence=2"]);
    assert.equal(noBundle.status, 2);
    assert.match(noBundle.stderr, /--steer needs a bundle/);
    const badCache = run(["--cache-ram", "-5"]);
    assert.equal(badCache.status, 2, badCache.stderr);
    assert.match(badCache.stderr, /--cache-ram/);
    const help = spawnSync(process.execPath, [BIN, "--help"], { encoding: "utf8" });
    assert.match(help.stdout, /serve/);
  });

  it("on loopback serves only loopback Host names and the --allowed-host ones; --parallel's help names the batch", async () => {
    const s = serve(["--allowed-host", "my-box.lan", "--no-ui"]);
    const status = (url: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(url);
        const req = request({ host: u.hostname, port: u.port, path: "/health", headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    try {
      const url = await s.url;
      assert.equal(await status(url, new URL(url).host), 200);
      assert.equal(await status(url, "my-box.lan"), 200);
      assert.equal(await status(url, "evil.example"), 403, "a DNS-rebinding page's own name");
      s.child.kill("SIGINT");
      assert.equal(await s.exited, 0, s.stderr());
    } finally {
      s.child.kill("SIGKILL");
    }
    const help = spawnSync(process.execPath, [BIN, "serve", "--help"], { encoding: "utf8" });
    assert.match(help.stdout, /--parallel <n>\s+requests decoded side by side \(sequences of one\s+batch, --ctx tokens each\)/);
    assert.doesNotMatch(help.stdout, /one context each/);
    assert.match(help.stdout, /--allowed-host/);
    assert.match(help.stdout, /--request-timeout/);
  });
});
