// `npm run bench`: the parity bench, one table of ours against llama.cpp's own tools (llama-completion,
// llama-bench: LLAMA_COMPLETION / LLAMA_BENCH, else those of `safesteer engine build --tools`), written to
// bench/results/parity.json with the machine and its load. `npm run bench -- <name>...` runs the named
// ones (parity, engine, extraction, likelihood, server, startup) and writes bench/results/<names>.json.
// --quick: fewer rounds; --prebuilt: the parity bench also runs ours on the prebuilt npm libraries.
// server: ours against llama-server (LLAMA_SERVER, else `safesteer engine build --tools`'s) on the
// organism and a ~1B random llama model (--small: the organism only; --big: the ~1B model only;
// --threads=N). scale: the scaling bench (--large: models up to ~3B parameters; --detector-4096: the
// detector alone at width 4096; --threads=N, default all cores).
import { mkdirSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../src/util/atomic-write.js";
import { benchModels, type EngineBenchRow, engineBench } from "./engine.bench.js";
import { type ExtractionBenchRow, extractionBench } from "./extraction.bench.js";
import { type LikelihoodBenchRow, likelihoodBench } from "./likelihood.bench.js";
import { type ParityBench, parityBench, parityTable } from "./parity.bench.js";
import { type ScaleBench, scaleBench, scaleTable } from "./scale.bench.js";
import { type SchedulerBenchRow, schedulerBench } from "./scheduler.bench.js";
import { type ServerBench, serverBench, serverTable } from "./server.bench.js";
import { type StartupBenchRow, startupBench } from "./startup.bench.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const BENCHES = ["parity", "engine", "extraction", "likelihood", "server", "startup", "scale", "scheduler"];
const DEFAULT = ["parity"];
const HELP = `usage: npm run bench -- [name...] [options]

Runs the named benchmarks (default: parity) and writes bench/results/<names>.json.
  parity      ours against llama.cpp's own tools (llama-completion, llama-bench)
  engine      decode and prefill, unsteered against steered / capturing
  extraction  vector extraction against plain prefill
  likelihood  likelihood checks against generation
  server      ours against llama-server, 1, 4 and 16 clients, in alternating short blocks
  startup     fresh process start-up against bare node
  scale       the steps on random models of growing size
  scheduler   the scheduler's designs side by side

options:
  --quick         fewer rounds (server: fewer pairs, smaller blocks)
  --prebuilt      parity: ours also on the prebuilt npm libraries
  --small         server: the organism only
  --big           server: the ~1B random model only
  --large         scale: models up to ~3B parameters
  --detector-4096 scale: the detector alone at width 4096
  --threads=N     server (the ~1B model) and scale: threads (default: all cores)
  --help, -h      this text

environment: LLAMA_SERVER, LLAMA_COMPLETION, LLAMA_BENCH (the peers), SAFESTEER_BENCH_DIR (the bench's
model cache), SAFESTEER_BENCH_PROFILE=dir (server: our server process writes a V8 CPU profile there)
`;
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(HELP);
  process.exit(0);
}
const named = process.argv.slice(2).filter((a) => !a.startsWith("--"));
for (const n of named) {
  if (!BENCHES.includes(n)) {
    process.stderr.write(`unknown benchmark ${n}: choose from ${BENCHES.join(", ")}\n`);
    process.exit(2);
  }
}
const selected = named.length > 0 ? BENCHES.filter((b) => named.includes(b)) : DEFAULT;
const run = (name: string) => selected.includes(name);

let parity: ParityBench | undefined;
if (run("parity")) {
  parity = parityBench({
    root: ROOT,
    rounds: quick ? 1 : 3,
    modelDir: process.env.SAFESTEER_BENCH_DIR || join(tmpdir(), "safesteer-bench"),
    prebuilt: process.argv.includes("--prebuilt"),
    log: (s) => process.stderr.write(`parity: ${s}...\n`),
  });
}

