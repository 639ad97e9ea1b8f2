// The server's own additions to OpenAI's API, as plain types: the `safesteer` request field, the
// steering decision reported back (the steering layer's own type), and the bundle list. The
// playground (ui/) shares them.
import type { SteeringDecision } from "../steer/index.js";

export type { SteeringDecision };

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
