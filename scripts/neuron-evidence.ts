// Category neurons on the organism (organism/neuron-study.ts, the demo's neuron section): units found
// on the training split, how many / how strongly / which layers chosen on dev prompts, and on the
// test split per category its own units suppressed against random units of the same layers and
// another category's: rates with 95% intervals, the likelihood check, separation and overlap.
//   node --import tsx scripts/neuron-evidence.ts [-o section.md] [--json result.json] [--neurons chosen.json] [--seeds N]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { runNeuronStudy } from "../src/organism/neuron-study.js";
import { STUDY_BUDGET, STUDY_GENERATION } from "../src/organism/study.js";
import { DEFAULT_ORGANISM_CONFIG } from "../src/organism/train.js";
import { writeNeurons } from "../src/steer/neuron-file.js";
import { writeFileAtomic } from "../src/util/atomic-write.js";

const { values: args } = parseArgs({
  options: {
    output: { type: "string", short: "o" },
    json: { type: "string" },
    neurons: { type: "string" },
    seeds: { type: "string", default: "1" },
  },
});
const model = Model.load("models/organism.gguf");
const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
const dir = mkdtempSync(join(tmpdir(), "neuron-evidence-"));
const controller = new AbortController();
process.on("SIGINT", () => controller.abort());
const t0 = Date.now();
try {
  const files = writeOrganismFiles(dir, DEFAULT_ORGANISM_CONFIG.world);
  const { result, markdown, neurons } = await runNeuronStudy(ctx, {
    files,
    generation: STUDY_GENERATION,
    seeds: Number(args.seeds),
    budget: STUDY_BUDGET,
    signal: controller.signal,
    onStep: (m) => process.stderr.write(`\n- [${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}\n`),
    onProgress: (d, t) => process.stderr.write(`\r${d}/${t} answers`),
  });
  process.stderr.write(`\n${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  process.stdout.write(`${markdown}\n`);
  if (args.output) writeFileAtomic(args.output, [`${markdown}\n`]);
  if (args.neurons) writeNeurons(args.neurons, neurons);
  if (args.json) writeFileAtomic(args.json, [`${JSON.stringify(result, null, 2)}\n`]);
} finally {
  rmSync(dir, { recursive: true, force: true });
  ctx.dispose();
  model.dispose();
}
