// Rates over judged answers, per group, each with its 95% interval and the number of prompts.
import { clusteredMean, type Estimate, meanInterval, pairedDifference, wilson } from "./intervals.js";
import type { Judgement } from "./judges.js";

export interface AnswerRecord {
  condition: string;
  index: number;
  answer: string;
  tokens: number;
  reason: string;
  /** Categories steered for this answer ([] = unsteered). */
  steered: string[];
  judgement: Judgement;
  /** Perplexity of the answer under the unsteered model (null: empty answer). */
  perplexity: number | null;
  /** Share of repeated word 3-grams in the answer. */
  repetition: number;
  /** Which of the prompt's seeds answered (0..seeds-1; absent: 0, one seed per prompt). */
  sample?: number;
  /**
   * Sentence BLEU and ROUGE-L F (0-100) against the item's references (eval/reference-metrics.ts);
   * null when the item has none. Added after the first version of the file: absent in older ones.
   */
  bleu?: number | null;
  rougeL?: number | null;
}

/** A 95% interval. */
export interface Interval {
  lo: number;
  hi: number;
}

/**
 * 95% intervals of a group's metrics (eval/intervals.ts): a rate over one answer per prompt by
 * Wilson's score interval, over several seeds per prompt by the bootstrap over prompts (seeds of
 * one prompt are not independent evidence); perplexity and repetition by the bootstrap over prompts.
 * Null where the point value is null.
 */
export interface GroupIntervals {
  unsafeRate: Interval;
  refusalRate: Interval;
  helpfulRate: Interval;
  relevance: Interval | null;
  fluentRate: Interval | null;
  perplexity: Interval | null;
  repetition: Interval;
}

/** Mean BLEU and ROUGE-L of a group's answers with their 95% intervals (n = answers with references). */
export interface ReferenceQuality {
  bleu: Estimate;
  rougeL: Estimate;
}

export interface GroupMetrics {
  /** Answers (prompts x seeds). */
  n: number;
  /** Distinct prompts the answers are to: the n of every interval. Absent in results files before intervals. */
  prompts?: number;
  /** 95% intervals. Absent in results files before intervals. */
  ci?: GroupIntervals;
  unsafeRate: number;
  refusalRate: number;
  /** Share of answers on topic, over answers whose topic is known (null: none known). */
  relevance: number | null;
  /** The judge's helpful verdict; for judges without one: neither unsafe nor a refusal, and on topic when that is known. */
  helpfulRate: number;
  /**
   * Share of answers the judge calls fluent, over the answers it judged for fluency (null: none,
   * e.g. a judge that does not tell). Added to results files after their first version: absent in older ones.
   */
  fluentRate: number | null;
  /** Geometric mean of answer perplexities. */
  perplexity: number | null;
  repetition: number;
  /** Reference-based quality over the answers whose items carry references; null: none do (absent in older files). */
  reference?: ReferenceQuality | null;
}

/** Mean BLEU / ROUGE-L over the records that have them, or null when none do. */
export function referenceQuality(records: AnswerRecord[]): ReferenceQuality | null {
  const scored = records.filter((r) => typeof r.bleu === "number" && typeof r.rougeL === "number");
  if (!scored.length) return null;
  return { bleu: meanInterval(scored.map((r) => r.bleu as number)), rougeL: meanInterval(scored.map((r) => r.rougeL as number)) };
}

/**
 * Steered minus unsteered BLEU / ROUGE-L on the same prompts (b - a), bootstrapped over prompts;
 * null when no prompt has both.
 */
export function referenceDifference(unsteered: AnswerRecord[], steered: AnswerRecord[]): ReferenceQuality | null {
  const pairs = (key: "bleu" | "rougeL") => {
    const byIndex = new Map<number, { a: number[]; b: number[] }>();
    const add = (recs: AnswerRecord[], side: "a" | "b") => {
      for (const r of recs) {
        const v = r[key];
        if (typeof v !== "number") continue;
        const p = byIndex.get(r.index) ?? { a: [], b: [] };
        p[side].push(v);
        byIndex.set(r.index, p);
      }
    };
    add(unsteered, "a");
    add(steered, "b");
    return [...byIndex.values()];
  };
  const bleu = pairedDifference(pairs("bleu"));
  if (bleu.n === 0) return null;
  return { bleu, rougeL: pairedDifference(pairs("rougeL")) };
}

export function repetitionRate(text: string): number {
  const w = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (w.length < 3) return 0;
  const grams = w.slice(2).map((_, i) => `${w[i]} ${w[i + 1]} ${w[i + 2]}`);
  return 1 - new Set(grams).size / grams.length;
}

/** The answers' values grouped by prompt (clusters for the bootstrap). */
function byPrompt(records: AnswerRecord[], value: (r: AnswerRecord) => number | null): number[][] {
  const m = new Map<number, number[]>();
  for (const r of records) {
    const v = value(r);
    if (v === null) continue;
    const list = m.get(r.index) ?? [];
    list.push(v);
    m.set(r.index, list);
  }
  return [...m.values()];
}

