import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { checkControlVector, controlVectorSteering, readControlVector, writeControlVector } from "../../src/engine/control-vector.js";
import { EngineError, type EngineErrorCode } from "../../src/engine/errors.js";
import { generate } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { STORIES_GGUF, tmpFile } from "../support/models.js";
import { steeringSwitch } from "../support/steering.js";

const rejects = (code: EngineErrorCode, pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof EngineError, `expected an EngineError, got ${e}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, pattern);
  return true;
};

describe("bad input: a clear typed error, and the process keeps working", () => {
  let model: Model;
  let ctx: Context;
  let steering: ReturnType<typeof steeringSwitch>;
  let baseline: string;
  const stillWorks = async () => {
    const r = await generate(ctx, model.tokenize(""), { temperature: 0, maxTokens: 12 });
    assert.equal(r.text, baseline, "the same context still generates the same text");
  };
  before(async () => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 256 });
    steering = steeringSwitch(ctx);
    baseline = (await generate(ctx, model.tokenize(""), { temperature: 0, maxTokens: 12 })).text;
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("missing model file", async () => {
    assert.throws(() => Model.load("/nonexistent/model.gguf"), rejects("model_not_found", /not found.*\/nonexistent\/model\.gguf/));
    await stillWorks();
  });

  it("non-GGUF file", async () => {
    const p = tmpFile("text.gguf");
    writeFileSync(p, "this is just text, not a model");
    assert.throws(() => Model.load(p), rejects("model_invalid", /not a GGUF file/));
    await stillWorks();
  });

  it("truncated GGUF", async () => {
    const p = tmpFile("truncated.gguf");
    const bytes = readFileSync(STORIES_GGUF);
    writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    assert.throws(() => Model.load(p), rejects("model_invalid", /truncated/));
    await stillWorks();
  });

  it("vector of the wrong width", async () => {
    const v = new Float32Array(model.info.nEmbd + 3);
    await assert.rejects(steering.set([{ site: "resid_post", layer: 2, vector: v }]), rejects("bad_vector", /width 67 .* width is 64/));
    await stillWorks();
  });

  it("control vector with the wrong layer count", async () => {
    const p = tmpFile("deep.gguf");
    const dirs = new Map<number, Float32Array>();
    for (let l = 1; l <= 8; l++) dirs.set(l, new Float32Array(model.info.nEmbd).fill(0.1));
    writeControlVector(p, { modelHint: "llama", directions: dirs });
    const cv = readControlVector(p);
    assert.throws(() => checkControlVector(cv, model.info, p), rejects("bad_vector", /layer 5 but the model has 5 layers/));
    await assert.rejects(steering.set(controlVectorSteering(cv)), rejects("bad_layer", /layer 5 is out of range/));
    await stillWorks();
  });

  it("NaN or Inf in a vector", async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const v = new Float32Array(model.info.nEmbd);
      v[10] = bad;
      await assert.rejects(steering.set([{ site: "attn_out", layer: 1, vector: v }]), rejects("bad_vector", /finite/));
    }
    await assert.rejects(
      steering.set([{ site: "attn_out", layer: 1, vector: new Float32Array(64), strength: Number.NaN }]),
      rejects("bad_vector", /strength/),
    );
    await stillWorks();
  });

  it("layer out of range", async () => {
    const v = new Float32Array(model.info.nEmbd);
    for (const layer of [-1, 5, 99, 1.5]) {
      await assert.rejects(
        steering.set([{ site: "resid_post", layer, vector: v }]),
        rejects("bad_layer", /out of range: this model has layers 0\.\.4/),
      );
    }
    await assert.rejects(
      ctx.evaluate([[1, 2]], { capture: { site: "resid_post", layers: [7], reduce: "mean" } }),
      rejects("bad_layer", /layer 7/),
    );
    await stillWorks();
  });

  it("unknown site", async () => {
    await assert.rejects(
      ctx.evaluate([model.tokenize("hello")], { capture: { site: "resid_pots", layers: [1], reduce: "mean" } }),
      rejects("bad_site", /resid_pots.*not found.*Known sites: resid_post/),
    );
    await assert.rejects(
      ctx.evaluate([[1, 2]], { capture: { site: "resid post!", layers: [1], reduce: "mean" } }),
      rejects("bad_site", /not a site name/),
    );
    await steering.set([{ site: "no_such_tensor", layer: 1, vector: new Float32Array(64) }]);
    await assert.rejects(ctx.evaluate([[1, 2]]), rejects("bad_site", /not in this model's graph/));
    steering.clear();
    await stillWorks();
  });

  it("prompt longer than the context", async () => {
    const long = model.tokenize("the cat sat on the mat ".repeat(80));
    assert.ok(long.length > ctx.nCtx);
    await assert.rejects(
      generate(ctx, long, { maxTokens: 4 }),
      rejects("context_overflow", new RegExp(`${long.length} tokens but the context holds ${ctx.nCtx}`)),
    );
    await assert.rejects(ctx.evaluate([long]), rejects("context_overflow", /larger context/));
    await stillWorks();
  });

  it("invalid sampling options", async () => {
    await assert.rejects(generate(ctx, [1], { temperature: -1 }), rejects("bad_argument", /temperature/));
    await assert.rejects(generate(ctx, [1], { topP: 0 }), rejects("bad_argument", /top-p/));
    await stillWorks();
  });
});
