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

/**
 * Colours for categories: Observable's 10 up to 10 categories, beyond that Kelly's colours of
 * maximum contrast (white and black left out), so 11+ categories (CatQA has 11) never share one.
 */
const KELLY = [
  "#F3C300",
  "#875692",
  "#F38400",
  "#A1CAF1",
  "#BE0032",
  "#C2B280",
  "#848482",
  "#008856",
  "#E68FAC",
  "#0067A5",
  "#F99379",
  "#604E97",
  "#F6A600",
  "#B3446C",
  "#DCD300",
  "#882D17",
  "#8DB600",
  "#654522",
  "#E25822",
  "#2B3D26",
];
export function categoryColors(categories: string[]) {
  return categories.length <= 10
    ? { domain: categories, scheme: "observable10" as const, legend: true }
    : { domain: categories, range: KELLY, legend: true };
}

/** Pixels a label takes at the charts' 10px font (generous, so a label is never cut). */
export const labelWidth = (labels: Iterable<string>, px = 6.5) => Math.ceil(Math.max(0, ...[...labels].map((l) => l.length)) * px) + 12;

const pct = { tickFormat: "%", domain: [0, 1], grid: true, ticks: 4 } as const;
/** The metrics present in the data, in the order of METRICS. */
const metricsIn = (data: Array<{ metric: string }>) => METRICS.map(([, l]) => l as string).filter((l) => data.some((d) => d.metric === l));

/** One value per (row, metric) the judge measured, with its 95% interval where the file has one, for faceted bars. */
function long(rows: MetricRow[]) {
  return rows.flatMap((r) =>
    METRICS.filter(([k]) => r[k] !== null).map(([k, label]) => ({
      ...r,
      metric: label,
      value: r[k] as number,
      lo: r.ci?.[k]?.lo ?? null,
      hi: r.ci?.[k]?.hi ?? null,
    })),
  );
}
const withInterval = <T extends { lo: number | null; hi: number | null }>(data: T[]) => data.filter((d) => d.lo !== null && d.hi !== null);
const tipOf = (d: { metric: string; value: number; lo: number | null; hi: number | null; prompts: number | null; condition: string }) =>
  `${d.condition}: ${d.metric} ${(100 * d.value).toFixed(1)}%${d.lo !== null && d.hi !== null ? ` [${(100 * d.lo).toFixed(1)}, ${(100 * d.hi).toFixed(1)}]` : ""}${d.prompts !== null ? ` n=${d.prompts}` : ""}`;

/** Upright bars of rates faceted by fx and fy, a bar per `x` (coloured by it), with their 95% intervals. */
function rateBars(data: ReturnType<typeof long>, fx: string, fy: string, x: string) {
  return [
    Plot.barY(data, { fx, fy, x, y: "value", fill: x, title: tipOf }),
    Plot.ruleX(withInterval(data), { fx, fy, x, y1: "lo", y2: "hi", stroke: "#000", strokeWidth: 1.5, className: "interval" }),
    Plot.ruleY([0]),
  ];
}

const colorFor = (run: RunData) => ({ domain: run.conditions, range: conditionColors(run.conditions, run.baseline), legend: true });

/**
 * Per harm category: unsafe, refusal, helpful, on-topic and fluent rates, unsteered against
 * steered, with 95% intervals. A row per category (labels on the left at full length), a column
 * per metric, so 11+ categories stay readable.
 */
export function categoryChart(run: RunData, rows: MetricRow[], width: number): PlotOptions {
  const data = long(rows.filter((r) => r.run === run.name && r.group === "harmful" && r.category !== null));
  const metrics = metricsIn(data);
  const cats = [...new Set(data.map((d) => d.category as string))].sort();
  return {
    width,
    height: 40 + cats.length * (14 * run.conditions.length + 12),
    marginLeft: labelWidth(cats),
    marginRight: 24,
    marginTop: 30,
    color: colorFor(run),
    y: { axis: null, domain: run.conditions },
    x: { ...pct, label: null, ticks: 2 },
    fy: { label: null, domain: cats, axis: "left" },
    fx: { label: null, domain: metrics, axis: "top" },
    marks: [
      Plot.barX(data, { fy: "category", fx: "metric", y: "condition", x: "value", fill: "condition", title: tipOf }),
      Plot.ruleY(withInterval(data), {
        fy: "category",
        fx: "metric",
        y: "condition",
        x1: "lo",
        x2: "hi",
        stroke: "#000",
        strokeWidth: 1.5,
        className: "interval",
      }),
      Plot.ruleX([0]),
    ],
  };
}

