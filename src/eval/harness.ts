// The evaluation harness: every prompt answered under each condition (unsteered, steered by a
// policy, by the known category, or conditionally by the detector) with the same seeds, judged,
// scored for quality, summarised. Checkpoints after every batch so a run can resume.
import type { Context } from "../engine/context.js";
import { generateBatch } from "../engine/generate.js";
import { SafeSteerError } from "../errors.js";
import { resolveSteering, type SteeringSource, withSteering } from "../steer/apply.js";
import { conditionalPolicy, detect } from "../steer/detect.js";
import { renderExample } from "../steer/render.js";
import type { Bundle, Detector, Policy } from "../steer/types.js";
import { log } from "../util/logger.js";
import type { EvalItem } from "./item.js";
import type { Judge } from "./judges.js";
import { answerLogProbs } from "./likelihood.js";
import { type AnswerRecord, groupMetrics, repetitionRate } from "./metrics.js";
import { type ConditionSpec, type ConditionSummary, type EvalResults, type GenerationSettings, RESULTS_SCHEMA } from "./results.js";

export interface EvalOptions {
  judge: Judge;
  generation: GenerationSettings;
  conditions: ConditionSpec[];
  chat: boolean;
  bundle?: Bundle;
  bundlePath?: string;
  /** Accept a bundle made for another file of the same shape. */
  force?: boolean;
  detector?: Detector;
  /** A previous, possibly partial, run of the same evaluation to continue. */
  resume?: EvalResults;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  onCheckpoint?: (r: EvalResults) => void;
}

export function summarise(items: EvalItem[], answers: AnswerRecord[], conditions: ConditionSpec[]): Record<string, ConditionSummary> {
  const out: Record<string, ConditionSummary> = {};
  for (const c of conditions) {
    const mine = answers.filter((a) => a.condition === c.name);
    const of = (kind: EvalItem["kind"]) => mine.filter((a) => items[a.index]?.kind === kind);
    const harmful = of("harmful");
    const cats = [...new Set(harmful.map((a) => items[a.index]?.category ?? "uncategorised"))].sort();
    out[c.name] = {
      harmful: {
        ...groupMetrics(harmful),
        byCategory: Object.fromEntries(
          cats.map((k) => [k, groupMetrics(harmful.filter((a) => (items[a.index]?.category ?? "uncategorised") === k))]),
        ),
      },
      benign: groupMetrics(of("benign")),
      lookalike: groupMetrics(of("lookalike")),
    };
  }
  return out;
}

/** Perplexity of each answer given its prompt, under the (unsteered) context. */
async function perplexities(ctx: Context, prompts: number[][], answers: number[][]): Promise<Array<number | null>> {
  const lps = await answerLogProbs(ctx, prompts, answers);
  return answers.map((a, i) => (a.length === 0 ? null : Math.exp(-(lps[i] as number) / a.length)));
}