/** A rate's point value and interval: Wilson with one answer per prompt, else the bootstrap over prompts. */
export function rateEstimate(records: AnswerRecord[], hit: (r: AnswerRecord) => boolean | null): Estimate {
  const clusters = byPrompt(records, (r) => {
    const h = hit(r);
    return h === null ? null : h ? 1 : 0;
  });
  if (clusters.every((c) => c.length === 1))
    return wilson(
      clusters.reduce((s, c) => s + (c[0] as number), 0),
      clusters.length,
    );
  return clusteredMean(clusters);
}

const interval = (e: Estimate): Interval => ({ lo: e.lo, hi: e.hi });

export function groupMetrics(records: AnswerRecord[]): GroupMetrics {
  const n = records.length;
  const rate = (f: (r: AnswerRecord) => boolean) => (n ? records.filter(f).length / n : 0);
  const known = records.filter((r) => r.judgement.relevant !== null);
  const judgedFluent = records.filter((r) => r.judgement.fluent !== undefined);
  const ppl = records.map((r) => r.perplexity).filter((p): p is number => p !== null && Number.isFinite(p));
  const helpful = (r: AnswerRecord) =>
    r.judgement.helpful ?? (!r.judgement.unsafe && !r.judgement.refusal && r.judgement.relevant !== false);
  const logPpl = byPrompt(records, (r) => (r.perplexity !== null && Number.isFinite(r.perplexity) ? Math.log(r.perplexity) : null));
  const lp = logPpl.length ? clusteredMean(logPpl) : null;
  const ci: GroupIntervals = {
    unsafeRate: interval(rateEstimate(records, (r) => r.judgement.unsafe)),
    refusalRate: interval(rateEstimate(records, (r) => r.judgement.refusal)),
    helpfulRate: interval(rateEstimate(records, helpful)),
    relevance: known.length ? interval(rateEstimate(known, (r) => r.judgement.relevant)) : null,
    fluentRate: judgedFluent.length ? interval(rateEstimate(judgedFluent, (r) => r.judgement.fluent ?? null)) : null,
    perplexity: lp ? { lo: Math.exp(lp.lo), hi: Math.exp(lp.hi) } : null,
    repetition: n ? interval(clusteredMean(byPrompt(records, (r) => r.repetition))) : { lo: 0, hi: 0 },
  };
  return {
    n,
    prompts: new Set(records.map((r) => r.index)).size,
    ci,
    unsafeRate: rate((r) => r.judgement.unsafe),
    refusalRate: rate((r) => r.judgement.refusal),
    relevance: known.length ? known.filter((r) => r.judgement.relevant).length / known.length : null,
    helpfulRate: rate(helpful),
    fluentRate: judgedFluent.length ? judgedFluent.filter((r) => r.judgement.fluent).length / judgedFluent.length : null,
    perplexity: ppl.length ? Math.exp(ppl.reduce((s, p) => s + Math.log(p), 0) / ppl.length) : null,
    repetition: n ? records.reduce((s, r) => s + r.repetition, 0) / n : 0,
    reference: referenceQuality(records),
  };
}

/** The rates compared between two conditions answer for answer. */
export const PAIRED_METRICS = ["unsafeRate", "refusalRate", "helpfulRate", "fluentRate"] as const;
export type PairedMetric = (typeof PAIRED_METRICS)[number];
/** Condition minus reference per rate, with the paired bootstrap's 95% interval (n: prompts answered in both). */
export type Differences = Partial<Record<PairedMetric, Estimate>>;

const HITS: Record<PairedMetric, (r: AnswerRecord) => boolean | null> = {
  unsafeRate: (r) => r.judgement.unsafe,
  refusalRate: (r) => r.judgement.refusal,
  helpfulRate: (r) => r.judgement.helpful ?? (!r.judgement.unsafe && !r.judgement.refusal && r.judgement.relevant !== false),
  fluentRate: (r) => r.judgement.fluent ?? null,
};

/**
 * Each rate of `other` minus the same rate of `reference` on the same prompts (same seeds), by the
 * paired bootstrap over prompts: a prompt's answers under both conditions are resampled together.
 */
export function pairedDifferences(reference: AnswerRecord[], other: AnswerRecord[]): Differences {
  const out: Differences = {};
  for (const k of PAIRED_METRICS) {
    const a = new Map(byPromptIndexed(reference, HITS[k]));
    const pairs = byPromptIndexed(other, HITS[k]).flatMap(([i, b]) => (a.has(i) ? [{ a: a.get(i) as number[], b }] : []));
    if (pairs.length) out[k] = pairedDifference(pairs);
  }
  return out;
}

function byPromptIndexed(records: AnswerRecord[], hit: (r: AnswerRecord) => boolean | null): Array<[number, number[]]> {
  const m = new Map<number, number[]>();
  for (const r of records) {
    const h = hit(r);
    if (h === null) continue;
    m.set(r.index, [...(m.get(r.index) ?? []), h ? 1 : 0]);
  }
  return [...m];
}
