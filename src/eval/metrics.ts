// Rates over judged answers, per group.
import { type Estimate, meanInterval, pairedDifference } from "./intervals.js";
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
  /**
   * Sentence BLEU and ROUGE-L F (0-100) against the item's references (eval/reference-metrics.ts);
   * null when the item has none. Added after the first version of the file: absent in older ones.
   */
  bleu?: number | null;
  rougeL?: number | null;
}

/** Mean BLEU and ROUGE-L of a group's answers with their 95% intervals (n = answers with references). */
export interface ReferenceQuality {
  bleu: Estimate;
  rougeL: Estimate;
}

export interface GroupMetrics {
  n: number;
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

export function groupMetrics(records: AnswerRecord[]): GroupMetrics {
  const n = records.length;
  const rate = (f: (r: AnswerRecord) => boolean) => (n ? records.filter(f).length / n : 0);
  const known = records.filter((r) => r.judgement.relevant !== null);
  const judgedFluent = records.filter((r) => r.judgement.fluent !== undefined);
  const ppl = records.map((r) => r.perplexity).filter((p): p is number => p !== null && Number.isFinite(p));
  return {
    n,
    unsafeRate: rate((r) => r.judgement.unsafe),
    refusalRate: rate((r) => r.judgement.refusal),
    relevance: known.length ? known.filter((r) => r.judgement.relevant).length / known.length : null,
    helpfulRate: rate((r) => r.judgement.helpful ?? (!r.judgement.unsafe && !r.judgement.refusal && r.judgement.relevant !== false)),
    fluentRate: judgedFluent.length ? judgedFluent.filter((r) => r.judgement.fluent).length / judgedFluent.length : null,
    perplexity: ppl.length ? Math.exp(ppl.reduce((s, p) => s + Math.log(p), 0) / ppl.length) : null,
    repetition: n ? records.reduce((s, r) => s + r.repetition, 0) / n : 0,
    reference: referenceQuality(records),
  };
}
