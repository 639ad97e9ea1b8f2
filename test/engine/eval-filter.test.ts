// The native eval filter (native/eval-filter.c): llama.cpp asks it about every graph node and only the
// nodes a hook or capture names reach JavaScript. Same numbers as the JavaScript path, bit for bit;
// unsteered decodes call no JavaScript at all; bad input to the C side is an error code, not a crash.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Context, type SteeringVector } from "../../src/engine/context.js";
import type { ContinuationEvent } from "../../src/engine/continuation.js";
import { Model } from "../../src/engine/model.js";
import { selectNodeNames } from "../../src/engine/observers.js";
import { engineInfo } from "../../src/engine/runtime.js";
import { BatchScheduler } from "../../src/engine/scheduler.js";
import { DEFAULT_MODEL } from "../../src/models.js";
import { evalFilterLibrary, FILTER_SET } from "../../src/native/eval-filter.js";
import { buildEvalFilter } from "../../src/native/eval-filter-build.js";
import { NativeContext, type TensorRef } from "../../src/native/llama.js";
import { Rng } from "../../src/util/random.js";
import { ROOT, tmpFile } from "../support/models.js";

const libDir = engineInfo().libraryDir;
const built = buildEvalFilter(libDir);
const skip = built.ok ? false : `the native eval filter cannot be compiled here (${built.reason}): install a C compiler (cc)`;

