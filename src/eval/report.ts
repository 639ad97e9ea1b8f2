// The Markdown summary of an evaluation.

import { type Estimate, formatEstimate, formatRate } from "./intervals.js";
import type { CategoryLikelihood } from "./likelihood.js";
import type { Differences, GroupMetrics, Interval, ReferenceQuality } from "./metrics.js";
import type { Choice, ConditionSummary, EvalResults } from "./results.js";

/** A rate as a percentage with one decimal ("-" when unknown). */
export const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)}%`);
const num = (x: number | null, d = 2) => (x === null ? "-" : x.toFixed(d));

/** A group's fluent rate: "-" when the judge does not tell (or the results predate the field). */
export const fluentOf = (m: GroupMetrics): number | null => m.fluentRate ?? null;

/** "12.5% [6.1, 23.9] n=40"; a rate without an interval (results files before intervals) as "12.5%". */
export function rateCell(value: number | null, ci: Interval | null | undefined, prompts: number | undefined): string {
  if (value === null) return "-";
  if (!ci || prompts === undefined) return pct(value);
  return formatRate({ value, lo: ci.lo, hi: ci.hi, n: prompts });
}

function meanCell(value: number | null, ci: Interval | null | undefined, prompts: number | undefined, d: number): string {
  if (value === null) return "-";
  if (!ci || prompts === undefined) return num(value, d);
  return formatEstimate({ value, lo: ci.lo, hi: ci.hi, n: prompts }, d);
}

function row(cond: string, group: string, m: GroupMetrics): string {
  const r = (v: number | null, ci: Interval | null | undefined) => rateCell(v, ci, m.prompts);
  return `| ${cond} | ${group} | ${m.prompts ?? "-"} | ${m.n} | ${r(m.unsafeRate, m.ci?.unsafeRate)} | ${r(m.refusalRate, m.ci?.refusalRate)} | ${r(m.helpfulRate, m.ci?.helpfulRate)} | ${r(fluentOf(m), m.ci?.fluentRate)} | ${r(m.relevance, m.ci?.relevance)} | ${meanCell(m.perplexity, m.ci?.perplexity, m.prompts, 2)} | ${meanCell(m.repetition, m.ci?.repetition, m.prompts, 3)} |`;
}

export function summaryRows(cond: string, s: ConditionSummary): string[] {
  const out = [row(cond, "harmful (all)", s.harmful)];
  for (const [c, m] of Object.entries(s.harmful.byCategory)) out.push(row(cond, `harmful: ${c}`, m));
  if (s.benign.n) out.push(row(cond, "benign", s.benign));
  if (s.lookalike.n) out.push(row(cond, "look-alike (over-refusal = refusal)", s.lookalike));
  return out;
}

export const SUMMARY_HEADER = [
  "| condition | group | prompts | answers | unsafe | refusal | helpful | fluent | on topic | perplexity | repetition |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
];

/** A difference of rates in points: "-12.3 [-20.1, -4.0] n=30". */
export function pointsCell(e: Estimate | undefined): string {
  if (!e) return "-";
  const pts = (x: number) => x * 100;
  return formatEstimate({ value: pts(e.value), lo: pts(e.lo), hi: pts(e.hi), n: e.n }, 1, true);
}

function differenceRow(cond: string, group: string, d: Differences): string {
  return `| ${cond} | ${group} | ${pointsCell(d.unsafeRate)} | ${pointsCell(d.refusalRate)} | ${pointsCell(d.helpfulRate)} | ${pointsCell(d.fluentRate)} |`;
}

/** Each condition minus the reference, in percentage points, prompt by prompt (paired bootstrap). */
export function differenceRows(cond: string, s: ConditionSummary): string[] {
  const d = s.difference;
  if (!d) return [];
  const out = [differenceRow(cond, "harmful (all)", d.harmful)];
  for (const [c, x] of Object.entries(d.harmful.byCategory)) out.push(differenceRow(cond, `harmful: ${c}`, x));
  if (s.benign.n) out.push(differenceRow(cond, "benign", d.benign));
  if (s.lookalike.n) out.push(differenceRow(cond, "look-alike", d.lookalike));
  return out;
}

export const DIFFERENCE_HEADER = ["| condition | group | unsafe | refusal | helpful | fluent |", "|---|---|---|---|---|---|"];

export function markdownSummary(r: EvalResults): string {
  const seeds = r.generation.seeds ?? 1;
  const lines = [
    `Judge: ${r.judge}; ${r.items.length} prompts x ${seeds} seed${seeds === 1 ? "" : "s"}; temperature ${r.generation.temperature}, up to ${r.generation.maxTokens} tokens, seed ${r.generation.seed} + prompt index${seeds > 1 ? " + sample x prompts" : ""}.`,
    `Rates: value [95% interval] n=distinct prompts (${seeds > 1 ? "bootstrap over prompts" : "Wilson"}; perplexity and repetition: bootstrap over prompts).`,
    "",
    ...SUMMARY_HEADER,
  ];
  for (const c of r.conditions) {
    const s = r.summary[c.name];
    if (s) lines.push(...summaryRows(c.name, s));
  }
  const diffs = r.conditions.flatMap((c) => {
    const s = r.summary[c.name];
    return s ? differenceRows(c.name, s) : [];
  });
  const ref = Object.values(r.summary).find((s) => s.difference)?.difference?.reference;
  if (diffs.length && ref)
    lines.push(
      "",
      `Minus ${ref}, same prompts and seeds, in percentage points [95% paired bootstrap over prompts] n=prompts:`,
      "",
      ...DIFFERENCE_HEADER,
      ...diffs,
    );
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

/** The layer and strength a sweep chose per category, as a Markdown table; rates with their intervals. */
export function choicesTable(choices: Choice[]): string[] {
  return [
    "| category | layer | strength | unsafe | refusal | helpful | fluent | on topic | within budget (point estimates) | vectors |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...choices.map((c) => {
      const r = (v: number | null, ci: Interval | null | undefined) => rateCell(v, ci, c.prompts);
      return `| ${c.category} | ${c.layer} | ${c.strength} | ${r(c.unsafeRate, c.ci?.unsafeRate)} | ${r(c.refusalRate, c.ci?.refusalRate)} | ${r(c.helpfulRate ?? null, c.ci?.helpfulRate)} | ${r(c.fluentRate ?? null, c.ci?.fluentRate)} | ${r(c.relevance, c.ci?.relevance)} | ${c.withinBudget ? "yes" : "no"} | ${c.vectors ?? "bundle"} |`;
    }),
  ];
}

/**
 * Steered conditions in which no steered answer differs from the baseline's answer to the same prompt
 * (same seed), with how many answers were steered: a silent no-op, e.g. a strength of 0 or a vector
 * that never reaches the model.
 */
export function inertConditions(r: EvalResults, baseline = "unsteered"): Array<{ condition: string; steered: number }> {
  const at = (a: { index: number; sample?: number }) => `${a.index}#${a.sample ?? 0}`;
  const base = new Map(r.answers.filter((a) => a.condition === baseline).map((a) => [at(a), a.answer]));
  return r.conditions
    .filter((c) => c.name !== baseline)
    .map((c) => {
      const steered = r.answers.filter((a) => a.condition === c.name && a.steered.length > 0);
      const changed = steered.some((a) => base.get(at(a)) !== a.answer);
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
