// A loaded GGUF model: metadata, tokenizer, chat template, and contexts to run it.
import { availableParallelism } from "node:os";
import { Template } from "@huggingface/jinja";
import { checkContextRoundTrip } from "../native/abi.js";
import type { GpuChoice } from "../native/library.js";

export type { GpuChoice };

import { applyBuiltinChatTemplate, disposedError, NativeContext, type NativeEngine, NativeModel, openEngine } from "../native/llama.js";
import { cachedSha256 } from "../util/hash-cache.js";
import { log } from "../util/logger.js";
import { EngineError } from "./errors.js";
import { fileTypeOf } from "./gguf/file-type.js";
import { type GgufFile, metaNumber, metaString } from "./gguf/reader.js";
import { readModelFile } from "./model-file.js";

/** How a model is loaded on an engine (Engine.loadModel). */
export interface ModelOptions {
  /** CPU threads (default: 1 for models under 50M parameters, else all cores). */
  threads?: number;
  /** Layers to offload to the GPU (default 0 on the CPU backend, all on a GPU backend). */
  gpuLayers?: number;
  /** Writable weights (training). */
  noMmap?: boolean;
  /** A chat template (Jinja text, or a llama.cpp template name) used instead of the file's own. */
  chatTemplate?: string;
}

/** Model.load's options: the model's, and which llama.cpp build the process's engine loads. */
export interface LoadOptions extends ModelOptions {
  /** The backend (default: the engine already loaded, else the CPU). */
  gpu?: GpuChoice;
  /**
   * A folder holding a self-built llama.cpp (the release in src/native/versions.ts: libllama, libggml,
   * libggml-base and its backend libraries) to load instead of the npm package; default: SAFESTEER_LLAMA_LIB.
   */
  llamaLib?: string;
  /** Pass llama.cpp's whole log to stderr (from now on, for the whole process: the log is process-wide). */
  verbose?: boolean;
}

export interface ModelInfo {
  path: string;
  architecture: string;
  name: string;
  description: string;
  nLayer: number;
  nEmbd: number;
  /** The MLP's hidden width (feed_forward_length; the widest layer's where it varies), 0 if the file does not say. */
  nFf: number;
  nHead: number;
  nHeadKv: number;
  nVocab: number;
  nCtxTrain: number;
  nParams: number;
  sizeBytes: number;
  chatTemplate?: string;
  /** The quantization of the file: "F32", "F16", "Q8_0", "Q4_K_M", ... */
  fileType: string;
  bos: number;
  eos: number;
}

/** Identifies the exact model a vector was made for. */
export interface ModelFingerprint {
  architecture: string;
  nLayer: number;
  nEmbd: number;
  nVocab: number;
  sha256: string;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string;
}

/** `<arch>.feed_forward_length`: one number, or one per layer (then the widest), else 0. */
function feedForwardLength(gguf: GgufFile): number {
  const v = gguf.metadata.get(`${metaString(gguf, "general.architecture")}.feed_forward_length`);
  if (!v) return 0;
  const values = Array.isArray(v.value) ? v.value : [v.value];
  return Math.max(0, ...values.map(Number).filter(Number.isFinite));
}

/** Below this many parameters a model runs single-threaded by default. */
export const SMALL_MODEL_PARAMS = 50_000_000;

export class Model {
  readonly info: ModelInfo;
  /** @internal */
  readonly native: NativeModel;
  readonly threads: number;
  /** @internal */
  readonly gguf: GgufFile;
  private hash?: Promise<string>;
  private cvecSupport?: boolean;
  private longestToken?: number;

  private constructor(native: NativeModel, gguf: GgufFile, path: string, threads: number, chatTemplate?: string) {
    this.native = native;
    this.gguf = gguf;
    this.threads = threads;
    this.info = {
      path,
      architecture: metaString(gguf, "general.architecture") ?? "unknown",
      name: metaString(gguf, "general.name") ?? "",
      description: native.description(),
      nLayer: native.nLayer,
      nEmbd: native.nEmbd,
      nFf: feedForwardLength(gguf),
      nHead: native.nHead,
      nHeadKv: native.nHeadKv,
      nVocab: native.nVocab,
      nCtxTrain: native.nCtxTrain,
      nParams: native.nParams,
      sizeBytes: native.sizeBytes,
      chatTemplate: chatTemplate ?? metaString(gguf, "tokenizer.chat_template"),
      fileType: fileTypeOf(gguf),
      bos: native.bos,
      eos: native.eos,
    };
  }

  /**
   * Loads a GGUF model on the process's engine (the default one, loaded on first use: the CPU build,
   * or the backend and folder named here). The shortcut for `(await loadEngine(opts)).loadModel(path, opts)`.
   */
  static load(path: string, opts: LoadOptions = {}): Model {
    const gguf = readModelFile(path); // clear errors for what is not a model, before llama.cpp reads it
    const engine = openEngine({ gpu: opts.gpu, libDir: opts.llamaLib, log: opts.verbose ? "verbose" : undefined });
    return Model.open(engine, path, gguf, opts);
  }

