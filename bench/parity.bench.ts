// Speed against llama.cpp's own tools, same release, same model, same threads: one table of lines, each
// ours, the peer and the ratio, against the targets of issue 16. The peers are llama-completion (generation
// as a user gets it: sampling on, text out) and llama-bench (prefill), built from the sources that ship in
// node-llama-cpp's npm package (`safesteer engine build --tools` builds both beside the engine's libraries;
// LLAMA_COMPLETION / LLAMA_BENCH name others). Ours runs in a fresh process per measurement, peer and ours
// alternate, and each line reports medians.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeRandomLlamaGguf } from "../src/convert/random-model.js";
import { findUserBuild, PEER_TOOLS } from "../src/engine-build/index.js";
import { ensureBuilt } from "./startup.bench.js";
import { median } from "./stats.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER = join(HERE, "parity-worker.ts");

export interface ParityLine {
  line: string;
  unit: string;
  ours: number | null;
  peer: number | null;
  /** ours / peer (for start-up: ms over the peer's, smaller is better) */
  ratio: number | null;
  target: string;
  met: boolean | null;
  /** what the peer is, or why there is none */
  peerName: string;
  note?: string;
  oursRuns: number[];
  peerRuns: number[];
}

export interface ParityBench {
  lines: ParityLine[];
  peers: { llamaCompletion?: string; llamaBench?: string };
  oursBuild: string;
  oursLibraryDir: string;
  loadBefore: number[];
  loadAfter: number[];
}

/** The ~1B random model of the bench (953M parameters, F16, 1.9 GB), written once into a temporary folder. */
export function billionModel(dir: string): string {
  const path = join(dir, "random-2048x16-f16.gguf");
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`writing ${path} (953M parameters, 1.9 GB; about a minute, once)...\n`);
    writeRandomLlamaGguf(`${path}.tmp`, {
      nEmbd: 2048,
      nLayer: 16,
      nHead: 16,
      nHeadKv: 16,
      nFf: 5632,
      nVocab: 32000,
      nCtxTrain: 2048,
      type: "f16",
      seed: 1,
    });
    renameSync(`${path}.tmp`, path);
  }
  return path;
}

/** The peer tools: LLAMA_COMPLETION / LLAMA_BENCH, else those of the user's engine build (`engine build --tools`). */
export function findPeers(): { llamaCompletion?: string; llamaBench?: string } {
  const built = findUserBuild("cpu")?.libDir;
  const pick = (env: string | undefined, tool: string) => {
    if (env) return existsSync(env) ? env : undefined;
    const p = built ? join(built, tool) : undefined;
    return p && existsSync(p) ? p : undefined;
  };
  return {
    llamaCompletion: pick(process.env.LLAMA_COMPLETION, PEER_TOOLS[1] as string),
    llamaBench: pick(process.env.LLAMA_BENCH, PEER_TOOLS[0] as string),
  };
}

