// Typed handles over the raw llama.cpp functions. Everything above this folder sees these classes
// and plain typed arrays, never koffi or pointers.
import { EngineError } from "../engine/errors.js";
import { checkAbi } from "./abi.js";
import type { BuildRecord } from "./build-lookup.js";
import { COUNTER, EvalFilter, evalFilterLibrary, FILTER_ALL, FILTER_NONE, FILTER_SET } from "./eval-filter.js";
import {
  type BuildOrigin,
  checkSameBuild,
  ctypes,
  type EngineChoice,
  initBackends,
  koffi,
  type LoadedLibrary,
  loadLibrary,
  type Native,
} from "./library.js";
import { LLAMA_CPP_TAG } from "./versions.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogSink = (level: LogLevel, text: string) => void;
/**
 * Where llama.cpp's log goes: "errors" (the default: error lines to stderr), "verbose" (every line to
 * stderr), "quiet", or a sink of its own.
 */
export type EngineLog = "errors" | "verbose" | "quiet" | LogSink;

const LEVELS: Record<number, LogLevel> = { 1: "debug", 2: "info", 3: "warn", 4: "error" };

function sinkOf(log: EngineLog): LogSink {
  if (typeof log === "function") return log;
  if (log === "quiet") return () => {};
  const all = log === "verbose";
  return (level, text) => {
    if (all || level === "error") process.stderr.write(text);
  };
}

export interface EngineInfo {
  backend: string;
  /** The folder the llama.cpp libraries were loaded from. */
  libraryDir: string;
  /** Loaded from a folder the user named (--llama-lib / SAFESTEER_LLAMA_LIB). */
  custom: boolean;
  /** Which build is loaded: a folder the user named, the user's own (`safesteer engine build`), or the prebuilt npm package. */
  build: BuildOrigin;
  /** For the user's own build: how it was made (backend, compiler, OpenMP, sources, date). */
  buildInfo?: Pick<BuildRecord, "key" | "gpu" | "compiler" | "openmp" | "native" | "builtAt"> & { commit?: string };
  version: string;
  systemInfo: string;
  /** Compute devices llama.cpp sees (name and type: cpu, gpu, igpu, accel). */
  devices: Array<{ name: string; type: string }>;
}

const DEVICE_TYPES = ["cpu", "gpu", "igpu", "accel"];

export interface NativeEngineOptions extends EngineChoice {
  /** Where llama.cpp's log goes (default "errors"); a later openEngine that names one replaces it. */
  log?: EngineLog;
}

/**
 * llama.cpp loaded into this process: its function table, the build it came from, its log, and the
 * start-up checks. The ggml libraries and llama.cpp's log are process-global, so there is one, made
 * by the first openEngine() and kept for the life of the process.
 */
export class NativeEngine {
  readonly native: Native;
  readonly library: LoadedLibrary;
  /** llama_version() of the loaded build (checked against versions.ts). */
  readonly version: string;
  /** The context round trip of the ABI guard ran (on the first model loaded). */
  contextAbiChecked = false;
  private sink: LogSink;
  private lastLevel: LogLevel = "info";
  /** Kept referenced: llama.cpp calls it for as long as the process runs. */
  private readonly logCallback: unknown;

  constructor(library: LoadedLibrary, log: EngineLog) {
    this.library = library;
    this.native = library.native;
    this.sink = sinkOf(log);
    this.logCallback = koffi.register((level: number, text: string) => {
      // level 5 continues the previous line
      const l = level === 5 ? this.lastLevel : (LEVELS[level] ?? "info");
      this.lastLevel = l;
      this.sink(l, text ?? "");
    }, koffi.pointer(ctypes().LogCallback));
    // the log first, so that loading the backends stays quiet
    this.native.llama_log_set(this.logCallback, null);
    this.version = checkAbi(this.native);
    initBackends(this.native, library.dir);
  }

  /** Routes llama.cpp's log from now on. */
  setLog(log: EngineLog): void {
    this.sink = sinkOf(log);
  }

  info(): EngineInfo {
    const n = this.native;
    const { backend, dir, custom, origin, build } = this.library;
    const devices = Array.from({ length: Number(n.ggml_backend_dev_count()) }, (_, i) => {
      const d = n.ggml_backend_dev_get(i);
      return { name: n.ggml_backend_dev_name(d), type: DEVICE_TYPES[n.ggml_backend_dev_type(d)] ?? "unknown" };
    });
    const { key, gpu, compiler, openmp, native, builtAt } = build ?? ({} as BuildRecord);
    return {
      backend,
      libraryDir: dir,
      custom,
      build: origin,
      buildInfo: build ? { key, gpu, compiler, openmp, native, builtAt, commit: build.source.commit } : undefined,
      version: this.version,
      systemInfo: n.llama_print_system_info(),
      devices,
    };
  }
}

let engine: NativeEngine | undefined;

/**
 * The process's llama.cpp, loaded and checked on the first call. Without a backend or folder, the
 * build already loaded (else the CPU build); with one, it must be the loaded one (EngineError
 * "backend_conflict" otherwise).
 */
export function openEngine(opts: NativeEngineOptions = {}): NativeEngine {
  if (engine) {
    checkSameBuild(engine.library, opts);
    if (opts.log !== undefined) engine.setLog(opts.log);
    return engine;
  }
  engine = new NativeEngine(loadLibrary(opts), opts.log ?? "errors");
  return engine;
}

