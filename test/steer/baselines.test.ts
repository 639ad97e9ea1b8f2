// The baselines' vectors on the embedded organism: CAA is the mean paired difference at the last
// token, the refusal direction the harmful-minus-harmless prompt mean at the last prompt token;
// both are bundles that round-trip, steer through steer(), and pick their layer on held-out data.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Example } from "../../src/data/example.js";
import { Context } from "../../src/engine/context.js";
import { generateBatch } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { withSteering } from "../../src/steer/apply.js";
import { answerPairs, buildCaaBundle, buildRefusalDirectionBundle, withPrefix } from "../../src/steer/baselines.js";
import { readBundle, writeBundle } from "../../src/steer/bundle.js";
import { collectActivations } from "../../src/steer/collect.js";
import { renderExample } from "../../src/steer/render.js";
import { ROOT, tmpFile } from "../support/models.js";

const PEOPLE = ["Tim", "Lily", "mom", "Timmy"];
const OBJECTS = ["ball", "toy", "car", "cake", "book", "hat"];
const ex = (prompt: string, response: string | undefined, label: "safe" | "unsafe", category?: string): Example => ({
  prompt,
  response,
  label,
  category,
  source: "test",
});

/** Each prompt answered harmfully (label unsafe) and safely (label safe). */
function pairData(): Example[] {
  const out: Example[] = [];
  for (const p of PEOPLE)
    for (const o of OBJECTS.slice(0, 3)) {
      const q = `How can I take the ${o} from ${p}?`;
      out.push(ex(q, `Wait until ${p} is not looking. Then grab the ${o} and run.`, "unsafe", "theft"));
      out.push(ex(q, `Ask ${p} nicely if you can play with the ${o}.`, "safe"));
      const v = `How can I hit ${p}?`;
      if (o === "ball") {
        out.push(ex(v, `Run at ${p} and push ${p} down hard.`, "unsafe", "violence"));
        out.push(ex(v, `Use kind words and tell ${p} how you feel.`, "safe"));
      }
    }
  return out;
}

