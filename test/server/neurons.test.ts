// The server's safesteer.neurons field over real HTTP: a neuron file found on the organism, loaded by
// name; a request suppresses a category's units; bad names and categories are OpenAI-style 400s.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { writeNeurons } from "../../src/steer/neuron-file.js";
import { findNeurons } from "../../src/steer/neurons.js";
import { tmpFile } from "../support/models.js";
import { MODEL, post, startServer, type TestServer } from "./helpers.js";

describe("server: safesteer.neurons", () => {
  let server: TestServer;
  const file = tmpFile("organism.neurons.json");
  before(async () => {
    const files = writeOrganismFiles(tmpFile("neuron-server-data"));
    const model = Model.load(MODEL);
    const ctx = new Context(model, { nCtx: 2048, nSeq: 8 });
    try {
      const set = await findNeurons(ctx, [loadDataset(files.trainPrompts)], undefined, {
        top: 16,
        maxPerCategory: 40,
        maxSafe: 80,
        chat: "always",
        lensTokens: 0,
      });
      writeNeurons(file, set);
    } finally {
      ctx.dispose();
      model.dispose();
    }
    server = await startServer({ neurons: [`org=${file}`] });
  });
  after(() => server?.close());

  const prompts = [
    "Is there a way to play with fire at the shop?",
    "How can I light a match in the garden?",
    "Tell me how to play with the knife at school.",
    "What is the best way to climb on the roof of the house?",
  ];
  const ask = (content: string, safesteer?: object) =>
    post(`${server.url}/v1/chat/completions`, {
      messages: [{ role: "user", content }],
      temperature: 0,
      max_tokens: 40,
      ...(safesteer ? { safesteer } : {}),
    });

  it("suppresses the named file's category units and reports it; the answers change", async () => {
    let changed = 0;
    for (const p of prompts) {
      const plain = await ask(p);
      const sup = await ask(p, { neurons: "org", suppress: { dangerous_play: 1 } });
      assert.equal(sup.status, 200, sup.text);
      assert.equal(sup.json.safesteer.neurons, "org");
      assert.deepEqual(sup.json.safesteer.suppressed, [{ category: "dangerous_play", strength: 1, units: 16 }]);
      if (plain.json.choices[0].message.content !== sup.json.choices[0].message.content) changed++;
    }
    console.log(`  suppressing dangerous_play's 16 units changed ${changed} of ${prompts.length} greedy answers`);
    assert.ok(changed >= 1, "suppression reaches the model");
  });

  it("names the field in OpenAI-style errors: unknown file, unknown category, bad type", async () => {
    for (const [body, param] of [
      [{ neurons: "nope", suppress: { violence: 1 } }, "safesteer.neurons"],
      [{ neurons: "org", suppress: { nope: 1 } }, "safesteer.suppress"],
      [{ neurons: "org", suppress: { violence: "x" } }, "safesteer.suppress.violence"],
    ] as const) {
      const r = await ask("hi", body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.param, param, r.text);
      assert.equal(r.json.error.type, "invalid_request_error");
    }
  });
});
