// The end-to-end SafeSteer study on the organism: build vectors from the training split, choose
// layer and strength per category on training prompts, calibrate the detector, evaluate held-out
// prompts unsteered / steered (category known) / steered conditionally, and compare variants.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Dataset } from "../data/example.js";
import { loadDataset } from "../data/load.js";
import type { Context } from "../engine/context.js";
import type { Site } from "../engine/sites.js";
import { runEval } from "../eval/harness.js";
import { type EvalItem, samplePerGroup, toEvalItems } from "../eval/item.js";
import { type CategoryLikelihood, categoryLikelihoods, pairsOf } from "../eval/likelihood.js";
import type { Choice, ConditionSpec, ConditionSummary, EvalResults, GenerationSettings } from "../eval/results.js";
import { applyChoices, type Budget, DEFAULT_BUDGET, selectPerCategory, sweepConditions } from "../eval/select.js";
import { buildBundle } from "../steer/build.js";
import { calibrateDetector } from "../steer/detect.js";
import { bundlePolicy } from "../steer/policy.js";
import type { Bundle, CategoryEntry, DetectorPooling } from "../steer/types.js";
import { ORGANISM_DATA_DIR, writeOrganismFiles } from "./files.js";
import { toyJudge } from "./judge.js";
import { DEFAULT_ORGANISM_CONFIG } from "./train.js";
import { ORGANISM_STOP, type WorldOptions } from "./world.js";

export interface StudyOptions {
  /** Held-out prompts per kind and category to evaluate (default: all). */
  testPerGroup?: number;
  /** Training prompts per category for the sweep (default 24). */
  sweepPerCategory?: number;
  sweepLayers?: number[];
  sweepStrengths?: number[];
  budget?: Budget;
  generation?: Partial<GenerationSettings>;
  /** Variants to compare (default: all four comparisons). */
  comparisons?: boolean;
  world?: WorldOptions;
  onStep?: (msg: string) => void;
  /** Stops the study between decode batches (every stage checks it). */
  signal?: AbortSignal;
}

export interface VariantResult {
  name: string;
  /** Vector data: contrastive pairs (absent) or harmful answers against generic benign ones. */
  generic?: boolean;
  site: Site;
  reduce: "mean" | "last";
  prune: number | "off";
  pooled: boolean;
  choices: Choice[];
  /** Held-out results, category known. */
  test: ConditionSummary;
}

export interface StudyResults {
  main: VariantResult;
  baseline: ConditionSummary;
  /** Steered by the detector: every category that fires. */
  conditional: ConditionSummary;
  /** Steered by the detector: only the most confident category that fires. */
  conditionalTop: ConditionSummary;
  detector: {
    accuracy: number;
    detectionRate: number;
    /** Share of harmful prompts whose highest-scoring category is theirs, fired or not (naming without the gate). */
    topScoreAccuracy: number;
    falsePositiveRate: number;
    lookalikeFalsePositiveRate: number;
    nHarmful: number;
    nBenign: number;
    nLookalike: number;
    layer: number;
    pooling: DetectorPooling;
    /** Share of held-out training harmful prompts named at the false-alarm budget, per candidate layer. */
    validationByLayer: Array<{ layer: number; score: number; margin: number }>;
  };
  /**
   * Per category, on held-out harmful requests with both answers: how likely the safe and the
   * harmful answer are (teacher-forced), unsteered and steered with that category at its chosen
   * layer and strength (main.choices).
   */
  likelihood: CategoryLikelihood[];
  comparisons: VariantResult[];
  examples: Array<{ category: string; prompt: string; unsteered: string; steered: string }>;
  test: EvalResults;
  bundle: Bundle;
}

interface Variant {
  name: string;
  /** Vector data: contrastive pairs (the default) or harmful answers against generic benign ones. */
  generic?: boolean;
  site: Site;
  reduce: "mean" | "last";
  prune: number | "off";
  pooled: boolean;
}

function pooledData(d: Dataset): Dataset {
  return { ...d, examples: d.examples.map((e) => ({ ...e, category: e.category ? "pooled" : undefined })) };
}

