// The evaluation harness: every prompt answered under each condition (unsteered, steered by a
// policy, by the known category, or conditionally by the detector) with the same seeds, judged,
// scored for quality, summarised. Checkpoints after every batch so a run can resume.
import type { Context } from "../engine/context.js";
import { type GenerationResult, generateBatch } from "../engine/generate.js";
import { SafeSteerError } from "../errors.js";
import { resolveSteering, type SteeringSource, withSteering } from "../steer/apply.js";
import { withPrefix } from "../steer/baselines.js";
import { conditionalPolicy, detect } from "../steer/detect.js";
import type { NeuronSet } from "../steer/neuron-types.js";
import { renderExample } from "../steer/render.js";
import type { Bundle, Detector, Policy } from "../steer/types.js";
import { log } from "../util/logger.js";
import type { EvalItem } from "./item.js";
import type { Judge } from "./judges.js";
import { answerLogProbs } from "./likelihood.js";
import { type AnswerRecord, groupMetrics, pairedDifferences, referenceDifference, repetitionRate } from "./metrics.js";
import { referenceScores } from "./reference-metrics.js";
import {
  type ConditionSpec,
  type ConditionSummary,
  type EvalResults,
  type GenerationSettings,
  RESULTS_SCHEMA,
  referenceCondition,
} from "./results.js";

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
  /** Baselines' vectors by method ("caa", "refusal-direction"; steer/baselines.ts), for conditions that name them. */
  vectorSets?: Record<string, Bundle>;
  /** Category neurons, suppressed in the conditions that say `suppress`. */
  neurons?: NeuronSet;
  /** A previous, possibly partial, run of the same evaluation to continue. */
  resume?: EvalResults;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  onCheckpoint?: (r: EvalResults) => void;
}

/** The vectors a condition steers with: a baseline's (by method) or the bundle's. */
function vectorsOf(c: ConditionSpec, opts: EvalOptions): Bundle | undefined {
  return c.vectors === undefined ? opts.bundle : opts.vectorSets?.[c.vectors];
}

/** Everything a condition needs is there (a bundle, a baseline's vectors, a detector), before any work. */
function checkConditions(opts: EvalOptions): void {
  for (const c of opts.conditions) {
    if (c.mode !== "none" && c.vectors !== undefined && !opts.vectorSets?.[c.vectors])
      throw new SafeSteerError(
        "bad_argument",
        `condition "${c.name}" steers with ${c.vectors} vectors, but none were given: build them first (steer/baselines.ts, or eval --baseline ${c.vectors}).`,
      );
    // a condition that only suppresses neurons needs no bundle
    if (c.mode !== "none" && c.vectors === undefined && !(c.suppress && !c.policy) && !opts.bundle)
      throw new SafeSteerError("bad_argument", "steered conditions need a bundle (--bundle).");
    if ((c.mode === "conditional" || c.refuseWith !== undefined) && !opts.detector)
      throw new SafeSteerError(
        "bad_argument",
        `condition "${c.name}" ${c.refuseWith !== undefined ? "refuses what the detector fires on" : "steers conditionally"}: it needs a detector; calibrate one into the bundle first (safesteer detector).`,
      );
  }
}

/**
 * Rates per condition and group with intervals; with `paired`, each condition's difference from the
 * reference condition too (the bootstrap is skipped at checkpoints, where nobody reads it).
 */
