// An exclusive lock on an output file: `<output>.lock` beside it, created with the `wx` flag and
// holding the owner's pid, so that two runs cannot write the same results file at once (the second
// would silently replace the first one's results). A lock whose pid is no longer alive (a run that
// was killed) is taken over with a warning.
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { SafeSteerError } from "../errors.js";
import { log } from "../util/logger.js";

export interface OutputLock {
  /** The lock file. */
  path: string;
  /** Removes the lock (only while it is still this process's); safe to call more than once. */
  release(): void;
}

/** Whether a process with this pid is alive (EPERM: alive, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readPid(path: string): { text: string; pid: number | undefined } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined; // released meanwhile
    throw e;
  }
  const n = Number(text.trim());
  return { text, pid: Number.isInteger(n) && n > 0 ? n : undefined };
}

function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock on `output` (`<output>.lock`) or throws a usage error naming the process that
 * holds it and the fix. The lock is removed by release() and, failing that, when the process exits
 * (an error, a second Ctrl-C); a lock left by a killed run is taken over with a warning.
 */
export function lockOutput(output: string, option = "-o"): OutputLock {
  const path = `${output}.lock`;
  const busy = (who: string) =>
    new SafeSteerError(
      "usage",
      `${output} is being written by ${who}: wait for it to finish or choose another ${option} path; if no such run is going, remove its lock ${path}.`,
    );
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(path)) break;
    if (attempt >= 5) throw busy("other processes (the lock keeps changing hands)");
    const held = readPid(path);
    if (!held) continue; // released between our try and the read: try again
    if (held.pid === undefined) throw busy("another run (its lock holds no pid)");
    if (held.pid === process.pid || alive(held.pid)) throw busy(`another run (pid ${held.pid})`);
    // stale: move it aside (one taker wins the rename), check it was the stale one, and try again
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    const moved = readPid(aside);
    if (moved && moved.text !== held.text) {
      // another run took the stale lock over between our read and our rename: give its lock back
      renameSync(aside, path);
      throw busy(`another run (pid ${moved.pid ?? "unknown"})`);
    }
    rmSync(aside, { force: true });
    log.warn(`took over the lock ${path} left by pid ${held.pid}, which is no longer running.`);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    // remove it only while it is still ours
    try {
      if (readPid(path)?.pid === process.pid) rmSync(path, { force: true });
    } catch {
      /* on the way out: a lock we cannot read or remove is taken over by the next run once we are gone */
    }
  };
  process.on("exit", release);
  return { path, release };
}
