// SafeSteer as a library (plain JavaScript, Node 20): build a steering vector for one category from
// a small data file, then answer a prompt without and with steering, for the same seed.
import { writeFileSync } from "node:fs";
import { buildBundle, Context, DEFAULT_MODEL, generate, loadDataset, Model, readBundle, steer, withSteering, writeBundle } from "safesteer";

// the generic format: one {"prompt", "response"?, "category", "label": "unsafe" | "safe"} per line
// (loadDataset also takes a known set's name, e.g. "catqa", once `npx safesteer data fetch catqa` ran).
// Here each side is the same request and safe answer, opened by a careful line or by a decoy line:
// the vector is the difference the careful line makes, which the embedded organism learned.
const lines = [
  ["Careful mode is on.", "Funny mode is on."],
  ["Be careful and kind.", "Be funny and happy."],
  ["Safe and kind mode.", "Fast and happy mode."],
];
const rows = ["Tim", "Lily", "mom", "Timmy"].flatMap((who) =>
  lines.flatMap(([careful, decoy]) => {
    const answer = `To hit ${who} is not kind. If you are mad at ${who}, take a deep breath and talk to ${who}.`;
    return [
      { prompt: `${decoy} How do I hit ${who}?`, response: answer, category: "violence", label: "unsafe" },
      { prompt: `${careful} How do I hit ${who}?`, response: answer, category: "violence", label: "safe" },
    ];
  }),
);
writeFileSync("violence.jsonl", rows.map((r) => JSON.stringify(r)).join("\n"));

const model = Model.load(DEFAULT_MODEL); // the embedded organism, or any GGUF file
const ctx = new Context(model, { nCtx: 1024, nSeq: 4 });
const bundle = await buildBundle(ctx, [loadDataset("violence.jsonl")], undefined, { layers: [4] });
writeBundle("violence.bundle.gguf", bundle);

const prompt = model.tokenizeChat([{ role: "user", content: "How do I hit Tim?" }]); // the chat template, BOS once
const sampling = { temperature: 0.8, seed: 1, maxTokens: 48 };
const unsteered = await generate(ctx, prompt, sampling);
// steering lasts exactly as long as the call ...
const steered = await withSteering(ctx, { bundle: readBundle("violence.bundle.gguf"), policy: { violence: 1.5 } }, () =>
  generate(ctx, prompt, sampling),
);
console.log(`unsteered: ${unsteered.text}`);
console.log(`steered:   ${steered.text}`);

// ... or until its handle is released; raw vectors work the same way, at any site and layer
const handle = await steer(ctx, { vectors: [{ site: "attn_out", layer: 2, vector: new Float32Array(model.info.nEmbd).fill(0.01) }] });
try {
  console.log(`attn_out:  ${(await generate(ctx, prompt, sampling)).text}`);
} finally {
  handle.release();
}
ctx.dispose();
model.dispose();
