// The conditional-steering detector's candidates on the organism, measured on dev only: every dev
// prompt is scored by a detector that never saw its request frame (leave-frame-out over dev's
// frames). Two tables: (1) features, a feature being a pooling x layers, with a shrinkage and what
// the directions are fitted on: the training split only (dev's other frames set the thresholds)
// or training plus dev's other frames (thresholds from cross-fitted scores: each of those frames
// scored by directions fitted without it); (2) the study's own choice (organism/detector-choice.ts)
// with its candidates as the demo computes them. Rates with Wilson 95% intervals; n = dev prompts.
//   node --import tsx scripts/detector-dev.ts [-o docs/detector-dev.md] [--only feature,...] [--no-features]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { formatRate, wilson } from "../src/eval/intervals.js";
import { type Count, chooseDetector } from "../src/organism/detector-choice.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { DETECTOR_FALSE_ALARMS } from "../src/organism/study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../src/organism/train.js";
import { FRAMES } from "../src/organism/world.js";
import { describeLayers } from "../src/steer/detect.js";
import { fitDirections } from "../src/steer/discriminant.js";
import { dot, meanAndSd } from "../src/steer/math.js";
import { renderExample } from "../src/steer/render.js";
import { writeFileAtomic } from "../src/util/atomic-write.js";

const { values: args } = parseArgs({
  options: { output: { type: "string", short: "o" }, only: { type: "string" }, "no-features": { type: "boolean" } },
});

type Pool = "last" | "mean" | "cmean" | "tail4";
interface Item {
  prompt: string;
  cat: string | undefined;
  kind: string;
  /** -1: training split; else the dev frame. */
  frame: number;
}

function devFrame(prompt: string): number {
  return FRAMES.dev.findIndex((f) => {
    const [head, tail] = f("\u0001").split("\u0001") as [string, string];
    return prompt.startsWith(head) && prompt.endsWith(tail);
  });
}

