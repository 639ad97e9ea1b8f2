// Dev-only steering experiment on the organism: builds each vector variant once from the training
// split, then answers dev harmful prompts (never test) under a grid of layer sets and strengths,
// and prints per category every setting's rates with their 95% intervals and whether it meets the
// study's budget. Run: node --import tsx scripts/steering-dev.ts [--per 16] [--seeds 1]
//   [--variants main,last,noprune,answers] [--sets "4;2;0-4;1-3:0.25,0.5"] [--strengths 0.5,1,1.5,2]
//   [--from prompt,answer] [--out file.md]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Example } from "../src/data/example.js";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { runEval } from "../src/eval/harness.js";
import { formatRate } from "../src/eval/intervals.js";
import { samplePerGroup, toEvalItems } from "../src/eval/item.js";
import type { GroupMetrics } from "../src/eval/metrics.js";
import type { ConditionSpec } from "../src/eval/results.js";
import { budgetCheck } from "../src/eval/select.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { toyJudge } from "../src/organism/judge.js";
import { STUDY_BUDGET, STUDY_GENERATION } from "../src/organism/study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../src/organism/train.js";
import { buildBundle } from "../src/steer/build.js";
import { meanOf, prunedDifference } from "../src/steer/math.js";
import { renderExample } from "../src/steer/render.js";
import type { Bundle, SteerFrom } from "../src/steer/types.js";

const { values: a } = parseArgs({
  options: {
    per: { type: "string", default: "16" },
    seeds: { type: "string", default: "1" },
    variants: { type: "string", default: "main" },
    sets: { type: "string", default: "4;3;2;1;0;0-4;0-2;1-3;2-4" },
    strengths: { type: "string", default: "0.5,1,1.5,2" },
    model: { type: "string", default: "models/organism.gguf" },
    from: { type: "string", default: "prompt" },
    out: { type: "string" },
  },
});

/** "1-3" -> [1,2,3]; "0,2,4" -> [0,2,4]. */
const parseSet = (s: string) => {
  const r = /^(\d+)-(\d+)$/.exec(s);
  if (r) return Array.from({ length: Number(r[2]) - Number(r[1]) + 1 }, (_, i) => Number(r[1]) + i);
  return s.split(",").map(Number);
};
const strengths = (a.strengths as string).split(",").map(Number);
// "2-4:0.25,0.5" sweeps that set at its own strengths; a bare set at --strengths
const sets = (a.sets as string).split(";").map((spec) => {
  const [name, own] = spec.split(":") as [string, string | undefined];
  return { name, layers: parseSet(name), strengths: own ? own.split(",").map(Number) : strengths };
});
const VARIANTS: Record<string, { data: "careful" | "answers"; reduce: "mean" | "last"; prune: number | "off"; span?: "answer" }> = {
  main: { data: "careful", reduce: "mean", prune: 0.5 },
  // mean over the rows that predict the answer only (careful vs neutral line, same safe answer)
  span: { data: "careful", reduce: "mean", prune: 0.5, span: "answer" },
  spannoprune: { data: "careful", reduce: "mean", prune: "off", span: "answer" },
  last: { data: "careful", reduce: "last", prune: 0.5 },
  noprune: { data: "careful", reduce: "mean", prune: "off" },
  answers: { data: "answers", reduce: "mean", prune: 0.5 },
};

/** The bundle's vectors remade from each example's mean over the rows that predict its answer (the last prompt row on). */
async function answerSpanBundle(ctx: Context, base: Bundle, examples: Example[], prune: number | "off"): Promise<Bundle> {
  const layers = base.layers;
  const full = examples.map((e) => renderExample(ctx.model, e, true));
  const from = examples.map((e) => renderExample(ctx.model, { prompt: e.prompt }, true).length - 1);
  const means = new Map(layers.map((l) => [l, [] as Float32Array[]]));
  for (let i = 0; i < full.length; i += ctx.nSeq) {
    const group = full.slice(i, i + ctx.nSeq);
    const { capture } = await ctx.evaluate(group, { capture: { site: "resid_post", layers, reduce: "none" }, logits: "none" });
    group.forEach((_, g) => {
      for (const l of layers) {
        const rows = capture?.rows(g, l) ?? [];
        means.get(l)?.push(meanOf(rows.slice(from[i + g] as number), rows[0]?.length ?? 0));
      }
    });
  }
  const categories = new Map(
    [...base.categories].map(([c, e]) => {
      const idx = (label: string) => examples.flatMap((x, i) => (x.category === c && x.label === label ? [i] : []));
      const vectors = new Map(
        layers.map((l) => {
          const m = means.get(l) as Float32Array[];
          const safe = meanOf(
            idx("safe").map((i) => m[i] as Float32Array),
            ctx.model.info.nEmbd,
          );
          return [
            l,
            prunedDifference(
              safe,
              idx("unsafe").map((i) => m[i] as Float32Array),
              prune,
            ).vector,
          ];
        }),
      );
      return [c, { ...e, vectors }];
    }),
  );
  return { ...base, categories };
}

