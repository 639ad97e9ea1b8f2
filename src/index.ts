// SafeSteer's public library API: load a GGUF model, build per-category steering vectors from its
// activations, steer generation with a policy (always through steer()/withSteering()), detect
// categories for conditional steering, and evaluate. Everything else is internal.

// --- data ------------------------------------------------------------------------------------------
export { DataError, type DataErrorCode } from "./data/errors.js";
export type { Dataset, Example, Label } from "./data/example.js";
export { type FetchOptions, fetchDataset } from "./data/fetch.js";
export { dataDir, type LoadDataOptions, loadDataset } from "./data/load.js";
export { DATASETS, type KnownDataset } from "./data/registry.js";
export type { Reduction } from "./engine/capture.js";
// --- models and generation (llama.cpp through the engine) ---------------------------------------
export { Context, type ContextOptions, type SteeringPlan, type SteeringVector } from "./engine/context.js";
export { type ControlVector, readControlVector, writeControlVector } from "./engine/control-vector.js";
export { EngineError, type EngineErrorCode } from "./engine/errors.js";
export {
  type FinishReason,
  type GenerateOptions,
  type GenerationEvent,
  type GenerationResult,
  generate,
  generateBatch,
  generateStream,
} from "./engine/generate.js";
export type { GpuChoice } from "./engine/model.js";
export { type ChatMessage, type LoadOptions, Model, type ModelFingerprint, type ModelInfo, type ModelOptions } from "./engine/model.js";
export { Engine, type EngineInfo, type EngineLog, type EngineOptions, engineInfo, type LogLevel, loadEngine } from "./engine/runtime.js";
export type { SamplingOptions } from "./engine/sampling.js";
export { KNOWN_SITES, type Site } from "./engine/sites.js";
// --- errors -----------------------------------------------------------------------------------------------
export { type CommonErrorCode, SafeSteerError } from "./errors.js";
// --- evaluation ----------------------------------------------------------------------------------------
export { type EvalOptions, runEval } from "./eval/harness.js";
export type { EvalItem, ItemKind } from "./eval/item.js";
export { toEvalItems } from "./eval/item.js";
export { type Judge, type Judgement, llmJudge, makeJudge, refusalKeywordJudge } from "./eval/judges.js";
export { type CategoryLikelihood, categoryLikelihoods, pairsOf } from "./eval/likelihood.js";
export type { ConditionSpec, EvalResults, GenerationSettings } from "./eval/results.js";
export { DEFAULT_MODEL, STORIES_MODEL } from "./models.js";
// --- the OpenAI-compatible server (what `safesteer serve` runs; its modules load when it starts) ------
export { type RunningServer, type ServeOptions, serve } from "./server/run.js";
// --- steering ----------------------------------------------------------------------------------------
export { type NeuronSuppression, type Steering, type SteeringSource, steer, withSteering } from "./steer/apply.js";
export { type BuildOptions, buildBundle } from "./steer/build.js";
export { readBundle, writeBundle } from "./steer/bundle.js";
export { type CollectOptions, collectActivations } from "./steer/collect.js";
export {
  type Decided,
  type NeuronChoice,
  type PlannedSteering,
  type PlanOptions,
  type PromptFacts,
  planSteering,
  steeredPolicy,
} from "./steer/decide.js";
export { calibrateDetector, conditionalPolicy, type DetectorCalibration, detect } from "./steer/detect.js";
export { SteerError, type SteerErrorCode } from "./steer/errors.js";
export { exportCategory, importControlVectors } from "./steer/interop.js";
export { parseNeurons, readNeurons, writeNeurons } from "./steer/neuron-file.js";
export { neuronSteering, type Suppression, type SuppressMode } from "./steer/neuron-steer.js";
export type { NeuronCategory, NeuronSet, NeuronUnit } from "./steer/neuron-types.js";
export { findNeurons, type NeuronOptions } from "./steer/neurons.js";
export { bundlePolicy, parsePolicy } from "./steer/policy.js";
export type { Bundle, CategoryEntry, Detection, Detector, FireMode, Policy, SteeringDecision, SteeringMode } from "./steer/types.js";
