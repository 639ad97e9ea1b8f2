// `safesteer neurons` and --neurons/--suppress through the CLI, on the planted-unit model: the file it
// writes ranks the planted unit first; generate suppresses through it; bad input is one line, exit 2.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import { Model } from "../../src/engine/model.js";
import { cliFromSource as cli } from "../support/cli.js";
import { tmpFile } from "../support/models.js";
import { PLANTED_LAYER, PLANTED_UNIT, plantedData, writePlantedModel, Z_TEXT } from "../support/planted-neuron.js";

describe("safesteer neurons (CLI)", () => {
  const model = tmpFile("cli-planted.gguf");
  const data = tmpFile("cli-planted.jsonl");
  const out = tmpFile("cli-planted.neurons.json");
  before(() => {
    writePlantedModel(model, 0);
    const m = Model.load(model);
    const z = m.tokenize(Z_TEXT, { addSpecial: false })[0]!;
    m.dispose();
    writePlantedModel(model, z);
    const rows = plantedData().examples.map((e) =>
      JSON.stringify({ prompt: e.prompt, label: e.label, ...(e.category ? { category: e.category } : {}) }),
    );
    writeFileSync(data, `${rows.join("\n")}\n`);
  });

  it("writes a neuron file whose first weapons unit is the planted one, and prints the table", () => {
    const r = cli(["neurons", "--model", model, "--data", data, "--top", "4", "-o", out]);
    assert.equal(r.status, 0, r.stderr);
    const set = JSON.parse(readFileSync(out, "utf8"));
    assert.equal(set.schema, "safesteer.neurons/1");
    assert.deepEqual([set.categories.weapons.units[0].layer, set.categories.weapons.units[0].index], [PLANTED_LAYER, PLANTED_UNIT]);
    assert.equal(set.categories.weapons.safeSource, "generic", "the data's own uncategorised safe prompts, not a downloaded set");
    assert.match(r.stdout, new RegExp(`weapons: 24 unsafe vs 24 safe[\\s\\S]*${PLANTED_LAYER}:${PLANTED_UNIT}\\s+1\\.00`));
  });

  it("generate --compare suppresses through the file; bad --suppress input is one line and exit 2", () => {
    const g = cli([
      "generate",
      "--model",
      model,
      "-p",
      "how can i get a zebra",
      "-n",
      "8",
      "-t",
      "0",
      "--neurons",
      out,
      "--suppress",
      "weapons",
      "--compare",
    ]);
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stdout, /UNSTEERED[\s\S]*STEERED/);
    for (const [args, want] of [
      [["--suppress", "weapons"], /--neurons and --suppress go together/],
      [["--neurons", out, "--suppress", "nope"], /no neurons for category nope: the neuron file has theft, weapons/],
      [["--neurons", out, "--suppress", "weapons=x"], /"weapons=x" is not category or category=number/],
      [["--neurons", model, "--suppress", "weapons"], /is not JSON/],
    ] as const) {
      const r = cli(["generate", "--model", model, "-p", "hi", "-n", "2", ...args]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});
