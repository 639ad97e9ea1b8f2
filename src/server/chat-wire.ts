// POST /v1/chat/completions: messages in (rendered with the model's chat template), an assistant
// message out; streamed as chat.completion.chunk deltas, the first one opening the assistant's turn.
import { type ChatBody, chatSchema } from "./schemas.js";
import type { Wire } from "./wire.js";

export const chatWire: Wire<ChatBody> = {
  route: "/v1/chat/completions",
  schema: chatSchema,
  idPrefix: "chatcmpl",
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  input: (body) => ({
    messages: body.messages.map((m) => ({
      role: m.role === "developer" ? "system" : m.role,
      content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
    })),
  }),
  maxTokens: (body) => ({
    asked: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    param: body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
  }),
  choice: (text, finish) => ({
    index: 0,
    message: { role: "assistant", content: text, refusal: null },
    logprobs: null,
    finish_reason: finish,
  }),
  chunkChoice: (part) => ({
    index: 0,
    delta: "open" in part ? { role: "assistant", content: "" } : "text" in part ? { content: part.text } : {},
    logprobs: null,
    finish_reason: "finish" in part ? part.finish : null,
  }),
};
