/**
 * The one error hierarchy. Every error SafeSteer reports has a stable, typed code and a message that
 * names the problem and the fix. Each layer has its subclass and code list (EngineError,
 * SteerError, DataError); codes shared by every layer are here. Callers catch SafeSteerError.
 */
export type CommonErrorCode =
  /** A command line or call that cannot be carried out as given. */
  | "usage"
  | "bad_argument"
  /** Stopped by the user (Ctrl-C, an AbortSignal). */
  | "aborted"
  /** A fault in SafeSteer or llama.cpp, not in the input. */
  | "internal";

/** Codes that mean a fault of the tool, not of its input (the CLI exits 1 for them, 2 for the rest). */
const INTERNAL_CODES = new Set<string>(["internal", "abi_mismatch", "decode_failed"]);

export class SafeSteerError<Code extends string = CommonErrorCode> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** Whether the error is a fault of the tool (else: bad input, or stopped by the user). */
  get internal(): boolean {
    return INTERNAL_CODES.has(this.code);
  }
}
