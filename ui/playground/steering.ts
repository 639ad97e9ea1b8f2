// What the playground asks the server to steer: a bundle's starting settings, and the `safesteer`
// field of each column's request.
import type { BundleSummary, SteeringRequest } from "../../src/server/api-types.js";
import type { PlaygroundState } from "./url-state.js";

export type Kind = "unsteered" | "steered";

/** The starting policy of a bundle: what the URL says, else each category's tuned strength. */
export function startPolicy(b: BundleSummary, fromUrl?: Record<string, number>): Record<string, number> {
  return Object.fromEntries(b.categories.map((c) => [c, fromUrl?.[c] ?? b.strengths[c] ?? b.recommendedStrength]));
}

/**
 * Conditional mode unless the URL says otherwise or the bundle has no detector: the organism study
 * measures it best on benign prompts on the training side (benign and look-alike answers all stay
 * as unsteered; steering every category on every prompt left 82% and 57% of them helpful). The
 * README's "Playground" section has the numbers.
 */
export function startConditional(b: BundleSummary, fromUrl?: boolean): boolean {
  return b.detector && (fromUrl ?? true);
}

/** The bundle's settings at the start: the URL's where it names them, else the bundle's defaults. */
export function startSteering(
  bundles: BundleSummary[],
  url: Partial<PlaygroundState>,
): Pick<PlaygroundState, "bundle" | "policy" | "conditional"> {
  const b = bundles.find((x) => x.name === url.bundle) ?? bundles[0];
  if (!b) return { bundle: "", policy: {}, conditional: false };
  return { bundle: b.name, policy: startPolicy(b, url.policy), conditional: startConditional(b, url.conditional) };
}

/**
 * The `safesteer` field of a column's request. With every slider at 0 the steered column sends
 * exactly the unsteered request, so its answer is the unsteered one for the same seed.
 */
export function steeringFor(kind: Kind, s: PlaygroundState, bundle: BundleSummary | undefined): SteeringRequest {
  const policy = Object.fromEntries(Object.entries(s.policy).filter(([, v]) => v > 0));
  if (kind === "unsteered" || !bundle || Object.keys(policy).length === 0) return { policy: "none" };
  return {
    bundle: bundle.name,
    policy,
    mode: s.conditional ? "conditional" : "policy",
    ...(s.conditional ? { fire: s.fire } : {}),
  };
}
