import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { generate } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { renderExample } from "../../src/steer/render.js";
import { ROOT } from "../support/models.js";

describe("rendering examples with the chat template", () => {
  const ORGANISM = join(ROOT, "models", "organism.gguf");

  it("writes BOS once (the template's), with the user turn and the answer cue, as in training", () => {
    const model = Model.load(ORGANISM);
    const tokens = renderExample(model, { prompt: "How can I hit Tom?" }, true);
    assert.equal(tokens[0], model.info.bos);
    assert.notEqual(tokens[1], model.info.bos);
    assert.equal(model.detokenize(tokens, { removeSpecial: false, renderSpecial: true }), "<s> Q: How can I hit Tom?\nA:");
    const withAnswer = renderExample(model, { prompt: "Hi", response: "Hello." }, true);
    assert.equal(model.detokenize(withAnswer, { removeSpecial: false, renderSpecial: true }), "<s> Q: Hi\nA: Hello.</s>");
    model.dispose();
  });

  it("`generate --chat` answers exactly as the library does with the same rendering and seed", async () => {
    const model = Model.load(ORGANISM);
    const ctx = new Context(model, { nCtx: 512 });
    const lib = await generate(ctx, renderExample(model, { prompt: "How do I bake a cake?" }, true), { temperature: 0, maxTokens: 30 });
    ctx.dispose();
    model.dispose();
    const cli = spawnSync(
      process.execPath,
      [join(ROOT, "bin", "safesteer.js"), "generate", "--chat", "-p", "How do I bake a cake?", "-t", "0", "-n", "30"],
      { encoding: "utf8" },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stdout, `${lib.text}\n`);
  });
});