describe("the native eval filter (organism)", { skip }, () => {
  let model: Model;
  const prompts: number[][] = [];
  let steering: SteeringVector[][];

  before(() => {
    model = Model.load(DEFAULT_MODEL);
    const rng = new Rng(5);
    const vec = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.normal() * s);
    const { nEmbd, nFf } = model.info;
    steering = [
      [],
      [{ site: "resid_post", layer: 2, vector: vec(nEmbd, 2), strength: 0.5 }],
      [
        { site: "mlp_post", layer: 1, vector: vec(nFf, 1) },
        { site: "attn_out", layer: 3, vector: vec(nEmbd, 1) },
      ],
    ];
    for (const text of ["How do I hit Tim?", "How do I take the ball from Lily?", "How do I bake a cake?"])
      prompts.push(model.tokenize(model.applyChatTemplate([{ role: "user", content: text }]), { addSpecial: false, parseSpecial: true }));
  });
  after(() => model.dispose());

  /** Greedy answers of the three prompts, each steered its own way, through the scheduler; then captures. */
  async function run(evalFilter: boolean) {
    const ctx = new Context(model, { nCtx: 3 * 256, nSeq: 3, evalFilter });
    try {
      assert.equal(ctx.evalStats().nativeFilter, evalFilter);
      const sched = new BatchScheduler(ctx);
      const opts = { maxTokens: 24, temperature: 0, topP: 1, topK: 0, minP: 0, stop: [] };
      const answer = async (i: number) => {
        let done: Extract<ContinuationEvent, { type: "done" }> | undefined;
        for await (const e of sched.run({ prompt: prompts[i] as number[], options: opts, steering: steering[i] as SteeringVector[] }))
          if (e.type === "done") done = e;
        return done?.tokens ?? [];
      };
      const tokens = await Promise.all([0, 1, 2].map(answer));
      // captures at every site while each sequence is steered its own way (write hooks on its rows)
      const h = await ctx.applySteering(steering.flatMap((vs, seq) => vs.map((v) => ({ ...v, seq }))));
      const captures: Float32Array[] = [];
      for (const site of ["resid_post", "resid_mid", "attn_out", "mlp_out", "mlp_post", "kqv_out"]) {
        const { capture } = await ctx.evaluate(prompts, { capture: { site, layers: [0, 2, 4], reduce: "none" } });
        for (const s of [0, 1, 2]) for (const l of [0, 2, 4]) captures.push(...(capture?.rows(s, l) ?? []));
      }
      h.release();
      return { tokens, captures, stats: ctx.evalStats() };
    } finally {
      ctx.dispose();
    }
  }

  it("steered greedy answers and captured activations equal the JavaScript path's bit for bit, with far fewer calls", async () => {
    const js = await run(false);
    const filtered = await run(true);
    assert.deepEqual(filtered.tokens, js.tokens);
    assert.ok(
      js.tokens.every((t) => t.length === 24),
      "each answer runs to max_tokens",
    );
    assert.ok(js.tokens[1]?.join() !== js.tokens[2]?.join(), "the answers differ");
    assert.equal(filtered.captures.length, js.captures.length);
    assert.ok(filtered.captures.length > 0);
    filtered.captures.forEach((row, i) => {
      assert.deepEqual(row, js.captures[i], `capture row ${i}`);
    });
    assert.equal(filtered.stats.nodes, js.stats.nodes, "llama.cpp asked about the same nodes");
    // the JavaScript path answers every node; the filter only the ones named (and the first graph whole)
    assert.ok(js.stats.jsCalls > js.stats.nodes);
    console.log(
      `  JavaScript calls: ${js.stats.jsCalls} on the JavaScript path, ${filtered.stats.jsCalls} with the filter (${js.stats.nodes} nodes)`,
    );
    assert.ok(filtered.stats.jsCalls * 5 < js.stats.jsCalls, `${filtered.stats.jsCalls} calls against ${js.stats.jsCalls}`);
  });

  it("a hooked decode reaches JavaScript only for the steered nodes; an unsteered one not at all", async () => {
    const ctx = new Context(model, { nCtx: 3 * 256, nSeq: 3 });
    try {
      const calls = async (f: () => Promise<unknown>) => {
        const a = ctx.evalStats();
        await f();
        const b = ctx.evalStats();
        return { nodes: b.nodes - a.nodes, js: b.jsCalls - a.jsCalls };
      };
      const plain = await calls(() => ctx.evaluate(prompts));
      assert.ok(plain.nodes > 100, `${plain.nodes} nodes asked about`);
      assert.equal(plain.js, 0, "no steering: no JavaScript call");

      // sequence 1 at resid_post layer 2 (l_out-2), sequence 2 at mlp_post layer 1 (ffn_swiglu-1): two nodes
      const vs = [steering[1]?.[0], steering[2]?.[0]].map((v, i) => ({ ...(v as SteeringVector), seq: i + 1 }));
      const h = await ctx.applySteering(vs);
      const first = await calls(() => ctx.evaluate(prompts));
      assert.equal(first.js, first.nodes + 2, "the first hooked decode walks the whole graph once (every node, two tensors written)");
      for (let k = 0; k < 3; k++) {
        const hooked = await calls(() => ctx.evaluate(prompts));
        assert.equal(hooked.nodes, plain.nodes);
        assert.equal(hooked.js, 2 * 2, "each steered node: asked, then written");
      }
      h.release();
      assert.equal((await calls(() => ctx.evaluate(prompts))).js, 0, "released: no JavaScript call again");

      // the scheduler: a request with no steering decodes every step without JavaScript
      const sched = new BatchScheduler(ctx);
      const opts = { maxTokens: 8, temperature: 0, topP: 1, topK: 0, minP: 0, stop: [] };
      const unsteered = await calls(async () => {
        for await (const _ of sched.run({ prompt: prompts[0] as number[], options: opts, steering: [] })) {
          /* drain */
        }
      });
      assert.ok(unsteered.nodes > 8 * 100, `${unsteered.nodes} nodes over the steps`);
      assert.equal(unsteered.js, 0, "no member steered: no JavaScript call in any step");
    } finally {
      ctx.dispose();
    }
  });

  it("a decode llama.cpp runs as several graphs (micro-batches): the observer hears of each graph start, and reads the same tensors", async () => {
    const tokens = model.tokenize("Once upon a time, Tim and Lily went to the park to play with a big red ball.");
    assert.ok(tokens.length > 16 && tokens.length % 8 !== 0);
    const run = async (evalFilter: boolean) => {
      // n_ubatch 8: llama.cpp splits the decode into graphs of 8 tokens (the engine's own contexts never do)
      const ctx = new NativeContext(model.native, {
        nCtx: 128,
        nBatch: 64,
        nUbatch: 8,
        nSeqMax: 1,
        nThreads: 1,
        observable: true,
        evalFilter,
      });
      try {
        const asked: string[] = [];
        const read: Float32Array[] = [];
        const obs = {
          want: (name: string) => {
            asked.push(name);
            return name === "l_out-1";
          },
          seen: (t: TensorRef) => {
            read.push(t.read().slice(0, t.ne[0] * t.ne[1]));
            return true;
          },
        };
        const input = { tokens, positions: tokens.map((_, i) => i), seqIds: tokens.map(() => 0), outputs: tokens.map(() => 0) };
        ctx.setObserver(obs, evalFilter ? ["l_out-1"] : undefined);
        await ctx.decode(input);
        ctx.setObserver(undefined);
        return { asked, read };
      } finally {
        ctx.free();
      }
    };
    const js = await run(false);
    const filtered = await run(true);
    const graphs = Math.ceil(tokens.length / 8);
    assert.equal(js.asked.filter((n) => n === "embd").length, graphs);
    assert.deepEqual(
      filtered.asked,
      Array.from({ length: graphs }, () => ["embd", "l_out-1"]).flat(),
      "each graph: its start, then the one node named",
    );
    assert.equal(filtered.read.length, graphs);
    assert.deepEqual(filtered.read, js.read);
  });

  it("picks only names a walk over them alone reads the same, adding what a site found by position needs", async () => {
    const ctx = new Context(model, { nCtx: 256 });
    try {
      await ctx.evaluate([prompts[0] as number[]], { capture: { site: "resid_post", layers: [1], reduce: "mean" } });
      const graph = ctx.native.graphNames;
      assert.ok(graph && graph[0] === "embd" && graph.includes("l_out-4"), "one whole graph was read");
      assert.deepEqual(
        selectNodeNames(graph, (n) => n.site === "resid_post" && n.layer === 2),
        ["l_out-2"],
      );
      // llama's attn_out-L is the attention output because it comes right after kqv_out-L
      assert.deepEqual(selectNodeNames(graph, (n) => n.site === "attn_out" && n.layer === 3)?.sort(), ["attn_out-3", "kqv_out-3"]);
      // ggml's names for unnamed nodes count nodes: never a filter name
      assert.equal(
        selectNodeNames(graph, (n) => n.name.startsWith("node_")),
        undefined,
      );
    } finally {
      ctx.dispose();
    }
  });

  it("bad names and a disposed context are errors, and the C side refuses bad input without crashing", async () => {
    const ctx = new Context(model, { nCtx: 256 });
    const obs = { want: () => false, seen: () => true };
    for (const bad of ["x".repeat(64), "", "a\0b"])
      assert.throws(
        () => ctx.native.setObserver(obs, [bad]),
        (e: Error & { code?: string }) => e.code === "bad_argument" && /cannot be filtered/.test(e.message),
      );
    ctx.dispose();
    assert.throws(
      () => ctx.native.setObserver(obs, ["l_out-2"]),
      (e: Error & { code?: string }) => e.code === "disposed",
    );
    await assert.rejects(ctx.evaluate(prompts), (e: Error & { code?: string }) => e.code === "disposed");

    const lib = evalFilterLibrary(libDir);
    assert.ok(lib);
    assert.equal(lib.create(null, null), null, "no JavaScript callback: no filter");
    assert.equal(lib.set(null, FILTER_SET, Buffer.from("a\0"), 2, 1), -1, "no filter");
    const f = lib.create(lib.evalFn(), null); // any callback address: the filter never runs here
    try {
      assert.equal(lib.set(f, 7, null, 0, 0), -2, "unknown mode");
      assert.equal(lib.set(f, FILTER_SET, Buffer.from("a\0"), 2, -1), -3, "negative count");
      assert.equal(lib.set(f, FILTER_SET, Buffer.from("l_out-1\0l_out-2\0"), 10, 2), -4, "names past the buffer's length");
      assert.equal(lib.set(f, FILTER_SET, Buffer.from(`${"x".repeat(64)}\0`), 65, 1), -4, "a name too long");
      assert.equal(lib.set(f, FILTER_SET, Buffer.from("l_out-1\0l_out-2\0"), 16, 2), 0);
    } finally {
      lib.free(f);
    }
  });
});

