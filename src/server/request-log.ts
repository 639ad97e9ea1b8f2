// One JSON log line per request, written once its response is over and its work is done (a
// completion's line waits for the generation's end, so its token counts are final), and the
// request counter and latency histogram counted at the same moment. A log that cannot be written
// never takes the server down.
import { performance } from "node:perf_hooks";
import type { Writable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ApiError } from "./api-errors.js";
import type { SteeringDecision } from "./backend.js";
import type { ServerMetrics } from "./metrics.js";

/** What one request's log line reports. */
export interface RequestRecord {
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

/** A fault of the server, as the log keeps it (the client sees a generic message). */
export function internalError(e: unknown): NonNullable<RequestRecord["error"]> {
  return { code: (e as { code?: string }).code ?? null, message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack };
}

const ms = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);

export class RequestLog {
  private readonly records = new WeakMap<FastifyRequest, RequestRecord>();

  constructor(
    private readonly out: Writable,
    private readonly metrics: ServerMetrics,
  ) {}

  /** onRequest hook: starts the request's record and writes its line when the response closes. */
  readonly track = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const rec: RequestRecord = { id: req.id, method: req.method, start: performance.now(), busy: false, closed: false, logged: false };
    this.records.set(req, rec);
    reply.header("x-request-id", req.id);
    reply.raw.once("close", () => {
      rec.closed = true;
      rec.status = reply.raw.writableFinished ? reply.raw.statusCode : 499;
      this.finish(req, rec);
    });
  };

  /** The request's record (every request has one from its first hook on). */
  of(req: FastifyRequest): RequestRecord {
    return this.records.get(req) as RequestRecord;
  }

  /** An error on its way to the client, kept for the log line (a server fault with its details). */
  noteError(req: FastifyRequest, e: unknown, error: ApiError, internal: boolean): void {
    const rec = this.records.get(req);
    if (rec) rec.error = internal ? internalError(e) : { code: error.code, message: error.message };
    else if (internal) this.write({ time: new Date().toISOString(), level: "error", error: String((e as Error)?.stack ?? e) });
  }

  /** The log line and the request counter, once the response is over and the work is done. */
  finish(req: FastifyRequest, rec: RequestRecord): void {
    if (!rec.closed || rec.busy || rec.logged) return;
    rec.logged = true;
    const route = req.routeOptions.url ?? "unmatched";
    const status = rec.status ?? 0;
    const total = performance.now() - rec.start;
    this.metrics.requests.inc({ route, status: String(status) });
    if (rec.decision) this.metrics.latency.observe({ route }, total / 1000);
    this.write({
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
    });
  }

  private write(line: object): void {
    try {
      this.out.write(`${JSON.stringify(line)}\n`);
    } catch {
      // a log that cannot be written must not take the server down
    }
  }
}