  /** @internal A model file (read by readModelFile) on an engine: Model.load and Engine.loadModel. */
  static open(engine: NativeEngine, path: string, gguf: GgufFile, opts: ModelOptions = {}): Model {
    const native = NativeModel.load(engine, path, {
      gpuLayers: opts.gpuLayers ?? (engine.library.backend === "cpu" ? 0 : 999),
      noMmap: opts.noMmap,
    });
    // Small models decode far faster on one thread: per-op thread synchronisation dominates their tiny
    // matrices (stories260K on 2 cores: 3,420 tok/s with 1 thread, 73 with 2).
    const threads = opts.threads ?? (native.nParams < SMALL_MODEL_PARAMS ? 1 : availableParallelism());
    const model = new Model(native, gguf, path, threads, opts.chatTemplate);
    if (!engine.contextAbiChecked) {
      model.verifyContextAbi();
      engine.contextAbiChecked = true;
    }
    return model;
  }

  /** Start-up check, once per engine: a context made with distinct sizes reports the same sizes back. */
  private verifyContextAbi(): void {
    const req = { nCtx: 512, nBatch: 64, nUbatch: 32, nSeqMax: 3 };
    const ctx = new NativeContext(this.native, { ...req, nThreads: 1, kvUnified: true });
    try {
      checkContextRoundTrip(req, ctx);
    } finally {
      ctx.free();
    }
  }

  /** Metadata value from the GGUF header. */
  meta(key: string): string | number | undefined {
    this.alive();
    return metaString(this.gguf, key) ?? metaNumber(this.gguf, key);
  }

  async fingerprint(): Promise<ModelFingerprint> {
    this.alive();
    this.hash ??= cachedSha256(this.info.path);
    return {
      architecture: this.info.architecture,
      nLayer: this.info.nLayer,
      nEmbd: this.info.nEmbd,
      nVocab: this.info.nVocab,
      sha256: await this.hash,
    };
  }

  tokenize(text: string, opts: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    this.alive();
    return Array.from(this.native.tokenize(text, opts.addSpecial ?? true, opts.parseSpecial ?? false));
  }

  /** tokenize() on a worker thread: for long texts while other work (a server's streams) goes on. */
  async tokenizeAsync(text: string, opts: { addSpecial?: boolean; parseSpecial?: boolean } = {}): Promise<number[]> {
    this.alive();
    return Array.from(await this.native.tokenizeAsync(text, opts.addSpecial ?? true, opts.parseSpecial ?? false));
  }

  /**
   * The longest token's text in bytes (special tokens included), read once: a text of B bytes has
   * at least B / maxTokenBytes() tokens, a bound that refuses a long prompt without tokenizing it.
   */
  maxTokenBytes(): number {
    this.alive();
    this.longestToken ??= this.native.maxTokenBytes();
    return this.longestToken;
  }

  /** Text of a whole token sequence: the inverse of tokenize (BOS and the tokenizer's prefix space dropped). */
  detokenize(tokens: ArrayLike<number>, opts: { removeSpecial?: boolean; renderSpecial?: boolean } = {}): string {
    this.alive();
    const removeSpecial = opts.removeSpecial ?? true;
    // llama.cpp keeps the SentencePiece prefix space when it removes BOS itself; dropping BOS here lets it strip the space
    const t = removeSpecial && tokens[0] === this.info.bos ? Array.from(tokens).slice(1) : tokens;
    return this.native.detokenize(t, removeSpecial, opts.renderSpecial ?? false);
  }

  /** The bytes of one token; lstrip drops up to that many leading spaces (first token after BOS). */
  tokenBytes(token: number, lstrip = 0): Uint8Array {
    this.alive();
    return this.native.tokenBytes(token, lstrip);
  }

  isEndOfGeneration(token: number): boolean {
    this.alive();
    return this.native.isEog(token);
  }

  /**
   * Renders messages with the model's chat template. Jinja templates (as stored in GGUF files) are
   * rendered exactly with @huggingface/jinja; a bare template name ("chatml", "llama3", ...) goes to
   * llama.cpp's built-in formatter.
   */
  applyChatTemplate(messages: ChatMessage[], opts: { addAssistant?: boolean; template?: string } = {}): string {
    this.alive();
    const tmpl = opts.template ?? this.info.chatTemplate;
    const addAssistant = opts.addAssistant ?? true;
    if (!tmpl) {
      throw new EngineError(
        "template_failed",
        `${this.info.path} has no chat template (tokenizer.chat_template): pass one with --chat-template FILE (a Jinja template; in the library, LoadOptions.chatTemplate), or use a plain prompt without --chat.`,
      );
    }
    if (tmpl.includes("{%") || tmpl.includes("{{")) {
      const tokenText = (id: number) => (id >= 0 ? this.native.detokenize([id], false, true) : "");
      try {
        return new Template(tmpl).render({
          messages,
          add_generation_prompt: addAssistant,
          bos_token: tokenText(this.info.bos),
          eos_token: tokenText(this.info.eos),
        });
      } catch (e) {
        throw new EngineError("template_failed", `the model's chat template failed to render: ${(e as Error).message}`);
      }
    }
    const out = applyBuiltinChatTemplate(tmpl, messages, addAssistant);
    if (out === undefined) throw new EngineError("template_failed", `llama.cpp does not know the chat template "${tmpl.slice(0, 40)}".`);
    return out;
  }

