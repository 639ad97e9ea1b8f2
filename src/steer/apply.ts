// The one way to steer: a bundle and a policy (or raw vectors) applied to a context for the
// duration of a call, or until a handle is disposed; or, per sequence, to one request among others
// in a shared batch for the duration of its answer. The CLI, the evaluation, the likelihood check
// and the server all come through here, so every caller gets the bundle/model check and no caller
// can leave steering behind on a context.
import type { Context, SteeringHandle, SteeringPlan, SteeringVector } from "../engine/context.js";
import type { Model } from "../engine/model.js";
import type { BatchScheduler, ScheduledEvent, ScheduledRequest } from "../engine/scheduler.js";
import { checkBundleModel } from "./bundle.js";
import { checkNeuronModel, neuronSteering, type Suppression, type SuppressMode } from "./neuron-steer.js";
import type { NeuronSet } from "./neuron-types.js";
import { bundlePolicy, type PolicyOptions, policySteering } from "./policy.js";
import type { Bundle, Policy } from "./types.js";

/** Category neurons to suppress (at mlp_post), alone or with vector steering: they compose. */
export interface NeuronSuppression {
  neurons?: NeuronSet;
  /** {category: s}: mean mode (default) 1 sets the units to their safe-side mean; scale mode multiplies them (0 ablates). */
  suppress?: Suppression;
  suppressMode?: SuppressMode;
  /** Accept neurons found on another file of the same shape. */
  forceNeurons?: boolean;
}

/** What to steer with: a bundle and a policy ("all": every category at its tuned strength), raw vectors, or neurons alone. */
export type SteeringSource = (
  | ({
      bundle: Bundle;
      policy: Policy | "all";
      /** Accept a bundle made for another file of the same shape (e.g. a quantised copy). */
      force?: boolean;
    } & PolicyOptions)
  | { vectors: SteeringVector[] }
  | { neurons: NeuronSet; suppress: Suppression }
) &
  NeuronSuppression;

/** Steering in force until released; `using s = await steer(ctx, ...)` releases it at scope end. */
export interface Steering extends SteeringHandle {
  /** The vectors applied (strength included). */
  readonly vectors: SteeringVector[];
}

/** The steering vectors a source stands for, after checking a bundle against the model. */
export async function resolveSteering(model: Model, source: SteeringSource): Promise<SteeringVector[]> {
  const vectors = "vectors" in source ? source.vectors : "bundle" in source ? await bundleSteering(model, source) : [];
  if (!source.neurons || Object.keys(source.suppress ?? {}).length === 0) return vectors;
  checkNeuronModel(source.neurons, await model.fingerprint(), model.info.nFf, source.forceNeurons);
  return [...vectors, ...neuronSteering({ neurons: source.neurons, suppress: source.suppress ?? {}, mode: source.suppressMode })];
}

async function bundleSteering(model: Model, source: Extract<SteeringSource, { bundle: Bundle }>): Promise<SteeringVector[]> {
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

/**
 * steer() for one sequence of a shared batch: the request waits for a sequence of the scheduler,
 * and its steering applies to that sequence's rows only, from its first token until it ends (or is
 * aborted, or its reader stops); its neighbours decode unsteered by it.
 */
export async function* steerSequence(
  scheduler: BatchScheduler,
  source: SteeringSource,
  req: Omit<ScheduledRequest, "steering">,
): AsyncGenerator<ScheduledEvent> {
  const steering = await resolveSteering(scheduler.ctx.model, source);
  yield* scheduler.run({ ...req, steering });
}
