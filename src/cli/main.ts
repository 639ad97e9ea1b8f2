// The `safesteer` command line. Each command is a thin layer over the library.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { convertLlama2c } from "../engine/convert/llama2c.js";
import { writeRandomLlamaGguf } from "../engine/convert/random-model.js";
import { EngineError } from "../engine/errors.js";
import { generateStream } from "../engine/generate.js";
import { KNOWN_SITES, type Reduction } from "../engine/hooks.js";
import { Model } from "../engine/model.js";
import { SafeSteerError } from "../errors.js";
import { setVerbosity } from "../util/logger.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The model `generate` uses when none is given: stories260K converted by this project. */
export const DEFAULT_MODEL = join(ROOT, "models", "stories260K.gguf");

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}".`);
    return n;
  };
}
function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}".`);
    return n;
  };
}

/** "all", "3", "0,2,4" or "1-3" -> layer indices (checked against the model later). */
export function parseLayers(spec: string, nLayer: number): number[] {
  if (spec === "all") return Array.from({ length: nLayer }, (_, i) => i);
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new EngineError("bad_layer", `cannot read layer list "${spec}": use all, 3, 0,2,4 or 1-3.`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let l = a; l <= b; l++) out.push(l);
  }
  return out;
}

interface ModelOpts {
  model?: string;
  threads?: number;
  ctx?: number;
  gpu?: "cpu" | "cuda" | "vulkan" | "auto";
  gpuLayers?: number;
  verbose?: boolean;
}

function withModelOptions(cmd: Command, required: boolean): Command {
  return cmd
    .addOption(
      required
        ? new Option("-m, --model <gguf>", "model file (GGUF)").makeOptionMandatory()
        : new Option("-m, --model <gguf>", "model file (GGUF)").default(DEFAULT_MODEL, "the embedded stories260K"),
    )
    .option("--threads <n>", "CPU threads (default: 1 for models under 50M parameters, else all cores)", int("--threads"))
    .option("--ctx <n>", "context size in tokens", int("--ctx"))
    .addOption(new Option("--gpu <backend>", "compute backend").choices(["cpu", "cuda", "vulkan", "auto"]).default("cpu"))
    .option("--gpu-layers <n>", "layers to offload to the GPU", int("--gpu-layers"))
    .option("-v, --verbose", "show llama.cpp's log");
}

function loadModel(o: ModelOpts): Model {
  if (o.verbose) setVerbosity("verbose");
  if (!o.model) throw new EngineError("bad_argument", "no model given: pass --model <file.gguf>.");
  if (o.model === DEFAULT_MODEL && !existsSync(DEFAULT_MODEL)) {
    throw new EngineError("model_not_found", `the embedded model ${DEFAULT_MODEL} is missing; pass --model <file.gguf>.`);
  }
  return Model.load(o.model, { threads: o.threads, gpu: o.gpu, gpuLayers: o.gpuLayers, verbose: o.verbose });
}

