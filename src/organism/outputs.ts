// What the demo writes (results.json, report.md, report.html, the bundle), made reproducible byte for byte: the
// files are committed (reports/organism), so nothing in them may depend on where the repository
// lives or on the wall clock. Paths are relative to the output folder; the bundle records no
// creation time.
import { mkdirSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { writeBundle } from "../steer/bundle.js";
import { writeNeurons } from "../steer/neuron-file.js";
import type { Bundle } from "../steer/types.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { buildReport, writeReport } from "../web/report-file.js";
import { studyExamples, studyReport } from "./report.js";
import type { StudyResults } from "./study.js";

/**
 * The study's results file (results.json), as the demo writes it: StudyResults (organism/study.ts)
 * without its bundle, plus `evaluation` (the held-out evaluation, schema safesteer.eval/1) and
 * `sweep` (the main variant's layer and strength sweep on dev prompts, safesteer.eval/1 with
 * its selection and budget); since issue 21 also `targets` (per category, with 95% intervals),
 * `twoTurn` and `baselines` (safesteer.eval/1). Fields are only ever added (the first version had no schema field,
 * no sweep, no fluent rates, and examples with unsteered and steered answers only).
 */
export const STUDY_SCHEMA = "safesteer.organism-study/2";

export const DEMO_FILES = {
  results: "results.json",
  report: "report.md",
  html: "report.html",
  bundle: "organism.bundle.gguf",
  neurons: "organism.neurons.json",
} as const;

/** `path` relative to `dir`, with forward slashes (the same text on every system). */
export function relativeTo(dir: string, path: string): string {
  if (!path) return path;
  const r = relative(resolve(dir), resolve(path));
  return (r === "" ? "." : r).split(sep).join("/");
}

/**
 * The bundle as the demo commits it: no creation time (an empty `created`: not recorded). Its data
 * provenance is already free of places: the study records its generated files as
 * `safesteer organism data` writes them (organism-data/vectors.jsonl), with their sha256.
 */
export function reproducibleBundle(b: Bundle): Bundle {
  return { ...b, created: "" };
}

/**
 * The results file's content: the study without its bundle, the evaluation's model path relative
 * to `dir` and its bundle path naming the bundle written beside it.
 */
export function demoResultsJson(s: StudyResults, dir: string): string {
  const { test, sweep, bundle: _b, neuronSet: _n, baselines, ...summary } = s;
  const evaluation = {
    ...test,
    model: { ...test.model, path: relativeTo(dir, test.model.path) },
    ...(test.bundle ? { bundle: { ...test.bundle, path: DEMO_FILES.bundle } } : {}),
  };
  // the sweep ran on the main variant's bundle before its choices and detector: no file of its own
  const sweepOut = {
    ...sweep,
    model: { ...sweep.model, path: relativeTo(dir, sweep.model.path) },
    ...(sweep.bundle ? { bundle: { ...sweep.bundle, path: "" } } : {}),
  };
  // the baselines ran on the study's bundle (written beside the results) and their own vectors (not kept)
  const baselinesOut = baselines && {
    ...baselines,
    model: { ...baselines.model, path: relativeTo(dir, baselines.model.path) },
    ...(baselines.bundle ? { bundle: { ...baselines.bundle, path: DEMO_FILES.bundle } } : {}),
  };
  return `${JSON.stringify({ schema: STUDY_SCHEMA, ...summary, ...(baselinesOut ? { baselines: baselinesOut } : {}), evaluation, sweep: sweepOut }, null, 1)}\n`;
}

export function demoReportMd(s: StudyResults): string {
  return `# SafeSteer on the organism\n\n${studyReport(s)}\n\n## Examples\n\n${s.examples.length} held-out harmful prompts drawn at random (seeded, not chosen), with every condition's answer and the judge's labels.\n\n${studyExamples(s)}\n`;
}

/** Writes results.json, report.md, organism.bundle.gguf, organism.neurons.json (when the neuron study ran) and report.html (drawn from the first three) into `dir`; returns their paths. */
export function writeDemoOutputs(dir: string, s: StudyResults): string[] {
  mkdirSync(dir, { recursive: true });
  const paths = [join(dir, DEMO_FILES.results), join(dir, DEMO_FILES.report), join(dir, DEMO_FILES.bundle)] as const;
  writeFileAtomic(paths[0], [demoResultsJson(s, dir)]);
  writeFileAtomic(paths[1], [demoReportMd(s)]);
  writeBundle(paths[2], reproducibleBundle(s.bundle));
  // the HTML report reads the files just written (names relative to `dir`: nothing names a place)
  const html = join(dir, DEMO_FILES.html);
  // the units the neuron study found (no creation time): the report's neuron section reads them
  const neurons = s.neuronSet ? [join(dir, DEMO_FILES.neurons)] : [];
  if (s.neuronSet) writeNeurons(neurons[0] as string, { ...s.neuronSet, created: "" });
  writeReport(html, buildReport({ results: [paths[0]], neurons, title: "SafeSteer on the organism" }));
  return [...paths, ...neurons, html];
}
