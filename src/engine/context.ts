// A context runs a model: batched decoding of several sequences, activation captures, and steering
// (native control vectors for resid_post, write hooks for every other site).
import type { BatchInput, DecodeMode, EvalCallbackStats } from "../native/llama.js";
import { disposedError, NativeContext } from "../native/llama.js";
import { Batch } from "./batch.js";
import { Capture, type CaptureSpec } from "./capture.js";
import { EngineError } from "./errors.js";
import type { Model } from "./model.js";
import { combineObservers, type SiteObserver } from "./observers.js";
import { type BatchLayout, type Site, siteTensor, siteWidth } from "./sites.js";
import { splitUbatches, type UbatchSplit } from "./ubatch.js";
import { type WriteHook, WriteHookSet } from "./write-hooks.js";

export interface ContextOptions {
  /** Total tokens the K/V cache holds, shared by all sequences (default min(train context, 2048)). */
  nCtx?: number;
  /** Sequences decoded side by side (default 1). */
  nSeq?: number;
  /**
   * One K/V cache for all sequences (true, default: a sequence may use all nCtx cells), or a stream
   * per sequence (false, as llama-server runs its slots): each holds nCtx / nSeq cells and attends
   * over its own only, so a step of many sequences does not read every sequence's cells.
   */
  kvUnified?: boolean;
  /** Tokens per llama_decode call (default 512). */
  nBatch?: number;
  /** Exact arithmetic: no flash attention, F32 K/V cache (reference checks, training). */
  exact?: boolean;
  /** Enable activation hooks (captures and write hooks). Default true. */
  hooks?: boolean;
  /** Attach a ggml CPU threadpool to the context, as llama.cpp's tools do (default true). */
  threadpool?: boolean;
  /**
   * Where decodes without hooks run: "auto" (default) on the JS thread for short decodes while no
   * other context decodes at the same time, else on a libuv worker; "sync" / "async" force one.
   */
  decode?: DecodeMode;
  /**
   * Answer llama.cpp's question about each graph node in C and call JavaScript only for the nodes the
   * hooks and captures use (default true): a small filter compiled with the machine's C compiler on
   * first use, or by `safesteer engine build`. Off, or where it cannot be compiled, every node reaches
   * JavaScript (same results, slower). SAFESTEER_EVAL_FILTER=0 turns it off for the process.
   */
  evalFilter?: boolean;
}

export type { DecodeMode, EvalCallbackStats };

/** strength x vector added at a site of a layer at every token position. */
export interface SteeringVector {
  site: Site;
  layer: number;
  vector: Float32Array;
  /** Multiplies each unit before the vector is added (a write hook; neuron steering at mlp_post). Not scaled by strength. */
  scale?: Float32Array;
  strength?: number;
  /** resid_post defaults to llama.cpp's native control vector; "hook" forces a write hook. */
  via?: "native" | "hook";
  /** Steer only this sequence's rows (a write hook: llama.cpp's control vector is one per context). */
  seq?: number;
}

/**
 * Whether a steering vector needs activation hooks (a context created with hooks): llama.cpp's
 * control vectors cover resid_post from layer 1 on; other sites, layer 0 and forced hooks do not.
 */
export function needsHooks(sv: Pick<SteeringVector, "site" | "layer" | "via" | "seq" | "scale">): boolean {
  return !(sv.site === "resid_post" && sv.layer >= 1 && sv.via !== "hook" && sv.seq === undefined && sv.scale === undefined);
}

/** What a steering call did: which layers use llama.cpp's control vector and which use hooks. */
export interface SteeringPlan {
  nativeLayers: number[];
  hookLayers: Array<{ site: Site; layer: number }>;
}

/** Steering in force on a context until released (also by `using`). */
export interface SteeringHandle {
  readonly plan: SteeringPlan;
  release(): void;
  [Symbol.dispose](): void;
}

export interface EvaluateOptions {
  capture?: CaptureSpec;
  /** Which logits to return per sequence (default "last"). */
  logits?: "last" | "all" | "none";
}

export interface EvaluateResult {
  /** Per sequence: the last token's logits ("last"), or one row per token ("all"). */
  logits: Float32Array[][];
  capture?: Capture;
}

export class Context {
  readonly model: Model;
  /** @internal */
  readonly native: NativeContext;
  private hooks: WriteHookSet | undefined;
  private nativeSteering = false;
  /** The live steering handle's identity, while one is in force. */
  private live: object | undefined;
  /**
   * Bumped by every decode, clear and removal: a caller that keeps cells for later (the scheduler)
   * can tell whether anyone else changed the K/V cache meanwhile.
   */
  memoryVersion = 0;

