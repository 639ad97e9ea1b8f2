// The bearer key that guards every /v1 and /admin route (none set: open). The key is compared as
// SHA-256 digests in constant time, so neither its length nor its content leaks through timing.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ApiError } from "./api-errors.js";

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** onRequest check: `Authorization: Bearer <apiKey>` (a CORS preflight passes: it carries no key). */
export function bearerAuth(apiKey: string | undefined) {
  const keyDigest = apiKey ? sha256(apiKey) : undefined;
  return async (req: FastifyRequest): Promise<void> => {
    if (!keyDigest || req.method === "OPTIONS") return;
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    // equal-length digests, compared in constant time: the key's length and content stay hidden
    const ok = timingSafeEqual(sha256(m?.[1] ?? ""), keyDigest) && m !== null;
    if (!ok)
      throw new ApiError(
        401,
        m ? "Incorrect API key provided." : "No API key provided: send it as the header Authorization: Bearer <key>.",
        "invalid_api_key",
        null,
        { "WWW-Authenticate": "Bearer" },
      );
  };
}
