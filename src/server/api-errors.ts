// Every error the server sends is OpenAI's error JSON, {"error": {"message", "type", "param",
// "code"}}: a 4xx for bad input with a message that names the fix, a 500 with a generic message for
// a fault of the server (the details go to the log only). Never a stack trace in a response.
import { SafeSteerError } from "../errors.js";
import { RequestError } from "./backend.js";

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error meant for the client, with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  get type(): string {
    if (this.status === 401) return "authentication_error";
    if (this.status === 403) return "permission_error";
    if (this.status === 404) return "not_found_error";
    if (this.status === 429) return "rate_limit_error";
    if (this.status >= 500) return "server_error";
    return "invalid_request_error";
  }
  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** "/messages/0/role" -> "messages[0].role" */
function paramPath(instancePath: string, extra?: unknown): string | null {
  const parts = instancePath.split("/").filter(Boolean);
  if (typeof extra === "string") parts.push(extra);
  if (parts.length === 0) return null;
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

const AJV_CODES: Record<string, string> = {
  type: "invalid_type",
  required: "missing_required_parameter",
  additionalProperties: "unknown_parameter",
};

/** A Fastify schema failure as one readable line: the field, and what it must be. */
function validationError(errors: AjvError[]): ApiError {
  const first = errors[0] as AjvError;
  // anyOf failures list each branch's complaint first, then the anyOf itself: say them all at once
  const samePath = errors.filter((e) => e.instancePath === first.instancePath && e.keyword !== "anyOf");
  const extra = first.params.missingProperty ?? first.params.additionalProperty;
  const param = paramPath(first.instancePath, extra);
  let what: string;
  if (first.keyword === "required") what = "is required";
  else if (first.keyword === "additionalProperties") what = "is not a known field";
  else {
    const parts = [
      ...new Set(samePath.map((e) => (e.keyword === "const" ? `must be ${JSON.stringify(e.params.allowedValue)}` : e.message))),
    ];
    what = parts.filter((p) => p !== "must be null").join(" or ") || "must be null";
    if (first.keyword === "enum") what += ` (${(first.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")})`;
  }
  const code = AJV_CODES[first.keyword] ?? "invalid_value";
  return new ApiError(400, `Invalid request: '${param ?? "body"}' ${what}.`, code, param);
}

/** Fastify's own 4xx, in words that name the fix: [status, message, code]. */
const FASTIFY_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, "The request body is larger than the server accepts.", "request_too_large"],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, "Send the body as JSON (Content-Type: application/json).", "unsupported_media_type"],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, "The body is empty: send a JSON object.", "invalid_json"],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, "The body is not valid JSON: check its quotes, commas and brackets.", "invalid_json"],
};

/** The steering layer's codes for a policy it cannot apply (unknown category, strength out of range). */
const POLICY_CODES = new Set(["unknown_category", "bad_policy"]);

/**
 * Any error thrown while serving a request -> the ApiError to send. `internal` is true for a
 * fault of the server: the client gets a generic 500, the log gets the details.
 */
export function toApiError(e: unknown): { error: ApiError; internal: boolean } {
  if (e instanceof ApiError) return { error: e, internal: e.status >= 500 };
  const err = e as { validation?: AjvError[]; statusCode?: number; code?: string; message?: string };
  if (Array.isArray(err?.validation) && err.validation.length > 0) return { error: validationError(err.validation), internal: false };
  if (e instanceof RequestError) return { error: new ApiError(400, e.message, e.code, e.param), internal: false };
  if (e instanceof SafeSteerError && !e.internal && e.code !== "aborted") {
    return { error: new ApiError(400, e.message, e.code, POLICY_CODES.has(e.code) ? "safesteer.policy" : null), internal: false };
  }
  // Fastify's own 4xx (body too large, malformed JSON, unsupported media type): their messages are plain
  const status = err?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500 && typeof err.code === "string" && !(e instanceof SafeSteerError)) {
    const known = FASTIFY_ERRORS[err.code];
    if (known) return { error: new ApiError(known[0], known[1], known[2]), internal: false };
    return {
      error: new ApiError(status, err.message ?? "Bad request.", err.code.startsWith("FST_") ? "bad_request" : err.code),
      internal: false,
    };
  }
  return { error: new ApiError(500, "The server had an error while processing your request.", "internal_error"), internal: true };
}
