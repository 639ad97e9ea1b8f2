// The one completion path, for both endpoints (their differences are in wire.ts): the token cap,
// admission (503 / 429), the job for the backend, the steering decision and token counts for the
// log and metrics, then the answer, whole or streamed; a client that goes away aborts its
// generation at once and frees its slot.
import { randomInt } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Admission } from "./admission.js";
import { CLIENT_GONE } from "./admission.js";
import { type AnswerEvent, type Answering, aborted, streamAnswer, wholeAnswer } from "./answer.js";
import { ApiError } from "./api-errors.js";
import type { Backend, CompletionJob, CompletionStream } from "./backend.js";
import type { ServerMetrics } from "./metrics.js";
import type { RequestLog, RequestRecord } from "./request-log.js";
import type { CommonBody } from "./schemas.js";
import { finishReason, stops, type Wire } from "./wire.js";

export interface CompletionLimits {
  /** Largest max_tokens a request may ask for. */
  cap: number;
  /** max_tokens when a request gives none. */
  defaultMaxTokens: number;
  /** Retry-After on a 503, in seconds. */
  retryAfter: number;
}

export interface CompletionDeps {
  backend: Backend;
  admission: Admission;
  requests: RequestLog;
  metrics: ServerMetrics;
  limits: CompletionLimits;
}

/** The generation's text and end, timing the wait for a slot ("start") and the first token. */
async function* readEvents(
  result: CompletionStream,
  rec: RequestRecord,
  route: string,
  metrics: ServerMetrics,
): AsyncGenerator<AnswerEvent> {
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

/** The tokens to generate: the body's ask (a 400 past the cap) or the server's default. */
function maxTokens<B extends CommonBody>(wire: Wire<B>, body: B, limits: CompletionLimits): number {
  const { asked, param } = wire.maxTokens(body);
  if (asked !== undefined && asked > limits.cap)
    throw new ApiError(
      400,
      `${param} is ${asked}, above this server's cap of ${limits.cap}: ask for at most ${limits.cap} tokens.`,
      "max_tokens_exceeded",
      param,
    );
  return asked ?? limits.defaultMaxTokens;
}

/** The route handler for one endpoint: one completion request, from admission to its last byte. */
export function completionHandler<B extends CommonBody>(wire: Wire<B>, deps: CompletionDeps) {
  const { backend, admission, requests, metrics, limits } = deps;
  return async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const rec = requests.of(req);
    const body = req.body as B;
    const tokens = maxTokens(wire, body, limits);
    const ac = admission.admit(() => rec.queueMs !== undefined);
    rec.busy = true;
    const onClose = () => {
      if (!reply.raw.writableFinished) ac.abort(CLIENT_GONE);
    };
    reply.raw.once("close", onClose);
    const seed = body.seed ?? randomInt(0, 2 ** 31);
    rec.seed = seed;
    rec.stream = Boolean(body.stream);
    try {
      const job: CompletionJob = {
        ...wire.input(body),
        maxTokens: tokens,
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        seed,
        stop: stops(body.stop),
        steering: body.safesteer ?? {},
        signal: ac.signal,
      };
      const result = await backend.complete(job);
      if (ac.signal.aborted) return aborted(reply, ac.signal, rec, limits.retryAfter);
      rec.decision = result.decision;
      rec.promptTokens = result.promptTokens;
      metrics.decision(result.decision);
      metrics.promptTokens.inc(result.promptTokens);
      const answering: Answering = {
        wire,
        req,
        reply,
        rec,
        result,
        events: readEvents(result, rec, wire.route, metrics),
        signal: ac.signal,
        modelId: backend.modelId,
        retryAfter: limits.retryAfter,
      };
      if (!body.stream) return await wholeAnswer(answering);
      await streamAnswer(answering, Boolean(body.stream_options?.include_usage));
      return reply;
    } catch (e) {
      if (ac.signal.aborted) return aborted(reply, ac.signal, rec, limits.retryAfter);
      throw e;
    } finally {
      reply.raw.off("close", onClose);
      admission.release(ac);
      rec.busy = false;
      requests.finish(req, rec);
    }
  };
}
