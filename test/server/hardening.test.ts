// `safesteer serve` against slow and hostile clients: a real server on 127.0.0.1 (the embedded
// organism, or a random model big enough to keep a stream decoding for a while), driven by raw
// sockets (node:net) where a client must misbehave in ways fetch cannot, with short timeouts.
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { shutdown } from "../../src/server/app.js";
import { LOOPBACK_HOSTS } from "../../src/server/guards.js";
import { serverLimits } from "../../src/server/timeouts.js";
import { randomModel } from "../support/models.js";
import { post, readSse, startServer, type TestServer, until } from "./helpers.js";

const GOOD = { messages: [{ role: "user", content: "How do I hit Tim?" }], max_tokens: 4, seed: 1 };

interface RawAnswer {
  status: number;
  json: any;
  raw: string;
}

/** Sends `parts` on a raw socket (a number: wait that many ms), then reads until the server closes. */
function raw(port: number, parts: Array<string | Buffer | number>, keepOpen = true): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, "127.0.0.1");
    let got = "";
    sock.on("data", (d) => {
      got += d.toString("latin1");
    });
    sock.on("error", () => undefined); // a reset after the answer: what was read is the answer
    sock.on("close", () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      const body = got.slice(got.indexOf("\r\n\r\n") + 4);
      let json: any;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      resolve({ status: m ? Number(m[1]) : 0, json, raw: got });
    });
    sock.on("connect", async () => {
      try {
        for (const p of parts) {
          if (typeof p === "number") await new Promise((r) => setTimeout(r, p));
          else if (!sock.destroyed) sock.write(p);
        }
        if (!keepOpen) sock.end();
      } catch (e) {
        reject(e);
      }
    });
  });
}

function assertOpenAiError(json: any, what: string): void {
  assert.ok(json && typeof json === "object", `${what}: a JSON body`);
  assert.deepEqual(Object.keys(json), ["error"], `${what}: only "error"`);
  assert.deepEqual(Object.keys(json.error).sort(), ["code", "message", "param", "type"], `${what}: OpenAI's error fields`);
  assert.doesNotMatch(json.error.message, /\n\s+at |\.ts:\d+|node_modules/, `${what}: no stack trace`);
}

/** A GET with a Host header of our choosing (fetch does not let a caller set Host). */
function getWithHost(url: string, path: string, host: string): Promise<{ status: number; json: any }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host } }, (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) }));
    });
    req.on("error", reject);
    req.end();
  });
}

const portOf = (url: string) => Number(new URL(url).port);

