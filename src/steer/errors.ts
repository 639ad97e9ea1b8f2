import { SafeSteerError } from "../errors.js";

export type SteerErrorCode =
  | "bad_policy"
  /** A neuron suppression the neuron file cannot apply (unknown category, bad s). */
  | "bad_suppress"
  | "unknown_category"
  | "wrong_model"
  | "bad_bundle"
  | "not_enough_data"
  | "aborted"
  | "bad_argument";

/** A steering problem (policy, bundle, build): names the problem and the fix. */
export class SteerError extends SafeSteerError<SteerErrorCode> {}
