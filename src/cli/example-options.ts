// What `build` and `neurons` share on the command line: the labelled prompt files, the generic safe
// set, the seeded samples read from them, and which categories and safe set that makes.
import type { Command } from "commander";
import type { Dataset, Example } from "../data/example.js";
import { dataFile } from "../data/load.js";
import { Context } from "../engine/context.js";
import type { Model } from "../engine/model.js";
import { type DataOpts, int, loadData, loadModel, type ModelOpts, num, positiveInt } from "./options.js";
import { interruptSignal, type Progress, progressBar } from "./progress.js";

export interface ExampleCliOptions extends DataOpts {
  data: string[];
  safe?: string;
  categories?: string;
  maxPerCategory?: number;
  maxSafe: number;
  heldOut: number;
  seed: number;
  batch: number;
}

/** --data, --safe and --categories. */
export function withExampleFiles(cmd: Command): Command {
  return cmd
    .requiredOption("--data <files...>", "labelled prompt files (JSON, JSONL, CSV; known data sets are detected)")
    .option("--safe <file>", "generic safe set (default: harmless_alpaca.json from the data folder)")
    .option("--categories <list>", "only these category ids, comma-separated");
}

/** The samples and how they are read: --max-per-category, --max-safe, --held-out (share held out `heldOutFor`), --seed, --batch. */
export function withSampleOptions(cmd: Command, heldOutFor: string): Command {
  return cmd
    .option("--max-per-category <n>", "at most n unsafe examples per category", positiveInt("--max-per-category"))
    .option("--max-safe <n>", "at most n generic safe examples", positiveInt("--max-safe"), 256)
    .option("--held-out <share>", `share held out ${heldOutFor}`, num("--held-out"), 0.2)
    .option("--seed <n>", "sampling seed", int("--seed"), 1)
    .option("--batch <n>", "texts decoded side by side", positiveInt("--batch"), 8);
}

/** The category ids --categories lists, else every category an unsafe example carries. */
export function wantedCategories(examples: Example[], categories: string | undefined): string[] {
  return categories
    ? categories.split(",").map((c) => c.trim())
    : [...new Set(examples.filter((e) => e.label === "unsafe" && e.category).map((e) => e.category as string))];
}

/** True when one of these categories has no safe examples of its own. */
export const lacksOwnSafe = (examples: Example[], wanted: string[]) =>
  wanted.some((c) => !examples.some((e) => e.label === "safe" && e.category === c));

/** The generic safe set: --safe when given, else harmless_alpaca.json when `needed`, else none. */
export function genericSafeSet(o: ExampleCliOptions, needed: boolean): Dataset | undefined {
  return o.safe || needed ? loadData(o.safe ?? dataFile("harmless_alpaca.json"), o) : undefined;
}

/** The sample options as the library takes them (buildBundle, findNeurons). */
export function sampleOptions(o: ExampleCliOptions) {
  return {
    categories: o.categories?.split(",").map((s) => s.trim()),
    maxPerCategory: o.maxPerCategory,
    maxSafe: o.maxSafe,
    heldOut: o.heldOut,
    seed: o.seed,
  };
}

/**
 * Loads the model, runs `work` on a context of --batch sequences with a progress bar and Ctrl-C
 * wired to an AbortSignal, and frees all of it after, whatever happens.
 */
export async function withCollection(
  o: ExampleCliOptions & ModelOpts,
  work: (model: Model, ctx: Context, signal: AbortSignal, bar: Progress) => Promise<void>,
): Promise<void> {
  const model = loadModel(o);
  const ctx = new Context(model, { nCtx: o.ctx ?? 1024, nSeq: o.batch, nBatch: 512 });
  const bar = progressBar("collecting activations");
  const { signal, dispose } = interruptSignal();
  try {
    await work(model, ctx, signal, bar);
  } finally {
    bar.stop();
    dispose();
    ctx.dispose();
    model.dispose();
  }
}
