// POST /v1/completions: a plain prompt in (the first, when a list is given), text out; streamed as
// text_completion chunks, the first one empty.
import { type CompletionBody, completionSchema } from "./schemas.js";
import type { Wire } from "./wire.js";

export const textWire: Wire<CompletionBody> = {
  route: "/v1/completions",
  schema: completionSchema,
  idPrefix: "cmpl",
  object: "text_completion",
  chunkObject: "text_completion",
  input: (body) => ({ prompt: typeof body.prompt === "string" ? body.prompt : body.prompt[0] }),
  maxTokens: (body) => ({ asked: body.max_tokens ?? undefined, param: "max_tokens" }),
  choice: (text, finish) => ({ index: 0, text, logprobs: null, finish_reason: finish }),
  chunkChoice: (part) => ({
    index: 0,
    text: "text" in part ? part.text : "",
    logprobs: null,
    finish_reason: "finish" in part ? part.finish : null,
  }),
};