/** The function table of the process's llama.cpp (loading the build `choice` names, else the default, first if none is). */
export function engineNative(choice: EngineChoice = {}): Native {
  return openEngine(choice).native;
}

/** Which llama.cpp build this process runs (loading the default build first if none is). */
export function engineInfo(): EngineInfo {
  return openEngine().info();
}

// --- model -----------------------------------------------------------------------------------------

export interface NativeModelOptions {
  gpuLayers?: number;
  /** Weights in writable memory (needed for training). */
  noMmap?: boolean;
  vocabOnly?: boolean;
  useExtraBufts?: boolean;
}

const textDecoder = new TextDecoder();

// llama.cpp looks token ids up with std::vector::at: an id outside the vocabulary throws a C++
// exception that aborts the whole process. Check every id on this side first.
function checkToken(token: number, nVocab: number, at?: number): void {
  if (!(Number.isInteger(token) && token >= 0 && token < nVocab)) {
    const where = at === undefined ? "" : ` (position ${at})`;
    throw new EngineError(
      "bad_argument",
      `token id ${token}${where} is outside this model's vocabulary (0 to ${nVocab - 1}): pass ids from this model's tokenizer.`,
    );
  }
}

function checkTokens(tokens: ArrayLike<number>, nVocab: number): void {
  for (let i = 0; i < tokens.length; i++) checkToken(tokens[i] as number, nVocab, i);
}

/** A freed llama.cpp object is never passed on: its pointer would be a use after free (a crash, not an error). */
export function disposedError(what: "model" | "context"): EngineError {
  return new EngineError(
    "disposed",
    what === "model"
      ? "this model was disposed: load it again (Model.load) to use it."
      : "this context was disposed (or its model was): create a new context to use it.",
  );
}

export class NativeModel {
  readonly #ptr: unknown;
  readonly #vocab: unknown;
  /** @internal The function table of the engine that loaded it (its contexts use the same). */
  readonly n: Native;
  /** @internal The folder of the llama.cpp libraries it runs on (the native eval filter is compiled against them). */
  readonly libDir: string;
  private freed = false;
  /** Contexts made on this model: freed before it, and a free waits for their decodes in flight. */
  private readonly contexts = new Set<NativeContext>();
  /** Read once: every token id is checked against it before it reaches llama.cpp. */
  private readonly vocabSize: number;

