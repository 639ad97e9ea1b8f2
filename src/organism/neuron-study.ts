// Category neurons on the organism, as the demo reports them: each category's units found on the
// training split; how many units, how strongly and at which layers to suppress them chosen on dev
// prompts; and on the test split only, per category, suppressing its own top-K units against K
// random units of the same layers and against another category's K units: the answers' rates, the
// teacher-forced log-odds of the safe over the harmful answer, how well the units separate the
// category on test prompts, and how much the categories' unit sets overlap.
import { basename } from "node:path";
import type { Dataset, Example } from "../data/example.js";
import { loadDataset } from "../data/load.js";
import type { Context } from "../engine/context.js";
import { runEval } from "../eval/harness.js";
import { type Estimate, formatEstimate, formatRate, meanInterval, pairedDifference } from "../eval/intervals.js";
import { type EvalItem, samplePerGroup, toEvalItems } from "../eval/item.js";
import { type AnswerPair, pairLikelihood, pairsOf } from "../eval/likelihood.js";
import { type GroupMetrics, pairedDifferences } from "../eval/metrics.js";
import type { Budget, ConditionSpec, EvalResults, GenerationSettings } from "../eval/results.js";
import { budgetCheck, DEFAULT_BUDGET } from "../eval/select.js";
import { withSteering } from "../steer/apply.js";
import { type Activations, collectActivations } from "../steer/collect.js";
import { auroc } from "../steer/math.js";
import type { NeuronSet, NeuronUnit } from "../steer/neuron-types.js";
import { findNeurons, overlaps } from "../steer/neurons.js";
import { renderExample } from "../steer/render.js";
import { Rng } from "../util/random.js";
import { ORGANISM_DATA_DIR, type OrganismFiles } from "./files.js";
import { toyJudge } from "./judge.js";

export interface NeuronStudyOptions {
  /** The world's splits as `writeOrganismFiles` writes them: units found on train, chosen on dev, reported on test. */
  files: Pick<OrganismFiles, "trainPrompts" | "devPrompts" | "testPrompts" | "testPairs">;
  /** Sampling settings (the study's); `seeds` below sets the answers per test prompt. */
  generation: GenerationSettings;
  /** Answers per test prompt and condition (default 1). */
  seeds?: number;
  /** Units per category tried on dev (default 8, 32). */
  tops?: number[];
  /** Suppression strengths tried on dev (mean mode: 1 sets the units to their safe-side mean; default 0.5, 1). */
  scales?: number[];
  /** Layer sets tried on dev (default: every layer, the lower half, the upper half). */
  layerSets?: number[][];
  /** Dev harmful prompts per category for the choice (default 6). */
  devPerCategory?: number;
  /** Test harmful prompts per category (default 40, a seeded sample). */
  testPerCategory?: number;
  /** Test benign prompts answered under each category's suppressions (default 20, the same for every category). */
  benignPerCategory?: number;
  /** Test answer pairs per category for the likelihood check (default 20). */
  pairsPerCategory?: number;
  /** The budget the choice stays within (default DEFAULT_BUDGET; the study passes its own). */
  budget?: Budget;
  signal?: AbortSignal;
  onStep?: (msg: string) => void;
  /** Answers generated so far of all the stages' answers. */
  onProgress?: (done: number, total: number) => void;
}

export type NeuronArm = "unsteered" | "own" | "random" | "other";
export const NEURON_ARMS: readonly NeuronArm[] = ["unsteered", "own", "random", "other"];

/** A candidate setting tried on dev, with the dev rates of the category's harmful prompts (all categories pooled). */
export interface NeuronCandidate {
  top: number;
  scale: number;
  layers: number[];
  unsafe: Estimate;
  helpful: Estimate;
  fluent: Estimate | null;
  onTopic: Estimate | null;
  /** Within the budget (refusal, perplexity, fluency, on topic) relative to unsteered dev answers. */
  withinBudget: boolean;
}

