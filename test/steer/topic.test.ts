import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { withSteering } from "../../src/steer/apply.js";
import { buildBundle } from "../../src/steer/build.js";
import { STORIES_GGUF } from "../support/models.js";
import { dogShare, TOPIC_DATA } from "../support/topic.js";

describe("a real semantic effect on stories260K", () => {
  it("a topic vector (dog openings vs generic openings) at a middle layer raises the share of continuations about a dog", async () => {
    const model = Model.load(STORIES_GGUF);
    const ctx = new Context(model, { nCtx: 2048, nSeq: 8 });
    const bundle = await buildBundle(ctx, [TOPIC_DATA], undefined, { layers: [2], prune: 0.5 });
    assert.deepEqual(bundle.categories.get("generic")?.steerLayers, [2]);
    const plain = await dogShare(ctx);
    const steered = await withSteering(ctx, { bundle, policy: { generic: 0.6 } }, () => dogShare(ctx));
    console.log(
      `  continuations mentioning a dog over ${plain.n} seeds: unsteered ${(plain.share * 100).toFixed(1)}%, steered ${(steered.share * 100).toFixed(1)}%`,
    );
    assert.equal(plain.n, 24);
    assert.ok(steered.share >= plain.share + 0.3, `steered ${steered.share} vs unsteered ${plain.share}`);
    ctx.dispose();
    model.dispose();
  });
});
