// The server's routes besides the completions: the open ones (the playground page, /health,
// /metrics) and those behind the key (the model list, the bundle admin routes).
import type { FastifyInstance } from "fastify";
import { type Admission, modelLoading } from "./admission.js";
import { ApiError } from "./api-errors.js";
import type { Backend } from "./backend.js";
import { adminGuard } from "./guards.js";
import type { ServerMetrics } from "./metrics.js";

/** `/` (the playground, when given), `/health` and `/metrics`: no key needed. */
export function openRoutes(app: FastifyInstance, o: { backend: Backend; admission: Admission; metrics: ServerMetrics; ui?: string }): void {
  const { backend, admission, metrics, ui } = o;
  if (ui !== undefined)
    app.get("/", async (_req, reply) => {
      reply.header("cache-control", "no-store").type("text/html; charset=utf-8").send(ui);
    });

  app.get("/health", async (_req, reply) => {
    if (admission.draining) return reply.code(503).send({ status: "draining" });
    if (!backend.ready) return reply.code(503).send({ status: "loading" });
    return { status: "ready" };
  });

  app.get("/metrics", async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

/** `/v1/models` and the admin routes (the caller registers them behind the key). */
export function modelRoutes(api: FastifyInstance, o: { backend: Backend; corsOrigins?: string[]; retryAfter: number }): void {
  const { backend, retryAfter } = o;
  const created = Math.floor(Date.now() / 1000);
  const modelEntry = () => ({ id: backend.modelId, object: "model", created, owned_by: "safesteer" });
  api.get("/v1/models", async () => ({ object: "list", data: [modelEntry()] }));
  api.get<{ Params: { model: string } }>("/v1/models/:model", async (req) => {
    if (req.params.model !== backend.modelId)
      throw new ApiError(
        404,
        `The model '${req.params.model}' does not exist: this server serves '${backend.modelId}'.`,
        "model_not_found",
        "model",
      );
    return modelEntry();
  });

  const admin = { onRequest: adminGuard(o.corsOrigins) };
  api.get("/admin/bundles", admin, async () => {
    if (!backend.ready) throw modelLoading(retryAfter);
    return { object: "list", data: backend.bundles() };
  });
  api.post<{ Params: { name: string } }>("/admin/bundles/:name/reload", admin, async (req) => {
    if (!backend.ready) throw modelLoading(retryAfter);
    const names = backend.bundles().map((b) => b.name);
    if (!names.includes(req.params.name))
      throw new ApiError(
        404,
        `No bundle named '${req.params.name}' is loaded; loaded: ${names.join(", ") || "none"}.`,
        "bundle_not_found",
        "name",
      );
    return { object: "bundle", reloaded: true, ...(await backend.reloadBundle(req.params.name)) };
  });
}