  constructor(model: Model, opts: ContextOptions = {}) {
    this.model = model;
    const nCtx = opts.nCtx ?? Math.min(model.info.nCtxTrain > 0 ? model.info.nCtxTrain : 2048, 2048);
    const nBatch = Math.min(opts.nBatch ?? 512, nCtx);
    this.native = new NativeContext(model.native, {
      nCtx,
      nBatch,
      nSeqMax: opts.nSeq ?? 1,
      nThreads: model.threads,
      exact: opts.exact,
      observable: opts.hooks ?? true,
      kvUnified: opts.kvUnified ?? true,
      threadpool: opts.threadpool,
      decodeMode: opts.decode,
      evalFilter: opts.evalFilter,
    });
  }

  get nCtx(): number {
    return this.native.nCtx;
  }
  /** Cells one sequence can hold (nCtx with a unified cache, nCtx / nSeq with a stream per sequence). */
  get nCtxSeq(): number {
    return this.native.nCtxSeq;
  }
  /** Whether all sequences share one K/V cache (else each has a stream of nCtxSeq cells). */
  get kvUnified(): boolean {
    return this.native.kvUnified;
  }
  get nSeq(): number {
    return this.native.nSeqMax;
  }
  get nBatch(): number {
    return this.native.nBatch;
  }

  /** Checks a layer index against the model. */
  checkLayer(layer: number): void {
    this.alive();
    const n = this.model.info.nLayer;
    if (!Number.isInteger(layer) || layer < 0 || layer >= n) {
      throw new EngineError("bad_layer", `layer ${layer} is out of range: this model has layers 0..${n - 1}.`);
    }
  }

  /** The width of a site's activations in this model (n_ff at mlp_post, else the model width). */
  siteWidth(site: Site): number {
    this.alive();
    const w = siteWidth(this.model.info, site);
    if (w <= 0)
      throw new EngineError("bad_site", `${this.model.info.path} does not say its feed-forward width, so ${site} cannot be used.`);
    return w;
  }

  /** Checks a vector's width (the site's, default the model width) and values. */
  checkVector(v: Float32Array, what: string, site: Site = "resid_post"): void {
    this.alive();
    const w = this.siteWidth(site);
    if (v.length !== w) {
      throw new EngineError(
        "bad_vector",
        `${what} has width ${v.length} but this model's ${site === "mlp_post" ? "MLP width (n_ff)" : "width"} is ${w}: it was made for another model.`,
      );
    }
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new EngineError("bad_vector", `${what} contains ${v[bad]} at index ${bad}: vectors must be finite numbers.`);
  }

  /**
   * Applies steering until the handle is released. Steering never nests and never outlives its
   * scope: applying while another handle is live is an error. Callers outside the engine go
   * through steer() / withSteering() in steer/apply.ts, which also check a bundle against the model.
   * @internal
   */
  async applySteering(vectors: SteeringVector[]): Promise<SteeringHandle> {
    this.alive();
    if (this.live) {
      throw new EngineError("bad_argument", "this context is already steered: release the current steering before applying another.");
    }
    const plan = await this.setSteering(vectors);
    const token = {};
    this.live = token;
    const release = () => {
      if (this.live !== token) return; // released already
      this.clearSteering();
      this.live = undefined;
    };
    return { plan, release, [Symbol.dispose]: release };
  }

