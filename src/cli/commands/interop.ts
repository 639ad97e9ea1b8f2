import type { Command } from "commander";
import { readModelFingerprint } from "../../engine/fingerprint.js";
import { readBundle, writeBundle } from "../../steer/bundle.js";
import { exportCategory, importControlVectors } from "../../steer/interop.js";
import { checkOutputPath, num } from "../options.js";

export function exportCommand(program: Command): void {
  program
    .command("export")
    .description("write one category as a llama.cpp control-vector GGUF")
    .requiredOption("--bundle <file>", "bundle")
    .requiredOption("--category <id>", "category to export")
    .option("--strength <s>", "bake this strength in (default: the bundle's recommended strength)", num("--strength"))
    .option("--raw-strength", "the strength multiplies the raw vector")
    .requiredOption("-o, --output <gguf>", "control-vector file")
    .action((o: { bundle: string; category: string; strength?: number; rawStrength?: boolean; output: string }) => {
      checkOutputPath(o.output);
      const cv = exportCategory(readBundle(o.bundle), o.category, o.output, { strength: o.strength, raw: o.rawStrength });
      process.stderr.write(
        `wrote ${o.output} (layers ${[...cv.directions.keys()].join(",")}); use it with llama.cpp's --control-vector ${o.output}\n`,
      );
    });
}

export function importCommand(program: Command): void {
  program
    .command("import")
    .description("read llama.cpp / repeng control-vector files into a bundle (one category per file)")
    .argument("<files...>", "control-vector GGUF files")
    .requiredOption("-m, --model <gguf>", "the model the vectors are for (its fingerprint goes into the bundle)")
    .option("--category <names...>", "category names, in file order (default: the file names)")
    .requiredOption("-o, --output <bundle>", "bundle to write")
    .action(async (files: string[], o: { model: string; category?: string[]; output: string }) => {
      checkOutputPath(o.output);
      // the header names the model: no need to load llama.cpp for an import
      const bundle = importControlVectors(files, await readModelFingerprint(o.model), o.category);
      writeBundle(o.output, bundle);
      process.stderr.write(
        `wrote ${o.output} with ${[...bundle.categories.keys()].join(", ")}; steer with --raw-strength (strength 1 = the file as is)\n`,
      );
    });
}
