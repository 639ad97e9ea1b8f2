// The one way to steer: a bundle and a policy (or raw vectors) applied to a context for the
// duration of a call, or until a handle is disposed. The CLI, the evaluation, the likelihood check
// and the server all come through here, so every caller gets the bundle/model check and no caller
// can leave steering behind on a context.
import type { Context, SteeringHandle, SteeringPlan, SteeringVector } from "../engine/context.js";
import type { Model } from "../engine/model.js";
import { checkBundleModel } from "./bundle.js";
import { bundlePolicy, type PolicyOptions, policySteering } from "./policy.js";
import type { Bundle, Policy } from "./types.js";

/** What to steer with: a bundle and a policy ("all": every category at its tuned strength), or raw vectors. */
export type SteeringSource =
  | ({
      bundle: Bundle;
      policy: Policy | "all";
      /** Accept a bundle made for another file of the same shape (e.g. a quantised copy). */
      force?: boolean;
    } & PolicyOptions)
  | { vectors: SteeringVector[] };

/** Steering in force until released; `using s = await steer(ctx, ...)` releases it at scope end. */
export interface Steering extends SteeringHandle {
  /** The vectors applied (strength included). */
  readonly vectors: SteeringVector[];
}

/** The steering vectors a source stands for, after checking a bundle against the model. */
export async function resolveSteering(model: Model, source: SteeringSource): Promise<SteeringVector[]> {
  if ("vectors" in source) return source.vectors;
  checkBundleModel(source.bundle, await model.fingerprint(), { force: source.force });
  const policy = source.policy === "all" ? bundlePolicy(source.bundle) : source.policy;
  return policySteering(source.bundle, policy, { raw: source.raw, layer: source.layer });
}

/** Applies steering to a context until the returned handle is released. */
export async function steer(ctx: Context, source: SteeringSource): Promise<Steering> {
  const vectors = await resolveSteering(ctx.model, source);
  const handle = await ctx.applySteering(vectors);
  return { vectors, plan: handle.plan, release: handle.release, [Symbol.dispose]: handle.release };
}

/** Runs fn with steering applied, and clears it afterwards, also when fn throws. */
export async function withSteering<T>(ctx: Context, source: SteeringSource, fn: (plan: SteeringPlan) => Promise<T>): Promise<T> {
  const s = await steer(ctx, source);
  try {
    return await fn(s.plan);
  } finally {
    s.release();
  }
}
