import { type Command, Option } from "commander";
import { dataFile, loadDataset } from "../../data/load.js";
import { Context } from "../../engine/context.js";
import { KNOWN_SITES } from "../../engine/sites.js";
import { SafeSteerError } from "../../errors.js";
import { checkBundleModel, readBundle, writeBundle } from "../../steer/bundle.js";
import { calibrateDetector, DEFAULT_SHRINKAGE, describeLayers } from "../../steer/detect.js";
import { SteerError } from "../../steer/errors.js";
import { usesChat } from "../../steer/render.js";
import { DETECTOR_POOLINGS, type DetectorPooling } from "../../steer/types.js";
import { Rng } from "../../util/random.js";
import {
  checkOutputPath,
  type DataOpts,
  loadData,
  loadModel,
  type ModelOpts,
  parseLayers,
  positiveInt,
  withDataOptions,
  withModelOptions,
} from "../options.js";
import { interruptSignal, progressBar } from "../progress.js";

interface DetectorCliOptions extends ModelOpts, DataOpts {
  bundle: string;
  data: string[];
  safe?: string;
  site: string;
  layers: string;
  pooling: DetectorPooling;
  falseAlarms: number;
  shrinkage: number;
  joinLayers?: boolean;
  chat: "auto" | "always" | "never";
  force?: boolean;
  output: string;
  maxPerCategory?: number;
  maxSafe?: number;
  seed: number;
}

/** A seeded sample of at most n examples per key (all when n is undefined), in their original order. */
function sample<T>(xs: T[], n: number | undefined, key: (x: T) => string, rng: Rng): T[] {
  if (n === undefined) return xs;
  const byKey = new Map<string, T[]>();
  for (const x of xs) {
    const g = byKey.get(key(x));
    if (g) g.push(x);
    else byKey.set(key(x), [x]);
  }
  const kept = new Set([...byKey.values()].flatMap((g) => rng.shuffled(g).slice(0, n)));
  return xs.filter((x) => kept.has(x));
}

function parseShare(v: string): number {
  const x = Number(v);
  if (!(x > 0 && x < 1)) throw new SafeSteerError("usage", `--false-alarms must be a share between 0 and 1 (e.g. 0.05), not "${v}"`);
  return x;
}

// `safesteer detector`: calibrates the category detector that conditional steering uses and
// stores it in a bundle (a copy: the input bundle is not changed).
export function detectorCommand(program: Command): void {
  withDataOptions(
    withModelOptions(
      program.command("detector").description("calibrate the category detector for conditional steering and add it to a bundle"),
      true,
    ),
  )
    .requiredOption("--bundle <file>", "bundle to add the detector to")
    .requiredOption("--data <files...>", "prompts: unsafe ones with a category, safe ones (benign, look-alikes) as negatives")
    .option("--safe <file>", "extra safe prompts (default when --data has none: harmless_alpaca.json from the data folder)")
    .option("--site <site>", KNOWN_SITES.join(" | "), "resid_post")
    .option("--layers <list>", "candidate layers: all | 3 | 0,2,4 | 1-3 (the best on a held-out quarter is used)", "all")
    .addOption(
      new Option("--pooling <how>", "a prompt as the mean of its token activations or its last token")
        .choices([...DETECTOR_POOLINGS])
        .default("mean"),
    )
    .addOption(
      new Option("--false-alarms <share>", "share of held-out safe prompts allowed to fire any category")
        .default(0.05)
        .argParser(parseShare),
    )
    .addOption(
      new Option("--shrinkage <s>", "covariance shrinkage of the discriminant directions (large: plain mean difference)")
        .default(DEFAULT_SHRINKAGE)
        .argParser(Number),
    )
    .option("--join-layers", "also try the candidate layers' activations joined into one feature (bundle format 2)")
    .addOption(new Option("--chat <mode>", "render with the chat template").choices(["auto", "always", "never"]).default("auto"))
    .option(
      "--max-per-category <n>",
      "at most n unsafe prompts per category (a seeded sample; default: all)",
      positiveInt("--max-per-category"),
    )
    .option("--max-safe <n>", "at most n safe prompts (a seeded sample; default: all)", positiveInt("--max-safe"))
    .option("--seed <n>", "seed of those samples", positiveInt("--seed"), 1)
    .option("--force", "accept a bundle made for another file of the same shape")
    .requiredOption("-o, --output <bundle>", "bundle file to write (with the detector)")
    .action(async (o: DetectorCliOptions) => {
      checkOutputPath(o.output);
      const examples = o.data.flatMap((p) => loadData(p, o).examples);
      let harmful = examples.filter((e) => e.label === "unsafe" && e.category);
      let safe = examples.filter((e) => e.label === "safe");
      if (o.safe || safe.length === 0)
        safe = [...safe, ...loadDataset(o.safe ?? dataFile("harmless_alpaca.json"), { strict: o.strict }).examples];
      // a large set (catqa + harmless_alpaca: 6,814 prompts) decodes for long: sample it down on request
      const rng = new Rng(o.seed);
      harmful = sample(harmful, o.maxPerCategory, (e) => e.category as string, rng);
      safe = sample(safe, o.maxSafe, () => "", rng);
      if (o.maxPerCategory !== undefined || o.maxSafe !== undefined)
        process.stderr.write(`sampled ${harmful.length} unsafe and ${safe.length} safe prompts (seed ${o.seed})\n`);
      if (harmful.length === 0)
        throw new SteerError("not_enough_data", "no unsafe prompt with a category in --data: the detector needs them to learn categories.");
      const bundle = readBundle(o.bundle);
      const model = loadModel(o);
      checkBundleModel(bundle, await model.fingerprint(), { force: o.force });
      const unknown = [...new Set(harmful.map((e) => e.category as string))].filter((c) => !bundle.categories.has(c));
      if (unknown.length)
        process.stderr.write(`warning: categories without a vector in the bundle (detected but never steered): ${unknown.join(", ")}\n`);
      const ctx = new Context(model, { nCtx: o.ctx ?? 1024, nSeq: 8, nBatch: 512 });
      const bar = progressBar("calibrating the detector");
      const { signal, dispose } = interruptSignal();
      try {
        const { detector, layers, byLayer } = await calibrateDetector(ctx, harmful, safe, {
          layers: parseLayers(o.layers, model.info.nLayer),
          site: o.site,
          reduce: o.pooling,
          falseAlarms: o.falseAlarms,
          shrinkage: o.shrinkage,
          join: o.joinLayers,
          chat: usesChat(model, o.chat),
          signal,
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        writeBundle(o.output, { ...bundle, detector });
        process.stdout.write(
          `detector: ${o.pooling} projection at ${describeLayers(layers)}; held-out harmful prompts named at ${o.falseAlarms * 100}% false alarms: ${byLayer
            .map((b) => `${describeLayers(b.layers ?? [b.layer])} ${(b.score * 100).toFixed(1)}%`)
            .join(", ")}\n`,
        );
        process.stderr.write(`wrote ${o.output}\n`);
      } finally {
        bar.stop();
        dispose();
        ctx.dispose();
        model.dispose();
      }
    });
}