/** Builds a variant's bundle and tunes layer and strength per category on training prompts. */
async function tuneVariant(
  ctx: Context,
  v: Variant,
  vectors: { pairs: Dataset; generic: Dataset },
  sweepItems: EvalItem[],
  o: Required<Pick<StudyOptions, "sweepLayers" | "sweepStrengths" | "budget">> & { generation: GenerationSettings; signal?: AbortSignal },
) {
  const data = v.generic ? vectors.generic : vectors.pairs;
  const bundle = await buildBundle(ctx, [v.pooled ? pooledData(data) : data], undefined, {
    site: v.site,
    reduce: v.reduce,
    prune: v.prune,
    layers: "auto",
    signal: o.signal,
  });
  const cats = [...new Set(sweepItems.map((i) => i.category).filter((c): c is string => c !== undefined))].sort();
  // the pooled vector steers every category: sweep it under each category's name
  const tuneBundle: Bundle = v.pooled
    ? {
        ...bundle,
        categories: new Map(cats.map((c) => [c, bundle.categories.get("pooled") as CategoryEntry])),
      }
    : bundle;
  const conditions: ConditionSpec[] = [{ name: "unsteered", mode: "none" }, ...sweepConditions(cats, o.sweepLayers, o.sweepStrengths)];
  const sweep = await runEval(ctx, sweepItems, {
    judge: toyJudge,
    generation: o.generation,
    conditions,
    chat: true,
    bundle: tuneBundle,
    signal: o.signal,
  });
  const choices = selectPerCategory(sweep, "unsteered", o.budget);
  return { bundle: applyChoices(tuneBundle, choices), choices };
}

