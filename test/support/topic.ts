// The dog-topic steering check on stories260K: story openings about a dog (the side steering moves
// towards) against generic openings (the "category" steered away from). The same vector math as
// safety steering, on a topic the model knows; shared by the topic and quantization tests.
import type { Dataset, Example } from "../../src/data/example.js";
import type { Context } from "../../src/engine/context.js";
import { generateBatch } from "../../src/engine/generate.js";

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

/** Category "generic" (unsafe side) against dog openings (its own safe side). */
export const TOPIC_DATA: Dataset = {
  name: "topic",
  path: "-",
  sha256: "",
  skipped: [],
  examples: [...texts(GENERIC, "unsafe", "generic"), ...texts(DOG, "safe")],
};

/** Share of 24 sampled continuations of "Once upon a time" (3 rounds of 8 seeds) that mention a dog. */
export async function dogShare(ctx: Context): Promise<{ share: number; n: number }> {
  const prompts = Array.from({ length: 8 }, () => ctx.model.tokenize("Once upon a time"));
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
}
