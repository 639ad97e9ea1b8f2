// The HTTP layer of `safesteer serve`: OpenAI's chat and text completion endpoints (plain and
// streamed as server-sent events) over a Backend, with per-request steering in the `safesteer`
// body field, a bearer key, a bounded queue, Prometheus metrics and one JSON log line per request.
// Fastify: a well-kept server with JSON-schema validation of bodies, body limits and encapsulated
// hooks (the key guards exactly the routes registered under it). Its own logger stays off.
import { createHash, randomInt, randomUUID, timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Writable } from "node:stream";
import cors from "@fastify/cors";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { FinishReason } from "../engine/generate.js";
import { ApiError, toApiError } from "./api-errors.js";
import type { Backend, CompletionEvent, CompletionJob, CompletionStream, SteeringDecision } from "./backend.js";
import { checkCompletionBody, parseJsonBody } from "./body-checks.js";
import { adminGuard, hostGuard } from "./guards.js";
import { createMetrics } from "./metrics.js";
import { type ChatBody, type CompletionBody, chatSchema, completionSchema } from "./schemas.js";
import { clientErrorHandler, serverLimits, type TimeoutOptions } from "./timeouts.js";

export interface AppOptions extends TimeoutOptions {
  /** Bearer key for every /v1 and /admin route (none: open). */
  apiKey?: string;
  /** Largest request body in bytes (default 1 MiB): past it, 413. */
  bodyLimit?: number;
  /** Largest max_tokens a request may ask for (default 2048): past it, 400 naming the cap. */
  maxTokensCap?: number;
  /** max_tokens when a request gives none (default: the smaller of 256 and the cap). */
  defaultMaxTokens?: number;
  /** Requests that may wait for a slot beyond the ones decoding (default 16): past it, 429. */
  maxQueue?: number;
  /** Origins allowed by CORS (default: none, CORS off). */
  corsOrigins?: string[];
  /** Where the JSON log lines go (default stderr). */
  log?: Writable;
  /** Retry-After on a 429, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** The playground's HTML page, served at / (none: / is a 404, as with `serve --no-ui`). */
  ui?: string;
  /** Serve only these Host names (none: any; `serve` on loopback passes the loopback names). */
  allowedHosts?: string[];
}

/** What `safesteer serve` needs to stop the server gracefully. */
export interface ServerControl {
  /** Completion requests admitted and not yet finished. */
  readonly inFlight: number;
  readonly draining: boolean;
  /** New completion requests get 503 from now on, and so do those that have not started decoding. */
  startDraining(): void;
  /** Aborts every generation in flight (their clients get an error: the server is stopping). */
  abortAll(): void;
  /** Resolves when no completion request is in flight. */
  idle(): Promise<void>;
}

declare module "fastify" {
  interface FastifyInstance {
    safesteer: ServerControl;
  }
}

const CHAT = "/v1/chat/completions";
const TEXT = "/v1/completions";
/** Abort reasons: the client went away, or the server is stopping. */
const CLIENT_GONE = "client_gone";
const SHUTDOWN = "shutdown";
/** The server started stopping before this request got a slot. */
const DRAINED = "drained";

/** What one request's log line reports. */
interface RequestRecord {
  id: string;
  method: string;
  start: number;
  route?: string;
  stream?: boolean;
  seed?: number;
  queueMs?: number;
  ttftMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  finishReason?: string;
  decision?: SteeringDecision;
  error?: { code: string | null; message: string; stack?: string };
  /** A completion being served: the log line waits for its end, so the tokens are final. */
  busy: boolean;
  closed: boolean;
  logged: boolean;
  status?: number;
}

/** What an answer is made of: the backend's events past the slot's "start". */
type AnswerEvent = Exclude<CompletionEvent, { type: "start" }>;

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();

function finishReason(r: FinishReason): "stop" | "length" {
  return r === "length" || r === "context" ? "length" : "stop";
}

function chatMessages(body: ChatBody): Array<{ role: string; content: string }> {
  return body.messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
  }));
}

function stops(stop: string | string[] | null | undefined): string[] {
  if (stop === null || stop === undefined) return [];
  return typeof stop === "string" ? [stop] : stop;
}

/** Resolves when the response can take more data (or is gone). */
function drained(raw: FastifyReply["raw"]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      raw.off("drain", done);
      raw.off("close", done);
      resolve();
    };
    raw.once("drain", done);
    raw.once("close", done);
  });
}