export interface NeuronArmResult {
  arm: NeuronArm;
  /** Whose units: the category's own, "random", or the other category's name; null unsteered. */
  units: string | null;
  /** Test harmful prompts of the category. */
  unsafe: Estimate;
  helpful: Estimate;
  fluent: Estimate | null;
  onTopic: Estimate | null;
  /** Test benign prompts, the same units suppressed. */
  benignHelpful: Estimate;
  /** Unsafe rate minus unsteered's on the same prompts and seeds (paired bootstrap); null unsteered. */
  unsafeChange: Estimate | null;
  /** Mean over test pairs of log P(safe answer) - log P(harmful answer), nats, with this arm's suppression. */
  logOdds: Estimate;
  /** logOdds minus unsteered's, pair by pair; null unsteered. */
  logOddsChange: Estimate | null;
  /** Mean log-probability per token of the safe answers, and of the harmful ones. */
  safePerToken: number;
  harmfulPerToken: number;
  /** Mean test AUROC of the units (oriented as on training prompts) between the category's harmful and benign test prompts; n = units. */
  auroc: Estimate | null;
}

export interface NeuronCategoryResult {
  category: string;
  /** Whose units the "other" arm suppresses. */
  other: string;
  arms: NeuronArmResult[];
  /** Own units' unsafe rate minus the random units' on the same prompts (paired bootstrap). */
  ownMinusRandomUnsafe: Estimate | null;
  /** The chosen units, layer:index, in rank order. */
  units: string[];
}

export interface NeuronStudyResult {
  choice: { top: number; scale: number; layers: number[]; withinBudget: boolean };
  candidates: NeuronCandidate[];
  /** Dev rates of unsteered answers (what the budget is relative to). */
  devUnsteered: { unsafe: Estimate; fluent: Estimate | null; onTopic: Estimate | null };
  sizes: {
    devPerCategory: number;
    testHarmfulPerCategory: number;
    testBenign: number;
    pairsPerCategory: number;
    seeds: number;
    /** Prompts the separation is measured on: every test harmful prompt of the category, and every benign one. */
    aurocHarmfulPerCategory: number;
    aurocBenign: number;
  };
  categories: NeuronCategoryResult[];
  /** Jaccard overlap of the chosen unit sets. */
  overlap: Record<string, Record<string, number>>;
}

const layersLabel = (ls: number[]) =>
  ls.length > 1 && ls.every((l, i) => i === 0 || l === (ls[i - 1] as number) + 1) ? `${ls[0]}-${ls[ls.length - 1]}` : ls.join(",");
const candidateName = (c: { top: number; scale: number; layers: number[] }) =>
  `top=${c.top},scale=${c.scale},layers=${layersLabel(c.layers)}`;
const unitKey = (u: NeuronUnit) => `${u.layer}:${u.index}`;

/** A found set cut to its first K units per category (ranked by training effect), its overlap recomputed. */
function restrict(set: NeuronSet, top: number): NeuronSet {
  const categories = Object.fromEntries(Object.entries(set.categories).map(([c, e]) => [c, { ...e, units: e.units.slice(0, top) }]));
  return { ...set, top, categories, overlap: overlaps(categories) };
}

/**
 * The top units of each layer set, from one ranking over every layer: a set's units in the overall
 * rank order are its own top ones (any unit of it left out ranks below all those kept). Where the
 * ranking holds too few of a set's units, that set is ranked on its own.
 */
async function foundPerLayerSet(ctx: Context, train: Dataset, layerSets: number[][], top: number, signal?: AbortSignal) {
  const find = (layers: number[] | "auto", k: number) =>
    findNeurons(ctx, [train], undefined, { top: k, layers, seed: 1, chat: "always", signal });
  const all = await find("auto", top * ctx.model.info.nLayer);
  const out = new Map<string, NeuronSet>();
  for (const layers of layerSets) {
    const keep = new Set(layers);
    const categories = Object.fromEntries(
      Object.entries(all.categories).map(([c, e]) => [
        c,
        { ...e, units: e.units.filter((u) => keep.has(u.layer)).slice(0, top), explained: null },
      ]),
    );
    const enough = Object.values(categories).every((e) => e.units.length === top);
    out.set(layersLabel(layers), enough ? { ...all, layers, top, categories, overlap: overlaps(categories) } : await find(layers, top));
  }
  return out;
}

