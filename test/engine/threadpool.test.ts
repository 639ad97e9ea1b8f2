// Every context gets a ggml CPU threadpool attached (as llama.cpp's own tools do), so a decode no
// longer starts and joins its threads: the pool's threads exist from the context's creation, no
// thread is started while decodes run, the text is the same as without a pool, and dispose frees it.
// Thread counts come from /proc/self/task (Linux). The prebuilt package is loaded (as in CI): an OpenMP
// build (`safesteer engine build`) keeps its own thread team and would start no pool threads at all.
process.env.SAFESTEER_NO_ENGINE_BUILD = "1";

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { generate } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { STORIES_GGUF } from "../support/models.js";

const linux = process.platform === "linux";
const tasks = () => new Set(readdirSync("/proc/self/task"));
const THREADS = 2;

/** Runs `n` async decodes of a 64-token batch; returns every thread id seen while they ran. */
async function threadsDuringDecodes(ctx: Context, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  const tokens = Array.from({ length: 64 }, (_, i) => 3 + ((i * 37) % 500));
  for (let r = 0; r < n; r++) {
    ctx.clearMemory();
    let done = false;
    const p = ctx
      .decode({
        tokens,
        positions: tokens.map((_, i) => i),
        seqIds: tokens.map(() => 0),
        outputs: tokens.map((_, i) => (i === 63 ? 1 : 0)),
      })
      .finally(() => {
        done = true;
      });
    while (!done) {
      for (const t of tasks()) seen.add(t);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await p;
  }
  return seen;
}

describe("ggml threadpool per context", { skip: !linux && "thread counts are read from /proc (Linux)" }, () => {
  let model: Model;
  before(() => {
    model = Model.load(STORIES_GGUF, { threads: THREADS });
  });
  after(() => model?.dispose());

  it("is attached: its threads start with the context, and decodes start none (without one, each decode starts its own)", async () => {
    // warm-up: libuv's worker threads start on the first async call
    const warm = new Context(model, { nCtx: 256, hooks: false, decode: "async", threadpool: false });
    await threadsDuringDecodes(warm, 1);
    warm.dispose();

    const base = tasks();
    const ctx = new Context(model, { nCtx: 256, hooks: false, decode: "async" });
    assert.ok(ctx.native.threadpool, "a pool was made");
    const withPool = tasks();
    assert.equal(withPool.size - base.size, THREADS - 1, "the pool's workers (the caller is thread 0)");
    const seen = await threadsDuringDecodes(ctx, 10);
    const started = [...seen].filter((t) => !withPool.has(t));
    assert.deepEqual(started, [], "no thread started during decodes");
    ctx.dispose();
    assert.equal(tasks().size, base.size, "dispose stops the pool's threads");

    // the control: without a pool, ggml starts (and joins) THREADS - 1 threads in every decode
    const bare = new Context(model, { nCtx: 256, hooks: false, decode: "async", threadpool: false });
    assert.equal(bare.native.threadpool, null);
    const before = tasks();
    const seenBare = await threadsDuringDecodes(bare, 10);
    bare.dispose();
    assert.ok([...seenBare].filter((t) => !before.has(t)).length > 0, "threads started during decodes without a pool");
  });

  it("gives the same greedy text as without a pool, on the JS thread and on a worker", async () => {
    const prompt = model.tokenize("Once upon a time");
    const runs: string[] = [];
    for (const threadpool of [false, true]) {
      for (const decode of ["sync", "async", "auto"] as const) {
        const ctx = new Context(model, { nCtx: 256, hooks: false, threadpool, decode });
        runs.push((await generate(ctx, prompt, { maxTokens: 24, temperature: 0 })).tokens.join(","));
        ctx.dispose();
      }
    }
    // and with hooks (always on the JS thread)
    const hooked = new Context(model, { nCtx: 256, hooks: true });
    runs.push((await generate(hooked, prompt, { maxTokens: 24, temperature: 0 })).tokens.join(","));
    hooked.dispose();
    assert.equal(new Set(runs).size, 1, "identical tokens");
    assert.ok((runs[0] as string).split(",").length >= 20);
  });

  it("is freed on dispose: 50 contexts leave no thread and no memory behind", async () => {
    const rss = () => process.memoryUsage().rss;
    const make = async () => {
      const ctx = new Context(model, { nCtx: 256, hooks: false });
      await ctx.decode({ tokens: [1, 400, 20], positions: [0, 1, 2], seqIds: [0, 0, 0], outputs: [0, 0, 1] });
      ctx.dispose();
    };
    for (let i = 0; i < 5; i++) await make(); // allocator warm-up
    const threads0 = tasks().size;
    const rss0 = rss();
    for (let i = 0; i < 50; i++) await make();
    assert.equal(tasks().size, threads0, "no pool threads left behind");
    const grown = (rss() - rss0) / 2 ** 20;
    assert.ok(grown < 32, `RSS grew ${grown.toFixed(1)} MiB over 50 contexts`);
  });
});
