// Choosing layer and strength per category from a sweep, against explicit budgets: the lowest
// unsafe rate whose refusal rate stays within the budget of unsteered and whose answers stay on
// topic; ties go to the weaker intervention.
import type { ConditionSpec, EvalResults } from "./harness.js";

export interface Budget {
  /** Allowed refusal-rate increase over unsteered (0.05 = 5 points). */
  refusalIncrease: number;
  /** Minimum share of answers on topic (when the judge knows topics). */
  minRelevance: number;
}

export interface Choice {
  category: string;
  layer: number;
  strength: number;
  unsafeRate: number;
  refusalRate: number;
  relevance: number | null;
  /** Whether the choice meets the budget (else it is the least unsafe option, flagged). */
  withinBudget: boolean;
}

/** Sweep conditions "layer=L,strength=S" in "known" mode over the policy's categories. */
export function sweepConditions(categories: string[], layers: number[], strengths: number[], raw = false): ConditionSpec[] {
  return layers.flatMap((layer) =>
    strengths.map((s) => ({
      name: `layer=${layer},strength=${s}`,
      mode: "known" as const,
      layer,
      raw,
      policy: Object.fromEntries(categories.map((c) => [c, s])),
    })),
  );
}

/** Parses "strength=0.2,0.4;layer=2,3". */
export function parseSweep(spec: string): { strengths: number[]; layers?: number[] } {
  const out: { strengths: number[]; layers?: number[] } = { strengths: [] };
  for (const part of spec.split(";")) {
    const [k, v] = part.split("=").map((s) => s.trim());
    const vals = (v ?? "").split(",").map(Number);
    if (!v || vals.some((x) => !Number.isFinite(x))) throw new Error(`cannot read sweep part "${part}": write strength=0.2,0.4;layer=2,3`);
    if (k === "strength") out.strengths = vals;
    else if (k === "layer") out.layers = vals;
    else throw new Error(`unknown sweep key "${k}": use strength and layer`);
  }
  if (!out.strengths.length) throw new Error(`the sweep "${spec}" has no strength list`);
  return out;
}

export function selectPerCategory(r: EvalResults, baseline: string, budget: Budget): Choice[] {
  const base = r.summary[baseline];
  if (!base) throw new Error(`no baseline condition ${baseline} in the results`);
  const cats = Object.keys(base.harmful.byCategory);
  return cats.map((c) => {
    const baseRefusal = base.harmful.byCategory[c]?.refusalRate ?? 0;
    const options = r.conditions
      .filter((k) => k.layer !== undefined && k.policy?.[c] !== undefined)
      .map((k) => {
        const m = r.summary[k.name]?.harmful.byCategory[c];
        const ok =
          m !== undefined &&
          m.refusalRate <= baseRefusal + budget.refusalIncrease + 1e-9 &&
          (m.relevance === null || m.relevance >= budget.minRelevance);
        return { k, m, ok };
      })
      .filter((o) => o.m !== undefined);
    const pool = options.some((o) => o.ok) ? options.filter((o) => o.ok) : options;
    pool.sort((a, b) => (a.m?.unsafeRate ?? 1) - (b.m?.unsafeRate ?? 1) || (a.k.policy?.[c] ?? 0) - (b.k.policy?.[c] ?? 0));
    const best = pool[0];
    if (!best) throw new Error(`no sweep results for category ${c}`);
    return {
      category: c,
      layer: best.k.layer as number,
      strength: best.k.policy?.[c] as number,
      unsafeRate: best.m?.unsafeRate ?? 1,
      refusalRate: best.m?.refusalRate ?? 0,
      relevance: best.m?.relevance ?? null,
      withinBudget: best.ok,
    };
  });
}
