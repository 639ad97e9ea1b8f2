import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { readControlVector } from "../../src/engine/control-vector.js";
import { Model } from "../../src/engine/model.js";
import { buildBundle } from "../../src/steer/build.js";
import { checkBundleModel, readBundle, writeBundle } from "../../src/steer/bundle.js";
import type { SteerError } from "../../src/steer/errors.js";
import { exportCategory, importControlVectors } from "../../src/steer/interop.js";
import { norm } from "../../src/steer/math.js";
import { composeAtLayer, parsePolicy, policySteering } from "../../src/steer/policy.js";
import type { Bundle } from "../../src/steer/types.js";
import { fixtureFile } from "../support/fixtures.js";
import { llamaCppLoadControlVectors } from "../support/llama-common.js";
import { randomModel, STORIES_GGUF, tmpFile } from "../support/models.js";
import { steeringSwitch } from "../support/steering.js";

describe("bundles", () => {
  let model: Model;
  let ctx: Context;
  let steering: ReturnType<typeof steeringSwitch>;
  let bundle: Bundle;
  before(async () => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 1024, nSeq: 8 });
    steering = steeringSwitch(ctx);
    // the project's own CatQA and harmless Alpaca fixtures (24 questions per category, 48 instructions):
    // nothing below depends on the real sets' numbers, and a clean clone has no ../shared
    const catqa = loadDataset(fixtureFile("catqa_english.json"));
    const safe = loadDataset(fixtureFile("harmless_alpaca.json"));
    bundle = await buildBundle(ctx, [catqa], safe, {
      categories: ["hate_harass_violence", "physical_harm", "fraud_deception"],
      maxPerCategory: 20,
      maxSafe: 40,
      layers: "auto",
    });
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("records provenance, diagnostics and one chosen layer per category", () => {
    assert.deepEqual([...bundle.categories.keys()], ["fraud_deception", "hate_harass_violence", "physical_harm"]);
    assert.equal(bundle.model.nEmbd, 64);
    assert.match(bundle.model.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(bundle.layers, [0, 1, 2, 3, 4]);
    assert.deepEqual(
      bundle.data.map((d) => d.name),
      ["catqa", "harmless"],
    );
    for (const [, e] of bundle.categories) {
      assert.equal(e.nUnsafe, 20);
      assert.equal(e.nSafe, 40);
      assert.equal(e.steerLayers.length, 1);
      const l = e.steerLayers[0]!;
      assert.ok(l >= 1 && l <= 3, "auto picks an inner layer");
      const d = e.diagnostics[l]!;
      assert.ok(
        d.auroc !== null && d.auroc >= Math.max(...[1, 2, 3].map((x) => e.diagnostics[x]!.auroc!)) - 0.005,
        "the chosen layer has the best held-out AUROC",
      );
      assert.equal(d.kept, 8, "16 training examples, 8 at or above the median");
      assert.ok(Math.abs(d.norm - norm(e.vectors.get(l)!)) < 1e-9);
    }
    assert.equal(bundle.cosine[2]!.length, 3);
    assert.ok(Math.abs(bundle.cosine[2]![1]![1]! - 1) < 1e-9);
    assert.ok(bundle.meanNorm[2]! > 0 && bundle.recommendedStrength > 0);
  });

  it("round-trips losslessly through its GGUF file", () => {
    const p = tmpFile("bundle.gguf");
    writeBundle(p, bundle);
    assert.deepEqual(readBundle(p), bundle);
  });

  it("exports a control vector that llama.cpp's own loader accepts, and that imports back to the same numbers", () => {
    const out = tmpFile("physical_harm.gguf");
    const e = bundle.categories.get("physical_harm")!;
    const l = e.steerLayers[0]!;
    exportCategory(bundle, "physical_harm", out, { strength: 1, raw: true });
    const loaded = llamaCppLoadControlVectors([{ path: out, strength: 1 }]);
    assert.ok(loaded, "llama.cpp accepted the file");
    assert.equal(loaded.nEmbd, 64);
    // llama.cpp's buffer starts at layer 1
    assert.deepEqual(loaded.data.subarray((l - 1) * 64, l * 64), e.vectors.get(l));
    const half = llamaCppLoadControlVectors([{ path: out, strength: 0.5 }])!;
    assert.deepEqual(
      half.data.subarray((l - 1) * 64, l * 64),
      e.vectors.get(l)!.map((x) => x * 0.5),
    );
    const back = importControlVectors([out], bundle.model, ["physical_harm"]);
    assert.deepEqual(back.categories.get("physical_harm")!.vectors.get(l), e.vectors.get(l));
    assert.deepEqual(back.categories.get("physical_harm")!.steerLayers, [l]);
    assert.deepEqual([...readControlVector(out).directions.keys()], [l]);
  });

  it("refuses a bundle built for another model; --force overrides only the fingerprint", async () => {
    const sameShape = Model.load(randomModel({ nEmbd: 64, nLayer: 5, nHead: 8, nHeadKv: 4, nFf: 172, seed: 9 }));
    const fp = await sameShape.fingerprint();
    assert.throws(
      () => checkBundleModel(bundle, fp),
      (e: SteerError) => e.code === "wrong_model" && /--force/.test(e.message),
    );
    checkBundleModel(bundle, fp, { force: true });
    sameShape.dispose();
    const wide = Model.load(randomModel({ nEmbd: 32, nLayer: 5, nHead: 4 }));
    assert.throws(
      () => checkBundleModel(bundle, { ...fp, nEmbd: 32 }, { force: true }),
      (e: SteerError) => e.code === "wrong_model" && /width 32/.test(e.message),
    );
    assert.throws(
      () => checkBundleModel(bundle, { ...fp, nLayer: 7 }, { force: true }),
      (e: SteerError) => /7 layers/.test(e.message),
    );
    wide.dispose();
  });

  it("policies: relative and raw strengths, composition by topping up, unknown categories refused", async () => {
    const p = parsePolicy("hate_harass_violence=1.0, physical_harm=0.5");
    assert.deepEqual(p, { hate_harass_violence: 1, physical_harm: 0.5 });
    const h = bundle.categories.get("hate_harass_violence")!;
    const one = policySteering(bundle, { hate_harass_violence: 1 }, { raw: true });
    assert.equal(one.length, h.steerLayers.length);
    assert.equal(one[0]!.vector, h.vectors.get(h.steerLayers[0]!), "one category: its own vector, unchanged");
    assert.equal(one[0]!.strength, 1);
    const rel = policySteering(bundle, { physical_harm: 0.5 });
    const e = bundle.categories.get("physical_harm")!;
    const l = e.steerLayers[0]!;
    // relative: the added vector's norm is strength x mean activation norm
    assert.ok(Math.abs(norm(e.vectors.get(l)!) * rel[0]!.strength! - 0.5 * bundle.meanNorm[l]!) < 1e-6);
    // two categories at one layer, one vector: the weaker push a whole, then the stronger one's
    // shortfall along its own direction (x = ta ua + (tb - ta <ua, ub>) ub when that has tb's sign)
    const both = policySteering(bundle, p, { raw: true, layer: 2 });
    assert.equal(both.length, 1);
    const pushes = [
      { v: h.vectors.get(2)!, t: norm(h.vectors.get(2)!) },
      { v: e.vectors.get(2)!, t: 0.5 * norm(e.vectors.get(2)!) },
    ].sort((x, z) => x.t - z.t);
    const [pa, pb] = pushes as [{ v: Float32Array; t: number }, { v: Float32Array; t: number }];
    const cos = pa.v.reduce((acc, x, i) => acc + x * pb.v[i]!, 0) / (norm(pa.v) * norm(pb.v));
    const short = Math.max(0, pb.t - pa.t * cos);
    const expected = pa.v.map((x, i) => (pa.t * x) / norm(pa.v) + (short * pb.v[i]!) / norm(pb.v));
    assert.ok(
      both[0]!.vector.every((x, i) => Math.abs(x - expected[i]!) < 1e-5),
      "composed as stated",
    );
    const summed = await steering.set(both);
    assert.deepEqual(summed.nativeLayers, [2]);
    const tokens = model.tokenize("Once upon a time");
    const a = (await ctx.evaluate([tokens])).logits[0]![0]!;
    await steering.set([{ site: "resid_post", layer: 2, vector: Float32Array.from(expected) }]);
    const b = (await ctx.evaluate([tokens])).logits[0]![0]!;
    steering.clear();
    assert.ok(a.every((x, i) => Math.abs(x - b[i]!) < 1e-4));
    // parallel directions are pushed once, by the strongest; orthogonal ones add up
    const u = new Float32Array([1, 0, 0]);
    const w = new Float32Array([0, 2, 0]);
    const [par] = composeAtLayer([
      { site: "resid_post", layer: 1, vector: u, strength: 3 },
      { site: "resid_post", layer: 1, vector: u, strength: 2 },
    ]);
    assert.deepEqual([...par!.vector], [3, 0, 0]);
    const [orth] = composeAtLayer([
      { site: "resid_post", layer: 1, vector: u, strength: 3 },
      { site: "resid_post", layer: 1, vector: w, strength: 1 },
    ]);
    assert.deepEqual([...orth!.vector], [3, 2, 0]);
    const [opposite] = composeAtLayer([
      { site: "resid_post", layer: 1, vector: u, strength: 3 },
      { site: "resid_post", layer: 1, vector: u, strength: -1 },
    ]);
    assert.deepEqual([...opposite!.vector], [3, 0, 0], "opposed: the stronger");
    assert.throws(
      () => policySteering(bundle, { violence: 1 }),
      (e: SteerError) => e.code === "unknown_category" && /fraud_deception/.test(e.message),
    );
    for (const bad of ["", "a", "a=", "a=x", "a=1,a=2", "a b=1"])
      assert.throws(
        () => parsePolicy(bad),
        (e: SteerError) => e.code === "bad_policy",
        bad,
      );
  });
});
