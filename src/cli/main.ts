// The `safesteer` command line. Each command is a thin layer over the library.
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { SafeSteerError } from "../errors.js";
import { activationsCommand } from "./commands/activations.js";
import { buildCommand } from "./commands/build.js";
import { convertCommand } from "./commands/convert.js";
import { dataCommand } from "./commands/data.js";
import { detectorCommand } from "./commands/detector.js";
import { engineCommand } from "./commands/engine.js";
import { evalCommand } from "./commands/eval.js";
import { generateCommand } from "./commands/generate.js";
import { infoCommand } from "./commands/info.js";
import { inspectCommand } from "./commands/inspect.js";
import { exportCommand, importCommand } from "./commands/interop.js";
import { likelihoodCommand } from "./commands/likelihood.js";
import { neuronsCommand } from "./commands/neurons.js";
import { demoCommand, organismCommand } from "./commands/organism.js";
import { quantizeCommand } from "./commands/quantize.js";
import { reportCommand } from "./commands/report.js";
import { serveCommand } from "./commands/serve.js";

/** The package's version (package.json sits two folders above src/cli and dist/cli). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command("safesteer")
    .description("Per-category safety steering for GGUF models on llama.cpp")
    .version(packageVersion(), "-V, --version", "print the version")
    .showHelpAfterError("(see safesteer --help)")
    .exitOverride();
  for (const add of [
    demoCommand,
    infoCommand,
    generateCommand,
    activationsCommand,
    buildCommand,
    neuronsCommand,
    inspectCommand,
    detectorCommand,
    evalCommand,
    reportCommand,
    likelihoodCommand,
    exportCommand,
    importCommand,
    organismCommand,
    convertCommand,
    quantizeCommand,
    dataCommand,
    engineCommand,
    serveCommand,
  ])
    add(program);
  return program;
}

/** Where an internal fault's stack trace goes (the user sees one line naming this file). */
function writeFaultLog(e: unknown): string | undefined {
  const path = join(tmpdir(), `safesteer-fault-${process.pid}.log`);
  try {
    writeFileSync(path, `${new Date().toISOString()} safesteer ${process.argv.slice(2).join(" ")}\n${(e as Error)?.stack ?? String(e)}\n`);
    return path;
  } catch {
    return undefined;
  }
}

/**
 * Runs the CLI; returns the exit code: 0, 2 for bad input (one line: the problem and the fix),
 * 130 when stopped by Ctrl-C, 1 for an internal fault (one line; the trace goes to a log file).
 */
export async function main(argv: string[]): Promise<number> {
  // a reader that goes away (safesteer info | head) ends the output, not the program with a trace
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === "string" && err.code.startsWith("commander.")) {
      // help and version print and exit 0; a usage error was printed by commander as one line
      return err.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof SafeSteerError) {
      if (e.code === "aborted") {
        process.stderr.write(`stopped: ${e.message}\n`);
        return 130;
      }
      if (!e.internal) {
        process.stderr.write(`error: ${e.message}\n`);
        return 2;
      }
    }
    const log = writeFaultLog(e);
    process.stderr.write(`internal error: ${(e as Error)?.message ?? String(e)}${log ? ` (details in ${log}; please report it)` : ""}\n`);
    return 1;
  }
}
