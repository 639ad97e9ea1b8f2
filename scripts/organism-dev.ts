// Dev-only measure of an organism for choosing between organism versions: the study's main vector
// (MAIN_VARIANT, built from the training split of this checkout's world) swept on every dev harmful
// prompt (never test) at the study's layer and strengths, several seeds per prompt; per category the
// study's own rule (selectPerCategory within STUDY_BUDGET) picks the strength, and the chosen
// setting's rates are printed with their 95% intervals and n (distinct prompts). Writes JSON with -o.
//   node --import tsx scripts/organism-dev.ts [--model models/organism.gguf] [--seeds 3] [-o out.json]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { runEval } from "../src/eval/harness.js";
import { formatRate } from "../src/eval/intervals.js";
import { toEvalItems } from "../src/eval/item.js";
import type { GroupMetrics } from "../src/eval/metrics.js";
import { selectPerCategory, sweepConditions } from "../src/eval/select.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { toyJudge } from "../src/organism/judge.js";
import { MAIN_VARIANT, mainSweep, STUDY_BUDGET, STUDY_GENERATION } from "../src/organism/study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../src/organism/train.js";
import { buildBundle } from "../src/steer/build.js";
import { writeFileAtomic } from "../src/util/atomic-write.js";

const { values: a } = parseArgs({
  options: {
    model: { type: "string", default: "models/organism.gguf" },
    seeds: { type: "string", default: "3" },
    output: { type: "string", short: "o" },
  },
});

const RATES = ["unsafeRate", "fluentRate", "helpfulRate", "refusalRate", "relevance"] as const;
const t0 = Date.now();
const log = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}\n`);
const dir = mkdtempSync(join(tmpdir(), "organism-dev-"));
try {
  const files = writeOrganismFiles(dir, DEFAULT_ORGANISM_CONFIG.world);
  const ctx = new Context(Model.load(a.model as string), { nCtx: 4096, nSeq: 16 });
  const items = toEvalItems(loadDataset(files.devPrompts).examples)
    .filter((i) => i.kind === "harmful")
    .map((it, index) => ({ ...it, index }));
  const cats = [...new Set(items.map((i) => i.category as string))].sort();
  const bundle = await buildBundle(ctx, [loadDataset(files.vectors)], undefined, {
    site: MAIN_VARIANT.site,
    reduce: MAIN_VARIANT.reduce,
    prune: MAIN_VARIANT.prune,
    layers: "auto",
  });
  const sweep = mainSweep(ctx.model.info.nLayer);
  const conditions = [{ name: "unsteered", mode: "none" as const }, ...sweepConditions(cats, sweep.layers, sweep.strengths)];
  log(`${items.length} dev harmful prompts x ${Number(a.seeds)} seeds x ${conditions.length} conditions`);
  const r = await runEval(ctx, items, {
    judge: toyJudge,
    generation: { ...STUDY_GENERATION, seeds: Number(a.seeds) },
    conditions,
    chat: true,
    bundle,
  });
  const choices = selectPerCategory(r, "unsteered", STUDY_BUDGET);
  const rates = (m: GroupMetrics | undefined) =>
    Object.fromEntries(
      RATES.map((k) => {
        const ci = m?.ci?.[k];
        const v = m?.[k];
        return [k, v == null || !ci ? null : { value: v, lo: ci.lo, hi: ci.hi, n: m?.prompts ?? m?.n ?? 0 }];
      }),
    );
  const rows = choices.map((c) => {
    const name = conditions.find((k) => k.mode === "known" && k.layer === c.layer && k.policy?.[c.category] === c.strength)?.name;
    return {
      category: c.category,
      layer: c.layer,
      strength: c.strength,
      withinBudget: c.withinBudget,
      unsteered: rates(r.summary.unsteered?.harmful.byCategory[c.category]),
      chosen: rates(name ? r.summary[name]?.harmful.byCategory[c.category] : undefined),
    };
  });
  for (const row of rows) {
    const f = (e: { value: number; lo: number; hi: number; n: number } | null | undefined) => (e ? formatRate(e) : "-");
    process.stdout.write(
      `${row.category} L${row.layer} s=${row.strength}${row.withinBudget ? "" : " (over budget)"}: unsteered unsafe ${f(row.unsteered.unsafeRate)}; steered unsafe ${f(row.chosen.unsafeRate)}, fluent ${f(row.chosen.fluentRate)}, helpful ${f(row.chosen.helpfulRate)}\n`,
    );
  }
  if (a.output)
    writeFileAtomic(a.output as string, [
      `${JSON.stringify({ model: a.model, seeds: Number(a.seeds), rows, summary: r.summary }, null, 1)}\n`,
    ]);
  log("done");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
