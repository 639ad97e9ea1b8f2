// Dev-only steering experiment on the organism: builds each vector variant once from the training
// split, then answers dev harmful prompts (never test) under a grid of layer sets and strengths,
// and prints per category every setting's rates with their 95% intervals and whether it meets the
// study's budget. Run: node --import tsx scripts/steering-dev.ts [--per 16] [--seeds 1]
//   [--variants main,last,noprune,answers] [--sets "4;2;0-4;1-3:0.25,0.5"] [--strengths 0.5,1,1.5,2]
//   [--cats deception,violence] [--neurons "3-4:8@0.5,1;4:32@0.5"] [--out file.md]
// --neurons adds, beside every vector setting, the category's own units (found on the training split:
// layers:top) suppressed towards their safe-side mean at each strength after @ (neuron-steer.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import type { Site } from "../src/engine/sites.js";
import { runEval } from "../src/eval/harness.js";
import { formatRate } from "../src/eval/intervals.js";
import { samplePerGroup, toEvalItems } from "../src/eval/item.js";
import type { GroupMetrics } from "../src/eval/metrics.js";
import type { ConditionSpec, EvalResults } from "../src/eval/results.js";
import { budgetCheck } from "../src/eval/select.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { toyJudge } from "../src/organism/judge.js";
import { STUDY_BUDGET, STUDY_GENERATION } from "../src/organism/study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../src/organism/train.js";
import { buildBundle } from "../src/steer/build.js";
import type { NeuronSet } from "../src/steer/neuron-types.js";
import { findNeurons } from "../src/steer/neurons.js";
import type { Bundle, VectorReduce } from "../src/steer/types.js";

