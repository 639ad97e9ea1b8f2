// Several requests in one batch, each steered its own way: a write hook on one sequence's rows
// leaves its neighbours bit for bit as they were, and the continuous-batching scheduler gives every
// request the answer it gets alone, whenever it joins and whoever decodes beside it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeRandomGguf } from "../../src/convert/random-model.js";
import { Context, type SteeringVector } from "../../src/engine/context.js";
import type { ContinuationEvent } from "../../src/engine/continuation.js";
import { generate } from "../../src/engine/generate.js";
import { gv } from "../../src/engine/gguf/types.js";
import { Model } from "../../src/engine/model.js";
import { commonPrefix } from "../../src/engine/prompt-cache.js";
import { BatchScheduler } from "../../src/engine/scheduler.js";
import { DEFAULT_MODEL } from "../../src/models.js";
import { Rng } from "../../src/util/random.js";
import { tmpFile } from "../support/models.js";

describe("per-sequence steering in one batch (organism)", () => {
  let model: Model;
  let v2: Float32Array;
  let vLast: Float32Array;
  const prompts: number[][] = [];

  before(() => {
    model = Model.load(DEFAULT_MODEL);
    const rng = new Rng(3);
    v2 = Float32Array.from({ length: model.info.nEmbd }, () => rng.normal() * 2);
    vLast = Float32Array.from({ length: model.info.nEmbd }, () => rng.normal() * 2);
    for (const text of ["How do I bake a cake?", "Can you tell me how to play with matches?", "Why is the sky blue?"])
      prompts.push(model.tokenize(model.applyChatTemplate([{ role: "user", content: text }]), { addSpecial: false, parseSpecial: true }));
  });
  after(() => model.dispose());

  /** Last-token logits of each prompt decoded alone, with the given steering on the whole context. */
  async function alone(steering: SteeringVector[][]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const [i, p] of prompts.entries()) {
      const ctx = new Context(model, { nCtx: 256 });
      try {
        const h = steering[i]?.length ? await ctx.applySteering(steering[i] as SteeringVector[]) : undefined;
        out.push((await ctx.evaluate([p])).logits[0]?.[0] as Float32Array);
        h?.release();
      } finally {
        ctx.dispose();
      }
    }
    return out;
  }

  /** Last-token logits of the prompts decoded together in one batch, with the given steering. */
  async function together(steering: SteeringVector[], kvUnified = true): Promise<Float32Array[]> {
    const ctx = new Context(model, { nCtx: 768, nSeq: 3, kvUnified });
    try {
      const h = steering.length ? await ctx.applySteering(steering) : undefined;
      const got = (await ctx.evaluate(prompts)).logits.map((l) => l[0] as Float32Array);
      h?.release();
      return got;
    } finally {
      ctx.dispose();
    }
  }

  /** Greedy answers, for the prompt-cache tests. */
  const greedy = { maxTokens: 16, temperature: 0, topP: 1, topK: 0, minP: 0, stop: [] };

  /** A prompt's greedy answer generated on a context of its own, steered through the same scoped entry. */
  async function greedyAlone(p: number[], steering: SteeringVector[]): Promise<string> {
    const ctx = new Context(model, { nCtx: 256 });
    try {
      const h = steering.length ? await ctx.applySteering(steering) : undefined;
      const text = (await generate(ctx, p, greedy)).text;
      h?.release();
      return text;
    } finally {
      ctx.dispose();
    }
  }

  const maxDiff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((x, i) => Math.abs(x - (b[i] as number))));

  // a K/V stream per sequence: llama.cpp cuts the batch into ubatches by sequence and reorders rows
  for (const kvUnified of [true, false]) {
    const cache = kvUnified ? "one K/V cache" : "a K/V stream per sequence";
    it(`a vector on one sequence's rows changes that sequence only, exactly as steering every row does (${cache})`, async () => {
      const last = model.info.nLayer - 1;
      // sequence 1 steered at a middle layer (every row), sequence 2 at the last layer (only output rows exist there)
      const own: SteeringVector[][] = [
        [],
        [{ site: "resid_post", layer: 2, vector: v2 }],
        [{ site: "resid_post", layer: last, vector: vLast, via: "hook" }],
      ];
      const plain = await together([], kvUnified);
      const got = await together(
        own.flatMap((vs, seq) => vs.map((v) => ({ ...v, seq }))),
        kvUnified,
      );
      assert.deepEqual(got[0], plain[0], "the unsteered neighbour is untouched, bit for bit");
      for (const s of [1, 2]) {
        const everyRow = await together(own[s] as SteeringVector[], kvUnified);
        assert.deepEqual(got[s], everyRow[s], `sequence ${s}: the same logits as with its vector on every row`);
        const moved = maxDiff(got[s] as Float32Array, plain[s] as Float32Array);
        assert.ok(moved > 0.1, `sequence ${s} is steered (max logit change ${moved})`);
      }
      // decoded alone the numbers differ only by the batch shape's rounding (ggml's kernels sum in
      // another order, and which kernel runs depends on the CPU's features): relative to the logits'
      // scale that is float32 rounding through 5 layers, far below what steering moves
      const alone1 = await alone(own);
      for (let s = 0; s < 3; s++) {
        const d = maxDiff(got[s] as Float32Array, alone1[s] as Float32Array);
        const scale = Math.max(...(alone1[s] as Float32Array).map(Math.abs));
        console.log(`  sequence ${s}: max logit difference to decoding it alone ${d.toExponential(2)} (logits up to ${scale.toFixed(1)})`);
        assert.ok(d < 1e-3 * scale, `sequence ${s} alone vs in the batch: ${d}, more than rounding of logits up to ${scale}`);
      }
    });

    it(`the scheduler: requests joining at different times, steered differently, each get their answer alone (${cache})`, async () => {
      const opts = { maxTokens: 24, temperature: 0.8, topP: 0.95, topK: 0, minP: 0, stop: ["\nQ:", "\nA:"] };
      const steering: SteeringVector[][] = [
        [],
        [{ site: "resid_post", layer: 2, vector: v2, strength: 0.5 }],
        [{ site: "attn_out", layer: 1, vector: vLast, strength: 0.5 }],
      ];
      // alone: generate() on a context of its own, steered through the same scoped entry
      const want: string[] = [];
      for (const [i, p] of prompts.entries()) {
        const ctx = new Context(model, { nCtx: 256 });
        const h = steering[i]?.length ? await ctx.applySteering(steering[i] as SteeringVector[]) : undefined;
        want.push((await generate(ctx, p, { ...opts, seed: 10 + i })).text);
        h?.release();
        ctx.dispose();
      }

      const ctx = new Context(model, { nCtx: 3 * 256, nSeq: 3, kvUnified });
      const sched = new BatchScheduler(ctx);
      const collect = async (i: number, delayMs: number) => {
        await new Promise((r) => setTimeout(r, delayMs));
        let text = "";
        let done: Extract<ContinuationEvent, { type: "done" }> | undefined;
        for await (const e of sched.run({
          prompt: prompts[i] as number[],
          options: { ...opts, seed: 10 + i },
          steering: steering[i] as SteeringVector[],
        })) {
          if (e.type === "token") text += e.text;
          else if (e.type === "done") done = e;
        }
        assert.equal(text, done?.text, "the streamed text is the final text");
        return text;
      };
      try {
        // the second and third join while the first is answering
        const got = await Promise.all([collect(0, 0), collect(1, 5), collect(2, 15)]);
        assert.deepEqual(got, want);
        assert.equal(sched.active, 0);

        // a reader that stops early frees its sequence for the next request
        const ac = new AbortController();
        let n = 0;
        for await (const e of sched.run({
          prompt: prompts[1] as number[],
          options: { ...opts, maxTokens: 200, seed: 1 },
          steering: [],
          signal: ac.signal,
        })) {
          if (e.type === "token" && ++n === 3) ac.abort();
          if (e.type === "done") assert.equal(e.reason, "aborted");
        }
        assert.equal(sched.active, 0);
        assert.deepEqual(await Promise.all([collect(1, 0)]), [want[1]], "the freed sequence serves the next request exactly");
      } finally {
        ctx.dispose();
      }
    });
  }

  it("the scheduler owns its sequences: requests past them wait first come first served, and an aborted one leaves the queue", async () => {
    const opts = { maxTokens: 12, temperature: 0, topP: 1, topK: 0, minP: 0, stop: [] };
    const ctx = new Context(model, { nCtx: 2 * 256, nSeq: 2 });
    const sched = new BatchScheduler(ctx);
    const started: number[] = [];
    const seqs: number[] = [];
    const ac = new AbortController();
    const ask = async (i: number, signal?: AbortSignal) => {
      let text = "";
      for await (const e of sched.run({ prompt: prompts[i % 3] as number[], options: { ...opts, seed: i }, steering: [], signal })) {
        if (e.type === "start") {
          started.push(i);
          seqs.push(e.seq);
        } else if (e.type === "token") text += e.text;
      }
      return text;
    };
    try {
      const runs = [ask(0), ask(1), ask(2), ask(3, ac.signal), ask(4)];
      await new Promise((r) => setImmediate(r));
      assert.equal(sched.active, 2, "both sequences are held");
      assert.equal(sched.waiting, 3, "the other three wait");
      ac.abort();
      await assert.rejects(runs[3] as Promise<string>, (e: Error & { code?: string }) => e.code === "aborted");
      assert.equal(sched.waiting, 2, "the aborted request left the queue");
      const texts = await Promise.all([runs[0], runs[1], runs[2], runs[4]]);
      assert.deepEqual(started, [0, 1, 2, 4], "served in the order they came");
      assert.ok(
        seqs.every((s) => s === 0 || s === 1),
        `only the context's two sequences are used: ${seqs}`,
      );
      assert.equal(sched.active, 0);
      assert.equal(sched.waiting, 0);
      // a request that waited gets the answer it gets with the sequence to itself
      assert.equal(texts[2], await ask(2));
      assert.ok((texts[2] as string).length > 0);
      await assert.rejects(
        ask(0, AbortSignal.abort()),
        (e: Error & { code?: string }) => e.code === "aborted",
        "an already aborted request never gets a sequence",
      );
    } finally {
      ctx.dispose();
    }
  });

  it("the scheduler: requests steered the same way share llama.cpp's control vector (no write hook), with the answers they get alone", async () => {
    const opts = { maxTokens: 24, temperature: 0.8, topP: 0.95, topK: 0, minP: 0, stop: ["\nQ:", "\nA:"] };
    // each request its own copy of the same vector: equal by value, not by reference
    const steeringOf = (): SteeringVector[] => [{ site: "resid_post", layer: 2, vector: Float32Array.from(v2), strength: 0.5 }];
    const want: string[] = [];
    for (const [i, p] of prompts.entries()) {
      const ctx = new Context(model, { nCtx: 256 });
      const h = await ctx.applySteering(steeringOf().map((v) => ({ ...v, via: "hook" as const })));
      want.push((await generate(ctx, p, { ...opts, seed: 20 + i })).text);
      h.release();
      ctx.dispose();
    }
    const ctx = new Context(model, { nCtx: 3 * 256, nSeq: 3 });
    const sched = new BatchScheduler(ctx);
    const plans: string[] = [];
    const collect = async (i: number) => {
      let text = "";
      for await (const e of sched.run({
        prompt: prompts[i] as number[],
        options: { ...opts, seed: 20 + i },
        steering: steeringOf(),
      })) {
        if (e.type === "token") {
          text += e.text;
          const plan = sched.steeringPlan;
          plans.push(`native ${plan?.nativeLayers.join(",")}; hooks ${plan?.hookLayers.length}`);
        }
      }
      return text;
    };
    try {
      assert.deepEqual(await Promise.all([collect(0), collect(1), collect(2)]), want);
      assert.ok(plans.length > 0);
      assert.deepEqual([...new Set(plans)], ["native 2; hooks 0"]);
    } finally {
      ctx.dispose();
    }
  });

  it("the scheduler: a freed sequence keeps its prompt, and the next request with the same steering decodes only what differs, with the same answer", async () => {
    const steered: SteeringVector[] = [{ site: "resid_post", layer: 2, vector: v2, strength: 0.5 }];
    const p0 = prompts[0] as number[];
    const p1 = prompts[1] as number[];
    let common = 0;
    while (p0[common] === p1[common]) common++;
    assert.ok(common > 0 && common < p0.length - 1, "the two chat prompts share the template's start only");

    const ctx = new Context(model, { nCtx: 2 * 256, nSeq: 2 });
    const sched = new BatchScheduler(ctx);
    const ask = async (prompt: number[], steering: SteeringVector[]) => {
      let text = "";
      for await (const e of sched.run({ prompt, options: greedy, steering })) if (e.type === "done") text = e.text;
      return text;
    };
    try {
      const stats = () => ({ tokens: sched.promptStats.tokens, reused: sched.promptStats.reused });
      assert.equal(await ask(p0, []), await greedyAlone(p0, []));
      assert.deepEqual(stats(), { tokens: p0.length, reused: 0 }, "a cold sequence decodes the whole prompt");
      assert.equal(await ask(p0, []), await greedyAlone(p0, []), "the same answer from the kept cells");
      assert.deepEqual(stats(), { tokens: 2 * p0.length, reused: p0.length - 1 }, "the same prompt decodes its last token only");
      assert.equal(await ask(p0, steered), await greedyAlone(p0, steered));
      assert.deepEqual(stats(), { tokens: 3 * p0.length, reused: p0.length - 1 }, "cells decoded under other steering are never reused");
      assert.equal(await ask(p1, []), await greedyAlone(p1, []));
      assert.deepEqual(
        stats(),
        { tokens: 3 * p0.length + p1.length, reused: p0.length - 1 + common },
        "a prompt that starts the same way reuses the common start",
      );
      // another caller's decode on the context (evaluate clears the cache first): nothing kept is trusted
      await ctx.evaluate([p1]);
      assert.equal(await ask(p1, []), await greedyAlone(p1, []));
      assert.deepEqual(
        stats(),
        { tokens: 3 * p0.length + 2 * p1.length, reused: p0.length - 1 + common },
        "cells changed by another are decoded again",
      );
    } finally {
      ctx.dispose();
    }
  });

  it("the scheduler: a prompt kept in host memory is loaded into whichever sequence the next request gets, under the same steering only", async () => {
    const steered: SteeringVector[] = [{ site: "resid_post", layer: 2, vector: v2, strength: 0.5 }];
    const [p0, p1] = prompts as [number[], number[]];
    let common = 0;
    while (p0[common] === p1[common]) common++;
    // one sequence: each request's prompt pushes the last one out of the K/V cache
    const ctx = new Context(model, { nCtx: 256 });
    const sched = new BatchScheduler(ctx, { promptCacheBytes: 64 * 2 ** 20 });
    const ask = async (prompt: number[], steering: SteeringVector[]) => {
      let text = "";
      for await (const e of sched.run({ prompt, options: greedy, steering })) if (e.type === "done") text = e.text;
      return text;
    };
    try {
      const stats = () => ({ ...sched.promptStats });
      assert.equal(await ask(p0, steered), await greedyAlone(p0, steered));
      assert.equal(await ask(p1, []), await greedyAlone(p1, []), "p0's cells go to host memory, p1 decodes whole");
      assert.deepEqual(stats(), { tokens: p0.length + p1.length, reused: 0, fromHost: 0 });
      assert.equal(await ask(p0, []), await greedyAlone(p0, []), "unsteered p0 never loads the steered p0's cells");
      assert.deepEqual(stats(), { tokens: 2 * p0.length + p1.length, reused: common, fromHost: 0 }, "only p1's common start");
      assert.equal(await ask(p0, steered), await greedyAlone(p0, steered), "the same answer from cells loaded from host memory");
      assert.deepEqual(
        stats(),
        { tokens: 3 * p0.length + p1.length, reused: common + p0.length - 1, fromHost: p0.length - 1 },
        "steered p0 decodes its last token only",
      );
      // a prompt that shares p0's start but not its end: the entry is loaded and cut back
      const p0x = [...p0.slice(0, -3), ...p1.slice(-5)];
      assert.equal(await ask(p1, []), await greedyAlone(p1, []));
      const before = stats();
      assert.equal(await ask(p0x, steered), await greedyAlone(p0x, steered), "the same answer from a cut-back copy");
      const shared = commonPrefix(p0, p0x);
      assert.ok(shared >= 0.25 * p0.length && shared < p0x.length - 1, `p0 and p0x share ${shared} tokens`);
      assert.equal(stats().fromHost - before.fromHost, shared, "p0's cells up to where the prompts part");
      assert.throws(() => new BatchScheduler(ctx, { promptCacheBytes: -1 }), /promptCacheBytes must be a number of bytes >= 0/);
    } finally {
      ctx.dispose();
    }
  });
});

