// The only file that declares llama.cpp symbols. Layouts follow include/llama.h of the llama.cpp
// release in versions.ts, as node-llama-cpp's prebuilt packages ship it; abi.ts verifies them at start-up.
// koffi itself is loaded on first use, so commands that never run a model never load native code.
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { EngineError } from "../engine/errors.js";
import { type BuildRecord, findUserBuild } from "./build-lookup.js";
import { LLAMA_CPP_TAG, NODE_LLAMA_CPP_VERSION } from "./versions.js";

type Koffi = typeof import("koffi");
const require = createRequire(import.meta.url);
let koffiModule: Koffi | undefined;

/** koffi, loaded on the first property access. */
export const koffi: Koffi = new Proxy({} as Koffi, {
  get(_target, prop) {
    koffiModule ??= require("koffi") as Koffi;
    return Reflect.get(koffiModule, prop);
  },
});

/** Where llama.cpp runs: the CPU, or a GPU backend of a GPU build ("auto": the first GPU build installed). */
export type GpuChoice = "cpu" | "cuda" | "vulkan" | "metal" | "auto";
export type Backend = Exclude<GpuChoice, "auto">;

/**
 * node-llama-cpp's prebuilt llama.cpp packages (all at NODE_LLAMA_CPP_VERSION), by platform and
 * backend. The CPU packages are optionalDependencies, so npm installs the one that matches; GPU
 * builds are installed by the user (the error says how). On macOS arm64 the Metal build also
 * serves the CPU.
 */
const PLATFORM_PACKAGES: Record<string, Partial<Record<Backend, string>>> = {
  "linux-x64": { cpu: "linux-x64", cuda: "linux-x64-cuda", vulkan: "linux-x64-vulkan" },
  "linux-arm64": { cpu: "linux-arm64" },
  "linux-arm": { cpu: "linux-armv7l" },
  "darwin-arm64": { cpu: "mac-arm64-metal", metal: "mac-arm64-metal" },
  "darwin-x64": { cpu: "mac-x64" },
  "win32-x64": { cpu: "win-x64", cuda: "win-x64-cuda", vulkan: "win-x64-vulkan" },
  "win32-arm64": { cpu: "win-arm64" },
};

/** The npm package of llama.cpp for a backend on this platform (undefined: none is published). */
export function platformPackage(backend: Backend, platform = process.platform, arch = process.arch): string | undefined {
  const name = PLATFORM_PACKAGES[`${platform}-${arch}`]?.[backend];
  return name ? `@node-llama-cpp/${name}` : undefined;
}

/** A shared library in a folder: libllama.so, libllama.v0.4.0.so, libllama.metal.v0.4.0.dylib, llama.v0.4.0.dll, ... (any version: abi.ts checks it) */
const LIB_FILE = (stem: string) => new RegExp(`^(lib)?${stem}(\\.[a-z]+)?(\\.v[\\d.]+)?\\.(so|dylib|dll)$`);

// --- C types -------------------------------------------------------------------------------------

