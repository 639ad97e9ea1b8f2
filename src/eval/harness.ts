// The evaluation harness: every prompt answered under each condition (unsteered, steered by a
// policy, by the known category, or conditionally by the detector: a steering plan per condition,
// steer/decide.ts, decides each prompt's steering) with the same seeds, judged, scored for quality,
// summarised. Checkpoints after every batch so a run can resume.
import type { Context, SteeringVector } from "../engine/context.js";
import { type GenerationResult, generateBatch } from "../engine/generate.js";
import { SafeSteerError } from "../errors.js";
import { withSteering } from "../steer/apply.js";
import { withPrefix } from "../steer/baselines.js";
import { checkSteeringModel, type PlannedSteering, planSteering, steeredPolicy } from "../steer/decide.js";
import { detect } from "../steer/detect.js";
import type { NeuronSet } from "../steer/neuron-types.js";
import { renderExample } from "../steer/render.js";
import type { Bundle, Detector } from "../steer/types.js";
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

/** Answers that share their steering, generated together; detect-then-refuse's refusals form their own group. */
interface JobGroup {
  steered: string[];
  vectors: SteeringVector[];
  refuse: boolean;
  jobs: Job[];
}

export async function runEval(ctx: Context, items: EvalItem[], opts: EvalOptions): Promise<EvalResults> {
  checkItems(items);
  checkKnownCategories(items, opts.conditions);
  checkConditions(opts);
  // every condition's policy and suppression against its files, and the files against the model, before any work
  const plans = await planConditions(ctx.model, opts);
  const results = opts.resume ?? (await newResults(ctx.model, items, opts));
  const seeds = opts.generation.seeds ?? 1;
  if (!(Number.isInteger(seeds) && seeds >= 1))
    throw new SafeSteerError("bad_argument", `seeds per prompt must be a whole number of at least 1, got ${seeds}.`);
  const promptSets = renderPrompts(ctx, items, opts);
  if (opts.conditions.some((c) => c.mode === "conditional" || c.refuseWith !== undefined) && !results.detections) {
    const det = await detect(
      ctx,
      opts.detector as Detector,
      items.map((i) => i.prompt),
      opts.chat,
    );
    results.detections = det.map((d, index) => ({ index, ...d }));
  }
  const run: Run = { ctx, items, opts, results, seeds, total: opts.conditions.length * items.length * seeds, progress: 0 };
  const done = new Set(results.answers.map((a) => answerKey(a.condition, a.index, a.sample)));
  run.progress = done.size;
  for (const cond of opts.conditions) {
    const prompts = promptSets.get(cond.prefix) as number[][];
    for (const g of groupJobs(run, cond, plans.get(cond.name) as PlannedSteering, done)) await answerGroup(run, cond, prompts, g);
  }
  results.answers.sort((a, b) => a.condition.localeCompare(b.condition) || a.index - b.index || (a.sample ?? 0) - (b.sample ?? 0));
  results.summary = summarise(items, results.answers, opts.conditions, { paired: true });
  results.complete = true;
  opts.onCheckpoint?.(results);
  return results;
}

/** What the steps of a run share. */
interface Run {
  ctx: Context;
  items: EvalItem[];
  opts: EvalOptions;
  results: EvalResults;
  seeds: number;
  total: number;
  progress: number;
}

const answerKey = (cond: string, index: number, sample = 0) => `${cond}#${index}#${sample}`;

/** Some items, numbered 0..n-1 in order (answers, seeds and detections are keyed by index). */
function checkItems(items: EvalItem[]): void {
  // rates over 0 prompts are 0% and look like a result: refuse instead
  if (items.length === 0) throw new SafeSteerError("bad_argument", "no prompts to evaluate: give at least one evaluation item.");
  const misplaced = items.findIndex((it, i) => it.index !== i);
  if (misplaced >= 0)
    throw new SafeSteerError(
      "bad_argument",
      `evaluation item ${misplaced} has index ${items[misplaced]?.index}: items must be numbered 0..n-1 in order; after filtering, renumber them (items.map((it, index) => ({ ...it, index }))).`,
    );
}

