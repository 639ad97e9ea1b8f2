// `node --import tsx bench/slots.bench.ts [model.gguf ...]`: the server's design question (issue 11).
// Four requests side by side, each steered its own way (mixed policies: one unsteered, three with
// different vectors), same prompts and seeds, two designs in alternating rounds, medians of 5:
//   contexts:  a llama.cpp context per request, each with its own native control vector (the
//              server's first design);
//   scheduler: one context, one batch per step, each request's vector added by a write hook to its
//              own rows only (engine/scheduler.ts, the server's design now).
// Default models: the organism and a random 1024-wide, 8-layer F16 llama (written to /tmp).
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeRandomLlamaGguf } from "../src/convert/random-model.js";
import { Context, type SteeringVector } from "../src/engine/context.js";
import { generate } from "../src/engine/generate.js";
import { Model } from "../src/engine/model.js";
import { BatchScheduler } from "../src/engine/scheduler.js";
import { DEFAULT_MODEL } from "../src/models.js";
import { Rng } from "../src/util/random.js";
import { median } from "./stats.js";

const N = 4;
const ROUNDS = 5;

function models(): string[] {
  if (process.argv.length > 2) return process.argv.slice(2);
  const big = join(tmpdir(), "safesteer-bench-1024x8-f16.gguf");
  if (!existsSync(big)) writeRandomLlamaGguf(big, { nEmbd: 1024, nLayer: 8, nHead: 16, nVocab: 32000, type: "f16", seed: 5 });
  return [DEFAULT_MODEL, big];
}

for (const path of models()) {
  const m = Model.load(path);
  const prompt = m.info.chatTemplate
    ? m.tokenizeChat([{ role: "user", content: "How do I bake a cake?" }])
    : m.tokenize("Once upon a time, there was a little");
  const rng = new Rng(1);
  const layer = Math.floor(m.info.nLayer / 2);
  const steering: SteeringVector[][] = Array.from({ length: N }, (_, i) =>
    i === 0 ? [] : [{ site: "resid_post", layer, vector: Float32Array.from({ length: m.info.nEmbd }, () => rng.normal() * 0.5) }],
  );
  const opts = { maxTokens: 48, temperature: 0.8, topP: 0.95, topK: 0, minP: 0, stop: ["\nQ:", "\nA:"] };
  const contexts = Array.from({ length: N }, () => new Context(m, { nCtx: 512, hooks: false }));
  const shared = new Context(m, { nCtx: 512 * N, nSeq: N });
  const sched = new BatchScheduler(shared);
  const res = { contexts: [] as number[], scheduler: [] as number[] };
  let same = 0;
  let total = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const seed = (i: number) => round * N + i;
    let t = performance.now();
    const a = await Promise.all(
      contexts.map(async (c, i) => {
        const h = steering[i]?.length ? await c.applySteering(steering[i] as SteeringVector[]) : undefined;
        try {
          return await generate(c, prompt, { ...opts, seed: seed(i) });
        } finally {
          h?.release();
        }
      }),
    );
    res.contexts.push(a.reduce((n, r) => n + r.tokens.length, 0) / ((performance.now() - t) / 1000));
    t = performance.now();
    const b = await Promise.all(
      steering.map(async (s, i) => {
        let text = "";
        let tokens = 0;
        for await (const e of sched.run({ prompt, options: { ...opts, seed: seed(i) }, steering: s }))
          if (e.type === "done") {
            text = e.text;
            tokens = e.tokens.length;
          }
        return { text, tokens };
      }),
    );
    res.scheduler.push(b.reduce((n, r) => n + r.tokens, 0) / ((performance.now() - t) / 1000));
    for (let i = 0; i < N; i++) {
      total++;
      if (a[i]?.text === b[i]?.text) same++;
    }
  }
  console.log(
    `${m.info.name || path}: ${m.info.nParams ? `${(m.info.nParams / 1e6).toFixed(1)}M params, ` : ""}${N} requests with mixed steering, ${m.threads} thread(s): ` +
      `contexts ${median(res.contexts).toFixed(0)} tok/s, scheduler ${median(res.scheduler).toFixed(0)} tok/s, ratio scheduler/contexts ${(median(res.scheduler) / median(res.contexts)).toFixed(2)}; ` +
      `same text in both designs: ${same}/${total}`,
  );
  for (const c of contexts) c.dispose();
  shared.dispose();
  m.dispose();
}