export function summarise(
  items: EvalItem[],
  answers: AnswerRecord[],
  conditions: ConditionSpec[],
  opts: { paired?: boolean } = {},
): Record<string, ConditionSummary> {
  const out: Record<string, ConditionSummary> = {};
  const category = (a: AnswerRecord) => items[a.index]?.category ?? "uncategorised";
  const groups = (cond: string) => {
    const mine = answers.filter((a) => a.condition === cond);
    const of = (kind: EvalItem["kind"]) => mine.filter((a) => items[a.index]?.kind === kind);
    const harmful = of("harmful");
    const cats = [...new Set(harmful.map(category))].sort();
    return {
      harmful,
      byCategory: cats.map((k) => [k, harmful.filter((a) => category(a) === k)] as const),
      benign: of("benign"),
      lookalike: of("lookalike"),
    };
  };
  const refName = referenceCondition(conditions);
  const ref = refName !== undefined ? groups(refName) : undefined;
  const hasRefs = items.some((it) => it.references?.length);
  for (const c of conditions) {
    const g = groups(c.name);
    out[c.name] = {
      harmful: { ...groupMetrics(g.harmful), byCategory: Object.fromEntries(g.byCategory.map(([k, a]) => [k, groupMetrics(a)])) },
      benign: groupMetrics(g.benign),
      lookalike: groupMetrics(g.lookalike),
    };
    if (!ref || refName === undefined) continue;
    const refCat = new Map(ref.byCategory);
    if (opts.paired && c.name !== refName)
      out[c.name]!.difference = {
        reference: refName,
        harmful: {
          ...pairedDifferences(ref.harmful, g.harmful),
          byCategory: Object.fromEntries(g.byCategory.map(([k, a]) => [k, pairedDifferences(refCat.get(k) ?? [], a)])),
        },
        benign: pairedDifferences(ref.benign, g.benign),
        lookalike: pairedDifferences(ref.lookalike, g.lookalike),
      };
    // BLEU / ROUGE-L: this condition minus unsteered on the same prompts, per group
    if (hasRefs)
      out[c.name]!.referenceDelta =
        c.name === refName
          ? null
          : {
              harmful: referenceDifference(ref.harmful, g.harmful),
              byCategory: Object.fromEntries(g.byCategory.map(([k, a]) => [k, referenceDifference(refCat.get(k) ?? [], a)])),
              benign: referenceDifference(ref.benign, g.benign),
              lookalike: referenceDifference(ref.lookalike, g.lookalike),
            };
  }
  return out;
}

/** An answer's BLEU / ROUGE-L fields: both null when its item has no references. */
function referenceFields(answer: string, references: string[] | undefined): { bleu: number | null; rougeL: number | null } {
  const s = referenceScores(answer, references);
  return { bleu: s?.bleu ?? null, rougeL: s?.rougeL ?? null };
}

/** Perplexity of each answer given its prompt, under the (unsteered) context. */
async function perplexities(ctx: Context, prompts: number[][], answers: number[][]): Promise<Array<number | null>> {
  const lps = await answerLogProbs(ctx, prompts, answers);
  return answers.map((a, i) => (a.length === 0 ? null : Math.exp(-(lps[i] as number) / a.length)));
}

/** Detect-then-refuse's answer, as if generated: the text and its tokens (for perplexity). */
function cannedAnswer(model: Context["model"], text: string): GenerationResult {
  return { text, tokens: model.tokenize(text, { addSpecial: false }), reason: "stop" };
}

/** One answer to produce: a prompt and which of its seeds. */
type Job = EvalItem & { sample: number };

