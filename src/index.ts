// Public library API.

export { Context, type ContextOptions, type EvaluateOptions, type SteeringPlan, type SteeringVector } from "./engine/context.js";
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
