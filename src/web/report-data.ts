// From results files and bundles to what a report draws (web/report-types.ts). Reads both an
// evaluation's results (schema safesteer.eval/1) and the organism study's results, which hold one
// evaluation (and, where the study saved it, its sweep) beside study-level numbers.
import { basename } from "node:path";
import { SafeSteerError } from "../errors.js";
import type { AnswerRecord, GroupMetrics, ReferenceQuality } from "../eval/metrics.js";
import { type EvalResults, RESULTS_SCHEMA } from "../eval/results.js";
import { type Budget, DEFAULT_BUDGET } from "../eval/select.js";
import type { Bundle } from "../steer/types.js";
import { Rng } from "../util/random.js";
import type {
  BundleData,
  CosineCell,
  DetectorScore,
  Example,
  ExampleAnswer,
  ItemGroup,
  LayerStat,
  MetricRow,
  ReportData,
  RunData,
  SweepBudget,
  SweepChoice,
  SweepPoint,
} from "./report-types.js";

/** A results file as read: its name in the report and its parsed JSON. */
export interface ResultsInput {
  name: string;
  json: unknown;
}

export interface ReportOptions {
  title?: string;
  /** Example prompts shown per (group, category), drawn at random with a fixed seed (default 2). */
  examplesPerGroup?: number;
}

const isEval = (x: unknown): x is EvalResults =>
  typeof x === "object" && x !== null && (x as { schema?: unknown }).schema === RESULTS_SCHEMA;

/** The evaluations a results file holds: {main, sweep?}; an error naming the file when it holds none. */
export function evaluationsOf(input: ResultsInput): { main: EvalResults; sweep?: EvalResults } {
  const j = input.json as Record<string, unknown> | null;
  if (isEval(j)) return { main: j };
  if (j && isEval(j.evaluation)) return { main: j.evaluation, sweep: isEval(j.sweep) ? j.sweep : undefined };
  throw new SafeSteerError(
    "bad_argument",
    `${input.name} is not a SafeSteer results file (no "schema": "${RESULTS_SCHEMA}"): give the -o file of \`safesteer eval\` or the demo's results.json.`,
  );
}

const baselineOf = (r: EvalResults) => r.conditions.find((c) => c.mode === "none")?.name ?? (r.conditions[0]?.name as string);
const fluentOf = (m: GroupMetrics): number | null => {
  const f = (m as GroupMetrics & { fluentRate?: number }).fluentRate;
  return typeof f === "number" ? f : null;
};

function metricRow(
  run: string,
  condition: string,
  baseline: boolean,
  group: ItemGroup,
  category: string | null,
  m: GroupMetrics,
  delta?: ReferenceQuality | null,
): MetricRow {
  const ref = m.reference;
  return {
    ...(ref
      ? { reference: { bleu: ref.bleu, rougeL: ref.rougeL, bleuDelta: delta?.bleu ?? null, rougeLDelta: delta?.rougeL ?? null } }
      : {}),
    run,
    condition,
    baseline,
    group,
    category,
    n: m.n,
    unsafe: m.unsafeRate,
    refusal: m.refusalRate,
    helpful: m.helpfulRate,
    onTopic: m.relevance,
    fluent: fluentOf(m),
    perplexity: m.perplexity,
  };
}

function metricsOf(run: string, r: EvalResults): MetricRow[] {
  const base = baselineOf(r);
  const rows: MetricRow[] = [];
  for (const c of r.conditions) {
    if (c.layer !== undefined) continue; // sweep points are drawn as sweeps
    const s = r.summary[c.name];
    if (!s) continue;
    const b = c.name === base;
    const d = s.referenceDelta;
    rows.push(metricRow(run, c.name, b, "harmful", null, s.harmful, d?.harmful));
    for (const [cat, m] of Object.entries(s.harmful.byCategory))
      rows.push(metricRow(run, c.name, b, "harmful", cat, m, d?.byCategory[cat]));
    if (s.benign.n) rows.push(metricRow(run, c.name, b, "benign", null, s.benign, d?.benign));
    if (s.lookalike.n) rows.push(metricRow(run, c.name, b, "lookalike", null, s.lookalike, d?.lookalike));
  }
  return rows;
}

/** Sweep points, the choices and the budgets they were held to (from `eval --sweep` results). */
function sweepOf(run: string, r: EvalResults): { sweep: SweepPoint[]; choices: SweepChoice[]; budgets: SweepBudget[] } {
  const sweep: SweepPoint[] = [];
  for (const c of r.conditions) {
    if (c.layer === undefined) continue;
    for (const [cat, strength] of Object.entries(c.policy ?? {})) {
      const m = r.summary[c.name]?.harmful.byCategory[cat];
      if (!m) continue;
      sweep.push({
        run,
        category: cat,
        layer: c.layer,
        strength,
        unsafe: m.unsafeRate,
        refusal: m.refusalRate,
        onTopic: m.relevance,
        perplexity: m.perplexity,
      });
    }
  }
  const choices = (r.selection ?? []).map((s) => ({
    run,
    category: s.category,
    layer: s.layer,
    strength: s.strength,
    withinBudget: s.withinBudget,
  }));
  const budget: Budget = (r as EvalResults & { budget?: Budget }).budget ?? DEFAULT_BUDGET;
  const base = r.summary[baselineOf(r)];
  const budgets = [...new Set(sweep.map((p) => p.category))].map((category) => {
    const b = base?.harmful.byCategory[category];
    const rel = b?.relevance ?? null;
    return {
      run,
      category,
      maxRefusal: (b?.refusalRate ?? 0) + budget.refusalIncrease,
      minOnTopic: rel === null ? null : Math.min(budget.minRelevance, rel - 0.05),
    };
  });
  return { sweep, choices, budgets };
}

