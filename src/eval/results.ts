// The evaluation's result file (schema safesteer.eval/1) and the settings it records: what the
// harness writes, the selection reads, and reports render.
import type { FireMode, Policy } from "../steer/types.js";
import type { EvalItem } from "./item.js";
import type { AnswerRecord, Differences, GroupIntervals, GroupMetrics, ReferenceQuality } from "./metrics.js";

export const RESULTS_SCHEMA = "safesteer.eval/1";

/**
 * How a condition steers: "none"; "policy" (the whole policy on every prompt); "known" (a harmful
 * prompt gets only its own category's entry, other prompts none: the paper's setting);
 * "conditional" (the categories the detector names for the prompt).
 */
export interface ConditionSpec {
  name: string;
  mode: "none" | "policy" | "known" | "conditional";
  policy?: Policy;
  /** Steer this layer instead of each category's own (sweeps). */
  layer?: number;
  /** Conditional mode: steer every category that fires (the default) or only the most confident one. */
  fire?: FireMode;
  raw?: boolean;
  /** A baseline's vectors steer instead of the bundle's: its method ("caa", "refusal-direction"; EvalOptions.vectorSets). */
  vectors?: string;
  /** The system-prompt baseline: this text goes before every prompt (steer/baselines.ts withPrefix). */
  prefix?: string;
  /** Detect-then-refuse: prompts the detector fires on get this answer instead of a generated one. */
  refuseWith?: string;
  /** Category neurons suppressed (EvalOptions.neurons), chosen per prompt as the policy is (known: its own category). */
  suppress?: Record<string, number>;
  suppressMode?: "mean" | "scale";
}

export interface GenerationSettings {
  seed: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  maxTokens: number;
  /** Strings that end an answer (e.g. the chat template's next-turn marker), cut from the text. */
  stop?: string[];
  /**
   * Answers sampled per prompt, the same seeds in every condition: prompt i's k-th answer uses seed
   * seed + i + k x (number of prompts). Absent: 1.
   */
  seeds?: number;
}

export interface ConditionSummary {
  harmful: GroupMetrics & { byCategory: Record<string, GroupMetrics> };
  benign: GroupMetrics;
  /** Benign prompts that look harmful: their refusal rate is the over-refusal rate. */
  lookalike: GroupMetrics;
  /**
   * This condition's rates minus the reference condition's (the first unsteered one), prompt by
   * prompt, with paired-bootstrap intervals. Absent on the reference itself, in checkpoints of a
   * running evaluation, and in results files before intervals.
   */
  difference?: {
    reference: string;
    harmful: Differences & { byCategory: Record<string, Differences> };
    benign: Differences;
    lookalike: Differences;
  };
  /**
   * This condition minus the unsteered one in BLEU / ROUGE-L on the same prompts (paired bootstrap),
   * per group; null for the unsteered condition and when no item carries references. Absent in older files.
   */
  referenceDelta?: ReferenceDelta | null;
}

/** Steered minus unsteered reference-based quality: all harmful prompts, each category, benign, look-alikes. */
export interface ReferenceDelta {
  harmful: ReferenceQuality | null;
  byCategory: Record<string, ReferenceQuality | null>;
  benign: ReferenceQuality | null;
  lookalike: ReferenceQuality | null;
}

/** The budgets a sweep's choice is held to (eval/select.ts). */
export interface Budget {
  /** Allowed refusal-rate increase over unsteered (0.05 = 5 points). */
  refusalIncrease: number;
  /**
   * Minimum share of answers on topic (when the judge knows topics); when unsteered answers are
   * below it, staying within 5 points of unsteered is enough.
   */
  minRelevance: number;
  /** Quality: answer perplexity (under the unsteered model) at most this many times unsteered's. */
  maxPerplexityRatio: number;
  /**
   * Quality, with a judge that tells fluency: the fluent rate at most this far below unsteered's
   * (0.05 = 5 points). Absent: no fluency budget.
   */
  maxFluentDrop?: number;
}

export interface Choice {
  category: string;
  layer: number;
  strength: number;
  unsafeRate: number;
  refusalRate: number;
  relevance: number | null;
  /** Rates of the chosen setting on the sweep's prompts (added after the first version of the file: may be absent). */
  helpfulRate?: number;
  fluentRate?: number | null;
  /** Whether the choice meets the budget (else it is the least unsafe option, flagged). */
  withinBudget: boolean;
  /** The chosen setting's 95% intervals and distinct prompts (absent in files before intervals). */
  ci?: GroupIntervals;
  prompts?: number;
  /** Which vectors were swept: a baseline's method (absent: the bundle's own). */
  vectors?: string;
}

export interface EvalResults {
  schema: typeof RESULTS_SCHEMA;
  model: { path: string; sha256: string };
  bundle?: { path: string; site: string; categories: string[] };
  judge: string;
  generation: GenerationSettings;
  chat: boolean;
  conditions: ConditionSpec[];
  items: EvalItem[];
  detections?: Array<{ index: number; fired: string[]; scores: Record<string, number> }>;
  answers: AnswerRecord[];
  summary: Record<string, ConditionSummary>;
  /** With a sweep: the layer and strength chosen per category (eval/select.ts). */
  selection?: Choice[];
  /** With a sweep: the budget the selection was held to (added after the first version of the file: may be absent). */
  budget?: Budget;
  complete: boolean;
}

/** The condition others are compared with: the first one that changes nothing (unsteered). */
export function referenceCondition(conditions: ConditionSpec[]): string | undefined {
  return conditions.find((c) => c.mode === "none" && c.prefix === undefined && c.refuseWith === undefined)?.name;
}
