// The model side of `safesteer serve`: one model, its loaded bundles, and one context whose sequences
// are the slots, owned by the scheduler. A request's steering is decided as every caller's is
// (steer/decide.ts planSteering), then it decodes with the others in one batch per step
// (engine/scheduler.ts: continuous batching), each with its own sampling and its own steering
// (steer/apply.ts steerSequence: write hooks on its own rows only); its answer is exactly the one it
// gets served alone. A step reads the weights once for every request in it, so side-by-side
// requests cost far less than one context each (bench/slots.bench.ts).
import { basename } from "node:path";
import { Context } from "../engine/context.js";
import { EngineError } from "../engine/errors.js";
import { type LoadOptions, Model } from "../engine/model.js";
import { BatchScheduler } from "../engine/scheduler.js";
import { SafeSteerError } from "../errors.js";
import {
  type Bundle,
  checkBundleModel,
  checkNeuronModel,
  type Decided,
  detect,
  type NeuronChoice,
  type NeuronSet,
  type PlannedSteering,
  planSteering,
  readBundle,
  readNeurons,
  SteerError,
  type SteeringSource,
  steerSequence,
} from "../steer/index.js";
import {
  type Backend,
  type BundleSummary,
  type CompletionEvent,
  type CompletionJob,
  type CompletionStream,
  type PromptReuse,
  RequestError,
  type SteeringRequest,
} from "./backend.js";

export interface EngineBackendOptions extends LoadOptions {
  model: string;
  /** "name=path" or a path (named by its file name without .gguf). */
  bundles?: string[];
  /** Neuron files to load: n.json (named n) or name=path; a request names one in safesteer.neurons. */
  neurons?: string[];
  /** Server-wide steering defaults (a request's `safesteer` field overrides them). */
  defaults?: SteeringRequest;
  /** Requests decoded side by side (sequences of one batch). */
  parallel?: number;
  /** Tokens per slot: prompt plus answer. */
  nCtx?: number;
  /** MiB of host memory for prompts' K/V cells, reused by later requests that start the same way under the same steering (llama-server's --cache-ram; default 8192, 0: off). */
  cacheRamMiB?: number;
  /** Accept bundles made for another file of the same shape. */
  force?: boolean;
}

interface LoadedBundle {
  name: string;
  path: string;
  bundle: Bundle;
}

/** A model's id in /v1/models: its file name without .gguf. */
export function modelIdOf(path: string): string {
  return basename(path).replace(/\.gguf$/i, "");
}

/** "name=path" or "path" -> {name, path}. */
export function bundleSpec(spec: string): { name: string; path: string } {
  const eq = spec.indexOf("=");
  if (eq > 0) return { name: spec.slice(0, eq), path: spec.slice(eq + 1) };
  return { name: basename(spec).replace(/\.gguf$/i, ""), path: spec };
}

export class EngineBackend implements Backend {
  readonly modelId: string;
  readonly parallel: number;
  readonly ready = true;
  private readonly model: Model;
  /** Tokens a slot holds: prompt plus answer. */
  private readonly slotCtx: number;
  private readonly ctx: Context;
  private readonly scheduler: BatchScheduler;
  /** Conditional steering reads prompt activations in its own context (hooks on), one prompt at a time. */
  private detectCtx: Context | undefined;
  private detectQueue: Promise<unknown> = Promise.resolve();
  private readonly loaded = new Map<string, LoadedBundle>();
  private readonly neuronFiles = new Map<string, NeuronSet>();
  private readonly defaults: SteeringRequest;
  private readonly force: boolean;
  /** The chat template's next-turn markers, read once. */
  private readonly turnStops: string[];