  /**
   * Replaces the steering on this context. resid_post at layers >= 1 goes to llama.cpp's native
   * control vector (summed per layer); other sites, and layer 0, use write hooks.
   */
  private async setSteering(vectors: SteeringVector[]): Promise<SteeringPlan> {
    const { nLayer, nEmbd } = this.model.info;
    const nativeByLayer = new Map<number, Float32Array>();
    const hooks: WriteHook[] = [];
    for (const sv of vectors) {
      this.checkLayer(sv.layer);
      siteTensor(sv.site);
      const what = `steering vector (${sv.site}, layer ${sv.layer})`;
      this.checkVector(sv.vector, what, sv.site);
      if (sv.scale) this.checkVector(sv.scale, `${what} scale`, sv.site);
      const strength = sv.strength ?? 1;
      if (!Number.isFinite(strength)) throw new EngineError("bad_vector", `${what}: strength ${strength} is not a finite number.`);
      const scaled = Float32Array.from(sv.vector, (x) => x * strength);
      if (!needsHooks(sv)) {
        const prev = nativeByLayer.get(sv.layer);
        nativeByLayer.set(sv.layer, prev ? prev.map((x, i) => x + (scaled[i] as number)) : scaled);
      } else if (this.native.observable) {
        hooks.push({ site: sv.site, layer: sv.layer, vector: scaled, scale: sv.scale, seq: sv.seq });
      } else {
        throw new EngineError(
          "bad_argument",
          `steering at ${sv.site} layer ${sv.layer} needs activation hooks; create the context with hooks enabled.`,
        );
      }
    }
    if (nativeByLayer.size > 0 && !(await this.model.supportsControlVectors())) {
      throw new EngineError(
        "unsupported_architecture",
        `the ${this.model.info.architecture} graph in llama.cpp ignores control vectors; steering it at resid_post would do nothing. Use another site (e.g. attn_out), which steers through hooks.`,
      );
    }
    this.clearSteering();
    if (nativeByLayer.size > 0) {
      const layers = [...nativeByLayer.keys()].sort((a, b) => a - b);
      const data = new Float32Array((nLayer - 1) * nEmbd); // buffer starts at layer 1
      for (const [l, v] of nativeByLayer) data.set(v, (l - 1) * nEmbd);
      this.native.setControlVector(data, nEmbd, layers[0] as number, layers[layers.length - 1] as number);
      this.nativeSteering = true;
    }
    this.hooks = hooks.length ? new WriteHookSet(hooks) : undefined;
    return {
      nativeLayers: [...nativeByLayer.keys()].sort((a, b) => a - b),
      hookLayers: hooks.map(({ site, layer }) => ({ site, layer })),
    };
  }

  private clearSteering(): void {
    if (this.nativeSteering) this.native.clearControlVector(this.model.info.nEmbd);
    this.nativeSteering = false;
    this.hooks = undefined;
  }

  get steered(): boolean {
    return this.nativeSteering || this.hooks !== undefined;
  }

  /**
   * One llama_decode with the active write hooks and an optional extra observer. With the native eval
   * filter only the nodes they name reach JavaScript, and none when there is neither.
   */
  async decode(batch: BatchInput, extra?: SiteObserver): Promise<void> {
    this.alive();
    this.memoryVersion++;
    const hookObs = this.hooks?.observer(this.layoutOf(batch.seqIds, batch.outputs));
    const obs = combineObservers([hookObs, extra]);
    const graph = this.native.nativeFilter ? this.native.graphNames : undefined;
    if (this.native.observable) this.native.setObserver(obs, obs && graph ? obs.names?.(graph) : undefined);
    try {
      await this.native.decode(batch);
    } finally {
      if (this.native.observable) this.native.setObserver(undefined);
    }
    this.hooks?.assertApplied();
  }

  /**
   * A batch's row layout for observers, with llama.cpp's ubatches where it does not run the batch as one graph in order.
   * @internal
   */
  layoutOf(seqIds: ArrayLike<number>, outputs: ArrayLike<boolean | number>, owners?: ArrayLike<number>): BatchLayout {
    const split: UbatchSplit = this.native.kvUnified ? "simple" : "equal";
    const whole = split === "simple" && seqIds.length <= this.native.nUbatch;
    return { seqIds: owners ?? seqIds, outputs, ubatches: whole ? undefined : splitUbatches(seqIds, this.native.nUbatch, split) };
  }

  /**
   * How often llama.cpp's eval callback asked about a node and how often it reached JavaScript, over
   * this context's life (for tests and benches).
   */
  evalStats(): EvalCallbackStats {
    return this.native.evalStats();
  }

  logits(row: number): Float32Array {
    this.alive();
    return this.native.logits(row);
  }

  clearMemory(): void {
    this.alive();
    this.memoryVersion++;
    this.native.clearMemory();
  }

  /** Frees one sequence's cells in the K/V cache from position `from` on (default all: its slot is reused by the next request). */
  removeSequence(seq: number, from = 0): void {
    this.alive();
    this.memoryVersion++;
    this.native.removeSequence(seq, from);
  }

  /**
   * A copy of one sequence's K/V cells, to load into a sequence later (setSequenceState).
   * @internal
   */
  sequenceState(seq: number): Uint8Array {
    this.alive();
    return this.native.sequenceState(seq);
  }