  private constructor(n: Native, ptr: unknown, libDir: string) {
    this.n = n;
    this.libDir = libDir;
    this.#ptr = ptr;
    this.#vocab = n.llama_model_get_vocab(ptr);
    this.vocabSize = n.llama_vocab_n_tokens(this.#vocab);
  }

  /** The llama_model pointer; throws EngineError "disposed" once freed. */
  get ptr(): unknown {
    if (this.freed) throw disposedError("model");
    return this.#ptr;
  }
  get vocab(): unknown {
    if (this.freed) throw disposedError("model");
    return this.#vocab;
  }
  get disposed(): boolean {
    return this.freed;
  }

  /** @internal NativeContext's bookkeeping. */
  attach(ctx: NativeContext): void {
    this.contexts.add(ctx);
  }
  /** @internal A context of this model was released by llama.cpp. */
  detach(ctx: NativeContext): void {
    this.contexts.delete(ctx);
    if (this.freed && this.contexts.size === 0) this.release();
  }

  static load(engine: NativeEngine, path: string, opts: NativeModelOptions = {}): NativeModel {
    const n = engine.native;
    const p = n.llama_model_default_params();
    p.n_gpu_layers = opts.gpuLayers ?? 0;
    p.load_mode = opts.noMmap ? 0 : -1;
    p.vocab_only = opts.vocabOnly ?? false;
    p.use_extra_bufts = opts.useExtraBufts ?? !opts.noMmap;
    const ptr = n.llama_model_load_from_file(path, p);
    if (!ptr) {
      throw new EngineError(
        "model_load_failed",
        `llama.cpp could not load ${path}. The file may use an architecture or tensor type this llama.cpp build (${LLAMA_CPP_TAG}) does not know; run with --verbose to see llama.cpp's reason.`,
      );
    }
    return new NativeModel(n, ptr, engine.library.dir);
  }

  /** Frees the model after its contexts (a context's decode in flight finishes first). */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const ctx of [...this.contexts]) ctx.free();
    if (this.contexts.size === 0) this.release();
  }

  private released = false;
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.n.llama_model_free(this.#ptr);
  }

  get nLayer(): number {
    return this.n.llama_model_n_layer(this.ptr);
  }
  get nEmbd(): number {
    return this.n.llama_model_n_embd(this.ptr);
  }
  get nHead(): number {
    return this.n.llama_model_n_head(this.ptr);
  }
  get nHeadKv(): number {
    return this.n.llama_model_n_head_kv(this.ptr);
  }
  get nCtxTrain(): number {
    return this.n.llama_model_n_ctx_train(this.ptr);
  }
  /** The sliding attention window (0: every layer attends over the whole context). */
  get nSwa(): number {
    return this.n.llama_model_n_swa(this.ptr);
  }
  get nParams(): number {
    return Number(this.n.llama_model_n_params(this.ptr));
  }
  get sizeBytes(): number {
    return Number(this.n.llama_model_size(this.ptr));
  }
  get nVocab(): number {
    return this.vocabSize;
  }
  get bos(): number {
    return this.n.llama_vocab_bos(this.vocab);
  }
  get eos(): number {
    return this.n.llama_vocab_eos(this.vocab);
  }
  get addBos(): boolean {
    return this.n.llama_vocab_get_add_bos(this.vocab);
  }
  isEog(token: number): boolean {
    return this.n.llama_vocab_is_eog(this.vocab, token);
  }

  description(): string {
    const buf = new Uint8Array(256);
    const len = this.n.llama_model_desc(this.ptr, buf, buf.length);
    return textDecoder.decode(buf.subarray(0, Math.max(0, Math.min(len, buf.length))));
  }

  /** All metadata as strings, as llama.cpp reports them (arrays are summarised by llama.cpp). */
  metadata(): Record<string, string> {
    const out: Record<string, string> = {};
    const count = this.n.llama_model_meta_count(this.ptr);
    const read = (f: (buf: Uint8Array) => number): string => {
      let buf = new Uint8Array(512);
      let len = f(buf);
      if (len >= buf.length) {
        buf = new Uint8Array(len + 1);
        len = f(buf);
      }
      return textDecoder.decode(buf.subarray(0, Math.max(0, len)));
    };
    for (let i = 0; i < count; i++) {
      const key = read((b) => this.n.llama_model_meta_key_by_index(this.ptr, i, b, b.length));
      out[key] = read((b) => this.n.llama_model_meta_val_str_by_index(this.ptr, i, b, b.length));
    }
    return out;
  }

  chatTemplate(name?: string): string | undefined {
    return this.n.llama_model_chat_template(this.ptr, name ?? null) ?? undefined;
  }

  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array {
    const bytes = Buffer.byteLength(text, "utf8");
    let out = new Int32Array(bytes + 8);
    let n = this.n.llama_tokenize(this.vocab, text, bytes, out, out.length, addSpecial, parseSpecial);
    if (n < 0) {
      out = new Int32Array(-n);
      n = this.n.llama_tokenize(this.vocab, text, bytes, out, out.length, addSpecial, parseSpecial);
    }
    if (n < 0) throw new EngineError("bad_argument", "tokenization failed");
    return out.slice(0, n);
  }

  /**
   * tokenize() on a libuv worker thread: a long text does not hold the JS thread (a server's other
   * streams) while llama.cpp splits it. The vocabulary is read-only once loaded, as llama-server,
   * which tokenizes on its HTTP threads while its main loop decodes, relies on too.
   */
  async tokenizeAsync(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<Int32Array> {
    const vocab = this.vocab;
    const bytes = Buffer.byteLength(text, "utf8");
    const run = (out: Int32Array) =>
      new Promise<number>((resolve, reject) =>
        this.n.llama_tokenize.async(vocab, text, bytes, out, out.length, addSpecial, parseSpecial, (err: unknown, res: number) =>
          err ? reject(err) : resolve(res),
        ),
      );
    let out = new Int32Array(bytes + 8);
    let n = await run(out);
    if (n < 0) {
      out = new Int32Array(-n);
      n = await run(out);
    }
    if (n < 0) throw new EngineError("bad_argument", "tokenization failed");
    return out.slice(0, n);
  }

  /** The longest token's text in bytes, special tokens included: a text of B bytes has at least B / this many tokens. */
  maxTokenBytes(): number {
    const vocab = this.vocab;
    const buf = new Uint8Array(256);
    let most = 1;
    for (let t = 0; t < this.vocabSize; t++) {
      const n = this.n.llama_token_to_piece(vocab, t, buf, buf.length, 0, true);
      most = Math.max(most, Math.abs(n));
    }
    return most;
  }

  /** The bytes of one token (pieces may split UTF-8 characters). */
  tokenBytes(token: number, lstrip = 0, special = false): Uint8Array {
    checkToken(token, this.vocabSize);
    let buf = new Uint8Array(64);
    let n = this.n.llama_token_to_piece(this.vocab, token, buf, buf.length, lstrip, special);
    if (n < 0) {
      buf = new Uint8Array(-n);
      n = this.n.llama_token_to_piece(this.vocab, token, buf, buf.length, lstrip, special);
    }
    return buf.slice(0, Math.max(0, n));
  }

  detokenize(tokens: ArrayLike<number>, removeSpecial: boolean, unparseSpecial: boolean): string {
    checkTokens(tokens, this.vocabSize);
    const t = Int32Array.from(tokens);
    let buf = new Uint8Array(t.length * 8 + 16);
    let n = this.n.llama_detokenize(this.vocab, t, t.length, buf, buf.length, removeSpecial, unparseSpecial);
    if (n < 0) {
      buf = new Uint8Array(-n);
      n = this.n.llama_detokenize(this.vocab, t, t.length, buf, buf.length, removeSpecial, unparseSpecial);
    }
    return textDecoder.decode(buf.subarray(0, Math.max(0, n)));
  }

  save(path: string): void {
    this.n.llama_model_save_to_file(this.ptr, path);
  }
}

/** llama.cpp's default quantization parameters (checked against its source by a test). */
export function quantizeDefaults(): Record<string, unknown> {
  return engineNative().llama_model_quantize_default_params() as Record<string, unknown>;
}

