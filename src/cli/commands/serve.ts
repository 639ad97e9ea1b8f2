// `safesteer serve`: an OpenAI-compatible HTTP server with per-request steering. The server's
// modules (Fastify, prom-client) are loaded when the command runs, so --help stays fast.
import { createWriteStream, type WriteStream } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { SafeSteerError } from "../../errors.js";
import { isLoopbackAddress, LOOPBACK_HOSTS } from "../../server/guards.js";
import { policySpec } from "../../steer/policy.js";
import { FIRE_MODES, type FireMode } from "../../steer/types.js";
import { setVerbosity } from "../../util/logger.js";
import { parseSuppress } from "../neuron-options.js";
import { checkOutputPath, type ModelOpts, nonNegativeInt, num, positiveInt, readChatTemplate, withModelOptions } from "../options.js";

interface ServeCliOptions extends ModelOpts {
  model: string;
  bundle?: string[];
  neurons?: string[];
  suppress?: string;
  steer: string;
  conditional?: boolean;
  fire?: FireMode;
  host: string;
  port: number;
  apiKey?: string;
  parallel: number;
  maxQueue: number;
  maxTokensCap?: number;
  cors?: string[];
  log?: string;
  grace: number;
  force?: boolean;
  ui: boolean;
  allowedHost?: string[];
  requestTimeout: number;
  maxConnections: number;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`--port must be a port number from 0 to 65535, got "${v}".`);
  return n;
}

