// llama.cpp's own llama-server as the server bench's peer: LLAMA_SERVER, else the one `safesteer engine
// build --tools` compiled from the same sources as the engine's libraries; started on a free port of
// 127.0.0.1 and stopped after the rows.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { findBuildTool } from "../src/engine-build/index.js";
import { freePort } from "../test/support/ports.js";

/** The peer binary, or why there is none (the table's llama-server column says it). */
export function findLlamaServer(env: NodeJS.ProcessEnv = process.env): { binary: string; from: string } | { missing: string } {
  if (env.LLAMA_SERVER) return { binary: env.LLAMA_SERVER, from: "LLAMA_SERVER" };
  const built = findBuildTool("llama-server");
  if (built) return { binary: built, from: "safesteer engine build --tools" };
  return {
    missing:
      "no llama-server: run `safesteer engine build --tools` (builds it from the same llama.cpp sources) or set LLAMA_SERVER=/path/to/llama-server",
  };
}

export function serverVersion(binary: string): string {
  const v = spawnSync(binary, ["--version"], { encoding: "utf8" });
  if (v.error) throw new Error(`llama-server ${binary}: ${v.error.message}`);
  return `${v.stdout}${v.stderr}`
    .split("\n")
    .filter((l) => /version|built with/i.test(l))
    .join("; ")
    .trim();
}

/** A server child process: the last 4,000 characters of its stderr, and a stop that kills it for sure. */
export function superviseChild(child: ChildProcess, killAfterMs: number): { tail: () => string; stop: () => Promise<void> } {
  let log = "";
  child.stderr?.on("data", (d) => {
    log = (log + String(d)).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    await exited;
    clearTimeout(timer);
  };
  return { tail: () => log, stop };
}

/** Polls /health until it answers 200 (the model is loaded), or fails with the peer's last words. */
async function waitReady(url: string, child: ChildProcess, tail: () => string, ms = 300_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`llama-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail()}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`llama-server was not ready after ${ms / 1000} s:\n${tail()}`);
}

export interface RunningPeer {
  url: string;
  pid: number | undefined;
  /** The arguments after -m <model> --host --port. */
  tuning: string[];
  stop(): Promise<void>;
}

/** Starts llama-server on a model: `parallel` slots of `slotCtx` tokens, `threads` threads. */
export async function startPeer(
  binary: string,
  model: string,
  o: { parallel: number; slotCtx: number; threads: number },
): Promise<RunningPeer> {
  const port = await freePort();
  const tuning = ["-np", String(o.parallel), "-c", String(o.parallel * o.slotCtx), "-t", String(o.threads), "-tb", String(o.threads)];
  const child = spawn(binary, ["-m", model, "--host", "127.0.0.1", "--port", String(port), ...tuning], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const { tail, stop } = superviseChild(child, 10_000);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, child, tail);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, pid: child.pid, tuning, stop };
}
