import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";

/** Writes a file atomically: a temporary file in the same folder, fsync, rename. A crash never leaves half a file. */
export function writeFileAtomic(path: string, chunks: Array<Buffer | Uint8Array | string>): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, "w");
  try {
    for (const c of chunks) writeSync(fd, typeof c === "string" ? Buffer.from(c) : c);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}