  private constructor(model: Model, opts: EngineBackendOptions, loaded: LoadedBundle[], neurons: Map<string, NeuronSet>) {
    this.model = model;
    this.modelId = modelIdOf(opts.model);
    this.parallel = opts.parallel ?? 1;
    this.defaults = opts.defaults ?? {};
    this.force = opts.force ?? false;
    this.turnStops = model.turnStops();
    for (const b of loaded) this.loaded.set(b.name, b);
    for (const [name, set] of neurons) this.neuronFiles.set(name, set);
    this.slotCtx = opts.nCtx ?? 2048;
    // steering one request among others is a write hook on its rows: hooks whenever there is a bundle
    // a K/V stream per slot, as llama-server: a step attends over each slot's own cells, not all slots'
    this.ctx = new Context(model, {
      nCtx: this.slotCtx * this.parallel,
      nSeq: this.parallel,
      kvUnified: false,
      hooks: loaded.length + neurons.size > 0,
    });
    this.scheduler = new BatchScheduler(this.ctx, { promptCacheBytes: (opts.cacheRamMiB ?? 8192) * 2 ** 20 });
    // read once at load: a request's length check must not pay for it
    this.promptBytesCap = this.slotCtx * model.maxTokenBytes();
  }

  /** A prompt longer than this in UTF-8 bytes has more tokens than a slot holds, whatever they are. */
  private readonly promptBytesCap: number;