// function-length: declarative table (the C structs and callback types llama.h and ggml.h declare)
function defineTypes() {
  const ModelParams = koffi.struct("llama_model_params", {
    devices: "void *",
    tensor_buft_overrides: "void *",
    n_gpu_layers: "int32_t",
    split_mode: "int",
    load_mode: "int",
    lazy_mode: "int",
    main_gpu: "int32_t",
    tensor_split: "void *",
    progress_callback: "void *",
    progress_callback_user_data: "void *",
    kv_overrides: "void *",
    vocab_only: "bool",
    check_tensors: "bool",
    use_extra_bufts: "bool",
    no_host: "bool",
    no_alloc: "bool",
    load_mtp: "bool",
  });

  const ContextParams = koffi.struct("llama_context_params", {
    n_ctx: "uint32_t",
    n_batch: "uint32_t",
    n_ubatch: "uint32_t",
    n_seq_max: "uint32_t",
    n_rs_seq: "uint32_t",
    n_outputs_max: "uint32_t",
    n_outputs_max_per_seq: "uint32_t",
    n_threads: "int32_t",
    n_threads_batch: "int32_t",
    ctx_type: "int",
    rope_scaling_type: "int",
    pooling_type: "int",
    attention_type: "int",
    flash_attn_type: "int",
    rope_freq_base: "float",
    rope_freq_scale: "float",
    yarn_ext_factor: "float",
    yarn_attn_factor: "float",
    yarn_beta_fast: "float",
    yarn_beta_slow: "float",
    yarn_orig_ctx: "uint32_t",
    defrag_thold: "float",
    cb_eval: "void *",
    cb_eval_user_data: "void *",
    type_k: "int",
    type_v: "int",
    abort_callback: "void *",
    abort_callback_data: "void *",
    embeddings: "bool",
    offload_kqv: "bool",
    no_perf: "bool",
    op_offload: "bool",
    swa_full: "bool",
    kv_unified: "bool",
    samplers: "void *",
    n_samplers: "size_t",
    ctx_other: "void *",
  });

  const Batch = koffi.struct("llama_batch", {
    n_tokens: "int32_t",
    token: "void *",
    embd: "void *",
    pos: "void *",
    n_seq_id: "void *",
    seq_id: "void *",
    logits: "void *",
  });

  const ChatMessage = koffi.struct("llama_chat_message", { role: "const char *", content: "const char *" });

  const QuantizeParams = koffi.struct("llama_model_quantize_params", {
    nthread: "int32_t",
    ftype: "int",
    output_tensor_type: "int",
    token_embedding_type: "int",
    allow_requantize: "bool",
    quantize_output_tensor: "bool",
    only_copy: "bool",
    pure: "bool",
    keep_split: "bool",
    dry_run: "bool",
    imatrix: "void *",
    kv_overrides: "void *",
    tt_overrides: "void *",
    prune_layers: "void *",
    max_buf_size: "size_t",
  });

  // The head of struct ggml_tensor up to its name (ggml.h, GGML_MAX_DIMS 4, GGML_MAX_SRC 10): the
  // eval callback reads type and ne[] at these offsets.
  const TensorHead = koffi.struct("ggml_tensor_head", {
    type: "int",
    buffer: "void *",
    ne: koffi.array("int64_t", 4),
    nb: koffi.array("size_t", 4),
    op: "int",
    op_params: koffi.array("int32_t", 16),
    flags: "int32_t",
    src: koffi.array("void *", 10),
    view_src: "void *",
    view_offs: "size_t",
    data: "void *",
    name: koffi.array("char", 64, "String"),
  });

  // ggml.h: bool cpumask[GGML_MAX_N_THREADS = 512]; int n_threads; enum prio; uint32_t poll; bool strict_cpu; bool paused
  const ThreadpoolParams = koffi.struct("ggml_threadpool_params", {
    cpumask: koffi.array("bool", 512),
    n_threads: "int",
    prio: "int",
    poll: "uint32_t",
    strict_cpu: "bool",
    paused: "bool",
  });
  // the CPU backend's threadpool functions, reached through ggml_backend_reg_get_proc_address
  const ThreadpoolNew = koffi.proto("void *ggml_threadpool_new_fn(ggml_threadpool_params *params)");
  const ThreadpoolFree = koffi.proto("void ggml_threadpool_free_fn(void *tp)");
  const EvalCallback = koffi.proto("bool ggml_backend_sched_eval_callback(void *t, bool ask, void *ud)");
  const LogCallback = koffi.proto("void ggml_log_callback(int level, const char *text, void *ud)");
  return {
    ModelParams,
    ContextParams,
    Batch,
    ChatMessage,
    QuantizeParams,
    TensorHead,
    ThreadpoolParams,
    ThreadpoolNew,
    ThreadpoolFree,
    EvalCallback,
    LogCallback,
  };
}

