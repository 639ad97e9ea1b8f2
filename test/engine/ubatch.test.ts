// llama.cpp's ubatches: with a K/V stream per sequence a batch runs as several graphs whose rows are
// regrouped by sequence; captures and hooks follow that order (src/engine/ubatch.ts mirrors the split,
// and a tensor whose rows do not match it is an error); a sequence's cells move between streams.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Batch } from "../../src/engine/batch.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { splitUbatches } from "../../src/engine/ubatch.js";
import { DEFAULT_MODEL } from "../../src/models.js";

describe("ubatches", () => {
  it("split_simple keeps batch order, n_ubatch rows at a time", () => {
    assert.deepEqual(splitUbatches([3, 0, 1, 1, 2, 2, 2], 3, "simple"), [[0, 1, 2], [3, 4, 5], [6]]);
  });

  it("split_equal takes consecutive sequence ids, as many rows of each, sequence by sequence", () => {
    // row 0 is sequence 3 alone (0 does not follow 3); then 0, 1, 2 one row each; then 1 and 2; then 2
    assert.deepEqual(splitUbatches([3, 0, 1, 1, 2, 2, 2], 512, "equal"), [[0], [1, 2, 4], [3, 5], [6]]);
    // lengths 2, 4, 3 in order: two rows of each, then 1 and 2 one more, then 1's last
    assert.deepEqual(splitUbatches([0, 0, 1, 1, 1, 1, 2, 2, 2], 512, "equal"), [[0, 1, 2, 3, 6, 7], [4, 8], [5]]);
    // room for 4 rows: two sequences two rows each
    assert.deepEqual(splitUbatches([0, 0, 0, 1, 1, 1], 4, "equal"), [
      [0, 1, 3, 4],
      [2, 5],
    ]);
    for (const u of [splitUbatches([5, 1, 2, 0, 0, 9, 1], 3, "equal"), splitUbatches([5, 1, 2, 0, 0, 9, 1], 512, "equal")])
      assert.deepEqual(
        u.flat().sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6],
        "every row once",
      );
  });

  describe("a K/V stream per sequence (organism)", () => {
    let model: Model;
    const texts = ["Once upon a time there was a cat.", "Tom", "The dog ran to the park and saw a big red ball there."];
    before(() => {
      model = Model.load(DEFAULT_MODEL);
    });
    after(() => model.dispose());

    it("each sequence's rows are its own, as with one K/V cache, though llama.cpp regroups them", async () => {
      const seqs = texts.map((t) => model.tokenize(t));
      const layers = [1, model.info.nLayer - 1];
      const rowsOf = async (kvUnified: boolean) => {
        const ctx = new Context(model, { nCtx: 3 * 256, nSeq: 3, kvUnified });
        try {
          const layout = ctx.layoutOf(
            seqs.flatMap((s, i) => s.map(() => i)),
            seqs.flatMap((s) => s.map(() => 1)),
          );
          const { capture } = await ctx.evaluate(seqs, { capture: { site: "resid_post", layers, reduce: "none" }, logits: "none" });
          return { layout, rows: seqs.map((_, i) => layers.map((l) => capture?.rows(i, l) ?? [])) };
        } finally {
          ctx.dispose();
        }
      };
      const one = await rowsOf(true);
      const streams = await rowsOf(false);
      assert.equal(one.layout.ubatches, undefined, "one K/V cache: one graph in batch order");
      assert.ok((streams.layout.ubatches?.length ?? 0) >= 3, `streams: ${streams.layout.ubatches?.length} graphs`);
      for (const [i, s] of seqs.entries()) {
        for (const [k, l] of layers.entries()) {
          const a = one.rows[i]?.[k] ?? [];
          const b = streams.rows[i]?.[k] ?? [];
          assert.equal(b.length, s.length, `sequence ${i} layer ${l}: one row per token`);
          let d = 0;
          let scale = 0;
          for (const [r, row] of a.entries())
            for (const [j, x] of row.entries()) {
              d = Math.max(d, Math.abs(x - ((b[r] as Float32Array)[j] as number)));
              scale = Math.max(scale, Math.abs(x));
            }
          assert.ok(d < 1e-3 * scale, `sequence ${i} layer ${l}: rows differ by ${d} (values up to ${scale})`);
        }
      }
    });

    it("a sequence's cells, copied out and loaded into another stream, give that sequence the same next logits", async () => {
      const p = model.tokenize(texts[2] as string);
      const ctx = new Context(model, { nCtx: 2 * 256, nSeq: 2, kvUnified: false });
      try {
        const last = async (loaded: boolean) => {
          ctx.clearMemory();
          const head = new Batch();
          head.addSequence(p.slice(0, -1), 0);
          await ctx.decode(head);
          if (loaded) ctx.setSequenceState(1, ctx.sequenceState(0));
          const next = new Batch();
          for (const seq of [0, 1]) next.add(p[p.length - 1] as number, p.length - 1, seq, true);
          await ctx.decode(next);
          return [ctx.logits(0), ctx.logits(1)] as const;
        };
        const [own, copy] = await last(true);
        const d = Math.max(...own.map((x, i) => Math.abs(x - (copy[i] as number))));
        assert.ok(d < 1e-5 * Math.max(...own.map(Math.abs)), `the copy's logits differ by ${d}`);
        const [, empty] = await last(false);
        const moved = Math.max(...own.map((x, i) => Math.abs(x - (empty[i] as number))));
        assert.ok(moved > 0.1, `without the cells the same token gives other logits (max change ${moved})`);
      } finally {
        ctx.dispose();
      }
    });
  });
});