/** A rate of a group as an estimate (its harness interval; n = prompts). */
function rate(m: GroupMetrics, k: "unsafeRate" | "helpfulRate"): Estimate;
function rate(m: GroupMetrics, k: "fluentRate" | "relevance"): Estimate | null;
function rate(m: GroupMetrics, k: "unsafeRate" | "helpfulRate" | "fluentRate" | "relevance"): Estimate | null {
  const v = m[k];
  const ci = m.ci?.[k] ?? null;
  if (v === null || v === undefined) return null;
  return { value: v, lo: ci?.lo ?? v, hi: ci?.hi ?? v, n: m.prompts ?? m.n };
}

/** Units' reduced mlp_post activations on examples, at the given layers. */
function activationsOf(ctx: Context, examples: Array<Pick<Example, "prompt">>, layers: number[], signal?: AbortSignal) {
  const texts = examples.map((e) => renderExample(ctx.model, { prompt: e.prompt }, true));
  return collectActivations(ctx, texts, { site: "mlp_post", layers, reduce: "mean", signal });
}

const valuesOf = (a: Activations, u: { layer: number; index: number }, rows: number[]) =>
  rows.map((r) => (a.byLayer.get(u.layer) as Float32Array)[r * a.width + u.index] as number);
const meanOf = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

/**
 * Per category, K random units of the same layers (each of its top units swapped for another unit
 * of that layer, none of its own), with their safe-side mean and orientation from the training prompts.
 */
function randomUnits(set: NeuronSet, train: Activations, rows: { safe: number[]; unsafe: Record<string, number[]> }, seed: number) {
  const rng = new Rng(seed);
  const nFf = set.model.nFf;
  const out: Record<string, NeuronUnit[]> = {};
  for (const [c, e] of Object.entries(set.categories)) {
    const taken = new Set(e.units.map(unitKey));
    out[c] = e.units.map((u) => {
      let index = rng.int(nFf);
      while (taken.has(`${u.layer}:${index}`)) index = rng.int(nFf);
      taken.add(`${u.layer}:${index}`);
      const meanSafe = meanOf(valuesOf(train, { layer: u.layer, index }, rows.safe));
      const meanUnsafe = meanOf(valuesOf(train, { layer: u.layer, index }, rows.unsafe[c] ?? []));
      return { ...u, index, meanSafe, meanUnsafe, sign: meanUnsafe >= meanSafe ? 1 : -1, auroc: null, effect: null, others: {}, lens: [] };
    });
  }
  return out;
}

/** The chosen set plus, per category c, "random:c": its random units (safe-side means from the training prompts). */
async function withRandomUnits(ctx: Context, chosen: NeuronSet, train: Example[], signal?: AbortSignal): Promise<NeuronSet> {
  const acts = await activationsOf(ctx, train, chosen.layers, signal);
  const random = randomUnits(chosen, acts, trainRows(train), 11);
  const extra = Object.entries(chosen.categories).map(([c, e]) => [`random:${c}`, { ...e, units: random[c] ?? [] }]);
  return { ...chosen, categories: { ...chosen.categories, ...Object.fromEntries(extra) } };
}

/** Mean oriented AUROC of units between the category's harmful and the benign test prompts; n = units. */
function separation(units: NeuronUnit[], test: Activations, harmful: number[], benign: number[]): Estimate | null {
  const scores = units
    .map((u) =>
      auroc(
        valuesOf(test, u, harmful).map((x) => u.sign * x),
        valuesOf(test, u, benign).map((x) => u.sign * x),
      ),
    )
    .filter((x) => !Number.isNaN(x));
  return scores.length ? meanInterval(scores) : null;
}

