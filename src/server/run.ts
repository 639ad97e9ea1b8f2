// `serve()`: what `safesteer serve` does, callable from the library. It listens at once (127.0.0.1
// by default; /health says "loading"), loads the model, bundles and neuron files behind it, and
// resolves once they are ready, with the URL and a graceful close (drain, then stop). Signals are
// the caller's business (the CLI turns SIGTERM/SIGINT into close()). The server's modules (Fastify,
// prom-client, the engine) load when serve() runs, so importing the library stays cheap.
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { SafeSteerError } from "../errors.js";
import type { EngineBackendOptions } from "./engine-backend.js";
import { isLoopbackAddress, LOOPBACK_HOSTS } from "./guards.js";

export interface ServeOptions extends EngineBackendOptions {
  /** Address to listen on (default 127.0.0.1; anything but loopback exposes the model: set apiKey). */
  host?: string;
  /** Port (default 8080; 0 picks a free one, the returned url has it). */
  port?: number;
  /** Bearer key required on every /v1 and /admin route (default: none, open). */
  apiKey?: string;
  /** Requests that may wait for a slot beyond those decoding (default 16): past them, 429. */
  maxQueue?: number;
  /** Largest max_tokens a request may ask for (default: nCtx). */
  maxTokensCap?: number;
  /** Browser origins allowed by CORS (default: none, CORS off). */
  corsOrigins?: string[];
  /** Where the JSON request log goes: a file (appended) or a stream (default: stderr). */
  log?: string | Writable;
  /** Serve the playground at / (default true). */
  ui?: boolean;
  /** On loopback, Host names served besides localhost, 127.0.0.1 and ::1 (others get 403). */
  allowedHosts?: string[];
  /** A request not received whole within this gets a 408 (default 30 000 ms). */
  requestTimeoutMs?: number;
  /** Connections held at once (default 1024): past them, new ones are closed. */
  maxConnections?: number;
}

export interface RunningServer {
  /** "http://127.0.0.1:8080": the /v1 API is under it. */
  url: string;
  /** The model's id in /v1/models: its file name without .gguf. */
  modelId: string;
  /** The loaded bundles' names. */
  bundles: string[];
  /** Whether the playground is at url + "/". */
  playground: boolean;
  /**
   * Stops gracefully: new requests (and those still waiting for a slot) get 503 while requests
   * decoding have graceMs to finish (default 10 000), then they are cut, the listener and the model
   * close, and a log file is flushed. Resolves false when a generation would not stop (the model
   * is then left open). Calling it again returns the same promise.
   */
  close(graceMs?: number): Promise<boolean>;
  /** Cuts every request in flight now (their clients get an error); close() then ends sooner. */
  abortAll(): void;
}

/** The listener's errors in words that name the fix. */
function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE")
    return new SafeSteerError("usage", `port ${port} on ${host} is in use: choose another port (0 picks a free one).`);
  if (code === "EACCES") return new SafeSteerError("usage", `listening on port ${port} needs privileges: choose a port above 1023.`);
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND")
    return new SafeSteerError("usage", `cannot listen on ${host}: not an address of this machine; use 127.0.0.1 or 0.0.0.0.`);
  return e;
}

/** The http://host:port a client calls, from the address actually bound. */
function urlOf(address: unknown, host: string, port: number): string {
  const bound = typeof address === "object" && address ? (address as { address: string; port: number }) : { address: host, port };
  return `http://${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`;
}

/** Starts the OpenAI-compatible server over one model; resolves once it listens and the model is loaded. */
export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const { host = "127.0.0.1", port = 8080, apiKey, maxQueue, maxTokensCap, corsOrigins, log, ui = true, allowedHosts, ...model } = opts;
  const loopback = isLoopbackAddress(host);
  if (allowedHosts?.length && !loopback)
    throw new SafeSteerError("usage", `allowedHosts applies on loopback only; on ${host} every Host name is served (set an API key).`);
  const { requestTimeoutMs, maxConnections, ...backendOpts } = model;
  const nCtx = backendOpts.nCtx ?? 2048;
  const cap = maxTokensCap ?? nCtx;
  const { EngineBackend, modelIdOf } = await import("./engine-backend.js");
  const { PendingBackend } = await import("./pending-backend.js");
  const { createApp, shutdown } = await import("./app.js");
  const { renderPage } = await import("../web/page.js");
  // the page asks for the key first when there is one (a yes or no; the key itself never goes in the page)
  const page = ui
    ? renderPage({ app: "playground", title: "SafeSteer playground", connectSelf: true, data: { needsKey: Boolean(apiKey) } })
    : undefined;
  // listen at once, load the model behind it: /health says "loading" until it is ready
  const backend = new PendingBackend(modelIdOf(opts.model), backendOpts.parallel ?? 1, EngineBackend.create({ ...backendOpts, nCtx }));
  const logFile = typeof log === "string" ? createWriteStream(log, { flags: "a" }) : undefined;
  const app = createApp(backend, {
    apiKey: apiKey || undefined,
    maxQueue,
    maxTokensCap: cap,
    defaultMaxTokens: Math.max(1, Math.min(256, cap, Math.floor(nCtx / 2))),
    corsOrigins,
    log: logFile ?? (typeof log === "object" ? log : process.stderr),
    ui: page,
    // bound to loopback: a DNS-rebinding page (its own name as Host) is refused
    allowedHosts: loopback ? [...LOOPBACK_HOSTS, host, ...(allowedHosts ?? [])] : undefined,
    requestTimeoutMs,
    maxConnections,
  });
  const endLog = () => new Promise<void>((resolve) => (logFile ? logFile.end(resolve) : resolve()));
  try {
    await app.listen({ host, port }).catch((e) => Promise.reject(listenError(e, host, port)));
    await backend.loaded; // the server's default steering was checked against the bundle as it loaded
  } catch (e) {
    await app.close();
    await backend.close();
    await endLog();
    throw e;
  }
  let closing: Promise<boolean> | undefined;
  return {
    url: urlOf(app.server.address(), host, port),
    modelId: backend.modelId,
    bundles: backend.bundles().map((b) => b.name),
    playground: ui,
    close(graceMs = 10_000) {
      closing ??= shutdown(app, backend, graceMs).finally(endLog);
      return closing;
    },
    abortAll: () => app.safesteer.abortAll(),
  };
}
