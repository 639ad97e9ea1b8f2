// A study stage in a second process. The organism decodes fastest on one thread (thread
// synchronisation dominates its tiny matrices), so a second core only helps as a second process:
// it opens the same model file with the same context settings and sends its results back
// (structured clone: Maps and Float32Arrays arrive as they left).
import { type ChildProcess, fork } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { SafeSteerError } from "../errors.js";

/** What the child sends: progress lines, then its result or its error. */
export type SideMessage<T> = { type: "step"; msg: string } | { type: "done"; result: T } | { type: "error"; code: string; message: string };

export interface SideProcess<T> {
  /** The child's result (rejects with its error, or when it dies). */
  result: Promise<T>;
  /** Ends the child if it still runs (the parent stopped or failed first). */
  stop(): void;
}

/** The path of a sibling module of this one, as this one runs (.ts under tsx, .js from dist). */
export function siblingModule(name: string): string {
  const here = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./${name}${extname(here)}`, import.meta.url));
}

/** Forks `entry` (inheriting node's flags, e.g. tsx's loader), sends it `request`, and relays its progress lines. */
export function runSideProcess<T>(entry: string, request: unknown, o: { onStep?: (msg: string) => void } = {}): SideProcess<T> {
  const child: ChildProcess = fork(entry, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let settled = false;
  const result = new Promise<T>((resolve, reject) => {
    child.on("message", (m: SideMessage<T>) => {
      if (m.type === "step") o.onStep?.(m.msg);
      else if (m.type === "done") {
        settled = true;
        resolve(m.result);
      } else {
        settled = true;
        reject(new SafeSteerError(m.code === "aborted" ? "aborted" : "internal", m.message));
      }
    });
    child.on("error", (e) => {
      settled = true;
      reject(new SafeSteerError("internal", `the study's second process failed to start: ${e.message}`));
    });
    child.on("exit", (code, sig) => {
      if (settled) return;
      settled = true;
      reject(new SafeSteerError("internal", `the study's second process ended without a result (exit ${code ?? sig}).`));
    });
  });
  // the parent may fail before it awaits the result: that rejection is not news
  result.catch(() => {});
  child.send(request as object);
  return {
    result,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}
