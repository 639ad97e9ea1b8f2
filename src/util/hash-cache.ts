// SHA-256 of model files, remembered by path, size and modification time in the per-user cache, so
// that checking a bundle against a multi-GB model does not re-read the whole file on every run.
import { mkdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";
import { userCacheDir } from "./cache-dir.js";
import { sha256File } from "./hash.js";

interface Entry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** Files smaller than this are hashed every time (cheaper than the cache's own file). */
const MIN_CACHED_BYTES = 16 << 20;

function cacheFile(): string {
  return join(userCacheDir(), "sha256.json");
}

function readCache(): Record<string, Entry> {
  try {
    const j = JSON.parse(readFileSync(cacheFile(), "utf8"));
    return typeof j === "object" && j !== null ? j : {};
  } catch {
    return {}; // no cache yet, or an unreadable one: start afresh
  }
}

/** SHA-256 of a file; for large files, looked up by (real path, size, mtime) first. */
export async function cachedSha256(path: string, opts: { minBytes?: number } = {}): Promise<string> {
  const st = statSync(path);
  if (st.size < (opts.minBytes ?? MIN_CACHED_BYTES)) return sha256File(path);
  const key = realpathSync(path);
  const hit = readCache()[key];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const sha256 = await sha256File(path);
  try {
    const cache = readCache();
    cache[key] = { size: st.size, mtimeMs: st.mtimeMs, sha256 };
    mkdirSync(userCacheDir(), { recursive: true });
    writeFileAtomic(cacheFile(), [`${JSON.stringify(cache, null, 1)}\n`]);
  } catch {
    // a read-only or missing cache folder only costs the next run a re-hash
  }
  return sha256;
}