interface Progress {
  done: number;
  total: number;
  report?: (done: number, total: number) => void;
}

/** runEval with the study's settings, its answers counted in the study's progress. */
async function evaluate(
  ctx: Context,
  items: EvalItem[],
  conditions: ConditionSpec[],
  neurons: NeuronSet | undefined,
  o: NeuronStudyOptions,
  p: Progress,
  seeds = 1,
) {
  const base = p.done;
  const r = await runEval(ctx, items, {
    judge: toyJudge,
    generation: { ...o.generation, seeds },
    conditions,
    chat: true,
    ...(neurons ? { neurons } : {}),
    signal: o.signal,
    onProgress: (d) => p.report?.(base + d, p.total),
  });
  p.done = base + items.length * conditions.length * seeds;
  return r;
}

/** Tries every (top, scale, layers) on dev harmful prompts (known category) and keeps the least unsafe within the budget. */
async function chooseOnDev(
  ctx: Context,
  found: Map<string, NeuronSet>,
  devItems: EvalItem[],
  o: NeuronStudyOptions & { tops: number[]; scales: number[] },
  p: Progress,
) {
  const budget = o.budget ?? DEFAULT_BUDGET;
  const base = (await evaluate(ctx, devItems, [{ name: "unsteered", mode: "none" }], undefined, o, p)).summary.unsteered
    ?.harmful as GroupMetrics;
  const options: Array<NeuronCandidate & { ok: boolean; quality: boolean; helpfulRate: number }> = [];
  for (const set of found.values()) {
    for (const top of o.tops) {
      const neurons = restrict(set, top);
      const cats = Object.keys(neurons.categories);
      const conditions: ConditionSpec[] = o.scales.map((scale) => ({
        name: candidateName({ top, scale, layers: set.layers }),
        mode: "known",
        suppress: Object.fromEntries(cats.map((c) => [c, scale])),
      }));
      const r = await evaluate(ctx, devItems, conditions, neurons, o, p);
      for (const [i, scale] of o.scales.entries()) {
        const m = r.summary[(conditions[i] as ConditionSpec).name]?.harmful as GroupMetrics;
        const check = budgetCheck(base, m, budget);
        options.push({
          top,
          scale,
          layers: set.layers,
          unsafe: rate(m, "unsafeRate"),
          helpful: rate(m, "helpfulRate"),
          fluent: rate(m, "fluentRate"),
          onTopic: rate(m, "relevance"),
          withinBudget: check.ok,
          ...check,
          helpfulRate: m.helpfulRate,
        });
      }
    }
  }
  // as the vector study chooses: least unsafe within budget (else within quality, else any); then more helpful; then the weaker
  const order = (a: (typeof options)[number], z: (typeof options)[number]) =>
    a.unsafe.value - z.unsafe.value || z.helpfulRate - a.helpfulRate || a.top * a.scale - z.top * z.scale;
  const fit = options.filter((x) => x.ok);
  const quality = options.filter((x) => x.quality);
  const best = [...(fit.length ? fit : quality.length ? quality : options)].sort(order)[0] as (typeof options)[number];
  const candidates: NeuronCandidate[] = options.map(({ ok: _ok, quality: _q, helpfulRate: _h, ...c }) => c);
  return {
    choice: { top: best.top, scale: best.scale, layers: best.layers, withinBudget: best.ok },
    candidates,
    devUnsteered: { unsafe: rate(base, "unsafeRate"), fluent: rate(base, "fluentRate"), onTopic: rate(base, "relevance") },
  };
}

/** Per arm: the pairs' log-odds under its suppression (unsteered: none), through the one steering entry. */
async function armLikelihoods(
  ctx: Context,
  pairs: AnswerPair[],
  neurons: NeuronSet,
  keys: Record<NeuronArm, string | null>,
  scale: number,
  signal?: AbortSignal,
) {
  const out = {} as Record<NeuronArm, Awaited<ReturnType<typeof pairLikelihood>>>;
  for (const arm of NEURON_ARMS) {
    const score = () => pairLikelihood(ctx, pairs, true, { perPair: true, signal });
    const key = keys[arm];
    out[arm] = key === null ? await score() : await withSteering(ctx, { neurons, suppress: { [key]: scale } }, score);
  }
  return out;
}

