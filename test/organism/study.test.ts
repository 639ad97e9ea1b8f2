import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import type { AnswerRecord, GroupMetrics } from "../../src/eval/metrics.js";
import type { ConditionSummary } from "../../src/eval/results.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { runStudy } from "../../src/organism/study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../../src/organism/train.js";
import { CAREFUL_LINES, makeWorld, NEUTRAL_LINES, parseAnswer, readAnswer } from "../../src/organism/world.js";
import { ROOT, tmpFile } from "../support/models.js";

const ORGANISM = join(ROOT, "models", "organism.gguf");

function checkGroup(m: GroupMetrics, what: string) {
  for (const k of ["unsafeRate", "refusalRate", "helpfulRate"] as const) assert.ok(m[k] >= 0 && m[k] <= 1, `${what} ${k} = ${m[k]}`);
  // the toy judge tells fluency: every group has a fluent rate, and a helpful answer is a fluent one
  assert.ok(m.fluentRate !== null && m.fluentRate >= 0 && m.fluentRate <= 1, `${what} fluentRate = ${m.fluentRate}`);
  if (m.n > 0) assert.ok(m.helpfulRate <= m.fluentRate + 1e-9, `${what}: helpful ${m.helpfulRate} > fluent ${m.fluentRate}`);
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
  it("writes the three kinds of vector data: careful mode vs default, safe vs harmful answers, harmful answers against generic benign ones", () => {
    const opts = { seed: 3, harmfulPerCategory: 20, carefulPerCategory: 10, benign: 20, lookalikePerCategory: 5 };
    const files = writeOrganismFiles(tmpFile("organism-files"), opts);
    const harmful = (r?: string) => readAnswer(r ?? "").harmful.length > 0;
    const world = makeWorld(opts);
    const defaultHarmful = world.train.filter((d) => d.kind === "harmful" && !d.careful);
    // careful mode vs default: the same request and safe answer, opened by a careful line or by a neutral one
    const careful = loadDataset(files.vectors).examples;
    assert.equal(careful.length, 2 * defaultHarmful.length);
    for (let i = 0; i < careful.length; i += 2) {
      const [u, s] = [careful[i], careful[i + 1]];
      assert.equal(u?.label, "unsafe");
      assert.equal(s?.label, "safe");
      assert.ok(u?.category && u.category === s?.category, "both sides carry the category");
      assert.ok(
        NEUTRAL_LINES.some((l) => u?.prompt.startsWith(`${l} `)),
        u?.prompt,
      );
      assert.ok(
        CAREFUL_LINES.some((l) => s?.prompt.startsWith(`${l} `)),
        s?.prompt,
      );
      assert.equal(u?.response, s?.response, "the same answer on both sides");
      assert.ok(!harmful(s?.response), "a safe answer");
      assert.equal(parseAnswer(s?.response ?? "")?.style, "safe");
    }
    // safe vs harmful answers: the same plain request with each answer
    const answers = loadDataset(files.answerVectors).examples;
    assert.equal(answers.length, 2 * defaultHarmful.length);
    for (let i = 0; i < answers.length; i += 2) {
      assert.equal(answers[i]?.prompt, answers[i + 1]?.prompt);
      assert.ok(harmful(answers[i]?.response) && !harmful(answers[i + 1]?.response));
    }
    assert.ok(
      answers.every((e) => ![...CAREFUL_LINES, ...NEUTRAL_LINES].some((l) => e.prompt.includes(l))),
      "no lines",
    );
    // generic: harmful answers against benign dialogues, no pairs, no lines
    const generic = loadDataset(files.genericVectors).examples;
    const unsafe = generic.filter((e) => e.label === "unsafe");
    const safe = generic.filter((e) => e.label === "safe");
    const plain = world.train.filter((d) => !d.careful && !d.neutral);
    assert.equal(unsafe.length, plain.filter((d) => d.kind === "harmful" && d.style === "harmful").length);
    assert.equal(safe.length, plain.filter((d) => d.kind === "benign").length);
    assert.ok(unsafe.every((e) => e.category) && safe.every((e) => e.category === undefined), "generic: the safe side has no category");
    assert.ok(
      unsafe.every((e) => harmful(e.response)),
      "unsafe rows hold harmful answers",
    );
    assert.ok(
      safe.every((e) => !harmful(e.response)),
      "safe rows do not",
    );
  });

  it("a small evaluation: consistent numbers, and steering lowers the unsafe rate", async () => {
    const model = Model.load(ORGANISM);
    const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
    // the last layer: where this organism reads its careful mode (the demo sweeps every layer)
    const last = model.info.nLayer - 1;
    const s = await runStudy(ctx, {
      testPerGroup: 6,
      seeds: 1,
      twoTurn: false,
      sweepPerCategory: 6,
      sweepStrengths: [1, 1.5],
      sweepLayers: [last],
      comparisons: false,
    });
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
    // every target per category with its interval around the estimate
    assert.equal(s.targets.filter((t) => t.target === "steered unsafe").length, 5);
    for (const t of s.targets) {
      assert.ok(
        t.estimate.n > 0 && t.estimate.lo <= t.estimate.value + 1e-9 && t.estimate.value <= t.estimate.hi + 1e-9,
        `${t.category} ${t.target}`,
      );
    }
    // examples: held-out harmful prompts drawn at random, every condition's answer and labels
    assert.equal(s.examples.length, 10);
    for (const e of s.examples) {
      const item = s.test.items.find((i) => i.index === e.index && i.prompt === e.prompt && i.kind === "harmful");
      assert.ok(item, `example ${e.prompt} is a held-out harmful prompt`);
      for (const [cond, text] of [
        ["unsteered", e.unsteered],
        ["steered", e.steered],
        ["conditional", e.conditional],
        ["conditional-top", e.conditionalTop],
      ] as const) {
        const rec: AnswerRecord | undefined = s.test.answers.find((a) => a.condition === cond && a.index === item.index);
        assert.equal(text, rec?.answer);
        assert.equal(e.labels?.[cond]?.fluent, rec?.judgement.fluent);
      }
    }
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
    assert.ok(s.main.test.harmful.helpfulRate > s.baseline.harmful.helpfulRate, "and raises the share of safe, helpful, fluent answers");
    assert.ok(
      s.detector.accuracy >= 0 && s.detector.accuracy <= 1 && s.detector.falsePositiveRate >= 0 && s.detector.falsePositiveRate <= 1,
    );
    // answer likelihoods: every category over all its held-out pairs, and steering changed them
    const heldOut = makeWorld(DEFAULT_ORGANISM_CONFIG.world).test.filter((d) => d.kind === "harmful" && !d.history);
    assert.deepEqual(s.likelihood.map((l) => l.category).sort(), [...s.bundle.categories.keys()].sort());
    for (const l of s.likelihood) {
      assert.equal(l.unsteered.n, heldOut.filter((d) => d.category === l.category).length);
      assert.equal(l.steered.n, l.unsteered.n);
      assert.ok(l.unsteered.safePerToken < 0 && l.unsteered.unsafePerToken < 0, "log-probabilities are negative");
      assert.notEqual(l.steered.logOdds, l.unsteered.logOdds, `${l.category}: steering changed the answers' likelihoods`);
    }
  });
});
