// Which completion requests the server takes: none while the model loads or the server stops (503),
// none past the decoding slots plus a bounded queue (429 with Retry-After). It counts the requests
// admitted and holds each one's abort controller, so that stopping can refuse those still waiting
// for a slot, cut those decoding, and wait until none is left.
import type { Counter } from "prom-client";
import { ApiError } from "./api-errors.js";
import type { Backend } from "./backend.js";

/** Abort reasons: the client went away, or the server is stopping. */
export const CLIENT_GONE = "client_gone";
export const SHUTDOWN = "shutdown";
/** The server started stopping before this request got a slot. */
export const DRAINED = "drained";

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

/** The one answer to a request that needs the model while it loads. */
export function modelLoading(retryAfter: number): ApiError {
  return new ApiError(503, "The model is still loading: retry in a moment (GET /health says when it is ready).", "model_loading", null, {
    "Retry-After": String(retryAfter),
  });
}

export interface AdmissionOptions {
  /** Requests that may wait for a slot beyond the ones decoding. */
  maxQueue: number;
  /** Retry-After on a 429 or 503, in seconds. */
  retryAfter: number;
}

export class Admission implements ServerControl {
  /** Each completion in flight: its abort controller, and whether it has started decoding. */
  private readonly admitted = new Map<AbortController, () => boolean>();
  private idleWaiters: Array<() => void> = [];
  private stopping = false;

  constructor(
    private readonly backend: Backend,
    private readonly rejected: Counter<"reason">,
    private readonly opts: AdmissionOptions,
  ) {}

  get inFlight(): number {
    return this.admitted.size;
  }

  get draining(): boolean {
    return this.stopping;
  }

  /**
   * Takes one completion request, or throws the 503 or 429 that turns it away. `started` tells
   * whether it has begun decoding (one still waiting is refused when the server starts stopping).
   * The controller aborts its generation; hand it back to release() when the request is over.
   */
  admit(started: () => boolean): AbortController {
    const retryAfter = String(this.opts.retryAfter);
    if (!this.backend.ready) {
      this.rejected.inc({ reason: "loading" });
      throw modelLoading(this.opts.retryAfter);
    }
    if (this.stopping) {
      this.rejected.inc({ reason: "draining" });
      throw new ApiError(503, "The server is shutting down: retry later.", "server_shutting_down", null, {
        "Retry-After": retryAfter,
        Connection: "close",
      });
    }
    const { parallel } = this.backend;
    if (this.inFlight >= parallel + this.opts.maxQueue) {
      this.rejected.inc({ reason: "queue_full" });
      throw new ApiError(
        429,
        `The server is busy (${this.inFlight} requests in flight, ${parallel} decoding and at most ${this.opts.maxQueue} waiting): retry after ${retryAfter} s.`,
        "rate_limit_exceeded",
        null,
        { "Retry-After": retryAfter },
      );
    }
    const ac = new AbortController();
    this.admitted.set(ac, started);
    return ac;
  }

  release(ac: AbortController): void {
    this.admitted.delete(ac);
    if (this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  startDraining(): void {
    this.stopping = true;
    // a request still waiting for a slot would only hold the grace period: it is refused now
    for (const [ac, started] of this.admitted) if (!started()) ac.abort(DRAINED);
  }

  abortAll(): void {
    for (const ac of this.admitted.keys()) ac.abort(SHUTDOWN);
  }

  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