/**
 * llama_model_quantize: reads `input`, writes `output` with the given llama_ftype; false on failure.
 * On a libuv worker thread: the JS thread stays free (Ctrl-C, progress).
 */
export function quantizeFile(engine: NativeEngine, input: string, output: string, ftype: number, nthread: number): Promise<boolean> {
  const n = engine.native;
  const p = n.llama_model_quantize_default_params() as Record<string, unknown>;
  p.ftype = ftype;
  p.nthread = nthread;
  return new Promise((resolve, reject) =>
    n.llama_model_quantize.async(input, output, p, (err: unknown, rc: number) => (err ? reject(err) : resolve(rc === 0))),
  );
}

/**
 * llama.cpp's built-in (non-Jinja) chat formatter. Returns undefined when the template is not
 * one llama.cpp recognises.
 */
export function applyBuiltinChatTemplate(
  template: string,
  messages: Array<{ role: string; content: string }>,
  addAssistant: boolean,
): string | undefined {
  const n = engineNative();
  const chars = messages.reduce((s, m) => s + Buffer.byteLength(m.content) + Buffer.byteLength(m.role), 0);
  let buf = new Uint8Array(chars * 2 + 1024);
  let len = n.llama_chat_apply_template(template, messages, messages.length, addAssistant, buf, buf.length);
  if (len < 0) return undefined;
  if (len > buf.length) {
    buf = new Uint8Array(len);
    len = n.llama_chat_apply_template(template, messages, messages.length, addAssistant, buf, buf.length);
  }
  return textDecoder.decode(buf.subarray(0, len));
}

// --- tensors seen during a decode ---------------------------------------------------------------------

let offsets: { ne: number; type: number } | undefined;
/** Offsets of ne[] and type in struct ggml_tensor, computed once koffi is loaded. */
function tensorOffsets() {
  offsets ??= { ne: koffi.offsetof(ctypes().TensorHead, "ne"), type: koffi.offsetof(ctypes().TensorHead, "type") };
  return offsets;
}

/** A graph tensor during the eval callback; valid only inside the callback. */
export class TensorRef {
  constructor(
    private readonly n: Native,
    private readonly ptr: unknown,
    readonly name: string,
  ) {}
  /** ggml shape, ne[0] fastest (for activations: [n_embd, n_rows]). */
  get ne(): [number, number, number, number] {
    const ne = koffi.decode(this.ptr, tensorOffsets().ne, "int64_t", 4) as Array<number | bigint>;
    return [Number(ne[0]), Number(ne[1]), Number(ne[2]), Number(ne[3])];
  }
  get isF32Contiguous(): boolean {
    return (koffi.decode(this.ptr, tensorOffsets().type, "int") as number) === 0 && this.n.ggml_is_contiguous(this.ptr);
  }
  read(into?: Float32Array): Float32Array {
    const bytes = Number(this.n.ggml_nbytes(this.ptr));
    const out = into && into.byteLength >= bytes ? into : new Float32Array(bytes / 4);
    this.n.ggml_backend_tensor_get(this.ptr, out, 0, bytes);
    return out;
  }
  write(data: Float32Array): void {
    this.n.ggml_backend_tensor_set(this.ptr, data, 0, data.byteLength);
  }
}

/**
 * Receives graph tensors while llama.cpp computes: `want` is asked first, `seen` once computed.
 * `seen` returning false stops the rest of the graph (nothing after it is needed).
 */
export interface TensorObserver {
  want(name: string): boolean;
  seen(t: TensorRef): boolean;
}

/** llama.cpp names the token embeddings "embd" first thing in every graph: a node of that name starts a graph. */
export const GRAPH_START = "embd";

/** How often llama.cpp's eval callback ran, over a context's life. */
export interface EvalCallbackStats {
  /** Graph nodes llama.cpp asked about. */
  nodes: number;
  /** Calls that reached JavaScript (questions and computed tensors). */
  jsCalls: number;
  /** Whether the native eval filter answers for the nodes no observer needs (else JavaScript does). */
  nativeFilter: boolean;
}

// --- context -------------------------------------------------------------------------------------------

export interface NativeContextOptions {
  nCtx: number;
  nBatch: number;
  nUbatch?: number;
  nSeqMax: number;
  nThreads: number;
  /** Exact mode: no flash attention and F32 K/V cache (for reference checks and training). */
  exact?: boolean;
  /** Allocate the eval callback so tensors can be observed; off for plain serving. */
  observable?: boolean;
  /**
   * One K/V buffer for all sequences (default), or a stream per sequence (false, as llama-server
   * runs): then each sequence holds nCtx / nSeqMax cells and attends over its own only, and llama.cpp
   * cuts a batch into ubatches by sequence (src/engine/ubatch.ts).
   */
  kvUnified?: boolean;
  /**
   * A ggml threadpool made for this context and attached to it (default true), as llama.cpp's own
   * tools do: without one, every llama_decode starts and joins its CPU threads.
   */
  threadpool?: boolean;
  /**
   * Where a decode that calls no JavaScript runs (an observable context always calls it, unless the
   * native eval filter is in front and no observer is in force; those decodes run on the JS thread):
   * "sync" on the JS thread, "async" on a libuv worker, "auto" (default) on the JS thread while it pays
   * (a few tokens, steps under 1 s, and no other context decoding at the same time), else on a
   * worker. SAFESTEER_DECODE sets the default.
   */
  decodeMode?: DecodeMode;
  /**
   * Answer llama.cpp's question about each graph node in C (native/eval-filter.c, compiled on first
   * use) and reach JavaScript only for the nodes an observer names (default true; off, or without a
   * C compiler, every node reaches JavaScript). SAFESTEER_EVAL_FILTER=0 turns it off everywhere.
   */
  evalFilter?: boolean;
}

