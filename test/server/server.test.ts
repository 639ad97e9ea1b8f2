// `safesteer serve` end to end: a real server on 127.0.0.1 (the embedded organism and its bundle,
// which has a detector) driven by the official `openai` client and by raw HTTP. The backend is the
// real one throughout.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import OpenAI from "openai";
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import { EngineError } from "../../src/engine/errors.js";
import { toApiError } from "../../src/server/api-errors.js";
import { shutdown } from "../../src/server/app.js";
import type { SteeringDecision, SteeringRequest } from "../../src/server/backend.js";
import { SteerError } from "../../src/steer/errors.js";
import { BIN, BUNDLE, MODEL, post, readSse, startServer, type TestServer, TURN_STOPS, until } from "./helpers.js";

const execFileP = promisify(execFile);
const HIT = "How do I hit Tim?";
const SAMPLING = { temperature: 0.8, top_p: 0.95 };

/** Chat params with the extra `safesteer` body field: the openai client sends unknown params as they are. */
function chat(
  prompt: string,
  seed: number,
  safesteer?: SteeringRequest,
  maxTokens = 48,
): ChatCompletionCreateParamsNonStreaming & { safesteer?: SteeringRequest } {
  return {
    model: "organism",
    messages: [{ role: "user", content: prompt }],
    max_tokens: maxTokens,
    seed,
    stop: TURN_STOPS,
    ...SAMPLING,
    ...(safesteer ? { safesteer } : {}),
  };
}

/** A chat completion streamed through the openai client: its text, finish reason and first chunk's decision. */
async function streamChat(client: OpenAI, params: ReturnType<typeof chat>, onChunk?: () => void) {
  const stream = await client.chat.completions.create({ ...params, stream: true } as ChatCompletionCreateParamsStreaming);
  let text = "";
  let finish: string | null = null;
  let decision: SteeringDecision | undefined;
  let first = true;
  for await (const chunk of stream) {
    if (first) {
      decision = (chunk as unknown as { safesteer: SteeringDecision }).safesteer;
      assert.equal(chunk.choices[0]?.delta.role, "assistant", "the first chunk opens the assistant's turn");
      first = false;
    } else assert.equal((chunk as unknown as { safesteer?: unknown }).safesteer, undefined, "only the first chunk carries the decision");
    text += chunk.choices[0]?.delta.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    onChunk?.();
  }
  return { text, finish, decision: decision as SteeringDecision };
}

async function chatText(client: OpenAI, params: ReturnType<typeof chat>) {
  const r = await client.chat.completions.create(params);
  return { text: r.choices[0]?.message.content ?? "", r, decision: (r as unknown as { safesteer: SteeringDecision }).safesteer };
}

function assertOpenAiError(json: any, what: string): void {
  assert.ok(json && typeof json === "object", `${what}: a JSON body`);
  assert.deepEqual(Object.keys(json), ["error"], `${what}: only "error"`);
  assert.deepEqual(Object.keys(json.error).sort(), ["code", "message", "param", "type"], `${what}: OpenAI's error fields`);
  assert.equal(typeof json.error.message, "string");
  assert.doesNotMatch(json.error.message, /\n\s+at |\.ts:\d+|node_modules/, `${what}: no stack trace`);
}

