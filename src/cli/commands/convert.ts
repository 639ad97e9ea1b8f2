import { type Command, Option } from "commander";
import { convertLlama2c } from "../../convert/llama2c.js";
import { writeRandomLlamaGguf } from "../../convert/random-model.js";
import { checkOutputPath, int, positiveInt } from "../options.js";

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
    .description("write a random-weight llama GGUF (for tests and benchmarks)")
    .requiredOption("-o, --output <gguf>", "output file")
    .option("--embd <n>", "width", positiveInt("--embd"), 64)
    .option("--layers <n>", "blocks", positiveInt("--layers"), 4)
    .option("--heads <n>", "attention heads", positiveInt("--heads"), 4)
    .option("--vocab <n>", "vocabulary size", positiveInt("--vocab"), 512)
    .addOption(new Option("--type <t>", "matrix type").choices(["f32", "f16"]).default("f32"))
    .option("--seed <n>", "seed", int("--seed"), 1)
    .action((o: { output: string; embd: number; layers: number; heads: number; vocab: number; type: "f32" | "f16"; seed: number }) => {
      checkOutputPath(o.output);
      writeRandomLlamaGguf(o.output, { nEmbd: o.embd, nLayer: o.layers, nHead: o.heads, nVocab: o.vocab, type: o.type, seed: o.seed });
      process.stderr.write(`wrote ${o.output}\n`);
    });
}
