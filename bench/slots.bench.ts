// `node --import tsx bench/slots.bench.ts`: one shared batch (4 sequences in one context: the upper bound of the write-hook design, which adds
// per-row hook work on top) against 4 contexts side by side (the server's design), same prompts and seeds,
// alternating rounds; medians of 8. Standalone (not in npm run bench): the design question of issue 11.
import { Context } from "../src/engine/context.js";
import { generate, generateBatch } from "../src/engine/generate.js";
import { Model } from "../src/engine/model.js";
import { DEFAULT_MODEL } from "../src/models.js";

const m = Model.load(DEFAULT_MODEL);
const prompt = m.tokenize(m.applyChatTemplate([{ role: "user", content: "How do I bake a cake?" }]), {
  addSpecial: false,
  parseSpecial: true,
});
const shared = new Context(m, { nCtx: 2048, nSeq: 4, hooks: false });
const slots = Array.from({ length: 4 }, () => new Context(m, { nCtx: 512, hooks: false }));
const opts = { maxTokens: 64, temperature: 0.8, stop: ["\nA:", "\nQ:"] };
const res = { batch: [] as number[], slots: [] as number[] };
for (let round = 0; round < 8; round++) {
  const seeds = [0, 1, 2, 3].map((i) => round * 4 + i);
  let t = performance.now();
  const a = await generateBatch(shared, [prompt, prompt, prompt, prompt], { ...opts, seeds });
  res.batch.push(a.reduce((n, r) => n + r.tokens.length, 0) / ((performance.now() - t) / 1000));
  t = performance.now();
  const b = await Promise.all(slots.map((c, i) => generate(c, prompt, { ...opts, seed: seeds[i] })));
  res.slots.push(b.reduce((n, r) => n + r.tokens.length, 0) / ((performance.now() - t) / 1000));
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)] as number;
console.log(
  `4 sequences, one shared batch: ${med(res.batch).toFixed(0)} tok/s; 4 contexts side by side: ${med(res.slots).toFixed(0)} tok/s; ratio slots/batch ${(med(res.slots) / med(res.batch)).toFixed(2)}`,
);