const model = Model.load("models/organism.gguf");
const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
const dir = mkdtempSync(join(tmpdir(), "detector-dev-"));
const t0 = Date.now();
const log = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}\n`);
try {
  const files = writeOrganismFiles(dir, DEFAULT_ORGANISM_CONFIG.world);
  const kinds = new Set(["harmful", "benign", "lookalike"]);
  const items: Item[] = [];
  for (const [path, dev] of [
    [files.trainPrompts, false],
    [files.devPrompts, true],
  ] as const) {
    for (const e of loadDataset(path).examples) {
      const kind = String(e.meta?.kind);
      if (!kinds.has(kind)) continue;
      items.push({ prompt: e.prompt, cat: kind === "harmful" ? e.category : undefined, kind, frame: dev ? devFrame(e.prompt) : -1 });
    }
  }
  log(`${items.length} prompts (${items.filter((x) => x.frame >= 0).length} dev)`);
  // the chat template's tokens before and after the request: common to any two renders
  const a = renderExample(model, { prompt: "x" }, true);
  const b = renderExample(model, { prompt: "y" }, true);
  let pre = 0;
  while (a[pre] === b[pre]) pre++;
  let post = 0;
  while (a[a.length - 1 - post] === b[b.length - 1 - post]) post++;
  const layers = Array.from({ length: model.info.nLayer }, (_, l) => l);
  const w = model.info.nEmbd;
  const feats = new Map<string, Float32Array[]>(); // `${pool}@${layer}` -> rows
  for (const p of ["last", "mean", "cmean", "tail4"] as Pool[]) for (const l of layers) feats.set(`${p}@${l}`, []);
  const texts = items.map((x) => renderExample(model, { prompt: x.prompt }, true));
  for (let start = 0; start < texts.length; start += ctx.nSeq) {
    const group = texts.slice(start, start + ctx.nSeq);
    const { capture } = await ctx.evaluate(group, { capture: { site: "resid_post", layers, reduce: "none" }, logits: "none" });
    group.forEach((t, g) => {
      for (const l of layers) {
        const rows = capture!.rows(g, l);
        const avg = (from: number, to: number) => {
          const m = new Float32Array(w);
          for (let i = from; i < to; i++) for (let k = 0; k < w; k++) m[k]! += (rows[i] as Float32Array)[k] as number;
          return m.map((x) => x / (to - from));
        };
        feats.get(`last@${l}`)!.push(Float32Array.from(rows[t.length - 1] as Float32Array));
        feats.get(`mean@${l}`)!.push(avg(0, t.length));
        feats.get(`cmean@${l}`)!.push(avg(pre, t.length - post));
        feats.get(`tail4@${l}`)!.push(avg(t.length - 4, t.length));
      }
    });
  }
  log(`activations collected (template: ${pre} tokens before the request, ${post} after)`);

  const featureRows = (blocks: string[]) =>
    items.map((_, i) => {
      const out = new Float32Array(blocks.length * w);
      blocks.forEach((bk, j) => {
        out.set((feats.get(bk) as Float32Array[])[i] as Float32Array, j * w);
      });
      return out;
    });
  const cats = items.map((x) => x.cat);
  const categories = [...new Set(cats.filter((c): c is string => c !== undefined))].sort();
  const train = items.map((_, i) => i).filter((i) => (items[i] as Item).frame === -1);
  const framesOf = (fs: number[]) => items.map((_, i) => i).filter((i) => fs.includes((items[i] as Item).frame));
  const nFrames = FRAMES.dev.length;

  /** Directions fitted on some rows, each category's scores standardised by the fitted benign rows' scores. */
  const fit = (rows: Float32Array[], idx: number[], shrinkage: number) => {
    const dirs = fitDirections(
      idx.map((i) => rows[i] as Float32Array),
      idx.map((i) => cats[i]),
      rows[0]!.length,
      shrinkage,
    );
    const benign = idx.filter((i) => cats[i] === undefined);
    const stats = categories.map((c) => {
      const d = dirs.get(c) as Float32Array;
      const { mean, sd } = meanAndSd(benign.map((i) => dot(rows[i] as Float32Array, d)));
      return { c, d, mean, sd: sd || 1 };
    });
    return (i: number) => stats.map((s) => (dot(rows[i] as Float32Array, s.d) - s.mean) / s.sd);
  };
  /** The threshold (in those units) that at most `budget` of these benign z-maxima exceed: halfway to the next. */
  const threshold = (zmax: number[], budget: number) => {
    const s = [...zmax].sort((x, y) => x - y);
    const at = s.length - 1 - Math.floor(s.length * budget);
    return at + 1 < s.length ? ((s[at] as number) + (s[at + 1] as number)) / 2 : (s[at] as number);
  };
  const maxOf = (z: number[]) => Math.max(...z);

  /** Each held-out dev prompt's standardised scores, and the threshold it is judged by. */
  const evaluate = (rows: Float32Array[], shrinkage: number, fitDev: boolean) => {
    const verdicts: Array<{ i: number; z: number[]; t: number }> = [];
    const trainScore = fitDev ? undefined : fit(rows, train, shrinkage);
    for (let f = 0; f < nFrames; f++) {
      const others = Array.from({ length: nFrames }, (_, g) => g).filter((g) => g !== f);
      let score: (i: number) => number[];
      let t: number;
      if (!fitDev) {
        score = trainScore as (i: number) => number[];
        t = threshold(
          framesOf(others)
            .filter((i) => cats[i] === undefined)
            .map((i) => maxOf(score(i))),
          DETECTOR_FALSE_ALARMS,
        );
      } else {
        // cross-fitted: each other frame's benign prompts scored by directions fitted without that frame
        const oof: number[] = [];
        for (const g of others) {
          const s = fit(rows, [...train, ...framesOf(others.filter((h) => h !== g))], shrinkage);
          for (const i of framesOf([g])) if (cats[i] === undefined) oof.push(maxOf(s(i)));
        }
        t = threshold(oof, DETECTOR_FALSE_ALARMS);
        score = fit(rows, [...train, ...framesOf(others)], shrinkage);
      }
      for (const i of framesOf([f])) verdicts.push({ i, z: score(i), t });
    }
    return verdicts;
  };

  const feature: Record<string, string[]> = {
    "last@4": ["last@4"],
    "last@3-4": ["last@3", "last@4"],
    "last@all": layers.map((l) => `last@${l}`),
    "tail4@4": ["tail4@4"],
    "tail4@all": layers.map((l) => `tail4@${l}`),
    "cmean@4": ["cmean@4"],
    "cmean@all": layers.map((l) => `cmean@${l}`),
    "mean@4": ["mean@4"],
    "last+cmean@4": ["last@4", "cmean@4"],
    "last+cmean@3-4": ["last@3", "last@4", "cmean@3", "cmean@4"],
    "last+cmean@all": layers.flatMap((l) => [`last@${l}`, `cmean@${l}`]),
  };
  const only = args.only?.split(",");
  const lines: string[] = [];
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  lines.push(
    row([
      "feature",
      "fitted on",
      "shrinkage",
      "named (all harmful)",
      ...categories.map((c) => `named: ${c}`),
      "benign fire",
      "look-alike fire",
    ]),
    row(Array(6 + categories.length).fill("---")),
  );
  for (const [name, blocks] of Object.entries(feature)) {
    if (args["no-features"] || (only && !only.includes(name))) continue;
    const rows = featureRows(blocks);
    for (const fitDev of [false, true]) {
      for (const shrinkage of [0.1, 1]) {
        const v = evaluate(rows, shrinkage, fitDev);
        const named = (c?: string) => {
          const h = v.filter((x) => cats[x.i] !== undefined && (c === undefined || cats[x.i] === c));
          const ok = h.filter((x) => {
            const top = x.z.indexOf(maxOf(x.z));
            return (x.z[top] as number) > x.t && categories[top] === cats[x.i];
          });
          return formatRate(wilson(ok.length, h.length));
        };
        const fire = (kind: string) => {
          const o = v.filter((x) => (items[x.i] as Item).kind === kind);
          return formatRate(wilson(o.filter((x) => maxOf(x.z) > x.t).length, o.length));
        };
        const line = row([
          name,
          fitDev ? "train + other dev frames" : "train",
          String(shrinkage),
          named(),
          ...categories.map((c) => named(c)),
          fire("benign"),
          fire("lookalike"),
        ]);
        lines.push(line);
        log(line);
      }
    }
  }
  // (2) the study's choice, as the demo makes it
  const ofKind = (split: string, ks: string[]) =>
    loadDataset(split === "train" ? files.trainPrompts : files.devPrompts).examples.filter((e) => ks.includes(String(e.meta?.kind)));
  const choice = await chooseDetector(
    ctx,
    { harmful: ofKind("train", ["harmful"]), benign: ofKind("train", ["benign", "lookalike"]) },
    { harmful: ofKind("dev", ["harmful"]), benign: ofKind("dev", ["benign", "lookalike"]) },
    { layers, falseAlarms: DETECTOR_FALSE_ALARMS },
  );
  const rate = (c: Count | undefined) => (c ? formatRate(wilson(c.k, c.n)) : "-");
  const sum = (xs: Count[]) => xs.reduce((x, y) => ({ k: x.k + y.k, n: x.n + y.n }), { k: 0, n: 0 });
  const choiceLines = [
    row([
      "pooling",
      "shrinkage",
      "named (all harmful)",
      ...categories.map((c) => `named: ${c}`),
      "benign fire",
      "look-alike fire",
      "chosen",
    ]),
    row(Array(6 + categories.length).fill("---")),
    ...choice.candidates.map((c) =>
      row([
        c.pooling,
        String(c.shrinkage),
        rate(c.counts && sum(Object.values(c.counts.named))),
        ...categories.map((k) => rate(c.counts?.named[k])),
        rate(c.counts?.benign),
        rate(c.counts?.lookalike),
        c.chosen ? "yes" : "",
      ]),
    ),
    "",
    `Chosen, set on all of dev: ${choice.detector.reduce} pooling at ${describeLayers(choice.layers)}. Its layer candidates on all of dev (harmful named at the ${DETECTOR_FALSE_ALARMS * 100}% budget, mean margin): ${choice.byLayer
      .map((b) => `${describeLayers(b.layers ?? [b.layer])} ${(b.score * 100).toFixed(1)}% (${b.margin.toFixed(1)})`)
      .join(", ")}.`,
  ];
  log(choiceLines.join("\n"));
  const md = [
    ...(args["no-features"] ? [] : ["### Features (leave-frame-out over dev's 6 request frames)", "", ...lines, ""]),
    "### The study's choice (organism/detector-choice.ts; leave-frame-out over dev's 6 request frames)",
    "",
    ...choiceLines,
  ].join("\n");
  process.stdout.write(`${md}\n`);
  if (args.output) writeFileAtomic(args.output, [`${md}\n`]);
} finally {
  rmSync(dir, { recursive: true, force: true });
  ctx.dispose();
  model.dispose();
}
