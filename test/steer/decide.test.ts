// One steering decision for every caller: planSteering checks a policy against the organism's real
// bundle once, and decide() picks per prompt what each mode steers, with the same vectors a policy
// of those categories gives through policySteering.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Model } from "../../src/engine/model.js";
import { DEFAULT_MODEL } from "../../src/models.js";
import { readBundle } from "../../src/steer/bundle.js";
import { checkSteeringModel, planSteering, steeredPolicy } from "../../src/steer/decide.js";
import { neuronSteering } from "../../src/steer/neuron-steer.js";
import { NEURONS_SCHEMA, type NeuronSet } from "../../src/steer/neuron-types.js";
import { bundlePolicy, policySteering } from "../../src/steer/policy.js";
import type { Bundle } from "../../src/steer/types.js";
import { BUNDLE } from "../server/helpers.js";
import { STORIES_GGUF } from "../support/models.js";

describe("planSteering and decide()", () => {
  let bundle: Bundle;
  let cats: string[];
  before(() => {
    bundle = readBundle(BUNDLE);
    cats = [...bundle.categories.keys()];
  });

  it("policy mode steers the whole policy, with exactly the vectors policySteering composes", () => {
    const policy = bundlePolicy(bundle);
    const { decision, vectors } = planSteering(bundle, { policy: "all", name: "organism" }).decide();
    assert.deepEqual(vectors, policySteering(bundle, policy));
    assert.equal(decision.bundle, "organism");
    assert.equal(decision.mode, "policy");
    assert.deepEqual(steeredPolicy(decision), policy);
    assert.equal(
      decision.steered.length,
      cats.reduce((n, c) => n + (bundle.categories.get(c)?.steerLayers.length ?? 0), 0),
    );
  });

  it("known mode steers the prompt's own category only, and nothing for a category the policy lacks", () => {
    const [a, b] = cats as [string, string];
    const plan = planSteering(bundle, { policy: { [a]: 0.5, [b]: 1 }, mode: "known" });
    const own = plan.decide({ category: b });
    assert.deepEqual(own.vectors, policySteering(bundle, { [b]: 1 }));
    assert.deepEqual(steeredPolicy(own.decision), { [b]: 1 });
    for (const facts of [{}, { category: "not_in_the_policy" }]) {
      const none = plan.decide(facts);
      assert.deepEqual(none.vectors, []);
      assert.deepEqual(none.decision.steered, []);
    }
  });

  it("conditional mode steers what fired (all, or the most confident), records the detection, and needs one", () => {
    const [a, b, c] = cats as [string, string, string];
    const detection = { fired: [c, a], scores: { [a]: 0.4, [b]: -1, [c]: 2.5 } };
    const policy = { [a]: 0.5, [b]: 1, [c]: 0.8 };
    const all = planSteering(bundle, { policy, mode: "conditional" });
    assert.equal(all.needsDetection, true);
    assert.throws(() => all.decide(), /run detect\(\) first/);
    const got = all.decide({ detection });
    assert.deepEqual(got.vectors, policySteering(bundle, { [c]: 0.8, [a]: 0.5 }));
    assert.deepEqual(Object.keys(steeredPolicy(got.decision)), [c, a], "most confident first");
    assert.deepEqual(got.decision.fired, [c, a]);
    assert.deepEqual(got.decision.scores, detection.scores);
    const top = planSteering(bundle, { policy, mode: "conditional", fire: "top" }).decide({ detection });
    assert.deepEqual(steeredPolicy(top.decision), { [c]: 0.8 });
    assert.deepEqual(all.decide({ detection: { fired: [], scores: {} } }).vectors, []);
  });

  it("none steers nothing, whatever the policy", () => {
    for (const plan of [planSteering(bundle, { policy: "none" }), planSteering(bundle, { policy: "all", mode: "none" })]) {
      assert.equal(plan.mode, "none");
      assert.deepEqual(plan.decide(), { decision: { bundle: null, mode: "none", steered: [] }, vectors: [] });
    }
  });

  it("a bad policy fails at planning, before any prompt: unknown category, strength out of range, no bundle", () => {
    assert.throws(
      () => planSteering(bundle, { policy: { nope: 1 } }),
      (e: Error & { code?: string }) => e.code === "unknown_category",
    );
    assert.throws(
      () => planSteering(bundle, { policy: { [cats[0] as string]: 1e9 } }),
      (e: Error & { code?: string }) => e.code === "bad_policy",
    );
    assert.throws(() => planSteering(undefined, { policy: { a: 1 } }), /no bundle was given/);
    assert.throws(() => planSteering(bundle, { policy: "all", layer: 99 }), /no vector at layer 99/);
  });

  it("a suppression is chosen per prompt as the policy is, and recorded with its unit counts", () => {
    const [a, b] = cats as [string, string];
    const nFf = 16;
    const unit = (layer: number, index: number) => ({
      layer,
      index,
      sign: 1 as const,
      auroc: 0.9,
      effect: 1,
      trainEffect: 1,
      meanUnsafe: 2,
      meanSafe: 0.5,
      others: {},
    });
    const category = (units: ReturnType<typeof unit>[]) => ({
      units,
      nUnsafe: 10,
      nSafe: 10,
      safeSource: "category" as const,
      explained: null,
    });
    const set = {
      schema: NEURONS_SCHEMA,
      model: { ...bundle.model, nFf },
      site: "mlp_post",
      reduce: "mean",
      layers: [1, 2],
      categories: { [a]: category([unit(1, 3), unit(2, 5)]), [b]: category([unit(1, 7)]) },
    } as unknown as NeuronSet;
    const plan = planSteering(bundle, {
      policy: { [a]: 0.5 },
      mode: "known",
      neurons: { set, suppress: { [a]: 1, [b]: 0.5 }, name: "org" },
    });
    const got = plan.decide({ category: b });
    assert.deepEqual(got.decision.steered, [], "the policy lacks b");
    assert.equal(got.decision.neurons, "org");
    assert.deepEqual(got.decision.suppressed, [{ category: b, strength: 0.5, units: 1 }]);
    assert.deepEqual(got.vectors, neuronSteering({ neurons: set, suppress: { [b]: 0.5 } }));
    const both = plan.decide({ category: a });
    assert.deepEqual(both.vectors, [...policySteering(bundle, { [a]: 0.5 }), ...neuronSteering({ neurons: set, suppress: { [a]: 1 } })]);
    assert.throws(
      () => planSteering(bundle, { neurons: { set, suppress: { nope: 1 } } }),
      (e: Error & { code?: string }) => e.code === "bad_suppress" && /no neurons for category nope/.test(e.message),
    );
  });

  describe("checkSteeringModel", () => {
    let organism: Model;
    let stories: Model;
    before(() => {
      organism = Model.load(DEFAULT_MODEL);
      stories = Model.load(STORIES_GGUF);
    });
    after(() => {
      organism.dispose();
      stories.dispose();
    });
    it("accepts the bundle on its own model and refuses it on another", async () => {
      await checkSteeringModel(organism, { bundle });
      await assert.rejects(checkSteeringModel(stories, { bundle }), (e: Error & { code?: string }) => e.code === "wrong_model");
    });
  });
});