describe("serve: timeouts and the connection cap", () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({}, { requestTimeoutMs: 1500, headersTimeoutMs: 800, maxConnections: 4 });
  });
  after(() => s.close());

  it("defaults: a request is cut within 30 s, its headers within 10 s (Node's check interval included); 1024 connections", () => {
    const d = serverLimits();
    const every = d.http.connectionsCheckingInterval;
    assert.equal(d.http.requestTimeout + every, 30_000);
    assert.equal(d.requestTimeout, d.http.requestTimeout);
    assert.equal(d.http.headersTimeout + every, 10_000);
    assert.equal(every, 1000);
    assert.equal(d.maxConnections, 1024);
    const t = serverLimits({ requestTimeoutMs: 1500, headersTimeoutMs: 800 });
    assert.equal(s.app.server.requestTimeout, t.requestTimeout, "the configured timeout reaches Node");
    assert.ok(t.requestTimeout + t.http.connectionsCheckingInterval <= 1500);
    assert.equal(s.app.server.maxConnections, 4);
  });

  it("a body shorter than its Content-Length (stalled) gets 408 in OpenAI's error JSON and the connection closes", async () => {
    const body = JSON.stringify(GOOD);
    const r = await raw(portOf(s.url), [
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 100}\r\n\r\n`,
      body,
    ]);
    assert.equal(r.status, 408, r.raw);
    assertOpenAiError(r.json, "stalled body");
    assert.equal(r.json.error.code, "request_timeout");
  });

  it("a body sent a byte at a time, slower than the timeout allows, gets 408", async () => {
    const body = JSON.stringify(GOOD);
    const trickle: Array<string | number> = [];
    for (const ch of body.slice(0, 30)) trickle.push(ch, 100); // 3 s for 30 bytes, past the 1.5 s timeout
    const r = await raw(portOf(s.url), [
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      ...trickle,
    ]);
    assert.equal(r.status, 408, r.raw);
    assertOpenAiError(r.json, "trickled body");
  });

  it("headers that never end get 408", async () => {
    const r = await raw(portOf(s.url), ["GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "]);
    assert.equal(r.status, 408, r.raw);
    assertOpenAiError(r.json, "stalled headers");
  });

  it("a stream that runs past the request timeout is not cut (the timeout covers receiving the request only)", async () => {
    const res = await fetch(`${s.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Once", max_tokens: 64, seed: 3, stream: true }),
    });
    await new Promise((r) => setTimeout(r, 2000)); // the answer waits, unread, past the 1.5 s timeout
    const lines = await readSse(res);
    assert.equal(lines.pop(), "[DONE]");
  });

  it("past the connection cap a new connection is closed; the ones held still get answers", async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const sock = connect(portOf(s.url), "127.0.0.1");
        await new Promise((r) => sock.once("connect", r));
        held.push(sock);
      }
      const count = () => new Promise<number>((resolve) => s.app.server.getConnections((_e, n) => resolve(n)));
      while ((await count()) < 4) await new Promise((r) => setTimeout(r, 5));
      const fifth = await raw(portOf(s.url), ["GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]);
      assert.equal(fifth.status, 0, `the fifth connection got no answer: ${fifth.raw}`);
      const first = held[0] as Socket;
      const answer = new Promise<string>((resolve) => {
        let got = "";
        first.on("data", (d) => {
          got += d;
          if (got.includes("\r\n\r\n{")) resolve(got);
        });
      });
      first.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      assert.match(await answer, /^HTTP\/1\.1 200/);
    } finally {
      for (const h of held) h.destroy();
    }
  });
});

