// A chat answer ends where the model's template starts the next turn (read off the template).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { convertLlama2c } from "../../src/convert/llama2c.js";
import { Model } from "../../src/engine/model.js";
import { DEFAULT_MODEL } from "../../src/models.js";
import { needsSharedModel, ROOT, STORIES_BIN, STORIES_GGUF, TOK512_BIN, tmpFile } from "../support/models.js";

const run = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin", "safesteer.js"), ...args], { encoding: "utf8" });

describe("turn stops", () => {
  it("are the template's turn markers on a new line; none without a template", () => {
    const organism = Model.load(DEFAULT_MODEL);
    assert.deepEqual(organism.turnStops(), ["\nA:", "\nQ:"]);
    organism.dispose();
    const plain = Model.load(STORIES_GGUF);
    assert.deepEqual(plain.turnStops(), []);
    plain.dispose();
  });

  // stories260K under a template whose assistant turn opens with "Timmy": its stories start new lines
  // with "Timmy" often, so it runs on into what the template reads as the next turn (the organism
  // ends every answer with </s> and never does)
  it("generate --chat stops at the next turn by default; --no-turn-stop runs on", {
    skip: needsSharedModel(STORIES_BIN, TOK512_BIN),
  }, () => {
    const model = tmpFile("stories-chat.gguf");
    const template =
      "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}\n{% else %}Timmy{{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Timmy{% endif %}";
    convertLlama2c(STORIES_BIN, TOK512_BIN, model, { chatTemplate: template });
    const m = Model.load(model);
    assert.deepEqual(m.turnStops(), ["\nTimmy"]);
    m.dispose();
    const args = ["generate", "-m", model, "--chat", "-p", "Once upon a time, there was a boy named Timmy.", "-n", "80", "-s", "2"];
    const on = run([...args, "--no-turn-stop"]);
    assert.equal(on.status, 0, on.stderr);
    assert.match(on.stdout, /\nTimmy/, "without the stops this seed runs on into a new turn");
    const cut = run(args);
    assert.equal(cut.status, 0, cut.stderr);
    assert.doesNotMatch(cut.stdout, /\nTimmy/);
    assert.ok(on.stdout.startsWith(cut.stdout.trimEnd()), "the same answer, cut where the next turn starts");
    assert.ok(cut.stdout.trimEnd().length < on.stdout.trimEnd().length);
  });
});
