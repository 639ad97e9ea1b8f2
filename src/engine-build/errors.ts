// The one error `safesteer engine build` throws: a build that cannot start or did not finish.
import { SafeSteerError } from "../errors.js";

export type EngineBuildErrorCode = "tool_missing" | "source_missing" | "source_invalid" | "build_failed" | "usage";

/** A build that cannot start or did not finish: one line naming the problem and the fix. */
export class EngineBuildError extends SafeSteerError<EngineBuildErrorCode> {}
