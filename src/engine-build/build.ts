// `safesteer engine build`: compiles the llama.cpp release that SafeSteer binds with cmake for this
// machine, into a per-user folder keyed by the release and the build's options. The loader
// (native/library.ts, through native/build-lookup.ts) prefers such a build to the prebuilt npm
// package; the ABI guard checks it like any other. No FFI here: files and child processes only.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import {
  BUILD_GPUS,
  type BuildGpu,
  type BuildRecord,
  buildKey,
  buildsRoot,
  hostCpuId,
  LLAMA_LIB,
  readBuildRecord,
  type UserBuild,
} from "../native/build-lookup.js";
import { buildEvalFilter, type EvalFilterBuild } from "../native/eval-filter-build.js";
import { LLAMA_CPP_TAG, LLAMA_CPP_VERSION } from "../native/versions.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { cacheValue, cmakeArgs, dropStaleTree } from "./cmake.js";
import { EngineBuildError } from "./errors.js";
import { discoverSource, type SourceInfo, type SourceOptions } from "./sources.js";
import { checkToolchain, runStreaming, type Toolchain } from "./toolchain.js";
import { isToolFile, LLAMA_TOOLS } from "./tools.js";

export interface EngineBuildOptions extends SourceOptions {
  gpu?: BuildGpu;
  /** Parallel compile jobs (default: all cores). */
  jobs?: number;
  /** Also build llama.cpp's own programs (llama-bench, llama-completion, llama-server, ggml-rpc-server); implies rpc. */
  tools?: boolean;
  /** llama.cpp's RPC backend (GGML_RPC) in the libraries, for `--rpc host:port`. Kept by later builds. */
  rpc?: boolean;
  /** Extra cmake -D options, passed last (e.g. CMAKE_CUDA_ARCHITECTURES=90). */
  cmakeDefines?: string[];
  /** Every line cmake prints (default: dropped; the log file keeps them). */
  onOutput?: (line: string) => void;
}

export interface EngineBuildResult extends UserBuild {
  folder: string;
  logFile: string;
  /** The native eval filter compiled against the new libraries (or why not: hooks then call JavaScript for every node). */
  evalFilter: EvalFilterBuild;
}

/** The build's folders: <cache>/llama.cpp/<key>/{bin,build,build.log}. */
interface Layout {
  key: string;
  folder: string;
  buildDir: string;
  libDir: string;
  logFile: string;
}

function layout(gpu: BuildGpu, cacheDir: string | undefined): Layout {
  const key = buildKey({ gpu });
  const folder = join(buildsRoot(cacheDir), key);
  return { key, folder, buildDir: join(folder, "build"), libDir: join(folder, "bin"), logFile: join(folder, "build.log") };
}

function checkOptions(opts: EngineBuildOptions): { gpu: BuildGpu; jobs: number } {
  const gpu = opts.gpu ?? "cpu";
  if (!BUILD_GPUS.includes(gpu)) throw new EngineBuildError("usage", `unknown --gpu ${gpu}: choose cpu, cuda, vulkan or metal.`);
  const jobs = opts.jobs ?? availableParallelism();
  if (!Number.isInteger(jobs) || jobs < 1) throw new EngineBuildError("usage", `--jobs must be a whole number of at least 1, got ${jobs}.`);
  return { gpu, jobs };
}

/** Runs cmake once; a failure names its most telling line and the log file. */
async function cmakeStep(what: string, args: string[], tools: Toolchain, at: Layout, opts: EngineBuildOptions) {
  opts.log?.(what);
  const r = await runStreaming(tools.cmake, args, { env: opts.env ?? process.env, logFile: at.logFile, onOutput: opts.onOutput });
  if (r.code !== 0) {
    const err =
      r.tail.filter((l) => /error|Error|ERROR|not found|NOTFOUND/.test(l)).slice(-1)[0] ?? r.tail.filter(Boolean).slice(-1)[0] ?? "";
    throw new EngineBuildError("build_failed", `${what} failed (exit ${r.code}): ${err.trim().slice(0, 300)} (every line: ${at.logFile})`);
  }
}

/**
 * bin/: the libraries (and, with tools, the programs) copied from the cmake tree (links kept) and
 * swapped in whole. Tools of an earlier build stay when this one builds none.
 */
