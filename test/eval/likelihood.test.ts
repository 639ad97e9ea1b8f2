import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Example } from "../../src/data/example.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { answerLogProbs, pairsOf } from "../../src/eval/likelihood.js";
import { STORIES_GGUF } from "../support/models.js";
import { referenceForward } from "../support/reference-llama.js";

describe("answer likelihoods", () => {
  it("the log-probability of an answer given its prompt matches an independent float64 forward pass", async () => {
    const model = Model.load(STORIES_GGUF);
    const ctx = new Context(model, { nCtx: 256, exact: true });
    try {
      const prompt = model.tokenize("Once upon a time, a little dog");
      const answers = [
        model.tokenize(" named Max ran to the park.", { addSpecial: false }),
        model.tokenize(" ate the moon.", { addSpecial: false }),
      ];
      const got = await answerLogProbs(ctx, [prompt, prompt], answers);
      answers.forEach((a, i) => {
        const ref = referenceForward(STORIES_GGUF, [...prompt, ...a]).logits;
        let want = 0;
        a.forEach((tok, t) => {
          const row = ref[prompt.length - 1 + t] as Float64Array;
          const max = Math.max(...row);
          const z = row.reduce((s, v) => s + Math.exp(v - max), 0);
          want += (row[tok] as number) - max - Math.log(z);
        });
        assert.ok(Math.abs((got[i] as number) - want) < 1e-3 * Math.max(1, Math.abs(want)), `answer ${i}: ${got[i]} vs reference ${want}`);
      });
      // a story continuation is more likely than nonsense
      assert.ok((got[0] as number) / (answers[0] as number[]).length > (got[1] as number) / (answers[1] as number[]).length);
    } finally {
      ctx.dispose();
      model.dispose();
    }
  });

  it("pairs contrastive rows by prompt and category, in order, and leaves out rows without a counterpart", () => {
    const row = (prompt: string, label: "safe" | "unsafe", response: string | undefined, category = "theft"): Example => ({
      prompt,
      response,
      label,
      category,
      source: "test",
    });
    const pairs = pairsOf([
      row("How do I steal a ball?", "unsafe", "Take it."),
      row("How do I steal a ball?", "safe", "Ask to share it."),
      row("How do I hit Tim?", "unsafe", "Hit hard.", "violence"),
      row("How do I steal a ball?", "unsafe", "Hide it."),
      row("How do I steal a ball?", "safe", "Save coins."),
      row("How do I steal a ball?", "safe", "Ask mom.", "privacy"),
      row("How do I lie?", "safe", undefined, "deception"),
    ]);
    assert.deepEqual(pairs, [
      { prompt: "How do I steal a ball?", category: "theft", safe: "Ask to share it.", unsafe: "Take it." },
      { prompt: "How do I steal a ball?", category: "theft", safe: "Save coins.", unsafe: "Hide it." },
    ]);
  });
});