/** One category's arms on the test split: answers (harmful and benign), likelihoods and separation. */
async function testCategory(
  ctx: Context,
  c: string,
  other: string,
  data: { items: EvalItem[]; pairs: AnswerPair[]; neurons: NeuronSet; test: Activations; rows: { harmful: number[]; benign: number[] } },
  o: NeuronStudyOptions & { scale: number; seeds: number },
  p: Progress,
): Promise<NeuronCategoryResult> {
  const keys: Record<NeuronArm, string | null> = { unsteered: null, own: c, random: `random:${c}`, other };
  const conditions: ConditionSpec[] = NEURON_ARMS.map((arm) =>
    keys[arm] === null ? { name: arm, mode: "none" } : { name: arm, mode: "policy", suppress: { [keys[arm] as string]: o.scale } },
  );
  const r: EvalResults = await evaluate(ctx, data.items, conditions, data.neurons, o, p, o.seeds);
  const lik = await armLikelihoods(ctx, data.pairs, data.neurons, keys, o.scale, o.signal);
  const harmfulOf = (arm: string) => r.answers.filter((a) => a.condition === arm && data.items[a.index]?.kind === "harmful");
  const unitsOf = (arm: NeuronArm) => (keys[arm] === null ? null : (data.neurons.categories[keys[arm] as string]?.units ?? []));
  const arms = NEURON_ARMS.map((arm): NeuronArmResult => {
    const s = r.summary[arm];
    const h = s?.harmful as GroupMetrics;
    const l = lik[arm];
    const perPair = l.perPair ?? [];
    const base = lik.unsteered.perPair ?? [];
    const units = unitsOf(arm);
    return {
      arm,
      units: arm === "unsteered" ? null : arm === "own" ? c : arm === "random" ? "random" : other,
      unsafe: rate(h, "unsafeRate"),
      helpful: rate(h, "helpfulRate"),
      fluent: rate(h, "fluentRate"),
      onTopic: rate(h, "relevance"),
      benignHelpful: rate(s?.benign as GroupMetrics, "helpfulRate"),
      unsafeChange: s?.difference?.harmful.unsafeRate ?? null,
      logOdds: meanInterval(perPair),
      logOddsChange: arm === "unsteered" ? null : pairedDifference(perPair.map((b, i) => ({ a: [base[i] as number], b: [b] }))),
      safePerToken: l.safePerToken,
      harmfulPerToken: l.unsafePerToken,
      auroc: units ? separation(units, data.test, data.rows.harmful, data.rows.benign) : null,
    };
  });
  return {
    category: c,
    other,
    arms,
    ownMinusRandomUnsafe: pairedDifferences(harmfulOf("random"), harmfulOf("own")).unsafeRate ?? null,
    units: (data.neurons.categories[c]?.units ?? []).map(unitKey),
  };
}

/** The default layer sets: every layer, the lower half, the upper half. */
function defaultLayerSets(nLayer: number): number[][] {
  const all = Array.from({ length: nLayer }, (_, l) => l);
  const half = Math.ceil(nLayer / 2);
  return nLayer > 1 ? [all, all.slice(0, half), all.slice(half)] : [all];
}

/** Rows of the training prompts: the safe ones and each category's harmful ones. */
function trainRows(examples: Example[]) {
  const unsafe: Record<string, number[]> = {};
  const safe: number[] = [];
  examples.forEach((e, i) => {
    if (e.label === "safe" && !e.category) safe.push(i);
    else if (e.label === "unsafe" && e.category) unsafe[e.category] = [...(unsafe[e.category] ?? []), i];
  });
  return { safe, unsafe };
}

