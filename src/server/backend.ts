// What the HTTP layer (server/app.ts) needs from the model side (server/engine-backend.ts): a
// request in, a steering decision and a stream of generation events out. The HTTP layer knows
// nothing of llama.cpp; the backend knows nothing of HTTP.
import type { FinishReason } from "../engine/generate.js";
import { SafeSteerError } from "../errors.js";
import type { BundleSummary, SteeringDecision, SteeringRequest } from "./api-types.js";

export type { BundleSummary, SteeringDecision, SteeringRequest };

export interface CompletionJob {
  /** Chat messages (rendered with the model's template) or a plain prompt. */
  messages?: Array<{ role: string; content: string }>;
  prompt?: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop: string[];
  steering: SteeringRequest;
  /** Aborted when the client goes away or the server stops: frees the slot at once. */
  signal: AbortSignal;
}

/** "start": the request got a slot and decoding begins (the time before it is queue wait). */
export type CompletionEvent =
  | { type: "start" }
  | { type: "text"; text: string }
  | { type: "done"; reason: FinishReason; completionTokens: number };

export type RequestErrorCode =
  | "unknown_bundle"
  | "no_bundle"
  | "no_detector"
  | "empty_prompt"
  | "context_length_exceeded"
  | "unknown_neurons"
  | "bad_suppress"
  | "fire_without_conditional";

/** Bad input in a completion request, naming the request field it is about (OpenAI's `param`). */
export class RequestError extends SafeSteerError<RequestErrorCode> {
  constructor(
    code: RequestErrorCode,
    message: string,
    readonly param: string,
  ) {
    super(code, message);
  }
}

export interface CompletionStream {
  decision: SteeringDecision;
  promptTokens: number;
  events: AsyncIterable<CompletionEvent>;
}

export interface PromptReuse {
  /** Reused from the cells the request's slot still held. */
  slot: number;
  /** Loaded from host memory (--cache-ram) into the request's slot. */
  host: number;
  /** Bytes of host memory holding prompts' cells now. */
  cacheBytes: number;
}

export interface Backend {
  /** The model's id in /v1/models and responses. */
  readonly modelId: string;
  /** False while the model loads: /health says "loading" and completions get a 503. */
  readonly ready: boolean;
  /** Requests decoding now, and the most that decode side by side. */
  readonly active: number;
  /** Requests admitted to the scheduler and waiting for a free sequence, first come first served. */
  readonly waiting: number;
  readonly parallel: number;
  /** Prompt tokens not decoded because their K/V cells were reused (from a slot, from host memory), and the host memory holding prompts. */
  readonly promptReuse: PromptReuse;
  /**
   * Checks the request (bundle, policy, prompt length: a SafeSteerError with a clear message on bad
   * input, before any decoding), decides the steering, and starts generating when a slot is free.
   */
  complete(job: CompletionJob): Promise<CompletionStream>;
  bundles(): BundleSummary[];
  /** Re-reads a loaded bundle from its file (an unknown name is a SafeSteerError). */
  reloadBundle(name: string): Promise<BundleSummary>;
  close(): Promise<void>;
}
