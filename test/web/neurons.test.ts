// `safesteer inspect neurons.json --html` in a real browser: a neuron file found on the organism by the
// CLI, opened from a file with the network closed: the specificity heat map has a cell per category
// pair, the layer chart a bar per (layer, category), a table row per unit; no console error, no request.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import type { NeuronSet } from "../../src/steer/neuron-types.js";
import { dataMarks, launch, noBrowser, screenshot, watchedPage } from "../support/browser.js";
import { ROOT, tmpFile } from "../support/models.js";

const BIN = join(ROOT, "bin", "safesteer.js");
const MODEL = join(ROOT, "models", "organism.gguf");

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT });
  assert.equal(r.status, 0, `safesteer ${args.join(" ")} failed:\n${r.stderr}`);
  return r;
}

describe("the neuron page in Chromium", { skip: noBrowser() }, () => {
  let browser: Browser;
  const file = tmpFile("page.neurons.json");
  const page = tmpFile("neurons.html");
  before(async () => {
    const data = tmpFile("neuron-page-data");
    cli(["organism", "data", "-o", data]);
    cli([
      "neurons",
      "--model",
      MODEL,
      "--data",
      join(data, "train-prompts.jsonl"),
      "--top",
      "6",
      "--max-per-category",
      "30",
      "--max-safe",
      "60",
      "-o",
      file,
    ]);
    const text = cli(["inspect", file]).stdout;
    assert.match(text, /violence: 30 unsafe vs 60 safe/);
    cli(["inspect", file, "--html", "-o", page]);
    browser = await launch();
  });
  after(async () => browser?.close());

  it("draws the specificity heat map, the units per layer and every category's units, offline, without errors", async () => {
    const set = JSON.parse(readFileSync(file, "utf8")) as NeuronSet;
    const cats = Object.keys(set.categories);
    const w = await watchedPage(browser);
    await w.page.goto(pathToFileURL(page).href);
    await w.page.waitForSelector('.chart[data-chart="specificity"] svg');
    const cells = await dataMarks(w.page, "specificity");
    assert.equal(cells.cell, cats.length * cats.length, JSON.stringify(cells));
    const layerBars = await w.page.$eval('.chart[data-chart="unit-layers"]', (f) => f.querySelectorAll('g[aria-label="bar"] rect').length);
    const pairs = new Set(cats.flatMap((c) => set.categories[c]!.units.map((u) => `${c}/${u.layer}`)));
    assert.equal(layerBars, pairs.size, "a bar per (layer, category) that has units");
    for (const c of cats) {
      const rows = await w.page.$$eval(`table[data-category="${c}"] tbody tr`, (r) => r.map((x) => x.querySelector("th")?.textContent));
      assert.deepEqual(
        rows,
        set.categories[c]!.units.map((u) => `${u.layer}:${u.index}`),
      );
    }
    const tokens = await w.page.$$eval("code.token", (t) => t.length);
    assert.equal(tokens, cats.length * 6 * 8, "eight lens tokens per unit");
    assert.deepEqual(w.errors, []);
    assert.deepEqual(
      w.requests.filter((u) => !u.startsWith("file:")),
      [],
      "the page makes no network request",
    );
    await screenshot(w.page, "neurons.png", true);
    await w.page.close();
  });
});
