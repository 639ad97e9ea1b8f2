// Run as a child process by test/engine/dispose.test.ts: one case of using a Model, Context or native
// handle after dispose. A use after free in llama.cpp kills this process (exit 139), not the runner.
// Prints one line, RESULT <json>: per call, the error code it threw ("ok" when it returned).
import { join } from "node:path";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { NativeContext } from "../../src/native/llama.js";
import { ROOT } from "./models.js";

const MODEL = join(ROOT, "models", "organism.gguf");

async function outcome(f: () => unknown): Promise<string> {
  try {
    await f();
    return "ok";
  } catch (e) {
    return String((e as { code?: string }).code ?? (e as Error).message);
  }
}

async function outcomes(calls: Record<string, () => unknown>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, f] of Object.entries(calls)) out[name] = await outcome(f);
  return out;
}

const one = { tokens: [1], positions: [0], seqIds: [0], outputs: [1] };
const vector = (m: Model) => new Float32Array(m.info.nEmbd);

function modelCalls(m: Model): Record<string, () => unknown> {
  return {
    meta: () => m.meta("general.architecture"),
    fingerprint: () => m.fingerprint(),
    tokenize: () => m.tokenize("Tim hit the ball."),
    detokenize: () => m.detokenize([1, 2, 3]),
    tokenBytes: () => m.tokenBytes(5),
    isEndOfGeneration: () => m.isEndOfGeneration(2),
    applyChatTemplate: () => m.applyChatTemplate([{ role: "user", content: "hi" }]),
    builtinTemplate: () => m.applyChatTemplate([{ role: "user", content: "hi" }], { template: "chatml" }),
    turnStops: () => m.turnStops(),
    supportsControlVectors: () => m.supportsControlVectors(),
    newContext: () => new Context(m, { nCtx: 64 }),
  };
}

function contextCalls(ctx: Context, m: Model): Record<string, () => unknown> {
  return {
    evaluate: () => ctx.evaluate([[1, 2, 3]]),
    evaluateCapture: () => ctx.evaluate([[1, 2, 3]], { capture: { layers: [1], site: "resid_post" } as never }),
    decode: () => ctx.decode(one),
    logits: () => ctx.logits(0),
    clearMemory: () => ctx.clearMemory(),
    removeSequence: () => ctx.removeSequence(0),
    applySteering: () => ctx.applySteering([{ site: "resid_post", layer: 1, vector: vector(m), strength: 1 }]),
    checkLayer: () => ctx.checkLayer(1),
    checkVector: () => ctx.checkVector(vector(m), "v"),
    checkFits: () => ctx.checkFits(3),
  };
}

const cases: Record<string, () => Promise<unknown>> = {
  /** Every Model method after model.dispose(). */
  async "model-after-dispose"() {
    const m = Model.load(MODEL);
    m.dispose();
    return outcomes(modelCalls(m));
  },
  /** Every Context method after ctx.dispose() (the model stays usable). */
  async "context-after-dispose"() {
    const m = Model.load(MODEL);
    const ctx = new Context(m, { nCtx: 64 });
    await ctx.evaluate([[1, 2, 3]]);
    ctx.dispose();
    return { ...(await outcomes(contextCalls(ctx, m))), modelTokenize: await outcome(() => m.tokenize("Tim")) };
  },
  /** model.dispose() with a live context: the context goes first, then every call on it throws. */
  async "context-after-model-dispose"() {
    const m = Model.load(MODEL);
    const ctx = new Context(m, { nCtx: 64 });
    const steering = await ctx.applySteering([{ site: "resid_post", layer: 1, vector: vector(m), strength: 1 }]);
    m.dispose();
    return {
      contextDisposed: ctx.disposed,
      ...(await outcomes(contextCalls(ctx, m))),
      releaseSteering: await outcome(() => steering.release()),
      disposeContextAgain: await outcome(() => ctx.dispose()),
      disposeModelAgain: await outcome(() => m.dispose()),
    };
  },
  /** The native handles themselves. */
  async "native-after-free"() {
    const m = Model.load(MODEL);
    const native = new NativeContext(m.native, { nCtx: 64, nBatch: 8, nSeqMax: 1, nThreads: 1 });
    native.free();
    const ctxCalls = await outcomes({
      decode: () => native.decode(one),
      logits: () => native.logits(0),
      setControlVector: () => native.setControlVector(new Float32Array((m.info.nLayer - 1) * m.info.nEmbd), m.info.nEmbd, 1, 1),
      clearMemory: () => native.clearMemory(),
      removeSequence: () => native.removeSequence(0),
      setObserver: () => native.setObserver({ want: () => false, seen: () => true }),
    });
    m.native.free();
    const modelCalls = await outcomes({
      nLayer: () => m.native.nLayer,
      nEmbd: () => m.native.nEmbd,
      bos: () => m.native.bos,
      isEog: () => m.native.isEog(2),
      description: () => m.native.description(),
      metadata: () => m.native.metadata(),
      chatTemplate: () => m.native.chatTemplate(),
      tokenize: () => m.native.tokenize("Tim", true, false),
      tokenBytes: () => m.native.tokenBytes(5),
      detokenize: () => m.native.detokenize([5], true, false),
      newContext: () => new NativeContext(m.native, { nCtx: 64, nBatch: 8, nSeqMax: 1, nThreads: 1 }),
    });
    return { context: ctxCalls, model: modelCalls };
  },
  /** dispose() while a decode runs on a worker thread: the free waits for it; nothing crashes. */
  async "dispose-during-decode"() {
    const m = Model.load(MODEL);
    const ctx = new Context(m, { nCtx: 256, decode: "async", hooks: false });
    const n = 200;
    const batch = {
      tokens: Array.from({ length: n }, (_, i) => 1 + (i % 100)),
      positions: Array.from({ length: n }, (_, i) => i),
      seqIds: new Array(n).fill(0),
      outputs: Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : 0)),
    };
    const decoding = outcome(() => ctx.decode(batch));
    m.dispose(); // the model and its context, while the worker decodes
    return { decode: await decoding, contextDisposed: ctx.disposed, after: await outcome(() => ctx.logits(-1)) };
  },
  /** [Symbol.dispose] on both frees them, as dispose() does. */
  async "symbol-dispose"() {
    const m = Model.load(MODEL);
    const ctx = new Context(m, { nCtx: 64 });
    ctx[Symbol.dispose]();
    const contextGone = await outcome(() => ctx.evaluate([[1, 2]]));
    const stillThere = await outcome(() => m.tokenize("Tim"));
    m[Symbol.dispose]();
    return {
      contextGone,
      stillThere,
      modelGone: await outcome(() => m.tokenize("Tim")),
      sameSymbol: Symbol.dispose === Symbol.for("nodejs.dispose"),
    };
  },
};

const name = process.argv[2] ?? "";
const run = cases[name];
if (!run) throw new Error(`unknown case ${name}; cases: ${Object.keys(cases).join(", ")}`);
process.stdout.write(`RESULT ${JSON.stringify(await run())}\n`);
