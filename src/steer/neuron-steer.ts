// Steering by neurons: a category's units set towards their safe-side mean, or scaled (0 ablates),
// by write hooks at mlp_post (x -> scale * x + add on the chosen units, 1 and 0 elsewhere).
import type { SteeringVector } from "../engine/context.js";
import type { ModelFingerprint } from "../engine/model.js";
import { SteerError } from "./errors.js";
import type { NeuronSet, NeuronUnit } from "./neuron-types.js";

/** mean: x -> x + s (safe mean - x), so 1 sets the unit to its safe-side mean; scale: x -> s x, so 0 ablates. */
export type SuppressMode = "mean" | "scale";
export const SUPPRESS_MODES: readonly SuppressMode[] = ["mean", "scale"];

/** Which categories' units to suppress, and how strongly: {category: s}. */
export type Suppression = Record<string, number>;

export interface NeuronSteering {
  neurons: NeuronSet;
  suppress: Suppression;
  /** Default "mean". */
  mode?: SuppressMode;
  /** Only this sequence's rows (several requests in one batch, each steered its own way). */
  seq?: number;
}

/** A neuron file made for another model steers the wrong units: refuse unless forced (same shape only). */
export function checkNeuronModel(set: NeuronSet, fp: ModelFingerprint, nFf: number, force = false): void {
  const m = set.model;
  const made = `${m.name || m.architecture} (${m.nLayer} layers, n_ff ${m.nFf}, sha256 ${m.sha256.slice(0, 12)})`;
  if (m.nLayer !== fp.nLayer || m.nFf !== nFf)
    throw new SteerError(
      "wrong_model",
      `these neurons were found on ${made}, but the model has ${fp.nLayer} layers and n_ff ${nFf}. Run \`safesteer neurons\` on this model.`,
    );
  if (!force && m.sha256 !== fp.sha256)
    throw new SteerError(
      "wrong_model",
      `these neurons were found on ${made}, not on this model file (sha256 ${fp.sha256.slice(0, 12)}). Run \`safesteer neurons\` on it, or pass --force if it is the same model in another file.`,
    );
}

/** The write hooks for a suppression: one per layer, each unit once (a unit shared by categories takes the strongest). */
export function neuronSteering(s: NeuronSteering): SteeringVector[] {
  const mode = s.mode ?? "mean";
  const strength = new Map<string, { unit: NeuronUnit; s: number }>();
  for (const [c, v] of Object.entries(s.suppress)) {
    const entry = s.neurons.categories[c];
    if (!entry)
      throw new SteerError(
        "unknown_category",
        `no neurons for category ${c}: the neuron file has ${Object.keys(s.neurons.categories).join(", ")}.`,
      );
    if (!Number.isFinite(v) || (mode === "scale" && v < 0))
      throw new SteerError(
        "bad_policy",
        `suppression of ${c} is ${v}: give a finite number${mode === "scale" ? " >= 0 (a scale: 0 ablates, 1 leaves the units)" : " (1 sets the units to their safe-side mean)"}.`,
      );
    for (const unit of entry.units) {
      const k = `${unit.layer}:${unit.index}`;
      const prev = strength.get(k);
      // the strongest suppression wins: mean mode the larger s, scale mode the smaller factor
      if (!prev || (mode === "mean" ? v > prev.s : v < prev.s)) strength.set(k, { unit, s: v });
    }
  }
  const nFf = s.neurons.model.nFf;
  const byLayer = new Map<number, { add: Float32Array; scale: Float32Array }>();
  for (const { unit, s: v } of strength.values()) {
    let h = byLayer.get(unit.layer);
    if (!h) {
      h = { add: new Float32Array(nFf), scale: new Float32Array(nFf).fill(1) };
      byLayer.set(unit.layer, h);
    }
    h.scale[unit.index] = mode === "mean" ? 1 - v : v;
    h.add[unit.index] = mode === "mean" ? v * unit.meanSafe : 0;
  }
  return [...byLayer.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([layer, h]) => ({
      site: "mlp_post",
      layer,
      vector: h.add,
      scale: h.scale,
      via: "hook" as const,
      ...(s.seq !== undefined ? { seq: s.seq } : {}),
    }));
}
