import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import type { GroupMetrics } from "../../src/eval/metrics.js";
import type { ConditionSummary } from "../../src/eval/results.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { runStudy } from "../../src/organism/study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../../src/organism/train.js";
import { CATEGORIES, makeWorld } from "../../src/organism/world.js";
import { ROOT, tmpFile } from "../support/models.js";

const ORGANISM = join(ROOT, "models", "organism.gguf");

function checkGroup(m: GroupMetrics, what: string) {
  for (const k of ["unsafeRate", "refusalRate", "helpfulRate"] as const) assert.ok(m[k] >= 0 && m[k] <= 1, `${what} ${k} = ${m[k]}`);
  if (m.relevance !== null) assert.ok(m.relevance >= 0 && m.relevance <= 1);
  assert.ok(m.repetition >= 0 && m.repetition <= 1);
  if (m.n > 0 && m.perplexity !== null) assert.ok(m.perplexity >= 1, `${what} perplexity ${m.perplexity}`);
}

function checkSummary(s: ConditionSummary, nHarmful: number, what: string) {
  checkGroup(s.harmful, `${what} harmful`);
  assert.equal(s.harmful.n, nHarmful);
  const byCat = Object.values(s.harmful.byCategory);
  assert.equal(
    byCat.reduce((a, m) => a + m.n, 0),
    s.harmful.n,
    "category counts add up",
  );
  for (const m of byCat) checkGroup(m, what);
  // the overall rate is the count-weighted mean of the category rates
  const weighted = byCat.reduce((a, m) => a + m.unsafeRate * m.n, 0) / s.harmful.n;
  assert.ok(Math.abs(weighted - s.harmful.unsafeRate) < 1e-9);
}

describe("the organism, end to end", () => {
  it("writes both kinds of vector data: contrastive pairs, and harmful answers against generic benign ones", () => {
    const opts = { seed: 3, harmfulPerCategory: 20, benign: 20, lookalikePerCategory: 5 };
    const files = writeOrganismFiles(tmpFile("organism-files"), opts);
    const pairs = loadDataset(files.vectors).examples;
    assert.equal(pairs.filter((e) => e.label === "safe").length, pairs.filter((e) => e.label === "unsafe").length);
    assert.ok(
      pairs.every((e) => e.category),
      "pairs: both sides carry the category",
    );
    const generic = loadDataset(files.genericVectors).examples;
    const unsafe = generic.filter((e) => e.label === "unsafe");
    const safe = generic.filter((e) => e.label === "safe");
    const world = makeWorld(opts);
    assert.equal(unsafe.length, world.train.filter((d) => d.kind === "harmful" && d.style === "harmful").length);
    assert.equal(safe.length, world.train.filter((d) => d.kind === "benign").length);
    assert.ok(unsafe.every((e) => e.category) && safe.every((e) => e.category === undefined), "generic: the safe side has no category");
    const harmMarkers = CATEGORIES.flatMap((c) => c.harmMarkers);
    assert.ok(
      unsafe.every((e) => harmMarkers.some((m) => e.response?.includes(m))),
      "unsafe rows hold harmful answers",
    );
    assert.ok(
      safe.every((e) => !harmMarkers.some((m) => e.response?.includes(m))),
      "safe rows do not",
    );
  });

  it("the world is deterministic and its test split uses held-out templates", () => {
    const a = makeWorld({ seed: 3, harmfulPerCategory: 20, benign: 20, lookalikePerCategory: 5 });
    const b = makeWorld({ seed: 3, harmfulPerCategory: 20, benign: 20, lookalikePerCategory: 5 });
    assert.deepEqual(a, b);
    const trainPrompts = new Set(a.train.map((d) => d.prompt));
    const harmfulTest = a.test.filter((d) => d.kind === "harmful");
    assert.ok(
      harmfulTest.every((d) => !trainPrompts.has(d.prompt)),
      "no held-out harmful prompt was seen in training",
    );
    const mix = a.train.filter((d) => d.kind === "harmful");
    assert.ok(mix.filter((d) => d.style === "harmful").length / mix.length > 0.55);
  });

  it("a small evaluation: consistent numbers, and steering lowers the unsafe rate", async () => {
    const model = Model.load(ORGANISM);
    const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
    const s = await runStudy(ctx, { testPerGroup: 6, sweepPerCategory: 6, sweepStrengths: [0.5, 1], sweepLayers: [2], comparisons: false });
    ctx.dispose();
    model.dispose();
    const nHarmful = s.test.items.filter((i) => i.kind === "harmful").length;
    assert.equal(nHarmful, 30, "6 per category x 5 categories");
    for (const [name, sum] of [
      ["unsteered", s.baseline],
      ["steered", s.main.test],
      ["conditional", s.conditional],
      ["conditional-top", s.conditionalTop],
    ] as const)
      checkSummary(sum, nHarmful, name);
    assert.equal(s.test.answers.length, 4 * s.test.items.length, "every prompt answered under every condition");
    for (const a of s.test.answers.filter((x) => x.condition === "unsteered")) assert.deepEqual(a.steered, []);
    // conditional steering uses what the detector fired: all of it, or its most confident category
    const dets = s.test.detections ?? [];
    for (const a of s.test.answers.filter((x) => x.condition.startsWith("conditional"))) {
      const fired = (dets[a.index]?.fired ?? []).filter((c) => s.bundle.categories.has(c));
      assert.deepEqual(a.steered, a.condition === "conditional" ? [...fired].sort() : fired.slice(0, 1));
    }
    console.log(
      `  unsafe rate on ${nHarmful} held-out harmful prompts: unsteered ${(s.baseline.harmful.unsafeRate * 100).toFixed(1)}%, steered ${(s.main.test.harmful.unsafeRate * 100).toFixed(1)}%`,
    );
    assert.ok(s.main.test.harmful.unsafeRate < s.baseline.harmful.unsafeRate, "steering lowers the unsafe rate");
    assert.ok(
      s.detector.accuracy >= 0 && s.detector.accuracy <= 1 && s.detector.falsePositiveRate >= 0 && s.detector.falsePositiveRate <= 1,
    );
    // answer likelihoods: every category over all its held-out pairs, and steering changed them
    const heldOut = makeWorld(DEFAULT_ORGANISM_CONFIG.world).test.filter((d) => d.kind === "harmful");
    assert.deepEqual(s.likelihood.map((l) => l.category).sort(), [...s.bundle.categories.keys()].sort());
    for (const l of s.likelihood) {
      assert.equal(l.unsteered.n, heldOut.filter((d) => d.category === l.category).length);
      assert.equal(l.steered.n, l.unsteered.n);
      assert.ok(l.unsteered.safePerToken < 0 && l.unsteered.unsafePerToken < 0, "log-probabilities are negative");
      assert.notEqual(l.steered.logOdds, l.unsteered.logOdds, `${l.category}: steering changed the answers' likelihoods`);
    }
  });
});
