// llama.cpp's own programs that `engine build --tools` compiles from the same sources into the build's
// bin/, beside the libraries: the peers the benches compare against, and the RPC server that lends a
// machine's devices to `--rpc`. The file names are llama.cpp's (its RPC server is ggml-rpc-server).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type BuildGpu, findUserBuild } from "../native/build-lookup.js";

export interface LlamaTool {
  /** The cmake target, and the program's file name (plus .exe on Windows). */
  name: string;
  /** Built only in a build with llama.cpp's RPC backend (GGML_RPC). */
  needsRpc?: boolean;
  what: string;
}

export const LLAMA_TOOLS: readonly LlamaTool[] = [
  { name: "llama-bench", what: "llama.cpp's benchmark: the parity bench's peer for decode and prefill" },
  { name: "llama-completion", what: "llama.cpp's one-shot generation: the parity bench's peer for text" },
  { name: "llama-server", what: "llama.cpp's OpenAI-compatible server: the server bench's peer" },
  { name: "ggml-rpc-server", needsRpc: true, what: "llama.cpp's RPC server (rpc-server): lends this machine's devices to --rpc" },
];

/** The parity bench's peers (llama-bench, llama-completion), in that order. */
export const PEER_TOOLS = ["llama-bench", "llama-completion"];

/** Whether a file in bin/ is one of the tools. */
export function isToolFile(file: string): boolean {
  return LLAMA_TOOLS.some((t) => file === t.name || file === `${t.name}.exe`);
}

/** A tool of the user's finished build for a backend (default the CPU), when it was built. */
export function findBuildTool(name: string, gpu: BuildGpu = "cpu", cacheDir?: string): string | undefined {
  const build = findUserBuild(gpu, cacheDir);
  if (!build) return undefined;
  for (const f of [name, `${name}.exe`]) {
    const p = join(build.libDir, f);
    if (build.record.tools.includes(f) && existsSync(p)) return p;
  }
  return undefined;
}