let types: ReturnType<typeof defineTypes> | undefined;
/** The C types, registered with koffi on first use (named types must exist before declare()). */
export function ctypes(): ReturnType<typeof defineTypes> {
  types ??= defineTypes();
  return types;
}

// --- library loading --------------------------------------------------------------------------------

/** Finds the folder of prebuilt llama.cpp libraries for a backend on this platform. */
export function findLibraryDir(backend: Backend): string {
  const pkg = platformPackage(backend);
  if (!pkg) {
    throw new EngineError(
      "backend_missing",
      `node-llama-cpp publishes no ${backend} build of llama.cpp for ${process.platform}-${process.arch}: choose another --gpu, or build llama.cpp ${LLAMA_CPP_TAG} yourself and pass its library folder with --llama-lib (or SAFESTEER_LLAMA_LIB).`,
    );
  }
  let pkgRoot: string;
  try {
    // the package exports only its entry point: walk up from it to the package root
    pkgRoot = dirname(require.resolve(pkg));
    while (!existsSync(join(pkgRoot, "package.json"))) pkgRoot = dirname(pkgRoot);
  } catch {
    throw new EngineError(
      "backend_missing",
      `The ${backend === "cpu" ? "CPU" : backend.toUpperCase()} build of llama.cpp is not installed (npm package ${pkg}). ` +
        `Install it with: npm install -E ${pkg}@${NODE_LLAMA_CPP_VERSION}` +
        (backend === "cuda" ? " (it needs the CUDA 13 runtime: libcudart.so.13 and libcublas.so.13)" : ""),
    );
  }
  const bins = join(pkgRoot, "bins");
  const dirs = existsSync(bins) ? readdirSync(bins).map((d) => join(bins, d)) : [];
  const found = dirs.find((d) => readdirSync(d).some((f) => LIB_FILE("llama").test(f)));
  if (!found) throw new EngineError("backend_missing", `No llama shared library found under ${bins} (package ${pkg}).`);
  return found;
}

function libFile(dir: string, stem: string): string {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new EngineError(
      "backend_missing",
      `the llama.cpp library folder ${dir} does not exist: check --llama-lib / SAFESTEER_LLAMA_LIB.`,
    );
  }
  const f = names.find((n) => LIB_FILE(stem).test(n));
  if (!f) {
    throw new EngineError(
      "backend_missing",
      `${stem} (lib${stem}.so, .dylib or .dll) not found in ${dir}: a llama.cpp library folder holds libllama, libggml and libggml-base (llama.cpp's build/bin).`,
    );
  }
  return join(dir, f);
}

