// Known data sets: the registry against the shared copies, downloads from a local mirror (exact bytes,
// checksum errors, aborts leave nothing), loading by name, and the data folder rules.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fetchData, printDataList } from "../../src/cli/commands/data.js";
import { DataError } from "../../src/data/errors.js";
import { fetchDataset, fileState } from "../../src/data/fetch.js";
import { dataDir, dataFile, loadDataset, sharedDataDir, userCacheDataDir } from "../../src/data/load.js";
import { DATASETS, datasetFiles, knownDataset } from "../../src/data/registry.js";
import { SHARED, sharedMissing } from "../support/models.js";

const DATA = join(SHARED, "data");
const HAVE_DATA = existsSync(DATA);
/** For `{ skip: NO_DATA }`: false with ../shared/data, else the reason (a failure in CI). */
const NO_DATA =
  !HAVE_DATA &&
  sharedMissing(`../shared/data not present (no ${DATA}): checks on the real files, whose sizes and checksums the registry pins, not run`);
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const xstest = knownDataset("xstest")!;
/** The sets whose files ../shared/data holds (see its MANIFEST.md). */
const SHARED_SETS = ["catqa", "harmbench", "jailbreakbench", "advbench", "xstest", "harmless_alpaca", "mt_bench", "vicuna_bench"];

const ENV = ["SAFESTEER_DATA", "SAFESTEER_DATA_MIRROR"] as const;
const savedEnv = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
const ROOT_TMP = mkdtempSync(join(tmpdir(), "safesteer-fetch-"));
let n = 0;
/** A new empty folder, pointed at by SAFESTEER_DATA. */
function freshDataDir(): string {
  const dir = join(ROOT_TMP, `d${n++}`);
  mkdirSync(dir);
  process.env.SAFESTEER_DATA = dir;
  return dir;
}

// A mirror of ../shared/data: /ok/<file> serves it, /corrupt/<file> flips one byte, /stall/<file>
// sends half and then hangs (onStall runs once the half is out).
let server: Server;
let base = "";
let onStall: (() => void) | undefined;
const mirror = (mode: "ok" | "corrupt" | "stall") => `${base}/${mode}`;