/** Benign and look-alike prompts: refusal (over-refusal on look-alikes) and helpful rates. */
export function benignChart(run: RunData, rows: MetricRow[], width: number): PlotOptions {
  const data = long(rows.filter((r) => r.run === run.name && r.group !== "harmful")).filter((d) => d.metric !== "unsafe");
  return {
    width,
    height: 220,
    color: colorFor(run),
    x: { axis: null, domain: run.conditions },
    y: { ...pct, label: null },
    fx: { label: null },
    fy: { label: null },
    marginRight: labelWidth(["lookalike"]),
    marks: rateBars(data, "metric", "group", "condition"),
  };
}

/**
 * Answer perplexity under the unsteered model, per group and condition, with 95% intervals: the
 * axis holds every point and interval, labels at full length.
 */
export function perplexityChart(run: RunData, rows: MetricRow[], width: number): PlotOptions {
  const groupOf = (r: MetricRow) => (r.group === "harmful" ? (r.category ?? "all harmful") : r.group);
  const data = rows
    .filter((r) => r.run === run.name && r.perplexity !== null)
    .map((r) => ({ ...r, where: groupOf(r), lo: r.ci?.perplexity?.lo ?? null, hi: r.ci?.perplexity?.hi ?? null }));
  const groups = [...new Set(data.map((d) => d.where))];
  const xs = data.flatMap((d) => [d.perplexity as number, d.lo ?? (d.perplexity as number), d.hi ?? (d.perplexity as number)]);
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const pad = (hi - lo || 1) * 0.05;
  return {
    width,
    height: 50 + groups.length * (10 * run.conditions.length + 10),
    marginLeft: labelWidth(groups),
    marginRight: 20,
    color: colorFor(run),
    x: { label: "perplexity →", grid: true, domain: [Math.max(0, lo - pad), hi + pad] },
    y: { axis: null, domain: run.conditions },
    fy: { label: null, domain: groups, axis: "left" },
    marks: [
      Plot.ruleY(withInterval(data), {
        fy: "where",
        y: "condition",
        x1: "lo",
        x2: "hi",
        stroke: "condition",
        strokeWidth: 1.5,
        className: "interval",
      }),
      Plot.dot(data, {
        fy: "where",
        y: "condition",
        x: "perplexity",
        fill: "condition",
        r: 4,
        title: (d: (typeof data)[number]) =>
          `${d.condition}: ${(d.perplexity as number).toFixed(2)}${d.lo !== null && d.hi !== null ? ` [${d.lo.toFixed(2)}, ${d.hi.toFixed(2)}]` : ""}`,
      }),
    ],
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
    marginRight: labelWidth(metrics),
    color: { domain: conditions, range: conditionColors(conditions, "unsteered"), legend: true },
    x: { axis: null, domain: conditions },
    y: { ...pct, label: null },
    fx: { label: null, domain: runs.map((r) => r.name) },
    fy: { label: null, domain: metrics },
    marks: rateBars(data, "run", "metric", "steered"),
  };
}

/**
 * Small multiples wrapped into rows: a panel per category, at least `minWidth` px wide, so 11+
 * categories never squeeze their axis labels together. Returns the fx / fy channels and the panel titles.
 */
