// `safesteer engine build`: compiles the llama.cpp release that SafeSteer binds (the sources that ship in
// node-llama-cpp's npm package as a git bundle) with cmake for this machine, into a per-user folder keyed
// by the release and the build's options. The loader (library.ts) prefers such a build to the prebuilt
// npm package; the ABI guard checks it like any other. No FFI here: files and child processes only.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  accessSync,
  constants,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { SafeSteerError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { userCacheDir } from "../util/cache-dir.js";

/** The llama.cpp release SafeSteer's bindings are written for, and the npm package whose sources it builds. */
export const LLAMA_CPP_TAG = "v0.4.0";
export const LLAMA_CPP_VERSION = "0.4.0";
export const NODE_LLAMA_CPP_PACKAGE = "node-llama-cpp";
export const NODE_LLAMA_CPP_PACKAGE_VERSION = "3.21.1";

export type BuildGpu = "cpu" | "cuda" | "vulkan" | "metal";
export const BUILD_GPUS: readonly BuildGpu[] = ["cpu", "cuda", "vulkan", "metal"];

export type EngineBuildErrorCode = "tool_missing" | "source_missing" | "source_invalid" | "build_failed" | "usage";

/** A build that cannot start or did not finish: one line naming the problem and the fix. */
export class EngineBuildError extends SafeSteerError<EngineBuildErrorCode> {}

// --- where builds live ------------------------------------------------------------------------------

/** The folder holding every llama.cpp build and the unpacked sources: <user cache>/llama.cpp. */
export function buildsRoot(cacheDir: string = userCacheDir()): string {
  return join(cacheDir, "llama.cpp");
}

/**
 * This machine's CPU, as far as a native build depends on it: the model name and (on Linux) a hash of
 * the instruction-set flags. A GGML_NATIVE build uses every instruction the CPU has, so a build made on
 * another CPU (a cache folder shared over the network) must not be picked up here.
 */
export function hostCpuId(): string {
  const model = (cpus()[0]?.model ?? "unknown").trim();
  if (process.platform === "linux") {
    try {
      const flags = /^flags\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
      if (flags) return `${model} [${createHash("sha256").update(flags.trim()).digest("hex").slice(0, 12)}]`;
    } catch {
      /* no /proc: the model name alone */
    }
  }
  return model;
}

export interface BuildKeyInput {
  gpu: BuildGpu;
  platform?: string;
  arch?: string;
  cpu?: string;
}

/**
 * The folder name of a build: the release, platform, architecture and backend, plus a hash of
 * everything that makes two builds differ (the CPU for native flags). Deterministic, so the loader
 * finds the build for a backend without scanning.
 */
export function buildKey(input: BuildKeyInput): string {
  const k = {
    llamaCpp: LLAMA_CPP_TAG,
    platform: input.platform ?? process.platform,
    arch: input.arch ?? process.arch,
    gpu: input.gpu,
    native: true,
    cpu: input.cpu ?? hostCpuId(),
  };
  const hash = createHash("sha256").update(JSON.stringify(k)).digest("hex").slice(0, 10);
  return `${LLAMA_CPP_TAG}-${k.platform}-${k.arch}-${k.gpu}-${hash}`;
}

/** What `engine build` writes beside the libraries (build.json): the loader reads it back. */
export interface BuildRecord {
  key: string;
  llamaCpp: string;
  gpu: BuildGpu;
  platform: string;
  arch: string;
  cpu: string;
  native: boolean;
  openmp: boolean;
  compiler: string;
  generator: string;
  source: SourceInfo;
  cmakeArgs: string[];
  tools: string[];
  builtAt: string;
  seconds: number;
}

export interface UserBuild {
  /** The folder with the libraries (and the tools, when built). */
  libDir: string;
  record: BuildRecord;
}

/** Reads a finished build's record (build.json is written last: no record, no build). */
function readRecord(folder: string): BuildRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(folder, "build.json"), "utf8")) as BuildRecord;
    return typeof r === "object" && r !== null && typeof r.key === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

const LLAMA_LIB = /^(lib)?llama(\.[a-z]+)?(\.v[\d.]+)?\.(so|dylib|dll)$/;

