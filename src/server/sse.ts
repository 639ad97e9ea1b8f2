// A server-sent event stream on a Fastify reply: the reply's headers (x-request-id, CORS) plus the
// event-stream ones, one `data:` line per event, and backpressure (a slow client holds the writer,
// never a growing buffer). A client gone makes every write a no-op.
import type { FastifyReply } from "fastify";

export interface EventStream {
  /** Writes one event: a string as it is ("[DONE]"), anything else as JSON; waits while the client's buffer is full. */
  send(data: unknown): Promise<void>;
  /** Ends the stream, with a last event if given. */
  end(data?: unknown): void;
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

const event = (data: unknown) => `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

/** Takes the reply over from Fastify and starts the stream (status 200). */
export function openEventStream(reply: FastifyReply): EventStream {
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
  return {
    async send(data) {
      if (raw.destroyed || raw.writableEnded) return;
      if (!raw.write(event(data))) await drained(raw);
    },
    end(data) {
      if (raw.writableEnded) return;
      if (data === undefined) raw.end();
      else raw.end(event(data));
    },
  };
}

/** A last error event on a stream whose headers are already out (there is no status left to set). */
export function endWithError(reply: FastifyReply, body: unknown): void {
  if (!reply.raw.writableEnded) reply.raw.end(event(body));
}
