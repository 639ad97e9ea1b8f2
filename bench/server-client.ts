// The server bench's client: one streamed text completion (POST /v1/completions), timed to its first
// chunk with text, with the tokens its usage reports and how it finished. The same client speaks to ours
// and to llama-server, which count tokens the same way (usage.completion_tokens: tokens sampled).
import { type Agent, request } from "node:http";

/** Where requests go, and how: ours keeps its connections alive; llama-server closes the connection after
 * every streamed response (its stream provider returns false after done(), without a Connection: close
 * header), so a client reusing it can race the close: each peer request asks for a fresh connection. */
export interface Target {
  url: string;
  agent: Agent | false;
  /** The server's process, for its CPU time (none: ours in the bench's own process). */
  pid?: number;
}

interface StreamState {
  ttftMs?: number;
  completionTokens?: number;
  promptTokens?: number;
  finishReason?: string;
  done: boolean;
}

export interface Completion {
  ttftMs: number;
  completionTokens: number;
  promptTokens: number;
  /** "length" when it ran to max_tokens. */
  finishReason: string;
}

/** One server-sent-events block: the first text chunk's time, the usage, the finish, [DONE]; an error chunk throws. */
function handleBlock(url: string, block: string, st: StreamState, t0: number): void {
  for (const line of block.split(/\r?\n/)) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (data === "[DONE]") {
      st.done = true;
      continue;
    }
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(`${url}: error in the stream: ${JSON.stringify(chunk.error)}`);
    const choice = chunk.choices?.[0];
    if (st.ttftMs === undefined && choice?.text) st.ttftMs = performance.now() - t0;
    if (choice?.finish_reason) st.finishReason = choice.finish_reason;
    if (chunk.usage) {
      st.completionTokens = chunk.usage.completion_tokens;
      st.promptTokens = chunk.usage.prompt_tokens;
    }
  }
}

/** One streamed text completion: ms to the first chunk with text, the tokens from usage, the finish. */
export function streamCompletion(target: Target, body: object): Promise<Completion> {
  const payload = JSON.stringify(body);
  const t0 = performance.now();
  const headers = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
    ...(target.agent ? {} : { connection: "close" }),
  };
  return new Promise((resolve, reject) => {
    const req = request(`${target.url}/v1/completions`, { method: "POST", agent: target.agent, headers }, (res) => {
      res.setEncoding("utf8");
      let text = "";
      if (res.statusCode !== 200) {
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => reject(new Error(`${target.url}: HTTP ${res.statusCode}: ${text.slice(0, 500)}`)));
        return;
      }
      const st: StreamState = { done: false };
      res.on("data", (d: string) => {
        text += d;
        let end = text.search(/\r?\n\r?\n/);
        try {
          while (end >= 0) {
            handleBlock(target.url, text.slice(0, end), st, t0);
            text = text.slice(end).replace(/^\r?\n\r?\n/, "");
            end = text.search(/\r?\n\r?\n/);
          }
        } catch (e) {
          res.destroy();
          reject(e);
        }
      });
      res.on("end", () => {
        try {
          if (text.trim()) handleBlock(target.url, text, st, t0);
        } catch (e) {
          reject(e);
          return;
        }
        if (!st.done) reject(new Error(`${target.url}: the stream ended without [DONE]`));
        else if (st.completionTokens === undefined) reject(new Error(`${target.url}: the stream carried no usage`));
        // an answer with no text at all (an immediate stop) counts its end as the first token
        else
          resolve({
            ttftMs: st.ttftMs ?? performance.now() - t0,
            completionTokens: st.completionTokens,
            promptTokens: st.promptTokens ?? Number.NaN,
            finishReason: st.finishReason ?? "unknown",
          });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}
