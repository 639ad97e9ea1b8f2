// The one scoped way to steer: steering lasts for a call or a handle, never longer, also on error.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { steer, withSteering } from "../../src/steer/apply.js";
import { STORIES_GGUF } from "../support/models.js";

describe("steer() and withSteering()", () => {
  let model: Model;
  let ctx: Context;
  const tokens = [1, 403, 407, 261, 378];
  const vectors = () => [{ site: "resid_post", layer: 2, vector: new Float32Array(64).fill(0.5), strength: 1 }];
  const last = async () => (await ctx.evaluate([tokens])).logits[0]![0]!;
  before(() => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 256 });
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  it("withSteering changes the logits inside and restores them bit for bit after, also when the call throws", async () => {
    const plain = await last();
    const inside = await withSteering(ctx, { vectors: vectors() }, last);
    assert.ok(
      inside.some((x, i) => x !== plain[i]),
      "steering changes the logits",
    );
    assert.deepEqual(await last(), plain, "cleared after the call");
    await assert.rejects(
      withSteering(ctx, { vectors: vectors() }, async () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.deepEqual(await last(), plain, "cleared after a throw");
  });

  it("a handle lasts until released (or the end of a using block); steering does not nest", async () => {
    const plain = await last();
    {
      using s = await steer(ctx, { vectors: vectors() });
      assert.deepEqual(s.plan.nativeLayers, [2]);
      assert.ok((await last()).some((x, i) => x !== plain[i]));
      await assert.rejects(steer(ctx, { vectors: vectors() }), /already steered: release the current steering/);
    }
    assert.deepEqual(await last(), plain, "released at the end of the block");
    const h = await steer(ctx, { vectors: vectors() });
    h.release();
    h.release(); // idempotent
    const again = await steer(ctx, { vectors: vectors() });
    again.release();
    assert.deepEqual(await last(), plain);
  });

  it("a vector that does not fit the model is refused before anything is applied", async () => {
    const plain = await last();
    await assert.rejects(steer(ctx, { vectors: [{ site: "resid_post", layer: 2, vector: new Float32Array(8) }] }), /width 8/);
    assert.deepEqual(await last(), plain);
    const ok = await steer(ctx, { vectors: vectors() }); // the failed call left nothing live
    ok.release();
  });
});
