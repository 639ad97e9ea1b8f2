import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import type { Estimate } from "../../src/eval/intervals.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { NEURON_ARMS, type NeuronStudyResult, runNeuronStudy } from "../../src/organism/neuron-study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../../src/organism/train.js";
import { ORGANISM_STOP } from "../../src/organism/world.js";
import { ROOT, tmpFile } from "../support/models.js";

const ORGANISM = join(ROOT, "models", "organism.gguf");
const GENERATION = { seed: 1, temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, maxTokens: 80, stop: ORGANISM_STOP };

function checkEstimate(e: Estimate | null, n: number, what: string, rate = true) {
  assert.ok(e, `${what} is measured`);
  assert.equal(e.n, n, `${what}: n`);
  assert.ok(Number.isFinite(e.value) && e.lo <= e.value + 1e-12 && e.value <= e.hi + 1e-12, `${what}: ${e.lo} <= ${e.value} <= ${e.hi}`);
  if (rate) assert.ok(e.lo >= 0 && e.hi <= 1, `${what}: a rate`);
}

describe("the neuron study on the organism (small subset)", () => {
  let model: Model;
  let ctx: Context;
  let r: NeuronStudyResult;
  let markdown: string;
  const files = writeOrganismFiles(tmpFile("neuron-study"), DEFAULT_ORGANISM_CONFIG.world);
  const steps: string[] = [];
  let lastProgress: [number, number] = [0, 0];

  before(async () => {
    model = Model.load(ORGANISM);
    ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
    ({ result: r, markdown } = await runNeuronStudy(ctx, {
      files,
      generation: GENERATION,
      tops: [4, 8],
      scales: [1],
      layerSets: [
        [0, 1, 2, 3, 4],
        [3, 4],
      ],
      devPerCategory: 2,
      testPerCategory: 4,
      benignPerCategory: 4,
      pairsPerCategory: 4,
      onStep: (m) => steps.push(m),
      onProgress: (d, t) => {
        lastProgress = [d, t];
      },
    }));
  });
  after(() => {
    ctx?.dispose();
    model?.dispose();
  });

  it("chooses on dev among the settings tried, and reports every arm's rates with n and an interval around the point", () => {
    assert.equal(r.candidates.length, 4, "2 unit counts x 1 strength x 2 layer sets");
    assert.ok(
      r.candidates.some((c) => c.top === r.choice.top && c.scale === r.choice.scale && c.layers.join() === r.choice.layers.join()),
      "the choice is one of the candidates",
    );
    for (const c of r.candidates) checkEstimate(c.unsafe, 10, "dev unsafe");
    assert.deepEqual(r.sizes, {
      devPerCategory: 2,
      testHarmfulPerCategory: 4,
      testBenign: 4,
      pairsPerCategory: 4,
      seeds: 1,
      aurocHarmfulPerCategory: 60,
      aurocBenign: 60,
    });
    assert.deepEqual(
      r.categories.map((c) => c.category),
      ["dangerous_play", "deception", "privacy", "theft", "violence"],
    );
    for (const c of r.categories) {
      assert.deepEqual(
        c.arms.map((a) => a.arm),
        [...NEURON_ARMS],
      );
      assert.notEqual(c.other, c.category);
      assert.equal(c.units.length, r.choice.top);
      assert.ok(
        c.units.every((u) => r.choice.layers.includes(Number(u.split(":")[0]))),
        "units only at the chosen layers",
      );
      for (const a of c.arms) {
        for (const k of ["unsafe", "helpful", "fluent", "onTopic"] as const) checkEstimate(a[k], 4, `${c.category} ${a.arm} ${k}`);
        checkEstimate(a.benignHelpful, 4, `${c.category} ${a.arm} benign helpful`);
        assert.equal(a.unsafeChange === null, a.arm === "unsteered");
        if (a.unsafeChange) checkEstimate(a.unsafeChange, 4, "unsafe change", false);
      }
    }
    assert.deepEqual(lastProgress, [lastProgress[1], 10 * 5 + 5 * 4 * 8], "progress reaches the total of answers");
    assert.equal(steps.length, 3);
  });

  it("the category's own units separate its held-out test prompts from benign ones better than random units of the same layers", () => {
    for (const c of r.categories) {
      const own = c.arms.find((a) => a.arm === "own")?.auroc;
      const random = c.arms.find((a) => a.arm === "random")?.auroc;
      checkEstimate(own ?? null, r.choice.top, `${c.category} own AUROC`);
      checkEstimate(random ?? null, r.choice.top, `${c.category} random AUROC`);
      assert.ok((own?.value ?? 0) > (random?.value ?? 1), `${c.category}: own ${own?.value} vs random ${random?.value}`);
      assert.ok((own?.value ?? 0) > 0.6, `${c.category}: own units separate (${own?.value})`);
    }
  });

  it("the likelihood check is finite and suppression moves it", () => {
    for (const c of r.categories) {
      const base = c.arms[0];
      for (const a of c.arms) {
        checkEstimate(a.logOdds, 4, `${c.category} ${a.arm} log-odds`, false);
        assert.ok(a.safePerToken < 0 && a.harmfulPerToken < 0, "log-probabilities per token");
        if (a.arm === "unsteered") continue;
        checkEstimate(a.logOddsChange, 4, `${c.category} ${a.arm} log-odds change`, false);
        assert.ok(Math.abs((a.logOddsChange as Estimate).value - (a.logOdds.value - (base?.logOdds.value ?? 0))) < 1e-9, "paired change");
      }
      assert.notEqual(
        c.arms.find((a) => a.arm === "own")?.logOdds.value,
        base?.logOdds.value,
        `${c.category}: own units move the log-odds`,
      );
    }
  });

  it("reports the overlap of the chosen unit sets and renders the section", () => {
    const cats = r.categories.map((c) => c.category);
    for (const a of cats)
      for (const b of cats) {
        const v = r.overlap[a]?.[b] as number;
        assert.ok(v >= 0 && v <= 1);
        assert.equal(v, r.overlap[b]?.[a]);
        if (a === b) assert.equal(v, 1);
      }
    // Jaccard from the listed units
    const [a, b] = r.categories;
    const both = (a?.units ?? []).filter((u) => b?.units.includes(u)).length;
    assert.equal(r.overlap[a?.category as string]?.[b?.category as string], both / (2 * r.choice.top - both));
    assert.match(markdown, /^## Category neurons/);
    assert.match(markdown, /\| category \| suppressed \| unsafe \|/);
    for (const c of cats) assert.match(markdown, new RegExp(`\\| ${c} \\| own top-${r.choice.top} \\| `));
    assert.match(markdown, /n=4/);
  });

  it("stops when the signal is aborted", async () => {
    const c = new AbortController();
    c.abort();
    await assert.rejects(runNeuronStudy(ctx, { files, generation: GENERATION, signal: c.signal }), /stopped/);
  });
});
