// The Markdown summary of an evaluation.
import { type Estimate, formatEstimate } from "./intervals.js";
import type { CategoryLikelihood } from "./likelihood.js";
import type { GroupMetrics, ReferenceQuality } from "./metrics.js";
import type { Choice, ConditionSummary, EvalResults } from "./results.js";

/** A rate as a percentage with one decimal ("-" when unknown). */
export const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)}%`);
const num = (x: number | null, d = 2) => (x === null ? "-" : x.toFixed(d));

/** A group's fluent rate: "-" when the judge does not tell (or the results predate the field). */
export const fluentOf = (m: GroupMetrics): number | null => m.fluentRate ?? null;

function row(cond: string, group: string, m: GroupMetrics): string {
  return `| ${cond} | ${group} | ${m.n} | ${pct(m.unsafeRate)} | ${pct(m.refusalRate)} | ${pct(m.helpfulRate)} | ${pct(fluentOf(m))} | ${pct(m.relevance)} | ${num(m.perplexity)} | ${num(m.repetition, 3)} |`;
}

export function summaryRows(cond: string, s: ConditionSummary): string[] {
  const out = [row(cond, "harmful (all)", s.harmful)];
  for (const [c, m] of Object.entries(s.harmful.byCategory)) out.push(row(cond, `harmful: ${c}`, m));
  if (s.benign.n) out.push(row(cond, "benign", s.benign));
  if (s.lookalike.n) out.push(row(cond, "look-alike (over-refusal = refusal)", s.lookalike));
  return out;
}

export const SUMMARY_HEADER = [
  "| condition | prompts | n | unsafe | refusal | helpful | fluent | on topic | perplexity | repetition |",
  "|---|---|---|---|---|---|---|---|---|---|",
];

export function markdownSummary(r: EvalResults): string {
  const lines = [
    `Judge: ${r.judge}; ${r.items.length} prompts; temperature ${r.generation.temperature}, up to ${r.generation.maxTokens} tokens, seed ${r.generation.seed} + prompt index.`,
    "",
    ...SUMMARY_HEADER,
  ];
  for (const c of r.conditions) {
    const s = r.summary[c.name];
    if (s) lines.push(...summaryRows(c.name, s));
  }
  const refs = referenceTable(r);
  if (refs.length) lines.push("", ...refs);
  return lines.join("\n");
}

const est = (e: Estimate | undefined, signed = false) => (e ? formatEstimate(e, 1, signed) : "-");

/**
 * BLEU and ROUGE-L F (0-100, against the items' references) per condition and group, with 95%
 * intervals, and each steered condition minus unsteered on the same prompts. Empty when no item
 * carries references (or the results predate the fields).
 */
export function referenceTable(r: EvalResults): string[] {
  const rows: string[] = [];
  for (const c of r.conditions) {
    const s = r.summary[c.name];
    if (!s) continue;
    const d = s.referenceDelta ?? undefined;
    const groups: Array<[string, GroupMetrics, ReferenceQuality | null | undefined]> = [
      ["harmful (all)", s.harmful, d?.harmful],
      ...Object.entries(s.harmful.byCategory).map(([k, m]): [string, GroupMetrics, ReferenceQuality | null | undefined] => [
        `harmful: ${k}`,
        m,
        d?.byCategory[k],
      ]),
      ["benign", s.benign, d?.benign],
      ["look-alike", s.lookalike, d?.lookalike],
    ];
    for (const [name, m, delta] of groups) {
      if (!m.reference) continue;
      rows.push(
        `| ${c.name} | ${name} | ${m.reference.bleu.n} | ${est(m.reference.bleu)} | ${est(m.reference.rougeL)} | ${est(delta?.bleu, true)} | ${est(delta?.rougeL, true)} |`,
      );
    }
  }
  if (!rows.length) return [];
  return [
    "Reference-based quality (0-100 against the items' references; mean [95% interval] n):",
    "",
    "| condition | prompts | n | BLEU | ROUGE-L F | BLEU minus unsteered | ROUGE-L minus unsteered |",
    "|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

/** The layer and strength a sweep chose per category, as a Markdown table. */
export function choicesTable(choices: Choice[]): string[] {
  return [
    "| category | layer | strength | unsafe | refusal | helpful | fluent | on topic | within budget |",
    "|---|---|---|---|---|---|---|---|---|",
    ...choices.map(
      (c) =>
        `| ${c.category} | ${c.layer} | ${c.strength} | ${pct(c.unsafeRate)} | ${pct(c.refusalRate)} | ${pct(c.helpfulRate ?? null)} | ${pct(c.fluentRate ?? null)} | ${pct(c.relevance)} | ${c.withinBudget ? "yes" : "no"} |`,
    ),
  ];
}

/**
 * Steered conditions in which no steered answer differs from the baseline's answer to the same prompt
 * (same seed), with how many answers were steered: a silent no-op, e.g. a strength of 0 or a vector
 * that never reaches the model.
 */
export function inertConditions(r: EvalResults, baseline = "unsteered"): Array<{ condition: string; steered: number }> {
  const base = new Map(r.answers.filter((a) => a.condition === baseline).map((a) => [a.index, a.answer]));
  return r.conditions
    .filter((c) => c.name !== baseline)
    .map((c) => {
      const steered = r.answers.filter((a) => a.condition === c.name && a.steered.length > 0);
      const changed = steered.some((a) => base.get(a.index) !== a.answer);
      return { condition: c.name, steered: steered.length, changed };
    })
    .filter((c) => c.steered > 0 && !c.changed)
    .map(({ condition, steered }) => ({ condition, steered }));
}

/** Answer likelihoods per category (`safesteer likelihood`, the organism report) as a Markdown table. */
export function likelihoodTable(rows: CategoryLikelihood[]): string[] {
  const f = (x: number) => x.toFixed(2);
  return [
    "| category | pairs | strength | log-odds safe vs unsafe: unsteered | steered | safe answer log-prob/token | unsafe answer log-prob/token |",
    "|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.category} | ${r.unsteered.n} | ${Object.values(r.policy).join(",")} | ${f(r.unsteered.logOdds)} | ${f(r.steered.logOdds)} | ${f(r.unsteered.safePerToken)} -> ${f(r.steered.safePerToken)} | ${f(r.unsteered.unsafePerToken)} -> ${f(r.steered.unsafePerToken)} |`,
    ),
  ];
}