describe("prompt cells on a sliding-window model (random gemma3, window 4)", () => {
  let model: Model;
  before(() => {
    const path = tmpFile("scheduler-swa-gemma3.gguf");
    writeRandomGguf(path, {
      arch: "gemma3",
      nEmbd: 64,
      nLayer: 2,
      nHead: 4,
      seed: 5,
      metadata: { "gemma3.attention.sliding_window": gv.u32(4) },
    });
    model = Model.load(path);
  });
  after(() => model?.dispose());

  it("cells cut back past the window are decoded again (llama.cpp keeps only the window's last ones), with the answer the prompt gets alone", async () => {
    const opts = { maxTokens: 6, temperature: 0, topP: 1, topK: 0, minP: 0, stop: [] };
    const alone = async (p: number[]) => {
      const ctx = new Context(model, { nCtx: 256 });
      try {
        return (await generate(ctx, p, opts)).tokens;
      } finally {
        ctx.dispose();
      }
    };
    const long = Array.from({ length: 24 }, (_, i) => 10 + i);
    const other = Array.from({ length: 8 }, (_, i) => 60 + i);
    const cut = [...long.slice(0, 12), 90, 91, 92];
    const ctx = new Context(model, { nCtx: 256 });
    const sched = new BatchScheduler(ctx, { promptCacheBytes: 16 * 2 ** 20 });
    const ask = async (prompt: number[]) => {
      let tokens: number[] = [];
      for await (const e of sched.run({ prompt, options: opts, steering: [] })) if (e.type === "done") tokens = e.tokens;
      return tokens;
    };
    try {
      assert.deepEqual(await ask(long), await alone(long));
      assert.deepEqual(await ask(other), await alone(other), "long's cells go to host memory");
      const before = { ...sched.promptStats };
      assert.deepEqual(await ask(cut), await alone(cut), "the same answer as alone");
      assert.equal(
        sched.promptStats.reused - before.reused,
        0,
        "12 shared tokens, but the copy holds only long's last window: nothing reused",
      );
      assert.equal(sched.promptStats.fromHost - before.fromHost, 0);
    } finally {
      ctx.dispose();
    }
  });
});