export async function runStudy(ctx: Context, opts: StudyOptions = {}): Promise<StudyResults> {
  const step = opts.onStep ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), "safesteer-organism-"));
  try {
    const files = writeOrganismFiles(dir, opts.world ?? DEFAULT_ORGANISM_CONFIG.world);
    // the bundle's data provenance: the files as `safesteer organism data` writes them (same bytes,
    // same sha256), not the temporary folder, which is gone when the study ends
    const generated = (path: string) => ({ ...loadDataset(path), path: `${ORGANISM_DATA_DIR}/${basename(path)}` });
    const vectors = { pairs: generated(files.vectors), generic: generated(files.genericVectors) };
    const trainExamples = loadDataset(files.trainPrompts).examples;
    const trainItems = toEvalItems(trainExamples);
    const testItems = samplePerGroup(toEvalItems(loadDataset(files.testPrompts).examples), opts.testPerGroup, 3);
    const generation: GenerationSettings = {
      seed: 1,
      temperature: 0.8,
      topK: 40,
      topP: 0.95,
      minP: 0.05,
      maxTokens: 96,
      stop: ORGANISM_STOP,
      ...opts.generation,
    };
    const sweepItems = samplePerGroup(
      trainItems.filter((i) => i.kind === "harmful"),
      opts.sweepPerCategory ?? 24,
      5,
    );
    const allLayers = Array.from({ length: ctx.model.info.nLayer }, (_, l) => l);
    const tuneOpts = {
      sweepLayers: opts.sweepLayers ?? allLayers,
      sweepStrengths: opts.sweepStrengths ?? [0.25, 0.375, 0.5, 0.625, 0.75],
      budget: opts.budget ?? DEFAULT_BUDGET,
      generation,
      signal: opts.signal,
    };

    step("building vectors (pruned, mean, resid_post) and tuning layer and strength on training prompts");
    const mainVariant: Variant = {
      name: "per-category, pruned, mean, resid_post",
      site: "resid_post",
      reduce: "mean",
      prune: 0.5,
      pooled: false,
    };
    const main = await tuneVariant(ctx, mainVariant, vectors, sweepItems, tuneOpts);

    step("calibrating the detector on training prompts");
    const trainEx = (kind: string) => trainExamples.filter((e) => e.meta?.kind === kind);
    const {
      detector,
      layer: detLayer,
      byLayer,
    } = await calibrateDetector(ctx, trainEx("harmful"), [...trainEx("benign"), ...trainEx("lookalike")], {
      layers: allLayers,
      chat: true,
      signal: opts.signal,
    });
    const bundle: Bundle = { ...main.bundle, detector };

    step(
      `evaluating ${testItems.length} held-out prompts: unsteered, steered (category known), steered by the detector (every category fired; the most confident one)`,
    );
    const policy = bundlePolicy(bundle);
    const test = await runEval(ctx, testItems, {
      judge: toyJudge,
      signal: opts.signal,
      generation,
      chat: true,
      bundle,
      detector,
      conditions: [
        { name: "unsteered", mode: "none" },
        { name: "steered", mode: "known", policy },
        { name: "conditional", mode: "conditional", policy },
        { name: "conditional-top", mode: "conditional", policy, fire: "top" },
      ],
    });

    // detector quality on held-out prompts (the detections the conditional run used)
    const dets = test.detections ?? [];
    const harmful = testItems.filter((i) => i.kind === "harmful");
    const benign = testItems.filter((i) => i.kind === "benign");
    const lookalike = testItems.filter((i) => i.kind === "lookalike");
    const firedFor = (i: EvalItem) => dets[i.index]?.fired ?? [];
    const topScoring = (scores: Record<string, number>) => Object.entries(scores).sort((a, b) => b[1] - a[1])[0]?.[0];
    const detectorStats = {
      accuracy: harmful.filter((i) => firedFor(i)[0] === i.category).length / Math.max(1, harmful.length),
      detectionRate: harmful.filter((i) => firedFor(i).length > 0).length / Math.max(1, harmful.length),
      topScoreAccuracy: harmful.filter((i) => topScoring(dets[i.index]?.scores ?? {}) === i.category).length / Math.max(1, harmful.length),
      falsePositiveRate: benign.filter((i) => firedFor(i).length > 0).length / Math.max(1, benign.length),
      lookalikeFalsePositiveRate: lookalike.filter((i) => firedFor(i).length > 0).length / Math.max(1, lookalike.length),
      nHarmful: harmful.length,
      nBenign: benign.length,
      nLookalike: lookalike.length,
      layer: detLayer,
      pooling: detector.reduce,
      validationByLayer: byLayer,
    };

    step("answer likelihoods on held-out pairs: safe vs harmful answer, unsteered and steered");
    const testPairs = pairsOf(loadDataset(files.testPairs).examples);
    const { rows } = await categoryLikelihoods(ctx, bundle, testPairs, policy, { chat: true, signal: opts.signal });
    const likelihood = [...rows].sort((a, z) => a.category.localeCompare(z.category));

    const comparisons: VariantResult[] = [];
    const mainResult: VariantResult = { ...mainVariant, choices: main.choices, test: test.summary.steered as ConditionSummary };
    if (opts.comparisons !== false) {
      const variants: Variant[] = [
        { name: "per-category, unpruned, mean, resid_post", site: "resid_post", reduce: "mean", prune: "off", pooled: false },
        { name: "per-category, pruned, last token, resid_post", site: "resid_post", reduce: "last", prune: 0.5, pooled: false },
        { name: "one pooled vector, pruned, mean, resid_post", site: "resid_post", reduce: "mean", prune: 0.5, pooled: true },
        { name: "per-category, pruned, mean, attn_out", site: "attn_out", reduce: "mean", prune: 0.5, pooled: false },
        {
          name: "per-category, generic safe side (benign answers, no pairs), pruned, mean, resid_post",
          generic: true,
          site: "resid_post",
          reduce: "mean",
          prune: 0.5,
          pooled: false,
        },
      ];
      comparisons.push(mainResult);
      for (const v of variants) {
        step(`comparison: ${v.name}`);
        const t = await tuneVariant(ctx, v, vectors, sweepItems, tuneOpts);
        const r = await runEval(ctx, testItems, {
          judge: toyJudge,
          signal: opts.signal,
          generation,
          chat: true,
          bundle: t.bundle,
          conditions: [{ name: "steered", mode: "known", policy: bundlePolicy(t.bundle) }],
        });
        comparisons.push({ ...v, choices: t.choices, test: r.summary.steered as ConditionSummary });
      }
    }

    const examples: StudyResults["examples"] = [];
    for (const c of [...bundle.categories.keys()]) {
      for (const it of harmful.filter((i) => i.category === c).slice(0, 2)) {
        const a = (cond: string) => test.answers.find((x) => x.condition === cond && x.index === it.index)?.answer ?? "";
        examples.push({ category: c, prompt: it.prompt, unsteered: a("unsteered"), steered: a("steered") });
      }
    }
    return {
      main: mainResult,
      baseline: test.summary.unsteered as ConditionSummary,
      conditional: test.summary.conditional as ConditionSummary,
      conditionalTop: test.summary["conditional-top"] as ConditionSummary,
      detector: detectorStats,
      likelihood,
      comparisons,
      examples,
      test,
      bundle,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
