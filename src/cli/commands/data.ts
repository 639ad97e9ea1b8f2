// `safesteer data list` and `safesteer data fetch NAME...`: the known public data sets.
// Imports nothing from the engine, so these commands work without loading the native library.
import type { Command } from "commander";
import { DataError } from "../../data/errors.js";
import { type FetchResult, fetchDataset, fileState, requireDataset } from "../../data/fetch.js";
import { dataDir } from "../../data/load.js";
import { DATASETS } from "../../data/registry.js";
import { interruptSignal, progressBar } from "../progress.js";

const size = (bytes: number | null) =>
  bytes === null ? "?" : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The known sets and whether each is in the data folder, as JSON or a table. */
export function printDataList(json: boolean): void {
  const dir = dataDir();
  const rows = DATASETS.map((d) => ({
    name: d.name,
    file: d.file,
    description: d.description,
    licence: d.licence,
    bytes: d.bytes,
    sha256: d.sha256,
    pin: d.pin ?? "bytes",
    categories: d.categories ?? null,
    state: fileState(d, dir),
    url: d.url,
  }));
  if (json) {
    process.stdout.write(`${JSON.stringify({ dir, datasets: rows }, null, 2)}\n`);
    return;
  }
  const present = { present: "yes", missing: "no", differs: "differs (fetch --force)" };
  const state = (r: (typeof rows)[number]) => (r.sha256 === null && r.state !== "missing" ? "yes (not verifiable)" : present[r.state]);
  const out = [`data folder: ${dir}`, "", "| name | licence | size | present | source |", "|---|---|---|---|---|"];
  for (const r of rows) out.push(`| ${r.name} | ${r.licence} | ${size(r.bytes)} | ${state(r)} | ${r.url} |`);
  process.stdout.write(`${out.join("\n")}\n`);
}

/** Downloads the named sets in turn; the names are all checked before the first download. */
export async function fetchData(names: string[], force: boolean): Promise<void> {
  const sets = [...new Set(names)].map(requireDataset);
  const dir = dataDir();
  const { signal, dispose } = interruptSignal();
  let i = 0;
  try {
    for (; i < sets.length; i++) {
      const d = sets[i]!;
      const bar = progressBar(d.name);
      let r: FetchResult;
      try {
        r = await fetchDataset(d.name, { dir, force, signal, onProgress: (done, total) => bar.update(done, total) });
      } finally {
        bar.stop();
      }
      process.stdout.write(
        r.downloaded.length
          ? `${d.name}: saved ${r.path} (${size(d.bytes)}, sha256 verified; licence ${d.licence})\n`
          : `${d.name}: already in ${dir} with the right checksum (--force downloads it again)\n`,
      );
    }
  } catch (e) {
    // Ctrl-C: name the sets left out; fetchDataset already made sure no partial file stayed
    if (e instanceof DataError && e.code === "aborted") {
      const left = sets.slice(i).map((d) => d.name);
      throw new DataError("aborted", `${e.message.replace(/\.$/, "")} (Ctrl-C); not fetched: ${left.join(", ")}.`);
    }
    throw e;
  } finally {
    dispose();
  }
}

export function dataCommand(program: Command): void {
  const data = program.command("data").description("the known public data sets: list them, download them into the data folder");
  data
    .command("list")
    .description("known data sets: licence, size, whether present in the data folder, source")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) => printDataList(Boolean(o.json)));
  data
    .command("fetch")
    .description("download known data sets into the data folder (SAFESTEER_DATA, or the user cache), checking their sha256")
    .argument("<names...>", "set names, as in `safesteer data list`")
    .option("--force", "download again even when present with the right checksum")
    .action((names: string[], o: { force?: boolean }) => fetchData(names, Boolean(o.force)));
}
