// Checks on who may call the server, before any route runs. Bound to loopback, the server answers
// only loopback Host names: a web page whose own name was rebound to 127.0.0.1 (DNS rebinding)
// sends its own name as Host and is refused. The admin routes change the server's state, so a
// browser page from another origin may not call them even without a key: a cross-site form or
// fetch with a CORS-safe content type (text/plain, form data) needs no preflight, so the Origin
// and the content type are checked here, not left to CORS.
import type { FastifyRequest } from "fastify";
import { ApiError } from "./api-errors.js";

/** The Host names a loopback-bound server answers to (plus any the user adds). */
export const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"];

/** "Example.COM:8080" -> "example.com"; "[::1]:80" -> "::1". */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") > 0 ? h.indexOf("]") : undefined);
  const colon = h.indexOf(":");
  return (colon >= 0 && h.indexOf(":", colon + 1) < 0 ? h.slice(0, colon) : h).replace(/\.$/, "");
}

/** Whether a listening address is loopback only (then only loopback Host names are served). */
export function isLoopbackAddress(host: string): boolean {
  const h = hostName(host);
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** onRequest check: the Host header names one of `allowed` (the request has no Host: HTTP/1.0, let through). */
export function hostGuard(allowed: string[]) {
  const names = new Set(allowed.map(hostName));
  return async (req: FastifyRequest): Promise<void> => {
    const host = req.headers.host;
    if (host === undefined) return;
    const name = hostName(host);
    if (names.has(name) || /^127\.\d+\.\d+\.\d+$/.test(name)) return;
    throw new ApiError(
      403,
      `This server does not answer to the host name '${name}': it listens on loopback only. Start it with --allowed-host ${name} to serve that name.`,
      "host_not_allowed",
    );
  };
}

/** The origin a browser page would send for this request's own server ("http://127.0.0.1:8080"). */
function sameOrigin(req: FastifyRequest, origin: string): boolean {
  try {
    const u = new URL(origin);
    return req.headers.host !== undefined && u.host.toLowerCase() === req.headers.host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * onRequest check for the admin routes, key or no key: no Origin other than the server's own and
 * the CORS-allowed ones, and a body, if any, sent as JSON (what no cross-site form can send).
 */
export function adminGuard(corsOrigins: string[] = []) {
  const allowed = new Set(corsOrigins);
  return async (req: FastifyRequest): Promise<void> => {
    if (req.method === "OPTIONS") return;
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(origin) && !sameOrigin(req, origin))
      throw new ApiError(
        403,
        `The admin routes refuse requests from the web page at ${origin}: call them from the server's own page, a script or curl (or allow that origin with --cors).`,
        "cross_origin_refused",
        null,
      );
    const type = req.headers["content-type"];
    if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type))
      throw new ApiError(
        415,
        `The admin routes take no body or a JSON one, not ${type.split(";")[0]}: send Content-Type: application/json or no body.`,
        "unsupported_media_type",
      );
  };
}
