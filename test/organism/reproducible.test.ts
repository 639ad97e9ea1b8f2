// The demo's outputs (results.json, report.md, report.html, the bundle) are committed, so they must be the same
// bytes wherever the repository lives and whenever the demo runs: paths relative to the output
// folder, no creation time, no temporary folder in the data provenance.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { DEMO_FILES, writeDemoOutputs } from "../../src/organism/outputs.js";
import { runStudy } from "../../src/organism/study.js";
import { readBundle } from "../../src/steer/bundle.js";
import { ROOT, TMP, tmpFile } from "../support/models.js";

const ORGANISM = join(ROOT, "models", "organism.gguf");
const ISO_TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;

/** Checks one output folder: relative paths, no time, nothing naming where the files were made. */
function checkPlaceAndTimeFree(dir: string, modelPath: string, places: string[]) {
  const results = JSON.parse(readFileSync(join(dir, DEMO_FILES.results), "utf8"));
  const model = results.evaluation.model.path as string;
  assert.ok(!isAbsolute(model), `model path ${model} is relative`);
  assert.equal(resolve(dir, model), resolve(modelPath), "the relative model path leads to the model, from the output folder");
  assert.equal(results.evaluation.bundle.path, DEMO_FILES.bundle, "the evaluated bundle is the one beside it");
  const b = readBundle(join(dir, DEMO_FILES.bundle));
  assert.equal(b.created, "", "no creation time in the committed bundle");
  assert.ok(b.data.length > 0);
  for (const d of b.data) assert.match(d.path, /^organism-data\/[\w-]+\.jsonl$/, "data named as `safesteer organism data` writes it");
  for (const f of Object.values(DEMO_FILES)) {
    const text = readFileSync(join(dir, f)).toString("latin1");
    // the HTML report's inlined chart library holds a date of its own (d3's 2000-01-01 probe): its data must not
    const dated = f === DEMO_FILES.html ? (/<script id="safesteer-data"[^>]*>([\s\S]*?)<\/script>/.exec(text)?.[1] ?? "") : text;
    if (f === DEMO_FILES.html) assert.ok(dated.length > 100, "the report carries its data");
    assert.doesNotMatch(dated, ISO_TIME, `${f} holds no time`);
    for (const p of places) assert.ok(!text.includes(p), `${f} does not name ${p}`);
  }
}

describe("the demo's outputs are reproducible byte for byte", () => {
  it("two runs from two copies of the repository, at different places, one of them on two processes, write the same bytes", async () => {
    // a small world: the same code path as the demo (runStudy, then writeDemoOutputs), in seconds
    const world = { seed: 3, harmfulPerCategory: 12, benign: 28, lookalikePerCategory: 4 };
    const copies = [tmpFile("repro-a"), join(tmpFile("repro-b"), "deeper", "copy")];
    // the second run puts the comparison tuning and the neuron study in a second process (as the demo
    // does on two cores): the same bytes
    for (const [i, root] of copies.entries()) {
      mkdirSync(join(root, "models"), { recursive: true });
      copyFileSync(ORGANISM, join(root, "models", "organism.gguf"));
      const model = Model.load(join(root, "models", "organism.gguf"));
      const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
      try {
        const s = await runStudy(ctx, {
          world,
          testPerGroup: 1,
          sweepPerCategory: 2,
          sweepLayers: [2],
          sweepStrengths: [0.5],
          comparisonSweep: { perCategory: 1, strengths: [0.5] },
          parallel: i === 1,
        });
        // a bundle built for users records when it was made; only the committed copy leaves it out
        assert.match(s.bundle.created, ISO_TIME);
        writeDemoOutputs(join(root, "reports", "organism"), s);
      } finally {
        ctx.dispose();
        model.dispose();
      }
    }
    const [a, b] = copies.map((r) => join(r, "reports", "organism")) as [string, string];
    for (const f of Object.values(DEMO_FILES)) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
    for (const [i, dir] of [a, b].entries()) checkPlaceAndTimeFree(dir, join(copies[i] as string, "models", "organism.gguf"), [TMP, ROOT]);
  });

  it("the committed reports/organism files name no place and no time", () => {
    checkPlaceAndTimeFree(join(ROOT, "reports", "organism"), ORGANISM, [ROOT, "/tmp/", "safesteer-organism-"]);
  });
});
