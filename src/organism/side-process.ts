// Study stages in a second process. The organism decodes fastest on one thread (thread
// synchronisation dominates its tiny matrices), so a second core only helps as a second process:
// it opens the same model file with the same context settings and sends its results back in named
// parts as they are ready (structured clone: Maps and Float32Arrays arrive as they left).
import { type ChildProcess, fork } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { SafeSteerError } from "../errors.js";

/** What the child sends: progress lines, results in named parts, or its error. */
export type SideMessage =
  | { type: "step"; msg: string }
  | { type: "part"; name: string; value: unknown }
  | { type: "error"; code: string; message: string };

export interface SideProcess {
  /** The part of the child's results named so (rejects with its error, or when it dies first). */
  part<T>(name: string): Promise<T>;
  /** Sends the child a message (what it waits for to go on). */
  send(message: object): void;
  /** Ends the child if it still runs (the parent stopped or failed first). */
  stop(): void;
}

/** The path of a sibling module of this one, as this one runs (.ts under tsx, .js from dist). */
export function siblingModule(name: string): string {
  const here = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./${name}${extname(here)}`, import.meta.url));
}

interface Deferred {
  promise: Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
  let resolve: (v: unknown) => void = () => {};
  let reject: (e: Error) => void = () => {};
  const promise = new Promise<unknown>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // the parent may fail before it awaits a part: that rejection is not news
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Forks `entry` (inheriting node's flags, e.g. tsx's loader), sends it `request`, and relays its progress lines. */
export function runSideProcess(entry: string, request: object, o: { onStep?: (msg: string) => void } = {}): SideProcess {
  const child: ChildProcess = fork(entry, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const parts = new Map<string, Deferred>();
  let failure: Error | undefined;
  const partOf = (name: string) => {
    const d = parts.get(name) ?? deferred();
    parts.set(name, d);
    return d;
  };
  const fail = (e: Error) => {
    failure ??= e;
    for (const d of parts.values()) d.reject(failure);
  };
  child.on("message", (m: SideMessage) => {
    if (m.type === "step") o.onStep?.(m.msg);
    else if (m.type === "part") partOf(m.name).resolve(m.value);
    else fail(new SafeSteerError(m.code === "aborted" ? "aborted" : "internal", m.message));
  });
  child.on("error", (e) => fail(new SafeSteerError("internal", `the study's second process failed: ${e.message}`)));
  child.on("exit", (code, sig) => fail(new SafeSteerError("internal", `the study's second process ended early (exit ${code ?? sig}).`)));
  child.send(request);
  return {
    part: <T>(name: string) => {
      const d = partOf(name);
      if (failure) d.reject(failure);
      return d.promise as Promise<T>;
    },
    send: (message) => {
      if (child.connected) child.send(message);
    },
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}