export type DecodeMode = "auto" | "sync" | "async";

// --- the CPU threadpool -------------------------------------------------------------------------------

let threadpoolFns: { create: unknown; free: unknown } | null | undefined;

/** ggml_threadpool_new / _free of the loaded CPU backend (null: this build has none). */
function threadpoolFunctions(n: Native): { create: unknown; free: unknown } | null {
  if (threadpoolFns !== undefined) return threadpoolFns;
  const reg = n.ggml_backend_reg_by_name("CPU");
  const create = reg ? n.ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new") : null;
  const free = reg ? n.ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free") : null;
  threadpoolFns = create && free ? { create, free } : null;
  return threadpoolFns;
}

/** A ggml CPU threadpool of n threads, with llama.cpp's default parameters (null: none could be made). */
function newThreadpool(n: Native, threads: number): unknown {
  const fns = threadpoolFunctions(n);
  if (!fns) return null;
  const params = n.ggml_threadpool_params_default(threads);
  return koffi.call(fns.create, ctypes().ThreadpoolNew, params) ?? null;
}

function freeThreadpool(n: Native, tp: unknown): void {
  const fns = threadpoolFunctions(n);
  if (fns && tp) koffi.call(fns.free, ctypes().ThreadpoolFree, tp);
}

// --- when a decode runs on the JS thread ---------------------------------------------------------------

/** A decode of at most this many tokens may run on the JS thread (generation steps; prefill goes to a worker). */
const SYNC_MAX_TOKENS = 16;
/**
 * A generation step slower than this goes to a worker, so that the event loop (a server's other
 * requests, Ctrl-C) is never blocked longer than about this. Not less: on the JS thread a 953M F16
 * model generated 10.0-10.9 tokens/s at 2 threads against 7.5-9.1 on a worker (5.4-5.7 against
 * 5.2-5.3 at 1 thread; steps of 100-200 ms), which was the gap to llama-completion at 2 threads.
 */
const SYNC_MAX_STEP_MS = 1000;
/** Another context decoded this recently: contexts are decoding side by side, each on a worker. */
const CONCURRENT_WINDOW_MS = 50;
/** A run of synchronous decodes yields to the event loop at least this often (Ctrl-C, timers, servers). */
const YIELD_EVERY_MS = 4;
let contextIds = 0;
let asyncInFlight = 0;
let lastDecoder = 0;
let lastDecodeEnd = 0;
let lastYield = 0;