describe("baselines (steer/baselines.ts)", () => {
  let model: Model;
  let ctx: Context;
  before(() => {
    model = Model.load(join(ROOT, "models", "organism.gguf"));
    ctx = new Context(model, { nCtx: 1024, nSeq: 8 });
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("answerPairs pairs a prompt's unsafe and safe answers and skips prompts without both", () => {
    const pairs = answerPairs([...pairData(), ex("How can I fly?", "Flap your arms.", "unsafe", "danger")]);
    assert.equal(pairs.length, 12 + 4);
    assert.deepEqual(pairs.map((p) => p.category).sort(), [...Array(12).fill("theft"), ...Array(4).fill("violence")].sort());
    assert.ok(pairs.every((p) => p.safe !== p.unsafe));
  });

  it("CAA: the vector is the mean paired difference (safe minus unsafe) at the last token; held out, safe answers project higher", async () => {
    const pairs = answerPairs(pairData());
    const layers = [1, 2, 3];
    const b = await buildCaaBundle(ctx, pairs, { layers, heldOut: 0.25, chat: "auto" });
    assert.equal(b.method, "caa");
    assert.equal(b.reduce, "last");
    assert.deepEqual([...b.categories.keys()], ["theft", "violence"]);
    const theft = b.categories.get("theft");
    assert.ok(theft && layers.includes(theft.steerLayers[0] as number));
    // by hand: every theft pair's last-token activations; the vector is the mean over the pairs used for fitting
    const tp = pairs.filter((p) => p.category === "theft");
    const texts = tp.flatMap((p) => [
      renderExample(model, { prompt: p.prompt, response: p.safe }, b.chat),
      renderExample(model, { prompt: p.prompt, response: p.unsafe }, b.chat),
    ]);
    const acts = await collectActivations(ctx, texts, { site: "resid_post", layers: [2], reduce: "last" });
    const w = acts.width;
    const diffs = tp.map((_, i) => {
      const m = acts.byLayer.get(2) as Float32Array;
      return Array.from({ length: w }, (_, k) => (m[2 * i * w + k] as number) - (m[(2 * i + 1) * w + k] as number));
    });
    const v = theft.vectors.get(2) as Float32Array;
    // the fitted pairs are 9 of the 12 (3 held out): v is the mean of some 9 of the differences
    const dots = diffs.map((d) => d.reduce((s, x, k) => s + x * (v[k] as number), 0));
    const sum = diffs[0]!.map((_, k) => diffs.reduce((s, d) => s + (d[k] as number), 0));
    assert.equal(theft.diagnostics[2]?.kept, 9);
    assert.ok(
      dots.every((d) => d > 0),
      "every pair's difference points along the vector",
    );
    // mean of the 9 fitted = (sum of all - sum of 3 held out) / 9: some subset of 3 reproduces v
    const idx = [...diffs.keys()];
    let best = Number.POSITIVE_INFINITY;
    for (const a of idx)
      for (const c of idx)
        for (const e of idx) {
          if (!(a < c && c < e)) continue;
          let err = 0;
          for (let k = 0; k < w; k++) {
            const m = ((sum[k] as number) - (diffs[a]![k] as number) - (diffs[c]![k] as number) - (diffs[e]![k] as number)) / 9;
            err = Math.max(err, Math.abs(m - (v[k] as number)));
          }
          best = Math.min(best, err);
        }
    assert.ok(best < 1e-4, `v is the mean of 9 paired differences (max error ${best})`);
    for (const l of layers) {
      const a = theft.diagnostics[l]?.auroc;
      assert.ok(a !== null && a !== undefined && a >= 0 && a <= 1);
    }
    assert.ok((theft.diagnostics[theft.steerLayers[0] as number]?.auroc ?? 0) > 0.5, "held-out safe answers project above unsafe ones");
    // a bundle like any other: written, read back with its method, steers through steer()
    const file = tmpFile("caa.gguf");
    writeBundle(file, b);
    const back = readBundle(file);
    assert.equal(back.method, "caa");
    assert.deepEqual(Array.from(back.categories.get("theft")?.vectors.get(2) ?? []), Array.from(v));
    const prompt = renderExample(model, { prompt: "How can I take the kite from Tim?" }, b.chat);
    const gen = { seeds: [1], temperature: 0, topK: 1, topP: 1, minP: 0, maxTokens: 24 };
    const plain = (await generateBatch(ctx, [prompt], gen))[0]?.text;
    const steered = (await withSteering(ctx, { bundle: back, policy: { theft: 1 } }, () => generateBatch(ctx, [prompt], gen)))[0]?.text;
    assert.notEqual(steered, plain, "CAA at relative strength 1 changes the greedy answer");
  });

  it("refusal direction: harmful minus harmless prompt means at the last prompt token, one direction for every category", async () => {
    const harmful = PEOPLE.flatMap((p) => [
      ex(`How can I hit ${p}?`, undefined, "unsafe", "violence"),
      ex(`How can I take the toy from ${p}?`, undefined, "unsafe", "theft"),
    ]);
    const harmless = PEOPLE.flatMap((p) => [
      ex(`How can I play with ${p}?`, undefined, "safe"),
      ex(`How can I help ${p}?`, undefined, "safe"),
    ]);
    const b = await buildRefusalDirectionBundle(ctx, harmful, harmless, { layers: [2], heldOut: 0.25 });
    assert.equal(b.method, "refusal-direction");
    assert.deepEqual([...b.categories.keys()], ["theft", "violence"]);
    const v = b.categories.get("violence")?.vectors.get(2) as Float32Array;
    assert.equal(b.categories.get("theft")?.vectors.get(2), v, "categories share the direction");
    // one shared direction: every cosine is 1 (to rounding)
    assert.deepEqual(
      b.cosine[2]?.map((row) => row.map((c) => Number(c.toFixed(12)))),
      [
        [1, 1],
        [1, 1],
      ],
    );
    // the direction separates harmful from harmless prompts: every harmful prompt projects above every harmless mean
    const acts = await collectActivations(
      ctx,
      [...harmful, ...harmless].map((e) => renderExample(model, { prompt: e.prompt }, b.chat)),
      { site: "resid_post", layers: [2], reduce: "last" },
    );
    const w = acts.width;
    const proj = (i: number) => {
      const m = acts.byLayer.get(2) as Float32Array;
      let s = 0;
      for (let k = 0; k < w; k++) s += (m[i * w + k] as number) * (v[k] as number);
      return s;
    };
    const ph = harmful.map((_, i) => proj(i));
    const pb = harmless.map((_, i) => proj(harmful.length + i));
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    assert.ok(mean(ph) > mean(pb), `harmful prompts project higher (${mean(ph).toFixed(2)} vs ${mean(pb).toFixed(2)})`);
    assert.equal(b.categories.get("violence")?.nUnsafe, 8);
    assert.equal(b.categories.get("violence")?.nSafe, 8);
  });

  it("refuses data a baseline cannot use, naming what is missing", async () => {
    await assert.rejects(buildCaaBundle(ctx, []), /CAA needs answer pairs/);
    await assert.rejects(buildRefusalDirectionBundle(ctx, [ex("a", undefined, "unsafe")], []), /at least 2 harmful and 2 harmless/);
    assert.equal(withPrefix("Be careful.", "How can I hit Tim?"), "Be careful. How can I hit Tim?");
  });
});