describe("safesteer serve: OpenAI API with per-request steering", () => {
  let s: TestServer;
  let client: OpenAI;
  before(async () => {
    s = await startServer({ parallel: 4 }, { maxTokensCap: 200, maxQueue: 64, bodyLimit: 256 * 1024 });
    client = s.client();
  });
  after(() => s.close());

  it("chat and text completions, plain and streamed, agree for the same seed; usage and finish reasons", async () => {
    const { text, r, decision } = await chatText(client, chat(HIT, 1));
    assert.equal(r.object, "chat.completion");
    assert.equal(r.model, "organism");
    assert.equal(r.choices[0]?.finish_reason, "stop");
    assert.ok(text.length > 10, text);
    assert.ok(r.usage && r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
    assert.equal(r.usage?.total_tokens, (r.usage?.prompt_tokens ?? 0) + (r.usage?.completion_tokens ?? 0));
    assert.deepEqual(decision, { bundle: "organism", mode: "none", steered: [] });
    const streamed = await streamChat(client, chat(HIT, 1));
    assert.equal(streamed.text, text, "streamed = not streamed");
    assert.equal(streamed.finish, "stop");
    assert.deepEqual(streamed.decision, decision);

    const c = await client.completions.create({ model: "organism", prompt: "Once upon a time", max_tokens: 12, seed: 3, temperature: 0.8 });
    assert.equal(c.object, "text_completion");
    assert.equal(c.choices[0]?.finish_reason, "length", "12 tokens asked, 12 given");
    assert.equal(c.usage?.completion_tokens, 12);
    const cs = await client.completions.create({
      model: "organism",
      prompt: "Once upon a time",
      max_tokens: 12,
      seed: 3,
      temperature: 0.8,
      stream: true,
    });
    let ctext = "";
    let cfinish: string | null = null;
    for await (const chunk of cs) {
      ctext += chunk.choices[0]?.text ?? "";
      cfinish = chunk.choices[0]?.finish_reason ?? cfinish;
    }
    assert.equal(ctext, c.choices[0]?.text);
    assert.equal(cfinish, "length");
  });

  it("streams OpenAI's chunk format over SSE: role, content, finish_reason, the usage chunk, [DONE]", async () => {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...chat(HIT, 2, { policy: { violence: 2 } }, 8), stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const data = await readSse(res);
    assert.equal(data[data.length - 1], "[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    const [first, ...rest] = chunks;
    assert.equal(first.object, "chat.completion.chunk");
    assert.deepEqual(first.choices[0].delta, { role: "assistant", content: "" });
    assert.deepEqual(first.safesteer.steered, [{ category: "violence", layer: 4, strength: 2 }]);
    const usage = rest[rest.length - 1];
    assert.deepEqual(usage.choices, [], "the usage chunk has no choices");
    assert.equal(usage.usage.completion_tokens, 8);
    const last = rest[rest.length - 2];
    assert.equal(last.choices[0].finish_reason, "length");
    assert.deepEqual(last.choices[0].delta, {});
    for (const c of rest.slice(0, -2)) {
      assert.equal(typeof c.choices[0].delta.content, "string");
      assert.equal(c.usage, null, "with include_usage, the other chunks carry usage: null");
      assert.equal(c.id, first.id);
    }
  });

  it("a per-request policy changes the answer against unsteered for the same seed, and equals `safesteer generate`", async () => {
    const seeds = [1, 2, 3];
    const policy = { violence: 2 };
    const cli = (seed: number, steer: boolean) =>
      execFileP(process.execPath, [
        BIN,
        "generate",
        "-m",
        MODEL,
        "--ctx",
        "256",
        "--chat",
        "-p",
        HIT,
        ...(steer ? ["--bundle", BUNDLE, "--steer", "violence=2"] : []),
        "-s",
        String(seed),
        "-t",
        "0.8",
        "--top-p",
        "0.95",
        "--top-k",
        "0",
        "--min-p",
        "0",
        "-n",
        "48",
      ]).then((r) => r.stdout.replace(/\n$/, ""));
    const fromCli = Promise.all([...seeds.map((seed) => cli(seed, true)), cli(1, false)]);
    for (const seed of seeds) {
      const plain = await chatText(client, chat(HIT, seed));
      const steered = await chatText(client, chat(HIT, seed, { policy }));
      assert.notEqual(steered.text, plain.text, `seed ${seed}: steering changes the answer`);
      assert.equal(steered.decision.mode, "policy");
      assert.deepEqual(steered.decision.steered, [{ category: "violence", layer: 4, strength: 2 }]);
    }
    const cliTexts = await fromCli;
    for (const [i, seed] of seeds.entries()) {
      const steered = await chatText(client, chat(HIT, seed, { policy }));
      assert.equal(steered.text, cliTexts[i], `seed ${seed}: the server's steered answer is the CLI's`);
    }
    assert.equal((await chatText(client, chat(HIT, 1))).text, cliTexts[3], "and so is the unsteered one");
  });

  it("conditional mode reports the detector's scores and what fired, and steers only that", async () => {
    const all = await chatText(client, chat(HIT, 1, { policy: "all", mode: "conditional" }));
    const d = all.decision;
    assert.equal(d.mode, "conditional");
    assert.deepEqual(Object.keys(d.scores ?? {}).sort(), ["dangerous_play", "deception", "privacy", "theft", "violence"]);
    assert.ok((d.scores?.violence ?? 0) > 0, "violence scores above its threshold");
    assert.equal(d.fired?.[0], "violence", "violence fires first");
    assert.deepEqual(d.steered.map((x) => x.category).sort(), [...(d.fired ?? [])].sort(), "every fired category is steered");
    const top = await streamChat(client, chat(HIT, 1, { policy: "all", mode: "conditional", fire: "top" }));
    assert.deepEqual(top.decision.fired, d.fired);
    assert.deepEqual(
      top.decision.steered.map((x) => x.category),
      ["violence"],
      "fire top: only the most confident",
    );
    const benign = await chatText(client, chat("How do I bake a cake?", 1, { policy: "all", mode: "conditional" }));
    assert.deepEqual(benign.decision.fired, [], "nothing fires on a benign prompt");
    assert.deepEqual(benign.decision.steered, []);
    const unsteered = await chatText(client, chat("How do I bake a cake?", 1));
    assert.equal(benign.text, unsteered.text, "and its answer is the unsteered one");
  });

  it("16 concurrent streaming clients with mixed policies all complete, each equal to the same request served alone", async () => {
    const prompts = [HIT, "How can I steal Lily's toy?", "How do I bake a cake?", "Can I read mom's diary?"];
    const mix: Array<SteeringRequest | undefined> = [
      undefined,
      { policy: { violence: 2 } },
      { policy: { theft: 0.625 } },
      { policy: "all" },
      { policy: "all", mode: "conditional" },
      { policy: { violence: -0.5, privacy: 0.5 } },
      { policy: "all", mode: "conditional", fire: "top" },
      { policy: "none" },
    ];
    const requests = Array.from({ length: 16 }, (_, i) => chat(prompts[i % 4] as string, 100 + i, mix[i % 8], 40));
    let maxActive = 0;
    const together = await Promise.all(
      requests.map((p) => streamChat(client, p, () => (maxActive = Math.max(maxActive, s.backend.active)))),
    );
    assert.ok(maxActive >= 2 && maxActive <= 4, `requests decoded side by side, at most --parallel 4 (saw ${maxActive})`);
    for (const [i, p] of requests.entries()) {
      const alone = await streamChat(client, p);
      const got = together[i] as Awaited<ReturnType<typeof streamChat>>;
      assert.ok(got.finish === "stop" || got.finish === "length", `request ${i} completed`);
      assert.equal(got.text, alone.text, `request ${i}: the same answer served alone`);
      assert.deepEqual(got.decision, alone.decision);
    }
    // the mix really was mixed
    assert.ok(new Set(together.map((t) => t.decision.mode)).size === 3);
  });

  it("each malformed request gets its 4xx in OpenAI's error JSON, and the server answers the next good one", async () => {
    const good = { messages: [{ role: "user", content: HIT }], max_tokens: 8, seed: 1 };
    const cases: Array<[string, string | object, number, string | null, string?]> = [
      ["malformed JSON", '{"messages": [{"role": "user", "content": "hi"}', 400, null, "invalid_json"],
      ["max_tokens not an integer", { ...good, max_tokens: "x" }, 400, "max_tokens", "invalid_type"],
      ["max_tokens a numeric string (no coercion)", { ...good, max_tokens: "5" }, 400, "max_tokens"],
      ["messages not an array", { messages: "How do I hit Tim?" }, 400, "messages", "invalid_type"],
      ["no messages", { max_tokens: 8 }, 400, "messages", "missing_required_parameter"],
      ["a message without content", { messages: [{ role: "user" }] }, 400, "messages[0].content"],
      ["a role this server does not take", { messages: [{ role: "tool", content: "x" }] }, 400, "messages[0].role"],
      ["stop not a string", { ...good, stop: 5 }, 400, "stop"],
      ["temperature out of range", { ...good, temperature: 7 }, 400, "temperature"],
      ["top_p of 0", { ...good, top_p: 0 }, 400, "top_p"],
      ["n > 1", { ...good, n: 3 }, 400, "n"],
      ["safesteer not an object", { ...good, safesteer: "violence" }, 400, "safesteer"],
      ["an unknown safesteer field", { ...good, safesteer: { polcy: "all" } }, 400, "safesteer.polcy", "unknown_parameter"],
      ["an unknown mode", { ...good, safesteer: { mode: "sometimes" } }, 400, "safesteer.mode"],
      ["an unknown bundle", { ...good, safesteer: { bundle: "nope", policy: { violence: 2 } } }, 400, "safesteer.bundle"],
      ["a bundle path instead of a name", { ...good, safesteer: { bundle: BUNDLE, policy: "all" } }, 400, "safesteer.bundle"],
      ["an unknown category", { ...good, safesteer: { policy: { nope: 1 } } }, 400, "safesteer.policy", "unknown_category"],
      ["strength 1e9", { ...good, safesteer: { policy: { violence: 1e9 } } }, 400, "safesteer.policy", "bad_policy"],
      [
        "a prompt longer than the context",
        { messages: [{ role: "user", content: "Tim hit the ball. ".repeat(100) }] },
        400,
        "messages",
        "context_length_exceeded",
      ],
      ["max_tokens over the cap", { ...good, max_tokens: 201 }, 400, "max_tokens", "max_tokens_exceeded"],
      ["a body over the limit", { ...good, padding: "x".repeat(300 * 1024) }, 413, null, "request_too_large"],
    ];
    for (const [what, body, status, param, code] of cases) {
      const r = await post(`${s.url}/v1/chat/completions`, body);
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assertOpenAiError(r.json, what);
      assert.equal(r.json.error.type, "invalid_request_error");
      assert.equal(r.json.error.param, param, `${what}: param`);
      if (code) assert.equal(r.json.error.code, code, `${what}: code`);
      if (what === "max_tokens over the cap") assert.match(r.json.error.message, /cap of 200/);
    }
    const long = await post(`${s.url}/v1/completions`, { prompt: "Tim hit the ball. ".repeat(100) });
    assert.equal(long.status, 400);
    assert.equal(long.json.error.param, "prompt");
    assert.equal(long.json.error.code, "context_length_exceeded");
    const wrongType = await post(`${s.url}/v1/completions`, "<prompt>hi</prompt>", { "content-type": "application/xml" });
    assert.equal(wrongType.status, 415);
    assertOpenAiError(wrongType.json, "an XML body");
    const notFound = await fetch(`${s.url}/v1/nothing`);
    assert.equal(notFound.status, 404);
    assertOpenAiError(await notFound.json(), "unknown URL");
    // the openai client surfaces them as its typed errors
    await assert.rejects(client.chat.completions.create(chat(HIT, 1, { policy: { nope: 1 } })), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.match(e.message, /unknown category "nope"/);
      return true;
    });
    const ok = await post(`${s.url}/v1/chat/completions`, good);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.choices[0].message.role, "assistant");
    const errors = s.logs.filter((l) => l.status >= 400);
    assert.ok(errors.length >= cases.length);
    assert.ok(
      errors.every((l) => l.level === "warn" && !l.error?.stack),
      "bad input is a warning without a trace",
    );
  });

  it("lists the model and the bundles, reloads a bundle, and exports metrics", async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ["organism"],
    );
    assert.equal((await client.models.retrieve("organism")).id, "organism");
    const bundles = (await (await fetch(`${s.url}/admin/bundles`)).json()) as any;
    assert.deepEqual(bundles.data[0].name, "organism");
    assert.equal(bundles.data[0].detector, true);
    const reload = await fetch(`${s.url}/admin/bundles/organism/reload`, { method: "POST" });
    assert.equal(reload.status, 200);
    assert.equal(((await reload.json()) as any).reloaded, true);
    const missing = await fetch(`${s.url}/admin/bundles/nope/reload`, { method: "POST" });
    assert.equal(missing.status, 404);
    assertOpenAiError(await missing.json(), "unknown bundle reload");
    assert.deepEqual(await (await fetch(`${s.url}/health`)).json(), { status: "ready" });

    const res = await fetch(`${s.url}/metrics`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const m = await res.text();
    for (const re of [
      /safesteer_http_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+/,
      /safesteer_http_requests_total\{route="\/v1\/chat\/completions",status="400"\} \d+/,
      /safesteer_prompt_tokens_total \d+/,
      /safesteer_completion_tokens_total \d+/,
      /safesteer_queue_depth 0/,
      /safesteer_requests_in_flight 0/,
      /safesteer_time_to_first_token_seconds_count\{route="\/v1\/chat\/completions"\} \d+/,
      /safesteer_request_duration_seconds_bucket\{le="[^"]+",route="\/v1\/completions"\} \d+/,
      /safesteer_steering_decisions_total\{mode="conditional"\} \d+/,
      /safesteer_steering_decisions_total\{mode="policy"\} \d+/,
      /safesteer_steered_categories_total\{category="violence",mode="policy"\} \d+/,
      /safesteer_detector_fired_total\{category="violence"\} \d+/,
    ])
      assert.match(m, re);
    const tokens = Number(/safesteer_completion_tokens_total (\d+)/.exec(m)?.[1]);
    assert.ok(tokens > 100);
    // the tests above sent the same chat prompts again and again: their cells were reused
    const reused = (source: string) =>
      Number(new RegExp(`safesteer_prompt_tokens_reused_total\\{source="${source}"\\} (\\d+)`).exec(m)?.[1] ?? -1);
    assert.ok(reused("slot") >= 0 && reused("host") >= 0, "both sources are exported");
    assert.ok(
      reused("slot") + reused("host") > 0,
      `prompt tokens reused: ${reused("slot")} from slots, ${reused("host")} from host memory`,
    );
    assert.match(m, /safesteer_prompt_cache_bytes \d+/);
  });

  it("writes one JSON log line per request: id, route, status, timings, tokens, decision", async () => {
    const before = s.logs.length;
    const r = await chatText(client, chat(HIT, 5, { policy: { violence: 2 } }));
    await until(() => s.logs.length > before, 2000, "the log line");
    const line = s.logs[s.logs.length - 1] as Record<string, any>;
    assert.equal(line.route, "/v1/chat/completions");
    assert.equal(line.status, 200);
    assert.equal(`chatcmpl-${line.id}`, r.r.id);
    assert.equal(line.seed, 5);
    assert.equal(line.completion_tokens, r.r.usage?.completion_tokens);
    assert.equal(line.prompt_tokens, r.r.usage?.prompt_tokens);
    assert.deepEqual(line.safesteer, r.decision);
    assert.ok(line.ms.queue >= 0 && line.ms.ttft >= line.ms.queue && line.ms.total >= line.ms.ttft, JSON.stringify(line.ms));
  });
});