function installBin(at: Layout, withTools: boolean): void {
  const built = [join(at.buildDir, "bin"), join(at.buildDir, "bin", "Release")].find(
    (d) => existsSync(d) && readdirSync(d).some((f) => LLAMA_LIB.test(f)),
  );
  if (!built)
    throw new EngineBuildError(
      "build_failed",
      `the build finished but wrote no libllama under ${join(at.buildDir, "bin")} (every line: ${at.logFile}).`,
    );
  const next = `${at.libDir}.new-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  mkdirSync(next);
  const wanted = (f: string) => /\.(so|dylib|dll)(\.[\d.]+)?$/.test(f) || (withTools && isToolFile(f));
  for (const f of readdirSync(built)) if (wanted(f)) cpSync(join(built, f), join(next, f), { verbatimSymlinks: true });
  if (!withTools && existsSync(at.libDir)) {
    for (const f of readdirSync(at.libDir))
      if (!existsSync(join(next, f))) cpSync(join(at.libDir, f), join(next, f), { verbatimSymlinks: true });
  }
  const old = `${at.libDir}.old-${process.pid}`;
  if (existsSync(at.libDir)) renameSync(at.libDir, old);
  renameSync(next, at.libDir);
  rmSync(old, { recursive: true, force: true });
}

interface RecordInput {
  at: Layout;
  gpu: BuildGpu;
  rpc: boolean;
  generator: string;
  source: SourceInfo;
  args: string[];
  started: number;
}

/** build.json, written last: until then the loader does not see the build. */
function writeRecord(r: RecordInput): BuildRecord {
  const cache = readFileSync(join(r.at.buildDir, "CMakeCache.txt"), "utf8");
  const compilerLine = /The CXX compiler identification is (.*)/.exec(readFileSync(r.at.logFile, "utf8"))?.[1]?.trim();
  const record: BuildRecord = {
    key: r.at.key,
    llamaCpp: LLAMA_CPP_VERSION,
    gpu: r.gpu,
    platform: process.platform,
    arch: process.arch,
    cpu: hostCpuId(),
    native: true,
    openmp: cacheValue(cache, "GGML_OPENMP_ENABLED") === "ON",
    rpc: r.rpc,
    compiler: compilerLine ?? cacheValue(cache, "CMAKE_CXX_COMPILER") ?? "unknown",
    generator: r.generator,
    source: { ...r.source },
    cmakeArgs: r.args,
    tools: readdirSync(r.at.libDir).filter(isToolFile).sort(),
    builtAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - r.started) / 1000),
  };
  writeFileAtomic(join(r.at.folder, "build.json"), [`${JSON.stringify(record, null, 2)}\n`]);
  return record;
}

/**
 * Builds llama.cpp for this machine into <cache>/llama.cpp/<key>/ (bin/ holds the libraries and, with
 * `tools`, llama.cpp's own programs; build/ the cmake tree, kept for quick rebuilds; build.log every
 * line of output). What an earlier build turned on (the RPC backend, llama-server) stays on, so a
 * plain rebuild never takes a program's library away.
 */
export async function buildEngine(opts: EngineBuildOptions = {}): Promise<EngineBuildResult> {
  const env = opts.env ?? process.env;
  const { gpu, jobs } = checkOptions(opts);
  const tools = checkToolchain(gpu, env);
  const source = discoverSource({ ...opts, env });
  const started = Date.now();
  const at = layout(gpu, opts.cacheDir);
  mkdirSync(at.folder, { recursive: true });
  rmSync(at.logFile, { force: true });
  const before = readBuildRecord(at.folder);
  const rpc = Boolean(opts.tools || opts.rpc || before?.rpc);
  const server = Boolean(opts.tools || before?.tools.includes("llama-server"));
  dropStaleTree(at.buildDir, source.dir, Boolean(tools.ninja));
  const args = cmakeArgs(gpu, { ninja: Boolean(tools.ninja), nvcc: tools.nvcc, defines: opts.cmakeDefines, rpc, server });
  const what = `llama.cpp ${LLAMA_CPP_TAG} (${gpu}, native CPU flags${rpc ? ", RPC backend" : ""})`;
  await cmakeStep(`configuring ${what} in ${at.buildDir}`, ["-S", source.dir, "-B", at.buildDir, ...args], tools, at, opts);
  const targets = ["llama", ...(opts.tools ? LLAMA_TOOLS.filter((t) => !t.needsRpc || rpc).map((t) => t.name) : [])];
  await cmakeStep(
    `compiling ${targets.join(", ")} with ${jobs} jobs (the library alone takes about 10 minutes on 2 cores, the tools as long again)`,
    ["--build", at.buildDir, "--config", "Release", "--parallel", String(jobs), "--target", ...targets],
    tools,
    at,
    opts,
  );
  installBin(at, Boolean(opts.tools));
  const generator = tools.ninja ? "Ninja" : "default";
  const record = writeRecord({ at, gpu, rpc, generator, source, args, started });
  // the loader would compile it on first use: now, while a compiler is known to be here
  const evalFilter = buildEvalFilter(at.libDir, { cacheDir: opts.cacheDir, env });
  return { folder: at.folder, libDir: at.libDir, record, logFile: at.logFile, evalFilter };
}
