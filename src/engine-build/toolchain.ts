// The programs a build needs (cmake, ninja, git, tar, npm, nvcc, glslc), found on PATH before a long
// build fails half-way, and the child-process helpers that run them.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, createWriteStream, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { BuildGpu } from "../native/build-lookup.js";
import { EngineBuildError } from "./errors.js";

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

export function requireTool(name: string, env: NodeJS.ProcessEnv, why: string, fix: string): string {
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

export interface Toolchain {
  cmake: string;
  ninja?: string;
  nvcc?: string;
}

/** Checks that the tools a backend needs are here, before a long build fails half-way. */
export function checkToolchain(gpu: BuildGpu, env: NodeJS.ProcessEnv): Toolchain {
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

/** Runs a short command to its end; its stdout, or an Error with the last lines it printed. */
export function runSync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
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

export interface StreamOptions {
  env: NodeJS.ProcessEnv;
  logFile: string;
  onOutput?: (line: string) => void;
}

/** Runs a long command, streaming its lines to the log file and onOutput; resolves with the exit code. */
export function runStreaming(cmd: string, args: string[], opts: StreamOptions): Promise<{ code: number; tail: string[] }> {
  return new Promise((resolvePromise, reject) => {
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
