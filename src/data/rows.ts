// Raw records from JSON, JSONL and CSV files, each with where it came from (for error messages).
import { existsSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { gunzipSync } from "node:zlib";
import { parse } from "csv-parse/sync";
import { DataError } from "./errors.js";

export interface Row {
  /** 1-based line (JSONL, CSV) or 0-based item index (JSON). */
  at: number;
  /** "file:line" or "file[index]" */
  where: string;
  value: unknown;
}

export type FileFormat = "json" | "jsonl" | "csv";

/** The format of a file by its extension; a `.gz` file has the format of the name inside (BeaverTails' `.jsonl.gz`). */
export function formatOf(path: string): FileFormat {
  const ext = extname(path.replace(/\.gz$/i, "")).toLowerCase();
  if (ext === ".json") return "json";
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".csv") return "csv";
  throw new DataError(
    "unknown_format",
    `${path}: unknown file type "${ext}". Data files must be .json, .jsonl or .csv (optionally gzipped: .jsonl.gz).`,
  );
}

export function readText(path: string): string {
  if (!existsSync(path)) throw new DataError("data_not_found", `data file not found: ${path}`);
  if (!/\.gz$/i.test(path)) return readFileSync(path, "utf8");
  try {
    return gunzipSync(readFileSync(path)).toString("utf8");
  } catch (e) {
    throw new DataError("data_invalid", `${path} is not a valid gzip file (${(e as Error).message}); download it again.`);
  }
}

/** A JSON document (the whole file). */
export function readJson(path: string, text = readText(path)): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError("data_invalid", `${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Rows of a file: JSON array items, JSONL lines, or CSV records as objects keyed by the header. */
export function readRows(path: string, text = readText(path)): Row[] {
  const format = formatOf(path);
  if (format === "json") {
    const doc = readJson(path, text);
    if (!Array.isArray(doc)) return [{ at: 0, where: path, value: doc }];
    return doc.map((value, i) => ({ at: i, where: `${path}[${i}]`, value }));
  }
  if (format === "jsonl") {
    const rows: Row[] = [];
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === "") return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        value = new Error(`not valid JSON (${(e as Error).message})`); // reported per row by the loader
      }
      rows.push({ at: i + 1, where: `${path}:${i + 1}`, value });
    });
    return rows;
  }
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, info: true, relax_column_count: true, bom: true });
  } catch (e) {
    throw new DataError("data_invalid", `${path} is not valid CSV: ${(e as Error).message}`);
  }
  return records.map(({ record, info }) => ({ at: info.lines, where: `${path}:${info.lines}`, value: record }));
}
