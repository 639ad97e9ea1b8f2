// The `safesteer` command line. Each command is a thin layer over the library.
import { Command } from "commander";
import { SafeSteerError } from "../errors.js";
import { activationsCommand } from "./commands/activations.js";
import { buildCommand } from "./commands/build.js";
import { convertCommand } from "./commands/convert.js";
import { detectorCommand } from "./commands/detector.js";
import { evalCommand } from "./commands/eval.js";
import { generateCommand } from "./commands/generate.js";
import { infoCommand } from "./commands/info.js";
import { inspectCommand } from "./commands/inspect.js";
import { exportCommand, importCommand } from "./commands/interop.js";
import { likelihoodCommand } from "./commands/likelihood.js";
import { demoCommand, organismCommand } from "./commands/organism.js";

export { DEFAULT_MODEL, parseLayers } from "./options.js";

export function buildProgram(): Command {
  const program = new Command("safesteer")
    .description("Per-category safety steering for GGUF models on llama.cpp")
    .showHelpAfterError()
    .exitOverride();
  for (const add of [
    demoCommand,
    infoCommand,
    generateCommand,
    activationsCommand,
    buildCommand,
    inspectCommand,
    detectorCommand,
    evalCommand,
    likelihoodCommand,
    exportCommand,
    importCommand,
    organismCommand,
    convertCommand,
  ])
    add(program);
  return program;
}

/** Runs the CLI; returns the exit code. Errors on bad input are one clear line (exit code 2). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (typeof err.code === "string" && err.code.startsWith("commander.")) return err.exitCode ?? 1;
    if (e instanceof SafeSteerError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}