// function-length: declarative table (one line per llama.cpp function SafeSteer calls)
function declare(dir: string) {
  const ggmlBase = koffi.load(libFile(dir, "ggml-base"));
  const ggml = koffi.load(libFile(dir, "ggml"));
  const llama = koffi.load(libFile(dir, "llama"));
  return {
    // ggml
    ggml_backend_load_all_from_path: ggml.func("void ggml_backend_load_all_from_path(const char *dir)"),
    ggml_backend_dev_count: ggml.func("size_t ggml_backend_dev_count()"),
    ggml_backend_dev_get: ggml.func("void *ggml_backend_dev_get(size_t i)"),
    ggml_backend_dev_name: ggml.func("const char *ggml_backend_dev_name(void *dev)"),
    ggml_backend_dev_type: ggml.func("int ggml_backend_dev_type(void *dev)"),
    ggml_backend_reg_by_name: ggml.func("void *ggml_backend_reg_by_name(const char *name)"),
    ggml_backend_reg_get_proc_address: ggmlBase.func("void *ggml_backend_reg_get_proc_address(void *reg, const char *name)"),
    ggml_threadpool_params_default: ggmlBase.func("ggml_threadpool_params ggml_threadpool_params_default(int n_threads)"),
    ggml_backend_tensor_get: ggmlBase.func("void ggml_backend_tensor_get(void *t, _Out_ void *data, size_t offset, size_t size)"),
    ggml_backend_tensor_set: ggmlBase.func("void ggml_backend_tensor_set(void *t, const void *data, size_t offset, size_t size)"),
    ggml_is_contiguous: ggmlBase.func("bool ggml_is_contiguous(void *t)"),
    ggml_nbytes: ggmlBase.func("size_t ggml_nbytes(void *t)"),
    ggml_get_name: ggmlBase.func("const char *ggml_get_name(void *t)"),
    // llama
    llama_version: llama.func("const char *llama_version()"),
    llama_print_system_info: llama.func("const char *llama_print_system_info()"),
    llama_backend_init: llama.func("void llama_backend_init()"),
    llama_log_set: llama.func("void llama_log_set(ggml_log_callback *cb, void *ud)"),
    llama_model_default_params: llama.func("llama_model_params llama_model_default_params()"),
    llama_context_default_params: llama.func("llama_context_params llama_context_default_params()"),
    llama_model_load_from_file: llama.func("void *llama_model_load_from_file(const char *path, llama_model_params params)"),
    llama_model_save_to_file: llama.func("void llama_model_save_to_file(void *model, const char *path)"),
    llama_model_quantize_default_params: llama.func("llama_model_quantize_params llama_model_quantize_default_params()"),
    llama_model_quantize: llama.func(
      "uint32_t llama_model_quantize(const char *fname_inp, const char *fname_out, const llama_model_quantize_params *params)",
    ),
    llama_model_free: llama.func("void llama_model_free(void *model)"),
    llama_init_from_model: llama.func("void *llama_init_from_model(void *model, llama_context_params params)"),
    llama_free: llama.func("void llama_free(void *ctx)"),
    llama_n_ctx: llama.func("uint32_t llama_n_ctx(void *ctx)"),
    llama_n_ctx_seq: llama.func("uint32_t llama_n_ctx_seq(void *ctx)"),
    llama_n_batch: llama.func("uint32_t llama_n_batch(void *ctx)"),
    llama_n_ubatch: llama.func("uint32_t llama_n_ubatch(void *ctx)"),
    llama_n_seq_max: llama.func("uint32_t llama_n_seq_max(void *ctx)"),
    llama_get_memory: llama.func("void *llama_get_memory(void *ctx)"),
    llama_memory_clear: llama.func("void llama_memory_clear(void *mem, bool data)"),
    llama_memory_seq_rm: llama.func("bool llama_memory_seq_rm(void *mem, int32_t seq, int32_t p0, int32_t p1)"),
    llama_memory_seq_pos_min: llama.func("int32_t llama_memory_seq_pos_min(void *mem, int32_t seq)"),
    llama_state_seq_get_size: llama.func("size_t llama_state_seq_get_size(void *ctx, int32_t seq)"),
    llama_state_seq_get_data: llama.func("size_t llama_state_seq_get_data(void *ctx, _Out_ uint8_t *dst, size_t size, int32_t seq)"),
    llama_state_seq_set_data: llama.func("size_t llama_state_seq_set_data(void *ctx, const uint8_t *src, size_t size, int32_t seq)"),
    llama_model_get_vocab: llama.func("void *llama_model_get_vocab(void *model)"),
    llama_model_n_ctx_train: llama.func("int32_t llama_model_n_ctx_train(void *model)"),
    llama_model_n_swa: llama.func("int32_t llama_model_n_swa(void *model)"),
    llama_model_n_embd: llama.func("int32_t llama_model_n_embd(void *model)"),
    llama_model_n_layer: llama.func("int32_t llama_model_n_layer(void *model)"),
    llama_model_n_head: llama.func("int32_t llama_model_n_head(void *model)"),
    llama_model_n_head_kv: llama.func("int32_t llama_model_n_head_kv(void *model)"),
    llama_model_n_params: llama.func("uint64_t llama_model_n_params(void *model)"),
    llama_model_size: llama.func("uint64_t llama_model_size(void *model)"),
    llama_model_desc: llama.func("int32_t llama_model_desc(void *model, _Out_ uint8_t *buf, size_t size)"),
    llama_model_meta_count: llama.func("int32_t llama_model_meta_count(void *model)"),
    llama_model_meta_key_by_index: llama.func(
      "int32_t llama_model_meta_key_by_index(void *model, int32_t i, _Out_ uint8_t *buf, size_t size)",
    ),
    llama_model_meta_val_str_by_index: llama.func(
      "int32_t llama_model_meta_val_str_by_index(void *model, int32_t i, _Out_ uint8_t *buf, size_t size)",
    ),
    llama_model_chat_template: llama.func("const char *llama_model_chat_template(void *model, const char *name)"),
    llama_vocab_n_tokens: llama.func("int32_t llama_vocab_n_tokens(void *vocab)"),
    llama_vocab_bos: llama.func("int32_t llama_vocab_bos(void *vocab)"),
    llama_vocab_eos: llama.func("int32_t llama_vocab_eos(void *vocab)"),
    llama_vocab_is_eog: llama.func("bool llama_vocab_is_eog(void *vocab, int32_t token)"),
    llama_vocab_get_add_bos: llama.func("bool llama_vocab_get_add_bos(void *vocab)"),
    llama_tokenize: llama.func(
      "int32_t llama_tokenize(void *vocab, const char *text, int32_t text_len, _Out_ int32_t *tokens, int32_t n_max, bool add_special, bool parse_special)",
    ),
    llama_token_to_piece: llama.func(
      "int32_t llama_token_to_piece(void *vocab, int32_t token, _Out_ uint8_t *buf, int32_t length, int32_t lstrip, bool special)",
    ),
    llama_detokenize: llama.func(
      "int32_t llama_detokenize(void *vocab, const int32_t *tokens, int32_t n_tokens, _Out_ uint8_t *text, int32_t text_len_max, bool remove_special, bool unparse_special)",
    ),
    llama_chat_apply_template: llama.func(
      "int32_t llama_chat_apply_template(const char *tmpl, const llama_chat_message *chat, size_t n_msg, bool add_ass, _Out_ uint8_t *buf, int32_t length)",
    ),
    llama_decode: llama.func("int32_t llama_decode(void *ctx, llama_batch batch)"),
    llama_get_logits_ith: llama.func("float *llama_get_logits_ith(void *ctx, int32_t i)"),
    llama_set_adapter_cvec: llama.func(
      "int32_t llama_set_adapter_cvec(void *ctx, const float *data, size_t len, int32_t n_embd, int32_t il_start, int32_t il_end)",
    ),
    llama_synchronize: llama.func("void llama_synchronize(void *ctx)"),
    llama_set_n_threads: llama.func("void llama_set_n_threads(void *ctx, int32_t n, int32_t n_batch)"),
    llama_attach_threadpool: llama.func("void llama_attach_threadpool(void *ctx, void *tp, void *tp_batch)"),
    llama_detach_threadpool: llama.func("void llama_detach_threadpool(void *ctx)"),
  };
}