/** The user's own build for a backend on this machine, when one is finished (undefined: none). */
export function findUserBuild(gpu: BuildGpu, cacheDir?: string): UserBuild | undefined {
  const folder = join(buildsRoot(cacheDir), buildKey({ gpu }));
  const record = readRecord(folder);
  if (!record || record.gpu !== gpu || record.llamaCpp !== LLAMA_CPP_VERSION) return undefined;
  const libDir = join(folder, "bin");
  try {
    if (!readdirSync(libDir).some((f) => LLAMA_LIB.test(f))) return undefined;
  } catch {
    return undefined;
  }
  return { libDir, record };
}

/** Every finished build under the cache folder (any machine or backend), for `engine list`. */
export function listUserBuilds(cacheDir?: string): Array<UserBuild & { folder: string; here: boolean }> {
  const root = buildsRoot(cacheDir);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: Array<UserBuild & { folder: string; here: boolean }> = [];
  for (const name of names.sort()) {
    const folder = join(root, name);
    const record = readRecord(folder);
    if (!record) continue;
    const here = BUILD_GPUS.includes(record.gpu) && buildKey({ gpu: record.gpu }) === name;
    out.push({ folder, libDir: join(folder, "bin"), record, here });
  }
  return out;
}

// --- tools ------------------------------------------------------------------------------------------

/** The full path of an executable on PATH (PATHEXT on Windows), or undefined. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const exts = process.platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";").concat([""]) : [""];
  for (const dir of (env.PATH ?? env.Path ?? "").split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = join(dir, name + ext);
      try {
        accessSync(p, constants.X_OK);
        if (statSync(p).isFile()) return p;
      } catch {
        /* not here */
      }
    }
  }
  return undefined;
}

function requireTool(name: string, env: NodeJS.ProcessEnv, why: string, fix: string): string {
  const p = findExecutable(name, env);
  if (!p) throw new EngineBuildError("tool_missing", `${name} was not found on PATH: ${why}. ${fix}`);
  return p;
}

/** The CUDA compiler: PATH, then CUDA_PATH / CUDA_HOME, then the usual install folder. */
function findNvcc(env: NodeJS.ProcessEnv): string | undefined {
  const onPath = findExecutable("nvcc", env);
  if (onPath) return onPath;
  for (const base of [env.CUDA_PATH, env.CUDA_HOME, "/usr/local/cuda"]) {
    if (!base) continue;
    const p = findExecutable("nvcc", { ...env, PATH: join(base, "bin") });
    if (p) return p;
  }
  return undefined;
}

// --- sources ----------------------------------------------------------------------------------------

export interface SourceInfo {
  /** "tree": a llama.cpp folder used as is; "package": node-llama-cpp's git bundle, unpacked and patched. */
  kind: "tree" | "package";
  /** The llama.cpp source folder cmake configures. */
  dir: string;
  /** What the user named (a folder or tarball), or the npm package spec that was downloaded. */
  from: string;
  commit?: string;
  patches?: string[];
}

/** llama.cpp's version as its CMakeLists.txt declares it ("0.4.0"), or undefined. */
export function readSourceVersion(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, "CMakeLists.txt"), "utf8");
  } catch {
    return undefined;
  }
  const part = (p: string) => new RegExp(`set\\(LLAMA_VERSION_${p}\\s+(\\d+)\\)`).exec(text)?.[1];
  const [a, b, c] = [part("MAJOR"), part("MINOR"), part("PATCH")];
  return a !== undefined && b !== undefined && c !== undefined ? `${a}.${b}.${c}` : undefined;
}

function isLlamaTree(dir: string): boolean {
  return existsSync(join(dir, "CMakeLists.txt")) && existsSync(join(dir, "include", "llama.h")) && existsSync(join(dir, "ggml"));
}

function checkTree(dir: string, from: string): void {
  const v = readSourceVersion(dir);
  if (v !== LLAMA_CPP_VERSION) {
    throw new EngineBuildError(
      "source_invalid",
      `${from} holds llama.cpp ${v ?? "of an unknown version"}, but SafeSteer binds llama.cpp ${LLAMA_CPP_TAG}: pass the sources of ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_PACKAGE_VERSION} (or omit --source to download them).`,
    );
  }
}

