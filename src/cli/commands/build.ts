import { type Command, Option } from "commander";
import type { Dataset } from "../../data/example.js";
import { KNOWN_SITES } from "../../engine/sites.js";
import { buildBundle } from "../../steer/build.js";
import { writeBundle } from "../../steer/bundle.js";
import { VECTOR_REDUCES, type VectorReduce } from "../../steer/types.js";
import {
  type ExampleCliOptions,
  genericSafeSet,
  lacksOwnSafe,
  sampleOptions,
  wantedCategories,
  withCollection,
  withExampleFiles,
  withSampleOptions,
} from "../example-options.js";
import { checkOutputPath, loadData, type ModelOpts, parseLayers, withDataOptions, withModelOptions } from "../options.js";
import { printInspect } from "./inspect.js";

interface BuildCliOptions extends ModelOpts, ExampleCliOptions {
  site: string;
  layers: string;
  reduce: VectorReduce;
  prune: string;
  chat: "auto" | "always" | "never";
  output: string;
}

export function buildCommand(program: Command): void {
  const cmd = withExampleFiles(
    withDataOptions(withModelOptions(program.command("build").description("build per-category steering vectors into a bundle"), true)),
  )
    .option("--site <site>", KNOWN_SITES.join(" | "), "resid_post")
    .option("--layers <list>", "auto | all | 3 | 0,2,4 | 1-3 (auto: best held-out separability per category)", "auto")
    .addOption(
      new Option("--reduce <how>", "token reduction (answer: mean over the rows that predict the response)")
        .choices([...VECTOR_REDUCES])
        .default("mean"),
    )
    .option("--prune <fraction|off>", "kept fraction of unsafe examples by difference norm (0.5: at or above the median)", "0.5");
  withSampleOptions(cmd, "for separability")
    .addOption(new Option("--chat <mode>", "render with the chat template").choices(["auto", "always", "never"]).default("auto"))
    .requiredOption("-o, --output <bundle>", "bundle file to write")
    .action(async (o: BuildCliOptions) => {
      checkOutputPath(o.output); // before minutes of collection, not after
      const datasets: Dataset[] = o.data.map((p) => loadData(p, o));
      // the generic safe set only when --safe names one or a category has no safe examples of its own
      const examples = datasets.flatMap((d) => d.examples);
      const safe = genericSafeSet(o, lacksOwnSafe(examples, wantedCategories(examples, o.categories)));
      await withCollection(o, async (model, ctx, signal, bar) => {
        const bundle = await buildBundle(ctx, datasets, safe, {
          ...sampleOptions(o),
          site: o.site,
          layers: o.layers === "auto" ? "auto" : parseLayers(o.layers, model.info.nLayer),
          reduce: o.reduce,
          prune: o.prune === "off" ? "off" : Number(o.prune),
          chat: o.chat,
          signal,
          onProgress: (d, t, tok) => bar.update(d, t, tok),
        });
        bar.stop();
        writeBundle(o.output, bundle);
        process.stderr.write(`wrote ${o.output}\n`);
        printInspect(bundle, false);
      });
    });
}