describe("serve: malformed HTTP and hostile bodies, in OpenAI's error JSON", () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it("a bad Content-Length, a garbage request line and headers over 16 KB", async () => {
    const port = portOf(s.url);
    const cases: Array<[string, string, number, string]> = [
      [
        "Content-Length: abc",
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}",
        400,
        "bad_content_length",
      ],
      ["a garbage request line", "GARBAGE GARBAGE GARBAGE\r\n\r\n", 400, "bad_request"],
      ["headers over 16 KB", `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431, "headers_too_large"],
    ];
    for (const [what, text, status, code] of cases) {
      const r = await raw(port, [text]);
      assert.equal(r.status, status, `${what}: ${r.raw.slice(0, 300)}`);
      assertOpenAiError(r.json, what);
      assert.equal(r.json.error.code, code, what);
    }
    const ok = await post(`${s.url}/v1/chat/completions`, GOOD);
    assert.equal(ok.status, 200, "the server answers the next good request");
  });

  it("answer-changing fields are refused with a 400 naming the field; their no-op values pass", async () => {
    const refused: Array<[string, unknown]> = [
      ["response_format", { type: "json_object" }],
      ["tool_choice", "auto"],
      ["functions", [{ name: "f", parameters: {} }]],
      ["function_call", "auto"],
      ["top_logprobs", 3],
    ];
    for (const [field, value] of refused) {
      const r = await post(`${s.url}/v1/chat/completions`, { ...GOOD, [field]: value });
      assert.equal(r.status, 400, `${field}: ${r.text}`);
      assertOpenAiError(r.json, field);
      assert.equal(r.json.error.param, field);
      assert.equal(r.json.error.code, "unsupported_parameter");
      assert.match(r.json.error.message, new RegExp(`'${field}' is not supported`));
    }
    const text = await post(`${s.url}/v1/completions`, { prompt: "Once", max_tokens: 2, response_format: { type: "json_schema" } });
    assert.equal(text.status, 400);
    assert.equal(text.json.error.param, "response_format");
    const noop = await post(`${s.url}/v1/chat/completions`, {
      ...GOOD,
      response_format: { type: "text" },
      tool_choice: "none",
      top_logprobs: 0,
    });
    assert.equal(noop.status, 200, noop.text);
  });

  it('strength 1e999, "NaN" and a __proto__ key get messages naming the field', async () => {
    const head = '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,';
    const cases: Array<[string, string, string, RegExp]> = [
      ["1e999", `${head}"safesteer":{"policy":{"violence":1e999}}}`, "safesteer.policy.violence", /must be a finite number.*Infinity/],
      [
        '"NaN"',
        `${head}"safesteer":{"policy":{"violence":"NaN"}}}`,
        "safesteer.policy.violence",
        /must be a finite number.*"NaN" \(string\)/,
      ],
      [
        "__proto__ in the policy",
        `${head}"safesteer":{"policy":{"__proto__":{"x":1}}}}`,
        "safesteer.policy.__proto__",
        /'__proto__'.*not allowed/,
      ],
      ["__proto__ at the top", `${head}"__proto__":{"isAdmin":true}}`, "__proto__", /'__proto__'.*not allowed/],
      ["constructor.prototype", `${head}"constructor":{"prototype":{"x":1}}}`, "constructor", /'constructor'.*not allowed/],
    ];
    for (const [what, body, param, message] of cases) {
      const r = await post(`${s.url}/v1/chat/completions`, body);
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      assertOpenAiError(r.json, what);
      assert.equal(r.json.error.param, param, what);
      assert.match(r.json.error.message, message, what);
      assert.doesNotMatch(r.json.error.message, /not valid JSON/, what);
    }
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined, "no prototype was touched");
  });

  it("fire without conditional mode is refused, naming safesteer.fire; with it, it is taken", async () => {
    const r = await post(`${s.url}/v1/chat/completions`, { ...GOOD, safesteer: { policy: { violence: 2 }, fire: "top" } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.param, "safesteer.fire");
    assert.equal(r.json.error.code, "fire_without_conditional");
    assert.match(r.json.error.message, /mode "conditional"/);
    const ok = await post(`${s.url}/v1/chat/completions`, {
      ...GOOD,
      safesteer: { policy: { violence: 2 }, mode: "conditional", fire: "top" },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.safesteer.mode, "conditional");
  });

  it("a prompt far past a slot is refused by its length without being tokenized; one just past it by its tokens", async () => {
    // the organism's longest token is a few bytes: a prompt of nearly 1 MiB cannot fit the 256 tokens of a slot
    const huge = await post(`${s.url}/v1/chat/completions`, { messages: [{ role: "user", content: "Tim hit the ball. ".repeat(55_000) }] });
    assert.equal(huge.status, 400, huge.text);
    assert.equal(huge.json.error.code, "context_length_exceeded");
    assert.match(huge.json.error.message, /the prompt has 990000 bytes/);
    const big = await post(`${s.url}/v1/chat/completions`, { messages: [{ role: "user", content: "Tim hit the ball. ".repeat(5_000) }] });
    assert.equal(big.status, 400, big.text);
    assert.equal(big.json.error.code, "context_length_exceeded");
    assert.equal(big.json.error.param, "messages");
    assert.match(big.json.error.message, /the prompt has 90000 bytes, more than the 256 tokens a slot holds could cover/);
    const text = await post(`${s.url}/v1/completions`, { prompt: "Tim hit the ball. ".repeat(5_000) });
    assert.equal(text.json.error.param, "prompt");
    assert.match(text.json.error.message, /90000 bytes/);
    const near = await post(`${s.url}/v1/completions`, { prompt: "Tim hit the ball. ".repeat(40) });
    assert.equal(near.status, 400);
    assert.match(near.json.error.message, /the prompt has \d+ tokens and max_tokens is \d+, more than the 256 tokens/);
  });
});

describe("serve: Host names and the admin routes", () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({}, { allowedHosts: [...LOOPBACK_HOSTS, "my-box.lan"], corsOrigins: ["http://app.example"] });
  });
  after(() => s.close());

  it("bound to loopback, only loopback Host names (and the added ones) are served: a rebinding page's name gets 403", async () => {
    const port = portOf(s.url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "my-box.lan"]) {
      const r = await getWithHost(s.url, "/health", host);
      assert.equal(r.status, 200, host);
    }
    for (const host of [`evil.example:${port}`, "evil.example", "127.0.0.1.evil.example"]) {
      const r = await getWithHost(s.url, "/v1/models", host);
      assert.equal(r.status, 403, host);
      assertOpenAiError(r.json, host);
      assert.equal(r.json.error.code, "host_not_allowed");
      assert.equal(r.json.error.type, "permission_error");
      assert.match(r.json.error.message, new RegExp(`--allowed-host ${host.replace(/:\d+$/, "").replaceAll(".", "\\.")} `));
    }
  });

  it("with no key, a cross-site POST to an admin route (text/plain, foreign Origin) is refused; the page's own origin and scripts are not", async () => {
    const reload = `${s.url}/admin/bundles/organism/reload`;
    const crossSite = await fetch(reload, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "text/plain" },
      body: "x",
    });
    assert.equal(crossSite.status, 403);
    const j = (await crossSite.json()) as any;
    assertOpenAiError(j, "cross-site reload");
    assert.equal(j.error.code, "cross_origin_refused");
    const formNoOrigin = await fetch(reload, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    assert.equal(formNoOrigin.status, 415);
    assertOpenAiError(await formNoOrigin.json(), "form body");
    const list = await fetch(`${s.url}/admin/bundles`, { headers: { origin: "https://evil.example" } });
    assert.equal(list.status, 403);
    const allowed: Array<Record<string, string>> = [
      {},
      { "content-type": "application/json" },
      { origin: s.url },
      { origin: "http://app.example" },
    ];
    for (const headers of allowed) {
      const ok = await fetch(reload, { method: "POST", headers, body: headers["content-type"] ? "{}" : undefined });
      assert.equal(ok.status, 200, JSON.stringify(headers));
    }
  });

  it("with a key, the right key from a foreign origin is still refused", async () => {
    const k = await startServer({}, { apiKey: "k1" });
    try {
      const r = await fetch(`${k.url}/admin/bundles/organism/reload`, {
        method: "POST",
        headers: { origin: "https://evil.example", authorization: "Bearer k1" },
      });
      assert.equal(r.status, 403);
      const ok = await fetch(`${k.url}/admin/bundles/organism/reload`, { method: "POST", headers: { authorization: "Bearer k1" } });
      assert.equal(ok.status, 200);
    } finally {
      await k.close();
    }
  });
});

describe("serve: shutdown", () => {
  // a random model wide enough that a 200-token stream decodes for a few seconds on one thread
  const MODEL = randomModel({ nEmbd: 512, nLayer: 8, nHead: 8, nVocab: 512, seed: 7 });

  it("through the grace period /health says draining; new and queued requests get 503 server_shutting_down; the one decoding finishes", async () => {
    const s = await startServer({ model: MODEL, bundles: [], parallel: 1, nCtx: 256, threads: 1 }, { maxQueue: 4 });
    try {
      const res = await fetch(`${s.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "Once", max_tokens: 200, temperature: 0, seed: 1, stream: true }),
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let text = "";
      while (!/"text":"[^"]/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      const queued = post(`${s.url}/v1/completions`, { prompt: "Once", max_tokens: 4 });
      await until(() => s.app.safesteer.inFlight === 2, 5000, "the second request to queue");

      const stopped = shutdown(s.app, s.backend, 60_000);
      const q = await queued;
      assert.equal(q.status, 503, q.text);
      assertOpenAiError(q.json, "queued");
      assert.equal(q.json.error.code, "server_shutting_down");
      assert.match(q.json.error.message, /had not started/);
      const health = await fetch(`${s.url}/health`);
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), { status: "draining" });
      const fresh = await post(`${s.url}/v1/completions`, { prompt: "Once", max_tokens: 4 });
      assert.equal(fresh.status, 503);
      assert.equal(fresh.json.error.code, "server_shutting_down");
      assert.equal(s.app.safesteer.inFlight, 1, "the stream was still decoding while these were answered");

      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      assert.match(text, /data: \[DONE\]\n\n$/, "the request decoding ran to its end");
      assert.equal(await stopped, true);
      await assert.rejects(fetch(`${s.url}/health`), "the listener closed once nothing was in flight");
    } finally {
      await s.close().catch(() => undefined);
    }
  });
});
