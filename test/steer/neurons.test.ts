// Category neurons on a real model through the real binding: a random llama GGUF with one planted
// MLP unit that fires on the token "z", and data where only one category's unsafe prompts hold a z.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { steer } from "../../src/steer/apply.js";
import { readNeurons, writeNeurons } from "../../src/steer/neuron-file.js";
import type { NeuronSet } from "../../src/steer/neuron-types.js";
import { findNeurons } from "../../src/steer/neurons.js";
import { Rng } from "../../src/util/random.js";
import { tmpFile } from "../support/models.js";
import { PLANTED_LAYER, PLANTED_UNIT, plantedData, writePlantedModel, Z_TEXT } from "../support/planted-neuron.js";

describe("category neurons (planted unit)", () => {
  let model: Model;
  let ctx: Context;
  let set: NeuronSet;
  const data = plantedData();
  before(async () => {
    const path = tmpFile("planted-neuron.gguf");
    const probe = tmpFile("planted-probe.gguf");
    writePlantedModel(probe, 0); // any file of the same vocabulary, to find the token
    const m = Model.load(probe);
    const z = m.tokenize(Z_TEXT, { addSpecial: false });
    m.dispose();
    assert.equal(z.length, 1, '"z" is one token');
    writePlantedModel(path, z[0]!);
    model = Model.load(path);
    ctx = new Context(model, { nCtx: 512, nSeq: 4 });
    set = await findNeurons(ctx, [data], undefined, { top: 8, seed: 1 });
  });
  after(() => {
    ctx?.dispose();
    model?.dispose();
  });

  it("ranks the planted unit first for its category, with a perfect held-out AUROC, and not for the other", () => {
    const w = set.categories.weapons!;
    const first = w.units[0]!;
    console.log(
      `  weapons #1: layer ${first.layer} unit ${first.index}, held-out AUROC ${first.auroc}, d ${first.effect?.toFixed(2)}, means ${first.meanUnsafe.toFixed(3)} vs ${first.meanSafe.toFixed(3)}, theft AUROC ${first.others.theft}; #2 AUROC ${w.units[1]!.auroc}`,
    );
    assert.deepEqual([first.layer, first.index], [PLANTED_LAYER, PLANTED_UNIT]);
    assert.equal(first.sign, 1);
    assert.equal(first.auroc, 1);
    assert.ok(first.meanUnsafe > first.meanSafe);
    // specificity: the unit does not separate theft (no z there) from safe prompts
    assert.ok(Math.abs(first.others.theft! - 0.5) < 0.35, `theft AUROC ${first.others.theft}`);
    const theftTop = set.categories.theft!.units.map((u) => `${u.layer}:${u.index}`);
    assert.ok(!theftTop.includes(`${PLANTED_LAYER}:${PLANTED_UNIT}`), "theft's units do not include the z unit");
    assert.equal(set.overlap.weapons!.weapons, 1);
    assert.ok(set.overlap.weapons!.theft! < 1);
  });

  it("explains part of the category vector and lists the unit's promoted tokens", () => {
    const ex = set.categories.weapons!.explained!;
    assert.deepEqual(
      ex.map((e) => e.layer),
      [0, 1, 2],
    );
    const lowest = Math.min(...set.categories.weapons!.units.map((u) => u.layer));
    for (const e of ex) if (e.layer < lowest) assert.equal(e.share, 0, `no unit at or below layer ${e.layer}: nothing explained there`);
    console.log(
      `  weapons explained share by layer: ${ex.map((e) => `${e.layer}: ${e.share.toFixed(3)} (cos ${e.cosine.toFixed(3)})`).join(", ")}`,
    );
    assert.ok(ex[1]!.share > 0.05, `the planted unit carries part of the vector at its layer (share ${ex[1]!.share})`);
    const lens = set.categories.weapons!.units[0]!.lens!;
    assert.equal(lens.length, 8);
    assert.ok(lens.every((t) => typeof t === "string"));
  });

  it("round-trips through a neuron file", () => {
    const p = tmpFile("planted.neurons.json");
    writeNeurons(p, set);
    assert.deepEqual(readNeurons(p), JSON.parse(JSON.stringify(set)));
  });

  it("suppressing the category's units changes its logits more than random units of the same layers", async () => {
    // every token's logits: the unit acts at the tokens it fires on, not only at the last one
    const texts = (f: (e: (typeof data.examples)[number]) => boolean) => data.examples.filter(f).map((e) => model.tokenize(e.prompt));
    const groups = [texts((e) => e.category === "weapons"), texts((e) => e.label === "safe")];
    const all = async () => {
      const out: Float32Array[][][] = [];
      for (const g of groups) out.push((await ctx.evaluate(g, { logits: "all" })).logits); // one context: one evaluation at a time
      return out;
    };
    const plain = await all();
    const meanChange = (got: Float32Array[][], before: Float32Array[][]) => {
      let sum = 0;
      let n = 0;
      got.forEach((rows, i) => {
        rows.forEach((row, t) => {
          sum += Math.hypot(...row.map((x, j) => x - before[i]![t]![j]!));
          n++;
        });
      });
      return sum / n;
    };
    /** Mean per-token logit change on the category's prompts, and its ratio to the change on safe prompts. */
    const change = async (source: Parameters<typeof steer>[1]) => {
      const s = await steer(ctx, source);
      try {
        const [cat, safe] = (await all()).map((got, k) => meanChange(got, plain[k]!));
        return { cat: cat!, ratio: cat! / safe! };
      } finally {
        s.release();
      }
    };
    const own = await change({ neurons: set, suppress: { weapons: 1 } });
    // random sets: the same number of units at the same layers, with the same kind of target (their own safe means)
    const rng = new Rng(9);
    const units = set.categories.weapons!.units;
    const randoms: Array<{ cat: number; ratio: number }> = [];
    for (let r = 0; r < 5; r++) {
      const random = units.map((u) => ({ ...u, index: rng.int(model.info.nFf) }));
      const safeMeans = await unitMeans(
        ctx,
        data.examples.filter((e) => e.label === "safe").map((e) => model.tokenize(e.prompt)),
        random,
      );
      const fake = {
        ...set,
        categories: { random: { ...set.categories.weapons!, units: random.map((u, i) => ({ ...u, meanSafe: safeMeans[i]! })) } },
      };
      randoms.push(await change({ neurons: fake, suppress: { random: 1 } }));
    }
    const ablate = await change({ neurons: set, suppress: { weapons: 0 }, suppressMode: "scale" });
    const show = (x: { cat: number; ratio: number }) => `${x.cat.toFixed(3)} (x${x.ratio.toFixed(2)} of safe prompts')`;
    console.log(
      `  mean per-token |logit change| on weapons prompts: own units ${show(own)}, own ablated ${show(ablate)}, 5 random sets ${randoms.map(show).join(", ")}`,
    );
    assert.ok(own.cat > Math.max(...randoms.map((r) => r.cat)), "the category's units move its logits more than any random set");
    assert.ok(own.ratio > Math.max(...randoms.map((r) => r.ratio)), "and more selectively (category prompts vs safe prompts)");
    assert.ok(ablate.cat > 0);
  });

  it("composes with vector steering and refuses unknown categories and other models", async () => {
    const v = new Float32Array(64).fill(0.5);
    const s = await steer(ctx, { vectors: [{ site: "resid_post", layer: 1, vector: v }], neurons: set, suppress: { weapons: 1 } });
    assert.deepEqual(s.plan.nativeLayers, [1]);
    assert.ok(s.plan.hookLayers.every((h) => h.site === "mlp_post"));
    s.release();
    await assert.rejects(
      steer(ctx, { neurons: set, suppress: { nope: 1 } }),
      /no neurons for category nope: the neuron file has theft, weapons/,
    );
    const other = { ...set, model: { ...set.model, sha256: "0".repeat(64) } };
    await assert.rejects(steer(ctx, { neurons: other, suppress: { weapons: 1 } }), /not on this model file/);
  });
});

/** Each unit's mean activation over the texts (mean over tokens, then over texts). */
async function unitMeans(ctx: Context, texts: number[][], units: Array<{ layer: number; index: number }>): Promise<number[]> {
  const layers = [...new Set(units.map((u) => u.layer))];
  const sums = units.map(() => 0);
  for (const t of texts) {
    const { capture } = await ctx.evaluate([t], { capture: { site: "mlp_post", layers, reduce: "mean" }, logits: "none" });
    units.forEach((u, i) => {
      sums[i]! += capture!.reduced(0, u.layer)[u.index]!;
    });
  }
  return sums.map((s) => s / texts.length);
}
