import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Example } from "../../src/data/example.js";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { buildBundle } from "../../src/steer/build.js";
import { readBundle, writeBundle } from "../../src/steer/bundle.js";
import { calibrateDetector, detect } from "../../src/steer/detect.js";
import type { Detection } from "../../src/steer/types.js";
import { ROOT, tmpFile } from "../support/models.js";

const ORGANISM = join(ROOT, "models", "organism.gguf");

describe("the category detector (conditional steering)", () => {
  let model: Model;
  let ctx: Context;
  let train: Example[];
  let test: Example[];
  let dev: Example[];
  let vectorsFile: string;
  before(() => {
    model = Model.load(ORGANISM);
    ctx = new Context(model, { nCtx: 1024, nSeq: 16 });
    const files = writeOrganismFiles(tmpFile("detector-world"));
    vectorsFile = files.vectors;
    train = loadDataset(files.trainPrompts).examples;
    test = loadDataset(files.testPrompts).examples;
    dev = loadDataset(files.devPrompts).examples;
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });
  const kind = (e: Example) => e.meta?.kind;

  function rates(ex: Example[], dets: Detection[]) {
    const named = ex.filter((e, i) => kind(e) === "harmful" && dets[i]?.fired[0] === e.category).length;
    const harmful = ex.filter((e) => kind(e) === "harmful").length;
    const alarms = ex.filter((e, i) => kind(e) === "benign" && (dets[i]?.fired.length ?? 0) > 0).length;
    return { accuracy: named / harmful, falsePositiveRate: alarms / ex.filter((e) => kind(e) === "benign").length };
  }

  it("chooses the layer that names held-out training prompts best, and names held-out requests in unseen wording", async () => {
    const { detector, byLayer } = await calibrateDetector(
      ctx,
      train.filter((e) => kind(e) === "harmful"),
      train.filter((e) => kind(e) !== "harmful"),
      { layers: [1, 2, 3], chat: true },
    );
    assert.deepEqual(
      byLayer.map((b) => b.layer),
      [1, 2, 3],
    );
    // ties in the share named go to the larger margin
    const best = byLayer.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.margin > a.margin) ? b : a));
    assert.ok(Object.values(detector.categories).every((c) => c.layer === best.layer));
    assert.deepEqual(Object.keys(detector.categories), ["dangerous_play", "deception", "privacy", "theft", "violence"]);
    const r = rates(
      test,
      await detect(
        ctx,
        detector,
        test.map((e) => e.prompt),
        true,
      ),
    );
    console.log(
      `  held-out: category named ${(r.accuracy * 100).toFixed(1)}%, benign false alarms ${(r.falsePositiveRate * 100).toFixed(1)}%`,
    );
    // test requests use their own request frames and action phrases; whitened directions discount
    // wording, so most are still named. False alarms on unseen wording exceed the 5% budget set on
    // seen wording (the held-out quarter shares its wording with the fitted prompts, so it cannot
    // see this): the study validates on dev prompts instead (next test)
    assert.ok(best.score > 0.9, `validation: held-out training prompts named ${best.score}`);
    assert.ok(r.accuracy > 0.5, `five categories: chance is 20%, got ${r.accuracy}`);
  });

  it("with validation prompts of other wording (dev), sets the layer and thresholds on them: the budget holds there", async () => {
    const ofKind = (ex: Example[], harmful: boolean) => ex.filter((e) => (kind(e) === "harmful") === harmful);
    const fa = 0.05;
    const { detector, layer, byLayer } = await calibrateDetector(ctx, ofKind(train, true), ofKind(train, false), {
      layers: [1, 2, 3],
      chat: true,
      falseAlarms: fa,
      validation: { harmful: ofKind(dev, true), benign: ofKind(dev, false) },
    });
    const best = byLayer.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.margin > a.margin) ? b : a));
    assert.equal(layer, best.layer);
    const devBenign = ofKind(dev, false);
    const fired = (
      await detect(
        ctx,
        detector,
        devBenign.map((e) => e.prompt),
        true,
      )
    ).filter((d) => d.fired.length > 0).length;
    // the threshold is an order statistic of the dev benign prompts' scores: exactly this many fire
    assert.equal(fired, Math.floor(devBenign.length * fa));
    const r = rates(
      test,
      await detect(
        ctx,
        detector,
        test.map((e) => e.prompt),
        true,
      ),
    );
    console.log(
      `  validated on dev (layer ${layer}): test category named ${(r.accuracy * 100).toFixed(1)}%, test benign false alarms ${(r.falsePositiveRate * 100).toFixed(1)}%`,
    );
    assert.ok(r.accuracy > 0.5, `five categories: chance is 20%, got ${r.accuracy}`);
  });

  it("fires on at most the false-alarm budget of the held-out benign calibration prompts, and refuses too few benign prompts or no shrinkage", async () => {
    const harmful = train.filter((e) => kind(e) === "harmful");
    const benign = train.filter((e) => kind(e) !== "harmful");
    const { detector } = await calibrateDetector(ctx, harmful, benign, { layers: [2], chat: true, falseAlarms: 0.1 });
    // the thresholds come from every fourth calibration prompt (the held-out quarter)
    const all = [...harmful, ...benign];
    const heldOutBenign = all.filter((e, i) => i % 4 === 3 && kind(e) !== "harmful");
    const dets = await detect(
      ctx,
      detector,
      heldOutBenign.map((e) => e.prompt),
      true,
    );
    // exactly floor(10%) of them score above the threshold; the prompt at the threshold may tip
    // either way with the float noise of another batch arrangement
    const fired = dets.filter((d) => d.fired.length > 0).length;
    const allowed = Math.floor(dets.length * 0.1);
    assert.ok(fired >= allowed && fired <= allowed + 1, `held-out benign calibration prompts fired: ${fired} of ${dets.length}`);
    await assert.rejects(calibrateDetector(ctx, harmful, benign.slice(0, 5), { layers: [2], chat: true }), (e: Error) =>
      /at least 20 benign prompts \(got 5\)/.test(e.message),
    );
    await assert.rejects(calibrateDetector(ctx, harmful, benign, { layers: [2], chat: true, shrinkage: 0 }), (e: Error) =>
      /shrinkage must be a number above 0/.test(e.message),
    );
  });

  it("survives the bundle file: the same detections after writing and reading it back", async () => {
    const bundle = await buildBundle(ctx, [loadDataset(vectorsFile)], undefined, { layers: [2], maxPerCategory: 20 });
    const { detector } = await calibrateDetector(
      ctx,
      train.filter((e) => kind(e) === "harmful"),
      train.filter((e) => kind(e) !== "harmful"),
      { layers: [2], chat: true, reduce: "mean" },
    );
    const path = tmpFile("with-detector.gguf");
    writeBundle(path, { ...bundle, detector });
    const back = readBundle(path).detector;
    assert.ok(back);
    assert.equal(back.reduce, "mean");
    const prompts = test.slice(0, 12).map((e) => e.prompt);
    assert.deepEqual(await detect(ctx, back, prompts, true), await detect(ctx, detector, prompts, true));
  });
});