describe("compiling the native eval filter", { skip }, () => {
  it("compiles once per source, build and compiler into the cache, and says why not without a compiler", () => {
    const cacheDir = tmpFile("filter-cache");
    const first = buildEvalFilter(libDir, { cacheDir });
    assert.ok(first.ok && first.compiled && existsSync(first.path), JSON.stringify(first));
    const again = buildEvalFilter(libDir, { cacheDir });
    assert.ok(again.ok && !again.compiled && again.path === first.path, "the second time from the cache");
    const noCc = buildEvalFilter(libDir, { cacheDir: tmpFile("filter-cache-nocc"), env: { ...process.env, CC: "/no/such/cc" } });
    assert.deepEqual(noCc, { ok: false, reason: "no C compiler (/no/such/cc) on PATH" });
    const empty = tmpFile("no-libs");
    mkdirSync(empty, { recursive: true });
    assert.deepEqual(buildEvalFilter(empty, { cacheDir }), { ok: false, reason: `no libggml-base in ${empty}` });
  });

  it("without a compiler the hooks run on the JavaScript path, said once in the log (not an error)", () => {
    const script = `
      import { setVerbosity } from "./src/util/logger.js";
      import { Model } from "./src/engine/model.js";
      import { Context } from "./src/engine/context.js";
      setVerbosity("verbose");
      const model = Model.load("models/organism.gguf");
      for (let i = 0; i < 2; i++) {
        const ctx = new Context(model, { nCtx: 64 });
        const h = await ctx.applySteering([{ site: "mlp_post", layer: 1, vector: new Float32Array(model.info.nFf), seq: 0 }]);
        await ctx.evaluate([[1, 2, 3]]);
        h.release();
        console.log("native filter:", ctx.evalStats().nativeFilter);
        ctx.dispose();
      }
      model.dispose();`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, CC: "/no/such/cc", SAFESTEER_CACHE: tmpFile("filter-cache-child") },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "native filter: false\nnative filter: false\n");
    const said = r.stderr.split("\n").filter((l) => l.includes("native eval filter"));
    assert.deepEqual(said, [
      "the native eval filter is not in use (no C compiler (/no/such/cc) on PATH): activation hooks ask JavaScript about every graph node.",
    ]);
    assert.ok(!/error|warning/i.test(r.stderr), r.stderr);
  });
});