/**
 * The whole neuron study: see the file's head. Deterministic for given files, model and options.
 * Returns the result (for results.json), its Markdown section, and the chosen units as a neuron file
 * (schema safesteer.neurons/1: what `inspect --html` and the HTML report draw; `created` is the run's time).
 */
export async function runNeuronStudy(
  ctx: Context,
  o: NeuronStudyOptions,
): Promise<{ result: NeuronStudyResult; markdown: string; neurons: NeuronSet }> {
  const step = o.onStep ?? (() => {});
  const tops = o.tops ?? [8, 32];
  const scales = o.scales ?? [0.5, 1];
  const seeds = o.seeds ?? 1;
  const layerSets = o.layerSets ?? defaultLayerSets(ctx.model.info.nLayer);
  // provenance as `safesteer organism data` names the file (as the study's bundle does), not the temporary folder
  const train = { ...loadDataset(o.files.trainPrompts), path: `${ORGANISM_DATA_DIR}/${basename(o.files.trainPrompts)}` };
  const devItems = samplePerGroup(
    toEvalItems(loadDataset(o.files.devPrompts).examples).filter((i) => i.kind === "harmful"),
    o.devPerCategory ?? 6,
    7,
  );
  const testAll = toEvalItems(loadDataset(o.files.testPrompts).examples);
  const harmful = samplePerGroup(
    testAll.filter((i) => i.kind === "harmful"),
    o.testPerCategory ?? 40,
    3,
  );
  const benign = samplePerGroup(
    testAll.filter((i) => i.kind === "benign"),
    o.benignPerCategory ?? 20,
    3,
  );
  const cats = [...new Set(harmful.map((i) => i.category as string))].sort();
  const nTest = cats.reduce((n, c) => n + harmful.filter((i) => i.category === c).length + benign.length, 0);
  const p: Progress = {
    done: 0,
    total: devItems.length * (1 + layerSets.length * tops.length * scales.length) + NEURON_ARMS.length * nTest * seeds,
    report: o.onProgress,
  };

  step(
    `finding each category's units on the training split (${train.examples.length} prompts; layer sets ${layerSets.map(layersLabel).join(" / ")})`,
  );
  const found = await foundPerLayerSet(ctx, train, layerSets, Math.max(...tops), o.signal);

  step(
    `choosing units per category, strength and layers on ${devItems.length} dev prompts (${layerSets.length * tops.length * scales.length} settings)`,
  );
  const dev = await chooseOnDev(ctx, found, devItems, { ...o, tops, scales }, p);
  const { top, scale, layers } = dev.choice;
  const chosen = restrict(found.get(layersLabel(layers)) as NeuronSet, top);

  step(`suppressing own vs random vs another category's ${top} units on the test split`);
  const neurons = await withRandomUnits(ctx, chosen, train.examples, o.signal);
  // separation on every test harmful and benign prompt (one forward pass each, no sampling)
  const sepItems = testAll.filter((i) => i.kind !== "lookalike");
  const testActs = await activationsOf(ctx, sepItems, chosen.layers, o.signal);
  const sepBenign = sepItems.flatMap((it, r) => (it.kind === "benign" ? [r] : []));
  const pairs = pairsOf(loadDataset(o.files.testPairs).examples);
  const categories: NeuronCategoryResult[] = [];
  for (const [ci, c] of cats.entries()) {
    const items = [...harmful.filter((i) => i.category === c), ...benign].map((it, index) => ({ ...it, index }));
    const mine = new Rng(5 + ci).shuffled(pairs.filter((x) => x.category === c)).slice(0, o.pairsPerCategory ?? 20);
    const sepHarmful = sepItems.flatMap((it, r) => (it.kind === "harmful" && it.category === c ? [r] : []));
    categories.push(
      await testCategory(
        ctx,
        c,
        cats[(ci + 1) % cats.length] as string,
        { items, pairs: mine, neurons, test: testActs, rows: { harmful: sepHarmful, benign: sepBenign } },
        { ...o, scale, seeds },
        p,
      ),
    );
  }
  const result: NeuronStudyResult = {
    ...dev,
    sizes: {
      devPerCategory: devItems.length / Math.max(1, cats.length),
      testHarmfulPerCategory: harmful.length / Math.max(1, cats.length),
      testBenign: benign.length,
      pairsPerCategory: Math.min(...categories.map((c) => c.arms[0]?.logOdds.n ?? 0)),
      seeds,
      aurocHarmfulPerCategory: sepItems.filter((i) => i.kind === "harmful").length / Math.max(1, cats.length),
      aurocBenign: sepBenign.length,
    },
    categories,
    overlap: chosen.overlap,
  };
  return { result, markdown: neuronStudyMarkdown(result), neurons: chosen };
}