/** The node-llama-cpp package root inside a folder (the folder itself, or package/ of an unpacked tarball). */
function packageRoot(dir: string): string | undefined {
  for (const d of [dir, join(dir, "package")]) if (existsSync(join(d, "llama", "gitRelease.bundle"))) return d;
  return undefined;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  // npm.cmd on Windows runs only through a shell
  const shell = process.platform === "win32" && cmd.toLowerCase().endsWith(".cmd");
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env, encoding: "utf8", maxBuffer: 64 << 20, shell });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    const err = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}: ${err}`);
  }
  return r.stdout;
}

/**
 * Unpacks node-llama-cpp's llama.cpp sources (llama/gitRelease.bundle, then llama/patches/*.diff, as
 * node-llama-cpp's own source build does) into the cache, once per package version.
 */
function unpackPackage(pkgRoot: string, from: string, cacheDir: string | undefined, env: NodeJS.ProcessEnv, log: (s: string) => void) {
  let version = "unknown";
  try {
    const pj = JSON.parse(readFileSync(join(pkgRoot, "package.json"), "utf8")) as { name?: string; version?: string };
    if (pj.name && pj.name !== NODE_LLAMA_CPP_PACKAGE) {
      throw new EngineBuildError("source_invalid", `${from} is the npm package ${pj.name}, not ${NODE_LLAMA_CPP_PACKAGE}.`);
    }
    version = pj.version ?? version;
  } catch (e) {
    if (e instanceof EngineBuildError) throw e;
    /* no package.json: a bare llama/ folder */
  }
  const git = requireTool(
    "git",
    env,
    `it unpacks the llama.cpp sources from ${NODE_LLAMA_CPP_PACKAGE}'s git bundle`,
    "Install git, or pass --source with a llama.cpp source folder.",
  );
  const dest = join(buildsRoot(cacheDir), "src", `${NODE_LLAMA_CPP_PACKAGE}-${version}`);
  const marker = join(dest, ".safesteer-source.json");
  if (existsSync(marker)) {
    const m = JSON.parse(readFileSync(marker, "utf8")) as SourceInfo;
    log(`sources: ${dest} (unpacked before from ${m.from})`);
    return { ...m, dir: dest };
  }
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`unpacking llama/gitRelease.bundle of ${NODE_LLAMA_CPP_PACKAGE}@${version} into ${dest}`);
  try {
    run(git, ["clone", "--quiet", join(pkgRoot, "llama", "gitRelease.bundle"), tmp], { env });
    const patchDir = join(pkgRoot, "llama", "patches");
    const patches = existsSync(patchDir)
      ? readdirSync(patchDir)
          .filter((f) => /\.(diff|patch)$/.test(f))
          .sort()
      : [];
    for (const p of patches) {
      log(`applying patch ${p}`);
      run(git, ["apply", join(patchDir, p)], { cwd: tmp, env });
    }
    const commit = run(git, ["rev-parse", "HEAD"], { cwd: tmp, env }).trim();
    if (!isLlamaTree(tmp)) throw new EngineBuildError("source_invalid", `${from}: the git bundle does not hold a llama.cpp source tree.`);
    checkTree(tmp, from);
    const info: SourceInfo = { kind: "package", dir: dest, from, commit, patches };
    writeFileAtomic(join(tmp, ".safesteer-source.json"), [`${JSON.stringify(info, null, 2)}\n`]);
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
    return info;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof SafeSteerError) throw e;
    throw new EngineBuildError("source_invalid", `could not unpack the llama.cpp sources from ${from}: ${(e as Error).message}`);
  }
}

