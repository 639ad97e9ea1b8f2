// The steering layer's data types (policies, bundles, detectors), in one module that imports no
// steering code, so that bundle, policy and detector code can share them without cycles.

import type { ModelFingerprint } from "../engine/model.js";
import type { Site } from "../engine/sites.js";

/** How strongly to steer each category: {category: strength}. */
export type VectorMethod = "safesteer" | "caa" | "refusal-direction";
export const VECTOR_METHODS: readonly VectorMethod[] = ["safesteer", "caa", "refusal-direction"];

/** How strongly to steer each category: {category: strength}. */
export type Policy = Record<string, number>;

/** How a prompt's token activations become one vector: their mean (as for the vectors) or the last token's. */
export type DetectorPooling = "mean" | "last";
export const DETECTOR_POOLINGS: readonly DetectorPooling[] = ["mean", "last"];

export interface CategoryDetector {
  /** The layer read (with `layers`: the deepest of them). */
  layer: number;
  /**
   * Several layers read at once: the prompt's pooled activations at these layers, joined in this
   * order, are what the direction projects (absent: `layer` alone). Bundle format 2.
   */
  layers?: number[];
  /** Unit direction from the other prompts towards this category's harmful prompts (width x layers read). */
  direction: Float32Array;
  threshold: number;
  /** Spread (standard deviation) of held-out benign prompts' projections: the unit of scores. */
  scale: number;
}

export interface Detector {
  site: string;
  reduce: DetectorPooling;
  categories: Record<string, CategoryDetector>;
}

export interface Detection {
  /** Categories whose score is above threshold, most confident first. */
  fired: string[];
  scores: Record<string, number>;
}

/**
 * Conditional steering: every fired category is steered (summed, as a policy composes) or only the
 * most confident one (each category's strength was tuned alone, and sums can overshoot).
 */
export type FireMode = "all" | "top";
export const FIRE_MODES: readonly FireMode[] = ["all", "top"];

/**
 * How a policy applies to one prompt: not at all, whole, only the prompt's own (known) category, or
 * only the categories the bundle's detector finds in it.
 */
export type SteeringMode = "none" | "policy" | "known" | "conditional";
export const STEERING_MODES: readonly SteeringMode[] = ["none", "policy", "known", "conditional"];

/** What was decided for one prompt (steer/decide.ts): the server reports it, the CLI prints it, the evaluation records it. */
export interface SteeringDecision {
  /** The bundle's name (the server's loaded bundles), null when none steers. */
  bundle: string | null;
  mode: SteeringMode;
  /**
   * Conditional mode: the detector's score per category, as the margin above that category's
   * threshold in benign prompts' standard deviations (a category fires when its score is above 0),
   * and the categories that fired, most confident first.
   */
  scores?: Record<string, number>;
  fired?: string[];
  /** What was steered: one entry per category and layer, at the policy's strength. */
  steered: Array<{ category: string; layer: number; strength: number }>;
  /** Category neurons suppressed: the neuron file, and per category its s and unit count. */
  neurons?: string;
  suppressed?: Array<{ category: string; strength: number; units: number }>;
}

export interface LayerDiagnostics {
  /** ||w|| */
  norm: number;
  /** Held-out AUROC of the projection onto w, safe (higher) vs this category's unsafe. */
  auroc: number | null;
  /** Held-out Cohen's d of that projection. */
  margin: number | null;
  /** Unsafe examples kept by pruning, of nUnsafe. */
  kept: number;
}

export interface CategoryEntry {
  /** Layers steered for this category: the chosen layer for built vectors, every direction for imported ones. */
  steerLayers: number[];
  /** The vector at every layer the bundle was built for. */
  vectors: Map<number, Float32Array>;
  diagnostics: Record<number, LayerDiagnostics>;
  nUnsafe: number;
  nSafe: number;
  /** Where the safe side came from: this category's own safe examples, the generic safe set, or an imported file. */
  safeSource: "category" | "generic" | "imported" | "paired";
  /** Strength chosen for this category by a sweep (relative unless the bundle is imported). */
  strength?: number;
}

export interface DataProvenance {
  name: string;
  path: string;
  sha256: string;
  examples: number;
}

export interface Bundle {
  /** The model the vectors were built on; fileType: its quantization ("F32", "Q8_0", ...), when known. */
  model: ModelFingerprint & { name: string; fileType?: string };
  site: Site;
  reduce: "mean" | "last";
  prune: number | "off";
  layers: number[];
  /** Examples were rendered with the model's chat template. */
  chat: boolean;
  categories: Map<string, CategoryEntry>;
  /** Mean activation norm at the site per layer (the unit of relative strength); empty for imports. */
  meanNorm: Record<number, number>;
  /** Cosine similarity between category vectors per layer, in the order of `categories`. */
  cosine: Record<number, number[][]>;
  data: DataProvenance[];
  layerRule: string;
  /** Relative strength to start from. */
  recommendedStrength: number;
  toolVersion: string;
  created: string;
  /**
   * How the vectors were made (absent: SafeSteer's own difference of means): "caa" (contrastive
   * activation addition on answer pairs) or "refusal-direction" (harmful minus harmless prompts),
   * the baselines of steer/baselines.ts.
   */
  method?: VectorMethod;
  /** Conditional steering: per-category prompt detectors, when calibrated. */
  detector?: Detector;
}
