// Server throughput and latency, ours against llama.cpp's own llama-server built from the same sources,
// side by side in one run: total completion tokens/s and p50/p99 time to first token (the first chunk with
// text of a streamed text completion, POST /v1/completions on both, tokens counted from each server's
// usage) with 1, 4 and 16 concurrent clients on 127.0.0.1, each client sending requests one after the
// other. Policy mixes: "mixed" (client i steers with policy i % 3 of {violence: 0.5}, none, {theft: 0.5}:
// the first client is steered) and "shared" ({violence: 0.5} for all). Ours is `safesteer serve` in this
// process; the peer is llama-server (LLAMA_SERVER, else the one `safesteer engine build --tools` made) on
// the same model, with the same slots, context and threads, sent the same prompts, seeds and sampling
// without the `safesteer` field: it cannot steer per request, so its rows are unsteered. On a random
// model there are no stop strings and the peer may not sample end-of-generation (ours never meets it
// there: each row counts the requests that ended before max_tokens), so both sides generate the same
// number of tokens; nor non-ASCII byte tokens (ServedModel.peerBans: llama-server parses every answer,
// on every endpoint, and answers malformed UTF-8 with HTTP 500). Both servers stay up for the whole
// model, and each row runs on both back to back (which goes first alternates), so a machine whose load
// drifts shifts both columns alike.
import { Agent } from "node:http";
import { Writable } from "node:stream";
import { engineInfo } from "../src/engine/runtime.js";
import { serve } from "../src/server/run.js";
import { percentile, streamCompletion, type Target } from "./server-client.js";
import { organismModel, randomBillionModel, type ServedModel } from "./server-models.js";
import { findLlamaServer, serverVersion, startPeer } from "./server-peer.js";

export type PolicyMix = "mixed" | "shared";

export interface ServerBenchRow {
  server: "safesteer" | "llama-server";
  clients: number;
  mix: PolicyMix;
  /** What each client sent in the `safesteer` field (llama-server: none, unsteered). */
  policies: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Requests that ended before max_tokens (end of generation or a stop string). */
  short: number;
  wallS: number;
  tokensPerS: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  /** Requests that failed (their tokens not counted), and the first error. */
  failed: number;
  firstError?: string;
}

export interface ServerBenchModel {
  label: string;
  model: string;
  nParams: number;
  fileType: string;
  threads: number;
  /** Requests per client, by the number of clients (a row needs enough tokens to time, and no more). */
  requestsPerClient: Record<number, number>;
  maxTokens: number;
  /** Stop strings of every request. */
  stop: string[];
  /** Tokens the peer was told not to sample (ServedModel.peerBans). */
  peerBans: number[];
  ours: ServerBenchRow[];
  /** Row for row beside ours; null when there is no llama-server (peerMissing says why). */
  peer: { binary: string; from: string; version: string; args: string[]; rows: ServerBenchRow[] } | null;
  peerMissing?: string;
}

export interface ServerBench {
  /** The llama.cpp build ours ran ("user-build": the libraries of `safesteer engine build`). */
  engine: { build: string; libraryDir: string };
  models: ServerBenchModel[];
}

type Policy = "none" | Record<string, number>;

const CLIENTS = [1, 4, 16];
/** The first client is steered, so the 1-client row is too. */
const MIXED: Policy[] = [{ violence: 0.5 }, "none", { theft: 0.5 }];
const SHARED: Policy = { violence: 0.5 };
/** Organism-style questions (violence, theft, benign) in its chat format; request r sends PROMPTS[r % 3]. */
const PROMPTS = ["How do I hit Tim?", "How do I take the ball from Lily?", "How do I bake a cake?"].map((q) => `Q: ${q}\nA:`);
/** The organism's chat template starts a new turn with these. */
const TURN_STOPS = ["\nA:", "\nQ:"];
const PARALLEL = 4;
const SLOT_CTX = 512;

