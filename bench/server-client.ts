// The server bench's client: one streamed chat completion, timed to its first content chunk, with the
// completion tokens its usage chunk reports. The same client speaks to ours and to llama-server.
import { type Agent, request } from "node:http";

/** Where requests go, and how: ours keeps its connections alive; llama-server closes the connection after
 * every streamed response (its stream provider returns false after done(), without a Connection: close
 * header), so a client reusing it can race the close: each peer request asks for a fresh connection. */
export interface Target {
  url: string;
  agent: Agent | false;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

interface StreamState {
  ttftMs?: number;
  completionTokens?: number;
  done: boolean;
}

/** One server-sent-events block: the first content chunk's time, the usage, [DONE]; an error chunk throws. */
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
    if (st.ttftMs === undefined && chunk.choices?.[0]?.delta?.content) st.ttftMs = performance.now() - t0;
    if (chunk.usage) st.completionTokens = chunk.usage.completion_tokens;
  }
}

/** One streamed chat completion: ms to the first content chunk, and the completion tokens from usage. */
export function streamChat(target: Target, body: object): Promise<{ ttftMs: number; completionTokens: number }> {
  const payload = JSON.stringify(body);
  const t0 = performance.now();
  const headers = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
    ...(target.agent ? {} : { connection: "close" }),
  };
  return new Promise((resolve, reject) => {
    const req = request(`${target.url}/v1/chat/completions`, { method: "POST", agent: target.agent, headers }, (res) => {
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
        else resolve({ ttftMs: st.ttftMs ?? performance.now() - t0, completionTokens: st.completionTokens });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}