function detectorOf(run: string, r: EvalResults): DetectorScore[] {
  const out: DetectorScore[] = [];
  for (const d of r.detections ?? []) {
    const item = r.items[d.index];
    if (!item) continue;
    for (const [category, score] of Object.entries(d.scores)) {
      const truth: DetectorScore["truth"] =
        item.kind === "benign"
          ? "benign"
          : item.kind === "lookalike"
            ? "look-alike"
            : item.category === category
              ? "this category"
              : "other category";
      out.push({ run, category, score, truth });
    }
  }
  return out;
}

function labelsOf(a: AnswerRecord): string[] {
  const j = a.judgement as AnswerRecord["judgement"] & { fluent?: boolean };
  const labels: string[] = [];
  if (j.unsafe) labels.push("unsafe");
  if (j.refusal) labels.push("refusal");
  if (j.helpful) labels.push("helpful");
  if (j.relevant === false) labels.push("off topic");
  if (j.fluent === false) labels.push("broken");
  return labels;
}

/** A seeded random sample of prompts per (group, category), each with every condition's answer. */
function examplesOf(run: string, r: EvalResults, perGroup: number): Example[] {
  const shown = r.conditions.filter((c) => c.layer === undefined).map((c) => c.name);
  const byItem = new Map<number, ExampleAnswer[]>();
  for (const a of r.answers) {
    if (!shown.includes(a.condition)) continue;
    const list = byItem.get(a.index) ?? [];
    list.push({ condition: a.condition, text: a.answer, labels: labelsOf(a) });
    byItem.set(a.index, list);
  }
  const groups = new Map<string, number[]>();
  for (const it of r.items) {
    if (!byItem.has(it.index)) continue;
    const k = `${it.kind}\u0000${it.kind === "harmful" ? (it.category ?? "") : ""}`;
    groups.set(k, [...(groups.get(k) ?? []), it.index]);
  }
  const rng = new Rng(7);
  const out: Example[] = [];
  for (const k of [...groups.keys()].sort()) {
    const pool = [...(groups.get(k) as number[])];
    for (let i = 0; i < perGroup && pool.length; i++) {
      const index = pool.splice(rng.int(pool.length), 1)[0] as number;
      const it = r.items[index] ?? r.items.find((x) => x.index === index);
      if (!it) continue;
      const answers = (byItem.get(index) ?? []).sort((a, b) => shown.indexOf(a.condition) - shown.indexOf(b.condition));
      out.push({ run, group: it.kind, category: it.kind === "harmful" ? (it.category ?? null) : null, prompt: it.prompt, answers });
    }
  }
  return out;
}

export function bundleData(name: string, b: Bundle): { bundle: BundleData; layers: LayerStat[]; cosine: CosineCell[] } {
  const names = [...b.categories.keys()];
  const layers: LayerStat[] = [];
  for (const [category, e] of b.categories)
    for (const [l, d] of Object.entries(e.diagnostics)) {
      const layer = Number(l);
      const mean = b.meanNorm[layer];
      layers.push({
        bundle: name,
        category,
        layer,
        auroc: d.auroc,
        margin: d.margin,
        relativeNorm: mean ? d.norm / mean : null,
        chosen: e.steerLayers.includes(layer),
      });
    }
  const cosine: CosineCell[] = [];
  for (const [l, m] of Object.entries(b.cosine))
    for (const [i, a] of names.entries())
      for (const [k, c] of names.entries()) cosine.push({ bundle: name, layer: Number(l), a, b: c, cosine: m[i]?.[k] ?? 0 });
  return {
    bundle: {
      name,
      model: b.model.name || b.model.architecture,
      site: b.site,
      layers: b.layers,
      categories: [...b.categories].map(([n, e]) => ({
        name: n,
        layer: e.steerLayers[0] as number,
        strength: e.strength ?? null,
        nUnsafe: e.nUnsafe,
        nSafe: e.nSafe,
        safeSource: e.safeSource,
      })),
      detector: b.detector
        ? Object.entries(b.detector.categories).map(([category, d]) => ({ category, layer: d.layer, threshold: d.threshold }))
        : null,
    },
    layers,
    cosine,
  };
}

/** Everything a report shows, from any number of results files and bundles. */
export function reportData(
  results: ResultsInput[],
  bundles: Array<{ name: string; bundle: Bundle }>,
  opts: ReportOptions = {},
): ReportData {
  const data: ReportData = {
    title: opts.title ?? "SafeSteer report",
    runs: [],
    metrics: [],
    sweep: [],
    choices: [],
    budgets: [],
    detector: [],
    examples: [],
    bundles: [],
    layers: [],
    cosine: [],
  };
  for (const input of results) {
    const { main, sweep } = evaluationsOf(input);
    const run: RunData = {
      name: input.name,
      model: basename(main.model.path),
      bundle: main.bundle ? basename(main.bundle.path) : null,
      judge: main.judge,
      conditions: main.conditions.filter((c) => c.layer === undefined).map((c) => c.name),
      baseline: baselineOf(main),
    };
    data.runs.push(run);
    data.metrics.push(...metricsOf(input.name, main));
    for (const r of sweep ? [main, sweep] : [main]) {
      const s = sweepOf(input.name, r);
      data.sweep.push(...s.sweep);
      data.choices.push(...s.choices);
      data.budgets.push(...s.budgets);
    }
    data.detector.push(...detectorOf(input.name, main));
    data.examples.push(...examplesOf(input.name, main, opts.examplesPerGroup ?? 2));
  }
  for (const { name, bundle } of bundles) {
    const d = bundleData(name, bundle);
    data.bundles.push(d.bundle);
    data.layers.push(...d.layers);
    data.cosine.push(...d.cosine);
  }
  return data;
}
