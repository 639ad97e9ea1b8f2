// How an example becomes tokens: the model's chat template (prompt as the user turn, response as
// the assistant turn), or plain text for models without a template.

import type { Example } from "../data/example.js";
import type { Model } from "../engine/model.js";

export type ChatMode = "auto" | "always" | "never";

/** Whether examples are rendered with the chat template: auto = when the model has one. */
export function usesChat(model: Model, mode: ChatMode): boolean {
  return mode === "always" || (mode === "auto" && model.info.chatTemplate !== undefined);
}

export function renderExample(model: Model, ex: Pick<Example, "prompt" | "response">, chat: boolean): number[] {
  if (!chat) return model.tokenize(ex.response ? `${ex.prompt}\n${ex.response}` : ex.prompt);
  const messages = [{ role: "user", content: ex.prompt }];
  if (ex.response) messages.push({ role: "assistant", content: ex.response });
  const text = model.applyChatTemplate(messages, { addAssistant: !ex.response });
  // templates write BOS themselves when they want it
  return model.tokenize(text, { addSpecial: false, parseSpecial: true });
}