/** SAFESTEER_DECODE=sync|async|auto sets the default for contexts that do not choose (for measurements). */
function defaultDecodeMode(): DecodeMode {
  const v = process.env.SAFESTEER_DECODE;
  return v === "sync" || v === "async" ? v : "auto";
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface BatchInput {
  tokens: ArrayLike<number>;
  positions: ArrayLike<number>;
  seqIds: ArrayLike<number>;
  /** Which rows produce logits. */
  outputs: ArrayLike<boolean | number>;
}

export class NativeContext {
  readonly #ptr: unknown;
  private readonly model: NativeModel;
  /** A decode on a worker thread: free() waits for it (llama_free under a running decode is a crash). */
  private busy = false;
  readonly nCtx: number;
  /** Cells one sequence can hold: nCtx with a unified cache, its stream's size without. */
  readonly nCtxSeq: number;
  /** Whether the K/V cache is one for all sequences (else a stream per sequence). */
  readonly kvUnified: boolean;
  readonly nBatch: number;
  readonly nUbatch: number;
  readonly nSeqMax: number;
  readonly observable: boolean;
  private readonly n: Native;
  private readonly nVocab: number;
  private callback: unknown;
  private observer: TensorObserver | undefined;
  private callbackError: unknown;
  /** The native eval filter in front of the callback (undefined: every node reaches JavaScript). */
  private readonly filter: EvalFilter | undefined;
  /** The node names of one whole graph of this context, read once on the JavaScript path. */
  private graph: readonly string[] | undefined;
  private recording: string[] | undefined;
  /** A tensor callback stopped the graph (the names seen are not the whole graph). */
  private stopped = false;
  /** The filter's graph count when JavaScript last heard of a graph start. */
  private graphsSeen = 0;
  private readonly stats = { nodes: 0, jsCalls: 0 };
  private freed = false;
  private readonly id = ++contextIds;
  /** The ggml threadpool attached to this context (null: none, llama.cpp makes one per decode). */
  readonly threadpool: unknown = null;
  readonly decodeMode: DecodeMode;
  /** How long this context's last short decode (a generation step) took, ms. */
  private stepMs = 0;
  private batchMem:
    | { cap: number; tok: unknown; pos: unknown; nseq: unknown; seqs: unknown; seqp: unknown; out: unknown; views: BatchViews }
    | undefined;

  constructor(model: NativeModel, opts: NativeContextOptions) {
    const modelPtr = model.ptr; // throws "disposed" before anything is allocated
    const n = model.n;
    this.n = n;
    this.nVocab = model.nVocab;
    const p = n.llama_context_default_params();
    p.n_ctx = opts.nCtx;
    p.n_batch = opts.nBatch;
    p.n_ubatch = opts.nUbatch ?? opts.nBatch;
    p.n_seq_max = opts.nSeqMax;
    p.n_threads = opts.nThreads;
    p.n_threads_batch = opts.nThreads;
    // one sequence: the same cache either way, but a unified one makes every decode track LLAMA_MAX_SEQ
    // (256) sequences (llama_batch_allocr::init): about 0.1 ms per decode, a third of the organism's step
    const unified = (opts.kvUnified ?? true) && opts.nSeqMax > 1;
    p.kv_unified = unified;
    this.kvUnified = unified || opts.nSeqMax === 1;
    p.no_perf = true;
    if (opts.exact) {
      p.flash_attn_type = 0;
      p.type_k = 0;
      p.type_v = 0;
    }
    this.observable = opts.observable ?? false;
    if (this.observable) {
      this.callback = koffi.register((t: unknown, ask: boolean) => this.onTensor(t, ask), koffi.pointer(ctypes().EvalCallback));
      p.cb_eval = this.callback;
      const lib = (opts.evalFilter ?? true) ? evalFilterLibrary(model.libDir) : null;
      if (lib) {
        this.filter = new EvalFilter(lib, this.callback);
        p.cb_eval = this.filter.callback.fn;
        p.cb_eval_user_data = this.filter.callback.userData;
        this.filter.set(FILTER_NONE);
      }
    }
    this.model = model;
    const ptr = n.llama_init_from_model(modelPtr, p);
    if (!ptr) {
      this.filter?.free();
      if (this.callback) koffi.unregister(this.callback as bigint);
      throw new EngineError(
        "context_failed",
        `llama.cpp could not create a context (n_ctx ${opts.nCtx}, n_batch ${opts.nBatch}, ${opts.nSeqMax} sequences). Try a smaller --ctx or fewer parallel sequences.`,
      );
    }
    this.#ptr = ptr;
    model.attach(this);
    this.decodeMode = opts.decodeMode ?? defaultDecodeMode();
    if (opts.threadpool ?? true) {
      this.threadpool = newThreadpool(n, opts.nThreads);
      if (this.threadpool) n.llama_attach_threadpool(ptr, this.threadpool, null);
    }
    this.nCtx = n.llama_n_ctx(ptr);
    this.nCtxSeq = n.llama_n_ctx_seq(ptr);
    this.nBatch = n.llama_n_batch(ptr);
    this.nUbatch = n.llama_n_ubatch(ptr);
    this.nSeqMax = n.llama_n_seq_max(ptr);
  }

  /** The llama_context pointer; throws EngineError "disposed" once freed. */
  get ptr(): unknown {
    if (this.freed) throw disposedError("context");
    return this.#ptr;
  }
  get disposed(): boolean {
    return this.freed;
  }

  private onTensor(t: unknown, ask: boolean): boolean {
    this.stats.jsCalls++;
    if (ask && !this.filter) this.stats.nodes++;
    const obs = this.observer;
    if (!obs) return false;
    try {
      const name = this.n.ggml_get_name(t) as string;
      if (!ask) {
        const go = obs.seen(new TensorRef(this.n, t, name)) !== false;
        if (!go) this.stopped = true;
        return go;
      }
      if (this.recording) this.record(name);
      if (this.filter?.mode === FILTER_SET) {
        // the observer walks the graph through the nodes it named only: tell it where a graph starts
        const g = this.filter.counters[COUNTER.graphs] as number;
        if (g !== this.graphsSeen && name !== GRAPH_START) obs.want(GRAPH_START);
        this.graphsSeen = g;
      }
      return obs.want(name);
    } catch (e) {
      // an exception must not cross into C: remember it, stop the graph, rethrow after decode
      this.callbackError ??= e;
      this.stopped = true;
      return false;
    }
  }

  /** Keeps the node names of the first graph a decode walks whole (its second graph start ends it). */
  private record(name: string): void {
    const r = this.recording as string[];
    if (name === GRAPH_START && r.length > 0) this.endRecording(true);
    else r.push(name);
  }

  private endRecording(whole: boolean): void {
    if (whole && this.recording?.length) this.graph ??= this.recording;
    this.recording = undefined;
  }

  /**
   * The node names of one whole graph of this context, in order, once a decode has walked one on the
   * JavaScript path (undefined before, and without the native eval filter, which is what needs them).
   */
  get graphNames(): readonly string[] | undefined {
    return this.graph;
  }

  /** Whether the native eval filter is in front of the JavaScript callback. */
  get nativeFilter(): boolean {
    return this.filter !== undefined;
  }

  /** How often the eval callback ran, and reached JavaScript, over this context's life. */
  evalStats(): EvalCallbackStats {
    return { ...this.stats, nativeFilter: this.filter !== undefined };
  }

  /**
   * Observer for the next decodes (undefined: none). Requires `observable`. With the native eval
   * filter, `names` are the only nodes the observer is asked about (undefined: every node, and the
   * first whole graph is kept as graphNames); with no observer no node reaches JavaScript.
   */
  setObserver(obs: TensorObserver | undefined, names?: readonly string[]): void {
    if (obs && this.freed) throw disposedError("context");
    if (obs && !this.observable) {
      throw new EngineError("bad_argument", "this context was created without activation hooks (observable: false).");
    }
    if (this.filter && !this.freed) {
      if (this.busy) throw new EngineError("bad_argument", "a decode is running on this context: its observer cannot change now.");
      if (!obs) this.filter.set(FILTER_NONE);
      else if (names) this.filter.set(FILTER_SET, names);
      else {
        this.filter.set(FILTER_ALL);
        if (!this.graph) this.recording = [];
      }
    }
    this.observer = obs;
  }

  private batch(nTokens: number): BatchViews {
    if (this.batchMem && this.batchMem.cap >= nTokens) return this.batchMem.views;
    const cap = Math.max(nTokens, this.nBatch);
    const tok = koffi.alloc("int32_t", cap);
    const pos = koffi.alloc("int32_t", cap);
    const nseq = koffi.alloc("int32_t", cap);
    const seqs = koffi.alloc("int32_t", cap);
    const seqp = koffi.alloc("void *", cap);
    const out = koffi.alloc("int8_t", cap);
    const views: BatchViews = {
      tok: new Int32Array(koffi.view(tok, cap * 4)),
      pos: new Int32Array(koffi.view(pos, cap * 4)),
      seq: new Int32Array(koffi.view(seqs, cap * 4)),
      out: new Int8Array(koffi.view(out, cap)),
      struct: { n_tokens: 0, token: tok, embd: null, pos, n_seq_id: nseq, seq_id: seqp, logits: out },
    };
    new Int32Array(koffi.view(nseq, cap * 4)).fill(1);
    // each token belongs to exactly one sequence: seq_id[i] points at seqs[i]
    const base = koffi.address(seqs);
    const ptrs = new BigUint64Array(koffi.view(seqp, cap * 8));
    for (let i = 0; i < cap; i++) ptrs[i] = base + BigInt(4 * i);
    if (this.batchMem) for (const k of ["tok", "pos", "nseq", "seqs", "seqp", "out"] as const) koffi.free(this.batchMem[k]);
    this.batchMem = { cap, tok, pos, nseq, seqs, seqp, out, views };
    return views;
  }

  /**
   * Runs one llama_decode: on the JS thread while the eval callback may call JavaScript (which must
   * run there; with the native eval filter and no observer it never does) and, in "auto" mode, for short decodes while no other context decodes; else on a worker
   * thread while the event loop keeps going.
   */
  async decode(input: BatchInput): Promise<void> {
    const ptr = this.ptr;
    const nTok = input.tokens.length;
    if (nTok === 0) return;
    if (nTok > this.nBatch) {
      throw new EngineError("bad_argument", `batch of ${nTok} tokens exceeds n_batch ${this.nBatch}; split it first.`);
    }
    checkTokens(input.tokens, this.nVocab);
    const v = this.batch(nTok);
    for (let i = 0; i < nTok; i++) {
      v.tok[i] = input.tokens[i] as number;
      v.pos[i] = input.positions[i] as number;
      v.seq[i] = input.seqIds[i] as number;
      v.out[i] = input.outputs[i] ? 1 : 0;
    }
    v.struct.n_tokens = nTok;
    this.callbackError = undefined;
    this.stopped = false;
    if (this.filter) this.graphsSeen = this.filter.counters[COUNTER.graphs] as number;
    let rc: number;
    const t0 = performance.now();
    if (this.runsOnJsThread(nTok)) {
      // the tensor callbacks of a hooked context must run on this thread; a short decode runs here
      // because the hop to a worker costs more than it saves. Yield to the event loop now and then,
      // or a loop of decodes never lets Ctrl-C (or a progress bar, or a server) in.
      rc = this.n.llama_decode(ptr, v.struct);
      lastDecoder = this.id;
      lastDecodeEnd = performance.now();
      if (nTok <= SYNC_MAX_TOKENS) this.stepMs = lastDecodeEnd - t0;
      if (lastDecodeEnd - lastYield >= YIELD_EVERY_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    } else {
      asyncInFlight++;
      this.busy = true;
      try {
        rc = await new Promise<number>((resolve, reject) =>
          this.n.llama_decode.async(ptr, v.struct, (err: unknown, res: number) => (err ? reject(err) : resolve(res))),
        );
      } finally {
        asyncInFlight--;
        this.busy = false;
        if (this.freed) this.release(); // disposed while the worker decoded
        lastDecoder = this.id;
        lastDecodeEnd = lastYield = performance.now();
        if (nTok <= SYNC_MAX_TOKENS) this.stepMs = lastDecodeEnd - t0;
      }
    }
    this.afterDecode(rc === 0);
    if (this.callbackError) throw this.callbackError;
    if (rc === 1) {
      throw new EngineError(
        "context_overflow",
        "the K/V cache is full: the prompt and answer do not fit in the context. Use a larger --ctx or a shorter prompt.",
      );
    }
    if (rc === 2) throw new EngineError("aborted", "decoding was aborted.");
    if (rc !== 0) throw new EngineError("decode_failed", `llama_decode failed with code ${rc}.`);
  }

  /** The filter's node count into the stats; a whole graph walked on the JavaScript path is kept. */
  private afterDecode(ok: boolean): void {
    if (this.filter) {
      const c = this.filter.counters;
      this.stats.nodes += c[COUNTER.asks] as number;
      c[COUNTER.asks] = 0;
    }
    if (this.recording) this.endRecording(ok && !this.stopped && this.callbackError === undefined);
  }

  /**
   * Whether the next decode of nTok tokens runs on the JS thread (see NativeContextOptions.decodeMode):
   * always where the eval callback may call JavaScript, which must run there.
   */
  private runsOnJsThread(nTok: number): boolean {
    const reachesJs = this.observable && this.filter?.mode !== FILTER_NONE;
    if (reachesJs || this.decodeMode === "sync") return true;
    if (this.decodeMode === "async") return false;
    if (nTok > SYNC_MAX_TOKENS || asyncInFlight > 0 || this.stepMs > SYNC_MAX_STEP_MS) return false;
    return lastDecoder === this.id || lastDecoder === 0 || performance.now() - lastDecodeEnd > CONCURRENT_WINDOW_MS;
  }

  /** Logits of output row i of the last decode (-1: the last output row). */
  logits(i: number, into?: Float32Array): Float32Array {
    const p = this.n.llama_get_logits_ith(this.ptr, i);
    if (!p) throw new EngineError("decode_failed", `no logits for row ${i}: mark it as an output in the batch.`);
    const view = new Float32Array(koffi.view(p, this.nVocab * 4));
    if (into) {
      into.set(view);
      return into;
    }
    return view.slice();
  }

  /** Sets llama.cpp's control vector: data holds layers 1..n_layer-1, n_embd floats each. */
  setControlVector(data: Float32Array, nEmbd: number, ilStart: number, ilEnd: number): void {
    const rc = this.n.llama_set_adapter_cvec(this.ptr, data, data.length, nEmbd, ilStart, ilEnd);
    if (rc !== 0) throw new EngineError("bad_vector", `llama.cpp rejected the control vector (code ${rc}).`);
  }

  clearControlVector(nEmbd: number): void {
    if (this.freed) return; // nothing to clear on a freed context (a steering handle released late)
    this.n.llama_set_adapter_cvec(this.ptr, null, 0, nEmbd, 0, 0);
  }

  clearMemory(): void {
    this.n.llama_memory_clear(this.n.llama_get_memory(this.ptr), true);
  }

  removeSequence(seq: number, from = -1, to = -1): boolean {
    this.checkIdle(seq, "its cells cannot be removed now");
    return this.n.llama_memory_seq_rm(this.n.llama_get_memory(this.ptr), seq, from, to);
  }

  /** One sequence's K/V cells as llama.cpp serializes them (llama_state_seq_get_data). */
  sequenceState(seq: number): Uint8Array {
    this.checkIdle(seq, "its cells cannot be copied now");
    const size = Number(this.n.llama_state_seq_get_size(this.ptr, seq));
    if (size === 0) throw new EngineError("context_failed", `llama.cpp could not size sequence ${seq}'s state.`);
    const out = new Uint8Array(size);
    const got = Number(this.n.llama_state_seq_get_data(this.ptr, out, size, seq));
    if (got !== size) throw new EngineError("context_failed", `llama.cpp wrote ${got} of ${size} bytes of sequence ${seq}'s state.`);
    return out;
  }

  /** Replaces a sequence's cells with a state from sequenceState() of this context (on failure the sequence is left empty). */
  setSequenceState(seq: number, state: Uint8Array): void {
    this.checkIdle(seq, "its cells cannot be replaced now");
    const read = Number(this.n.llama_state_seq_set_data(this.ptr, state, state.byteLength, seq));
    if (read !== state.byteLength) {
      this.removeSequence(seq);
      throw new EngineError("context_failed", `llama.cpp read ${read} of a ${state.byteLength}-byte state into sequence ${seq}.`);
    }
  }

  /** The lowest position a sequence holds in the K/V cache (-1: none; with a sliding window, older cells are gone). */
  sequencePosMin(seq: number): number {
    this.checkIdle(seq, "its cells cannot be read now");
    return this.n.llama_memory_seq_pos_min(this.n.llama_get_memory(this.ptr), seq);
  }

  /** A sequence id this context has, and no decode running (llama.cpp asserts on the one and races the other). */
  private checkIdle(seq: number, what: string): void {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.nSeqMax)
      throw new EngineError("bad_argument", `sequence ${seq} is out of range: this context has sequences 0..${this.nSeqMax - 1}.`);
    if (this.busy) throw new EngineError("bad_argument", `a decode is running on this context: ${what}.`);
  }

  /** Frees the context (at the end of a decode in flight on a worker); every later call throws "disposed". */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    if (!this.busy) this.release();
  }

  private released = false;
  private release(): void {
    if (this.released) return;
    this.released = true;
    if (this.threadpool) this.n.llama_detach_threadpool(this.#ptr);
    this.n.llama_free(this.#ptr);
    if (this.threadpool) freeThreadpool(this.n, this.threadpool);
    this.filter?.free();
    if (this.callback) koffi.unregister(this.callback as bigint);
    if (this.batchMem) for (const k of ["tok", "pos", "nseq", "seqs", "seqp", "out"] as const) koffi.free(this.batchMem[k]);
    this.batchMem = undefined;
    this.model.detach(this);
  }
}

interface BatchViews {
  tok: Int32Array;
  pos: Int32Array;
  seq: Int32Array;
  out: Int8Array;
  struct: { n_tokens: number; token: unknown; embd: null; pos: unknown; n_seq_id: unknown; seq_id: unknown; logits: unknown };
}
