// The playground's calls to its own server: the bundle list and streamed chat completions (OpenAI's
// server-sent events; the first chunk carries SafeSteer's steering decision).
import type { BundleSummary, SteeringDecision, SteeringRequest } from "../../src/server/api-types.js";

export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

export interface Sampling {
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
}

/** A failed call, with the server's own message (OpenAI's error JSON) when it sent one. */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const headers = (key: string) => ({ "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) });

async function failure(res: Response): Promise<ApiFailure> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    if (body.error?.message) message = body.error.message;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiFailure(message, res.status);
}

export async function listBundles(key: string): Promise<BundleSummary[]> {
  const res = await fetch("/admin/bundles", { headers: headers(key) });
  if (!res.ok) throw await failure(res);
  return ((await res.json()) as { data: BundleSummary[] }).data;
}

export async function modelId(key: string): Promise<string> {
  const res = await fetch("/v1/models", { headers: headers(key) });
  if (!res.ok) throw await failure(res);
  return ((await res.json()) as { data: Array<{ id: string }> }).data[0]?.id ?? "";
}

export interface StreamHandlers {
  onDecision(d: SteeringDecision): void;
  onText(t: string): void;
}

/** Streams one chat answer; resolves with the finish reason. */
export async function streamChat(
  messages: ChatMessage[],
  sampling: Sampling,
  steering: SteeringRequest,
  key: string,
  signal: AbortSignal,
  on: StreamHandlers,
): Promise<string> {
  const res = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers(key),
    signal,
    body: JSON.stringify({
      messages,
      stream: true,
      temperature: sampling.temperature,
      top_p: sampling.topP,
      max_tokens: sampling.maxTokens,
      seed: sampling.seed,
      safesteer: steering,
    }),
  });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let finish = "stop";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut = buffer.indexOf("\n\n");
    while (cut >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      cut = buffer.indexOf("\n\n");
      const data = event.replace(/^data: ?/, "");
      if (data === "[DONE]") return finish;
      const chunk = JSON.parse(data) as {
        error?: { message: string };
        safesteer?: SteeringDecision;
        choices?: Array<{ delta?: { content?: string }; finish_reason?: string | null }>;
      };
      if (chunk.error) throw new ApiFailure(chunk.error.message, 500);
      if (chunk.safesteer) on.onDecision(chunk.safesteer);
      const c = chunk.choices?.[0];
      if (c?.delta?.content) on.onText(c.delta.content);
      if (c?.finish_reason) finish = c.finish_reason;
    }
  }
  return finish;
}
