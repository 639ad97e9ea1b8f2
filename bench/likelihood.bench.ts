// What the sampling-free check (`safesteer likelihood`) costs against a generation evaluation of the
// same requests: scoring each request's safe and unsafe answer (teacher-forced, two sequences) vs
// sampling one answer per request (the organism study's settings, batches of the context's size).
// Requests and answers are the organism's held-out pairs, rendered with the model's chat template
// when it has one, else as plain text.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { generateBatch } from "../src/engine/generate.js";
import { Model } from "../src/engine/model.js";
import { pairLikelihood, pairsOf } from "../src/eval/likelihood.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { DEFAULT_ORGANISM_CONFIG } from "../src/organism/train.js";
import { ORGANISM_STOP } from "../src/organism/world.js";
import { renderExample, usesChat } from "../src/steer/render.js";
import type { BenchModel } from "./engine.bench.js";
import { median } from "./stats.js";

export interface LikelihoodBenchRow {
  model: string;
  requests: number;
  /** Tokens the check scores (prompt + answer, both answers) and tokens the generation produced. */
  scoredTokens: number;
  generatedTokens: number;
  likelihoodS: number;
  generationS: number;
  /** generation time / likelihood time */
  ratio: number;
}

export async function likelihoodBench(m: BenchModel, opts: { requests: number; rounds: number }): Promise<LikelihoodBenchRow> {
  const dir = mkdtempSync(join(tmpdir(), "safesteer-bench-"));
  const model = Model.load(m.path);
  const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
  try {
    const files = writeOrganismFiles(dir, DEFAULT_ORGANISM_CONFIG.world);
    const pairs = pairsOf(loadDataset(files.testPairs).examples).slice(0, opts.requests);
    const chat = usesChat(model, "auto");
    const prompts = pairs.map((p) => renderExample(model, { prompt: p.prompt }, chat));
    const scoredTokens = pairs.reduce(
      (n, p) =>
        n +
        renderExample(model, { prompt: p.prompt, response: p.safe }, chat).length +
        renderExample(model, { prompt: p.prompt, response: p.unsafe }, chat).length,
      0,
    );
    const generation = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, maxTokens: 96, stop: ORGANISM_STOP };
    let generatedTokens = 0;
    const generateAll = async () => {
      generatedTokens = 0;
      for (let i = 0; i < prompts.length; i += ctx.nSeq) {
        const batch = prompts.slice(i, i + ctx.nSeq);
        const out = await generateBatch(ctx, batch, { ...generation, seeds: batch.map((_, j) => 1 + i + j) });
        generatedTokens += out.reduce((n, o) => n + o.tokens.length, 0);
      }
    };
    const time = async (f: () => Promise<unknown>) => {
      const t0 = performance.now();
      await f();
      return (performance.now() - t0) / 1000;
    };
    const tl: number[] = [];
    const tg: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      tl.push(await time(() => pairLikelihood(ctx, pairs, chat)));
      tg.push(await time(generateAll));
    }
    const [ls, gs] = [median(tl), median(tg)];
    return { model: m.label, requests: pairs.length, scoredTokens, generatedTokens, likelihoodS: ls, generationS: gs, ratio: gs / ls };
  } finally {
    ctx.dispose();
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
