// Each chart of a report as Observable Plot options built from the report's data (pure functions:
// data in, a plot description out). Colours: unsteered orange, steered blue (Okabe-Ito).
import * as Plot from "@observablehq/plot";
import type {
  CosineCell,
  DetectorScore,
  LayerStat,
  MetricRow,
  RunData,
  SweepBudget,
  SweepChoice,
  SweepPoint,
} from "../../src/web/report-types.js";
import { conditionColors } from "../shared/palette.js";

export type PlotOptions = Plot.PlotOptions;

const METRICS = [
  ["unsafe", "unsafe"],
  ["refusal", "refusal"],
  ["helpful", "helpful"],
  ["onTopic", "on topic"],
  ["fluent", "fluent"],
] as const;

/** Okabe-Ito colours for layers (the refusal budget's orange-red is kept out). */
const LAYER_COLORS = ["#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000", "#F0E442"];

const pct = { tickFormat: "%", domain: [0, 1], grid: true, ticks: 4 } as const;
/** The metrics present in the data, in the order of METRICS. */
const metricsIn = (data: Array<{ metric: string }>) => METRICS.map(([, l]) => l as string).filter((l) => data.some((d) => d.metric === l));

/** One value per (row, metric) the judge measured, for faceted bars. */
function long(rows: MetricRow[]) {
  return rows.flatMap((r) => METRICS.filter(([k]) => r[k] !== null).map(([k, label]) => ({ ...r, metric: label, value: r[k] as number })));
}

const colorFor = (run: RunData) => ({ domain: run.conditions, range: conditionColors(run.conditions, run.baseline), legend: true });

/** Per harm category: unsafe, refusal, helpful, on-topic and fluent rates, unsteered against steered. */
export function categoryChart(run: RunData, rows: MetricRow[], width: number): PlotOptions {
  const data = long(rows.filter((r) => r.run === run.name && r.group === "harmful" && r.category !== null));
  const metrics = metricsIn(data);
  return {
    width,
    height: 130 * metrics.length + 60,
    marginBottom: 40,
    marginRight: 80,
    color: colorFor(run),
    x: { axis: null, domain: run.conditions },
    y: { ...pct, label: null },
    fx: { label: null, tickRotate: width < 600 ? -30 : 0 },
    fy: { label: null, domain: metrics },
    marks: [Plot.barY(data, { fx: "category", fy: "metric", x: "condition", y: "value", fill: "condition", tip: true }), Plot.ruleY([0])],
  };
}

/** Benign and look-alike prompts: refusal (over-refusal on look-alikes) and helpful rates. */
export function benignChart(run: RunData, rows: MetricRow[], width: number): PlotOptions {
  const data = long(rows.filter((r) => r.run === run.name && r.group !== "harmful")).filter((d) => d.metric !== "unsafe");
  return {
    width,
    height: 220,
    marginRight: 80,
    color: colorFor(run),
    x: { axis: null, domain: run.conditions },
    y: { ...pct, label: null },
    fx: { label: null },
    fy: { label: null },
    marks: [Plot.barY(data, { fx: "metric", fy: "group", x: "condition", y: "value", fill: "condition", tip: true }), Plot.ruleY([0])],
  };
}

/** Answer perplexity under the unsteered model, per category: fluency's cost of steering. */
export function perplexityChart(run: RunData, rows: MetricRow[], width: number): PlotOptions {
  const data = rows.filter((r) => r.run === run.name && r.perplexity !== null);
  const groupOf = (r: MetricRow) => (r.group === "harmful" ? (r.category ?? "all harmful") : r.group);
  return {
    width,
    height: 60 + 26 * new Set(data.map(groupOf)).size,
    marginLeft: 120,
    color: colorFor(run),
    x: { label: "perplexity →", grid: true },
    y: { label: null },
    marks: [Plot.dot(data, { x: "perplexity", y: groupOf, fill: "condition", r: 5, tip: true })],
  };
}

/** Several runs side by side: the harmful prompts' rates per run and condition. */
export function runsChart(runs: RunData[], rows: MetricRow[], width: number): PlotOptions {
  const data = long(rows.filter((r) => r.group === "harmful" && r.category === null)).map((d) => ({
    ...d,
    steered: d.baseline ? "unsteered" : d.condition,
  }));
  const conditions = [...new Set(data.map((d) => d.steered))];
  const metrics = metricsIn(data);
  return {
    width,
    height: 110 * metrics.length + 60,
    marginRight: 80,
    color: { domain: conditions, range: conditionColors(conditions, "unsteered"), legend: true },
    x: { axis: null, domain: conditions },
    y: { ...pct, label: null },
    fx: { label: null, domain: runs.map((r) => r.name) },
    fy: { label: null, domain: metrics },
    marks: [Plot.barY(data, { fx: "run", fy: "metric", x: "steered", y: "value", fill: "steered", tip: true }), Plot.ruleY([0])],
  };
}

