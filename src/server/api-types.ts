// The server's own additions to OpenAI's API, as plain types with no imports: the `safesteer` request
// field, the steering decision reported back, and the bundle list. The playground (ui/) shares them.

/** The `safesteer` field of a request body, defaulting to the server's flags. */
export interface SteeringRequest {
  /** {category: strength}, "all" (the bundle's tuned strengths) or "none". */
  policy?: Record<string, number> | "all" | "none";
  /** "policy": steer the whole policy; "conditional": only what the bundle's detector finds in the prompt. */
  mode?: "policy" | "conditional";
  fire?: "all" | "top";
  /** A loaded bundle's name (never a path). */
  bundle?: string;
  /** A loaded neuron file's name (never a path): its categories' units are suppressed per `suppress`. */
  neurons?: string;
  /** {category: s}: s = 1 sets the category's units to their safe-side mean (conditional mode: only the fired categories). */
  suppress?: Record<string, number>;
}

/** What was decided for one request: reported in the response, the first stream chunk, logs and metrics. */
export interface SteeringDecision {
  bundle: string | null;
  mode: "none" | "policy" | "conditional";
  /**
   * Conditional mode: the detector's score per category, as the margin above that category's
   * threshold in benign prompts' standard deviations (a category fires when its score is above 0),
   * and the categories that fired, most confident first.
   */
  scores?: Record<string, number>;
  fired?: string[];
  /** What was steered: one entry per category and layer. */
  steered: Array<{ category: string; layer: number; strength: number }>;
  /** Category neurons suppressed: the neuron file, and per category its s and unit count. */
  neurons?: string;
  suppressed?: Array<{ category: string; strength: number; units: number }>;
}

/** A loaded bundle, as /admin/bundles lists it (and the playground shows it). */
export interface BundleSummary {
  name: string;
  path: string;
  categories: string[];
  detector: boolean;
  site: string;
  /** Per category: the strength a sweep tuned (null: none tuned; the recommended strength applies). */
  strengths: Record<string, number | null>;
  /** The strength to start from: relative to the activation norm, or raw for imported vectors. */
  recommendedStrength: number;
  relative: boolean;
}