/** Extracts package/package.json and package/llama of an npm tarball into a temporary folder. */
function extractTarball(file: string, env: NodeJS.ProcessEnv): string {
  const tar = requireTool("tar", env, `it unpacks ${file}`, "Install tar, or unpack the tarball yourself and pass the folder to --source.");
  const tmp = mkdtempSync(join(tmpdir(), "safesteer-llama-src-"));
  try {
    run(tar, ["-xzf", file, "-C", tmp, "package/package.json", "package/llama"], { env });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new EngineBuildError(
      "source_invalid",
      `could not unpack ${file} (${(e as Error).message}): is it the npm tarball of ${NODE_LLAMA_CPP_PACKAGE}?`,
    );
  }
  return tmp;
}

export interface SourceOptions {
  /** A llama.cpp source folder, a node-llama-cpp package folder, or its npm tarball (.tgz). */
  source?: string;
  cacheDir?: string;
  /** The environment the tools run in (PATH decides which are found). */
  env?: NodeJS.ProcessEnv;
  /** Without a source: download node-llama-cpp's tarball with `npm pack` (default true). */
  download?: boolean;
  log?: (line: string) => void;
}

/**
 * Finds the llama.cpp sources to build: --source (a llama.cpp tree used as is; a node-llama-cpp
 * package folder or tarball, whose bundle is unpacked and patched), else sources unpacked before,
 * else node-llama-cpp's tarball fetched with `npm pack` from the npm registry.
 */
