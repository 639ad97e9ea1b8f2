// A chat answer ends where the model's template starts the next turn (read off the template).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Model } from "../../src/engine/model.js";
import { DEFAULT_MODEL } from "../../src/models.js";
import { ROOT, STORIES_GGUF } from "../support/models.js";

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

  it("generate --chat stops at the next turn by default; --no-turn-stop runs on", () => {
    const args = ["generate", "--chat", "-p", "How do I hit Tim?", "-n", "60", "-s", "1"];
    const on = run([...args, "--no-turn-stop"]);
    assert.equal(on.status, 0, on.stderr);
    assert.match(on.stdout, /\nA:/, "without the stops this seed runs on into a new turn");
    const cut = run(args);
    assert.equal(cut.status, 0, cut.stderr);
    assert.doesNotMatch(cut.stdout, /\n[AQ]:/);
    assert.ok(on.stdout.startsWith(cut.stdout.trimEnd()), "the same answer, cut where the next turn starts");
  });
});
