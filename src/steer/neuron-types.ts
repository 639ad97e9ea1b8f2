// Category neurons: the MLP units (mlp_post, width n_ff) whose activation separates a harm
// category's unsafe prompts from safe ones, as `safesteer neurons` finds them and a neuron file
// (schema safesteer.neurons/1) holds them.
import type { ModelFingerprint } from "../engine/model.js";
import type { DataProvenance } from "./types.js";

export const NEURONS_SCHEMA = "safesteer.neurons/1";

/** One unit: a layer's mlp_post index, scored on the category's held-out examples. */
export interface NeuronUnit {
  layer: number;
  index: number;
  /** +1: more active on the category's unsafe prompts than on safe ones; -1: less. */
  sign: 1 | -1;
  /** Held-out AUROC, oriented by sign (0.5: no separation, 1: perfect). */
  auroc: number | null;
  /** Held-out Cohen's d, oriented by sign. */
  effect: number | null;
  /** Cohen's d on the training part, oriented (what ranked the unit). */
  trainEffect: number;
  /** Mean activation over the category's unsafe examples, and over its safe ones (the suppression target). */
  meanUnsafe: number;
  meanSafe: number;
  /** The same held-out AUROC, oriented the same way, for every other category: shared "harm" units score high on several. */
  others: Record<string, number | null>;
  /** Tokens the unit promotes most through the down projection and the output embedding (logit lens), when the weights are readable. */
  lens?: string[];
}

/** How much of the category vector (safe minus unsafe mean at resid_post, one layer) the units' direct contributions make up. */
export interface Explained {
  layer: number;
  /** <u, v> / |v|^2, u = sum over the units at or below the layer of W_down[:, i] * (mean safe - mean unsafe). */
  share: number;
  /** cos(u, v). */
  cosine: number;
}

export interface NeuronCategory {
  units: NeuronUnit[];
  nUnsafe: number;
  nSafe: number;
  safeSource: "category" | "generic";
  /** Per layer; null where the down projection is not readable or a post-norm breaks the sum (Gemma). */
  explained: Explained[] | null;
}

export interface NeuronSet {
  schema: typeof NEURONS_SCHEMA;
  model: ModelFingerprint & { name: string; nFf: number };
  site: "mlp_post";
  reduce: "mean" | "last";
  layers: number[];
  chat: boolean;
  top: number;
  heldOut: number;
  seed: number;
  /** How units are ranked and scored, in words. */
  rule: string;
  categories: Record<string, NeuronCategory>;
  /** Jaccard overlap of the categories' unit sets: overlap[a][b]. */
  overlap: Record<string, Record<string, number>>;
  data: DataProvenance[];
  toolVersion: string;
  created: string;
}