  /**
   * Chat messages as this model's tokens: the chat template's text with its special tokens parsed,
   * and BOS exactly once. A template that writes BOS itself (Llama 3's `{{ bos_token }}`) gets no
   * second one; one that does not gets the tokenizer's when the model asks for it
   * (tokenizer.ggml.add_bos_token), which is what llama.cpp's server does.
   */
  tokenizeChat(messages: ChatMessage[], opts: { addAssistant?: boolean; template?: string } = {}): number[] {
    return this.withBos(this.tokenize(this.applyChatTemplate(messages, opts), { addSpecial: false, parseSpecial: true }));
  }

  /** tokenizeChat() with the tokenizing on a worker thread (a server's long prompts). */
  async tokenizeChatAsync(messages: ChatMessage[], opts: { addAssistant?: boolean; template?: string } = {}): Promise<number[]> {
    const text = this.applyChatTemplate(messages, opts);
    return this.withBos(await this.tokenizeAsync(text, { addSpecial: false, parseSpecial: true }));
  }

  /** The tokens with BOS in front when the model asks for one and they do not start with it already. */
  private withBos(tokens: number[]): number[] {
    const bos = this.info.bos;
    return bos >= 0 && this.native.addBos && tokens[0] !== bos ? [bos, ...tokens] : tokens;
  }

  /**
   * Strings that mark the start of a new turn in generated text, read off the chat template: each
   * turn marker between messages (e.g. "A: " and "Q: " in "Q: ...\nA: ...</s>"), minus the special
   * tokens llama.cpp already stops at, on a new line ("\nA:", "\nQ:"). A model that runs on into
   * the next turn is cut there. Empty without a template.
   */
  turnStops(): string[] {
    this.alive();
    if (!this.info.chatTemplate) return [];
    const [u1, a1, u2] = ["\u0001U1\u0001", "\u0001A1\u0001", "\u0001U2\u0001"];
    let text: string;
    try {
      text = this.applyChatTemplate(
        [
          { role: "user", content: u1 },
          { role: "assistant", content: a1 },
          { role: "user", content: u2 },
        ],
        { addAssistant: true },
      );
    } catch {
      return []; // a template that cannot render a plain conversation: no stops rather than an error
    }
    const gaps = [text.slice(text.indexOf(u1) + u1.length, text.indexOf(a1)), text.slice(text.indexOf(a1) + a1.length, text.indexOf(u2))];
    const specials = [this.info.bos, this.info.eos].filter((t) => t >= 0).map((t) => this.native.detokenize([t], false, true));
    const stops = new Set<string>();
    for (let gap of gaps) {
      for (const sp of specials) if (sp) gap = gap.split(sp).join("\n");
      for (const line of gap.split("\n").map((l) => l.trim())) if (line) stops.add(`\n${line}`);
    }
    return [...stops];
  }

  /**
   * Whether this architecture's graph applies llama.cpp control vectors (some builders silently
   * ignore them). Checked once by decoding one token with and without a probe vector.
   */
  async supportsControlVectors(): Promise<boolean> {
    this.alive();
    if (this.cvecSupport !== undefined) return this.cvecSupport;
    const { nLayer, nEmbd } = this.info;
    if (nLayer < 2) {
      this.cvecSupport = false; // layer 0 is never steered natively
      return false;
    }
    const ctx = new NativeContext(this.native, { nCtx: 256, nBatch: 8, nSeqMax: 1, nThreads: this.threads, kvUnified: true });
    try {
      const one = { tokens: [Math.max(this.info.bos, 0)], positions: [0], seqIds: [0], outputs: [1] };
      await ctx.decode(one);
      const plain = ctx.logits(-1);
      const probe = new Float32Array((nLayer - 1) * nEmbd).fill(1);
      ctx.setControlVector(probe, nEmbd, 1, nLayer - 1);
      ctx.clearMemory();
      await ctx.decode(one);
      const steered = ctx.logits(-1);
      this.cvecSupport = plain.some((v, i) => v !== steered[i]);
    } finally {
      ctx.free();
    }
    if (!this.cvecSupport) log.debug(`architecture ${this.info.architecture} ignores control vectors`);
    return this.cvecSupport;
  }

  /** Throws EngineError "disposed" once dispose() ran: a freed model must never reach llama.cpp. */
  private alive(): void {
    if (this.native.disposed) throw disposedError("model");
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * Frees the model and, first, every context made on it (a decode in flight finishes first).
   * Any later call on the model or its contexts throws EngineError "disposed". Idempotent.
   */
  dispose(): void {
    this.native.free();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
