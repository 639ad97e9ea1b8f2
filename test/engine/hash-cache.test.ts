// The model fingerprint's SHA-256 is remembered by path, size and modification time, and computed
// afresh when the file changes.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { sha256File } from "../../src/util/hash.js";
import { cachedSha256 } from "../../src/util/hash-cache.js";

describe("SHA-256 cache", () => {
  const dir = mkdtempSync(join(tmpdir(), "safesteer-hash-cache-"));
  const saved = process.env.SAFESTEER_CACHE;
  process.env.SAFESTEER_CACHE = join(dir, "cache");
  after(() => {
    if (saved === undefined) delete process.env.SAFESTEER_CACHE;
    else process.env.SAFESTEER_CACHE = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores the hash, answers from the cache while the file is unchanged, and re-hashes when it changes", async () => {
    const file = join(dir, "model.bin");
    writeFileSync(file, Buffer.alloc(4096, 7));
    const first = await cachedSha256(file, { minBytes: 0 });
    assert.equal(first, await sha256File(file));
    const cacheFile = join(dir, "cache", "sha256.json");
    const cache = JSON.parse(readFileSync(cacheFile, "utf8"));
    const key = Object.keys(cache)[0] as string;
    assert.equal(cache[key].sha256, first);
    // a marked entry proves the lookup is used: the file is not read again while unchanged
    cache[key].sha256 = "cached-not-recomputed";
    writeFileSync(cacheFile, JSON.stringify(cache));
    assert.equal(await cachedSha256(file, { minBytes: 0 }), "cached-not-recomputed");
    appendFileSync(file, "changed");
    const after = await cachedSha256(file, { minBytes: 0 });
    assert.equal(after, await sha256File(file));
    assert.notEqual(after, first);
  });

  it("small files are always hashed, and an unreadable cache is ignored", async () => {
    const file = join(dir, "small.bin");
    writeFileSync(file, "tiny");
    assert.equal(await cachedSha256(file), await sha256File(file));
    writeFileSync(join(dir, "cache", "sha256.json"), "{not json");
    assert.equal(await cachedSha256(file, { minBytes: 0 }), await sha256File(file));
  });
});
