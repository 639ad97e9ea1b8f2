// The HTTP layer of `safesteer serve`: OpenAI's chat and text completion endpoints (plain and
// streamed as server-sent events) over a Backend, with per-request steering in the `safesteer`
// body field, a bearer key, a bounded queue, Prometheus metrics and one JSON log line per request.
// This file assembles the parts: admission.ts (who gets in), auth.ts (the key), request-log.ts (the
// log line), completion.ts with chat-wire.ts / text-wire.ts (the one completion path and each
// endpoint's shapes), answer.ts and sse.ts (writing the answer), routes.ts (the rest).
// Fastify: a well-kept server with JSON-schema validation of bodies, body limits and encapsulated
// hooks (the key guards exactly the routes registered under it). Its own logger stays off.
import { randomUUID } from "node:crypto";
import type { Writable } from "node:stream";
import cors from "@fastify/cors";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { Admission, type ServerControl } from "./admission.js";
import { ApiError, toApiError } from "./api-errors.js";
import { bearerAuth } from "./auth.js";
import type { Backend } from "./backend.js";
import { checkCompletionBody, parseJsonBody } from "./body-checks.js";
import { chatWire } from "./chat-wire.js";
import { type CompletionDeps, completionHandler } from "./completion.js";
import { hostGuard } from "./guards.js";
import { createMetrics } from "./metrics.js";
import { RequestLog } from "./request-log.js";
import { modelRoutes, openRoutes } from "./routes.js";
import { textWire } from "./text-wire.js";
import { clientErrorHandler, serverLimits, type TimeoutOptions } from "./timeouts.js";

export type { ServerControl };

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

declare module "fastify" {
  interface FastifyInstance {
    safesteer: ServerControl;
  }
}

/** A Fastify instance with the server's limits, ids, error words and JSON parser. */
function fastifyWithLimits(opts: AppOptions): FastifyInstance {
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
    // draining answers in OpenAI's error JSON (admission.ts), not Fastify's own 503
    return503OnClosing: false,
    // a wrong type is an error, never coerced ("5" is not 5); unknown fields of `safesteer` are errors
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });
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
  return app;
}

export function createApp(backend: Backend, opts: AppOptions = {}): FastifyInstance {
  const cap = opts.maxTokensCap ?? 2048;
  const retryAfter = opts.retryAfterSeconds ?? 1;
  const metrics = createMetrics({
    inFlight: () => admission.inFlight,
    queued: () => backend.waiting,
    decoding: () => backend.active,
    promptReuse: () => backend.promptReuse,
  });
  const admission = new Admission(backend, metrics.rejected, { maxQueue: opts.maxQueue ?? 16, retryAfter });
  const requests = new RequestLog(opts.log ?? process.stderr, metrics);

  const app = fastifyWithLimits(opts);
  app.decorate("safesteer", admission as ServerControl);
  app.addHook("onRequest", requests.track);
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
    requests.noteError(req, e, error, internal);
    if (reply.sent || reply.raw.headersSent) return;
    reply.code(error.status).headers(error.headers).send(error.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError(404, `Unknown request URL: ${req.method} ${req.url.split("?")[0]}.`, "unknown_url");
    reply.code(404).send(e.body());
  });

  openRoutes(app, { backend, admission, metrics, ui: opts.ui });
  const deps: CompletionDeps = {
    backend,
    admission,
    requests,
    metrics,
    limits: { cap, defaultMaxTokens: Math.min(opts.defaultMaxTokens ?? 256, cap), retryAfter },
  };
  // every /v1 and /admin route sits behind the key (when one is set); /health and /metrics do not
  app.register(async (api) => {
    api.addHook("onRequest", bearerAuth(opts.apiKey));
    // refused fields and non-finite strengths, named, before the schema's more generic words
    const preValidation = async (req: FastifyRequest) => checkCompletionBody(req.body);
    api.post(chatWire.route, { schema: { body: chatWire.schema }, preValidation }, completionHandler(chatWire, deps));
    api.post(textWire.route, { schema: { body: textWire.schema }, preValidation }, completionHandler(textWire, deps));
    modelRoutes(api, { backend, corsOrigins: opts.corsOrigins, retryAfter });
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
