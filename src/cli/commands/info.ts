import type { Command } from "commander";
import { engineInfo } from "../../engine/runtime.js";
import { loadModel, type ModelOpts, withEngineOptions } from "../options.js";

export function infoCommand(program: Command): void {
  withEngineOptions(
    program
      .command("info")
      .description("show a model's metadata, and which llama.cpp build runs it")
      .argument("<model>", "model file (GGUF)")
      .option("--json", "print JSON"),
  ).action(async (path: string, o: ModelOpts & { json?: boolean }) => {
    const model = loadModel({ ...o, model: path });
    try {
      const { backend, libraryDir, custom, version, devices } = engineInfo();
      const info = {
        ...model.info,
        fingerprint: await model.fingerprint(),
        steerable: await model.supportsControlVectors(),
        engine: { llamaCpp: version, backend, libraryDir, custom, devices },
      };
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