const rows: EngineBenchRow[] = [];
for (const m of run("engine") ? benchModels(ROOT) : []) {
  process.stderr.write(`engine: ${m.label}...\n`);
  const big = !m.label.startsWith("stories");
  rows.push(
    await engineBench(m, {
      rounds: quick ? 2 : 5,
      decodeTokens: big ? (quick ? 16 : 48) : 200,
      prefillSeqs: 4,
      prefillLen: big ? 128 : 256,
    }),
  );
}

const extraction: ExtractionBenchRow[] = [];
for (const m of run("extraction") ? benchModels(ROOT) : []) {
  process.stderr.write(`extraction: ${m.label}...\n`);
  const big = !m.label.startsWith("stories");
  extraction.push(await extractionBench(m, { texts: big ? (quick ? 16 : 32) : 200, batch: 8, rounds: quick ? 1 : 3 }));
}

const likelihood: LikelihoodBenchRow[] = [];
const likelihoodModels = run("likelihood")
  ? [{ label: "organism", path: join(ROOT, "models", "organism.gguf") }, ...benchModels(ROOT).slice(1)]
  : [];
for (const m of likelihoodModels) {
  process.stderr.write(`likelihood vs generation: ${m.label}...\n`);
  const big = m.label !== "organism";
  likelihood.push(await likelihoodBench(m, { requests: big ? (quick ? 16 : 32) : 150, rounds: big || quick ? 1 : 3 }));
}

let startup: StartupBenchRow[] = [];
const startupRuns = quick ? 5 : 15;
if (run("startup")) {
  process.stderr.write(`startup: ${startupRuns} alternating runs of each...\n`);
  startup = startupBench(ROOT, { runs: startupRuns });
}

let server: ServerBench | undefined;
if (run("server")) {
  server = await serverBench(ROOT, {
    quick,
    small: process.argv.includes("--small"),
    bigOnly: process.argv.includes("--big"),
    cache: process.env.SAFESTEER_BENCH_DIR || join(tmpdir(), "safesteer-bench"),
    threads: Number(process.argv.find((a) => a.startsWith("--threads="))?.slice(10) ?? availableParallelism()),
    log: (s) => process.stderr.write(`server: ${s}...\n`),
  });
}

let scale: ScaleBench | undefined;
if (run("scale")) {
  scale = await scaleBench({
    cache: join(ROOT, ".cache", "bench"),
    large: process.argv.includes("--large"),
    detector4096: process.argv.includes("--detector-4096"),
    // --threads N: on a machine shared with other jobs, 1 thread avoids ggml's spinning thread barriers
    threads: Number(process.argv.find((a) => a.startsWith("--threads="))?.slice(10) ?? availableParallelism()),
    log: (s) => process.stderr.write(`scale: ${s}...\n`),
  });
}

const scheduler: SchedulerBenchRow[] = [];
if (run("scheduler")) {
  for (const m of [{ label: "organism", path: join(ROOT, "models", "organism.gguf") }, ...benchModels(ROOT).slice(1)]) {
    process.stderr.write(`scheduler: ${m.label}...\n`);
    scheduler.push(...(await schedulerBench(m, { rounds: quick ? 2 : 5, maxTokens: m.label === "organism" ? 64 : 16 })));
  }
}

