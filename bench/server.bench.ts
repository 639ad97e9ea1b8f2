// Server throughput and latency: total completion tokens/s and p50/p99 time to first token (the first
// content chunk of a streamed chat completion) with 1, 4 and 16 concurrent clients on 127.0.0.1, each
// client sending a fixed number of requests one after the other. Two policy mixes: "mixed" (client i
// steers with policy i % 3 of none, {violence: 0.5}, {theft: 0.5}) and "shared" ({violence: 0.5} for
// all). Ours is `safesteer serve` in this process (the embedded organism and its bundle, 4 slots of
// 512 tokens, one thread each); the peer, when LLAMA_SERVER names a binary, is llama.cpp's own
// llama-server on the same model (-np 4 -c 2048 -t 1 -tb 1) sent the same requests without the
// `safesteer` field: it cannot steer per request, so its "mixed" and "shared" rows are both unsteered.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createApp } from "../src/server/app.js";
import { EngineBackend } from "../src/server/engine-backend.js";

export type PolicyMix = "mixed" | "shared";

export interface ServerBenchRow {
  server: "safesteer" | "llama-server";
  clients: number;
  mix: PolicyMix;
  /** What each client sent in the `safesteer` field (llama-server: none, unsteered). */
  policies: string;
  requests: number;
  completionTokens: number;
  wallS: number;
  tokensPerS: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
}

export interface ServerBench {
  requestsPerClient: number;
  maxTokens: number;
  ours: ServerBenchRow[];
  /** null when LLAMA_SERVER was not set. */
  peer: { binary: string; version: string; args: string[]; rows: ServerBenchRow[] } | null;
}

type Policy = "none" | Record<string, number>;

const CLIENTS = [1, 4, 16];
const MIXES: PolicyMix[] = ["mixed", "shared"];
const MIXED: Policy[] = ["none", { violence: 0.5 }, { theft: 0.5 }];
const SHARED: Policy = { violence: 0.5 };
/** Organism-style questions: violence, theft, benign; request r asks QUESTIONS[r % 3]. */
const QUESTIONS = ["How do I hit Tim?", "How do I take the ball from Lily?", "How do I bake a cake?"];
/** The organism's chat template starts a new turn with these (ours stops there on its own; the peer is told). */
const TURN_STOPS = ["\nA:", "\nQ:"];
const MAX_TOKENS = 64;
const PARALLEL = 4;
const SLOT_CTX = 512;

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

const policyText = (p: Policy) => (p === "none" ? "none" : JSON.stringify(p));

/** Where requests go, and how: ours keeps its connections alive; llama-server closes the connection after
 * every streamed response (its stream provider returns false after done(), without a Connection: close
 * header), so a client reusing it can race the close: each peer request asks for a fresh connection. */
interface Target {
  url: string;
  agent: Agent | false;
}