/** Strength sweeps per category: unsafe and refusal against strength, per layer, with the budget and the choice. */
export function sweepChart(run: string, points: SweepPoint[], choices: SweepChoice[], budgets: SweepBudget[], width: number): PlotOptions {
  const pts = points.filter((p) => p.run === run);
  const long = pts.flatMap((p) => [
    { ...p, metric: "unsafe", value: p.unsafe },
    { ...p, metric: "refusal", value: p.refusal },
  ]);
  const chosen = choices
    .filter((c) => c.run === run)
    .map((c) => ({ ...c, unsafe: pts.find((p) => p.category === c.category && p.layer === c.layer && p.strength === c.strength)?.unsafe }))
    .filter((c) => c.unsafe !== undefined);
  const layers = [...new Set(pts.map((p) => String(p.layer)))].sort((a, b) => Number(a) - Number(b));
  return {
    width,
    height: 300,
    marginBottom: 40,
    color: { domain: layers.map((l) => `layer ${l}`), range: LAYER_COLORS, legend: true },
    x: { label: "strength →", grid: true },
    y: { ...pct, label: "rate" },
    fx: { label: null },
    marks: [
      Plot.ruleY(
        budgets.filter((b) => b.run === run),
        { fx: "category", y: "maxRefusal", stroke: "#D55E00", strokeDasharray: "6 3", strokeWidth: 1.5, title: () => "refusal budget" },
      ),
      ...(["unsafe", "refusal"] as const).map((metric) =>
        Plot.lineY(
          long.filter((d) => d.metric === metric),
          {
            fx: "category",
            x: "strength",
            y: "value",
            z: "layer",
            stroke: (d: { layer: number }) => `layer ${d.layer}`,
            strokeDasharray: metric === "refusal" ? "2 3" : undefined,
            marker: "dot",
            tip: true,
          },
        ),
      ),
      Plot.dot(chosen, {
        fx: "category",
        x: "strength",
        y: "unsafe",
        r: 9,
        stroke: "#000",
        strokeWidth: 2,
        title: (d: SweepChoice) => `chosen: layer ${d.layer}, strength ${d.strength}${d.withinBudget ? "" : " (over budget)"}`,
      }),
    ],
  };
}

/** Detector scores per category, by what the prompt really is; the threshold is 0. */
export function detectorChart(run: string, scores: DetectorScore[], width: number): PlotOptions {
  const data = scores.filter((s) => s.run === run);
  const truths = ["this category", "other category", "benign", "look-alike"];
  return {
    width,
    height: 80 + 60 * new Set(data.map((d) => d.category)).size,
    marginLeft: 110,
    color: { domain: truths, range: ["#D55E00", "#E69F00", "#009E73", "#56B4E9"], legend: true },
    x: { label: "detector score (benign standard deviations above the threshold) →", grid: true },
    y: { domain: truths, axis: null },
    fy: { label: null },
    marks: [
      Plot.ruleX([0], { stroke: "#000", strokeDasharray: "4 2" }),
      Plot.tickX(data, { fy: "category", x: "score", y: "truth", stroke: "truth", strokeOpacity: 0.7, tip: true }),
    ],
  };
}

/** Held-out separability of each category's vector per layer (AUROC or Cohen's d), the chosen layer marked. */
export function layerChart(bundle: string, stats: LayerStat[], field: "auroc" | "margin", width: number): PlotOptions {
  const data = stats.filter((s) => s.bundle === bundle && s[field] !== null);
  return {
    width,
    height: 260,
    color: { legend: true, scheme: "observable10" },
    x: { label: "layer →", ticks: [...new Set(data.map((d) => d.layer))], tickFormat: "d" },
    y: field === "auroc" ? { label: "held-out AUROC ↑", domain: [0.5, 1], grid: true } : { label: "margin (Cohen's d) ↑", grid: true },
    marks: [
      Plot.lineY(data, { x: "layer", y: field, stroke: "category", marker: "dot", tip: true }),
      Plot.dot(
        data.filter((d) => d.chosen),
        {
          x: "layer",
          y: field,
          r: 8,
          stroke: "category",
          strokeWidth: 2,
          title: (d: LayerStat) => `${d.category}: steered at layer ${d.layer}`,
        },
      ),
    ],
  };
}

/** Cosine similarity between the categories' vectors, one heat map per layer. */
export function cosineChart(bundle: string, cells: CosineCell[], width: number): PlotOptions {
  const data = cells.filter((c) => c.bundle === bundle);
  return {
    width,
    height: 120 + 28 * new Set(data.map((d) => d.a)).size,
    marginLeft: 110,
    marginBottom: 80,
    padding: 0.05,
    color: { type: "linear", scheme: "PuOr", domain: [-1, 1], legend: true, label: "cosine" },
    x: { label: null, tickRotate: -40 },
    y: { label: null },
    fx: { label: "layer" },
    marks: [
      Plot.cell(data, { fx: "layer", x: "a", y: "b", fill: "cosine", tip: true }),
      Plot.text(data, {
        fx: "layer",
        x: "a",
        y: "b",
        text: (d: CosineCell) => d.cosine.toFixed(2),
        fontSize: 9,
        fill: (d: CosineCell) => (Math.abs(d.cosine) > 0.6 ? "white" : "black"),
      }),
    ],
  };
}
