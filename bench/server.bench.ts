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
// model, ours in a process of its own as the peer is (bench/server-ours.ts), and each row runs as pairs
// of short blocks, one on each, back to back (which goes first alternates): the row reports the median
// of the per-pair ratios and their range, so load that drifts within a row moves both blocks of a pair
// alike; each block also has the server's CPU seconds (all its threads), which load moves far less.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { Agent } from "node:http";
import { loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { engineInfo } from "../src/engine/runtime.js";
import { serve } from "../src/server/run.js";
import { streamCompletion, type Target } from "./server-client.js";
import { organismModel, randomBillionModel, type ServedModel } from "./server-models.js";
import { findLlamaServer, serverVersion, startPeer, superviseChild } from "./server-peer.js";
import { percentile, spread } from "./stats.js";

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
  /** CPU seconds the server process (all its threads) spent on the block (NaN where /proc is missing). */
  serverCpuS: number;
  /** Each request's time to first token, in the order they ended. */
  ttftsMs: number[];
  /** Requests that failed (their tokens not counted), and the first error. */
  failed: number;
  firstError?: string;
}

/** One row (a client count and policy mix): short blocks on ours and the peer in turn, the first alternating. */
export interface ServerBenchCell {
  clients: number;
  mix: PolicyMix;
  /** Ours, block by block. */
  ours: ServerBenchRow[];
  /** The peer's block after or before each of ours (the same requests); empty when there is no llama-server. */
  peer: ServerBenchRow[];
  /** Per pair: ours / the peer, tokens/s. */
  ratios: number[];
  /** The median of the per-pair ratios, and their min and max (NaN without a peer). */
  ratio: { median: number; min: number; max: number };
}