const pct = (e: Estimate | null) => (e ? formatRate(e) : "-");
const est = (e: Estimate | null, digits = 2, signed = false) => (e ? formatEstimate(e, digits, signed) : "-");
/** A change in points: "-12.5 [-25.0, 0.0] n=60". */
const points = (e: Estimate | null) =>
  e ? `${e.value >= 0 ? "+" : ""}${(100 * e.value).toFixed(1)} [${(100 * e.lo).toFixed(1)}, ${(100 * e.hi).toFixed(1)}] n=${e.n}` : "-";
const below = (e: Estimate | null) => e !== null && e.hi < 0;
const above = (e: Estimate | null) => e !== null && e.lo > 0;

/** What the measurements say, counted over categories (each claim needs its 95% interval to exclude no change). */
function verdict(r: NeuronStudyResult): string[] {
  const n = r.categories.length;
  const arm = (c: NeuronCategoryResult, a: NeuronArm) => c.arms.find((x) => x.arm === a) as NeuronArmResult;
  const count = (f: (c: NeuronCategoryResult) => boolean) => r.categories.filter(f).length;
  const sep = count((c) => (arm(c, "own").auroc?.lo ?? 0) > (arm(c, "random").auroc?.hi ?? 1));
  const lower = count((c) => below(arm(c, "own").unsafeChange));
  const beatRandom = count((c) => below(c.ownMinusRandomUnsafe));
  const odds = count((c) => above(arm(c, "own").logOddsChange));
  const oddsRandom = count((c) => above(arm(c, "random").logOddsChange));
  const fluentLoss = count((c) => (arm(c, "own").fluent?.hi ?? 1) < (arm(c, "unsteered").fluent?.lo ?? 0));
  return [
    `- Separation: the own units separate the category's test prompts from benign ones better than random units of the same layers (intervals apart) in ${sep} of ${n} categories.`,
    `- Unsafe answers: suppressing the own units lowers the unsafe rate (paired interval below 0) in ${lower} of ${n} categories, and more than random units do in ${beatRandom} of ${n}.`,
    `- Likelihood: the own units raise the log-odds of the safe over the harmful answer (interval above 0) in ${odds} of ${n} categories; random units do in ${oddsRandom} of ${n}.`,
    `- Fluency: the own units' fluent rate falls below unsteered's interval in ${fluentLoss} of ${n} categories.`,
  ];
}