function worker(spec: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Record<string, any> {
  const r = spawnSync(process.execPath, ["--import", "tsx", WORKER, JSON.stringify(spec)], { encoding: "utf8", env, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bench worker ${JSON.stringify(spec)} failed: ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split("\n").pop() as string;
  return JSON.parse(line);
}

/**
 * One llama-completion run generating `tokens` tokens (end of text ignored): the time per generated
 * token from its own report, eval plus sampling (undefined: its log thread lost the report at exit,
 * which happens now and then).
 */
function completionRun(
  bin: string,
  o: { model: string; threads: number; prompt: string; tokens: number; nCtx: number; seed: number },
): { tokens: number; ms: number } | undefined {
  const args = [
    "-m",
    o.model,
    "-p",
    o.prompt,
    "-n",
    String(o.tokens),
    "-t",
    String(o.threads),
    "-tb",
    String(o.threads),
    "-c",
    String(o.nCtx),
  ];
  args.push("-s", String(o.seed), "--temp", "0.8", "--top-k", "40", "--top-p", "0.95", "--min-p", "0.05");
  args.push("--ignore-eos", "-no-cnv", "--simple-io", "--no-display-prompt", "--no-warmup");
  const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`${bin} exited ${r.status}: ${r.stderr.slice(-1500)}`);
  const num = (re: RegExp) => Number(re.exec(r.stderr)?.[1] ?? Number.NaN);
  const evalMs = num(/ eval time =\s+([\d.]+) ms \/\s+\d+ runs/);
  const runs = num(/ eval time =\s+[\d.]+ ms \/\s+(\d+) runs/);
  const samplingMs = num(/sampling time =\s+([\d.]+) ms/);
  const samples = num(/samplers time =\s+[\d.]+ ms \/\s+(\d+) tokens/);
  if (!(runs > 0 && evalMs > 0 && samplingMs >= 0 && samples > 0)) return undefined;
  return { tokens: runs, ms: evalMs + (samplingMs * runs) / samples };
}

/**
 * llama-completion's generation rate: generated tokens over its eval time plus their share of its
 * sampling time, over `runs` runs with successive seeds, generating from the same prompt as ours and
 * about as many tokens (a small model's step slows down markedly as the context fills, so both must
 * cover the same positions). Its eval time leaves out each decode's batch checks and its output loop,
 * so this favours the peer a little.
 */
function completionRate(
  bin: string,
  o: { model: string; threads: number; prompt: string; tokens: number; nCtx: number; seed: number; runs: number },
): number {
  let tokens = 0;
  let ms = 0;
  let got = 0;
  for (let seed = o.seed; got < o.runs && seed < o.seed + 3 * o.runs; seed++) {
    const t = completionRun(bin, { ...o, seed });
    if (!t) continue;
    tokens += t.tokens;
    ms += t.ms;
    got++;
  }
  if (got === 0) throw new Error(`${bin} printed no timing report in ${3 * o.runs} runs`);
  return (tokens * 1000) / ms;
}

/** llama-bench's pp<tokens> rate (mean of its repetitions). */
function llamaBenchPrefill(bin: string, o: { model: string; threads: number; tokens: number; reps: number }): number {
  const args = ["-m", o.model, "-p", String(o.tokens), "-n", "0", "-t", String(o.threads), "-r", String(o.reps), "-o", "json"];
  const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${bin} exited ${r.status}: ${r.stderr.slice(-1500)}`);
  const rows = JSON.parse(r.stdout) as Array<{ avg_ts: number; n_prompt: number }>;
  const row = rows.find((x) => x.n_prompt === o.tokens);
  if (!row) throw new Error(`llama-bench printed no pp${o.tokens} row`);
  return row.avg_ts;
}

function wallMs(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-1500)}`);
  return ms;
}

/** Rounds of ours and the peer alternating (who goes first alternates too); medians. */
function alternate(rounds: number, ours: () => number, peer: (() => number) | undefined): { ours: number[]; peer: number[] } {
  const o: number[] = [];
  const p: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (peer && r % 2 === 1) p.push(peer());
    o.push(ours());
    if (peer && r % 2 === 0) p.push(peer());
  }
  return { ours: o, peer: p };
}

function ratioLine(
  line: string,
  unit: string,
  runs: { ours: number[]; peer: number[] },
  goal: number,
  peerName: string,
  note?: string,
): ParityLine {
  const ours = median(runs.ours);
  const peer = runs.peer.length ? median(runs.peer) : null;
  // the median of each round's ratio: ours and the peer ran back to back, so a load that comes and goes
  // between rounds cancels (the machine is shared)
  const ratio = peer ? median(runs.ours.map((x, i) => x / (runs.peer[i] as number))) : null;
  return {
    line,
    unit,
    ours,
    peer,
    ratio,
    target: `>= ${goal}`,
    met: ratio === null ? null : ratio >= goal,
    peerName,
    note,
    oursRuns: runs.ours,
    peerRuns: runs.peer,
  };
}

export interface ParityOptions {
  root: string;
  /** Alternating rounds per line (default 3). */
  rounds: number;
  /** Where the ~1B model is kept (default $SAFESTEER_BENCH_DIR or <tmp>/safesteer-bench). */
  modelDir: string;
  /** Also measure ours on node-llama-cpp's prebuilt libraries (prefill and decode of the ~1B model). */
  prebuilt?: boolean;
  log?: (s: string) => void;
}

