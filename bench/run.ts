// `npm run bench`: runs every benchmark, prints a table, writes bench/results/bench.json.
import { mkdirSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../src/util/atomic-write.js";
import { benchModels, type EngineBenchRow, engineBench } from "./engine.bench.js";
import { type ExtractionBenchRow, extractionBench } from "./extraction.bench.js";
import { type LikelihoodBenchRow, likelihoodBench } from "./likelihood.bench.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");

const rows: EngineBenchRow[] = [];
for (const m of benchModels(ROOT)) {
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
for (const m of benchModels(ROOT)) {
  process.stderr.write(`extraction: ${m.label}...\n`);
  const big = !m.label.startsWith("stories");
  extraction.push(await extractionBench(m, { texts: big ? (quick ? 16 : 32) : 200, batch: 8, rounds: quick ? 1 : 3 }));
}

const likelihood: LikelihoodBenchRow[] = [];
for (const m of [{ label: "organism", path: join(ROOT, "models", "organism.gguf") }, ...benchModels(ROOT).slice(1)]) {
  process.stderr.write(`likelihood vs generation: ${m.label}...\n`);
  const big = m.label !== "organism";
  likelihood.push(await likelihoodBench(m, { requests: big ? (quick ? 16 : 32) : 150, rounds: big || quick ? 1 : 3 }));
}

const f = (x: number) => x.toFixed(1);
console.log(
  "\n| model | decode tok/s unsteered | decode tok/s native-steered | ratio (goal >= 0.99) | prefill tok/s plain | prefill tok/s capturing resid_post, all layers, mean | ratio (goal >= 0.8) |",
);
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.model} | ${f(r.decodeTokPerS.unsteered)} | ${f(r.decodeTokPerS.steered)} | ${r.decodeTokPerS.ratio.toFixed(3)} | ${f(r.prefillTokPerS.plain)} | ${f(r.prefillTokPerS.capture)} | ${r.prefillTokPerS.ratio.toFixed(3)} |`,
  );
}
console.log("\n| model | texts | tokens | plain prefill ex/s | tok/s | extraction (resid_post, all layers, mean) ex/s | tok/s | ratio |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of extraction) {
  console.log(
    `| ${r.model} | ${r.texts} | ${r.tokens} | ${f(r.plain.examplesPerS)} | ${f(r.plain.tokensPerS)} | ${f(r.extraction.examplesPerS)} | ${f(r.extraction.tokensPerS)} | ${r.ratio.toFixed(3)} |`,
  );
}
console.log(
  "\n| model | requests | likelihood check: tokens scored (safe and unsafe answer each) | s | generation eval: tokens generated (one answer each, up to 96) | s | generation / check time |",
);
console.log("|---|---|---|---|---|---|---|");
for (const r of likelihood) {
  console.log(
    `| ${r.model} | ${r.requests} | ${r.scoredTokens} | ${r.likelihoodS.toFixed(2)} | ${r.generatedTokens} | ${r.generationS.toFixed(2)} | ${r.ratio.toFixed(2)} |`,
  );
}
const out = join(ROOT, "bench", "results", "bench.json");
mkdirSync(dirname(out), { recursive: true });
const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: availableParallelism(), node: process.version };
writeFileAtomic(out, [`${JSON.stringify({ date: new Date().toISOString(), machine, engine: rows, extraction, likelihood }, null, 2)}\n`]);
console.log(`\nwrote ${out}`);
