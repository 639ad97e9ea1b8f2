// How an example becomes tokens: the model's chat template (prompt as the user turn, response as
// the assistant turn), or plain text for models without a template.

import type { Example } from "../data/example.js";
import type { Model } from "../engine/model.js";

export type ChatMode = "auto" | "always" | "never";

/** Whether examples are rendered with the chat template: auto = when the model has one. */
export function usesChat(model: Model, mode: ChatMode): boolean {
  return mode === "always" || (mode === "auto" && model.info.chatTemplate !== undefined);
}

/** An earlier turn of a chat: the user's message and the assistant's answer. */
export interface ChatTurn {
  user: string;
  assistant: string;
}

/** The example with its earlier turns (oldest first), when it has any, rendered before its own turn. */
export function renderExample(model: Model, ex: Pick<Example, "prompt" | "response"> & { history?: ChatTurn[] }, chat: boolean): number[] {
  const earlier = ex.history ?? [];
  if (!chat) {
    const text = [...earlier.flatMap((t) => [t.user, t.assistant]), ex.prompt, ...(ex.response ? [ex.response] : [])].join("\n");
    return model.tokenize(text);
  }
  const messages = [
    ...earlier.flatMap((t) => [
      { role: "user", content: t.user },
      { role: "assistant", content: t.assistant },
    ]),
    { role: "user", content: ex.prompt },
  ];
  if (ex.response) messages.push({ role: "assistant", content: ex.response });
  return model.tokenizeChat(messages, { addAssistant: !ex.response });
}