export function parityBench(o: ParityOptions): ParityBench {
  const log = o.log ?? (() => {});
  ensureBuilt(o.root);
  const peers = findPeers();
  const organism = join(o.root, "models", "organism.gguf");
  const big = billionModel(o.modelDir);
  const cores = availableParallelism();
  const threadCounts = [1, 2].filter((t) => t <= Math.max(2, cores));
  const loadBefore = loadavg();
  const lines: ParityLine[] = [];
  const noPeer = (tool: string, env: string) => `no peer (set ${env}, or run safesteer engine build --tools for ${tool})`;
  let oursBuild = "";
  let oursLibraryDir = "";
  const note = (w: Record<string, any>) => {
    oursBuild = w.build;
    oursLibraryDir = w.libraryDir;
  };

  // 1. generation as a user gets it: sampling on, text out
  const prompt = "Once upon a time";
  const models = [
    {
      label: "organism (293K params, F32)",
      path: organism,
      maxTokens: 200,
      runs: 40,
      peerTokens: 200,
      peerRuns: 6,
      nCtx: 256,
      rounds: 2 * o.rounds + 1,
    },
    { label: "random 953M, F16", path: big, maxTokens: 48, runs: 1, peerTokens: 48, peerRuns: 1, nCtx: 512, rounds: o.rounds },
  ];
  for (const m of models) {
    for (const threads of threadCounts) {
      log(`generate: ${m.label}, ${threads} thread(s)`);
      const runs = alternate(
        m.rounds,
        () => {
          const w = worker({ kind: "generate", model: m.path, threads, prompt, maxTokens: m.maxTokens, runs: m.runs, nCtx: m.nCtx });
          note(w);
          return w.tokPerS;
        },
        peers.llamaCompletion
          ? () =>
              completionRate(peers.llamaCompletion as string, {
                model: m.path,
                threads,
                prompt,
                tokens: m.peerTokens,
                nCtx: m.nCtx,
                seed: 1,
                runs: m.peerRuns,
              })
          : undefined,
      );
      lines.push(
        ratioLine(
          `generate, ${m.label}, ${threads} thread${threads > 1 ? "s" : ""}`,
          "tokens/s",
          runs,
          0.95,
          peers.llamaCompletion ? "llama-completion" : noPeer("llama-completion", "LLAMA_COMPLETION"),
        ),
      );
    }
  }

  // 2. prefill: one batch of 512 tokens into an empty cache (llama-bench pp512)
  const prefillTargets = [
    { label: "random 953M, F16", path: big, threads: Math.min(2, cores), tokens: 512, reps: 3, rounds: o.rounds },
    { label: "organism", path: organism, threads: 1, tokens: 256, reps: 20, rounds: 2 * o.rounds + 1 },
  ];
  for (const p of prefillTargets) {
    log(`prefill: ${p.label}, ${p.threads} thread(s)`);
    const runs = alternate(
      p.rounds,
      () => {
        const w = worker({ kind: "prefill", model: p.path, threads: p.threads, tokens: p.tokens, reps: p.reps });
        note(w);
        return w.tokPerS;
      },
      peers.llamaBench
        ? () => llamaBenchPrefill(peers.llamaBench as string, { model: p.path, threads: p.threads, tokens: p.tokens, reps: p.reps })
        : undefined,
    );
    lines.push(
      ratioLine(
        `prefill ${p.tokens} tokens, ${p.label}, ${p.threads} thread${p.threads > 1 ? "s" : ""}`,
        "tokens/s",
        runs,
        0.95,
        peers.llamaBench ? `llama-bench pp${p.tokens}` : noPeer("llama-bench", "LLAMA_BENCH"),
      ),
    );
  }
  if (o.prebuilt) {
    const env = { ...process.env, SAFESTEER_NO_ENGINE_BUILD: "1", SAFESTEER_LLAMA_LIB: "" };
    const p = prefillTargets[0] as (typeof prefillTargets)[number];
    log("prefill on the prebuilt package's libraries");
    const runs = alternate(
      o.rounds,
      () => worker({ kind: "prefill", model: p.path, threads: p.threads, tokens: p.tokens, reps: p.reps }, env).tokPerS,
      peers.llamaBench
        ? () => llamaBenchPrefill(peers.llamaBench as string, { model: p.path, threads: p.threads, tokens: p.tokens, reps: p.reps })
        : undefined,
    );
    lines.push(
      ratioLine(
        `prefill ${p.tokens} tokens, ${p.label}, ${p.threads} threads, ours on the prebuilt npm libraries (for comparison)`,
        "tokens/s",
        runs,
        0.95,
        peers.llamaBench ? `llama-bench pp${p.tokens} (native build)` : noPeer("llama-bench", "LLAMA_BENCH"),
      ),
    );
  }

  // 3. steered against unsteered generation (ours against ours, alternating in one process)
  for (const s of [
    { label: "organism", path: organism, threads: 1, maxTokens: 200, runs: 8, rounds: 3 * o.rounds, nCtx: 256 },
    { label: "random 953M, F16", path: big, threads: Math.min(2, cores), maxTokens: 16, runs: 1, rounds: o.rounds, nCtx: 512 },
  ]) {
    log(`steered vs unsteered: ${s.label}`);
    const w = worker({
      kind: "steer",
      model: s.path,
      threads: s.threads,
      prompt,
      maxTokens: s.maxTokens,
      runs: s.runs,
      rounds: s.rounds,
      nCtx: s.nCtx,
    });
    note(w);
    const t = `, ${s.threads} thread${s.threads > 1 ? "s" : ""}`;
    lines.push(
      ratioLine(
        `generate steered by a native control vector (all layers) / unsteered, ${s.label}${t}`,
        "tokens/s",
        { ours: w.rates.native, peer: w.rates.unsteered },
        0.98,
        "ours unsteered",
      ),
      ratioLine(
        `generate steered by a write hook (attn_out, one layer) / unsteered, ${s.label}${t}`,
        "tokens/s",
        { ours: w.rates.hook, peer: w.rates.unsteered },
        0.9,
        "ours unsteered",
      ),
    );
  }

  // 4. start-up: a one-token generate against bare Node plus llama.cpp's own load and one token
  log("start-up");
  const bin = join(o.root, "bin", "safesteer.js");
  const oursArgs = [bin, "generate", "-n", "1", "-t", "0"];
  const bare: number[] = [];
  const ours: number[] = [];
  const peer: number[] = [];
  const startupRounds = Math.max(5, o.rounds * 3);
  wallMs(process.execPath, oursArgs); // warm the file cache
  for (let r = 0; r < startupRounds; r++) {
    bare.push(wallMs(process.execPath, ["-e", "0"]));
    ours.push(wallMs(process.execPath, oursArgs));
    if (peers.llamaCompletion) {
      const args = ["-m", organism, "-p", "", "-n", "1", "-t", "1", "-c", "256", "--temp", "0", "-no-cnv", "--simple-io", "--no-warmup"];
      peer.push(wallMs(peers.llamaCompletion, args));
    }
  }
  const b = median(bare);
  const om = median(ours);
  const pm = peer.length ? median(peer) : null;
  lines.push({
    line: "start-up: safesteer generate -n 1 (organism), ms; peer: bare node -e 0 + llama-completion -n 1",
    unit: "ms",
    ours: om,
    peer: pm === null ? null : b + pm,
    ratio: pm === null ? null : om - (b + pm),
    target: "ours - peer <= 200 ms",
    met: pm === null ? null : om - (b + pm) <= 200,
    peerName:
      pm === null
        ? noPeer("llama-completion", "LLAMA_COMPLETION")
        : `node -e 0 (${b.toFixed(0)} ms) + llama-completion (${pm.toFixed(0)} ms)`,
    note: "the ratio column holds ours - peer in ms",
    oursRuns: ours,
    peerRuns: peer.map((x) => x + b),
  });
  return { lines, peers, oursBuild, oursLibraryDir, loadBefore, loadAfter: loadavg() };
}

/** The table, Markdown. */
export function parityTable(b: ParityBench): string {
  const f = (x: number | null, unit: string) =>
    x === null || Number.isNaN(x) ? "-" : unit === "ms" ? x.toFixed(0) : x >= 100 ? x.toFixed(0) : x.toFixed(1);
  const out = ["| line | ours | peer | ratio | target | met |", "|---|---|---|---|---|---|"];
  for (const l of b.lines) {
    const ratio =
      l.ratio === null ? "no peer" : l.unit === "ms" ? `${l.ratio >= 0 ? "+" : ""}${l.ratio.toFixed(0)} ms` : l.ratio.toFixed(2);
    const peer = l.peer === null ? l.peerName : `${f(l.peer, l.unit)} (${l.peerName})`;
    out.push(`| ${l.line} | ${f(l.ours, l.unit)} | ${peer} | ${ratio} | ${l.target} | ${l.met === null ? "-" : l.met ? "yes" : "no"} |`);
  }
  return out.join("\n");
}
