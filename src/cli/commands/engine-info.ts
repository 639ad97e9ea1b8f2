// `safesteer engine info`: which of the user's builds the engine loads for a backend (without loading
// it), whether it has llama.cpp's RPC backend, and the paths of llama.cpp's own programs built with it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { BUILD_GPUS, type BuildGpu, findUserBuild, LLAMA_TOOLS } from "../../engine-build/index.js";

interface ToolRow {
  name: string;
  path: string | null;
  what: string;
}

/** The build for a backend and its programs; programs not built say how to build them. */
export function engineBuildInfo(gpu: BuildGpu) {
  const build = findUserBuild(gpu);
  const tools: ToolRow[] = LLAMA_TOOLS.map((t) => {
    const file = build?.record.tools.find((f) => f === t.name || f === `${t.name}.exe`);
    const path = build && file && existsSync(join(build.libDir, file)) ? join(build.libDir, file) : null;
    return { name: t.name, path, what: t.what };
  });
  return {
    gpu,
    build: build ? { libDir: build.libDir, ...build.record } : null,
    rpc: build?.record.rpc ?? false,
    tools,
  };
}

export function engineInfoCommand(engine: Command): void {
  engine
    .command("info")
    .description("the build the engine loads for a backend, its RPC backend, and llama.cpp's programs built with it")
    .addOption(new Option("--gpu <backend>", "backend").choices([...BUILD_GPUS]).default("cpu"))
    .option("--json", "print JSON")
    .action((o: { gpu: BuildGpu; json?: boolean }) => {
      const info = engineBuildInfo(o.gpu);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return;
      }
      const out = (s: string) => process.stdout.write(`${s}\n`);
      const b = info.build;
      if (!b) {
        out(
          `--gpu ${o.gpu}: no build of yours on this machine; the engine loads the prebuilt npm package (safesteer engine build makes one).`,
        );
      } else {
        out(`--gpu ${o.gpu}: ${b.libDir}`);
        out(
          `  llama.cpp ${b.llamaCpp} (${b.source.commit?.slice(0, 10) ?? "unknown commit"}), ${b.compiler}, OpenMP ${b.openmp ? "on" : "off"}, built ${b.builtAt} in ${b.seconds} s`,
        );
        out(`  RPC backend: ${info.rpc ? "yes (--rpc host:port works)" : "no (safesteer engine build --rpc adds it)"}`);
      }
      out("llama.cpp's programs (safesteer engine build --tools):");
      for (const t of info.tools) out(`  ${t.name.padEnd(17)} ${t.path ?? "not built"}`);
    });
}