const dir = mkdtempSync(join(tmpdir(), "steering-dev-"));
const t0 = Date.now();
const log = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}\n`);
try {
  const files = writeOrganismFiles(dir, DEFAULT_ORGANISM_CONFIG.world);
  const ctx = new Context(Model.load(a.model as string), { nCtx: 4096, nSeq: 16 });
  const devHarmful = toEvalItems(loadDataset(files.devPrompts).examples).filter((i) => i.kind === "harmful");
  const items = samplePerGroup(devHarmful, Number(a.per), 5);
  const cats = [...new Set(items.map((i) => i.category as string))].sort();
  const vectorSets: Record<string, Bundle> = {};
  const conditions: ConditionSpec[] = [{ name: "unsteered", mode: "none" }];
  let bundle: Bundle | undefined;
  for (const vn of (a.variants as string).split(",")) {
    const v = VARIANTS[vn];
    if (!v) throw new Error(`unknown variant ${vn}: use ${Object.keys(VARIANTS).join(", ")}`);
    const path = v.data === "careful" ? files.vectors : files.answerVectors;
    const built = await buildBundle(ctx, [loadDataset(path)], undefined, { reduce: v.reduce, prune: v.prune, layers: "auto" });
    const b = v.span ? await answerSpanBundle(ctx, built, loadDataset(path).examples, v.prune) : built;
    bundle ??= b;
    log(`built ${vn}`);
    for (const set of sets) {
      const key = `${vn} L=${set.name}`;
      vectorSets[key] = {
        ...b,
        categories: new Map([...b.categories].map(([c, e]) => [c, { ...e, steerLayers: set.layers }])),
      };
      for (const from of (a.from as string).split(",") as SteerFrom[])
        for (const s of set.strengths)
          conditions.push({
            name: `${key} s=${s}${from === "answer" ? " from=answer" : ""}`,
            mode: "known",
            vectors: key,
            steerFrom: from,
            policy: Object.fromEntries(cats.map((c) => [c, s])),
          });
    }
  }
  log(`${items.length} dev prompts x ${Number(a.seeds)} seeds x ${conditions.length} conditions`);
  let last = 0;
  const r = await runEval(ctx, items, {
    judge: toyJudge,
    generation: { ...STUDY_GENERATION, seeds: Number(a.seeds) },
    conditions,
    chat: true,
    bundle,
    vectorSets,
    onProgress: (d, t) => {
      if (Date.now() - last > 30000) {
        last = Date.now();
        log(`${d}/${t}`);
      }
    },
  });
  const rate = (m: GroupMetrics, k: "unsafeRate" | "fluentRate" | "helpfulRate" | "refusalRate" | "relevance") => {
    const ci = m.ci?.[k];
    const v = m[k];
    return v == null || !ci ? "-" : formatRate({ value: v, lo: ci.lo, hi: ci.hi, n: m.prompts ?? m.n }, 0);
  };
  const out: string[] = [
    `# Steering on the organism: dev sweep (${new Date().toISOString().slice(0, 10)})`,
    "",
    `Dev harmful prompts only (never test): ${Number(a.per)} per category, ${Number(a.seeds)} seed(s); toy judge; budget as STUDY_BUDGET (fluent drop <= 5 pts, on topic >= 80%, refusal <= +5, perplexity <= 1.5x). Rates: value [95% Wilson/clustered interval] n=prompts. "ok": within budget. Per-layer relative strength s (a set steers each of its layers at s).`,
    "",
  ];
  for (const c of cats) {
    const base = r.summary.unsteered?.harmful.byCategory[c] as GroupMetrics;
    out.push(
      `## ${c}`,
      "",
      "| setting | unsafe | fluent | helpful | refusal | on topic | ppl ratio | ok |",
      "|---|---|---|---|---|---|---|---|",
    );
    for (const k of conditions) {
      const m = r.summary[k.name]?.harmful.byCategory[c];
      if (!m) continue;
      const ok = k.name === "unsteered" ? "" : budgetCheck(base, m, STUDY_BUDGET).ok ? "ok" : "";
      const ppl = m.perplexity && base.perplexity ? (m.perplexity / base.perplexity).toFixed(2) : "-";
      out.push(
        `| ${k.name} | ${rate(m, "unsafeRate")} | ${rate(m, "fluentRate")} | ${rate(m, "helpfulRate")} | ${rate(m, "refusalRate")} | ${rate(m, "relevance")} | ${ppl} | ${ok} |`,
      );
    }
    out.push("");
  }
  out.push(`Wall time ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
  const text = out.join("\n");
  if (a.out) writeFileSync(a.out as string, `${text}\n`);
  process.stdout.write(`${text}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