export type Native = ReturnType<typeof declare>;

/** Which llama.cpp build to load: a backend, and optionally a folder holding a self-built release. */
export interface EngineChoice {
  gpu?: GpuChoice;
  /** A folder with libllama, libggml and libggml-base of the llama.cpp release in versions.ts (default: SAFESTEER_LLAMA_LIB, else the npm package). */
  libDir?: string;
}

/**
 * Where the loaded libraries came from: a folder the user named (--llama-lib / SAFESTEER_LLAMA_LIB),
 * the user's own build (`safesteer engine build`), or node-llama-cpp's prebuilt npm package.
 */
export type BuildOrigin = "llama-lib" | "user-build" | "prebuilt";

/** A llama.cpp build whose libraries are loaded into this process (llama.ts's NativeEngine owns the one there is). */
export interface LoadedLibrary {
  native: Native;
  dir: string;
  /** The backend asked for ("auto" only with a library folder, where what it holds decides). */
  backend: GpuChoice;
  /** Whether the library came from a folder the user named (not an npm package). */
  custom: boolean;
  origin: BuildOrigin;
  /** The record of the user's build, when that is what was loaded. */
  build?: BuildRecord;
}

/** Loads the compute backends of the chosen build (after the log callback is set, so it stays quiet). */
export function initBackends(native: Native, dir: string): void {
  native.ggml_backend_load_all_from_path(dir);
  native.llama_backend_init();
}

