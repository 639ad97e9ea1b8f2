// The cmake side of a build: the configure options for a backend, and the cache of an earlier cmake tree.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BuildGpu } from "../native/build-lookup.js";

export interface CmakeOptions {
  ninja: boolean;
  nvcc?: string;
  /** Extra KEY=VALUE definitions, passed last so they win. */
  defines?: string[];
  /** llama.cpp's RPC backend in the libraries (GGML_RPC), and its ggml-rpc-server target. */
  rpc?: boolean;
  /** llama-server's target (LLAMA_BUILD_SERVER). */
  server?: boolean;
}

/** The cmake configure arguments for a build (the source and build folders excluded). */
export function cmakeArgs(gpu: BuildGpu, opts: CmakeOptions): string[] {
  const d = (k: string, v: string) => `-D${k}=${v}`;
  const on = (x: boolean | undefined) => (x ? "ON" : "OFF");
  return [
    ...(opts.ninja ? ["-G", "Ninja"] : []),
    d("CMAKE_BUILD_TYPE", "Release"),
    d("BUILD_SHARED_LIBS", "ON"),
    // RUNPATH $ORIGIN: the libraries and tools find each other wherever the folder is copied
    d("CMAKE_BUILD_RPATH_USE_ORIGIN", "ON"),
    d("GGML_NATIVE", "ON"),
    d("GGML_BACKEND_DL", "OFF"),
    d("GGML_OPENMP", "ON"),
    d("GGML_CCACHE", "OFF"),
    d("GGML_RPC", on(opts.rpc)),
    d("LLAMA_BUILD_COMMON", "ON"),
    d("LLAMA_BUILD_TOOLS", "ON"),
    d("LLAMA_BUILD_TESTS", "OFF"),
    d("LLAMA_BUILD_EXAMPLES", "OFF"),
    d("LLAMA_BUILD_SERVER", on(opts.server)),
    d("LLAMA_BUILD_APP", "OFF"),
    // llama-server without its web page (no download at configure time); its API is all the bench needs
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
}

/** A value of CMakeCache.txt ("KEY:TYPE=value"). */
export function cacheValue(cache: string, key: string): string | undefined {
  return new RegExp(`^${key}(?::[A-Z]+)?=(.*)$`, "m").exec(cache)?.[1];
}

/** Removes a cmake tree made with another generator or from other sources: it cannot be reused. */
export function dropStaleTree(buildDir: string, sourceDir: string, ninja: boolean): void {
  const cachePath = join(buildDir, "CMakeCache.txt");
  if (!existsSync(cachePath)) return;
  const cache = readFileSync(cachePath, "utf8");
  const gen = cacheValue(cache, "CMAKE_GENERATOR");
  const home = cacheValue(cache, "CMAKE_HOME_DIRECTORY");
  if ((ninja ? gen !== "Ninja" : gen === "Ninja") || (home && resolve(home) !== resolve(sourceDir))) {
    rmSync(buildDir, { recursive: true, force: true });
  }
}