  /**
   * Replaces a sequence's cells with a copy from sequenceState() of this context (the scheduler's prompt cache).
   * @internal
   */
  setSequenceState(seq: number, state: Uint8Array): void {
    this.alive();
    this.memoryVersion++;
    this.native.setSequenceState(seq, state);
  }

  /**
   * Whether a sequence's cells let it go on at position nPast (after its cells from nPast on are
   * removed): a sliding-window model keeps only the window's last cells, so a sequence cut back to
   * an earlier point may lack cells its next token attends to (llama-server's check).
   * @internal
   */
  canContinue(seq: number, nPast: number): boolean {
    this.alive();
    const posMin = this.native.sequencePosMin(seq);
    return posMin >= 0 && posMin <= Math.max(0, nPast - Math.max(1, this.model.native.nSwa));
  }

  /**
   * Whether the K/V cache holds a sequence of `own` cells while all sequences together hold `total`:
   * a unified cache bounds the total, a stream per sequence each sequence on its own.
   */
  holds(total: number, own: number): boolean {
    return own <= this.nCtxSeq && (!this.kvUnified || total <= this.nCtx);
  }

  /** Throws the standard error when a sequence cannot fit in this context. */
  checkFits(nTokens: number, what = "prompt"): void {
    this.alive();
    if (nTokens > this.nCtxSeq) {
      throw new EngineError(
        "context_overflow",
        `the ${what} has ${nTokens} tokens but the context holds ${this.nCtxSeq}${this.kvUnified ? "" : " per sequence"}. Use a larger context (--ctx) or a shorter ${what}.`,
      );
    }
  }

  /**
   * Runs whole token sequences from position 0 (several side by side, in as few decodes as fit),
   * returning logits and, optionally, captured activations keyed by the sequence's index.
   */
  async evaluate(seqs: ArrayLike<number>[], opts: EvaluateOptions = {}): Promise<EvaluateResult> {
    this.alive();
    const want = opts.logits ?? "last";
    const capture = opts.capture ? new Capture(opts.capture, this.siteWidth(opts.capture.site)) : undefined;
    if (opts.capture) for (const l of opts.capture.layers) this.checkLayer(l);
    // the last layer only computes output rows: capture every token there by making all rows outputs
    const allOutputs = want === "all" || (capture?.spec.layers.includes(this.model.info.nLayer - 1) ?? false);
    for (const s of seqs) {
      if (s.length === 0) throw new EngineError("bad_argument", "cannot evaluate an empty token sequence.");
      this.checkFits(s.length, "text");
    }
    const logits: Float32Array[][] = seqs.map(() => []);
    let i = 0;
    while (i < seqs.length) {
      // a group: at most nSeq sequences whose tokens fit together in the shared cache
      const group: number[] = [];
      let used = 0;
      const fits = (n: number) => this.holds(used + n, n);
      while (i < seqs.length && group.length < this.nSeq && fits((seqs[i] as ArrayLike<number>).length)) {
        used += (seqs[i] as ArrayLike<number>).length;
        group.push(i++);
      }
      this.clearMemory();
      // the group's sequences side by side, each in the slot of its place in the group
      const all = new Batch();
      group.forEach((g, slot) => {
        all.addSequence(seqs[g] as ArrayLike<number>, slot, 0, true, allOutputs);
      });
      for (const { start, batch } of all.parts(this.nBatch)) {
        // captures are keyed by the sequence's index in seqs, not its slot
        const owners = batch.seqIds.map((slot) => group[slot] as number);
        const layout = this.layoutOf(batch.seqIds, batch.outputs, owners);
        // stopping the graph after the last captured layer works only where the decode is one graph
        const obs = capture?.observer(layout, want === "none" && !layout.ubatches);
        await this.decode(batch, obs);
        if (want === "none") continue;
        for (let r = 0; r < batch.length; r++) {
          if (!batch.outputs[r]) continue;
          const isLast = start + r + 1 === all.length || all.seqIds[start + r + 1] !== batch.seqIds[r];
          if (want === "all" || isLast) (logits[owners[r] as number] as Float32Array[]).push(this.logits(r));
        }
      }
    }
    capture?.assertComplete();
    return { logits, capture };
  }

  /** Throws EngineError "disposed" once this context (or its model) was disposed. */
  private alive(): void {
    if (this.native.disposed) throw disposedError("context");
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Frees the context (after a decode in flight); later calls throw EngineError "disposed". Idempotent. */
  dispose(): void {
    this.hooks = undefined;
    this.nativeSteering = false;
    this.native.free();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
