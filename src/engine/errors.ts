import { SafeSteerError } from "../errors.js";

/** Every failure the engine reports has a stable code and a message that names the problem and the fix. */
export type EngineErrorCode =
  | "backend_missing"
  | "backend_load_failed"
  | "backend_conflict"
  | "abi_mismatch"
  | "model_not_found"
  | "model_invalid"
  | "model_load_failed"
  | "context_failed"
  | "context_overflow"
  | "decode_failed"
  | "aborted"
  | "bad_vector"
  | "bad_layer"
  | "bad_site"
  | "unsupported_architecture"
  | "bad_argument"
  | "template_failed"
  /** A Model or Context used after dispose() (or a Context after its model's dispose()). */
  | "disposed";

export class EngineError extends SafeSteerError<EngineErrorCode> {}
