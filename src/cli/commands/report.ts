// `safesteer report`: results files (and bundles) as one self-contained HTML report with plots.
import type { Command } from "commander";
import { buildReport, writeReport } from "../../web/report-file.js";
import { checkOutputPath, positiveInt } from "../options.js";

interface ReportCliOptions {
  output: string;
  bundle?: string[];
  title?: string;
  examples: number;
}

export function reportCommand(program: Command): void {
  program
    .command("report")
    .description("write an HTML report with plots from results files (several compare runs); works offline")
    .argument("<results...>", "results files (-o of safesteer eval, or the demo's results.json)")
    .requiredOption("-o, --output <file>", "HTML file to write")
    .option("--bundle <files...>", "bundles to show (the bundle a results file names is added when found)")
    .option("--title <text>", "the report's title", "SafeSteer report")
    .option("--examples <n>", "example prompts per category and group, drawn at random", positiveInt("--examples"), 2)
    .action((results: string[], o: ReportCliOptions) => {
      checkOutputPath(o.output);
      const data = buildReport({ results, bundles: o.bundle, title: o.title, examplesPerGroup: o.examples });
      writeReport(o.output, data);
      process.stdout.write(
        `wrote ${o.output}: ${data.runs.length} run(s), ${data.bundles.length} bundle(s), ${data.examples.length} examples\n`,
      );
    });
}