const { values: a } = parseArgs({
  options: {
    per: { type: "string", default: "16" },
    seeds: { type: "string", default: "1" },
    variants: { type: "string", default: "main" },
    sets: { type: "string", default: "4;3;2;1;0;0-4;0-2;1-3;2-4" },
    strengths: { type: "string", default: "0.5,1,1.5,2" },
    model: { type: "string", default: "models/organism.gguf" },
    out: { type: "string" },
    cats: { type: "string" },
    neurons: { type: "string" },
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
const VARIANTS: Record<string, { data: "careful" | "answers"; reduce: VectorReduce; prune: number | "off"; site?: Site }> = {
  main: { data: "careful", reduce: "mean", prune: 0.5 },
  // mean over the rows that predict the answer only (careful vs neutral line, same safe answer)
  span: { data: "careful", reduce: "answer", prune: 0.5 },
  spannoprune: { data: "careful", reduce: "answer", prune: "off" },
  // the same, in the middle of the layer (after attention): the layer's MLP still reads the steered row
  spanmid: { data: "careful", reduce: "answer", prune: "off", site: "resid_mid" },
  last: { data: "careful", reduce: "last", prune: 0.5 },
  noprune: { data: "careful", reduce: "mean", prune: "off" },
  answers: { data: "answers", reduce: "mean", prune: 0.5 },
};

const dir = mkdtempSync(join(tmpdir(), "steering-dev-"));
const t0 = Date.now();
const log = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}\n`);
try {
  const files = writeOrganismFiles(dir, DEFAULT_ORGANISM_CONFIG.world);
  const ctx = new Context(Model.load(a.model as string), { nCtx: 4096, nSeq: 16 });
  const devHarmful = toEvalItems(loadDataset(files.devPrompts).examples).filter((i) => i.kind === "harmful");
  const keep = a.cats ? new Set((a.cats as string).split(",")) : undefined;
  const items = samplePerGroup(devHarmful, Number(a.per), 5)
    .filter((i) => !keep || keep.has(i.category as string))
    .map((it, index) => ({ ...it, index }));
  const cats = [...new Set(items.map((i) => i.category as string))].sort();
  // "3-4:8@0.5,1": the category's top 8 units of layers 3-4 (found on train), suppressed at 0.5 and 1
  const neuronSpecs = ((a.neurons as string | undefined) ?? "")
    .split(";")
    .filter(Boolean)
    .map((spec) => {
      const r = /^([\d,-]+):(\d+)@([\d.,]+)$/.exec(spec);
      if (!r) throw new Error(`cannot read --neurons part "${spec}": write layers:top@scales, e.g. 3-4:8@0.5,1`);
      return {
        name: `${r[1]}:${r[2]}`,
        layers: parseSet(r[1] as string),
        top: Number(r[2]),
        scales: (r[3] as string).split(",").map(Number),
      };
    });
  const train = loadDataset(files.trainPrompts);
  const neuronSets: Array<{ name: string; set: NeuronSet; scales: number[] }> = [];
  for (const n of neuronSpecs) {
    const set = await findNeurons(ctx, [train], undefined, { top: n.top, layers: n.layers, seed: 1, chat: "always", lensTokens: 0 });
    neuronSets.push({ name: n.name, set, scales: n.scales });
    log(`found neurons ${n.name}`);
  }
  const vectorSets: Record<string, Bundle> = {};
  const conditions: ConditionSpec[] = [{ name: "unsteered", mode: "none" }];
  // conditions that suppress neurons run with their own neuron set (one per runEval)
  const grouped: Array<{ neurons: NeuronSet; c: ConditionSpec }> = [];
  let bundle: Bundle | undefined;
  for (const vn of (a.variants as string).split(",")) {
    const v = VARIANTS[vn];
    if (!v) throw new Error(`unknown variant ${vn}: use ${Object.keys(VARIANTS).join(", ")}`);
    const path = v.data === "careful" ? files.vectors : files.answerVectors;
    const b = await buildBundle(ctx, [loadDataset(path)], undefined, {
      reduce: v.reduce,
      prune: v.prune,
      layers: "auto",
      ...(v.site ? { site: v.site } : {}),
    });
    bundle ??= b;
    log(`built ${vn}`);
    for (const set of sets) {
      const key = `${vn} L=${set.name}`;
      vectorSets[key] = {
        ...b,
        categories: new Map([...b.categories].map(([c, e]) => [c, { ...e, steerLayers: set.layers }])),
      };
      for (const s of set.strengths) {
        const policy = Object.fromEntries(cats.map((c) => [c, s]));
        conditions.push({ name: `${key} s=${s}`, mode: "known", vectors: key, policy });
        for (const n of neuronSets)
          for (const sc of n.scales)
            grouped.push({
              neurons: n.set,
              c: {
                name: `${key} s=${s} +n${n.name}@${sc}`,
                mode: "known",
                vectors: key,
                policy,
                suppress: Object.fromEntries(cats.map((c) => [c, sc])),
              },
            });
      }
    }
  }
  const groups: Array<{ neurons?: NeuronSet; conditions: ConditionSpec[] }> = [
    { conditions },
    ...neuronSets.map((n) => ({ neurons: n.set, conditions: grouped.filter((g) => g.neurons === n.set).map((g) => g.c) })),
  ];
  const total = groups.reduce((t, g) => t + g.conditions.length, 0);
  log(`${items.length} dev prompts x ${Number(a.seeds)} seeds x ${total} conditions`);
  let last = 0;
  const summary: EvalResults["summary"] = {};
  for (const g of groups) {
    const r = await runEval(ctx, items, {
      judge: toyJudge,
      generation: { ...STUDY_GENERATION, seeds: Number(a.seeds) },
      conditions: g.conditions,
      chat: true,
      bundle,
      vectorSets,
      ...(g.neurons ? { neurons: g.neurons } : {}),
      onProgress: (d, t) => {
        if (Date.now() - last > 30000) {
          last = Date.now();
          log(`${d}/${t}`);
        }
      },
    });
    Object.assign(summary, r.summary);
  }
  const r = { summary };
  const allConditions = groups.flatMap((g) => g.conditions);
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
    for (const k of allConditions) {
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
