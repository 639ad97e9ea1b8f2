// Where the user's own llama.cpp builds live, and which finished one the loader (library.ts) takes for
// a backend on this machine. Making a build is src/engine-build/ (`safesteer engine build`); this file
// only reads what it left: the folder name (a deterministic key) and build.json, written last.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { userCacheDir } from "../util/cache-dir.js";
import { LLAMA_CPP_TAG, LLAMA_CPP_VERSION } from "./versions.js";

export type BuildGpu = "cpu" | "cuda" | "vulkan" | "metal";
export const BUILD_GPUS: readonly BuildGpu[] = ["cpu", "cuda", "vulkan", "metal"];

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
  /** llama.cpp's RPC backend (GGML_RPC) is in the libraries (absent in records of older builds: no). */
  rpc?: boolean;
  compiler: string;
  generator: string;
  source: SourceInfo;
  cmakeArgs: string[];
  /** llama.cpp's own programs in bin/ (llama-server, llama-bench, ...), by file name. */
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
export function readBuildRecord(folder: string): BuildRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(folder, "build.json"), "utf8")) as BuildRecord;
    return typeof r === "object" && r !== null && typeof r.key === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

/** libllama as each platform names it (libllama.so, libllama.0.dylib, llama.dll). */
export const LLAMA_LIB = /^(lib)?llama(\.[a-z]+)?(\.v[\d.]+)?\.(so|dylib|dll)$/;

/** The user's own build for a backend on this machine, when one is finished (undefined: none). */
export function findUserBuild(gpu: BuildGpu, cacheDir?: string): UserBuild | undefined {
  const folder = join(buildsRoot(cacheDir), buildKey({ gpu }));
  const record = readBuildRecord(folder);
  if (!record || record.gpu !== gpu || record.llamaCpp !== LLAMA_CPP_VERSION) return undefined;
  const libDir = join(folder, "bin");
  try {
    if (!readdirSync(libDir).some((f) => LLAMA_LIB.test(f))) return undefined;
  } catch {
    return undefined;
  }
  return { libDir, record };
}
