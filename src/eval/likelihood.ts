// What steering does to given answers, without sampling: the log-probability of each answer given
// its prompt (teacher-forced) under the context's current steering. On contrastive pairs this gives
// the log-odds of the safe answer over the unsafe one, so a vector that redirects the model towards
// the safe answer shows it with no sampling noise, and one that only breaks the text shows both
// answers losing probability.
import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import type { Model } from "../engine/model.js";
import { renderExample } from "../steer/render.js";

/** log softmax(row)[token] */
function logProbOf(row: Float32Array, token: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) if (v > max) max = v;
  let z = 0;
  for (const v of row) z += Math.exp(v - max);
  return (row[token] as number) - max - Math.log(z);
}

/** Per answer: the sum of its tokens' log-probabilities given its prompt (0 for an empty answer). */
export async function answerLogProbs(ctx: Context, prompts: number[][], answers: number[][]): Promise<number[]> {
  const seqs = prompts.map((p, i) => [...p, ...(answers[i] as number[])]);
  const { logits } = await ctx.evaluate(seqs, { logits: "all" });
  return answers.map((a, i) => {
    const rows = logits[i] as Float32Array[];
    const p = (prompts[i] as number[]).length;
    let lp = 0;
    for (let t = 0; t < a.length; t++) lp += logProbOf(rows[p - 1 + t] as Float32Array, a[t] as number);
    return lp;
  });
}

/** A prompt with a safe and an unsafe answer to it. */
export interface AnswerPair {
  prompt: string;
  category?: string;
  safe: string;
  unsafe: string;
}

/**
 * Pairs from contrastive rows (the generic data format): per prompt and category, its safe answers
 * and its unsafe answers matched in order. Rows without a response, or without a counterpart, are left out.
 */
export function pairsOf(examples: Example[]): AnswerPair[] {
  const groups = new Map<string, { prompt: string; category?: string; safe: string[]; unsafe: string[] }>();
  for (const e of examples) {
    if (e.response === undefined) continue;
    const key = `${e.category ?? ""}\u0000${e.prompt}`;
    const g = groups.get(key) ?? { prompt: e.prompt, category: e.category, safe: [], unsafe: [] };
    groups.set(key, g);
    (e.label === "safe" ? g.safe : g.unsafe).push(e.response);
  }
  return [...groups.values()].flatMap((g) =>
    g.safe.slice(0, g.unsafe.length).map((safe, i) => ({ prompt: g.prompt, category: g.category, safe, unsafe: g.unsafe[i] as string })),
  );
}

export interface PairLikelihood {
  n: number;
  /** Mean over pairs of log P(safe answer) - log P(unsafe answer), in nats. */
  logOdds: number;
  /** Mean log-probability per token of the safe answers, and of the unsafe ones. */
  safePerToken: number;
  unsafePerToken: number;
}

/** Prompt and answer tokens of an example as the model sees it (the answer is what follows the prompt's own rendering). */
function splitRendering(model: Model, prompt: string, response: string, chat: boolean): { prompt: number[]; answer: number[] } {
  const head = renderExample(model, { prompt }, chat);
  const full = renderExample(model, { prompt, response }, chat);
  // templates may tokenize the join differently: the answer starts where the two renderings part
  let k = 0;
  while (k < head.length && k < full.length - 1 && head[k] === full[k]) k++;
  return { prompt: full.slice(0, k), answer: full.slice(k) };
}

/** Likelihood of the safe vs the unsafe answers of the pairs under the context's current steering. */
export async function pairLikelihood(ctx: Context, pairs: AnswerPair[], chat: boolean): Promise<PairLikelihood> {
  const safe = pairs.map((p) => splitRendering(ctx.model, p.prompt, p.safe, chat));
  const unsafe = pairs.map((p) => splitRendering(ctx.model, p.prompt, p.unsafe, chat));
  const lpSafe = await answerLogProbs(
    ctx,
    safe.map((s) => s.prompt),
    safe.map((s) => s.answer),
  );
  const lpUnsafe = await answerLogProbs(
    ctx,
    unsafe.map((s) => s.prompt),
    unsafe.map((s) => s.answer),
  );
  const n = pairs.length;
  const tokens = (xs: { answer: number[] }[]) =>
    Math.max(
      1,
      xs.reduce((s, x) => s + x.answer.length, 0),
    );
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    n,
    logOdds: n ? (sum(lpSafe) - sum(lpUnsafe)) / n : 0,
    safePerToken: sum(lpSafe) / tokens(safe),
    unsafePerToken: sum(lpUnsafe) / tokens(unsafe),
  };
}
