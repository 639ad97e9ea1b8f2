import { SafeSteerError } from "../errors.js";

export type DataErrorCode = "data_not_found" | "data_invalid" | "unknown_format" | "unknown_category";

/** A data problem: names the file (and line) and what to do about it. */
export class DataError extends SafeSteerError<DataErrorCode> {}
