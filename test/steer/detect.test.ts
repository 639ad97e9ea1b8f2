import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Example } from "../../src/data/example.js";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { metaNumber, readGguf } from "../../src/engine/gguf/reader.js";
import { Model } from "../../src/engine/model.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { buildBundle } from "../../src/steer/build.js";
import { readBundle, writeBundle } from "../../src/steer/bundle.js";
import { activationRow, collectActivations } from "../../src/steer/collect.js";
import { calibrateDetector, detect } from "../../src/steer/detect.js";
import { fitDirections } from "../../src/steer/discriminant.js";
import { dot } from "../../src/steer/math.js";
import { renderExample } from "../../src/steer/render.js";
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

  it("joined layers: one more candidate, whose direction spans the layers' activations side by side, scored without a joined copy", async () => {
    const harmful = train.filter((e) => kind(e) === "harmful");
    const benign = train.filter((e) => kind(e) !== "harmful");
    const validation = { harmful: dev.filter((e) => kind(e) === "harmful"), benign: dev.filter((e) => kind(e) !== "harmful") };
    const opts = { layers: [3, 4], chat: true, reduce: "last" as const, falseAlarms: 0.02, validation };
    const { detector, layers, byLayer } = await calibrateDetector(ctx, harmful, benign, { ...opts, join: true });
    assert.deepEqual(
      byLayer.map((b) => b.layers ?? [b.layer]),
      [[3], [4], [3, 4]],
    );
    const best = byLayer.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.margin > a.margin) ? b : a));
    assert.deepEqual(layers, best.layers ?? [best.layer]);
    // on dev's wording the joined layers name more harmful prompts than either layer alone
    const joined = byLayer[2]!;
    console.log(
      `  dev harmful named: ${byLayer.map((b) => `${(b.layers ?? [b.layer]).join("+")} ${(b.score * 100).toFixed(1)}%`).join(", ")}`,
    );
    assert.ok(joined.score > Math.max(byLayer[0]!.score, byLayer[1]!.score), "joining layers 3 and 4 names more than either");
    assert.deepEqual(layers, [3, 4]);
    for (const d of Object.values(detector.categories)) {
      assert.deepEqual(d.layers, [3, 4]);
      assert.equal(d.layer, 4);
      assert.equal(d.direction.length, 2 * model.info.nEmbd);
    }
    // the direction is the discriminant of the joined activations, and detect() scores them so
    const all = [...harmful, ...benign];
    const cats = all.map((e, i) => (i < harmful.length ? e.category : undefined));
    const acts = await collectActivations(
      ctx,
      all.map((e) => renderExample(model, { prompt: e.prompt }, true)),
      { site: "resid_post", layers: [3, 4], reduce: "last" },
    );
    const joinedRow = (i: number) => Float32Array.from([...activationRow(acts, 3, i), ...activationRow(acts, 4, i)]);
    const ref = fitDirections(
      all.map((_, i) => joinedRow(i)),
      cats,
      2 * acts.width,
      0.1,
    );
    for (const [c, d] of Object.entries(detector.categories)) {
      const r = ref.get(c) as Float32Array;
      assert.ok(Math.max(...d.direction.map((x, k) => Math.abs(x - (r[k] as number)))) < 1e-5, `${c}: direction as the reference`);
    }
    const sample = all.slice(0, 8);
    const dets = await detect(
      ctx,
      detector,
      sample.map((e) => e.prompt),
      true,
    );
    dets.forEach((det, i) => {
      for (const [c, d] of Object.entries(detector.categories)) {
        const want = (dot(joinedRow(i), d.direction) - d.threshold) / d.scale;
        assert.ok(Math.abs((det.scores[c] as number) - want) < 1e-4, `${c}: score ${det.scores[c]} against ${want}`);
      }
    });
    // without join the candidates are the single layers, as before
    const single = await calibrateDetector(ctx, harmful, benign, opts);
    assert.deepEqual(
      single.byLayer.map((b) => b.layers ?? [b.layer]),
      [[3], [4]],
    );
    assert.ok(Object.values(single.detector.categories).every((d) => d.layers === undefined));
  });

  it("bundle format: 2 only when the detector joins layers (older readers refuse what they would misread), 1 otherwise", async () => {
    const bundle = await buildBundle(ctx, [loadDataset(vectorsFile)], undefined, { layers: [2], maxPerCategory: 20 });
    const harmful = train.filter((e) => kind(e) === "harmful");
    const benign = train.filter((e) => kind(e) !== "harmful");
    const joined = (await calibrateDetector(ctx, harmful, benign, { layers: [0, 4], chat: true, reduce: "last", join: true })).detector;
    const forced: typeof joined = {
      ...joined,
      categories: Object.fromEntries(
        Object.entries(joined.categories).map(([c, d]) => [
          c,
          d.layers ? d : { ...d, layers: [0, 4], direction: new Float32Array(2 * model.info.nEmbd).fill(0.1) },
        ]),
      ),
    };
    const single = (await calibrateDetector(ctx, harmful, benign, { layers: [2], chat: true })).detector;
    for (const [det, format] of [
      [forced, 2],
      [single, 1],
    ] as const) {
      const path = tmpFile(`detector-format-${format}.gguf`);
      writeBundle(path, { ...bundle, detector: det });
      assert.equal(metaNumber(readGguf(path, "bundle"), "safesteer.format_version"), format);
      const back = readBundle(path).detector;
      assert.ok(back);
      const prompts = test.slice(0, 10).map((e) => e.prompt);
      assert.deepEqual(await detect(ctx, back, prompts, true), await detect(ctx, det, prompts, true));
    }
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
