// A report as one self-contained HTML file: results files and bundles in, written atomically.
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { SafeSteerError } from "../errors.js";
import { readBundle } from "../steer/bundle.js";
import { readNeurons } from "../steer/neuron-file.js";
import type { Bundle } from "../steer/types.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { neuronData } from "./neuron-data.js";
import { renderPage } from "./page.js";
import { evaluationsOf, type ReportOptions, type ResultsInput, reportData } from "./report-data.js";
import type { ReportData } from "./report-types.js";

export function reportHtml(data: ReportData): string {
  return renderPage({ app: "report", title: data.title, data });
}

/** Reads a results file, with a one-line error naming the file and the fix. */
export function readResults(path: string): ResultsInput {
  if (!existsSync(path))
    throw new SafeSteerError("bad_argument", `results file ${path} not found: give the -o file of \`safesteer eval\`.`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new SafeSteerError("bad_argument", `${path} is not JSON (${(e as Error).message}): give the -o file of \`safesteer eval\`.`);
  }
  const input = { name: basename(path), json };
  evaluationsOf(input); // the file holds an evaluation, or a clear error now
  return input;
}

export interface ReportSources extends ReportOptions {
  results: string[];
  /** Bundles to show; the bundle each results file names is added when it exists. */
  bundles?: string[];
  /** Neuron files (from `safesteer neurons`) to show. */
  neurons?: string[];
}

/** The bundles to show: the ones given, then those the results name (relative to their file), each once. */
function bundlePaths(sources: ReportSources, inputs: ResultsInput[]): string[] {
  const out = (sources.bundles ?? []).map((p) => resolve(p));
  for (const [i, input] of inputs.entries()) {
    const named = evaluationsOf(input).main.bundle?.path;
    if (!named) continue;
    const path = resolve(dirname(sources.results[i] as string), named);
    if (existsSync(path) && !out.includes(path)) out.push(path);
  }
  return out;
}

export function buildReport(sources: ReportSources): ReportData {
  const inputs = sources.results.map(readResults);
  const names = new Set<string>();
  for (const input of inputs) {
    // two files of the same name (runs in different folders) stay apart
    let name = input.name;
    for (let k = 2; names.has(name); k++) name = `${input.name} (${k})`;
    names.add(name);
    input.name = name;
  }
  const bundles: Array<{ name: string; bundle: Bundle }> = bundlePaths(sources, inputs).map((p) => ({
    name: basename(p),
    bundle: readBundle(p),
  }));
  const neurons = (sources.neurons ?? []).map((p) => neuronData(basename(p), readNeurons(p)));
  return { ...reportData(inputs, bundles, sources), ...(neurons.length ? { neurons } : {}) };
}

export function writeReport(path: string, data: ReportData): void {
  writeFileAtomic(path, [reportHtml(data)]);
}
