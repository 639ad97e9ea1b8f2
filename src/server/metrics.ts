// The server's Prometheus metrics, in a registry of its own (never prom-client's global one, so two
// servers in one process, as in the tests, never share or clash).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { PromptReuse, SteeringDecision } from "./backend.js";

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<"route" | "status">;
  promptTokens: Counter;
  completionTokens: Counter;
  timeToFirstToken: Histogram<"route">;
  queueWait: Histogram<"route">;
  latency: Histogram<"route">;
  steering: Counter<"mode">;
  steered: Counter<"category" | "mode">;
  fired: Counter<"category">;
  rejected: Counter<"reason">;
  /** Counts one request's steering decision. */
  decision(d: SteeringDecision): void;
}

/** Live values read at scrape time: requests admitted, waiting for a slot, decoding. */
export interface LiveCounts {
  inFlight(): number;
  queued(): number;
  decoding(): number;
  promptReuse(): PromptReuse;
}

export function createMetrics(live: LiveCounts): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "safesteer_" });
  const registers = [registry];
  const m: ServerMetrics = {
    registry,
    requests: new Counter({
      name: "safesteer_http_requests_total",
      help: "HTTP requests by route and status (499: the client went away first)",
      labelNames: ["route", "status"],
      registers,
    }),
    promptTokens: new Counter({ name: "safesteer_prompt_tokens_total", help: "Prompt tokens of served completions", registers }),
    completionTokens: new Counter({ name: "safesteer_completion_tokens_total", help: "Generated tokens", registers }),
    timeToFirstToken: new Histogram({
      name: "safesteer_time_to_first_token_seconds",
      help: "From the request's arrival to its first generated text",
      labelNames: ["route"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    queueWait: new Histogram({
      name: "safesteer_queue_wait_seconds",
      help: "From the request's arrival until a slot was free to decode it",
      labelNames: ["route"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    latency: new Histogram({
      name: "safesteer_request_duration_seconds",
      help: "Completion requests, from arrival to the last byte",
      labelNames: ["route"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    steering: new Counter({
      name: "safesteer_steering_decisions_total",
      help: "Steering decisions by mode (none, policy, conditional)",
      labelNames: ["mode"],
      registers,
    }),
    steered: new Counter({
      name: "safesteer_steered_categories_total",
      help: "Requests steered per category, by mode",
      labelNames: ["category", "mode"],
      registers,
    }),
    fired: new Counter({
      name: "safesteer_detector_fired_total",
      help: "Conditional mode: prompts in which the detector found each category",
      labelNames: ["category"],
      registers,
    }),
    rejected: new Counter({
      name: "safesteer_rejected_total",
      help: "Completion requests turned away before decoding (queue_full, draining)",
      labelNames: ["reason"],
      registers,
    }),
    decision(d) {
      m.steering.inc({ mode: d.mode });
      for (const category of new Set(d.steered.map((s) => s.category))) m.steered.inc({ category, mode: d.mode });
      for (const category of d.fired ?? []) m.fired.inc({ category });
    },
  };
  liveMetrics(registry, live);
  return m;
}

/** Gauges and counters read from the server at scrape time. */
function liveMetrics(registry: Registry, live: LiveCounts): void {
  const registers = [registry];
  new Gauge({
    name: "safesteer_requests_in_flight",
    help: "Completion requests admitted and not yet finished",
    registers,
    collect() {
      this.set(live.inFlight());
    },
  });
  new Gauge({
    name: "safesteer_queue_depth",
    help: "Completion requests admitted and waiting for a free slot",
    registers,
    collect() {
      this.set(live.queued());
    },
  });
  new Gauge({
    name: "safesteer_slots_busy",
    help: "Slots decoding now",
    registers,
    collect() {
      this.set(live.decoding());
    },
  });
  // the scheduler keeps running totals: each scrape adds what they grew by
  const counted = { slot: 0, host: 0 };
  new Counter({
    name: "safesteer_prompt_tokens_reused_total",
    help: "Prompt tokens not decoded because their K/V cells were reused: from the request's slot, or loaded from host memory (--cache-ram)",
    labelNames: ["source"],
    registers,
    collect() {
      const now = live.promptReuse();
      for (const source of ["slot", "host"] as const) {
        if (now[source] > counted[source]) this.inc({ source }, now[source] - counted[source]);
        counted[source] = now[source];
      }
    },
  });
  new Gauge({
    name: "safesteer_prompt_cache_bytes",
    help: "Host memory holding prompts' K/V cells (--cache-ram)",
    registers,
    collect() {
      this.set(live.promptReuse().cacheBytes);
    },
  });
}
