// Loads a labelled data file through the adapter that recognises it (or the one named).

import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { userCacheDir } from "../util/cache-dir.js";
import { sha256Hex } from "../util/hash.js";
import { log } from "../util/logger.js";
import { ADAPTERS, type Adapter, adapterByName } from "./adapters.js";
import { DataError } from "./errors.js";
import type { Dataset, Example } from "./example.js";
import { knownDataset, knownDatasetByFile } from "./registry.js";
import { formatOf, readRows, readText } from "./rows.js";

export interface LoadDataOptions {
  /** Adapter name (default: detected from the file). */
  adapter?: string;
  /** A bad row is an error (file and line) instead of a skipped row with a warning. */
  strict?: boolean;
}

export function detectAdapter(path: string, first: unknown): Adapter {
  const format = formatOf(path);
  const a = ADAPTERS.find((x) => x.matches(format, first));
  if (!a) {
    throw new DataError(
      "unknown_format",
      `${path}: no adapter recognises this file. Use the generic format (one {"prompt", "category"?, "label"?} per row) or name an adapter (--adapter NAME): ${ADAPTERS.map((x) => x.name).join(", ")}.`,
    );
  }
  return a;
}

/** Loads a data file, given as a path or as a known set's name (see registry.ts). */
export function loadDataset(pathOrName: string, opts: LoadDataOptions = {}): Dataset {
  const path = resolveDataPath(pathOrName);
  const text = readText(path);
  if (text.trim() === "") throw new DataError("data_invalid", `${path} is empty: a data file needs at least one row.`);
  const raw = readRows(path, text);
  const first = raw.find((r) => !(r.value instanceof Error))?.value;
  let adapter: Adapter | undefined;
  if (opts.adapter) {
    adapter = adapterByName(opts.adapter);
    if (!adapter)
      throw new DataError("unknown_format", `unknown data adapter "${opts.adapter}"; known: ${ADAPTERS.map((x) => x.name).join(", ")}.`);
  } else {
    adapter = detectAdapter(path, first);
  }
  const rows = adapter.rows ? adapter.rows(raw) : raw;
  const examples: Example[] = [];
  const skipped: Dataset["skipped"] = [];
  for (const row of rows) {
    const r = row.value instanceof Error ? { skip: row.value.message } : adapter.convert(row);
    if ("skip" in r) {
      if (opts.strict) throw new DataError("data_invalid", `${row.where}: ${r.skip} (strict mode: fix the row or drop --strict).`);
      skipped.push({ line: row.at, reason: r.skip });
    } else {
      examples.push(r);
    }
  }
  if (skipped.length) {
    const first3 = skipped
      .slice(0, 3)
      .map((s) => `${s.line}: ${s.reason}`)
      .join("; ");
    log.warn(
      `${path}: skipped ${skipped.length} bad row(s) (${first3}${skipped.length > 3 ? "; ..." : ""}); --strict makes this an error.`,
    );
  }
  return { name: adapter.name, path, sha256: sha256Hex(text), examples, skipped };
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The folder of public data sets, where `safesteer data fetch` writes: SAFESTEER_DATA if set; else
 * ../shared/data beside the checkout if it exists (developers and CI); else the per-user cache
 * (userCacheDataDir), which is where users of the npm package get their downloads.
 */
export function dataDir(): string {
  if (process.env.SAFESTEER_DATA) return process.env.SAFESTEER_DATA;
  const shared = sharedDataDir();
  return existsSync(shared) ? shared : userCacheDataDir();
}

/** ../shared/data beside the checkout: a read-only copy that downloads must never write into. */
export function sharedDataDir(): string {
  return join(ROOT, "..", "shared", "data");
}

/** The data folder inside the per-user cache (see util/cache-dir.ts). */
export function userCacheDataDir(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform, home = homedir()): string {
  return join(userCacheDir(env, platform, home), "data");
}

/** A file from the data folder, or a clear error saying where it was looked for (and, for a known set, how to get it). */
export function dataFile(name: string): string {
  const p = join(dataDir(), name);
  if (!existsSync(p)) {
    const known = knownDatasetByFile(name);
    throw new DataError(
      "data_not_found",
      known
        ? `${name} (${known.title}) is not in ${dataDir()}: download it with "safesteer data fetch ${known.name}", or pass a file.`
        : `${name} not found in ${dataDir()}. Set SAFESTEER_DATA to a folder holding it, or pass the file explicitly.`,
    );
  }
  return p;
}

/** A path as given, or a known set's name ("catqa") as its file in dataDir(); an existing path wins over a name. */
export function resolveDataPath(pathOrName: string): string {
  if (existsSync(pathOrName)) return pathOrName;
  const known = knownDataset(pathOrName);
  return known ? dataFile(known.file) : pathOrName;
}
