// The neuron page's charts as Observable Plot options (pure functions, as charts.ts).
import * as Plot from "@observablehq/plot";
import type { NeuronData } from "../../src/web/report-types.js";
import type { PlotOptions } from "./charts.js";

type Cell = NeuronData["specificity"][number];

/** Mean held-out AUROC of each category's units (rows) on each category (columns): a bright diagonal is category-specific units. */
export function specificityChart(n: NeuronData, width: number): PlotOptions {
  const cats = n.categories.map((c) => c.name);
  return {
    width: Math.min(width, 160 + 90 * cats.length),
    height: 120 + 32 * cats.length,
    marginLeft: 120,
    marginBottom: 80,
    padding: 0.05,
    color: { type: "linear", scheme: "Blues", domain: [0.5, 1], legend: true, label: "held-out AUROC" },
    x: { label: "scored on", domain: cats, tickRotate: -30 },
    y: { label: "units of", domain: cats },
    marks: [
      Plot.cell(n.specificity, { x: "on", y: "category", fill: "auroc", tip: true }),
      Plot.text(n.specificity, {
        x: "on",
        y: "category",
        text: (d: Cell) => d.auroc.toFixed(2),
        fontSize: 10,
        fill: (d: Cell) => (d.auroc > 0.8 ? "white" : "black"),
      }),
    ],
  };
}

/** How many of each category's top units sit at each layer. */
export function unitLayerChart(n: NeuronData, width: number): PlotOptions {
  const rows = n.categories.flatMap((c) => c.units.map((u) => ({ category: c.name, layer: u.layer })));
  return {
    width,
    height: 260,
    marginLeft: 50,
    x: { label: "layer", domain: n.layers },
    y: { label: "units", grid: true },
    color: { legend: true, scheme: "Observable10" },
    marks: [Plot.barY(rows, Plot.groupX({ y: "count" }, { x: "layer", fill: "category", tip: true })), Plot.ruleY([0])],
  };
}
