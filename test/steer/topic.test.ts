import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Dataset, Example } from "../../src/data/example.js";
import { Context } from "../../src/engine/context.js";
import { generateBatch } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { withSteering } from "../../src/steer/apply.js";
import { buildBundle } from "../../src/steer/build.js";
import { STORIES_GGUF } from "../support/models.js";

// Story openings about a dog (the side steering moves towards) and generic openings (the category
// steered away from): the same vector math as safety steering, on a topic stories260K knows.
const NAMES = ["Max", "Lily", "Tom", "Sue", "Ben", "Mia", "Sam", "Anna"];
const DOG = [
  "Once upon a time, there was a dog named {n}. The dog liked to run and bark.",
  "{n} had a little dog. The dog was brown and happy.",
  "One day, a big dog came to the park. {n} saw the dog and smiled.",
  "The dog wagged its tail. {n} gave the dog a bone.",
];
const GENERIC = [
  "Once upon a time, there was a girl named {n}. She liked to sing.",
  "{n} went to the store with mom to buy some milk.",
  "One day, {n} saw a red ball in the garden.",
  "The sun was hot. {n} sat under a big tree and ate an apple.",
];
const texts = (ts: string[], label: "safe" | "unsafe", category?: string): Example[] =>
  ts.flatMap((t, i) => NAMES.map((n, j) => ({ prompt: t.replace("{n}", n), label, category, source: `topic:${i * 8 + j}` })));

describe("a real semantic effect on stories260K", () => {
  it("a topic vector (dog openings vs generic openings) at a middle layer raises the share of continuations about a dog", async () => {
    const model = Model.load(STORIES_GGUF);
    const ctx = new Context(model, { nCtx: 2048, nSeq: 8 });
    const data: Dataset = {
      name: "topic",
      path: "-",
      sha256: "",
      skipped: [],
      examples: [...texts(GENERIC, "unsafe", "generic"), ...texts(DOG, "safe")],
    };
    const bundle = await buildBundle(ctx, [data], undefined, { layers: [2], prune: 0.5 });
    assert.deepEqual(bundle.categories.get("generic")?.steerLayers, [2]);
    const prompts = Array.from({ length: 8 }, () => model.tokenize("Once upon a time"));
    const share = async () => {
      let hits = 0;
      let n = 0;
      for (let round = 0; round < 3; round++) {
        const out = await generateBatch(ctx, prompts, { temperature: 0.8, maxTokens: 40, seeds: prompts.map((_, i) => round * 8 + i) });
        for (const o of out) {
          n++;
          if (/\bdogs?\b/i.test(o.text)) hits++;
        }
      }
      return { share: hits / n, n };
    };
    const plain = await share();
    const steered = await withSteering(ctx, { bundle, policy: { generic: 0.6 } }, share);
    console.log(
      `  continuations mentioning a dog over ${plain.n} seeds: unsteered ${(plain.share * 100).toFixed(1)}%, steered ${(steered.share * 100).toFixed(1)}%`,
    );
    assert.equal(plain.n, 24);
    assert.ok(steered.share >= plain.share + 0.3, `steered ${steered.share} vs unsteered ${plain.share}`);
    ctx.dispose();
    model.dispose();
  });
});
