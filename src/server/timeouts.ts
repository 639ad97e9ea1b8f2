// How long a client may take to send its request, how many connections the server holds, and the
// errors Node's HTTP parser raises before Fastify sees a request (a bad Content-Length, a garbage
// request line, headers over the limit, a request not received in time), answered in OpenAI's
// error JSON like every other error. A slow or stalled client cannot hold a connection open: its
// request is cut with a 408 once requestTimeoutMs has passed (Node checks every checkIntervalMs).
import type { Socket } from "node:net";
import { ApiError } from "./api-errors.js";

export interface TimeoutOptions {
  /** The whole request (headers and body) must arrive within this (default 30 s): past it, 408. */
  requestTimeoutMs?: number;
  /** The headers must arrive within this (default 10 s, at most requestTimeoutMs): past it, 408. */
  headersTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** Connections held at once (default 1024): past it, new ones are closed at once. */
  maxConnections?: number;
}

export interface ServerLimits {
  requestTimeout: number;
  keepAliveTimeout: number;
  /** Node's http.createServer options (Fastify passes them on). */
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
  maxConnections: number;
}

/**
 * The Fastify and Node settings for the given limits, checked. Node looks for expired requests
 * every connectionsCheckingInterval, so its own timeouts are set that much shorter: a request is
 * cut at most requestTimeoutMs (headers: headersTimeoutMs) after it began, never later.
 */
export function serverLimits(o: TimeoutOptions = {}): ServerLimits {
  const requestTimeout = o.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(o.headersTimeoutMs ?? 10_000, requestTimeout);
  for (const [name, v] of Object.entries({ requestTimeout, headersTimeout, maxConnections: o.maxConnections ?? 1 })) {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`${name} must be a positive whole number, got ${v}.`);
  }
  const interval = Math.max(5, Math.min(1000, Math.floor(headersTimeout / 4)));
  const nodeRequest = Math.max(1, requestTimeout - interval);
  return {
    requestTimeout: nodeRequest,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? 5000,
    http: {
      headersTimeout: Math.min(Math.max(1, headersTimeout - interval), nodeRequest),
      requestTimeout: nodeRequest,
      connectionsCheckingInterval: interval,
    },
    maxConnections: o.maxConnections ?? 1024,
  };
}

/** Node's parser errors -> [status, message, code]; anything else is a plain 400. */
function parserError(code: string | undefined, t: { requestMs: number; headersMs: number }): ApiError {
  switch (code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new ApiError(
        408,
        `The request was not received in time (its headers within ${t.headersMs / 1000} s, all of it within ${t.requestMs / 1000} s): send the whole request at once.`,
        "request_timeout",
      );
    case "HPE_HEADER_OVERFLOW":
      return new ApiError(431, "The request headers are too large: send smaller headers (at most 16 KB).", "headers_too_large");
    case "HPE_INVALID_CONTENT_LENGTH":
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
      return new ApiError(400, "The Content-Length header is not valid: send the body's length in bytes.", "bad_content_length");
    default:
      return new ApiError(400, "The request is not valid HTTP/1.1: check the request line and headers.", "bad_request");
  }
}

/** Fastify's clientErrorHandler: the parser's error in OpenAI's error JSON, then the connection closes. */
export function clientErrorHandler(t: { requestMs: number; headersMs: number }) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    // a response already under way (its headers sent) cannot take another status line
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const e = parserError(err.code, t);
      const body = JSON.stringify(e.body());
      socket.write(
        `HTTP/1.1 ${e.status} ${e.status === 408 ? "Request Timeout" : e.status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