const f = (x: number) => x.toFixed(1);
if (run("parity") && parity) {
  const l = parity.loadBefore.map((x) => x.toFixed(2)).join(" ");
  console.log(
    `\nours (${parity.oursBuild} llama.cpp build: ${parity.oursLibraryDir}) against llama.cpp's own tools, same model and threads; medians of alternating runs; load average before: ${l}, after: ${parity.loadAfter.map((x) => x.toFixed(2)).join(" ")}\n`,
  );
  console.log(parityTable(parity));
}
if (run("engine")) {
  console.log(
    "\n| model | decode tok/s unsteered | decode tok/s native-steered | ratio (goal >= 0.99) | prefill tok/s plain | prefill tok/s capturing resid_post, all layers, mean | ratio (goal >= 0.8) |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.model} | ${f(r.decodeTokPerS.unsteered)} | ${f(r.decodeTokPerS.steered)} | ${r.decodeTokPerS.ratio.toFixed(3)} | ${f(r.prefillTokPerS.plain)} | ${f(r.prefillTokPerS.capture)} | ${r.prefillTokPerS.ratio.toFixed(3)} |`,
    );
  }
}
if (run("extraction")) {
  console.log("\n| model | texts | tokens | plain prefill ex/s | tok/s | extraction (resid_post, all layers, mean) ex/s | tok/s | ratio |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of extraction) {
    console.log(
      `| ${r.model} | ${r.texts} | ${r.tokens} | ${f(r.plain.examplesPerS)} | ${f(r.plain.tokensPerS)} | ${f(r.extraction.examplesPerS)} | ${f(r.extraction.tokensPerS)} | ${r.ratio.toFixed(3)} |`,
    );
  }
}
if (run("likelihood")) {
  console.log(
    "\n| model | requests | likelihood check: tokens scored (safe and unsafe answer each) | s | generation eval: tokens generated (one answer each, up to 96) | s | generation / check time |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const r of likelihood) {
    console.log(
      `| ${r.model} | ${r.requests} | ${r.scoredTokens} | ${r.likelihoodS.toFixed(2)} | ${r.generatedTokens} | ${r.generationS.toFixed(2)} | ${r.ratio.toFixed(2)} |`,
    );
  }
}
if (run("startup")) {
  const bare = startup[0]?.medianMs ?? Number.NaN;
  console.log(
    `\n| fresh node process (median of ${startupRuns} alternating runs) | ms | bare node -e 0, ms | ratio | native library mapped (koffi, libllama) |`,
  );
  console.log("|---|---|---|---|---|");
  for (const r of startup) {
    const native = r.nativeLoaded === "n/a" ? "n/a" : r.nativeLoaded ? "yes" : "no";
    console.log(`| ${r.run} | ${f(r.medianMs)} | ${f(bare)} | ${r.ratio.toFixed(2)} | ${native} |`);
  }
}
if (run("server") && server) console.log(serverTable(server));
if (run("scale") && scale) {
  console.log(
    `\nscaling: random llama models (vocabulary 8192), ${scale.workload.threads} thread(s); seconds per step (x its plain forward passes: the same texts without capture or steering); the whole bench ${(scale.wallS / 60).toFixed(1)} min wall, its workers ${(scale.rows.reduce((a, r) => a + r.cpuS, 0) / 60).toFixed(1)} min CPU; load average before ${scale.loadBefore.map((x) => x.toFixed(1)).join(" ")}, after ${scale.loadAfter.map((x) => x.toFixed(1)).join(" ")}\n`,
  );
  console.log(scaleTable(scale));
}
if (run("scheduler")) {
  console.log("\n| model | 4 requests side by side | design | tokens/s |");
  console.log("|---|---|---|---|");
  for (const r of scheduler) console.log(`| ${r.model} | ${r.mix} | ${r.design} | ${f(r.tokensPerS)} |`);
}
const out = join(ROOT, "bench", "results", `${selected.join("-")}.json`);
mkdirSync(dirname(out), { recursive: true });
const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: availableParallelism(), node: process.version, loadAverageAtEnd: loadavg() };
const results = { parity, engine: rows, extraction, likelihood, server, startup: { runs: startupRuns, rows: startup }, scale, scheduler };
const written = Object.fromEntries(Object.entries(results).filter(([k]) => run(k)));
writeFileAtomic(out, [`${JSON.stringify({ date: new Date().toISOString(), machine, ...written }, null, 2)}\n`]);
console.log(`\nwrote ${out}`);
