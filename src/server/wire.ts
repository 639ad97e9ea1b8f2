// What differs between OpenAI's two completion endpoints, as data: each endpoint (chat-wire.ts,
// text-wire.ts) says where its prompt and token limit are in the body and how its answer and its
// stream chunks are shaped. Everything else, admission to the last byte, is one path (completion.ts).
import type { FinishReason } from "../engine/generate.js";
import type { CompletionJob } from "./backend.js";
import type { CommonBody } from "./schemas.js";

export type WireFinish = "stop" | "length";

/** One piece of a streamed answer: the opening chunk (role), a piece of text, or the end. */
export type ChunkPart = { open: true } | { text: string } | { finish: WireFinish };

export interface Wire<B extends CommonBody = CommonBody> {
  route: string;
  /** The body's JSON schema (Fastify checks it before the handler runs). */
  schema: object;
  /** The answer's id is `${idPrefix}-${request id}`. */
  idPrefix: string;
  /** The answer's `object`, whole and streamed. */
  object: string;
  chunkObject: string;
  /** The prompt: chat messages or text. */
  input(body: B): Pick<CompletionJob, "messages" | "prompt">;
  /** The tokens asked for (if any) and the field that asked, for the error past the cap. */
  maxTokens(body: B): { asked: number | undefined; param: string };
  /** The one choice of a whole answer. */
  choice(text: string, finish: WireFinish): object;
  /** The one choice of a stream chunk. */
  chunkChoice(part: ChunkPart): object;
}

/** The engine's reasons, in OpenAI's words: a full context is "length" too. */
export function finishReason(r: FinishReason): WireFinish {
  return r === "length" || r === "context" ? "length" : "stop";
}

/** `stop` as a list (OpenAI takes one string or several). */
export function stops(stop: string | string[] | null | undefined): string[] {
  if (stop === null || stop === undefined) return [];
  return typeof stop === "string" ? [stop] : stop;
}
