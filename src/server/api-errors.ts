// Every error the server sends is OpenAI's error JSON, {"error": {"message", "type", "param",
// "code"}}: a 4xx for bad input with a message that names the fix, a 500 with a generic message for
// a fault of the server (the details go to the log only). Never a stack trace in a response.
import { SafeSteerError } from "../errors.js";

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

/** What the steering layer's input errors are about, for the error's `param`. */
function steeringParam(e: SafeSteerError<string>): string | null {
  if (e.code === "unknown_category" || e.code === "bad_policy") return "safesteer.policy";
  if (/bundle "/.test(e.message) && e.message.startsWith("unknown bundle")) return "safesteer.bundle";
  if (/detector/.test(e.message)) return "safesteer.mode";
  if (/no bundle is loaded/.test(e.message)) return "safesteer.policy";
  return null;
}

/**
 * Any error thrown while serving a request -> the ApiError to send. `internal` is true for a
 * fault of the server: the client gets a generic 500, the log gets the details.
 */
export function toApiError(e: unknown, promptParam: string | null = null): { error: ApiError; internal: boolean } {
  if (e instanceof ApiError) return { error: e, internal: e.status >= 500 };
  const err = e as { validation?: AjvError[]; statusCode?: number; code?: string; message?: string };
  if (Array.isArray(err?.validation) && err.validation.length > 0) return { error: validationError(err.validation), internal: false };
  if (e instanceof SafeSteerError && !e.internal && e.code !== "aborted") {
    if (/^the prompt (has \d+ tokens|is empty)/.test(e.message)) {
      const code = e.message.startsWith("the prompt is empty") ? "empty_prompt" : "context_length_exceeded";
      return { error: new ApiError(400, e.message, code, promptParam), internal: false };
    }
    return { error: new ApiError(400, e.message, e.code, steeringParam(e)), internal: false };
  }
  // Fastify's own 4xx (body too large, malformed JSON, unsupported media type): their messages are plain
  const status = err?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500 && typeof err.code === "string" && !(e instanceof SafeSteerError)) {
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE")
      return { error: new ApiError(413, "The request body is larger than the server accepts.", "request_too_large"), internal: false };
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
      return {
        error: new ApiError(415, "Send the body as JSON (Content-Type: application/json).", "unsupported_media_type"),
        internal: false,
      };
    if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY")
      return { error: new ApiError(400, "The body is empty: send a JSON object.", "invalid_json"), internal: false };
    if (err.code === "FST_ERR_CTP_INVALID_JSON_BODY")
      return {
        error: new ApiError(400, "The body is not valid JSON: check its quotes, commas and brackets.", "invalid_json"),
        internal: false,
      };
    return {
      error: new ApiError(status, err.message ?? "Bad request.", err.code.startsWith("FST_") ? "bad_request" : err.code),
      internal: false,
    };
  }
  return { error: new ApiError(500, "The server had an error while processing your request.", "internal_error"), internal: true };
}
