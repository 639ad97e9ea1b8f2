import type { Command } from "commander";
import { loadModel } from "../options.js";

export function infoCommand(program: Command): void {
  program
    .command("info")
    .description("show a model's metadata")
    .argument("<model>", "model file (GGUF)")
    .option("--json", "print JSON")
    .option("-v, --verbose", "show llama.cpp's log")
    .action(async (path: string, o: { json?: boolean; verbose?: boolean }) => {
      const model = loadModel({ model: path, verbose: o.verbose });
      try {
        const info = { ...model.info, fingerprint: await model.fingerprint(), steerable: await model.supportsControlVectors() };
        if (o.json) {
          process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
          return;
        }
        for (const [k, v] of Object.entries(info)) {
          const text = typeof v === "object" ? JSON.stringify(v) : String(v);
          process.stdout.write(`${k.padEnd(14)} ${k === "chatTemplate" && text.length > 80 ? `${text.slice(0, 77)}...` : text}\n`);
        }
      } finally {
        model.dispose();
      }
    });
}