function wrapped(categories: string[], width: number, minWidth = 240) {
  const cols = Math.max(1, Math.min(categories.length, Math.floor(width / minWidth)));
  const at = new Map(categories.map((c, i) => [c, i]));
  const fx = (d: { category: string }) => (at.get(d.category) ?? 0) % cols;
  const fy = (d: { category: string }) => Math.floor((at.get(d.category) ?? 0) / cols);
  const rows = Math.ceil(categories.length / cols);
  const titles = Plot.text(
    categories.map((category) => ({ category })),
    { fx, fy, text: "category", frameAnchor: "top", dy: -14, fontWeight: "bold" },
  );
  return { fx, fy, rows, titles };
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
  const cats = [...new Set(pts.map((p) => p.category))].sort();
  const w = wrapped(cats, width);
  const strengths = [...new Set(pts.map((p) => p.strength))];
  return {
    width,
    height: 60 + w.rows * 230,
    marginTop: 30,
    marginBottom: 40,
    marginLeft: 50,
    color: { domain: layers.map((l) => `layer ${l}`), range: LAYER_COLORS, legend: true },
    x: { label: "strength →", grid: true, ticks: Math.min(strengths.length, 4), inset: 8 },
    y: { ...pct, label: "rate", inset: 6 },
    fx: { axis: null },
    fy: { axis: null, padding: 0.25 },
    marks: [
      w.titles,
      Plot.frame({ stroke: "#ddd" }),
      Plot.ruleY(
        budgets.filter((b) => b.run === run),
        { fx: w.fx, fy: w.fy, y: "maxRefusal", stroke: "#D55E00", strokeDasharray: "6 3", strokeWidth: 1.5, title: () => "refusal budget" },
      ),
      ...(["unsafe", "refusal"] as const).map((metric) =>
        Plot.lineY(
          long.filter((d) => d.metric === metric),
          {
            fx: w.fx,
            fy: w.fy,
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
        fx: w.fx,
        fy: w.fy,
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
    marginLeft: labelWidth(data.map((d) => d.category)),
    color: { domain: truths, range: ["#D55E00", "#E69F00", "#009E73", "#56B4E9"], legend: true },
    x: { label: "detector score (benign standard deviations above the threshold) →", grid: true },
    y: { domain: truths, axis: null },
    fy: { label: null, axis: "left" },
    marks: [
      Plot.ruleX([0], { stroke: "#000", strokeDasharray: "4 2" }),
      Plot.tickX(data, { fy: "category", x: "score", y: "truth", stroke: "truth", strokeOpacity: 0.7, tip: true }),
    ],
  };
}

/**
 * Held-out separability of each category's vector per layer (AUROC or Cohen's d), the chosen layer
 * marked; a distinct colour per category, and an axis that holds every point (AUROC below 0.5 too).
 */
export function layerChart(bundle: string, stats: LayerStat[], field: "auroc" | "margin", width: number): PlotOptions {
  const data = stats.filter((s) => s.bundle === bundle && s[field] !== null);
  const cats = [...new Set(data.map((d) => d.category))].sort();
  const low = Math.min(0.5, ...data.map((d) => d[field] as number));
  return {
    width,
    height: 280,
    marginTop: 20,
    color: categoryColors(cats),
    x: { label: "layer →", ticks: [...new Set(data.map((d) => d.layer))], tickFormat: "d", inset: 10 },
    y:
      field === "auroc"
        ? { label: "held-out AUROC ↑", domain: [Math.floor(low * 10) / 10, 1], grid: true, inset: 6 }
        : { label: "margin (Cohen's d) ↑", grid: true, nice: true, inset: 6 },
    marks: [
      ...(field === "auroc" ? [Plot.ruleY([0.5], { stroke: "#999", strokeDasharray: "3 3" })] : []),
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

const COSINE_SCALE: Plot.ScaleOptions & Plot.LegendOptions = {
  type: "linear",
  scheme: "PuOr",
  domain: [-1, 1],
  legend: "ramp",
  label: "cosine",
  marginLeft: 16,
  marginRight: 16,
};

/**
 * Cosine similarity between the categories' vectors: one heat map per steered layer (every layer
 * when none is marked), stacked, full width, labels at full length; values printed where they fit.
 */
export function cosineChart(bundle: string, cells: CosineCell[], width: number, steered: number[] = []): PlotOptions {
  const all = cells.filter((c) => c.bundle === bundle);
  const data = steered.length ? all.filter((c) => steered.includes(c.layer)) : all;
  const cats = [...new Set(data.map((d) => d.a))];
  const layers = [...new Set(data.map((d) => d.layer))];
  const left = labelWidth(cats);
  // upright x labels (-90 degrees) need their full length below the plot
  const bottom = labelWidth(cats) + 6;
  const side = Math.min(34, Math.max(12, Math.floor((Math.min(width, 760) - left - 70) / Math.max(1, cats.length))));
  return {
    width: left + 70 + side * cats.length,
    height: layers.length * (side * cats.length + 24) + bottom + 50,
    marginLeft: left,
    marginRight: 70,
    marginBottom: bottom,
    padding: 0.05,
    // the legend's margins keep its end labels (-1.0, 1.0) whole
    color: COSINE_SCALE,
    x: { label: null, tickRotate: -90, domain: cats },
    y: { label: null, domain: cats },
    fy: { label: "layer", axis: "right", padding: 0.08 },
    marks: [
      Plot.cell(data, { fy: "layer", x: "a", y: "b", fill: "cosine", tip: true }),
      ...(side >= 26
        ? [
            Plot.text(data, {
              fy: "layer",
              x: "a",
              y: "b",
              text: (d: CosineCell) => d.cosine.toFixed(2),
              fontSize: 9,
              fill: (d: CosineCell) => (Math.abs(d.cosine) > 0.6 ? "white" : "black"),
            }),
          ]
        : []),
    ],
  };
}