/** The neurons a condition suppresses for one prompt: known mode its own category's, conditional the fired ones, else all. */
function suppressionFor(
  cond: ConditionSpec,
  it: EvalItem,
  detection: { fired: string[]; scores: Record<string, number> } | undefined,
): Policy {
  const sup = cond.suppress ?? {};
  if (cond.mode === "known")
    return it.kind === "harmful" && it.category && sup[it.category] !== undefined ? { [it.category]: sup[it.category] as number } : {};
  if (cond.mode === "conditional") return conditionalPolicy(sup, detection ?? { fired: [], scores: {} }, cond.fire);
  return sup;
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
    if (c.mode !== "known" || harmfulCats.length === 0 || (c.suppress && !c.policy)) continue;
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
  checkConditions(opts);
  // every steered condition must resolve for every category before anything runs
  for (const c of opts.conditions) {
    // checks the bundle against the model and every policy against the bundle before any work
    const bundle = vectorsOf(c, opts);
    if (c.mode !== "none" && bundle)
      await resolveSteering(model, { bundle, policy: c.policy ?? {}, raw: c.raw, layer: c.layer, force: opts.force });
  }
  for (const c of opts.conditions) {
    if (!c.suppress) continue;
    if (!opts.neurons)
      throw new SafeSteerError("bad_argument", `condition "${c.name}" suppresses category neurons: give a neuron file (--neurons).`);
    await resolveSteering(model, { neurons: opts.neurons, suppress: c.suppress, suppressMode: c.suppressMode, forceNeurons: opts.force });
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
  const seeds = opts.generation.seeds ?? 1;
  if (!(Number.isInteger(seeds) && seeds >= 1))
    throw new SafeSteerError("bad_argument", `seeds per prompt must be a whole number of at least 1, got ${seeds}.`);
  const key = (cond: string, index: number, sample = 0) => `${cond}#${index}#${sample}`;
  const done = new Set(results.answers.map((a) => key(a.condition, a.index, a.sample)));
  // the same seed for a prompt's k-th answer in every condition; k = 0 keeps the one-seed runs' seeds
  const seedOf = (index: number, sample: number) => opts.generation.seed + index + sample * items.length;
  // the system-prompt baseline's conditions read each prompt with their prefix in front
  const promptSets = new Map<string | undefined, number[][]>();
  for (const prefix of new Set(opts.conditions.map((c) => c.prefix))) {
    const ps = items.map((it) =>
      renderExample(model, { prompt: prefix === undefined ? it.prompt : withPrefix(prefix, it.prompt), history: it.history }, opts.chat),
    );
    for (const p of ps) ctx.checkFits(p.length + opts.generation.maxTokens, "prompt plus answer");
    promptSets.set(prefix, ps);
  }

  if (opts.conditions.some((c) => c.mode === "conditional" || c.refuseWith !== undefined) && !results.detections) {
    const det = await detect(
      ctx,
      opts.detector as Detector,
      items.map((i) => i.prompt),
      opts.chat,
    );
    results.detections = det.map((d, index) => ({ index, ...d }));
  }

  const total = opts.conditions.length * items.length * seeds;
  let progress = done.size;
  for (const cond of opts.conditions) {
    const prompts = promptSets.get(cond.prefix) as number[][];
    // items that share the same steering are generated together; detect-then-refuse's refusals form their own group
    const groups = new Map<string, { policy: Policy; sup: Policy; items: Job[]; refuse?: boolean }>();
    for (const it of items) {
      const todo = Array.from({ length: seeds }, (_, sample) => ({ ...it, sample })).filter(
        (j) => !done.has(key(cond.name, j.index, j.sample)),
      );
      if (todo.length === 0) continue;
      let policy: Policy = {};
      if (cond.mode === "policy") policy = cond.policy ?? {};
      else if (cond.mode === "known" && it.kind === "harmful" && it.category && cond.policy?.[it.category] !== undefined) {
        policy = { [it.category]: cond.policy[it.category] as number };
      } else if (cond.mode === "conditional") {
        const detection = results.detections?.[it.index] ?? { fired: [], scores: {} };
        policy = conditionalPolicy(cond.policy ?? {}, detection, cond.fire);
      }
      const sup = suppressionFor(cond, it, results.detections?.[it.index]);
      const refuse = cond.refuseWith !== undefined && (results.detections?.[it.index]?.fired.length ?? 0) > 0;
      const group = refuse ? "\u0000refuse" : `${Object.keys(policy).sort().join(",")}|${Object.keys(sup).sort().join(",")}`;
      const g = groups.get(group) ?? { policy, sup, items: [], refuse };
      g.items.push(...todo);
      groups.set(group, g);
    }
    for (const [, g] of groups) {
      // resolved once per group (the bundle check and vector scaling), applied per batch
      const steering: SteeringSource = {
        ...(Object.keys(g.sup).length
          ? { neurons: opts.neurons, suppress: g.sup, suppressMode: cond.suppressMode, forceNeurons: opts.force }
          : {}),
        vectors: Object.keys(g.policy).length
          ? await resolveSteering(model, {
              bundle: vectorsOf(cond, opts) as Bundle,
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
        const gen = g.refuse
          ? chunk.map(() => cannedAnswer(model, cond.refuseWith as string))
          : await withSteering(ctx, steering, () =>
              generateBatch(
                ctx,
                chunk.map((it) => prompts[it.index] as number[]),
                { ...opts.generation, seeds: chunk.map((it) => seedOf(it.index, it.sample)), signal: opts.signal },
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
            ...(seeds > 1 ? { sample: it.sample } : {}),
            ...referenceFields(r.text, it.references),
          });
        });
        progress += chunk.length;
        opts.onProgress?.(progress, total);
        results.summary = summarise(items, results.answers, opts.conditions);
        opts.onCheckpoint?.(results);
      }
    }
  }
  results.answers.sort((a, b) => a.condition.localeCompare(b.condition) || a.index - b.index || (a.sample ?? 0) - (b.sample ?? 0));
  results.summary = summarise(items, results.answers, opts.conditions, { paired: true });
  results.complete = true;
  opts.onCheckpoint?.(results);
  return results;
}
