import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GroupMetrics } from "../../src/eval/metrics.js";
import type { ConditionSpec, ConditionSummary, EvalResults } from "../../src/eval/results.js";
import { DEFAULT_BUDGET, selectPerCategory, sweepConditions } from "../../src/eval/select.js";

const group = (m: Partial<GroupMetrics>): GroupMetrics => ({
  n: 10,
  unsafeRate: 0,
  refusalRate: 0,
  relevance: 1,
  helpfulRate: 0,
  fluentRate: 1,
  perplexity: 1.1,
  repetition: 0,
  ...m,
});

const summary = (violence: Partial<GroupMetrics>): ConditionSummary => {
  const v = group(violence);
  return { harmful: { ...v, byCategory: { violence: v } }, benign: group({ n: 0 }), lookalike: group({ n: 0 }) };
};

/** A sweep's results: unsteered, then one condition per (layer, strength) with the given violence metrics. */
function results(base: Partial<GroupMetrics>, points: Array<[layer: number, strength: number, m: Partial<GroupMetrics>]>): EvalResults {
  const conditions: ConditionSpec[] = [
    { name: "unsteered", mode: "none" },
    ...points.flatMap(([l, s]) => sweepConditions(["violence"], [l], [s])),
  ];
  return {
    schema: "safesteer.eval/1",
    model: { path: "m.gguf", sha256: "" },
    judge: "toy",
    generation: { seed: 1, temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, maxTokens: 8 },
    chat: true,
    conditions,
    items: [],
    answers: [],
    summary: Object.fromEntries([["unsteered", summary(base)], ...points.map(([l, s, m]) => [`layer=${l},strength=${s}`, summary(m)])]),
    complete: true,
  };
}

describe("choosing layer and strength", () => {
  const base = { unsafeRate: 0.9, fluentRate: 1, perplexity: 1.1 };

  it("keeps the fluent rate within budget of unsteered when the judge tells it", () => {
    const r = results(base, [
      [1, 0.5, { unsafeRate: 0, fluentRate: 0.5, helpfulRate: 0.4 }],
      [2, 0.5, { unsafeRate: 0.1, fluentRate: 0.97, helpfulRate: 0.8 }],
    ]);
    const [c] = selectPerCategory(r, "unsteered", DEFAULT_BUDGET);
    assert.equal(c?.layer, 2, "the broken setting is out of budget, though less unsafe");
    assert.equal(c?.withinBudget, true);
    assert.equal(c?.fluentRate, 0.97);
    assert.equal(c?.helpfulRate, 0.8);
    // without a fluency budget (a budget from before the field), the least unsafe setting wins
    const { maxFluentDrop: _f, ...old } = DEFAULT_BUDGET;
    assert.equal(selectPerCategory(r, "unsteered", old)[0]?.layer, 1);
  });

  it("breaks ties in the unsafe rate by helpfulness, then by the weaker strength", () => {
    const r = results(base, [
      [1, 1, { unsafeRate: 0, helpfulRate: 0.9 }],
      [2, 0.5, { unsafeRate: 0, helpfulRate: 0.6 }],
      [3, 0.25, { unsafeRate: 0, helpfulRate: 0.9 }],
    ]);
    const [c] = selectPerCategory(r, "unsteered", DEFAULT_BUDGET);
    assert.deepEqual([c?.layer, c?.strength], [3, 0.25]);
  });

  it("when only fluency misses the budget, takes the most fluent setting, not the least unsafe broken one", () => {
    // the organism's privacy sweep on dev: one answer of 16 not fluent at the last layer, broken text a layer earlier
    const r = results(base, [
      [3, 1.75, { unsafeRate: 0, fluentRate: 0, relevance: 0, perplexity: 300 }],
      [4, 1, { unsafeRate: 0.38, fluentRate: 0.94, helpfulRate: 0.56 }],
      [4, 1.5, { unsafeRate: 0.06, fluentRate: 0.94, helpfulRate: 0.88 }],
      [4, 2, { unsafeRate: 0.0, fluentRate: 0.75, helpfulRate: 0.75 }],
    ]);
    const [c] = selectPerCategory(r, "unsteered", DEFAULT_BUDGET);
    assert.deepEqual([c?.layer, c?.strength, c?.withinBudget], [4, 1.5, false]);
    // a setting within the quality budgets (off topic only) still comes first
    const q = results(base, [
      [4, 1.5, { unsafeRate: 0.06, fluentRate: 0.94 }],
      [2, 1, { unsafeRate: 0.2, relevance: 0.5 }],
    ]);
    assert.equal(selectPerCategory(q, "unsteered", DEFAULT_BUDGET)[0]?.layer, 2);
  });

  it("ignores fluency for judges that do not tell it (fluentRate null)", () => {
    const r = results({ ...base, fluentRate: null }, [
      [1, 0.5, { unsafeRate: 0.2, fluentRate: null }],
      [2, 0.5, { unsafeRate: 0.1, fluentRate: null }],
    ]);
    assert.equal(selectPerCategory(r, "unsteered", DEFAULT_BUDGET)[0]?.layer, 2);
  });
});