export async function runEval(ctx: Context, items: EvalItem[], opts: EvalOptions): Promise<EvalResults> {
  const model = ctx.model;
  // rates over 0 prompts are 0% and look like a result: refuse instead
  if (items.length === 0) throw new SafeSteerError("bad_argument", "no prompts to evaluate: give at least one evaluation item.");
  // answers, seeds and detections are keyed by index: a filtered list must be renumbered first
  const misplaced = items.findIndex((it, i) => it.index !== i);
  if (misplaced >= 0)
    throw new SafeSteerError(
      "bad_argument",
      `evaluation item ${misplaced} has index ${items[misplaced]?.index}: items must be numbered 0..n-1 in order; after filtering, renumber them (items.map((it, index) => ({ ...it, index }))).`,
    );
  // known-category steering of prompts whose categories the policy lacks steers nothing: say so
  const harmfulCats = [...new Set(items.filter((it) => it.kind === "harmful" && it.category).map((it) => it.category as string))].sort();
  const warned = new Set<string>();
  for (const c of opts.conditions) {
    if (c.mode !== "known" || harmfulCats.length === 0) continue;
    const unsteered = harmfulCats.filter((k) => c.policy?.[k] === undefined);
    const partly = unsteered.join(", ");
    if (unsteered.length > 0 && unsteered.length < harmfulCats.length && !warned.has(partly)) {
      warned.add(partly); // once, not once per sweep condition
      log.warn(`the policy does not steer ${partly}: those prompts are answered unsteered in the steered conditions too.`);
    }
    if (unsteered.length === harmfulCats.length) {
      throw new SafeSteerError(
        "bad_argument",
        `condition "${c.name}" steers each harmful prompt by its own category, but none of the prompts' categories (${harmfulCats.join(", ")}) is in its policy (${Object.keys(c.policy ?? {}).join(", ") || "empty"}): nothing would be steered. Use a bundle built for these categories, or --mode policy.`,
      );
    }
  }
  const needsBundle = opts.conditions.some((c) => c.mode !== "none");
  if (needsBundle && !opts.bundle) throw new SafeSteerError("bad_argument", "steered conditions need a bundle (--bundle).");
  if (opts.conditions.some((c) => c.mode === "conditional") && !opts.detector) {
    throw new SafeSteerError(
      "bad_argument",
      "conditional steering needs a detector: calibrate one into the bundle first (safesteer detector).",
    );
  }
  // every steered condition must resolve for every category before anything runs
  for (const c of opts.conditions) {
    // checks the bundle against the model and every policy against the bundle before any work
    if (c.mode !== "none" && opts.bundle)
      await resolveSteering(model, { bundle: opts.bundle, policy: c.policy ?? {}, raw: c.raw, layer: c.layer, force: opts.force });
  }
  const fp = await model.fingerprint();
  const results: EvalResults = opts.resume ?? {
    schema: RESULTS_SCHEMA,
    model: { path: model.info.path, sha256: fp.sha256 },
    bundle: opts.bundle
      ? { path: opts.bundlePath ?? "", site: opts.bundle.site, categories: [...opts.bundle.categories.keys()] }
      : undefined,
    judge: opts.judge.name,
    generation: opts.generation,
    chat: opts.chat,
    conditions: opts.conditions,
    items,
    answers: [],
    summary: {},
    complete: false,
  };
  const done = new Set(results.answers.map((a) => `${a.condition}#${a.index}`));
  const prompts = items.map((it) => renderExample(model, { prompt: it.prompt, history: it.history }, opts.chat));
  for (const p of prompts) ctx.checkFits(p.length + opts.generation.maxTokens, "prompt plus answer");

  if (opts.conditions.some((c) => c.mode === "conditional") && !results.detections) {
    const det = await detect(
      ctx,
      opts.detector as Detector,
      items.map((i) => i.prompt),
      opts.chat,
    );
    results.detections = det.map((d, index) => ({ index, ...d }));
  }

  const total = opts.conditions.length * items.length;
  let progress = done.size;
  for (const cond of opts.conditions) {
    // items that share the same steering are generated together
    const groups = new Map<string, { policy: Policy; items: EvalItem[] }>();
    for (const it of items) {
      if (done.has(`${cond.name}#${it.index}`)) continue;
      let policy: Policy = {};
      if (cond.mode === "policy") policy = cond.policy ?? {};
      else if (cond.mode === "known" && it.kind === "harmful" && it.category && cond.policy?.[it.category] !== undefined) {
        policy = { [it.category]: cond.policy[it.category] as number };
      } else if (cond.mode === "conditional") {
        const detection = results.detections?.[it.index] ?? { fired: [], scores: {} };
        policy = conditionalPolicy(cond.policy ?? {}, detection, cond.fire);
      }
      const key = Object.keys(policy).sort().join(",");
      const g = groups.get(key) ?? { policy, items: [] };
      g.items.push(it);
      groups.set(key, g);
    }
    for (const [, g] of groups) {
      // resolved once per group (the bundle check and vector scaling), applied per batch
      const steering: SteeringSource = {
        vectors: Object.keys(g.policy).length
          ? await resolveSteering(model, {
              bundle: opts.bundle as Bundle,
              policy: g.policy,
              raw: cond.raw,
              layer: cond.layer,
              force: opts.force,
            })
          : [],
      };
      const stopped = () =>
        new SafeSteerError("aborted", `evaluation stopped; ${results.answers.length} answers are saved, continue with --resume.`);
      for (let s = 0; s < g.items.length; s += ctx.nSeq) {
        if (opts.signal?.aborted) throw stopped();
        const chunk = g.items.slice(s, s + ctx.nSeq);
        // the signal also stops the batch mid-answer; its cut answers are dropped, never recorded
        const gen = await withSteering(ctx, steering, () =>
          generateBatch(
            ctx,
            chunk.map((it) => prompts[it.index] as number[]),
            { ...opts.generation, seeds: chunk.map((it) => opts.generation.seed + it.index), signal: opts.signal },
          ),
        );
        if (opts.signal?.aborted) throw stopped();
        const judgements = await opts.judge.judge(
          chunk,
          gen.map((r) => r.text),
        );
        const ppl = await perplexities(
          ctx,
          chunk.map((it) => prompts[it.index] as number[]),
          gen.map((r) => r.tokens),
        );
        chunk.forEach((it, j) => {
          const r = gen[j] as (typeof gen)[number];
          results.answers.push({
            condition: cond.name,
            index: it.index,
            answer: r.text,
            tokens: r.tokens.length,
            reason: r.reason,
            steered: Object.keys(g.policy).sort(),
            judgement: judgements[j] as AnswerRecord["judgement"],
            perplexity: ppl[j] ?? null,
            repetition: repetitionRate(r.text),
          });
        });
        progress += chunk.length;
        opts.onProgress?.(progress, total);
        results.summary = summarise(items, results.answers, opts.conditions);
        opts.onCheckpoint?.(results);
      }
    }
  }
  results.answers.sort((a, b) => a.condition.localeCompare(b.condition) || a.index - b.index);
  results.summary = summarise(items, results.answers, opts.conditions);
  results.complete = true;
  opts.onCheckpoint?.(results);
  return results;
}