export function buildProgram(): Command {
  const program = new Command("safesteer")
    .description("Per-category safety steering for GGUF models on llama.cpp")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("info")
    .description("show a model's metadata")
    .argument("<model>", "model file (GGUF)")
    .option("--json", "print JSON")
    .option("-v, --verbose", "show llama.cpp's log")
    .action(async (path: string, o: { json?: boolean; verbose?: boolean }) => {
      const model = loadModel({ model: path, verbose: o.verbose });
      const info = { ...model.info, fingerprint: await model.fingerprint(), steerable: await model.supportsControlVectors() };
      if (o.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      else {
        for (const [k, v] of Object.entries(info)) {
          const text = typeof v === "object" ? JSON.stringify(v) : String(v);
          process.stdout.write(`${k.padEnd(14)} ${k === "chatTemplate" && text.length > 80 ? `${text.slice(0, 77)}...` : text}\n`);
        }
      }
      model.dispose();
    });

  withModelOptions(program.command("generate").description("generate text (on stdout)"), false)
    .option("-p, --prompt <text>", "prompt (default: empty, i.e. BOS only)", "")
    .option("--chat", "wrap the prompt in the model's chat template as a user message")
    .option("-n, --max-tokens <n>", "tokens to generate at most", int("--max-tokens"), 256)
    .option("-t, --temperature <t>", "0 = greedy", num("--temperature"), 0.8)
    .option("--top-k <k>", "top-k (0 = off)", int("--top-k"), 40)
    .option("--top-p <p>", "nucleus sampling (1 = off)", num("--top-p"), 0.95)
    .option("--min-p <p>", "min-p (0 = off)", num("--min-p"), 0.05)
    .option("-s, --seed <n>", "sampling seed", int("--seed"), 0)
    .option("--stop <text...>", "stop strings")
    .action(async (o: ModelOpts & Record<string, any>) => {
      const model = loadModel(o);
      const ctx = model.createContext({ nCtx: o.ctx, hooks: false });
      const text = o.chat ? model.applyChatTemplate([{ role: "user", content: o.prompt }]) : o.prompt;
      const tokens = model.tokenize(text, { parseSpecial: Boolean(o.chat) });
      const abort = new AbortController();
      const onSig = () => abort.abort();
      process.once("SIGINT", onSig);
      try {
        for await (const e of generateStream(ctx, [tokens], {
          maxTokens: o.maxTokens,
          temperature: o.temperature,
          topK: o.topK,
          topP: o.topP,
          minP: o.minP,
          seed: o.seed,
          stop: o.stop,
          signal: abort.signal,
        })) {
          if (e.type === "token") process.stdout.write(e.text);
        }
        process.stdout.write("\n");
      } finally {
        process.off("SIGINT", onSig);
        ctx.dispose();
        model.dispose();
      }
    });

  withModelOptions(program.command("activations").description("print activations of a text at a site and layers"), true)
    .requiredOption("--text <text>", "text to run")
    .option("--site <site>", `${KNOWN_SITES.join(" | ")} | a raw llama.cpp tensor name`, "resid_post")
    .option("--layers <list>", "all | 3 | 0,2,4 | 1-3", "all")
    .addOption(new Option("--reduce <how>", "reduction over tokens").choices(["mean", "last", "sum", "none"]).default("mean"))
    .option("--chat", "wrap the text in the model's chat template")
    .option("--json", "print JSON (the only format)", true)
    .action(async (o: ModelOpts & Record<string, any>) => {
      const model = loadModel(o);
      const layers = parseLayers(o.layers, model.info.nLayer);
      const ctx = model.createContext({ nCtx: o.ctx });
      try {
        const text = o.chat ? model.applyChatTemplate([{ role: "user", content: o.text }]) : o.text;
        const tokens = model.tokenize(text, { parseSpecial: Boolean(o.chat) });
        const { capture } = await ctx.evaluate([tokens], {
          capture: { site: o.site, layers, reduce: o.reduce as Reduction },
          logits: "none",
        });
        const out: Record<string, number[] | number[][]> = {};
        for (const l of layers) {
          out[String(l)] = o.reduce === "none" ? capture!.rows(0, l).map((r) => Array.from(r)) : Array.from(capture!.reduced(0, l));
        }
        process.stdout.write(`${JSON.stringify({ model: model.info.path, site: o.site, tokens, layers: out })}\n`);
      } finally {
        ctx.dispose();
        model.dispose();
      }
    });

  const convert = program.command("convert").description("make GGUF model files");
  convert
    .command("llama2c")
    .description("convert a llama2.c checkpoint and tokenizer to GGUF")
    .argument("<checkpoint>", "llama2.c checkpoint (.bin)")
    .requiredOption("--tokenizer <file>", "llama2.c tokenizer (.bin)")
    .requiredOption("-o, --output <gguf>", "output file")
    .option("--untie-output", "write a separate output head (needed for fine-tuning the head)")
    .action((ckpt: string, o: { tokenizer: string; output: string; untieOutput?: boolean }) => {
      convertLlama2c(ckpt, o.tokenizer, o.output, { untieOutput: o.untieOutput });
      process.stderr.write(`wrote ${o.output}\n`);
    });
  convert
    .command("random")
    .description("write a random-weight llama GGUF (for tests and benchmarks)")
    .requiredOption("-o, --output <gguf>", "output file")
    .option("--embd <n>", "width", int("--embd"), 64)
    .option("--layers <n>", "blocks", int("--layers"), 4)
    .option("--heads <n>", "attention heads", int("--heads"), 4)
    .option("--vocab <n>", "vocabulary size", int("--vocab"), 512)
    .addOption(new Option("--type <t>", "matrix type").choices(["f32", "f16"]).default("f32"))
    .option("--seed <n>", "seed", int("--seed"), 1)
    .action((o: Record<string, any>) => {
      writeRandomLlamaGguf(o.output, { nEmbd: o.embd, nLayer: o.layers, nHead: o.heads, nVocab: o.vocab, type: o.type, seed: o.seed });
      process.stderr.write(`wrote ${o.output}\n`);
    });
  return program;
}

/** Runs the CLI; returns the exit code. Errors are printed as one clear line. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === "string" && err.code.startsWith("commander.")) return err.exitCode ?? 1;
    if (e instanceof SafeSteerError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}
