import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { buildBundle } from "../../src/steer/build.js";
import { readBundle, writeBundle } from "../../src/steer/bundle.js";
import type { SteerError } from "../../src/steer/errors.js";
import { groupExamples, splitsOf } from "../../src/steer/examples.js";
import { cosine, meanOf } from "../../src/steer/math.js";
import { renderExample } from "../../src/steer/render.js";
import type { Bundle, VectorReduce } from "../../src/steer/types.js";
import { Rng } from "../../src/util/random.js";
import { ROOT, tmpFile } from "../support/models.js";

const ORGANISM = join(ROOT, "models", "organism.gguf");

describe('vectors reduced over the answer rows (reduce "answer")', () => {
  let model: Model;
  let ctx: Context;
  let careful: ReturnType<typeof loadDataset>;
  const build = (reduce: VectorReduce) =>
    buildBundle(ctx, [careful], undefined, { reduce, prune: "off", heldOut: 0, categories: ["theft"], layers: [2, 4] });
  before(() => {
    model = Model.load(ORGANISM);
    ctx = new Context(model, { nCtx: 2048, nSeq: 8 });
    const files = writeOrganismFiles(tmpFile("answer-reduce"), { seed: 3, harmfulPerCategory: 12, benign: 8, lookalikePerCategory: 2 });
    careful = loadDataset(files.vectors);
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("is the mean over the rows from the prompt's last token on, safe side minus unsafe side", async () => {
    const b = await build("answer");
    assert.equal(b.reduce, "answer");
    // the same numbers by hand: the build's own training split, every row captured, averaged from the
    // row that predicts the answer's first token
    const g = groupExamples([careful], undefined, { heldOut: 0, categories: ["theft"] }, new Rng(1));
    const sp = splitsOf(g, "theft");
    const texts = g.all.map((e) => renderExample(model, e, true));
    const from = g.all.map((e) => renderExample(model, { prompt: e.prompt }, true).length - 1);
    for (const [i, t] of texts.entries())
      assert.ok((from[i] as number) > 0 && (from[i] as number) < t.length - 1, "a prompt and an answer");
    for (const layer of [2, 4]) {
      const means: Float32Array[] = [];
      for (let s = 0; s < texts.length; s += ctx.nSeq) {
        const group = texts.slice(s, s + ctx.nSeq);
        const { capture } = await ctx.evaluate(group, { capture: { site: "resid_post", layers: [layer], reduce: "none" }, logits: "none" });
        group.forEach((_, k) => {
          const rows = capture?.rows(k, layer) ?? [];
          assert.equal(rows.length, group[k]?.length, "every row captured");
          means.push(meanOf(rows.slice(from[s + k]), model.info.nEmbd));
        });
      }
      const side = (idx: number[]) =>
        meanOf(
          idx.map((i) => means[i] as Float32Array),
          model.info.nEmbd,
        );
      const [safe, unsafe] = [side(sp.safe.train), side(sp.unsafe.train)];
      assert.ok(sp.safe.train.length >= 4 && sp.unsafe.train.length >= 4);
      const expected = safe.map((x, i) => x - (unsafe[i] as number));
      const got = b.categories.get("theft")?.vectors.get(layer) as Float32Array;
      const err = Math.max(...expected.map((x, i) => Math.abs(x - (got[i] as number))));
      assert.ok(err < 1e-4, `layer ${layer}: max difference ${err}`);
    }
  });

  it("differs from the mean over every token, where the opening lines' own words weigh in", async () => {
    const answer = await build("answer");
    const mean = await build("mean");
    const c = cosine(
      answer.categories.get("theft")?.vectors.get(4) as Float32Array,
      mean.categories.get("theft")?.vectors.get(4) as Float32Array,
    );
    assert.ok(c < 0.95, `cosine ${c}`);
  });

  it("round-trips through its file; a file with an unknown reduction is refused by name", async () => {
    const b = await build("answer");
    const p = tmpFile("answer-bundle.gguf");
    writeBundle(p, b);
    assert.equal(readBundle(p).reduce, "answer");
    const bad = tmpFile("bad-reduce.gguf");
    writeBundle(bad, { ...b, reduce: "median" as VectorReduce } as Bundle);
    assert.throws(
      () => readBundle(bad),
      (e: SteerError) => e.code === "bad_bundle" && /unknown rule "median"/.test(e.message) && /mean, last, answer/.test(e.message),
    );
  });
});