export function discoverSource(opts: SourceOptions = {}): SourceInfo {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  if (opts.source) {
    const src = resolve(opts.source);
    if (!existsSync(src)) throw new EngineBuildError("source_missing", `--source ${opts.source} does not exist.`);
    if (statSync(src).isFile()) {
      const tmp = extractTarball(src, env);
      try {
        const root = packageRoot(tmp);
        if (!root)
          throw new EngineBuildError(
            "source_invalid",
            `${opts.source} holds no llama/gitRelease.bundle: it is not the npm tarball of ${NODE_LLAMA_CPP_PACKAGE}.`,
          );
        return unpackPackage(root, src, opts.cacheDir, env, log);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    if (isLlamaTree(src)) {
      checkTree(src, opts.source);
      let commit: string | undefined;
      const git = findExecutable("git", env);
      if (git && existsSync(join(src, ".git"))) {
        try {
          commit = run(git, ["rev-parse", "HEAD"], { cwd: src, env }).trim();
        } catch {
          /* not a git checkout after all */
        }
      }
      log(`sources: ${src}`);
      return { kind: "tree", dir: src, from: src, commit };
    }
    const root = packageRoot(src);
    if (root) return unpackPackage(root, src, opts.cacheDir, env, log);
    throw new EngineBuildError(
      "source_invalid",
      `${opts.source} is neither a llama.cpp source folder (CMakeLists.txt, include/llama.h, ggml/) nor ${NODE_LLAMA_CPP_PACKAGE}'s package (llama/gitRelease.bundle).`,
    );
  }
  const cached = join(buildsRoot(opts.cacheDir), "src", `${NODE_LLAMA_CPP_PACKAGE}-${NODE_LLAMA_CPP_PACKAGE_VERSION}`);
  if (existsSync(join(cached, ".safesteer-source.json"))) {
    const m = JSON.parse(readFileSync(join(cached, ".safesteer-source.json"), "utf8")) as SourceInfo;
    log(`sources: ${cached} (unpacked before from ${m.from})`);
    return { ...m, dir: cached };
  }
  if (opts.download === false) {
    throw new EngineBuildError(
      "source_missing",
      `no llama.cpp sources: pass --source with a llama.cpp ${LLAMA_CPP_TAG} folder or the tarball of ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_PACKAGE_VERSION} (npm pack ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_PACKAGE_VERSION}).`,
    );
  }
  const npm = requireTool(
    process.platform === "win32" ? "npm.cmd" : "npm",
    env,
    `it downloads the llama.cpp sources (the npm package ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_PACKAGE_VERSION})`,
    "Install npm, or pass --source with a llama.cpp source folder or that package's tarball.",
  );
  const tmp = mkdtempSync(join(tmpdir(), "safesteer-npm-pack-"));
  try {
    const spec = `${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_PACKAGE_VERSION}`;
    log(`downloading ${spec} (about 35 MB) with npm pack`);
    try {
      run(npm, ["pack", spec, "--pack-destination", tmp, "--silent"], { env });
    } catch (e) {
      throw new EngineBuildError(
        "source_missing",
        `could not download ${spec} with npm pack (${(e as Error).message.slice(0, 300)}): check the network, or pass --source with a llama.cpp folder or that package's tarball.`,
      );
    }
    const tgz = readdirSync(tmp).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new EngineBuildError("source_missing", `npm pack ${spec} wrote no tarball.`);
    const unpacked = extractTarball(join(tmp, tgz), env);
    try {
      const root = packageRoot(unpacked);
      if (!root) throw new EngineBuildError("source_invalid", `${spec} holds no llama/gitRelease.bundle.`);
      return unpackPackage(root, spec, opts.cacheDir, env, log);
    } finally {
      rmSync(unpacked, { recursive: true, force: true });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// --- the build --------------------------------------------------------------------------------------

export interface EngineBuildOptions extends SourceOptions {
  gpu?: BuildGpu;
  /** Parallel compile jobs (default: all cores). */
  jobs?: number;
  /** Also build llama.cpp's llama-bench and llama-completion (the benchmark's peers) beside the libraries. */
  tools?: boolean;
  /** Extra cmake -D options, passed last (e.g. CMAKE_CUDA_ARCHITECTURES=90). */
  cmakeDefines?: string[];
  /** Every line cmake prints (default: dropped; the log file keeps them). */
  onOutput?: (line: string) => void;
}

export interface EngineBuildResult extends UserBuild {
  folder: string;
  logFile: string;
}

/** The cmake configure arguments for a build (the source and build folders excluded). */
export function cmakeArgs(gpu: BuildGpu, opts: { ninja: boolean; nvcc?: string; defines?: string[] }): string[] {
  const d = (k: string, v: string) => `-D${k}=${v}`;
  const args = [
    ...(opts.ninja ? ["-G", "Ninja"] : []),
    d("CMAKE_BUILD_TYPE", "Release"),
    d("BUILD_SHARED_LIBS", "ON"),
    // RUNPATH $ORIGIN: the libraries and tools find each other wherever the folder is copied
    d("CMAKE_BUILD_RPATH_USE_ORIGIN", "ON"),
    d("GGML_NATIVE", "ON"),
    d("GGML_BACKEND_DL", "OFF"),
    d("GGML_OPENMP", "ON"),
    d("GGML_CCACHE", "OFF"),
    d("LLAMA_BUILD_COMMON", "ON"),
    d("LLAMA_BUILD_TOOLS", "ON"),
    d("LLAMA_BUILD_TESTS", "OFF"),
    d("LLAMA_BUILD_EXAMPLES", "OFF"),
    d("LLAMA_BUILD_SERVER", "OFF"),
    d("LLAMA_BUILD_APP", "OFF"),
    d("LLAMA_BUILD_UI", "OFF"),
    d("LLAMA_USE_PREBUILT_UI", "OFF"),
    d("LLAMA_OPENSSL", "OFF"),
    d("LLAMA_CURL", "OFF"),
    d("GGML_CUDA", gpu === "cuda" ? "ON" : "OFF"),
    d("GGML_VULKAN", gpu === "vulkan" ? "ON" : "OFF"),
    ...(process.platform === "darwin" ? [d("GGML_METAL", gpu === "metal" ? "ON" : "OFF")] : []),
    ...(gpu === "cuda" && opts.nvcc ? [d("CMAKE_CUDA_COMPILER", opts.nvcc)] : []),
    ...(opts.defines ?? []).map((x) => `-D${x}`),
  ];
  return args;
}

/** Checks that the tools a backend needs are here, before a long build fails half-way. */
function checkToolchain(gpu: BuildGpu, env: NodeJS.ProcessEnv): { cmake: string; ninja?: string; nvcc?: string } {
  const cmake = requireTool(
    "cmake",
    env,
    "safesteer engine build compiles llama.cpp with it",
    "Install CMake 3.14 or newer (apt install cmake, brew install cmake, or pip install cmake) and a C/C++ compiler, then run it again.",
  );
  const ninja = findExecutable("ninja", env);
  let nvcc: string | undefined;
  if (gpu === "cuda") {
    nvcc = findNvcc(env);
    if (!nvcc) {
      throw new EngineBuildError(
        "tool_missing",
        "--gpu cuda needs the CUDA toolkit (nvcc), found neither on PATH nor under CUDA_PATH, CUDA_HOME or /usr/local/cuda: install it, or build for the CPU.",
      );
    }
  }
  if (gpu === "vulkan") {
    const onPath = findExecutable("glslc", env);
    const inSdk = env.VULKAN_SDK ? findExecutable("glslc", { ...env, PATH: join(env.VULKAN_SDK, "bin") }) : undefined;
    if (!onPath && !inSdk) {
      throw new EngineBuildError(
        "tool_missing",
        "--gpu vulkan needs the Vulkan SDK (glslc and the Vulkan headers), found no glslc on PATH or under VULKAN_SDK: install the SDK, or build for the CPU.",
      );
    }
  }
  if (gpu === "metal" && process.platform !== "darwin") {
    throw new EngineBuildError("usage", "--gpu metal builds only on macOS.");
  }
  return { cmake, ninja, nvcc };
}

function cacheValue(cache: string, key: string): string | undefined {
  return new RegExp(`^${key}(?::[A-Z]+)?=(.*)$`, "m").exec(cache)?.[1];
}

/** Runs a command, streaming its lines to the log file and onOutput; resolves with the exit code. */
function stream(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; logFile: string; onOutput?: (l: string) => void }) {
  return new Promise<{ code: number; tail: string[] }>((resolvePromise, reject) => {
    const out = createWriteStream(opts.logFile, { flags: "a" });
    out.write(`$ ${cmd} ${args.join(" ")}\n`);
    const child = spawn(cmd, args, { env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    let rest = "";
    const onData = (chunk: Buffer) => {
      out.write(chunk);
      const lines = (rest + chunk.toString("utf8")).split(/\r?\n/);
      rest = lines.pop() ?? "";
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 40) tail.shift();
        opts.onOutput?.(l);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    // Ctrl-C reaches cmake through the terminal's process group; stop waiting with it
    child.on("error", (e) => {
      out.end();
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (rest) {
        tail.push(rest);
        opts.onOutput?.(rest);
      }
      out.end(() => resolvePromise({ code: code ?? (signal ? 128 : 1), tail }));
    });
  });
}

/** The tool targets built with `tools`: the benchmark's peers. */
export const PEER_TOOLS = ["llama-bench", "llama-completion"];

/**
 * Builds llama.cpp for this machine into <cache>/llama.cpp/<key>/ (bin/ holds the libraries and, with
 * `tools`, llama-bench and llama-completion; build/ the cmake tree, kept for quick rebuilds; build.log
 * every line of output). build.json is written last: until then the loader does not see the build.
 */
export async function buildEngine(opts: EngineBuildOptions = {}): Promise<EngineBuildResult> {
  const env = opts.env ?? process.env;
  const gpu = opts.gpu ?? "cpu";
  const log = opts.log ?? (() => {});
  if (!BUILD_GPUS.includes(gpu)) throw new EngineBuildError("usage", `unknown --gpu ${gpu}: choose cpu, cuda, vulkan or metal.`);
  const jobs = opts.jobs ?? availableParallelism();
  if (!Number.isInteger(jobs) || jobs < 1) throw new EngineBuildError("usage", `--jobs must be a whole number of at least 1, got ${jobs}.`);
  const tools = checkToolchain(gpu, env);
  const source = discoverSource({ ...opts, env, log });
  const started = Date.now();
  const key = buildKey({ gpu });
  const folder = join(buildsRoot(opts.cacheDir), key);
  const buildDir = join(folder, "build");
  const logFile = join(folder, "build.log");
  mkdirSync(folder, { recursive: true });
  rmSync(logFile, { force: true });
  const generator = tools.ninja ? "Ninja" : "default";
  // a cmake tree made with another generator or from other sources cannot be reused
  const cachePath = join(buildDir, "CMakeCache.txt");
  if (existsSync(cachePath)) {
    const cache = readFileSync(cachePath, "utf8");
    const gen = cacheValue(cache, "CMAKE_GENERATOR");
    const home = cacheValue(cache, "CMAKE_HOME_DIRECTORY");
    if ((tools.ninja ? gen !== "Ninja" : gen === "Ninja") || (home && resolve(home) !== resolve(source.dir))) {
      rmSync(buildDir, { recursive: true, force: true });
    }
  }
  const args = cmakeArgs(gpu, { ninja: Boolean(tools.ninja), nvcc: tools.nvcc, defines: opts.cmakeDefines });
  const step = async (what: string, a: string[]) => {
    log(what);
    const r = await stream(tools.cmake, a, { env, logFile, onOutput: opts.onOutput });
    if (r.code !== 0) {
      const err =
        r.tail.filter((l) => /error|Error|ERROR|not found|NOTFOUND/.test(l)).slice(-1)[0] ?? r.tail.filter(Boolean).slice(-1)[0] ?? "";
      throw new EngineBuildError("build_failed", `${what} failed (exit ${r.code}): ${err.trim().slice(0, 300)} (every line: ${logFile})`);
    }
  };
  await step(`configuring llama.cpp ${LLAMA_CPP_TAG} (${gpu}, native CPU flags) in ${buildDir}`, [
    "-S",
    source.dir,
    "-B",
    buildDir,
    ...args,
  ]);
  const targets = ["llama", ...(opts.tools ? PEER_TOOLS : [])];
  await step(`compiling ${targets.join(", ")} with ${jobs} jobs (a CPU build takes about 10 minutes on 2 cores)`, [
    "--build",
    buildDir,
    "--config",
    "Release",
    "--parallel",
    String(jobs),
    "--target",
    ...targets,
  ]);

  // bin/: the libraries and tools, copied from the cmake tree (links kept), swapped in whole
  const cache = readFileSync(cachePath, "utf8");
  const built = [join(buildDir, "bin"), join(buildDir, "bin", "Release")].find(
    (d) => existsSync(d) && readdirSync(d).some((f) => LLAMA_LIB.test(f)),
  );
  if (!built)
    throw new EngineBuildError(
      "build_failed",
      `the build finished but wrote no libllama under ${join(buildDir, "bin")} (every line: ${logFile}).`,
    );
  const libDir = join(folder, "bin");
  const next = `${libDir}.new-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  mkdirSync(next);
  const wantFile = (f: string) =>
    /\.(so|dylib|dll)(\.[\d.]+)?$/.test(f) || ((opts.tools ?? false) ? PEER_TOOLS.some((t) => f === t || f === `${t}.exe`) : false);
  for (const f of readdirSync(built)) if (wantFile(f)) cpSync(join(built, f), join(next, f), { verbatimSymlinks: true });
  // earlier tools stay when this build adds none
  if (!opts.tools && existsSync(libDir)) {
    for (const f of readdirSync(libDir)) if (!existsSync(join(next, f))) cpSync(join(libDir, f), join(next, f), { verbatimSymlinks: true });
  }
  const old = `${libDir}.old-${process.pid}`;
  if (existsSync(libDir)) renameSync(libDir, old);
  renameSync(next, libDir);
  rmSync(old, { recursive: true, force: true });

  const compilerLine = /The CXX compiler identification is (.*)/.exec(readFileSync(logFile, "utf8"))?.[1]?.trim();
  const record: BuildRecord = {
    key,
    llamaCpp: LLAMA_CPP_VERSION,
    gpu,
    platform: process.platform,
    arch: process.arch,
    cpu: hostCpuId(),
    native: true,
    openmp: cacheValue(cache, "GGML_OPENMP_ENABLED") === "ON",
    compiler: compilerLine ?? cacheValue(cache, "CMAKE_CXX_COMPILER") ?? "unknown",
    generator,
    source: { ...source },
    cmakeArgs: args,
    tools: readdirSync(libDir).filter((f) => PEER_TOOLS.some((t) => f === t || f === `${t}.exe`)),
    builtAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  writeFileAtomic(join(folder, "build.json"), [`${JSON.stringify(record, null, 2)}\n`]);
  return { folder, libDir, record, logFile };
}