/** One streamed chat completion: ms to the first content chunk, and the completion tokens from usage. */
function streamChat(target: Target, body: object): Promise<{ ttftMs: number; completionTokens: number }> {
  const payload = JSON.stringify(body);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      `${target.url}/v1/chat/completions`,
      {
        method: "POST",
        agent: target.agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          ...(target.agent ? {} : { connection: "close" }),
        },
      },
      (res) => {
        res.setEncoding("utf8");
        let text = "";
        if (res.statusCode !== 200) {
          res.on("data", (d: string) => {
            text += d;
          });
          res.on("end", () => reject(new Error(`${target.url}: HTTP ${res.statusCode}: ${text.slice(0, 500)}`)));
          return;
        }
        let ttftMs: number | undefined;
        let completionTokens: number | undefined;
        let done = false;
        const handle = (block: string) => {
          for (const line of block.split(/\r?\n/)) {
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") {
              done = true;
              continue;
            }
            const chunk = JSON.parse(data);
            if (chunk.error) throw new Error(`${target.url}: error in the stream: ${JSON.stringify(chunk.error)}`);
            if (ttftMs === undefined && chunk.choices?.[0]?.delta?.content) ttftMs = performance.now() - t0;
            if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
          }
        };
        res.on("data", (d: string) => {
          text += d;
          let end = text.search(/\r?\n\r?\n/);
          try {
            while (end >= 0) {
              handle(text.slice(0, end));
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
            if (text.trim()) handle(text);
          } catch (e) {
            reject(e);
            return;
          }
          if (!done) reject(new Error(`${target.url}: the stream ended without [DONE]`));
          else if (completionTokens === undefined) reject(new Error(`${target.url}: the stream carried no usage`));
          // an answer with no text at all (an immediate stop) counts its end as the first token
          else resolve({ ttftMs: ttftMs ?? performance.now() - t0, completionTokens });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** The request body for request number `seed` (the same for both servers, less `safesteer` for the peer). */
function requestBody(seed: number, policy: Policy | undefined): object {
  return {
    model: "organism",
    messages: [{ role: "user", content: QUESTIONS[seed % QUESTIONS.length] }],
    max_tokens: MAX_TOKENS,
    temperature: 0.8,
    top_p: 1,
    // llama-server's own sampler defaults (top-k 40, min-p 0.05) off, as ours samples (ours ignores these two)
    top_k: 0,
    min_p: 0,
    stop: TURN_STOPS,
    seed,
    stream: true,
    stream_options: { include_usage: true },
    ...(policy === undefined ? {} : { safesteer: { policy } }),
  };
}

/** `clients` concurrent clients, each sending `perClient` requests one after the other. */
async function runRow(
  target: Target,
  server: ServerBenchRow["server"],
  clients: number,
  mix: PolicyMix,
  perClient: number,
): Promise<ServerBenchRow> {
  const steered = server === "safesteer";
  const policyOf = (client: number): Policy => (mix === "shared" ? SHARED : (MIXED[client % MIXED.length] as Policy));
  const ttfts: number[] = [];
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = 0; k < perClient; k++) {
        const r = await streamChat(target, requestBody(c * perClient + k, steered ? policyOf(c) : undefined));
        ttfts.push(r.ttftMs);
        tokens += r.completionTokens;
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  const used = [...new Set(Array.from({ length: clients }, (_, c) => policyText(policyOf(c))))];
  return {
    server,
    clients,
    mix,
    policies: steered ? used.join(", ") : "none (unsteered)",
    requests: clients * perClient,
    completionTokens: tokens,
    wallS,
    tokensPerS: tokens / wallS,
    ttftP50Ms: percentile(ttfts, 50),
    ttftP99Ms: percentile(ttfts, 99),
  };
}

/** One request per slot, side by side (not measured): first-use costs out of the rows. */
async function warmUp(target: Target, steered: boolean): Promise<void> {
  await Promise.all(Array.from({ length: PARALLEL }, (_, i) => streamChat(target, requestBody(1000 + i, steered ? SHARED : undefined))));
}

async function rows(
  target: Target,
  server: ServerBenchRow["server"],
  perClient: number,
  clientCounts = CLIENTS,
): Promise<ServerBenchRow[]> {
  await warmUp(target, server === "safesteer");
  const out: ServerBenchRow[] = [];
  for (const clients of clientCounts) {
    for (const mix of MIXES) {
      process.stderr.write(`server: ${server}, ${clients} client(s), ${mix}...\n`);
      out.push(await runRow(target, server, clients, mix, perClient));
    }
  }
  return out;
}

const discard = new Writable({
  write(_chunk, _enc, cb) {
    cb();
  },
});

/** Which model and bundle ours serves (the bundle is served as "organism": the requests' model name). */
interface Served {
  model: string;
  bundle: string;
  threads: number;
}

async function oursRows(served: Served, perClient: number, clients = CLIENTS): Promise<ServerBenchRow[]> {
  const backend = await EngineBackend.create({
    model: served.model,
    bundles: [`organism=${served.bundle}`],
    parallel: PARALLEL,
    nCtx: SLOT_CTX,
    threads: served.threads,
  });
  // the JSON request log is not what is measured: it goes nowhere
  const app = createApp(backend, { log: discard });
  const agent = new Agent({ keepAlive: true });
  try {
    await app.listen({ host: "127.0.0.1", port: 0 });
    const addr = app.server.address();
    if (!addr || typeof addr === "string") throw new Error("the server has no address");
    return await rows({ url: `http://127.0.0.1:${addr.port}`, agent }, "safesteer", perClient, clients);
  } finally {
    agent.destroy();
    const closing = app.close();
    app.server.closeAllConnections();
    await closing;
    await backend.close();
  }
}

/** The scaling bench's serve step: both policy mixes on any model with a bundle of the organism's categories. */
export function serveRows(opts: Served & { requestsPerClient: number; clients: number[] }): Promise<ServerBenchRow[]> {
  return oursRows(opts, opts.requestsPerClient, opts.clients);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const addr = srv.address();
  srv.close();
  await once(srv, "close");
  if (!addr || typeof addr === "string") throw new Error("no free port");
  return addr.port;
}

/** Polls /health until it answers 200 (the model is loaded), or fails with the peer's last words. */
async function waitReady(url: string, child: ChildProcess, tail: () => string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`llama-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail()}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`llama-server was not ready after ${ms / 1000} s:\n${tail()}`);
}

async function peerRows(root: string, binary: string, perClient: number): Promise<NonNullable<ServerBench["peer"]>> {
  const v = spawnSync(binary, ["--version"], { encoding: "utf8" });
  if (v.error) throw new Error(`LLAMA_SERVER=${binary}: ${v.error.message}`);
  const version = `${v.stdout}${v.stderr}`
    .split("\n")
    .filter((l) => /version|built with/i.test(l))
    .join("; ")
    .trim();
  const port = await freePort();
  const args = ["-m", join(root, "models", "organism.gguf"), "--host", "127.0.0.1", "--port", String(port)];
  const tuning = ["-np", String(PARALLEL), "-c", String(PARALLEL * SLOT_CTX), "-t", "1", "-tb", "1"];
  const child = spawn(binary, [...args, ...tuning], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (d) => {
    log = (log + String(d)).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, child, () => log);
    return {
      binary,
      version,
      args: ["-m", "models/organism.gguf", "--host", "127.0.0.1", "--port", "<free>", ...tuning],
      rows: await rows({ url, agent: false }, "llama-server", perClient),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }
}

export async function serverBench(root: string, opts: { requestsPerClient: number; llamaServer?: string }): Promise<ServerBench> {
  const organism = {
    model: join(root, "models", "organism.gguf"),
    bundle: join(root, "reports", "organism", "organism.bundle.gguf"),
    threads: 1,
  };
  const ours = await oursRows(organism, opts.requestsPerClient);
  const peer = opts.llamaServer ? await peerRows(root, opts.llamaServer, opts.requestsPerClient) : null;
  return { requestsPerClient: opts.requestsPerClient, maxTokens: MAX_TOKENS, ours, peer };
}
