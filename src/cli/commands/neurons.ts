import { type Command, Option } from "commander";
import type { Dataset } from "../../data/example.js";
import { writeNeurons } from "../../steer/neuron-file.js";
import type { NeuronSet } from "../../steer/neuron-types.js";
import { findNeurons } from "../../steer/neurons.js";
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
import { checkOutputPath, int, loadData, type ModelOpts, parseLayers, positiveInt, withDataOptions, withModelOptions } from "../options.js";

interface NeuronsCliOptions extends ModelOpts, ExampleCliOptions {
  layers: string;
  top: number;
  reduce: "mean" | "last";
  lens: number;
  chat: "auto" | "always" | "never";
  output: string;
}

const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? "-" : x.toFixed(d));

/** Per category: its best units with their held-out scores, what they explain, and the overlap with other categories. */
export function neuronSummary(set: NeuronSet, show = 5): string {
  const lines: string[] = [];
  for (const [c, e] of Object.entries(set.categories)) {
    const best = e.explained?.reduce((a, b) => (b.share > a.share ? b : a));
    const shared = Object.entries(set.overlap[c] ?? {})
      .filter(([o, j]) => o !== c && j > 0)
      .map(([o, j]) => `${o} ${f(j)}`);
    lines.push(
      `${c}: ${e.nUnsafe} unsafe vs ${e.nSafe} safe (${e.safeSource})${best ? `; units explain ${f(best.share * 100, 1)}% of the vector at layer ${best.layer}` : ""}${shared.length ? `; overlap ${shared.join(", ")}` : ""}`,
    );
    lines.push(
      `  ${"unit".padEnd(10)} ${"AUROC".padEnd(6)} ${"d".padEnd(6)} ${"unsafe".padEnd(8)} ${"safe".padEnd(8)} ${"best other (AUROC)".padEnd(24)} lens`,
    );
    for (const u of e.units.slice(0, show)) {
      const others = Object.entries(u.others)
        .map(([o, a]) => `${o} ${f(a)}`)
        .join(" ");
      lines.push(
        `  ${`${u.layer}:${u.index}`.padEnd(10)} ${f(u.auroc).padEnd(6)} ${f(u.effect).padEnd(6)} ${f(u.meanUnsafe, 3).padEnd(8)} ${f(u.meanSafe, 3).padEnd(8)} ${others.padEnd(24)} ${(
          u.lens ?? []
        )
          .slice(0, 4)
          .map((t) => JSON.stringify(t))
          .join(" ")}`,
      );
    }
  }
  return lines.join("\n");
}

export function neuronsCommand(program: Command): void {
  const cmd = withExampleFiles(
    withDataOptions(
      withModelOptions(program.command("neurons").description("find the MLP units (mlp_post) that carry each harm category"), true),
    ),
  )
    .option("--layers <list>", "auto | all | 3 | 0,2,4 | 1-3 (auto: every layer)", "auto")
    .option("--top <k>", "units kept per category", positiveInt("--top"), 16)
    .addOption(new Option("--reduce <how>", "token reduction").choices(["mean", "last"]).default("mean"));
  withSampleOptions(cmd, "for the scores")
    .option("--lens <n>", "tokens listed per unit by the logit lens (0: none)", int("--lens"), 8)
    .addOption(new Option("--chat <mode>", "render with the chat template").choices(["auto", "always", "never"]).default("auto"))
    .requiredOption("-o, --output <file>", "neuron file to write (JSON)")
    .action(async (o: NeuronsCliOptions) => {
      checkOutputPath(o.output); // before minutes of collection, not after
      const datasets: Dataset[] = o.data.map((p) => loadData(p, o));
      const examples = datasets.flatMap((d) => d.examples);
      // the generic safe set only when a category has no safe examples of its own and the data has no uncategorised safe ones
      const hasGeneric = examples.some((e) => e.label === "safe" && !e.category);
      const safe = genericSafeSet(o, !hasGeneric && lacksOwnSafe(examples, wantedCategories(examples, o.categories)));
      await withCollection(o, async (model, ctx, signal, bar) => {
        const set = await findNeurons(ctx, datasets, safe, {
          ...sampleOptions(o),
          layers: o.layers === "auto" ? "auto" : parseLayers(o.layers, model.info.nLayer),
          top: o.top,
          reduce: o.reduce,
          chat: o.chat,
          lensTokens: o.lens,
          signal,
          onProgress: (d, t, tok) => bar.update(d, t, tok),
        });
        bar.stop();
        writeNeurons(o.output, set);
        process.stderr.write(`wrote ${o.output}\n`);
        process.stdout.write(`${neuronSummary(set)}\n`);
      });
    });
}
