// Steering a context with a bundle and a policy: the one path the CLI, the library and later the
// server use, so every caller gets the same checks.
import type { Context, SteeringPlan } from "../engine/context.js";
import { type Bundle, checkBundleModel } from "./bundle.js";
import { type Policy, type PolicyOptions, policySteering } from "./policy.js";

export interface ApplyOptions extends PolicyOptions {
  /** Accept a bundle made for another file of the same shape. */
  force?: boolean;
}

export async function applyPolicy(ctx: Context, bundle: Bundle, policy: Policy, opts: ApplyOptions = {}): Promise<SteeringPlan> {
  checkBundleModel(bundle, await ctx.model.fingerprint(), { force: opts.force });
  return ctx.setSteering(policySteering(bundle, policy, opts));
}
