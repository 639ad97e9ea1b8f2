import { SafeSteerError } from "../errors.js";

export type DataErrorCode =
  | "data_not_found"
  | "data_invalid"
  | "unknown_format"
  | "unknown_category"
  // downloads of known sets (src/data/fetch.ts)
  | "unknown_dataset"
  | "data_checksum"
  | "fetch_failed"
  | "aborted";

/** A data problem: names the file (and line) and what to do about it. */
export class DataError extends SafeSteerError<DataErrorCode> {}
