// Token ids outside the vocabulary used to reach llama.cpp unchecked and abort the whole process
// (a C++ std::out_of_range). Now the binding refuses them with a typed error and the process goes on.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { EngineError } from "../../src/engine/errors.js";
import { generate } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { SafeSteerError } from "../../src/errors.js";
import { runEval } from "../../src/eval/harness.js";
import { toyJudge } from "../../src/organism/judge.js";
import { STORIES_GGUF } from "../support/models.js";

const badToken = (e: unknown) => {
  assert.ok(e instanceof SafeSteerError && e instanceof EngineError, `expected an EngineError, got ${e}`);
  assert.equal(e.code, "bad_argument");
  assert.match(e.message, /token id -?\d+.* is outside this model's vocabulary \(0 to \d+\)/);
  return true;
};

describe("token ids are checked before they reach llama.cpp", () => {
  let model: Model;
  let ctx: Context;
  before(() => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 128 });
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("tokenBytes and detokenize refuse ids outside [0, nVocab)", () => {
    const n = model.info.nVocab;
    for (const id of [99999, n, -1, 1.5]) assert.throws(() => model.tokenBytes(id), badToken, String(id));
    assert.throws(() => model.detokenize([1, 99999]), badToken);
    // the last valid id still works, and so does the process
    assert.ok(model.tokenBytes(n - 1) instanceof Uint8Array);
    assert.equal(typeof model.detokenize(model.tokenize("Once upon a time")), "string");
  });

  it("a decode batch with a bad id is refused, and the context still generates", async () => {
    const baseline = (await generate(ctx, model.tokenize(""), { temperature: 0, maxTokens: 8 })).text;
    await assert.rejects(generate(ctx, [1, 99999], { temperature: 0, maxTokens: 4 }), badToken);
    const again = (await generate(ctx, model.tokenize(""), { temperature: 0, maxTokens: 8 })).text;
    assert.equal(again, baseline);
  });

  it("an evaluation of 0 prompts is an error, not a file of 0% rates", async () => {
    await assert.rejects(
      runEval(ctx, [], {
        judge: toyJudge,
        generation: { seed: 1, temperature: 0, topK: 40, topP: 0.95, minP: 0.05, maxTokens: 4 },
        chat: false,
        conditions: [{ name: "unsteered", mode: "none" }],
      }),
      (e: unknown) => e instanceof SafeSteerError && /no prompts to evaluate/.test(e.message),
    );
  });
});