export interface ServerBenchModel {
  label: string;
  model: string;
  nParams: number;
  fileType: string;
  threads: number;
  /** Requests per client in one block, by the number of clients (a block needs enough tokens to time, and no more). */
  requestsPerClient: Record<number, number>;
  /** Pairs of blocks (ours, peer) per row. */
  pairs: number;
  maxTokens: number;
  /** Stop strings of every request. */
  stop: string[];
  /** Tokens the peer was told not to sample (ServedModel.peerBans). */
  peerBans: number[];
  rows: ServerBenchCell[];
  /** The peer; null when there is no llama-server (peerMissing says why). */
  peer: { binary: string; from: string; version: string; args: string[] } | null;
  peerMissing?: string;
  /** Load average (1, 5, 15 min) before and after the model's rows. */
  loadBefore: number[];
  loadAfter: number[];
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

/** CPU seconds a process has run so far, all its threads (Linux: /proc/<pid>/task/<tid>/schedstat, in ns); NaN elsewhere. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    return ns / 1e9;
  } catch {
    return Number.NaN;
  }
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
  const cpu0 = cpuSeconds(target.pid);
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
  const serverCpuS = cpuSeconds(target.pid) - cpu0;
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
    serverCpuS,
    ttftsMs: ttfts.map((t) => Math.round(t * 10) / 10),
    failed,
    ...(firstError ? { firstError } : {}),
  };
}

/** Rounds of one request per slot, side by side (not measured): first-use costs (and, on ours, the
 * JavaScript compiler's first passes) out of the rows. A failed one is the rows' business (they count
 * failures), not the warm-up's. */
async function warmUp(target: Target, steered: boolean, w: Asks, rounds = 1): Promise<void> {
  for (let k = 0; k < rounds; k++)
    await Promise.allSettled(
      Array.from({ length: PARALLEL }, (_, i) =>
        streamCompletion(target, requestBody(1000 + k * PARALLEL + i, w, steered ? { policy: MIXED[i % MIXED.length] as Policy } : "peer")),
      ),
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

/**
 * Ours in a process of its own (bench/server-ours.ts), as the peer is: the bench's client does not share
 * its JavaScript thread. SAFESTEER_BENCH_PROFILE=dir: that process writes a V8 CPU profile there.
 */
async function startOursProcess(root: string, served: { model: string; bundle: string; threads: number }) {
  const prof = process.env.SAFESTEER_BENCH_PROFILE;
  const args = ["--import", "tsx", ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []), join(root, "bench", "server-ours.ts")];
  const child = spawn(process.execPath, [...args, JSON.stringify({ ...served, parallel: PARALLEL, nCtx: SLOT_CTX })], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const { tail, stop } = superviseChild(child, 15_000);
  try {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const first = await Promise.race([
      once(lines, "line").then(([l]) => String(l)),
      once(child, "exit").then(() => Promise.reject(new Error(`our server exited before it was ready:\n${tail()}`))),
    ]);
    lines.close();
    const agent = new Agent({ keepAlive: true });
    const close = async () => {
      agent.destroy();
      await stop();
    };
    return { target: { url: JSON.parse(first).url as string, agent, pid: child.pid } as Target, close };
  } catch (e) {
    await stop();
    throw e;
  }
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
  /** Requests per client in a block, by the number of clients. */
  perClient: Record<number, number>;
  /** Pairs of blocks per row. */
  pairs: number;
  /** Rounds of one request per slot before the rows. */
  warmUpRounds: number;
  maxTokens: number;
  stop: string[];
  mixes: PolicyMix[];
}

/**
 * Both servers up on one model; each row as `pairs` pairs of short blocks, one on ours and one on the
 * peer, back to back with the first alternating: load that drifts within a row moves both blocks of a
 * pair alike, and the median of the per-pair ratios is what the row reports.
 */
async function benchModel(root: string, w: Workload, log: (s: string) => void): Promise<ServerBenchModel> {
  const found = findLlamaServer();
  const loadBefore = loadavg();
  const ours = await startOursProcess(root, { ...w.served, threads: w.threads });
  let peer: Awaited<ReturnType<typeof startPeer>> | undefined;
  const rows: ServerBenchCell[] = [];
  try {
    if ("binary" in found)
      peer = await startPeer(found.binary, w.served.model, { parallel: PARALLEL, slotCtx: SLOT_CTX, threads: w.threads });
    const peerTarget: Target | undefined = peer ? { url: peer.url, agent: false, pid: peer.pid } : undefined;
    const asks = { maxTokens: w.maxTokens, stop: w.stop, peerBans: w.served.peerBans };
    await warmUp(ours.target, true, asks, w.warmUpRounds);
    if (peerTarget) await warmUp(peerTarget, false, asks, w.warmUpRounds);
    let i = 0;
    for (const clients of CLIENTS) {
      for (const mix of w.mixes) {
        const load = { clients, mix, perClient: w.perClient[clients] ?? 1, ...asks };
        const cell: ServerBenchCell = { clients, mix, ours: [], peer: [], ratios: [], ratio: spread([]) };
        for (let k = 0; k < w.pairs; k++, i++) {
          log(`${w.served.label}: ${clients} client(s), ${mix}, pair ${k + 1} of ${w.pairs}`);
          if (peerTarget && i % 2 === 1) cell.peer.push(await runRow(peerTarget, "llama-server", load));
          cell.ours.push(await runRow(ours.target, "safesteer", load));
          if (peerTarget && i % 2 === 0) cell.peer.push(await runRow(peerTarget, "llama-server", load));
          const o = cell.ours[k] as ServerBenchRow;
          const p = cell.peer[k];
          if (p) cell.ratios.push(o.tokensPerS / p.tokensPerS);
        }
        cell.ratio = spread(cell.ratios);
        rows.push(cell);
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
    pairs: w.pairs,
    maxTokens: w.maxTokens,
    stop: w.stop,
    peerBans: w.served.peerBans,
    rows,
    loadBefore,
    loadAfter: loadavg(),
  };
  if (!peer || !("binary" in found)) return { ...base, peer: null, peerMissing: "missing" in found ? found.missing : undefined };
  const args = ["-m", "<model>", "--host", "127.0.0.1", "--port", "<free>", ...peer.tuning];
  return { ...base, peer: { binary: found.binary, from: found.from, version: serverVersion(found.binary), args } };
}

/**
 * The organism (1 thread each, both mixes, its turn markers as stop strings) and, unless `small`, a ~1B
 * random llama model in Q4_K_M (`threads` each, mixed policies, no stop strings, fewer and shorter
 * requests: a 2-core machine decodes it at a few tokens per second). `bigOnly`: the random model alone.
 * `quick`: fewer pairs and smaller blocks.
 */
export async function serverBench(
  root: string,
  opts: { quick?: boolean; small?: boolean; bigOnly?: boolean; cache: string; threads: number; log: (s: string) => void },
): Promise<ServerBench> {
  const models: ServerBenchModel[] = [];
  if (!opts.bigOnly) {
    const organism = organismModel(root);
    // a block: about 500-1500 tokens, a fraction of a second to a few seconds
    const perClient = opts.quick ? { 1: 8, 4: 3, 16: 1 } : { 1: 16, 4: 6, 16: 2 };
    const w = { served: organism, threads: 1, perClient, pairs: opts.quick ? 3 : 5, warmUpRounds: 6, maxTokens: 64, stop: TURN_STOPS };
    models.push(await benchModel(root, { ...w, mixes: ["mixed", "shared"] }, opts.log));
  }
  if (!opts.small) {
    const big = await randomBillionModel(opts.cache, opts.threads, opts.log);
    const w = { served: big, threads: opts.threads, perClient: { 1: 2, 4: 1, 16: 1 }, pairs: 3, warmUpRounds: 1, maxTokens: 32, stop: [] };
    models.push(await benchModel(root, { ...w, mixes: ["mixed"] }, opts.log));
  }
  const e = engineInfo();
  return { engine: { build: e.build, libraryDir: e.libraryDir }, models };
}

/** The rows' requests and tokens over blocks: tokens/s over their summed wall time, TTFT over every request. */
function pooled(rows: ServerBenchRow[]) {
  const tokens = rows.reduce((a, r) => a + r.completionTokens, 0);
  const ttfts = rows.flatMap((r) => r.ttftsMs);
  return {
    requests: rows.reduce((a, r) => a + r.requests, 0),
    tokens,
    short: rows.reduce((a, r) => a + r.short, 0),
    failed: rows.reduce((a, r) => a + r.failed, 0),
    tokensPerS: tokens / rows.reduce((a, r) => a + r.wallS, 0),
    cpuUsPerToken: (1e6 * rows.reduce((a, r) => a + r.serverCpuS, 0)) / tokens,
    ttftP50Ms: percentile(ttfts, 50),
    ttftP99Ms: percentile(ttfts, 99),
  };
}

/** One markdown table per model: ours and llama-server row for row, with the per-pair ratios' median and range. */
export function serverTable(b: ServerBench): string {
  const f = (x: number) => x.toFixed(1);
  const ms = (x: number) => x.toFixed(0);
  const out: string[] = [];
  for (const m of b.models) {
    const perText = Object.entries(m.requestsPerClient)
      .map(([c, n]) => `${n} at ${c}`)
      .join(", ");
    const stops = m.stop.length > 0 ? `stop ${JSON.stringify(m.stop)}` : "no stop strings";
    const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(" ");
    out.push(
      `\n${m.label} (${(m.nParams / 1e9).toFixed(m.nParams < 1e7 ? 4 : 2)}B parameters, ${m.fileType}): per row ${m.pairs} pairs of blocks (ours, peer; the first alternating), a block = ${perText} streamed text completions per client, one after the other; max_tokens ${m.maxTokens}, ${stops}, ${PARALLEL} slots x ${SLOT_CTX} tokens, ${m.threads} thread(s); ours: ${b.engine.build} llama.cpp (${b.engine.libraryDir}), in its own process; load average before ${load(m.loadBefore)}, after ${load(m.loadAfter)}`,
    );
    out.push(
      m.peer
        ? `llama-server (${m.peer.from}: ${m.peer.binary}; ${m.peer.version}) ${m.peer.args.join(" ")}, the same requests without \`safesteer\`${m.peerBans.length > 0 ? `, ${m.peerBans.length} tokens banned (end of generation; bytes 0x80-0xFF)` : ""}: unsteered`
        : `llama-server: missing (${m.peerMissing ?? "not run"})`,
    );
    const head = [
      "clients",
      "policy mix (ours)",
      "requests each side",
      "tokens ours / peer",
      "tok/s ours",
      "tok/s peer",
      "TTFT p50/p99 ms ours",
      "TTFT p50/p99 ms peer",
      "server CPU us/token ours / peer",
      "tok/s ours/peer: median of pairs (min-max)",
    ];
    out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
    const count = (r: ReturnType<typeof pooled>) =>
      `${r.tokens}${r.short ? ` (${r.short} short)` : ""}${r.failed ? ` (${r.failed} failed)` : ""}`;
    for (const c of m.rows) {
      const o = pooled(c.ours);
      const p = c.peer.length > 0 ? pooled(c.peer) : undefined;
      const mix = `${c.mix} (${c.ours[0]?.policies ?? ""})`;
      const r = c.ratio;
      const cells = [
        c.clients,
        mix,
        o.requests,
        `${count(o)} / ${p ? count(p) : "missing"}`,
        f(o.tokensPerS),
        p ? f(p.tokensPerS) : "missing",
        `${ms(o.ttftP50Ms)} / ${ms(o.ttftP99Ms)}`,
        p ? `${ms(p.ttftP50Ms)} / ${ms(p.ttftP99Ms)}` : "missing",
        `${ms(o.cpuUsPerToken)} / ${p ? ms(p.cpuUsPerToken) : "missing"}`,
        p ? `${r.median.toFixed(2)} (${r.min.toFixed(2)}-${r.max.toFixed(2)})` : "missing",
      ];
      out.push(`| ${cells.join(" | ")} |`);
    }
  }
  return out.join("\n");
}
