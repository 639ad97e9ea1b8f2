import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { STORIES_GGUF } from "../support/models.js";
import { maxAbsDiff } from "../support/reference-llama.js";

describe("activation captures", () => {
  let model: Model;
  let ctx: Context;
  const texts = ["A dog ran.", "Lily had a big red ball in the park.", "The sun was hot and the bird sang a song."];
  before(() => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 256, nSeq: 3, nBatch: 16, exact: true });
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("mean / last / sum reductions equal the mean / last row / sum of the full capture, at every layer", async () => {
    const tokens = model.tokenize(texts[1]!);
    const layers = [0, 1, 2, 3, 4];
    const full = (await ctx.evaluate([tokens], { capture: { site: "resid_post", layers, reduce: "none" } })).capture!;
    for (const reduce of ["mean", "last", "sum"] as const) {
      const red = (await ctx.evaluate([tokens], { capture: { site: "resid_post", layers, reduce } })).capture!;
      for (const l of layers) {
        const rows = full.rows(0, l);
        const expect = new Float64Array(model.info.nEmbd);
        if (reduce === "last") expect.set(rows.at(-1)!);
        else for (const r of rows) for (let i = 0; i < r.length; i++) expect[i]! += r[i]! / (reduce === "mean" ? rows.length : 1);
        const got = red.reduced(0, l);
        assert.ok(maxAbsDiff(got, expect) < 1e-5, `${reduce} at layer ${l}: ${maxAbsDiff(got, expect)}`);
        assert.equal(red.count(0, l), tokens.length);
      }
    }
  });

  it("several sequences in one batch, split across decodes, give the same activations and logits as one at a time", async () => {
    const seqs = texts.map((t) => model.tokenize(t));
    const spec = { site: "attn_out", layers: [1, 4], reduce: "mean" } as const;
    const together = await ctx.evaluate(seqs, { capture: spec });
    for (let s = 0; s < seqs.length; s++) {
      const alone = await ctx.evaluate([seqs[s]!], { capture: spec });
      for (const l of spec.layers) {
        assert.ok(maxAbsDiff(together.capture!.reduced(s, l), alone.capture!.reduced(0, l)) < 1e-5, `seq ${s} layer ${l}`);
      }
      assert.ok(maxAbsDiff(together.logits[s]![0]!, alone.logits[0]![0]!) < 1e-4, `seq ${s} logits`);
    }
  });

  it("a capture-only evaluation (graph stopped after the deepest layer) equals a full one, across several decodes", async () => {
    const long = model.tokenize("Tom and his mom went to the shop to buy some milk and a big red apple for the little cat who was sad.");
    assert.ok(long.length > 2 * ctx.nBatch, `the text (${long.length} tokens) spans several decodes`);
    const spec = { site: "resid_post", layers: [1], reduce: "mean" } as const;
    const stopped = await ctx.evaluate([long, long.slice(0, 9)], { capture: spec, logits: "none" });
    const full = await ctx.evaluate([long, long.slice(0, 9)], { capture: spec, logits: "last" });
    for (const s of [0, 1]) assert.ok(maxAbsDiff(stopped.capture!.reduced(s, 1), full.capture!.reduced(s, 1)) < 1e-6);
    assert.deepEqual(stopped.logits, [[], []]);
  });

  it("captures a raw llama.cpp tensor by name (kqv_out) with one row per token", async () => {
    const tokens = model.tokenize(texts[0]!);
    const { capture } = await ctx.evaluate([tokens], { capture: { site: "kqv_out", layers: [2], reduce: "none" } });
    assert.equal(capture!.rows(0, 2).length, tokens.length);
  });
});
