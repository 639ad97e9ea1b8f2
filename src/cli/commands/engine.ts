// `safesteer engine build`: compile llama.cpp for this machine (native CPU flags, OpenMP, a GPU backend,
// optionally the RPC backend and llama.cpp's own programs); `safesteer engine list`: the builds in the
// per-user cache; `safesteer engine info`: the build the engine loads, and its programs.
import { type Command, Option } from "commander";
import {
  BUILD_GPUS,
  type BuildGpu,
  buildEngine,
  buildsRoot,
  findUserBuild,
  LLAMA_CPP_TAG,
  listUserBuilds,
  NODE_LLAMA_CPP_PACKAGE,
  NODE_LLAMA_CPP_VERSION,
} from "../../engine-build/index.js";
import { positiveInt } from "../options.js";
import { progressBar } from "../progress.js";
import { engineInfoCommand } from "./engine-info.js";

interface BuildCliOptions {
  gpu: BuildGpu;
  jobs?: number;
  source?: string;
  tools?: boolean;
  rpc?: boolean;
  cmakeDefine?: string[];
  verbose?: boolean;
}

/** cmake's lines as a progress bar (ninja: "[12/340] Building ..."; make: "[ 12%] Building ..."), or all of them. */
function outputSink(verbose: boolean | undefined, say: (s: string) => void) {
  const bar = verbose ? undefined : progressBar("compiling");
  const onOutput = (line: string) => {
    if (verbose) {
      say(line);
      return;
    }
    const n = /^\[(\d+)\/(\d+)\]/.exec(line);
    if (n) bar?.update(Number(n[1]), Number(n[2]));
    const p = /^\[\s*(\d+)%\]/.exec(line);
    if (p) bar?.update(Number(p[1]), 100);
  };
  return { onOutput, stop: () => bar?.stop() };
}

async function buildAction(o: BuildCliOptions): Promise<void> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const sink = outputSink(o.verbose, say);
  try {
    const r = await buildEngine({
      gpu: o.gpu,
      jobs: o.jobs,
      source: o.source,
      tools: o.tools,
      rpc: o.rpc,
      cmakeDefines: o.cmakeDefine,
      log: say,
      onOutput: sink.onOutput,
    });
    sink.stop();
    const rec = r.record;
    say(
      `built llama.cpp ${LLAMA_CPP_TAG} for ${rec.gpu} in ${rec.seconds} s (${rec.compiler}, OpenMP ${rec.openmp ? "on" : "off"}, native CPU flags, RPC backend ${rec.rpc ? "on" : "off"})`,
    );
    say(`libraries${rec.tools.length ? ` and ${rec.tools.join(", ")}` : ""}: ${r.libDir}`);
    say(
      r.evalFilter.ok
        ? `native eval filter (hooks call JavaScript only for the nodes they use): ${r.evalFilter.path}`
        : `native eval filter not compiled (${r.evalFilter.reason}): hooks call JavaScript for every graph node`,
    );
    say(
      `the engine now loads this build for --gpu ${rec.gpu}${rec.gpu === "cpu" ? " (the default)" : ""}; --llama-lib / SAFESTEER_LLAMA_LIB still win, and SAFESTEER_NO_ENGINE_BUILD=1 ignores it.`,
    );
  } finally {
    sink.stop();
  }
}

function listAction(o: { json?: boolean }): void {
  const builds = listUserBuilds();
  const loads = Object.fromEntries(BUILD_GPUS.map((g) => [g, findUserBuild(g)?.libDir ?? "the prebuilt npm package, when installed"]));
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ root: buildsRoot(), builds, loads }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`builds in ${buildsRoot()}:\n`);
  if (builds.length === 0) process.stdout.write("  none (safesteer engine build makes one)\n");
  for (const b of builds) {
    const r = b.record;
    process.stdout.write(
      `  ${r.key}  ${r.gpu}, ${r.compiler}, OpenMP ${r.openmp ? "on" : "off"}, RPC ${r.rpc ? "on" : "off"}, built ${r.builtAt}${r.tools.length ? `, tools: ${r.tools.join(" ")}` : ""}${b.here ? "" : "  (for another machine: not used here)"}\n`,
    );
  }
  process.stdout.write("the engine loads (unless --llama-lib or SAFESTEER_LLAMA_LIB names a folder):\n");
  for (const [g, dir] of Object.entries(loads)) process.stdout.write(`  --gpu ${g.padEnd(7)} ${dir}\n`);
}

export function engineCommand(program: Command): void {
  const engine = program.command("engine").description(`build llama.cpp ${LLAMA_CPP_TAG} for this machine, and list the builds`);
  engine
    .command("build")
    .description(
      `compile llama.cpp ${LLAMA_CPP_TAG} (the sources in ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_VERSION}) with cmake for this CPU (and GPU); the engine then loads it instead of the prebuilt package`,
    )
    .addOption(new Option("--gpu <backend>", "backend to build").choices([...BUILD_GPUS]).default("cpu"))
    .option("-j, --jobs <n>", "parallel compile jobs (default: all cores)", positiveInt("--jobs"))
    .option(
      "--source <path>",
      `a llama.cpp ${LLAMA_CPP_TAG} source folder, or ${NODE_LLAMA_CPP_PACKAGE}'s package folder or npm tarball (default: download it with npm pack)`,
    )
    .option(
      "--tools",
      "also build llama.cpp's own programs from the same sources: llama-server, llama-bench, llama-completion and ggml-rpc-server (rpc-server; implies --rpc)",
    )
    .option("--rpc", "build llama.cpp's RPC backend into the libraries (GGML_RPC), for --rpc host:port on model commands")
    .option("--cmake-define <KEY=VALUE...>", "extra cmake options, e.g. CMAKE_CUDA_ARCHITECTURES=90")
    .option("-v, --verbose", "show every line cmake and the compiler print")
    .action(buildAction);
  engine
    .command("list")
    .description("the llama.cpp builds in the per-user cache, and which one the engine loads for each backend")
    .option("--json", "print JSON")
    .action(listAction);
  engineInfoCommand(engine);
}
