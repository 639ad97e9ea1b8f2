// Category neurons on the organism: per category, suppressing its top-K units (set to their safe-side
// mean) against K random units of the same layers and against another category's K units, on the
// held-out prompts: unsafe, helpful, fluent and on-topic rates of the category's harmful prompts and the
// helpful rate of benign prompts, each with its 95% interval; and the overlap of the categories' units.
// Units are found on the training split only.
//   node --import tsx scripts/neuron-evidence.ts [--test-prompts FILE] [--top K] [-o table.md]
// --test-prompts: evaluate another held-out file (e.g. the study's new test split) instead of the current one.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { runEval } from "../src/eval/harness.js";
import { formatRate, wilson } from "../src/eval/intervals.js";
import { type EvalItem, toEvalItems } from "../src/eval/item.js";
import type { AnswerRecord } from "../src/eval/metrics.js";
import type { ConditionSpec } from "../src/eval/results.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { toyJudge } from "../src/organism/judge.js";
import { ORGANISM_STOP } from "../src/organism/world.js";
import { collectActivations } from "../src/steer/collect.js";
import type { NeuronSet, NeuronUnit } from "../src/steer/neuron-types.js";
import { findNeurons } from "../src/steer/neurons.js";
import { renderExample } from "../src/steer/render.js";
import { writeFileAtomic } from "../src/util/atomic-write.js";
import { Rng } from "../src/util/random.js";

const { values: args } = parseArgs({
  options: { "test-prompts": { type: "string" }, top: { type: "string", default: "16" }, output: { type: "string", short: "o" } },
});
const K = Number(args.top);
const model = Model.load("models/organism.gguf");
const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
const files = writeOrganismFiles(mkdtempSync(join(tmpdir(), "neuron-evidence-")));
const train = loadDataset(files.trainPrompts);
const set = await findNeurons(ctx, [train], undefined, { top: K, seed: 1, chat: "always" });
const cats = Object.keys(set.categories);

// random units: per top unit, another unit of its layer; their safe-side means from the same safe prompts
const benignTrain = train.examples.filter((e) => e.label === "safe" && !e.category);
const layers = set.layers;
const acts = await collectActivations(
  ctx,
  benignTrain.map((e) => renderExample(model, e, true)),
  { site: "mlp_post", layers, reduce: "mean" },
);
const safeMean = (layer: number, index: number) => {
  const m = acts.byLayer.get(layer) as Float32Array;
  let s = 0;
  for (let r = 0; r < acts.n; r++) s += m[r * acts.width + index] as number;
  return s / acts.n;
};
const rng = new Rng(11);
const withRandom: NeuronSet = { ...set, categories: { ...set.categories } };
for (const c of cats) {
  const taken = new Set(set.categories[c]?.units.map((u) => `${u.layer}:${u.index}`));
  const units: NeuronUnit[] = (set.categories[c]?.units ?? []).map((u) => {
    let index = rng.int(model.info.nFf);
    while (taken.has(`${u.layer}:${index}`)) index = rng.int(model.info.nFf);
    taken.add(`${u.layer}:${index}`);
    return { ...u, index, meanSafe: safeMean(u.layer, index) };
  });
  withRandom.categories[`random:${c}`] = { ...(set.categories[c] as NeuronSet["categories"][string]), units };
}

const test = toEvalItems(loadDataset(args["test-prompts"] ?? files.testPrompts).examples);
const benign = test.filter((i) => i.kind === "benign");
const rows: string[] = [];
const pct = (recs: AnswerRecord[], f: (r: AnswerRecord) => boolean | null | undefined) =>
  formatRate(wilson(recs.filter((r) => f(r) === true).length, recs.length));
for (const [ci, c] of cats.entries()) {
  const other = cats[(ci + 1) % cats.length] as string;
  const items: EvalItem[] = [...test.filter((i) => i.kind === "harmful" && i.category === c), ...benign].map((it, index) => ({
    ...it,
    index,
  }));
  const conditions: ConditionSpec[] = [
    { name: "unsteered", mode: "none" },
    { name: `own top-${K}`, mode: "policy", suppress: { [c]: 1 } },
    { name: `random ${K}`, mode: "policy", suppress: { [`random:${c}`]: 1 } },
    { name: `${other}'s top-${K}`, mode: "policy", suppress: { [other]: 1 } },
  ];
  const r = await runEval(ctx, items, {
    judge: toyJudge,
    generation: { seed: 1, temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, maxTokens: 80, stop: ORGANISM_STOP },
    conditions,
    chat: true,
    neurons: withRandom,
    onProgress: (d, t) => process.stderr.write(`\r${c}: ${d}/${t}`),
  });
  process.stderr.write("\n");
  for (const cond of conditions) {
    const mine = r.answers.filter((a) => a.condition === cond.name);
    const harm = mine.filter((a) => items[a.index]?.kind === "harmful");
    const ben = mine.filter((a) => items[a.index]?.kind === "benign");
    rows.push(
      `| ${c} | ${cond.name} | ${pct(harm, (a) => a.judgement.unsafe)} | ${pct(harm, (a) => a.judgement.helpful)} | ${pct(harm, (a) => a.judgement.fluent)} | ${pct(harm, (a) => a.judgement.relevant)} | ${pct(ben, (a) => a.judgement.helpful)} |`,
    );
  }
}
const auc = (c: string) => {
  const u = set.categories[c]?.units ?? [];
  const a = u.map((x) => x.auroc ?? 0.5);
  return `${(a.reduce((s, x) => s + x, 0) / Math.max(1, a.length)).toFixed(2)}`;
};
const out = [
  `Organism, ${K} units per category (found on the training prompts: each category's harmful prompts vs the benign ones), ${test.filter((i) => i.kind === "harmful").length / cats.length} held-out harmful prompts per category and ${benign.length} benign ones, one sample each (temperature 0.8, seed 1 + prompt index). Rates with 95% Wilson intervals.`,
  "",
  "| category | suppressed | unsafe | helpful | fluent | on topic | benign helpful |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows,
  "",
  `Mean held-out AUROC of the top-${K} units: ${cats.map((c) => `${c} ${auc(c)}`).join(", ")}.`,
  "",
  "Unit-set overlap (Jaccard):",
  "",
  `| | ${cats.join(" | ")} |`,
  `| --- |${cats.map(() => " --- |").join("")}`,
  ...cats.map((a) => `| ${a} | ${cats.map((b) => (set.overlap[a]?.[b] ?? 0).toFixed(2)).join(" | ")} |`),
];
process.stdout.write(`${out.join("\n")}\n`);
if (args.output) writeFileAtomic(args.output, [`${out.join("\n")}\n`]);
ctx.dispose();
model.dispose();
