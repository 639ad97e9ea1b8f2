// `safesteer serve`: an OpenAI-compatible HTTP server with per-request steering. This file parses
// the flags and turns SIGTERM/SIGINT into a graceful stop; serve() (server/run.ts) does the rest,
// loading the server's modules (Fastify, prom-client) only when it runs, so --help stays fast.
import { type Command, InvalidArgumentError, Option } from "commander";
import { SafeSteerError } from "../../errors.js";
import { isLoopbackAddress } from "../../server/guards.js";
import { type RunningServer, type ServeOptions, serve } from "../../server/run.js";
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
  cacheRam: number;
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
    .option(
      "--cache-ram <MiB>",
      "host memory for prompts' K/V cells, reused by later requests that start the same way under the same steering (0: off)",
      nonNegativeInt("--cache-ram"),
      8192,
    )
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
    .action(runServe);
}

/** The flags, checked, as serve()'s options. */
function serveOptions(o: ServeCliOptions): ServeOptions {
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
  if (o.allowedHost && !isLoopbackAddress(o.host))
    throw new SafeSteerError("usage", `--allowed-host applies on loopback only; on ${o.host} every Host name is served (set --api-key).`);
  if (o.log) checkOutputPath(o.log, "--log");
  return {
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
    nCtx: o.ctx ?? 2048,
    cacheRamMiB: o.cacheRam,
    threads: o.threads,
    gpu: o.gpu,
    gpuLayers: o.gpuLayers,
    llamaLib: o.llamaLib,
    verbose: o.verbose,
    chatTemplate: readChatTemplate(o.chatTemplate),
    force: o.force,
    host: o.host,
    port: o.port,
    apiKey: o.apiKey || undefined,
    maxQueue: o.maxQueue,
    maxTokensCap: o.maxTokensCap,
    corsOrigins: o.cors,
    log: o.log,
    ui: o.ui,
    allowedHosts: o.allowedHost,
    requestTimeoutMs: Math.round(o.requestTimeout * 1000),
    maxConnections: o.maxConnections,
  };
}

/** Resolves with close()'s result after SIGTERM/SIGINT; a second signal cuts the requests in flight. */
function stopOnSignal(server: RunningServer, graceSeconds: number): Promise<boolean> {
  let onSignal: ((sig: NodeJS.Signals) => void) | undefined;
  const stopping = new Promise<boolean>((resolve, reject) => {
    let asked = false;
    onSignal = (sig: NodeJS.Signals) => {
      if (asked) {
        process.stderr.write(`safesteer: ${sig} again: aborting the requests in flight.\n`);
        server.abortAll();
        return;
      }
      asked = true;
      process.stderr.write(`safesteer: ${sig}: stopping; requests in flight have ${graceSeconds} s to finish.\n`);
      server.close(graceSeconds * 1000).then(resolve, reject);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return stopping.finally(() => {
    if (onSignal) {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
  });
}

async function runServe(o: ServeCliOptions): Promise<void> {
  const opts = serveOptions(o);
  if (o.verbose) setVerbosity("verbose");
  const server = await serve(opts);
  if (!isLoopbackAddress(o.host) && !opts.apiKey)
    process.stderr.write(
      `warning: serving on ${o.host} without an API key: anyone who can reach this port can use the model; set --api-key or SAFESTEER_API_KEY.\n`,
    );
  // the signal handlers are in place before the URL is out: a client that reads it may stop us at once
  const stopped = stopOnSignal(server, o.grace);
  const names = server.bundles.length ? ` (bundles: ${server.bundles.join(", ")})` : "";
  process.stdout.write(`safesteer: serving ${server.modelId} on ${server.url}${names}\n`);
  if (server.playground) process.stdout.write(`safesteer: playground at ${server.url}/\n`);
  if (!(await stopped)) {
    process.stderr.write("safesteer: a generation would not stop; exiting without waiting for it.\n");
    process.exit(0);
  }
  process.stderr.write("safesteer: stopped.\n");
}