export function createApp(backend: Backend, opts: AppOptions = {}): FastifyInstance {
  const cap = opts.maxTokensCap ?? 2048;
  const defaultMaxTokens = Math.min(opts.defaultMaxTokens ?? 256, cap);
  const maxQueue = opts.maxQueue ?? 16;
  const retryAfter = opts.retryAfterSeconds ?? 1;
  const log = opts.log ?? process.stderr;
  const keyDigest = opts.apiKey ? sha256(opts.apiKey) : undefined;
  const created = Math.floor(Date.now() / 1000);
  /** Each completion in flight: its abort controller and its record (has it started decoding?). */
  const controllers = new Map<AbortController, RequestRecord>();
  const records = new WeakMap<FastifyRequest, RequestRecord>();
  let inFlight = 0;
  let draining = false;
  let idleWaiters: Array<() => void> = [];

  const metrics = createMetrics({
    inFlight: () => inFlight,
    queued: () => Math.max(0, inFlight - backend.active),
    decoding: () => backend.active,
  });

  const control: ServerControl = {
    get inFlight() {
      return inFlight;
    },
    get draining() {
      return draining;
    },
    startDraining() {
      draining = true;
      // a request still waiting for a slot would only hold the grace period: it is refused now
      for (const [ac, rec] of controllers) if (rec.queueMs === undefined) ac.abort(DRAINED);
    },
    abortAll() {
      for (const ac of controllers.keys()) ac.abort(SHUTDOWN);
    },
    idle() {
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
    },
  };

  const limits = serverLimits(opts);
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // a slow, stalled or trickling request is cut with a 408 (timeouts.ts); parser errors in OpenAI's JSON
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    http: limits.http,
    clientErrorHandler: clientErrorHandler({
      requestMs: opts.requestTimeoutMs ?? 30_000,
      headersMs: Math.min(opts.headersTimeoutMs ?? 10_000, opts.requestTimeoutMs ?? 30_000),
    }),
    genReqId: () => randomUUID().replaceAll("-", "").slice(0, 24),
    requestIdHeader: false,
    // draining answers in OpenAI's error JSON (below), not Fastify's own 503
    return503OnClosing: false,
    // a wrong type is an error, never coerced ("5" is not 5); unknown fields of `safesteer` are errors
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });
  app.decorate("safesteer", control);
  app.server.maxConnections = limits.maxConnections;
  // JSON.parse, then a 400 naming a "__proto__" key (Fastify's own parser calls it "not valid JSON")
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, text, done) => {
    try {
      done(null, parseJsonBody(text as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  /** The log line and the request counter, once the response is over and the work is done. */
  const finish = (req: FastifyRequest, rec: RequestRecord) => {
    if (!rec.closed || rec.busy || rec.logged) return;
    rec.logged = true;
    const route = req.routeOptions.url ?? "unmatched";
    const status = rec.status ?? 0;
    const total = performance.now() - rec.start;
    metrics.requests.inc({ route, status: String(status) });
    if (rec.decision) metrics.latency.observe({ route }, total / 1000);
    const ms = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);
    const line = {
      time: new Date().toISOString(),
      level: status >= 500 ? "error" : status >= 400 && status !== 499 ? "warn" : "info",
      id: rec.id,
      method: rec.method,
      route,
      status,
      stream: rec.stream,
      ms: { queue: ms(rec.queueMs), ttft: ms(rec.ttftMs), total: ms(total) },
      prompt_tokens: rec.promptTokens,
      completion_tokens: rec.completionTokens,
      finish_reason: rec.finishReason,
      seed: rec.seed,
      safesteer: rec.decision,
      error: rec.error,
    };
    try {
      log.write(`${JSON.stringify(line)}\n`);
    } catch {
      // a log that cannot be written must not take the server down
    }
  };

  app.addHook("onRequest", async (req, reply) => {
    const rec: RequestRecord = { id: req.id, method: req.method, start: performance.now(), busy: false, closed: false, logged: false };
    records.set(req, rec);
    reply.header("x-request-id", req.id);
    reply.raw.once("close", () => {
      rec.closed = true;
      rec.status = reply.raw.writableFinished ? reply.raw.statusCode : 499;
      finish(req, rec);
    });
  });

  if (opts.allowedHosts) app.addHook("onRequest", hostGuard(opts.allowedHosts));

  if (opts.corsOrigins && opts.corsOrigins.length > 0) {
    app.register(cors, {
      origin: opts.corsOrigins,
      methods: ["GET", "POST", "OPTIONS"],
      allowedHeaders: ["Authorization", "Content-Type"],
      exposedHeaders: ["x-request-id", "Retry-After"],
    });
  }

  app.setErrorHandler((e, req, reply) => {
    const { error, internal } = toApiError(e);
    const rec = records.get(req);
    if (rec) {
      rec.error = internal
        ? { code: (e as { code?: string }).code ?? null, message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack }
        : { code: error.code, message: error.message };
    }
    if (internal && !rec)
      log.write(`${JSON.stringify({ time: new Date().toISOString(), level: "error", error: String((e as Error)?.stack ?? e) })}\n`);
    if (reply.sent || reply.raw.headersSent) return;
    reply.code(error.status).headers(error.headers).send(error.body());
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError(404, `Unknown request URL: ${req.method} ${req.url.split("?")[0]}.`, "unknown_url");
    reply.code(404).send(e.body());
  });

  const ui = opts.ui;
  if (ui !== undefined)
    app.get("/", async (_req, reply) => {
      reply.header("cache-control", "no-store").type("text/html; charset=utf-8").send(ui);
    });

  app.get("/health", async (_req, reply) => {
    if (draining) return reply.code(503).send({ status: "draining" });
    if (!backend.ready) return reply.code(503).send({ status: "loading" });
    return { status: "ready" };
  });

  app.get("/metrics", async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  /** One completion request, from admission to its last byte. */
  async function completion(kind: "chat" | "text", req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const rec = records.get(req) as RequestRecord;
    const body = req.body as ChatBody & CompletionBody;
    const asked = (kind === "chat" ? (body.max_completion_tokens ?? body.max_tokens) : body.max_tokens) ?? undefined;
    const param = kind === "chat" && body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
    if (asked !== undefined && asked > cap)
      throw new ApiError(
        400,
        `${param} is ${asked}, above this server's cap of ${cap}: ask for at most ${cap} tokens.`,
        "max_tokens_exceeded",
        param,
      );
    if (!backend.ready) {
      metrics.rejected.inc({ reason: "loading" });
      throw new ApiError(503, "The model is still loading: retry in a moment (GET /health says when it is ready).", "model_loading", null, {
        "Retry-After": String(retryAfter),
      });
    }
    if (draining) {
      metrics.rejected.inc({ reason: "draining" });
      throw new ApiError(503, "The server is shutting down: retry later.", "server_shutting_down", null, {
        "Retry-After": String(retryAfter),
        Connection: "close",
      });
    }
    if (inFlight >= backend.parallel + maxQueue) {
      metrics.rejected.inc({ reason: "queue_full" });
      throw new ApiError(
        429,
        `The server is busy (${inFlight} requests in flight, ${backend.parallel} decoding and at most ${maxQueue} waiting): retry after ${retryAfter} s.`,
        "rate_limit_exceeded",
        null,
        { "Retry-After": String(retryAfter) },
      );
    }
    inFlight++;
    rec.busy = true;
    const ac = new AbortController();
    controllers.set(ac, rec);
    const onClose = () => {
      if (!reply.raw.writableFinished) ac.abort(CLIENT_GONE);
    };
    reply.raw.once("close", onClose);
    const seed = body.seed ?? randomInt(0, 2 ** 31);
    rec.seed = seed;
    rec.stream = Boolean(body.stream);
    try {
      const job: CompletionJob = {
        ...(kind === "chat"
          ? { messages: chatMessages(body) }
          : { prompt: typeof body.prompt === "string" ? body.prompt : body.prompt[0] }),
        maxTokens: asked ?? defaultMaxTokens,
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        seed,
        stop: stops(body.stop),
        steering: body.safesteer ?? {},
        signal: ac.signal,
      };
      const result = await backend.complete(job);
      if (ac.signal.aborted) return aborted(reply, ac.signal, rec);
      rec.decision = result.decision;
      rec.promptTokens = result.promptTokens;
      metrics.decision(result.decision);
      metrics.promptTokens.inc(result.promptTokens);
      const route = kind === "chat" ? CHAT : TEXT;
      const events = readEvents(result, rec, route);
      if (body.stream) {
        await streamAnswer(kind, req, reply, result, events, ac.signal, Boolean(body.stream_options?.include_usage));
        return reply;
      }
      return await wholeAnswer(kind, req, reply, result, events, ac.signal);
    } catch (e) {
      if (ac.signal.aborted) return aborted(reply, ac.signal, rec);
      throw e;
    } finally {
      reply.raw.off("close", onClose);
      controllers.delete(ac);
      inFlight--;
      if (inFlight === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
      rec.busy = false;
      finish(req, rec);
    }
  }

  /** The generation's text and end, timing the wait for a slot ("start") and the first token. */
  async function* readEvents(result: CompletionStream, rec: RequestRecord, route: string): AsyncGenerator<AnswerEvent> {
    for await (const e of result.events) {
      if (e.type === "start") {
        rec.queueMs = performance.now() - rec.start;
        metrics.queueWait.observe({ route }, rec.queueMs / 1000);
        continue;
      }
      if (e.type === "text" && rec.ttftMs === undefined) {
        rec.ttftMs = performance.now() - rec.start;
        metrics.timeToFirstToken.observe({ route }, rec.ttftMs / 1000);
      }
      if (e.type === "done") {
        rec.completionTokens = e.completionTokens;
        rec.finishReason = e.reason === "aborted" ? "aborted" : finishReason(e.reason);
        metrics.completionTokens.inc(e.completionTokens);
      }
      yield e;
    }
  }

  /** A generation cut short: by its client (nothing more to send) or by the server stopping. */
  function aborted(reply: FastifyReply, signal: AbortSignal, rec: RequestRecord): FastifyReply {
    if (signal.reason === CLIENT_GONE) {
      rec.status = 499;
      if (!reply.sent) reply.hijack();
      reply.raw.destroy();
      return reply;
    }
    const e =
      signal.reason === DRAINED
        ? new ApiError(503, "The server is shutting down: this request had not started; retry later.", "server_shutting_down", null, {
            "Retry-After": String(retryAfter),
          })
        : new ApiError(503, "The server is shutting down: the answer was cut short; retry later.", "server_shutting_down");
    rec.error = { code: e.code, message: e.message };
    if (reply.raw.headersSent) {
      if (!reply.raw.writableEnded) reply.raw.end(`data: ${JSON.stringify(e.body())}\n\n`);
      return reply;
    }
    return reply.code(503).headers(e.headers).header("Connection", "close").send(e.body());
  }

  async function wholeAnswer(
    kind: "chat" | "text",
    req: FastifyRequest,
    reply: FastifyReply,
    result: CompletionStream,
    events: AsyncGenerator<AnswerEvent>,
    signal: AbortSignal,
  ): Promise<unknown> {
    let text = "";
    let reason: FinishReason = "eog";
    let completionTokens = 0;
    for await (const e of events) {
      if (e.type === "text") text += e.text;
      else {
        reason = e.reason;
        completionTokens = e.completionTokens;
      }
    }
    if (signal.aborted || reason === "aborted") return aborted(reply, signal, records.get(req) as RequestRecord);
    const usage = {
      prompt_tokens: result.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: result.promptTokens + completionTokens,
    };
    const base = { created: Math.floor(Date.now() / 1000), model: backend.modelId };
    if (kind === "chat") {
      return {
        id: `chatcmpl-${req.id}`,
        object: "chat.completion",
        ...base,
        choices: [
          { index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: null, finish_reason: finishReason(reason) },
        ],
        usage,
        safesteer: result.decision,
      };
    }
    return {
      id: `cmpl-${req.id}`,
      object: "text_completion",
      ...base,
      choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason(reason) }],
      usage,
      safesteer: result.decision,
    };
  }

  async function streamAnswer(
    kind: "chat" | "text",
    req: FastifyRequest,
    reply: FastifyReply,
    result: CompletionStream,
    events: AsyncGenerator<AnswerEvent>,
    signal: AbortSignal,
    includeUsage: boolean,
  ): Promise<void> {
    reply.hijack();
    const raw = reply.raw;
    const headers: Record<string, string | number | string[]> = {};
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v;
    raw.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    const send = async (data: unknown) => {
      if (raw.destroyed || raw.writableEnded) return;
      if (!raw.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`)) await drained(raw);
    };
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${req.id}`;
    const head = {
      id,
      object: kind === "chat" ? "chat.completion.chunk" : "text_completion",
      created: Math.floor(Date.now() / 1000),
      model: backend.modelId,
    };
    const usageNull = includeUsage ? { usage: null } : {};
    const choice = (text: string | undefined, finish: string | null, role = false) =>
      kind === "chat"
        ? {
            index: 0,
            delta: role ? { role: "assistant", content: "" } : text === undefined ? {} : { content: text },
            logprobs: null,
            finish_reason: finish,
          }
        : { index: 0, text: text ?? "", logprobs: null, finish_reason: finish };
    // the first chunk carries the steering decision, before any text
    await send({ ...head, choices: [choice(undefined, null, true)], ...usageNull, safesteer: result.decision });
    let done: Extract<CompletionEvent, { type: "done" }> | undefined;
    try {
      for await (const e of events) {
        if (e.type === "text") {
          if (e.text) await send({ ...head, choices: [choice(e.text, null)], ...usageNull });
        } else done = e;
      }
    } catch (e) {
      if (signal.aborted) throw e;
      // the headers are out: the error goes in the stream, its details to the log
      const rec = records.get(req) as RequestRecord;
      const { error } = toApiError(new Error("generation failed"));
      rec.error = { code: (e as { code?: string }).code ?? null, message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack };
      if (!raw.writableEnded) raw.end(`data: ${JSON.stringify(error.body())}\n\n`);
      return;
    }
    if (signal.aborted || !done || done.reason === "aborted") {
      if (signal.aborted) aborted(reply, signal, records.get(req) as RequestRecord);
      else if (!raw.writableEnded) raw.end();
      return;
    }
    await send({ ...head, choices: [choice(undefined, finishReason(done.reason))], ...usageNull });
    if (includeUsage) {
      const usage = {
        prompt_tokens: result.promptTokens,
        completion_tokens: done.completionTokens,
        total_tokens: result.promptTokens + done.completionTokens,
      };
      await send({ ...head, choices: [], usage });
    }
    await send("[DONE]");
    raw.end();
  }

  // every /v1 and /admin route sits behind the key (when one is set); /health and /metrics do not
  app.register(async (api) => {
    api.addHook("onRequest", async (req) => {
      if (!keyDigest || req.method === "OPTIONS") return;
      const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
      // equal-length digests, compared in constant time: the key's length and content stay hidden
      const ok = timingSafeEqual(sha256(m?.[1] ?? ""), keyDigest) && m !== null;
      if (!ok)
        throw new ApiError(
          401,
          m ? "Incorrect API key provided." : "No API key provided: send it as the header Authorization: Bearer <key>.",
          "invalid_api_key",
          null,
          { "WWW-Authenticate": "Bearer" },
        );
    });

    // refused fields and non-finite strengths, named, before the schema's more generic words
    const preValidation = async (req: FastifyRequest) => checkCompletionBody(req.body);
    api.post(CHAT, { schema: { body: chatSchema }, preValidation }, (req, reply) => completion("chat", req, reply));
    api.post(TEXT, { schema: { body: completionSchema }, preValidation }, (req, reply) => completion("text", req, reply));

    const modelEntry = () => ({ id: backend.modelId, object: "model", created, owned_by: "safesteer" });
    api.get("/v1/models", async () => ({ object: "list", data: [modelEntry()] }));
    api.get<{ Params: { model: string } }>("/v1/models/:model", async (req) => {
      if (req.params.model !== backend.modelId)
        throw new ApiError(
          404,
          `The model '${req.params.model}' does not exist: this server serves '${backend.modelId}'.`,
          "model_not_found",
          "model",
        );
      return modelEntry();
    });

    const admin = { onRequest: adminGuard(opts.corsOrigins) };
    api.get("/admin/bundles", admin, async () => {
      if (!backend.ready) throw new ApiError(503, "The model is still loading: retry in a moment.", "model_loading");
      return { object: "list", data: backend.bundles() };
    });
    api.post<{ Params: { name: string } }>("/admin/bundles/:name/reload", admin, async (req) => {
      if (!backend.ready) throw new ApiError(503, "The model is still loading: retry in a moment.", "model_loading");
      const names = backend.bundles().map((b) => b.name);
      if (!names.includes(req.params.name))
        throw new ApiError(
          404,
          `No bundle named '${req.params.name}' is loaded; loaded: ${names.join(", ") || "none"}.`,
          "bundle_not_found",
          "name",
        );
      return { object: "bundle", reloaded: true, ...(await backend.reloadBundle(req.params.name)) };
    });
  });

  return app;
}

/**
 * Graceful stop: new completion requests get 503 (and so do those still waiting for a slot), while
 * the listener stays open for graceMs so that /health says "draining"; requests decoding have that
 * long to finish (then they are aborted); then the listener closes and the backend is closed once
 * none decodes. Returns false when a generation would not stop (the backend is then left open).
 */
export async function shutdown(app: FastifyInstance, backend: Backend, graceMs: number): Promise<boolean> {
  const control = app.safesteer;
  control.startDraining();
  const wait = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      control.idle().then(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  let idle = await wait(graceMs);
  if (!idle) {
    control.abortAll();
    idle = await wait(5000);
  }
  const closed = app.close();
  // keep-alive connections left idle by finished requests would hold close() open
  app.server.closeAllConnections();
  await closed;
  if (idle) await backend.close();
  return idle;
}
