// The steering layer's public entry: what the server (and any other caller outside src/steer/) may
// use. The server imports nothing else from here (.dependency-cruiser.cjs: server-steer-entry), so
// it decides steering with planSteering and steers a request's sequence with steerSequence, the same
// way as every other caller, never with the engine's internal steering or the policy arithmetic.
export {
  type NeuronSuppression,
  resolveSteering,
  type Steering,
  type SteeringSource,
  steer,
  steerSequence,
  withSteering,
} from "./apply.js";
export { checkBundleModel, readBundle } from "./bundle.js";
export {
  checkSteeringModel,
  type Decided,
  type NeuronChoice,
  type PlannedSteering,
  type PlanOptions,
  type PromptFacts,
  planSteering,
  steeredPolicy,
} from "./decide.js";
export { conditionalPolicy, detect } from "./detect.js";
export { SteerError, type SteerErrorCode } from "./errors.js";
export { readNeurons } from "./neuron-file.js";
export { checkNeuronModel, type Suppression, type SuppressMode } from "./neuron-steer.js";
export type { NeuronSet } from "./neuron-types.js";
export { bundlePolicy, parsePolicy, policyOption, policySpec } from "./policy.js";
export type { Bundle, Detection, Detector, FireMode, Policy, SteeringDecision, SteeringMode } from "./types.js";