/** The user's own build for a backend, unless SAFESTEER_NO_ENGINE_BUILD asks for the npm package. */
function userBuild(backend: Backend) {
  const off = process.env.SAFESTEER_NO_ENGINE_BUILD;
  if (off && off !== "0") return undefined;
  return findUserBuild(backend);
}

/** Installed: a user build or an npm package for this backend. */
function installed(backend: Backend): boolean {
  if (userBuild(backend)) return true;
  if (!platformPackage(backend)) return false;
  try {
    findLibraryDir(backend);
    return true;
  } catch {
    return false;
  }
}

function autoBackend(): Backend {
  for (const cand of ["cuda", "vulkan", "metal"] as const) if (installed(cand)) return cand;
  return "cpu";
}

/** The library folder a choice names: its own, else SAFESTEER_LLAMA_LIB (undefined: an npm package or a user build). */
function libDirOf(choice: EngineChoice): string | undefined {
  return choice.libDir || process.env.SAFESTEER_LLAMA_LIB || undefined;
}

/**
 * The ggml libraries are process-global, so the build cannot change once loaded: a choice that names
 * another backend or folder than the loaded one is an error; one that names none takes the loaded one.
 */
export function checkSameBuild(loaded: LoadedLibrary, choice: EngineChoice): void {
  const libDir = libDirOf(choice);
  const other =
    (choice.gpu !== undefined && choice.gpu !== "auto" && choice.gpu !== loaded.backend) ||
    (libDir !== undefined && resolve(libDir) !== loaded.dir);
  if (other) {
    throw new EngineError(
      "backend_conflict",
      `llama.cpp is already loaded from ${loaded.dir} (${loaded.backend}) in this process; cannot switch to ${choice.gpu ?? loaded.backend}${libDir ? ` from ${libDir}` : ""}. Use one backend per process.`,
    );
  }
}

/**
 * Loads the libraries of a llama.cpp build (once per process: llama.ts's openEngine calls this).
 * Which build: the folder the user names (--llama-lib, SAFESTEER_LLAMA_LIB), else the user's own
 * build for the backend (`safesteer engine build`), else node-llama-cpp's prebuilt package.
 */
export function loadLibrary(choice: EngineChoice = {}): LoadedLibrary {
  const libDir = libDirOf(choice);
  const gpu = choice.gpu ?? "cpu";
  const backend: GpuChoice = libDir ? gpu : gpu === "auto" ? autoBackend() : gpu;
  const user = libDir ? undefined : userBuild(backend as Backend);
  const dir = libDir ? resolve(libDir) : (user?.libDir ?? findLibraryDir(backend as Backend));
  let native: Native;
  try {
    ctypes();
    native = declare(dir);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError(
      "backend_load_failed",
      `Could not load llama.cpp from ${dir}: ${(e as Error).message}` +
        (backend === "cuda" ? " (is the CUDA 13 runtime installed: libcudart.so.13, libcublas.so.13?)" : "") +
        (user ? " (a build made by `safesteer engine build`: rebuild it, or set SAFESTEER_NO_ENGINE_BUILD=1 to use the npm package)" : ""),
    );
  }
  const origin: BuildOrigin = libDir ? "llama-lib" : user ? "user-build" : "prebuilt";
  return { native, dir, backend, custom: libDir !== undefined, origin, build: user?.record };
}
