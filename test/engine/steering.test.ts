import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { Rng } from "../../src/util/random.js";
import { STORIES_GGUF } from "../support/models.js";
import { maxAbsDiff } from "../support/reference-llama.js";
import { steeringSwitch } from "../support/steering.js";

describe("steering at layer L with strength m and vector v (stories260K)", () => {
  let model: Model;
  let ctx: Context;
  let steering: ReturnType<typeof steeringSwitch>;
  let tokens: number[];
  const L = 2;
  const m = 1.5;
  let v: Float32Array;
  const all = [0, 1, 2, 3, 4];
  const capture = async () => ctx.evaluate([tokens], { capture: { site: "resid_post", layers: all, reduce: "none" }, logits: "all" });

  before(() => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 256, exact: true });
    steering = steeringSwitch(ctx);
    tokens = model.tokenize("The cat sat on the mat and looked at the sun.");
    const rng = new Rng(7);
    v = Float32Array.from({ length: model.info.nEmbd }, () => rng.normal() * 0.5);
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("leaves layers below L unchanged, shifts resid_post at L by exactly m*v, changes logits; clearing restores them bit for bit", async () => {
    const plain = await capture();
    const plan = await steering.set([{ site: "resid_post", layer: L, vector: v, strength: m }]);
    assert.deepEqual(plan.nativeLayers, [L], "resid_post at L >= 1 uses llama.cpp's native control vector");
    const steered = await capture();
    for (let l = 0; l < L; l++) {
      for (let t = 0; t < tokens.length; t++) {
        assert.deepEqual(steered.capture!.rows(0, l)[t], plain.capture!.rows(0, l)[t], `layer ${l} token ${t} unchanged`);
      }
    }
    let worst = 0;
    for (let t = 0; t < tokens.length; t++) {
      const expect = plain.capture!.rows(0, L)[t]!.map((x, i) => x + m * v[i]!);
      worst = Math.max(worst, maxAbsDiff(steered.capture!.rows(0, L)[t]!, expect));
    }
    console.log(`  resid_post[L] - (plain + m*v): max abs error ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5, `shift error ${worst}`);
    const logitShift = maxAbsDiff(steered.logits[0]!.at(-1)!, plain.logits[0]!.at(-1)!);
    assert.ok(logitShift > 1e-3, `logits change (max shift ${logitShift})`);

    steering.clear();
    const cleared = await capture();
    for (let t = 0; t < tokens.length; t++)
      assert.deepEqual(cleared.logits[0]![t], plain.logits[0]![t], `token ${t} logits identical after clearing`);
  });

  it("a write hook adding m*v at resid_post of L gives the same logits as native steering at L", async () => {
    await steering.set([{ site: "resid_post", layer: L, vector: v, strength: m }]);
    const native = await ctx.evaluate([tokens], { logits: "all" });
    steering.clear();
    const plan = await steering.set([{ site: "resid_post", layer: L, vector: v, strength: m, via: "hook" }]);
    assert.deepEqual(plan.nativeLayers, []);
    assert.deepEqual(plan.hookLayers, [{ site: "resid_post", layer: L }]);
    const hooked = await ctx.evaluate([tokens], { logits: "all" });
    steering.clear();
    let worst = 0;
    for (let t = 0; t < tokens.length; t++) worst = Math.max(worst, maxAbsDiff(hooked.logits[0]![t]!, native.logits[0]![t]!));
    console.log(`  hook vs native logits: max abs difference ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5, `hook and native steering differ by ${worst}`);
  });

  it("several vectors at one layer compose by summation", async () => {
    const half = v.map((x) => x / 2);
    await steering.set([{ site: "resid_post", layer: L, vector: v, strength: m }]);
    const one = await ctx.evaluate([tokens]);
    await steering.set([
      { site: "resid_post", layer: L, vector: half, strength: m },
      { site: "resid_post", layer: L, vector: half, strength: m },
    ]);
    const two = await ctx.evaluate([tokens]);
    steering.clear();
    assert.ok(maxAbsDiff(one.logits[0]![0]!, two.logits[0]![0]!) < 1e-5);
  });

  it("steers attn_out through a hook: the attention output at L moves by m*v, earlier layers do not", async () => {
    const plain = await ctx.evaluate([tokens], { capture: { site: "resid_mid", layers: [L - 1, L], reduce: "none" } });
    const plan = await steering.set([{ site: "attn_out", layer: L, vector: v, strength: m }]);
    assert.deepEqual(plan.hookLayers, [{ site: "attn_out", layer: L }]);
    const steered = await ctx.evaluate([tokens], { capture: { site: "resid_mid", layers: [L - 1, L], reduce: "none" } });
    steering.clear();
    assert.deepEqual(steered.capture!.rows(0, L - 1)[3], plain.capture!.rows(0, L - 1)[3]);
    // resid_mid = resid_pre + attn_out, so it moves by exactly m*v too
    const expect = plain.capture!.rows(0, L)[3]!.map((x, i) => x + m * v[i]!);
    assert.ok(maxAbsDiff(steered.capture!.rows(0, L)[3]!, expect) <= 1e-5);
  });
});
