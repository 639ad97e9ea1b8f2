import { type Command, Option } from "commander";
import { QUANT_TYPES, type QuantType } from "../../engine/gguf/file-type.js";
import { exitDuringQuantize, fileTypeName, quantizeModel } from "../../engine/quantize.js";
import { SafeSteerError } from "../../errors.js";
import { checkOutputPath, positiveInt } from "../options.js";
import { interruptSignal } from "../progress.js";

export function quantizeCommand(program: Command): void {
  program
    .command("quantize")
    .description("write a quantized copy of a model with llama.cpp's own quantizer (bundles built on the original steer it with --force)")
    .argument("<model>", "model file (GGUF, F32 or F16)")
    .addOption(new Option("--type <type>", "quantization").choices(Object.keys(QUANT_TYPES)).makeOptionMandatory())
    .option("--threads <n>", "threads (default: all cores)", positiveInt("--threads"))
    .option("-v, --verbose", "show llama.cpp's log")
    .requiredOption("-o, --output <gguf>", "quantized model to write")
    .action(async (input: string, o: { type: QuantType; threads?: number; verbose?: boolean; output: string }) => {
      checkOutputPath(o.output);
      const { signal, dispose } = interruptSignal();
      try {
        const { bytes } = await quantizeModel(input, o.output, { type: o.type, threads: o.threads, verbose: o.verbose, signal });
        process.stderr.write(`wrote ${o.output} (${fileTypeName(o.output)}, ${(bytes / 1e6).toFixed(2)} MB)\n`);
      } catch (e) {
        if (e instanceof SafeSteerError && e.code === "aborted") {
          // llama.cpp's quantizer cannot be stopped: exit now rather than wait for its thread
          process.stderr.write(`stopped: ${e.message}\n`);
          exitDuringQuantize(130);
        }
        throw e;
      } finally {
        dispose();
      }
    });
}