  static async create(opts: EngineBackendOptions): Promise<EngineBackend> {
    if (!Number.isInteger(opts.cacheRamMiB ?? 0) || (opts.cacheRamMiB ?? 0) < 0)
      throw new SafeSteerError("usage", `--cache-ram must be a whole number of MiB, 0 or more, got ${opts.cacheRamMiB}.`);
    if (!Number.isInteger(opts.parallel ?? 1) || (opts.parallel ?? 1) < 1)
      throw new SafeSteerError("usage", `--parallel must be a whole number of at least 1, got ${opts.parallel}.`);
    const specs = (opts.bundles ?? []).map(bundleSpec);
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name)) throw new SafeSteerError("usage", `two bundles are named "${s.name}": name them with --bundle name=path.`);
      names.add(s.name);
    }
    const model = Model.load(opts.model, opts);
    try {
      const fp = await model.fingerprint();
      const loaded = specs.map((s) => {
        const bundle = readBundle(s.path);
        checkBundleModel(bundle, fp, { force: opts.force });
        return { ...s, bundle };
      });
      const neurons = new Map(
        (opts.neurons ?? []).map((spec) => {
          const s = bundleSpec(spec);
          const name = s.name.replace(/\.json$/i, "");
          if (loaded.some((b) => b.name === name))
            throw new SafeSteerError("usage", `"${name}" names a bundle and a neuron file: name one with name=path.`);
          const set = readNeurons(s.path);
          checkNeuronModel(set, fp, model.info.nFf, opts.force);
          return [name, set] as const;
        }),
      );
      const backend = new EngineBackend(model, opts, loaded, neurons);
      // the server's own defaults must make sense before the first request
      if (opts.defaults) backend.plan(opts.defaults);
      return backend;
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Requests holding a slot (decoding). */
  get active(): number {
    return this.scheduler.active;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.scheduler.waiting;
  }

  get promptReuse(): PromptReuse {
    const { reused, fromHost } = this.scheduler.promptStats;
    return { slot: reused - fromHost, host: fromHost, cacheBytes: this.scheduler.promptCacheBytes };
  }

  bundles(): BundleSummary[] {
    return [...this.loaded.values()].map(summary);
  }

  async reloadBundle(name: string): Promise<BundleSummary> {
    const b = this.loaded.get(name);
    if (!b)
      throw new SafeSteerError(
        "bad_argument",
        `no bundle named "${name}" is loaded; loaded: ${[...this.loaded.keys()].join(", ") || "none"}.`,
      );
    const bundle = readBundle(b.path);
    checkBundleModel(bundle, await this.model.fingerprint(), { force: this.force });
    const next = { ...b, bundle };
    this.loaded.set(name, next); // requests already decoding keep the vectors they started with
    return summary(next);
  }

  /** The bundle a request names, else the server's default, else the only one loaded. */
  private resolveBundle(req: SteeringRequest): LoadedBundle | undefined {
    const name = req.bundle ?? this.defaults.bundle;
    if (name !== undefined) {
      const b = this.loaded.get(name);
      if (!b)
        throw new RequestError(
          "unknown_bundle",
          `unknown bundle "${name}": loaded bundles are ${[...this.loaded.keys()].join(", ") || "none"} (a request names a bundle by name, never by path).`,
          "safesteer.bundle",
        );
      return b;
    }
    return this.loaded.size > 0 ? [...this.loaded.values()][0] : undefined;
  }

  /**
   * The prompt's tokens. A text with more bytes than a slot's tokens could ever cover is refused
   * before it is rendered or tokenized; the rest is tokenized on a worker thread, so that a long
   * prompt never holds the streams decoding meanwhile.
   */
  private async render(job: CompletionJob, maxTokens: number): Promise<{ tokens: number[]; userText: string; chat: boolean }> {
    const field = job.messages ? "messages" : "prompt";
    const tooLong = (bytes: number) => {
      if (bytes > this.promptBytesCap)
        throw new RequestError(
          "context_length_exceeded",
          `the prompt has ${bytes} bytes, more than the ${this.slotCtx} tokens a slot holds could cover (no token of this model is longer than ${this.promptBytesCap / this.slotCtx} bytes): shorten the prompt (the server's --ctx sets the slot size).`,
          field,
        );
    };
    if (job.messages) {
      tooLong(job.messages.reduce((n, m) => n + Buffer.byteLength(m.content, "utf8"), 0));
      if (!this.model.info.chatTemplate) {
        const text = job.messages.map((m) => m.content).join("\n");
        return { tokens: await this.fit(this.model.tokenizeAsync(text), maxTokens, field), userText: lastUser(job.messages), chat: false };
      }
      // the one chat tokenizing (Model.tokenizeChat): exactly one BOS whether or not the template writes it
      const messages = job.messages;
      const tokens = await this.fit(this.model.tokenizeChatAsync(messages), maxTokens, field);
      return { tokens, userText: lastUser(messages), chat: true };
    }
    const prompt = job.prompt ?? "";
    tooLong(Buffer.byteLength(prompt, "utf8"));
    return { tokens: await this.fit(this.model.tokenizeAsync(prompt), maxTokens, field), userText: prompt, chat: false };
  }

  /** Checks the prompt (tokenized off the JS thread) and the answer fit in a slot. */
  private async fit(tokenizing: Promise<number[]>, maxTokens: number, field: string): Promise<number[]> {
    const tokens = await tokenizing;
    if (tokens.length === 0) throw new RequestError("empty_prompt", "the prompt is empty: give some text.", field);
    if (tokens.length + maxTokens > this.slotCtx) {
      throw new RequestError(
        "context_length_exceeded",
        `the prompt has ${tokens.length} tokens and max_tokens is ${maxTokens}, more than the ${this.slotCtx} tokens a slot holds: shorten the prompt or lower max_tokens (the server's --ctx sets the slot size).`,
        field,
      );
    }
    return tokens;
  }

  /** Runs the detector on one prompt; detections are serialised on their own context. */
  private async detect(bundle: Bundle, text: string, chat: boolean) {
    const det = bundle.detector as NonNullable<Bundle["detector"]>; // plan() checked it
    const run = this.detectQueue.then(async () => {
      this.detectCtx ??= new Context(this.model, { nCtx: this.slotCtx, hooks: true });
      return (await detect(this.detectCtx, det, [text], chat))[0];
    });
    this.detectQueue = run.catch(() => undefined);
    const d = await run;
    if (!d) throw new EngineError("decode_failed", "the detector returned no result.");
    return d;
  }

  /**
   * What a steering request asks for, checked before any decoding (unknown bundle, category,
   * strength or neuron file; conditional mode without a detector): the request's steering plan.
   */
  private plan(req: SteeringRequest): { plan: PlannedSteering; bundle?: Bundle } {
    const policy = req.policy ?? this.defaults.policy ?? "none";
    const mode = req.mode ?? this.defaults.mode ?? "policy";
    if (req.fire !== undefined && mode !== "conditional")
      throw new RequestError(
        "fire_without_conditional",
        `safesteer.fire picks which of the detector's categories are steered, so it goes with mode "conditional" (here the mode is "${mode}"): add "mode": "conditional" or drop fire.`,
        "safesteer.fire",
      );
    const loaded = this.resolveBundle(req);
    if (policy !== "none" && !loaded)
      throw new RequestError(
        "no_bundle",
        "steering was asked for but no bundle is loaded: start the server with --bundle.",
        "safesteer.policy",
      );
    if (policy !== "none" && mode === "conditional" && !loaded?.bundle.detector)
      throw new RequestError(
        "no_detector",
        `conditional steering needs a bundle with a detector; ${loaded?.name} has none (safesteer detector).`,
        "safesteer.mode",
      );
    const neurons = this.neuronChoice(req);
    try {
      const plan = planSteering(loaded?.bundle, {
        policy,
        mode,
        fire: req.fire ?? this.defaults.fire ?? "all",
        name: loaded?.name,
        neurons,
      });
      return { plan, bundle: loaded?.bundle };
    } catch (e) {
      if (e instanceof SteerError && e.code === "bad_suppress") throw new RequestError("bad_suppress", e.message, "safesteer.suppress");
      throw e;
    }
  }

  /** The neuron file and suppression a request asks for (the only file loaded when it names none). */
  private neuronChoice(req: SteeringRequest): NeuronChoice | undefined {
    const name = req.neurons ?? this.defaults.neurons;
    const suppress = req.suppress ?? this.defaults.suppress;
    if (name === undefined && suppress === undefined) return undefined;
    const set =
      name !== undefined ? this.neuronFiles.get(name) : this.neuronFiles.size === 1 ? [...this.neuronFiles.values()][0] : undefined;
    if (!set)
      throw new RequestError(
        "unknown_neurons",
        `${name === undefined ? "safesteer.suppress needs safesteer.neurons" : `unknown neuron file "${name}"`}: loaded neuron files are ${[...this.neuronFiles.keys()].join(", ") || "none (start the server with --neurons)"}.`,
        "safesteer.neurons",
      );
    return { set, suppress: suppress ?? {}, name: name ?? [...this.neuronFiles.keys()][0] };
  }

  /** The request's decision and vectors: conditional mode reads the prompt with the detector first. */
  private async decide(req: SteeringRequest, text: string, chat: boolean): Promise<Decided> {
    const { plan, bundle } = this.plan(req);
    const detection = plan.needsDetection ? await this.detect(bundle as Bundle, text, chat) : undefined;
    return plan.decide({ detection });
  }

  async complete(job: CompletionJob): Promise<CompletionStream> {
    const { tokens, userText, chat } = await this.render(job, job.maxTokens);
    const { decision, vectors } = await this.decide(job.steering, userText, chat);
    // the slot is taken when the consumer starts reading (a stream never read holds nothing)
    return { decision, promptTokens: tokens.length, events: this.generate(tokens, job, { vectors }) };
  }

  /** The request's generation as events, in a slot the scheduler hands out, steered for exactly its duration. */
  private async *generate(tokens: number[], job: CompletionJob, steering: SteeringSource): AsyncGenerator<CompletionEvent> {
    const chatTemplate = Boolean(this.model.info.chatTemplate);
    const options = {
      maxTokens: job.maxTokens,
      temperature: job.temperature,
      topP: job.topP,
      topK: 0,
      minP: 0,
      seed: job.seed,
      // a chat answer ends where the template starts the next turn, as with `generate --chat`
      stop: job.messages && chatTemplate ? [...job.stop, ...this.turnStops] : job.stop,
    };
    for await (const e of steerSequence(this.scheduler, steering, { prompt: tokens, options, signal: job.signal })) {
      if (e.type === "start") yield { type: "start" };
      else if (e.type === "token") yield { type: "text", text: e.text };
      else yield { type: "done", reason: e.reason, completionTokens: e.tokens.length };
    }
  }

  async close(): Promise<void> {
    this.ctx.dispose();
    this.detectCtx?.dispose();
    this.model.dispose();
  }
}

function lastUser(messages: Array<{ role: string; content: string }>): string {
  return [...messages].reverse().find((m) => m.role === "user")?.content ?? messages[messages.length - 1]?.content ?? "";
}

function summary(b: LoadedBundle): BundleSummary {
  return {
    name: b.name,
    path: b.path,
    categories: [...b.bundle.categories.keys()],
    detector: Boolean(b.bundle.detector),
    site: b.bundle.site,
    strengths: Object.fromEntries([...b.bundle.categories].map(([c, e]) => [c, e.strength ?? null])),
    recommendedStrength: b.bundle.recommendedStrength,
    relative: Object.keys(b.bundle.meanNorm).length > 0,
  };
}
