// Public library API.

export { ADAPTERS } from "./data/adapters.js";
export { DataError } from "./data/errors.js";
export { categoryId, countByCategory, type Dataset, type Example } from "./data/example.js";
export { dataDir, dataFile, type LoadDataOptions, loadDataset } from "./data/load.js";
export {
  Context,
  type ContextOptions,
  type EvaluateOptions,
  needsHooks,
  type SteeringPlan,
  type SteeringVector,
} from "./engine/context.js";
export {
  type ControlVector,
  checkControlVector,
  controlVectorSteering,
  readControlVector,
  writeControlVector,
} from "./engine/control-vector.js";
export { convertLlama2c } from "./engine/convert/llama2c.js";
export { writeRandomLlamaGguf } from "./engine/convert/random-model.js";
export { EngineError, type EngineErrorCode } from "./engine/errors.js";
export {
  type GenerateOptions,
  type GenerationEvent,
  type GenerationResult,
  generate,
  generateBatch,
  generateStream,
} from "./engine/generate.js";
export { readGguf, readTensor } from "./engine/gguf/reader.js";
export { GgmlType, GgufType, gv } from "./engine/gguf/types.js";
export { writeGguf } from "./engine/gguf/writer.js";
export { Capture, type CaptureSpec, KNOWN_SITES, type Reduction, type Site } from "./engine/hooks.js";
export { type ChatMessage, type LoadOptions, Model, type ModelFingerprint, type ModelInfo } from "./engine/model.js";
export { Sampler, type SamplingOptions } from "./engine/sampling.js";
export { SafeSteerError } from "./errors.js";
export { applyPolicy } from "./steer/apply.js";
export { type BuildOptions, buildBundle, LAYER_RULE } from "./steer/build.js";
export { type Bundle, type CategoryEntry, checkBundleModel, readBundle, writeBundle } from "./steer/bundle.js";
export { type Activations, type CollectOptions, collectActivations } from "./steer/collect.js";
export {
  type CategoryDetector,
  calibrateDetector,
  conditionalPolicy,
  type Detection,
  type Detector,
  type DetectorCalibration,
  detect,
  FIRE_MODES,
  type FireMode,
} from "./steer/detect.js";
export { SteerError } from "./steer/errors.js";
export { exportCategory, importControlVectors } from "./steer/interop.js";
export { auroc, cosine, norm, prunedDifference } from "./steer/math.js";
export { type Policy, parsePolicy, policySteering } from "./steer/policy.js";
