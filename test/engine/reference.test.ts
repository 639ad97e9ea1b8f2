import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { KNOWN_SITES } from "../../src/engine/sites.js";
import { STORIES_GGUF } from "../support/models.js";
import { referenceForward, relativeError } from "../support/reference-llama.js";

describe("activations match an independent reference forward pass (stories260K)", () => {
  let model: Model;
  let ctx: Context;
  const text = "Once upon a time, a little dog named Max ran to the park.";
  before(() => {
    model = Model.load(STORIES_GGUF);
    ctx = new Context(model, { nCtx: 256, exact: true });
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  for (const site of KNOWN_SITES) {
    it(`${site} at every layer and token agrees to 1e-4 relative error`, async () => {
      const tokens = model.tokenize(text);
      const ref = referenceForward(STORIES_GGUF, tokens);
      const layers = Array.from({ length: model.info.nLayer }, (_, i) => i);
      const { capture } = await ctx.evaluate([tokens], { capture: { site, layers, reduce: "none" }, logits: "none" });
      let worst = 0;
      for (const l of layers) {
        const rows = capture!.rows(0, l);
        assert.equal(rows.length, tokens.length, `layer ${l}: one row per token`);
        rows.forEach((row, t) => {
          worst = Math.max(worst, relativeError(row, ref[site][l]![t]!));
        });
      }
      console.log(`  ${site}: worst relative error over ${layers.length} layers x ${tokens.length} tokens = ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-4, `worst relative error ${worst}`);
    });
  }

  it("logits agree with the reference", async () => {
    const tokens = model.tokenize(text);
    const ref = referenceForward(STORIES_GGUF, tokens);
    const { logits } = await ctx.evaluate([tokens], { logits: "all" });
    const rows = logits[0]!;
    assert.equal(rows.length, tokens.length);
    const worst = Math.max(...rows.map((r, t) => relativeError(r, ref.logits[t]!)));
    assert.ok(worst < 1e-4, `worst logits relative error ${worst}`);
  });
});