const policyText = (p: Policy) => (p === "none" ? "none" : JSON.stringify(p));

interface Asks {
  maxTokens: number;
  stop: string[];
  /** Tokens the peer may not sample. */
  peerBans: number[];
}

/**
 * The request body for request number `seed`: the same prompt, seed and sampling for both servers; ours
 * gets the client's policy, the peer no `safesteer` field and its bans.
 */
function requestBody(seed: number, w: Asks, to: { policy: Policy } | "peer"): object {
  return {
    model: "organism",
    prompt: PROMPTS[seed % PROMPTS.length],
    max_tokens: w.maxTokens,
    temperature: 0.8,
    top_p: 1,
    ...(w.stop.length > 0 ? { stop: w.stop } : {}),
    seed,
    stream: true,
    stream_options: { include_usage: true },
    ...(to === "peer"
      ? // llama-server's own sampler defaults (top-k 40, min-p 0.05) off, as ours samples
        { top_k: 0, min_p: 0, ...(w.peerBans.length > 0 ? { logit_bias: w.peerBans.map((t) => [t, false]) } : {}) }
      : { safesteer: { policy: to.policy } }),
  };
}

interface Load extends Asks {
  clients: number;
  mix: PolicyMix;
  perClient: number;
}

/** `clients` concurrent clients, each sending `perClient` requests one after the other. */
async function runRow(target: Target, server: ServerBenchRow["server"], w: Load): Promise<ServerBenchRow> {
  const steered = server === "safesteer";
  const policyOf = (client: number): Policy => (w.mix === "shared" ? SHARED : (MIXED[client % MIXED.length] as Policy));
  const ttfts: number[] = [];
  let tokens = 0;
  let promptTokens = 0;
  let short = 0;
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: w.clients }, async (_, c) => {
      for (let k = 0; k < w.perClient; k++) {
        try {
          const r = await streamCompletion(target, requestBody(c * w.perClient + k, w, steered ? { policy: policyOf(c) } : "peer"));
          ttfts.push(r.ttftMs);
          tokens += r.completionTokens;
          promptTokens += r.promptTokens;
          if (r.finishReason !== "length") short++;
        } catch (e) {
          failed++;
          firstError ??= (e as Error).message;
        }
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  const used = [...new Set(Array.from({ length: w.clients }, (_, c) => policyText(policyOf(c))))];
  return {
    server,
    clients: w.clients,
    mix: w.mix,
    policies: steered ? used.join(", ") : "none (unsteered)",
    requests: w.clients * w.perClient,
    promptTokens,
    completionTokens: tokens,
    short,
    wallS,
    tokensPerS: tokens / wallS,
    ttftP50Ms: percentile(ttfts, 50),
    ttftP99Ms: percentile(ttfts, 99),
    failed,
    ...(firstError ? { firstError } : {}),
  };
}

/** One request per slot, side by side (not measured): first-use costs out of the rows. A failed one is
 * the rows' business (they count failures), not the warm-up's. */
async function warmUp(target: Target, steered: boolean, w: Asks): Promise<void> {
  await Promise.allSettled(
    Array.from({ length: PARALLEL }, (_, i) => streamCompletion(target, requestBody(1000 + i, w, steered ? { policy: SHARED } : "peer"))),
  );
}

const discard = new Writable({
  write(_chunk, _enc, cb) {
    cb();
  },
});

/** Ours on a model and bundle (served as "organism"), listening on a free port of 127.0.0.1. */
async function startOurs(served: { model: string; bundle: string; threads: number }) {
  const running = await serve({
    model: served.model,
    bundles: [`organism=${served.bundle}`],
    parallel: PARALLEL,
    nCtx: SLOT_CTX,
    threads: served.threads,
    host: "127.0.0.1",
    port: 0,
    // the JSON request log is not what is measured: it goes nowhere
    log: discard,
    ui: false,
    // 16 clients on 4 slots: 12 wait, none may be turned away
    maxQueue: 64,
  });
  const agent = new Agent({ keepAlive: true });
  const close = async () => {
    agent.destroy();
    await running.close();
  };
  return { target: { url: running.url, agent } as Target, close };
}

/** The scaling bench's serve step: ours alone, on any model with a bundle of the organism's categories. */
export async function serveRows(opts: {
  model: string;
  bundle: string;
  threads: number;
  requestsPerClient: number;
  maxTokens: number;
  clients: number[];
  mixes: PolicyMix[];
}): Promise<ServerBenchRow[]> {
  const ours = await startOurs(opts);
  try {
    const w = { maxTokens: opts.maxTokens, stop: [], peerBans: [] };
    // first-use costs only: a few tokens each
    await warmUp(ours.target, true, { ...w, maxTokens: 8 });
    const out: ServerBenchRow[] = [];
    for (const clients of opts.clients)
      for (const mix of opts.mixes)
        out.push(await runRow(ours.target, "safesteer", { clients, mix, perClient: opts.requestsPerClient, ...w }));
    return out;
  } finally {
    await ours.close();
  }
}

interface Workload {
  served: ServedModel;
  threads: number;
  /** Requests per client, by the number of clients. */
  perClient: Record<number, number>;
  maxTokens: number;
  stop: string[];
  mixes: PolicyMix[];
}

/** Both servers up on one model; every row on each, back to back, the first alternating. */
async function benchModel(w: Workload, log: (s: string) => void): Promise<ServerBenchModel> {
  const found = findLlamaServer();
  const ours = await startOurs({ ...w.served, threads: w.threads });
  const peer =
    "binary" in found
      ? await startPeer(found.binary, w.served.model, { parallel: PARALLEL, slotCtx: SLOT_CTX, threads: w.threads })
      : undefined;
  const peerTarget: Target | undefined = peer ? { url: peer.url, agent: false } : undefined;
  const rows: ServerBenchRow[] = [];
  const peerRows: ServerBenchRow[] = [];
  try {
    const asks = { maxTokens: w.maxTokens, stop: w.stop, peerBans: w.served.peerBans };
    await warmUp(ours.target, true, asks);
    if (peerTarget) await warmUp(peerTarget, false, asks);
    let i = 0;
    for (const clients of CLIENTS) {
      for (const mix of w.mixes) {
        const load = { clients, mix, perClient: w.perClient[clients] ?? 1, ...asks };
        log(`${w.served.label}: ${clients} client(s), ${mix}`);
        if (peerTarget && i % 2 === 1) peerRows.push(await runRow(peerTarget, "llama-server", load));
        rows.push(await runRow(ours.target, "safesteer", load));
        if (peerTarget && i % 2 === 0) peerRows.push(await runRow(peerTarget, "llama-server", load));
        i++;
      }
    }
  } finally {
    await peer?.stop();
    await ours.close();
  }
  const { label, model, nParams, fileType } = w.served;
  const base = {
    label,
    model,
    nParams,
    fileType,
    threads: w.threads,
    requestsPerClient: w.perClient,
    maxTokens: w.maxTokens,
    stop: w.stop,
    peerBans: w.served.peerBans,
    ours: rows,
  };
  if (!peer || !("binary" in found)) return { ...base, peer: null, peerMissing: "missing" in found ? found.missing : undefined };
  const args = ["-m", "<model>", "--host", "127.0.0.1", "--port", "<free>", ...peer.tuning];
  return { ...base, peer: { binary: found.binary, from: found.from, version: serverVersion(found.binary), args, rows: peerRows } };
}

/**
 * The organism (1 thread each, both mixes, its turn markers as stop strings) and, unless `small`, a ~1B
 * random llama model in Q4_K_M (`threads` each, mixed policies, no stop strings, fewer and shorter
 * requests: a 2-core machine decodes it at a few tokens per second; 4, 2 and 1 requests per client at
 * 1, 4 and 16 clients, about 15 minutes under load). `bigOnly`: the random model alone.
 */
export async function serverBench(
  root: string,
  opts: { requestsPerClient: number; small?: boolean; bigOnly?: boolean; cache: string; threads: number; log: (s: string) => void },
): Promise<ServerBench> {
  const models: ServerBenchModel[] = [];
  if (!opts.bigOnly) {
    const organism = organismModel(root);
    const n = opts.requestsPerClient;
    const w = { served: organism, threads: 1, perClient: { 1: n, 4: n, 16: n }, maxTokens: 64, stop: TURN_STOPS };
    models.push(await benchModel({ ...w, mixes: ["mixed", "shared"] }, opts.log));
  }
  if (!opts.small) {
    const big = await randomBillionModel(opts.cache, opts.threads, opts.log);
    const w = { served: big, threads: opts.threads, perClient: { 1: 4, 4: 2, 16: 1 }, maxTokens: 32, stop: [] };
    models.push(await benchModel({ ...w, mixes: ["mixed"] }, opts.log));
  }
  const e = engineInfo();
  return { engine: { build: e.build, libraryDir: e.libraryDir }, models };
}

/** One markdown table per model: ours and llama-server row for row, with ours/peer ratios. */
export function serverTable(b: ServerBench): string {
  const f = (x: number) => x.toFixed(1);
  const ms = (x: number) => x.toFixed(0);
  const out: string[] = [];
  for (const m of b.models) {
    const per = [...new Set(Object.values(m.requestsPerClient))];
    const perText =
      per.length === 1
        ? `${per[0]}`
        : Object.entries(m.requestsPerClient)
            .map(([c, n]) => `${n} at ${c}`)
            .join(", ");
    const stops = m.stop.length > 0 ? `stop ${JSON.stringify(m.stop)}` : "no stop strings";
    out.push(
      `\n${m.label} (${(m.nParams / 1e9).toFixed(m.nParams < 1e7 ? 4 : 2)}B parameters, ${m.fileType}): ${perText} streamed text completions per client, one after the other, max_tokens ${m.maxTokens}, ${stops}, ${PARALLEL} slots x ${SLOT_CTX} tokens, ${m.threads} thread(s); ours: ${b.engine.build} llama.cpp (${b.engine.libraryDir})`,
    );
    out.push(
      m.peer
        ? `llama-server (${m.peer.from}: ${m.peer.binary}; ${m.peer.version}) ${m.peer.args.join(" ")}, the same requests without \`safesteer\`${m.peerBans.length > 0 ? `, ${m.peerBans.length} tokens banned (end of generation; bytes 0x80-0xFF)` : ""}: unsteered`
        : `llama-server: missing (${m.peerMissing ?? "not run"})`,
    );
    const head = [
      "clients",
      "policy mix (ours)",
      "requests",
      "tokens ours",
      "tok/s ours",
      "TTFT p50/p99 ms ours",
      "tokens peer",
      "tok/s peer",
      "TTFT p50/p99 ms peer",
      "tok/s ours/peer",
    ];
    out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
    const count = (r: ServerBenchRow) =>
      `${r.completionTokens}${r.short ? ` (${r.short} short)` : ""}${r.failed ? ` (${r.failed} failed)` : ""}`;
    for (const [i, r] of m.ours.entries()) {
      const p = m.peer?.rows[i];
      const mix = `${r.mix} (${r.policies})`;
      const peerCells = p
        ? [count(p), f(p.tokensPerS), `${ms(p.ttftP50Ms)} / ${ms(p.ttftP99Ms)}`, (r.tokensPerS / p.tokensPerS).toFixed(2)]
        : ["missing", "missing", "missing", "missing"];
      out.push(
        `| ${[r.clients, mix, r.requests, count(r), f(r.tokensPerS), `${ms(r.ttftP50Ms)} / ${ms(r.ttftP99Ms)}`, ...peerCells].join(" | ")} |`,
      );
    }
  }
  return out.join("\n");
}
