import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { convertLlama2c } from "../../src/convert/llama2c.js";
import { Context } from "../../src/engine/context.js";
import { generate, generateBatch, generateStream } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { argmax, Sampler } from "../../src/engine/sampling.js";
import { Rng } from "../../src/util/random.js";
import { needsSharedModel, STORIES_BIN, STORIES_GGUF, TOK512_BIN, tmpFile } from "../support/models.js";

describe("stories260K converted from llama2.c", () => {
  let model: Model;
  let ctx: Context;
  before(() => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 512, nSeq: 4 });
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("the committed GGUF is exactly what `convert llama2c` makes from ../shared/models", {
    skip: needsSharedModel(STORIES_BIN, TOK512_BIN),
  }, () => {
    const out = tmpFile("stories.gguf");
    convertLlama2c(STORIES_BIN, TOK512_BIN, out);
    assert.deepEqual(readFileSync(out), readFileSync(STORIES_GGUF));
  });

  it("greedy from an empty prompt writes the known opening", async () => {
    const r = await generate(ctx, model.tokenize(""), { temperature: 0, maxTokens: 40 });
    console.log(`  greedy: ${JSON.stringify(r.text)}`);
    assert.ok(r.text.startsWith("Once upon a time, there was a little girl named Lily."), r.text);
    assert.equal(r.reason, "length");
    assert.equal(r.tokens.length, 40);
  });

  it("tokenize / detokenize round-trips text", () => {
    const text = "Lily and Ben went to the park. They saw a big dog!";
    const toks = model.tokenize(text);
    assert.equal(toks[0], model.info.bos);
    assert.equal(model.detokenize(toks), text);
  });

  it("streams the same text it returns, and stops at a stop string", async () => {
    const prompt = model.tokenize("");
    let streamed = "";
    let done: string | undefined;
    for await (const e of generateStream(ctx, [prompt], { temperature: 0, maxTokens: 40, stop: ["Lily"] })) {
      if (e.type === "token") streamed += e.text;
      else {
        done = e.text;
        assert.equal(e.reason, "stop");
      }
    }
    assert.equal(done, "Once upon a time, there was a little girl named ");
    assert.equal(streamed, done, "held-back text never leaks a partial stop string");
  });

  it("seeded sampling is reproducible, and a batch equals one-at-a-time generation", async () => {
    const prompts = ["Once upon a time", "The dog", "Tom and Sue", "A little bird"].map((t) => model.tokenize(t));
    const opts = { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, maxTokens: 24, seeds: [11, 12, 13, 14] };
    const batch = await generateBatch(ctx, prompts, opts);
    for (let i = 0; i < prompts.length; i++) {
      const { seeds, ...single } = opts;
      const alone = await generate(ctx, prompts[i]!, { ...single, seed: seeds[i]! });
      assert.equal(alone.text, batch[i]!.text, `prompt ${i}`);
    }
    const again = await generateBatch(ctx, prompts, opts);
    assert.deepEqual(
      again.map((r) => r.text),
      batch.map((r) => r.text),
    );
    const other = await generateBatch(ctx, prompts, { ...opts, seeds: [1, 2, 3, 4] });
    assert.notDeepEqual(
      other.map((r) => r.text),
      batch.map((r) => r.text),
      "different seeds, different samples",
    );
  });

  it("an aborted generation ends early with reason aborted", async () => {
    const ac = new AbortController();
    let n = 0;
    let reason = "";
    for await (const e of generateStream(ctx, [model.tokenize("")], { temperature: 0, maxTokens: 200, signal: ac.signal })) {
      if (e.type === "token" && ++n === 5) ac.abort();
      if (e.type === "done") reason = e.reason;
    }
    assert.equal(reason, "aborted");
    assert.ok(n >= 5 && n <= 6, `stopped after ${n} tokens`);
  });
});

describe("sampler", () => {
  const logits = Float32Array.from([0.1, 2, -1, 1.9, 0.5]);
  it("temperature 0 and top-k 1 are greedy", () => {
    assert.equal(new Sampler({ temperature: 0 }).sample(logits), 1);
    const s = new Sampler({ temperature: 1.5, topK: 1, seed: 3 });
    for (let i = 0; i < 20; i++) assert.equal(s.sample(logits), argmax(logits));
  });
  it("top-p and min-p cut the tail; sampled frequencies follow the softmax", () => {
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed: 5 });
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 20000; i++) counts[s.sample(logits)]++;
    const z = Array.from(logits).reduce((a, x) => a + Math.exp(x), 0);
    counts.forEach((c, i) => {
      assert.ok(Math.abs(c / 20000 - Math.exp(logits[i]!) / z) < 0.015, `token ${i}: ${c}`);
    });
    const nucleus = new Sampler({ temperature: 1, topK: 0, topP: 0.6, minP: 0, seed: 5 });
    for (let i = 0; i < 200; i++) assert.ok([1, 3].includes(nucleus.sample(logits)));
    const minp = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0.5, seed: 5 });
    for (let i = 0; i < 200; i++) assert.ok([1, 3].includes(minp.sample(logits)));
  });
  it("a float32 row (sorted by packed keys) samples the tokens a plain array (a comparison sort) does, ties and infinities included", () => {
    const rng = new Rng(11);
    let ties = 0;
    for (let trial = 0; trial < 60; trial++) {
      const row = new Float32Array(512).map(() => {
        const u = rng.next();
        if (u < 0.1) return Number.NEGATIVE_INFINITY;
        if (u < 0.15) return u < 0.125 ? -0 : 0;
        // rounded to halves: many equal logits, whose order is the index order
        return Math.round(rng.normal() * 4) / 2;
      });
      ties += row.length - new Set(row).size;
      const opts = { temperature: [0.8, 1.3][trial % 2], topK: 0, topP: [1, 0.9, 1][trial % 3], minP: [0, 0.05][trial % 2], seed: trial };
      const fast = new Sampler(opts);
      const reference = new Sampler(opts);
      const plain = Array.from(row);
      for (let k = 0; k < 50; k++) assert.equal(fast.sample(row), reference.sample(plain), `trial ${trial}, draw ${k}`);
    }
    assert.ok(ties > 1000, `the rows had ${ties} repeated values`);
  });
});