before(async () => {
  server = createServer((req, res) => {
    const [, mode, file] = decodeURIComponent(req.url ?? "").split("/");
    const p = join(DATA, basename(file ?? ""));
    if (!file || !existsSync(p)) return void res.writeHead(404).end();
    const body = readFileSync(p);
    if (mode === "corrupt") body[body.length >> 1]! ^= 0xff;
    res.writeHead(200, { "content-length": body.length });
    if (mode !== "stall") return void res.end(body);
    res.write(body.subarray(0, body.length >> 1), () => onStall?.());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.SAFESTEER_DATA_MIRROR = mirror("ok");
});

after(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  rmSync(ROOT_TMP, { recursive: true, force: true });
  for (const k of ENV) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

describe("data registry", () => {
  it("every entry's size and sha256 match the file in ../shared/data", { skip: NO_DATA }, () => {
    // the sets added with issue 26 are checked where their files are (test/data/benchmarks.test.ts)
    for (const d of DATASETS)
      for (const f of datasetFiles(d)) {
        if (!SHARED_SETS.includes(d.name)) continue;
        const b = readFileSync(join(DATA, f.file));
        assert.equal(b.length, f.bytes, f.file);
        assert.equal(sha256(b), f.sha256, f.file);
      }
  });

  it("names are unique; URLs are raw.githubusercontent.com or a Hugging Face dataset at a full commit", () => {
    assert.equal(new Set(DATASETS.map((d) => d.name)).size, DATASETS.length);
    for (const d of DATASETS)
      for (const f of datasetFiles(d))
        assert.match(
          f.url,
          /^https:\/\/(raw\.githubusercontent\.com|huggingface\.co\/datasets)\/[\w.-]+\/[\w.-]+\/(resolve\/)?[0-9a-f]{40}\/\S+$/,
          f.url,
        );
  });

  it("a pin is a 64-digit sha256 with a size, or both null and marked unpinned", () => {
    for (const d of DATASETS)
      for (const f of datasetFiles(d)) {
        if (f.sha256 === null) {
          assert.equal(f.bytes, null, f.file);
          assert.equal(f.pin, "none", f.file);
        } else {
          assert.match(f.sha256, /^[0-9a-f]{64}$/, f.file);
          assert.ok(Number.isInteger(f.bytes) && f.bytes! > 0, f.file);
        }
      }
  });
});

describe("fetchDataset from a local mirror", () => {
  it("writes the exact bytes and reports progress up to the total", { skip: NO_DATA }, async () => {
    const dir = freshDataDir();
    const seen: Array<[number, number]> = [];
    const r = await fetchDataset("xstest", { onProgress: (done, total) => seen.push([done, total]) });
    assert.equal(r.path, join(dir, xstest.file));
    assert.deepEqual(r.downloaded, [xstest.file]);
    assert.equal(sha256(readFileSync(r.path)), xstest.sha256);
    assert.deepEqual(readdirSync(dir), [xstest.file], "no temporary file left");
    assert.deepEqual(seen.at(-1), [xstest.bytes, xstest.bytes]);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0], "progress never goes back");
  });

  it("brings companion files (HarmBench's licence) and skips files already present", { skip: NO_DATA }, async () => {
    const dir = freshDataDir();
    await fetchDataset("harmbench");
    assert.deepEqual(readdirSync(dir).sort(), ["harmbench.LICENSE.txt", "harmbench_behaviors_text_all.csv"]);
    // present and verified: no request at all (this mirror does not answer)
    const again = await fetchDataset("harmbench", { mirror: "http://127.0.0.1:9" });
    assert.deepEqual(again.downloaded, []);
    const forced = await fetchDataset("harmbench", { force: true });
    assert.equal(forced.downloaded.length, 2);
  });

  it("corrupted bytes: a DataError naming the set and both checksums, and no file left", { skip: NO_DATA }, async () => {
    const dir = freshDataDir();
    const catqa = knownDataset("catqa")!;
    const bad = readFileSync(join(DATA, catqa.file));
    bad[bad.length >> 1]! ^= 0xff;
    await assert.rejects(fetchDataset("catqa", { mirror: mirror("corrupt") }), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.code, "data_checksum");
      assert.ok(!e.message.includes("\n"), "one line");
      assert.match(e.message, /^catqa: /);
      assert.ok(e.message.includes(catqa.sha256!) && e.message.includes(sha256(bad)), e.message);
      assert.match(e.message, /nothing was saved/);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  });

  it("an abort mid-download leaves no file", { timeout: 10_000, skip: NO_DATA }, async () => {
    const dir = freshDataDir();
    const ac = new AbortController();
    let last = 0;
    const p = fetchDataset("xstest", {
      mirror: mirror("stall"),
      signal: ac.signal,
      onProgress: (done) => {
        last = done;
        if (done >= xstest.bytes! >> 1) ac.abort();
      },
    });
    await assert.rejects(p, (e: unknown) => e instanceof DataError && e.code === "aborted");
    assert.ok(last > 0 && last < xstest.bytes!, `stopped mid-way (${last} bytes)`);
    assert.deepEqual(readdirSync(dir), []);
  });

  it("never writes into ../shared/data beside the checkout", async () => {
    // the corrupt mirror: were the guard missing, the checksum would still stop any write
    const p = fetchDataset("xstest", { dir: sharedDataDir(), force: true, mirror: mirror("corrupt") });
    await assert.rejects(p, (e: unknown) => e instanceof DataError && e.code === "fetch_failed" && /read-only/.test(e.message));
  });

  it("an unknown name is a DataError listing the known names", async () => {
    await assert.rejects(fetchDataset("nope"), (e: unknown) => {
      assert.ok(e instanceof DataError && e.code === "unknown_dataset");
      for (const d of DATASETS) assert.ok(e.message.includes(d.name), e.message);
      return true;
    });
  });
});

describe("loading known sets by name", () => {
  it('loadDataset("xstest") loads the fetched file', { skip: NO_DATA }, async () => {
    const dir = freshDataDir();
    await fetchDataset("xstest");
    const d = loadDataset("xstest");
    assert.equal(d.path, join(dir, xstest.file));
    assert.equal(d.examples.length, 450);
  });

  it("a missing known set names the fetch command", () => {
    const dir = freshDataDir();
    assert.throws(
      () => dataFile("harmless_alpaca.json"),
      (e: unknown) =>
        e instanceof DataError &&
        e.code === "data_not_found" &&
        e.message ===
          `harmless_alpaca.json (the default safe set) is not in ${dir}: download it with "safesteer data fetch harmless_alpaca", or pass a file.`,
    );
    assert.throws(() => loadDataset("catqa"), /catqa_english\.json .* "safesteer data fetch catqa"/);
  });
});

describe("the data folder", () => {
  it("SAFESTEER_DATA wins; otherwise ../shared/data if present, else the user cache", () => {
    const dir = freshDataDir();
    assert.equal(dataDir(), dir);
    delete process.env.SAFESTEER_DATA;
    const shared = sharedDataDir();
    assert.equal(dataDir(), existsSync(shared) ? shared : userCacheDataDir());
  });

  it("the user cache per platform", () => {
    assert.equal(userCacheDataDir({ XDG_CACHE_HOME: "/x" }, "linux", "/home/u"), join("/x", "safesteer", "data"));
    assert.equal(userCacheDataDir({}, "linux", "/home/u"), join("/home/u", ".cache", "safesteer", "data"));
    assert.equal(userCacheDataDir({}, "darwin", "/Users/u"), join("/Users/u", "Library", "Caches", "safesteer", "data"));
    assert.equal(userCacheDataDir({ LOCALAPPDATA: "C:/L" }, "win32", "C:/u"), join("C:/L", "safesteer", "data"));
  });
});

describe("safesteer data list / fetch", () => {
  it("list --json: every set, its state in the folder", { skip: NO_DATA }, () => {
    process.env.SAFESTEER_DATA = DATA;
    let out = "";
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => {
      out += s;
      return true;
    }) as typeof process.stdout.write;
    try {
      printDataList(true); // synchronous: nothing else writes while stdout is captured
    } finally {
      process.stdout.write = write;
    }
    const j = JSON.parse(out) as { dir: string; datasets: Array<{ name: string; state: string }> };
    assert.equal(j.dir, DATA);
    assert.deepEqual(
      j.datasets.map((d) => [d.name, d.state]),
      DATASETS.map((d) => [d.name, SHARED_SETS.includes(d.name) || existsSync(join(DATA, d.file)) ? "present" : "missing"]),
    );
  });

  it("fetch: Ctrl-C stops a download, leaves no file, and is an error", { timeout: 10_000, skip: NO_DATA }, async () => {
    const dir = freshDataDir();
    process.env.SAFESTEER_DATA_MIRROR = mirror("stall");
    onStall = () => process.emit("SIGINT");
    try {
      await assert.rejects(fetchData(["xstest", "catqa"], false), (e: unknown) => {
        assert.ok(e instanceof DataError && e.code === "aborted");
        assert.match(e.message, /not fetched: xstest, catqa/);
        return true;
      });
    } finally {
      onStall = undefined;
      process.env.SAFESTEER_DATA_MIRROR = mirror("ok");
    }
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(fileState(xstest, dir), "missing");
  });
});