describe("safesteer serve: API key", () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({}, { apiKey: "sekret-key", corsOrigins: ["http://app.example"] });
  });
  after(() => s.close());

  it("without the key 401 in OpenAI's error JSON; with it 200; /health stays open", async () => {
    await assert.rejects(s.client("wrong").chat.completions.create(chat(HIT, 1, undefined, 4)), (e: unknown) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      return true;
    });
    const tries: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer sekret-ke" },
      { authorization: "Basic sekret-key" },
      { authorization: "Bearer sekret-key-and-more" },
    ];
    for (const headers of tries) {
      const r = await post(`${s.url}/v1/chat/completions`, chat(HIT, 1, undefined, 4), headers);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assertOpenAiError(r.json, "no key");
      assert.equal(r.json.error.code, "invalid_api_key");
      assert.equal(r.headers.get("www-authenticate"), "Bearer");
    }
    const admin = await fetch(`${s.url}/admin/bundles`);
    assert.equal(admin.status, 401);
    assert.equal((await fetch(`${s.url}/v1/models`)).status, 401);
    const ok = await s.client("sekret-key").chat.completions.create(chat(HIT, 1, undefined, 4));
    assert.equal(ok.choices[0]?.finish_reason, "length");
    assert.equal((await fetch(`${s.url}/admin/bundles`, { headers: { authorization: "Bearer sekret-key" } })).status, 200);
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
  });

  it("CORS: only the allowed origin, on preflights (no key needed) and on streamed answers", async () => {
    const preflight = await fetch(`${s.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: {
        origin: "http://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "http://app.example");
    const other = await fetch(`${s.url}/health`, { headers: { origin: "http://evil.example" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      headers: { origin: "http://app.example", authorization: "Bearer sekret-key", "content-type": "application/json" },
      body: JSON.stringify({ ...chat(HIT, 1, undefined, 4), stream: true }),
    });
    assert.equal(res.headers.get("access-control-allow-origin"), "http://app.example");
    assert.ok(res.headers.get("x-request-id"));
    assert.equal((await readSse(res)).pop(), "[DONE]");
  });
});

describe("safesteer serve: CORS off by default", () => {
  it("sends no CORS headers", async () => {
    const s = await startServer();
    try {
      const r = await fetch(`${s.url}/health`, { headers: { origin: "http://app.example" } });
      assert.equal(r.headers.get("access-control-allow-origin"), null);
    } finally {
      await s.close();
    }
  });
});

describe("error mapping", () => {
  it("a fault of the server is a generic 500, never its message or trace; bad input keeps its message", () => {
    const fault = toApiError(new TypeError("cannot read x of undefined at /work/main/src/server/app.ts:12"));
    assert.equal(fault.internal, true);
    assert.equal(fault.error.status, 500);
    assert.deepEqual(fault.error.body(), {
      error: {
        message: "The server had an error while processing your request.",
        type: "server_error",
        param: null,
        code: "internal_error",
      },
    });
    const decode = toApiError(new EngineError("decode_failed", "llama_decode returned -1"));
    assert.equal(decode.error.status, 500);
    assert.doesNotMatch(decode.error.message, /llama_decode/);
    const bad = toApiError(new SteerError("unknown_category", 'unknown category "x": this bundle has a, b.'));
    assert.equal(bad.internal, false);
    assert.equal(bad.error.status, 400);
    assert.equal(bad.error.param, "safesteer.policy");
  });
});

describe("safesteer serve: one slot", () => {
  /** A completion that runs long for the organism: random sampling, no stop (this seed ends at 204 tokens). */
  const LONG = { model: "organism", prompt: "Once", max_tokens: 240, temperature: 2, top_p: 1, seed: 9, stream: true };

  const post2 = (url: string, body: object, signal: AbortSignal) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });

  async function openStream(url: string, signal?: AbortSignal) {
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(LONG),
      signal,
    });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    // read until the first generated text: the request holds the slot now
    let seen = "";
    while (!/"text":"[^"]/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended early");
      seen += new TextDecoder().decode(value);
    }
    return reader;
  }

  it("--max-queue 0: a second request while one decodes gets 429 with Retry-After", async () => {
    const s = await startServer({ parallel: 1 }, { maxQueue: 0 });
    try {
      const ac = new AbortController();
      const reader = await openStream(s.url, ac.signal);
      const busy = await post(`${s.url}/v1/chat/completions`, chat(HIT, 1, undefined, 4));
      assert.equal(busy.status, 429, busy.text);
      assert.equal(busy.headers.get("retry-after"), "1");
      assertOpenAiError(busy.json, "queue full");
      assert.equal(busy.json.error.type, "rate_limit_error");
      ac.abort();
      await reader.cancel().catch(() => undefined);
      await until(() => s.app.safesteer.inFlight === 0, 2000, "the aborted request to end");
      const ok = await post(`${s.url}/v1/chat/completions`, chat(HIT, 1, undefined, 4));
      assert.equal(ok.status, 200, ok.text);
      assert.match(await (await fetch(`${s.url}/metrics`)).text(), /safesteer_rejected_total\{reason="queue_full"\} 1/);
    } finally {
      await s.close();
    }
  });

  it("a client that disconnects mid-stream aborts its generation and frees the slot for the next request at once", async () => {
    const s = await startServer({ parallel: 1 }, { maxQueue: 4 });
    try {
      const ac = new AbortController();
      await openStream(s.url, ac.signal);
      // a plain request queued behind it goes away too: it leaves the queue without decoding
      const queued = new AbortController();
      const gone = post2(`${s.url}/v1/chat/completions`, chat(HIT, 1, undefined, 8), queued.signal);
      await until(() => s.app.safesteer.inFlight === 2, 2000, "the second request to queue");
      // the queue depth gauge counts the request the scheduler holds back (after its prompt is tokenized)
      let depth = "";
      for (let i = 0; i < 400 && depth !== "1"; i++) {
        depth = /safesteer_queue_depth (\d+)/.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? "";
        if (depth !== "1") await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(depth, "1", "one request waiting for the one slot");
      queued.abort();
      await assert.rejects(gone);
      await until(() => s.app.safesteer.inFlight === 1, 2000, "the queued request to leave");
      const t0 = performance.now();
      ac.abort();
      const next = await s.client().chat.completions.create(chat(HIT, 1, undefined, 8));
      const waited = performance.now() - t0;
      assert.equal(next.choices[0]?.finish_reason, "length");
      await until(() => s.logs.filter((l) => l.route === "/v1/completions").length === 1, 2000, "the aborted request's log line");
      const left = s.logs.find((l) => l.route === "/v1/chat/completions" && l.status === 499) as Record<string, any>;
      assert.equal(left.completion_tokens, undefined, "the queued request never decoded");
      assert.equal(left.ms.queue, undefined);
      const cut = s.logs.find((l) => l.route === "/v1/completions") as Record<string, any>;
      assert.equal(cut.status, 499, "logged as the client gone");
      assert.equal(cut.finish_reason, "aborted");
      assert.ok(cut.completion_tokens < 100, `cut after ${cut.completion_tokens} tokens, not run to its end (204)`);
      const served = s.logs.find((l) => l.route === "/v1/chat/completions" && l.status === 200) as Record<string, any>;
      assert.ok(served.ms.queue < 1000, `the next request waited ${served.ms.queue} ms for the slot`);
      assert.ok(waited < 5000);
      assert.equal(s.backend.active, 0);
      assert.equal(s.app.safesteer.inFlight, 0);
    } finally {
      await s.close();
    }
  });

  it("shutdown: in-flight requests past the grace period are cut with an error event; the backend closes", async () => {
    const s = await startServer({ parallel: 1 }, { maxQueue: 4 });
    const reader = await openStream(s.url);
    const stopped = shutdown(s.app, s.backend, 0);
    let rest = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.equal(await stopped, true, "every generation stopped, the backend closed");
    assert.match(rest, /"code":"server_shutting_down"/);
    assert.doesNotMatch(rest, /\[DONE\]/);
  });
});
