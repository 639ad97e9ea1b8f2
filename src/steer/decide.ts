// One steering decision for every caller (the server, the evaluation, `generate`, `likelihood`): a
// plan checks a policy (and a neuron suppression) against its bundle once and resolves each
// category's vectors once; per prompt, decide() picks the categories the mode steers (all, the
// prompt's own, or those the detector fired) and returns the decision with the vectors to apply.
import type { SteeringVector } from "../engine/context.js";
import type { Model } from "../engine/model.js";
import { checkBundleModel } from "./bundle.js";
import { conditionalPolicy } from "./detect.js";
import { SteerError } from "./errors.js";
import { checkNeuronModel, neuronSteering, type Suppression, type SuppressMode } from "./neuron-steer.js";
import type { NeuronSet } from "./neuron-types.js";
import { bundlePolicy, composeAtLayer, type PolicyOptions, policySteering } from "./policy.js";
import type { Bundle, Detection, FireMode, Policy, SteeringDecision, SteeringMode } from "./types.js";

/** Category neurons to suppress beside (or instead of) the vectors, chosen per prompt as the policy is. */
export interface NeuronChoice {
  set: NeuronSet;
  /** {category: s}; chosen by the mode as the policy's categories are. */
  suppress: Suppression;
  mode?: SuppressMode;
  /** The file's name in decisions (the server's loaded neuron files). */
  name?: string;
}

export interface PlanOptions extends PolicyOptions {
  /** {category: strength}, "all" (the bundle's tuned strengths) or "none" (mode none). Default "none". */
  policy?: Policy | "all" | "none";
  /** Default "policy". */
  mode?: SteeringMode;
  /** Conditional mode: steer every category that fired (default) or only the most confident. */
  fire?: FireMode;
  /** The bundle's name in decisions. */
  name?: string;
  neurons?: NeuronChoice;
}

/** What decide() is told about one prompt: the detector's reading (conditional mode) and its own category (known mode). */
export interface PromptFacts {
  detection?: Detection;
  category?: string;
}

export interface Decided {
  decision: SteeringDecision;
  /** The categories' vectors composed per layer (policy.ts composeAtLayer), then the neuron hooks. */
  vectors: SteeringVector[];
}

export interface PlannedSteering {
  readonly mode: SteeringMode;
  /** The whole policy, before any prompt narrows it. */
  readonly policy: Policy;
  /** Whether decide() needs the detector's reading of the prompt. */
  readonly needsDetection: boolean;
  decide(facts?: PromptFacts): Decided;
}

/**
 * Checks a policy against its bundle (category, strength, layer) and a suppression against its
 * neuron file before any work, and resolves each category's vectors once. A bad policy or
 * suppression is a SteerError here, never in the middle of a run.
 */
export function planSteering(bundle: Bundle | undefined, opts: PlanOptions = {}): PlannedSteering {
  const spec = opts.policy ?? "none";
  const mode: SteeringMode = spec === "none" ? "none" : (opts.mode ?? "policy");
  const fire = opts.fire ?? "all";
  // mode none steers no vector (a suppression asked for beside it still applies whole)
  const policy: Policy = mode === "none" || spec === "none" ? {} : spec === "all" ? (bundle ? bundlePolicy(bundle) : {}) : spec;
  if (Object.keys(policy).length > 0 && !bundle)
    throw new SteerError("bad_argument", "a policy steers a bundle's vectors, but no bundle was given: give one (--bundle).");
  // per category: a category's strength was tuned alone, and the mode picks categories one by one
  const byCategory = new Map(
    Object.entries(policy).map(([c, s]) => [c, policySteering(bundle as Bundle, { [c]: s }, { raw: opts.raw, layer: opts.layer })]),
  );
  if (opts.neurons) checkSuppression(opts.neurons);
  /** The part of a {category: s} map the mode steers for this prompt. */
  const choose = (all: Record<string, number>, facts: PromptFacts): Record<string, number> => {
    if (mode === "known")
      return facts.category !== undefined && all[facts.category] !== undefined ? { [facts.category]: all[facts.category] as number } : {};
    if (mode === "conditional") {
      if (!facts.detection)
        throw new SteerError(
          "bad_argument",
          "conditional steering decides from the detector's reading of the prompt: run detect() first and pass its detection.",
        );
      return conditionalPolicy(all, facts.detection, fire);
    }
    return all;
  };
  return {
    mode,
    policy,
    needsDetection: mode === "conditional",
    decide(facts: PromptFacts = {}): Decided {
      const decision: SteeringDecision = { bundle: opts.name ?? null, mode, steered: [] };
      if (mode === "conditional" && facts.detection) {
        decision.scores = facts.detection.scores;
        decision.fired = facts.detection.fired;
      }
      const vectors: SteeringVector[] = [];
      for (const [category, strength] of Object.entries(choose(policy, facts))) {
        for (const v of byCategory.get(category) ?? []) {
          vectors.push(v);
          decision.steered.push({ category, layer: v.layer, strength });
        }
      }
      // the categories' vectors compose into one per layer, as a policy composes; neurons add their own hooks
      return { decision, vectors: [...composeAtLayer(vectors), ...suppression(opts.neurons, facts, decision, choose)] };
    },
  };
}

/** A suppression's categories and strengths against its neuron file, once (SteerError "bad_suppress"). */
function checkSuppression(n: NeuronChoice): void {
  try {
    neuronSteering({ neurons: n.set, suppress: n.suppress, mode: n.mode });
  } catch (e) {
    throw new SteerError("bad_suppress", (e as Error).message);
  }
}

/** The neuron hooks the prompt gets, recorded in the decision. */
function suppression(
  n: NeuronChoice | undefined,
  facts: PromptFacts,
  decision: SteeringDecision,
  choose: (all: Record<string, number>, facts: PromptFacts) => Record<string, number>,
): SteeringVector[] {
  if (!n) return [];
  const chosen = choose(n.suppress, facts);
  if (n.name !== undefined) decision.neurons = n.name;
  decision.suppressed = Object.entries(chosen).map(([category, strength]) => ({
    category,
    strength,
    units: n.set.categories[category]?.units.length ?? 0,
  }));
  return neuronSteering({ neurons: n.set, suppress: chosen, mode: n.mode });
}

/** The categories a decision steers with vectors, at their policy strengths. */
export function steeredPolicy(decision: SteeringDecision): Policy {
  return Object.fromEntries(decision.steered.map((s) => [s.category, s.strength]));
}

/**
 * The bundle and the neuron file against the model, once before any work: files made for another
 * model steer the wrong directions and are refused, unless forced (same shape only).
 */
export async function checkSteeringModel(
  model: Model,
  files: { bundle?: Bundle; neurons?: NeuronSet; force?: boolean; forceNeurons?: boolean },
): Promise<void> {
  if (!files.bundle && !files.neurons) return;
  const fp = await model.fingerprint();
  if (files.bundle) checkBundleModel(files.bundle, fp, { force: files.force });
  if (files.neurons) checkNeuronModel(files.neurons, fp, model.info.nFf, files.forceNeurons ?? files.force);
}