/** Known-category steering of prompts whose categories the policy lacks steers nothing: warn, or refuse when it steers none. */
function checkKnownCategories(items: EvalItem[], conditions: ConditionSpec[]): void {
  const harmfulCats = [...new Set(items.filter((it) => it.kind === "harmful" && it.category).map((it) => it.category as string))].sort();
  const warned = new Set<string>();
  for (const c of conditions) {
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
}

/** Each condition's steering plan (steer/decide.ts), its bundle and neurons checked against the model. */
async function planConditions(model: Context["model"], opts: EvalOptions): Promise<Map<string, PlannedSteering>> {
  const plans = new Map<string, PlannedSteering>();
  for (const c of opts.conditions) {
    if (c.suppress && !opts.neurons)
      throw new SafeSteerError("bad_argument", `condition "${c.name}" suppresses category neurons: give a neuron file (--neurons).`);
    const bundle = c.mode === "none" ? undefined : vectorsOf(c, opts);
    const neurons = c.suppress && opts.neurons ? { set: opts.neurons, suppress: c.suppress, mode: c.suppressMode } : undefined;
    await checkSteeringModel(model, { bundle, neurons: neurons?.set, force: opts.force });
    plans.set(c.name, planSteering(bundle, { policy: c.policy ?? {}, mode: c.mode, fire: c.fire, raw: c.raw, layer: c.layer, neurons }));
  }
  return plans;
}

/** A fresh results file for this model, bundle and conditions. */
async function newResults(model: Context["model"], items: EvalItem[], opts: EvalOptions): Promise<EvalResults> {
  const fp = await model.fingerprint();
  return {
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
}

/** Each prompt's tokens per prefix (the system-prompt baseline's conditions read it with theirs in front), checked to fit with its answer. */
function renderPrompts(ctx: Context, items: EvalItem[], opts: EvalOptions): Map<string | undefined, number[][]> {
  const promptSets = new Map<string | undefined, number[][]>();
  for (const prefix of new Set(opts.conditions.map((c) => c.prefix))) {
    const ps = items.map((it) =>
      renderExample(
        ctx.model,
        { prompt: prefix === undefined ? it.prompt : withPrefix(prefix, it.prompt), history: it.history },
        opts.chat,
      ),
    );
    for (const p of ps) ctx.checkFits(p.length + opts.generation.maxTokens, "prompt plus answer");
    promptSets.set(prefix, ps);
  }
  return promptSets;
}

/** The condition's answers still to produce, grouped by the steering each prompt gets (its decision). */
function groupJobs(run: Run, cond: ConditionSpec, plan: PlannedSteering, done: Set<string>): JobGroup[] {
  const groups = new Map<string, JobGroup>();
  for (const it of run.items) {
    const todo = Array.from({ length: run.seeds }, (_, sample) => ({ ...it, sample })).filter(
      (j) => !done.has(answerKey(cond.name, j.index, j.sample)),
    );
    if (todo.length === 0) continue;
    const detection = run.results.detections?.[it.index];
    const { decision, vectors } = plan.decide({
      detection: detection ?? { fired: [], scores: {} },
      category: it.kind === "harmful" ? it.category : undefined,
    });
    const steered = Object.keys(steeredPolicy(decision)).sort();
    const suppressed = (decision.suppressed ?? []).map((s) => s.category).sort();
    const refuse = cond.refuseWith !== undefined && (detection?.fired.length ?? 0) > 0;
    const key = refuse ? "\u0000refuse" : `${steered.join(",")}|${suppressed.join(",")}`;
    const g = groups.get(key) ?? { steered, vectors, refuse, jobs: [] };
    g.jobs.push(...todo);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/** A group's answers in batches of the context's sequences: generated (steered for the batch) or refused, judged, scored, checkpointed. */
async function answerGroup(run: Run, cond: ConditionSpec, prompts: number[][], g: JobGroup): Promise<void> {
  const { ctx, opts, results } = run;
  const stopped = () =>
    new SafeSteerError("aborted", `evaluation stopped; ${results.answers.length} answers are saved, continue with --resume.`);
  const seedOf = (index: number, sample: number) => opts.generation.seed + index + sample * run.items.length;
  for (let s = 0; s < g.jobs.length; s += ctx.nSeq) {
    if (opts.signal?.aborted) throw stopped();
    const chunk = g.jobs.slice(s, s + ctx.nSeq);
    // the signal also stops the batch mid-answer; its cut answers are dropped, never recorded
    const gen = g.refuse
      ? chunk.map(() => cannedAnswer(ctx.model, cond.refuseWith as string))
      : await withSteering(ctx, { vectors: g.vectors }, () =>
          generateBatch(
            ctx,
            chunk.map((it) => prompts[it.index] as number[]),
            { ...opts.generation, seeds: chunk.map((it) => seedOf(it.index, it.sample)), signal: opts.signal },
          ),
        );
    if (opts.signal?.aborted) throw stopped();
    await recordAnswers(run, cond, prompts, g, chunk, gen);
    run.progress += chunk.length;
    opts.onProgress?.(run.progress, run.total);
    // a checkpoint file carries a summary; without one nobody reads it before the end (the demo's 5,000 answers)
    if (opts.onCheckpoint) {
      results.summary = summarise(run.items, results.answers, opts.conditions);
      opts.onCheckpoint(results);
    }
  }
}

/** A batch's answers judged, scored (perplexity, repetition, BLEU / ROUGE-L) and added to the results. */
async function recordAnswers(run: Run, cond: ConditionSpec, prompts: number[][], g: JobGroup, chunk: Job[], gen: GenerationResult[]) {
  const judgements = await run.opts.judge.judge(
    chunk,
    gen.map((r) => r.text),
  );
  const ppl = await perplexities(
    run.ctx,
    chunk.map((it) => prompts[it.index] as number[]),
    gen.map((r) => r.tokens),
  );
  chunk.forEach((it, j) => {
    const r = gen[j] as GenerationResult;
    run.results.answers.push({
      condition: cond.name,
      index: it.index,
      answer: r.text,
      tokens: r.tokens.length,
      reason: r.reason,
      steered: g.steered,
      judgement: judgements[j] as AnswerRecord["judgement"],
      perplexity: ppl[j] ?? null,
      repetition: repetitionRate(r.text),
      ...(run.seeds > 1 ? { sample: it.sample } : {}),
      ...referenceFields(r.text, it.references),
    });
  });
}
