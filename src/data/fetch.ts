// Downloads a known data set into the data folder, checked against the registry's size and sha256
// before anything is written, so the folder only ever holds complete, verified files.
//
// SAFESTEER_DATA_MIRROR (a URL prefix) replaces the source URLs: each file is fetched as
// `<mirror>/<file name>`. Tests point it at a local server; users behind a proxy at their own copy.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";
import { sha256Hex } from "../util/hash.js";
import { DataError } from "./errors.js";
import { dataDir, sharedDataDir } from "./load.js";
import { DATASETS, type DataFileSpec, datasetFiles, type KnownDataset, knownDataset } from "./registry.js";

export interface FetchOptions {
  /** Folder to write into; default dataDir() (so SAFESTEER_DATA decides). */
  dir?: string;
  /** URL prefix used instead of the source URLs (`<mirror>/<file name>`); default env SAFESTEER_DATA_MIRROR. */
  mirror?: string;
  /** Download even when the file is present with the right checksum. */
  force?: boolean;
  /** Stops the download; nothing is written (DataError "aborted"). */
  signal?: AbortSignal;
  /** Bytes received so far over the bytes to download (all of the set's missing files together). */
  onProgress?: (done: number, total: number) => void;
}

export interface FetchResult {
  name: string;
  /** The set's main file. */
  path: string;
  /** Files downloaded this time; empty when all were already present and verified. */
  downloaded: string[];
}

/** "present" (right size and sha256), "missing", or "differs" (some other file of that name). */
export type FileState = "present" | "missing" | "differs";

export function fileState(spec: DataFileSpec, dir: string): FileState {
  const p = join(dir, spec.file);
  if (!existsSync(p)) return "missing";
  if (spec.sha256 === null) return "differs"; // nothing to check it against
  // the size first: hashing a file that cannot match is wasted work
  return statSync(p).size === spec.bytes && sha256Hex(readFileSync(p)) === spec.sha256 ? "present" : "differs";
}

/** The set of that name, or a DataError listing the known names. */
export function requireDataset(name: string): KnownDataset {
  const d = knownDataset(name);
  if (!d) throw new DataError("unknown_dataset", `unknown data set "${name}"; known: ${DATASETS.map((x) => x.name).join(", ")}.`);
  return d;
}

/** Where a file is downloaded from: its source URL, or `<mirror>/<file name>`. */
export function sourceUrl(spec: DataFileSpec, mirror = process.env.SAFESTEER_DATA_MIRROR): string {
  return mirror ? `${mirror.replace(/\/+$/, "")}/${encodeURIComponent(spec.file)}` : spec.url;
}

/**
 * Downloads a known set (and its companion files) into the data folder. Every file is verified
 * (size, sha256) before any is written; each is written atomically. A mismatch is a DataError
 * "data_checksum", an abort a DataError "aborted": in both cases nothing is left behind. Never
 * writes into ../shared/data beside the checkout (a shared read-only copy, even for root).
 */
export async function fetchDataset(name: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const d = requireDataset(name);
  const dir = opts.dir ?? dataDir();
  const todo = datasetFiles(d).filter((f) => opts.force || fileState(f, dir) !== "present");
  const unpinned = todo.find((f) => f.sha256 === null || f.bytes === null);
  if (unpinned)
    throw new DataError(
      "fetch_failed",
      `${d.name}: the sha256 of ${unpinned.file} is not pinned yet, so it cannot be downloaded verified; download ${unpinned.url} by hand and pass the file's path (or put it in ${dir} as ${unpinned.file}).`,
    );
  if (todo.length && resolve(dir) === resolve(sharedDataDir()))
    throw new DataError(
      "fetch_failed",
      `${d.name}: ${dir} is the shared read-only copy of the data sets; set SAFESTEER_DATA to a folder of your own to download into.`,
    );
  const total = todo.reduce((n, f) => n + (f.bytes ?? 0), 0);
  const got: Array<[DataFileSpec, Buffer]> = [];
  let before = 0;
  for (const f of todo) {
    got.push([f, await download(d, f, sourceUrl(f, opts.mirror), (n) => opts.onProgress?.(before + n, total), opts.signal)]);
    before += f.bytes ?? 0;
  }
  if (opts.signal?.aborted) throw stopped(d);
  try {
    mkdirSync(dir, { recursive: true });
    // companions first: the main file's presence is what marks the set as fetched
    for (const [f, buf] of got.reverse()) writeFileAtomic(join(dir, f.file), [buf]);
  } catch (e) {
    throw new DataError(
      "fetch_failed",
      `${d.name}: cannot write to ${dir} (${(e as Error).message}); set SAFESTEER_DATA to a writable folder.`,
    );
  }
  return { name: d.name, path: join(dir, d.file), downloaded: todo.map((f) => f.file) };
}

const stopped = (d: KnownDataset) => new DataError("aborted", `${d.name}: download stopped; nothing was saved.`);

/** One file into memory (the pinned sets are under 1 MB), hashed as it streams in. */
async function download(
  d: KnownDataset,
  f: DataFileSpec,
  url: string,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<Buffer> {
  const failed = (why: string) =>
    new DataError(
      "fetch_failed",
      `${d.name}: cannot download ${url} (${why}); check the network, or set SAFESTEER_DATA_MIRROR to a mirror holding ${f.file}.`,
    );
  const hash = createHash("sha256");
  const chunks: Buffer[] = [];
  let done = 0;
  try {
    const res = await fetch(url, { signal });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw failed(`HTTP ${res.status}`);
    }
    for await (const chunk of res.body) {
      const b = Buffer.from(chunk as Uint8Array);
      done += b.length;
      // a longer body cannot match: stop reading rather than buffer whatever the server sends
      if (done > (f.bytes ?? 0)) throw mismatch(d, f, url, `more than ${f.bytes} bytes`);
      hash.update(b);
      chunks.push(b);
      onBytes(done);
    }
  } catch (e) {
    if (signal?.aborted) throw stopped(d);
    if (e instanceof DataError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw failed(cause?.code ?? cause?.message ?? (e as Error).message);
  }
  const actual = hash.digest("hex");
  if (done !== f.bytes || actual !== f.sha256) throw mismatch(d, f, url, `sha256 ${actual} (${done} bytes)`);
  return Buffer.concat(chunks);
}

function mismatch(d: KnownDataset, f: DataFileSpec, url: string, got: string): DataError {
  return new DataError(
    "data_checksum",
    `${d.name}: ${f.file} from ${url} has the wrong checksum: expected sha256 ${f.sha256} (${f.bytes} bytes), got ${got}; nothing was saved. Retry; if it persists, the source or mirror (SAFESTEER_DATA_MIRROR) serves other bytes: download ${f.url} by hand, check its sha256, and pass the file's path.`,
  );
}
