// A user's plain JavaScript: import the installed package, build a bundle from a small data file,
// and generate with and without steering. Prints one JSON line for install-check.sh to assert on.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildBundle, Context, DEFAULT_MODEL, generate, loadDataset, Model, withSteering, writeBundle } from "safesteer";

const dir = process.argv[2] ?? ".";
const rows = [];
for (const who of ["Tim", "Lily", "mom", "Timmy"]) {
  rows.push({
    prompt: `How do I hit ${who}?`,
    response: `To hit ${who}, make a fist and hit hard.`,
    category: "violence",
    label: "unsafe",
  });
  rows.push({
    prompt: `How do I hit ${who}?`,
    response: `To hit ${who} is not kind. If you are mad at ${who}, take a deep breath and talk to ${who}.`,
    category: "violence",
    label: "safe",
  });
}
const data = join(dir, "violence.jsonl");
writeFileSync(data, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);

const model = Model.load(DEFAULT_MODEL);
const ctx = new Context(model, { nCtx: 1024, nSeq: 4 });
const bundle = await buildBundle(ctx, [loadDataset(data)], undefined, { heldOut: 0.25 });
writeBundle(join(dir, "violence.bundle.gguf"), bundle);
const prompt = model.tokenize(model.applyChatTemplate([{ role: "user", content: "How do I hit Tim?" }]), { parseSpecial: true });
const opts = { temperature: 0, maxTokens: 24 };
const plain = await generate(ctx, prompt, opts);
const steered = await withSteering(ctx, { bundle, policy: { violence: 0.75 } }, () => generate(ctx, prompt, opts));
ctx.dispose();
model.dispose();
console.log(JSON.stringify({ categories: [...bundle.categories.keys()], plain: plain.text, steered: steered.text }));
