// A neuron file as the HTML page shows it: per category its units, and the specificity matrix (the
// mean held-out AUROC of a category's units on each category).
import type { NeuronSet } from "../steer/neuron-types.js";
import type { NeuronData } from "./report-types.js";

export function neuronData(name: string, set: NeuronSet): NeuronData {
  const cats = Object.keys(set.categories);
  const specificity: NeuronData["specificity"] = [];
  for (const c of cats) {
    const units = set.categories[c]?.units ?? [];
    for (const on of cats) {
      const scores = units.map((u) => (on === c ? u.auroc : u.others[on]) ?? 0.5);
      specificity.push({ category: c, on, auroc: scores.reduce((a, b) => a + b, 0) / Math.max(1, scores.length) });
    }
  }
  return {
    name,
    model: `${set.model.name || set.model.architecture} (${set.model.nLayer} layers, n_ff ${set.model.nFf})`,
    layers: set.layers,
    top: set.top,
    rule: set.rule,
    categories: cats.map((c) => {
      const e = set.categories[c] as NeuronSet["categories"][string];
      const best = e.explained?.reduce((a, b) => (b.share > a.share ? b : a));
      return {
        name: c,
        nUnsafe: e.nUnsafe,
        nSafe: e.nSafe,
        explained: best ? { layer: best.layer, share: best.share } : null,
        units: e.units.map((u) => ({
          layer: u.layer,
          index: u.index,
          auroc: u.auroc,
          effect: u.effect,
          meanUnsafe: u.meanUnsafe,
          meanSafe: u.meanSafe,
          lens: u.lens ?? [],
        })),
      };
    }),
    specificity,
  };
}
