// Writing one generation back to its client in an endpoint's wire format: whole (one JSON body) or
// streamed (server-sent events: the steering decision first, then the text, the end, the usage and
// [DONE]), or, when it was cut short, the error that says why.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { FinishReason } from "../engine/generate.js";
import { CLIENT_GONE, DRAINED } from "./admission.js";
import { ApiError, toApiError } from "./api-errors.js";
import type { CompletionEvent, CompletionStream } from "./backend.js";
import { internalError, type RequestRecord } from "./request-log.js";
import { endWithError, openEventStream } from "./sse.js";
import { finishReason, type Wire } from "./wire.js";

/** What an answer is made of: the backend's events past the slot's "start". */
export type AnswerEvent = Exclude<CompletionEvent, { type: "start" }>;

/** One generation on its way to the client. */
export interface Answering {
  wire: Wire<never>;
  req: FastifyRequest;
  reply: FastifyReply;
  rec: RequestRecord;
  result: CompletionStream;
  events: AsyncIterable<AnswerEvent>;
  signal: AbortSignal;
  modelId: string;
  /** Retry-After on a 503, in seconds. */
  retryAfter: number;
}

const usage = (promptTokens: number, completionTokens: number) => ({
  prompt_tokens: promptTokens,
  completion_tokens: completionTokens,
  total_tokens: promptTokens + completionTokens,
});

/** A generation cut short: by its client (nothing more to send) or by the server stopping. */
export function aborted(reply: FastifyReply, signal: AbortSignal, rec: RequestRecord, retryAfter: number): FastifyReply {
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
    endWithError(reply, e.body());
    return reply;
  }
  return reply.code(503).headers(e.headers).header("Connection", "close").send(e.body());
}

/** The whole answer as one JSON body, once the generation is over. */
export async function wholeAnswer(a: Answering): Promise<unknown> {
  let text = "";
  let reason: FinishReason = "eog";
  let completionTokens = 0;
  for await (const e of a.events) {
    if (e.type === "text") text += e.text;
    else {
      reason = e.reason;
      completionTokens = e.completionTokens;
    }
  }
  if (a.signal.aborted || reason === "aborted") return aborted(a.reply, a.signal, a.rec, a.retryAfter);
  return {
    id: `${a.wire.idPrefix}-${a.req.id}`,
    object: a.wire.object,
    created: Math.floor(Date.now() / 1000),
    model: a.modelId,
    choices: [a.wire.choice(text, finishReason(reason))],
    usage: usage(a.result.promptTokens, completionTokens),
    safesteer: a.result.decision,
  };
}

/** The answer as server-sent events, chunk by chunk as the text comes. */
export async function streamAnswer(a: Answering, includeUsage: boolean): Promise<void> {
  const out = openEventStream(a.reply);
  const head = {
    id: `${a.wire.idPrefix}-${a.req.id}`,
    object: a.wire.chunkObject,
    created: Math.floor(Date.now() / 1000),
    model: a.modelId,
  };
  const usageNull = includeUsage ? { usage: null } : {};
  // the first chunk carries the steering decision, before any text
  await out.send({ ...head, choices: [a.wire.chunkChoice({ open: true })], ...usageNull, safesteer: a.result.decision });
  let done: Extract<CompletionEvent, { type: "done" }> | undefined;
  try {
    for await (const e of a.events) {
      if (e.type === "text") {
        if (e.text) await out.send({ ...head, choices: [a.wire.chunkChoice({ text: e.text })], ...usageNull });
      } else done = e;
    }
  } catch (e) {
    if (a.signal.aborted) throw e;
    // the headers are out: the error goes in the stream, its details to the log
    a.rec.error = internalError(e);
    out.end(toApiError(new Error("generation failed")).error.body());
    return;
  }
  if (a.signal.aborted || !done || done.reason === "aborted") {
    if (a.signal.aborted) aborted(a.reply, a.signal, a.rec, a.retryAfter);
    else out.end();
    return;
  }
  await out.send({ ...head, choices: [a.wire.chunkChoice({ finish: finishReason(done.reason) })], ...usageNull });
  if (includeUsage) await out.send({ ...head, choices: [], usage: usage(a.result.promptTokens, done.completionTokens) });
  await out.send("[DONE]");
  out.end();
}
