import { existsSync, readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { ARCHITECTURE_NAMES, type ArchName } from "../../convert/architectures.js";
import { convertLlama2c } from "../../convert/llama2c.js";
import { writeRandomGguf } from "../../convert/random-model.js";
import { SafeSteerError } from "../../errors.js";
import { checkOutputPath, int, positiveInt } from "../options.js";

interface RandomOptions {
  output: string;
  arch: ArchName;
  embd: number;
  layers: number;
  heads: number;
  kvHeads?: number;
  vocab: number;
  type: "f32" | "f16";
  seed: number;
  chatTemplate?: string;
}

export function convertCommand(program: Command): void {
  const convert = program.command("convert").description("make GGUF model files");
  convert
    .command("llama2c")
    .description("convert a llama2.c checkpoint and tokenizer to GGUF")
    .argument("<checkpoint>", "llama2.c checkpoint (.bin)")
    .requiredOption("--tokenizer <file>", "llama2.c tokenizer (.bin)")
    .requiredOption("-o, --output <gguf>", "output file")
    .option("--untie-output", "write a separate output head (needed for fine-tuning the head)")
    .action((ckpt: string, o: { tokenizer: string; output: string; untieOutput?: boolean }) => {
      checkOutputPath(o.output);
      convertLlama2c(ckpt, o.tokenizer, o.output, { untieOutput: o.untieOutput });
      process.stderr.write(`wrote ${o.output}\n`);
    });
  convert
    .command("random")
    .description("write a random-weight GGUF of a supported architecture (for tests and benchmarks)")
    .requiredOption("-o, --output <gguf>", "output file")
    .addOption(
      new Option("--arch <name>", "architecture: tensor layout, metadata and special tokens of that model family")
        .choices([...ARCHITECTURE_NAMES])
        .default("llama"),
    )
    .option("--embd <n>", "width", positiveInt("--embd"), 64)
    .option("--layers <n>", "blocks", positiveInt("--layers"), 4)
    .option("--heads <n>", "attention heads", positiveInt("--heads"), 4)
    .option("--kv-heads <n>", "K/V heads (default: the architecture's grouping)", positiveInt("--kv-heads"))
    .option("--vocab <n>", "vocabulary size", positiveInt("--vocab"), 512)
    .addOption(new Option("--type <t>", "matrix type").choices(["f32", "f16"]).default("f32"))
    .option("--seed <n>", "seed", int("--seed"), 1)
    .option("--chat-template <file>", "a Jinja chat template to store as tokenizer.chat_template")
    .action((o: RandomOptions) => {
      checkOutputPath(o.output);
      if (o.chatTemplate && !existsSync(o.chatTemplate))
        throw new SafeSteerError("usage", `--chat-template: ${o.chatTemplate} does not exist.`);
      writeRandomGguf(o.output, {
        arch: o.arch,
        nEmbd: o.embd,
        nLayer: o.layers,
        nHead: o.heads,
        nHeadKv: o.kvHeads,
        nVocab: o.vocab,
        type: o.type,
        seed: o.seed,
        chatTemplate: o.chatTemplate ? readFileSync(o.chatTemplate, "utf8") : undefined,
      });
      process.stderr.write(`wrote ${o.output} (${o.arch})\n`);
    });
}