/** The report's section (heading at `level`): the choice, the per-category table, the likelihoods, the separation and the overlap. */
export function neuronStudyMarkdown(r: NeuronStudyResult, level = 2): string {
  const s = r.sizes;
  const cats = r.categories.map((c) => c.category);
  const label = (c: NeuronCategoryResult, a: NeuronArmResult) =>
    a.arm === "unsteered"
      ? "none"
      : a.arm === "own"
        ? `own top-${r.choice.top}`
        : a.arm === "random"
          ? `random ${r.choice.top}`
          : `${c.other}'s top-${r.choice.top}`;
  const rows = r.categories.flatMap((c) =>
    c.arms.map(
      (a) =>
        `| ${c.category} | ${label(c, a)} | ${pct(a.unsafe)} | ${points(a.unsafeChange)} | ${pct(a.helpful)} | ${pct(a.fluent)} | ${pct(a.onTopic)} | ${pct(a.benignHelpful)} |`,
    ),
  );
  const lik = r.categories.flatMap((c) =>
    c.arms.map(
      (a) =>
        `| ${c.category} | ${label(c, a)} | ${est(a.logOdds)} | ${est(a.logOddsChange, 2, true)} | ${a.safePerToken.toFixed(2)} | ${a.harmfulPerToken.toFixed(2)} | ${est(a.auroc)} |`,
    ),
  );
  const devBest = r.candidates.find(
    (x) => x.top === r.choice.top && x.scale === r.choice.scale && layersLabel(x.layers) === layersLabel(r.choice.layers),
  );
  return [
    `${"#".repeat(level)} Category neurons`,
    "",
    `Each category's MLP units (\`mlp_post\`) are found on the training split (its harmful prompts against the safe ones). On ${s.devPerCategory} dev harmful prompts per category, ${r.candidates.length} settings were tried (units per category x strength x layers; each category's own units suppressed on its prompts); the least unsafe within the budget was chosen: **${r.choice.top} units per category, strength ${r.choice.scale} (set towards their safe-side mean), layers ${layersLabel(r.choice.layers)}**${r.choice.withinBudget ? "" : " (no setting was within the budget: the least unsafe within quality)"}. On dev it answered unsafe ${pct(devBest?.unsafe ?? null)}, fluent ${pct(devBest?.fluent ?? null)}, against unsteered ${pct(r.devUnsteered.unsafe)}, fluent ${pct(r.devUnsteered.fluent)}.`,
    "",
    "| units per category | strength | layers | dev unsafe | helpful | fluent | on topic | within budget |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    `| none | - | - | ${pct(r.devUnsteered.unsafe)} | - | ${pct(r.devUnsteered.fluent)} | ${pct(r.devUnsteered.onTopic)} | - |`,
    ...r.candidates.map(
      (c) =>
        `| ${c.top} | ${c.scale} | ${layersLabel(c.layers)} | ${pct(c.unsafe)} | ${pct(c.helpful)} | ${pct(c.fluent)} | ${pct(c.onTopic)} | ${c.withinBudget ? "yes" : "no"} |`,
    ),
    "",
    `On the test split, per category: its own units suppressed, against ${r.choice.top} random units of the same layers and against the next category's units. ${s.testHarmfulPerCategory} harmful prompts per category, ${s.testBenign} benign prompts (the same for every category, under that category's suppression), ${s.seeds} answer${s.seeds > 1 ? "s" : ""} per prompt; rates with their 95% interval and n (prompts); the unsafe change is paired with unsteered on the same prompts and seeds.`,
    "",
    "| category | suppressed | unsafe | unsafe change (points) | helpful | fluent | on topic | benign helpful |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
    `Own units minus random units, unsafe (points, paired): ${r.categories.map((c) => `${c.category} ${points(c.ownMinusRandomUnsafe)}`).join("; ")}.`,
    "",
    `Likelihood check (teacher-forced, no sampling): ${s.pairsPerCategory} test requests per category, each with a safe-and-helpful and a harmful answer; log-odds = log P(safe answer) - log P(harmful answer) in nats (mean, bootstrap interval; change paired with unsteered), and the mean log-probability per token of each answer. Separation: the units' mean test AUROC between the category's ${s.aurocHarmfulPerCategory} harmful test prompts and the ${s.aurocBenign} benign ones (oriented as on training prompts; interval over units, n = units).`,
    "",
    "| category | suppressed | log-odds safe vs harmful | change | safe log-prob/token | harmful log-prob/token | test AUROC of the units |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...lik,
    "",
    "Overlap of the chosen unit sets (Jaccard):",
    "",
    `| | ${cats.join(" | ")} |`,
    `| --- |${cats.map(() => " --- |").join("")}`,
    ...cats.map((a) => `| ${a} | ${cats.map((b) => (r.overlap[a]?.[b] ?? 0).toFixed(2)).join(" | ")} |`),
    "",
    ...verdict(r),
  ].join("\n");
}
