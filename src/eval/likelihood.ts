// What steering does to given answers, without sampling: the log-probability of each answer given
// its prompt (teacher-forced) under the context's current steering. On contrastive pairs this gives
// the log-odds of the safe answer over the unsafe one, so a vector that redirects the model towards
// the safe answer shows it with no sampling noise, and one that only breaks the text shows both
// answers losing probability.
import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import type { Model } from "../engine/model.js";
import { SafeSteerError } from "../errors.js";
import { type NeuronSuppression, withSteering } from "../steer/apply.js";
import { checkSteeringModel, planSteering, steeredPolicy } from "../steer/decide.js";
import { renderExample } from "../steer/render.js";
import type { Bundle, Policy } from "../steer/types.js";

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
  /** Per pair, in input order: log P(safe answer) - log P(unsafe answer) (with LikelihoodOptions.perPair; for intervals). */
  perPair?: number[];
}

/**
 * Prompt and answer tokens as the model sees them, given the prompt's own rendering (head): the
 * answer is what follows where the two renderings part (templates may tokenize the join differently).
 */
function splitRendering(
  model: Model,
  head: number[],
  prompt: string,
  response: string,
  chat: boolean,
): { prompt: number[]; answer: number[] } {
  const full = renderExample(model, { prompt, response }, chat);
  let k = 0;
  while (k < head.length && k < full.length - 1 && head[k] === full[k]) k++;
  return { prompt: full.slice(0, k), answer: full.slice(k) };
}

export interface LikelihoodOptions {
  /** Called after each chunk of pairs with (pairs done, pairs in all). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Keep each pair's log-odds (PairLikelihood.perPair). */
  perPair?: boolean;
}

/** Pairs run per forward call: small enough to report progress and stop between them. */
const CHUNK = 32;

/** Likelihood of the safe vs the unsafe answers of the pairs under the context's current steering. */
export async function pairLikelihood(
  ctx: Context,
  pairs: AnswerPair[],
  chat: boolean,
  opts: LikelihoodOptions = {},
): Promise<PairLikelihood> {
  let lpSafe = 0;
  let lpUnsafe = 0;
  let nSafe = 0;
  let nUnsafe = 0;
  const perPair: number[] = [];
  for (let start = 0; start < pairs.length; start += CHUNK) {
    if (opts.signal?.aborted) throw new SafeSteerError("aborted", `stopped after ${start} of ${pairs.length} pairs; nothing was written.`);
    const chunk = pairs.slice(start, start + CHUNK);
    const heads = chunk.map((p) => renderExample(ctx.model, { prompt: p.prompt }, chat));
    const safe = chunk.map((p, i) => splitRendering(ctx.model, heads[i] as number[], p.prompt, p.safe, chat));
    const unsafe = chunk.map((p, i) => splitRendering(ctx.model, heads[i] as number[], p.prompt, p.unsafe, chat));
    const seqs = [...safe, ...unsafe];
    const lps = await answerLogProbs(
      ctx,
      seqs.map((x) => x.prompt),
      seqs.map((x) => x.answer),
    );
    lps.forEach((lp, i) => {
      if (i < safe.length) lpSafe += lp;
      else lpUnsafe += lp;
    });
    for (let i = 0; i < safe.length; i++) perPair.push((lps[i] as number) - (lps[safe.length + i] as number));
    nSafe += safe.reduce((n, x) => n + x.answer.length, 0);
    nUnsafe += unsafe.reduce((n, x) => n + x.answer.length, 0);
    opts.onProgress?.(Math.min(pairs.length, start + CHUNK), pairs.length);
  }
  const n = pairs.length;
  return {
    n,
    logOdds: n ? (lpSafe - lpUnsafe) / n : 0,
    safePerToken: lpSafe / Math.max(1, nSafe),
    unsafePerToken: lpUnsafe / Math.max(1, nUnsafe),
    ...(opts.perPair ? { perPair } : {}),
  };
}

/** Pairs without a category: steered with the whole policy. */
export const UNCATEGORISED = "(uncategorised)";

export interface CategoryLikelihood {
  category: string;
  /** What was steered for these pairs. */
  policy: Policy;
  unsteered: PairLikelihood;
  steered: PairLikelihood;
}

/**
 * Per category of the pairs: their likelihoods unsteered and steered with that category alone at
 * its policy strength (uncategorised pairs: the whole policy). Categories the policy does not
 * steer are skipped and listed. Progress counts pair scorings (two per pair: unsteered, steered).
 */
export async function categoryLikelihoods(
  ctx: Context,
  bundle: Bundle | undefined,
  pairs: AnswerPair[],
  policy: Policy,
  opts: LikelihoodOptions & { chat: boolean; raw?: boolean; force?: boolean; neurons?: NeuronSuppression },
): Promise<{ rows: CategoryLikelihood[]; skipped: Array<{ category: string; n: number }> }> {
  // neurons too: a category is steered by its vector (the policy), its units (the suppression), or both
  const n = opts.neurons;
  const neurons = n?.neurons && n.suppress ? { set: n.neurons, suppress: n.suppress, mode: n.suppressMode } : undefined;
  // the files against the model and every category of the policy against the bundle, before any work
  await checkSteeringModel(ctx.model, { bundle, neurons: neurons?.set, force: opts.force, forceNeurons: n?.forceNeurons });
  // a category's pairs are steered by that category alone (known mode); uncategorised pairs by the whole policy
  const known = planSteering(bundle, { policy, mode: "known", raw: opts.raw, neurons });
  const whole = planSteering(bundle, { policy, mode: "policy", raw: opts.raw, neurons });
  const groups = new Map<string, AnswerPair[]>();
  for (const p of pairs) {
    const key = p.category ?? UNCATEGORISED;
    const g = groups.get(key) ?? [];
    g.push(p);
    groups.set(key, g);
  }
  const skipped: Array<{ category: string; n: number }> = [];
  const plan = [...groups].flatMap(([category, ps]) => {
    const { decision, vectors } = category === UNCATEGORISED ? whole.decide() : known.decide({ category });
    const any = decision.steered.length + (decision.suppressed?.length ?? 0) > 0;
    if (!any) skipped.push({ category, n: ps.length });
    return any ? [{ category, pairs: ps, policy: steeredPolicy(decision), vectors }] : [];
  });
  const total = 2 * plan.reduce((n, g) => n + g.pairs.length, 0);
  let done = 0;
  const score = async (ps: AnswerPair[]) => {
    const r = await pairLikelihood(ctx, ps, opts.chat, { signal: opts.signal, onProgress: (d) => opts.onProgress?.(done + d, total) });
    done += ps.length;
    return r;
  };
  const rows: CategoryLikelihood[] = [];
  for (const g of plan) {
    const unsteered = await score(g.pairs);
    const steered = await withSteering(ctx, { vectors: g.vectors }, () => score(g.pairs));
    rows.push({ category: g.category, policy: g.policy, unsteered, steered });
  }
  return { rows, skipped };
}