export function serveCommand(program: Command): void {
  withModelOptions(
    program.command("serve").description("serve the model over HTTP with OpenAI's API, steered per request (the body's `safesteer` field)"),
    true,
  )
    .option("--bundle <spec...>", "bundles to load: b.gguf (named b) or name=path; a request names one by its name")
    .option(
      "--neurons <spec...>",
      "neuron files to load (from `safesteer neurons`): n.json (named n) or name=path; a request names one in safesteer.neurons",
    )
    .option("--suppress <list>", "default suppression: category[=s],... of the (only or first) neuron file")
    .option("--steer <policy>", "default policy: category=strength,..., all (the bundle's tuned strengths) or none", "none")
    .option("--conditional", "by default steer only the policy's categories that the bundle's detector finds in the prompt")
    .addOption(
      new Option("--fire <which>", "with --conditional: every category that fires, or only the most confident").choices([...FIRE_MODES]),
    )
    .option("--host <host>", "address to listen on (anything but loopback exposes the model: set an API key)", "127.0.0.1")
    .option("--port <n>", "port (0: any free port; the URL is printed)", port, 8080)
    .addOption(new Option("--api-key <key>", "bearer key required on /v1 and /admin routes").env("SAFESTEER_API_KEY"))
    .option("--parallel <n>", "requests decoded side by side (sequences of one batch, --ctx tokens each)", positiveInt("--parallel"), 1)
    .option("--max-queue <n>", "requests that may wait for a slot; past them, 429", nonNegativeInt("--max-queue"), 16)
    .option("--max-tokens-cap <n>", "largest max_tokens a request may ask for (default: the context size)", positiveInt("--max-tokens-cap"))
    .option("--cors <origin...>", "allow these browser origins (default: CORS off)")
    .option("--log <file>", "append the JSON request log here (default: stderr)")
    .option("--grace <seconds>", "on SIGTERM/SIGINT, time for in-flight requests to finish before they are cut", num("--grace"), 10)
    .option("--allowed-host <name...>", "on loopback, also answer to these Host names (default: localhost, 127.0.0.1, ::1 only)")
    .option("--request-timeout <seconds>", "a request not received whole within this gets a 408", num("--request-timeout"), 30)
    .option("--max-connections <n>", "connections held at once; past them, new ones are closed", positiveInt("--max-connections"), 1024)
    .option("--force", "accept bundles made for another file of the same shape")
    .option("--no-ui", "do not serve the playground at /")
    .action(async (o: ServeCliOptions) => {
      const policy = policySpec(o.steer);
      const bundles = o.bundle ?? [];
      if (policy !== "none" && bundles.length === 0)
        throw new SafeSteerError("usage", "--steer needs a bundle: add --bundle b.gguf (or name=path).");
      if (o.conditional && bundles.length === 0)
        throw new SafeSteerError("usage", "--conditional needs --bundle (with a detector) and --steer.");
      if (o.suppress && !o.neurons?.length) throw new SafeSteerError("usage", "--suppress needs --neurons neurons.json (or name=path).");
      if (o.fire && !o.conditional) throw new SafeSteerError("usage", "--fire goes with --conditional.");
      if (!(o.grace >= 0)) throw new SafeSteerError("usage", `--grace must be 0 or more seconds, got ${o.grace}.`);
      if (!(o.requestTimeout >= 0.1))
        throw new SafeSteerError("usage", `--request-timeout must be at least 0.1 seconds, got ${o.requestTimeout}.`);
      const loopback = isLoopbackAddress(o.host);
      if (o.allowedHost && !loopback)
        throw new SafeSteerError(
          "usage",
          `--allowed-host applies on loopback only; on ${o.host} every Host name is served (set --api-key).`,
        );
      if (o.log) checkOutputPath(o.log, "--log");
      if (o.verbose) setVerbosity("verbose");
      const chatTemplate = readChatTemplate(o.chatTemplate);
      const nCtx = o.ctx ?? 2048;
      const cap = o.maxTokensCap ?? nCtx;
      const { EngineBackend, modelIdOf } = await import("../../server/engine-backend.js");
      const { PendingBackend } = await import("../../server/pending-backend.js");
      const { createApp, shutdown } = await import("../../server/app.js");
      const { renderPage } = await import("../../web/page.js");
      // the page asks for the key first when there is one (a yes or no; the key itself never goes in the page)
      const ui = o.ui
        ? renderPage({ app: "playground", title: "SafeSteer playground", connectSelf: true, data: { needsKey: Boolean(o.apiKey) } })
        : undefined;
      // listen at once, load the model behind it: /health says "loading" until it is ready
      const loading = EngineBackend.create({
        model: o.model,
        bundles,
        neurons: o.neurons,
        defaults: {
          policy,
          mode: o.conditional ? "conditional" : "policy",
          // undefined unless given: a request's own fire is checked against its mode
          fire: o.fire,
          ...(o.suppress ? { suppress: parseSuppress(o.suppress, "mean") } : {}),
        },
        parallel: o.parallel,
        nCtx,
        threads: o.threads,
        gpu: o.gpu,
        gpuLayers: o.gpuLayers,
        llamaLib: o.llamaLib,
        verbose: o.verbose,
        chatTemplate,
        force: o.force,
      });
      const backend = new PendingBackend(modelIdOf(o.model), o.parallel, loading);
      let log: WriteStream | undefined;
      let app: ReturnType<typeof createApp> | undefined;
      try {
        log = o.log ? createWriteStream(o.log, { flags: "a" }) : undefined;
        app = createApp(backend, {
          apiKey: o.apiKey || undefined,
          maxQueue: o.maxQueue,
          maxTokensCap: cap,
          defaultMaxTokens: Math.max(1, Math.min(256, cap, Math.floor(nCtx / 2))),
          corsOrigins: o.cors,
          log: log ?? process.stderr,
          ui,
          // bound to loopback: a DNS-rebinding page (its own name as Host) is refused
          allowedHosts: loopback ? [...LOOPBACK_HOSTS, o.host, ...(o.allowedHost ?? [])] : undefined,
          requestTimeoutMs: Math.round(o.requestTimeout * 1000),
          maxConnections: o.maxConnections,
        });
        try {
          await app.listen({ host: o.host, port: o.port });
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "EADDRINUSE")
            throw new SafeSteerError("usage", `port ${o.port} on ${o.host} is in use: choose another --port (0 picks a free one).`);
          if (code === "EACCES")
            throw new SafeSteerError("usage", `listening on port ${o.port} needs privileges: choose a --port above 1023.`);
          if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND")
            throw new SafeSteerError(
              "usage",
              `cannot listen on ${o.host}: not an address of this machine; use --host 127.0.0.1 or 0.0.0.0.`,
            );
          throw e;
        }
        await backend.loaded; // the server's default steering was checked against the bundle as it loaded
      } catch (e) {
        await app?.close();
        await backend.close();
        log?.end();
        throw e;
      }
      const addr = app.server.address();
      const bound = typeof addr === "object" && addr ? addr : { address: o.host, port: o.port };
      const host = bound.address.includes(":") ? `[${bound.address}]` : bound.address;
      if (!loopback && !o.apiKey)
        process.stderr.write(
          `warning: serving on ${o.host} without an API key: anyone who can reach this port can use the model; set --api-key or SAFESTEER_API_KEY.\n`,
        );
      // the signal handlers are in place before the URL is out: a client that reads it may stop us at once
      const running = app;
      let onSignal: ((sig: NodeJS.Signals) => void) | undefined;
      const stopping = new Promise<boolean>((resolve, reject) => {
        let asked = false;
        onSignal = (sig: NodeJS.Signals) => {
          if (asked) {
            // a second signal: cut the requests now
            process.stderr.write(`safesteer: ${sig} again: aborting the requests in flight.\n`);
            running.safesteer.abortAll();
            return;
          }
          asked = true;
          process.stderr.write(`safesteer: ${sig}: stopping; requests in flight have ${o.grace} s to finish.\n`);
          shutdown(running, backend, o.grace * 1000).then(resolve, reject);
        };
        process.on("SIGTERM", onSignal);
        process.on("SIGINT", onSignal);
      });
      const names = backend.bundles().map((b) => b.name);
      process.stdout.write(
        `safesteer: serving ${backend.modelId} on http://${host}:${bound.port}${names.length ? ` (bundles: ${names.join(", ")})` : ""}\n${ui ? `safesteer: playground at http://${host}:${bound.port}/\n` : ""}`,
      );
      const stopped = await stopping.finally(() => {
        if (onSignal) {
          process.off("SIGTERM", onSignal);
          process.off("SIGINT", onSignal);
        }
      });
      if (log) await new Promise<void>((resolve) => log?.end(resolve));
      if (!stopped) {
        process.stderr.write("safesteer: a generation would not stop; exiting without waiting for it.\n");
        process.exit(0);
      }
      process.stderr.write("safesteer: stopped.\n");
    });
}
