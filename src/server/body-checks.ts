// Checks on a completion request's body that the JSON schema (schemas.ts) cannot phrase well, run
// before it so their messages name the field: a "__proto__" key, OpenAI fields that would change
// the answer's meaning and that this server cannot honour, and steering strengths that are not
// finite numbers (1e999 parses to Infinity; "NaN" is a string).
import { ApiError } from "./api-errors.js";

/** Keys a JSON body may not hold anywhere: they reach for an object's prototype. */
function forbiddenKey(value: unknown, path: string[]): string[] | undefined {
  if (value === null || typeof value !== "object") return undefined;
  for (const [k, v] of Object.entries(value)) {
    const here = [...path, k];
    if (k === "__proto__") return here;
    if (k === "constructor" && v !== null && typeof v === "object" && Object.hasOwn(v, "prototype")) return here;
    const inner = forbiddenKey(v, here);
    if (inner) return inner;
  }
  return undefined;
}

/** ["messages", "0", "role"] -> "messages[0].role" */
export function fieldPath(parts: string[]): string {
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

/**
 * The JSON body parser: JSON.parse (which makes "__proto__" a plain own key, never a prototype),
 * then a 400 naming any such key instead of Fastify's "not valid JSON".
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") throw new ApiError(400, "The body is empty: send a JSON object.", "invalid_json");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(400, "The body is not valid JSON: check its quotes, commas and brackets.", "invalid_json");
  }
  const bad = forbiddenKey(body, []);
  if (bad) {
    const field = fieldPath(bad);
    throw new ApiError(
      400,
      `Invalid request: the key '${bad[bad.length - 1]}' (at '${field}') is not allowed: remove it.`,
      "invalid_key",
      field,
    );
  }
  return body;
}

/** OpenAI fields that change what an answer is, accepted only at their no-op value. */
const REFUSED: Record<string, { ok: (v: unknown) => boolean; why: string }> = {
  response_format: {
    ok: (v) => typeof v === "object" && v !== null && (v as { type?: unknown }).type === "text",
    why: 'this server cannot constrain the answer\'s format (JSON mode, schemas); remove it or send {"type": "text"}',
  },
  tool_choice: { ok: (v) => v === "none", why: 'this server does not call tools; remove it or send "none"' },
  functions: { ok: (v) => Array.isArray(v) && v.length === 0, why: "this server does not call functions; remove it" },
  function_call: { ok: (v) => v === "none", why: 'this server does not call functions; remove it or send "none"' },
  top_logprobs: { ok: (v) => v === 0, why: "this server does not return log probabilities; remove it" },
};

/** A 400 naming the first refused field or non-finite strength in a completion body, if any. */
export function checkCompletionBody(body: unknown): void {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return; // the schema says what is wrong
  const b = body as Record<string, unknown>;
  for (const [field, rule] of Object.entries(REFUSED)) {
    const v = b[field];
    if (v === undefined || v === null || rule.ok(v)) continue;
    throw new ApiError(400, `Invalid request: '${field}' is not supported: ${rule.why}.`, "unsupported_parameter", field);
  }
  const policy = (b.safesteer as { policy?: unknown } | null | undefined)?.policy;
  if (policy === null || typeof policy !== "object" || Array.isArray(policy)) return;
  for (const [category, strength] of Object.entries(policy)) {
    if (typeof strength === "number" && Number.isFinite(strength)) continue;
    const field = `safesteer.policy.${category}`;
    const got =
      typeof strength === "number"
        ? `${strength} (a number out of range, such as 1e999)`
        : `${JSON.stringify(strength)} (${strength === null ? "null" : typeof strength})`;
    throw new ApiError(
      400,
      `Invalid request: '${field}' must be a finite number (a strength such as 2), got ${got}.`,
      "invalid_value",
      field,
    );
  }
}
