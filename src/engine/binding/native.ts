// The only file that declares llama.cpp symbols. Layouts follow include/llama.h of llama.cpp v0.4.0
// as shipped by @node-llama-cpp/linux-x64@3.21.1; abi.ts verifies them at start-up.
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import koffi from "koffi";
import { EngineError } from "../errors.js";

export type GpuChoice = "cpu" | "cuda" | "vulkan" | "auto";

const PLATFORM_PACKAGES: Record<Exclude<GpuChoice, "auto">, string> = {
  cpu: "@node-llama-cpp/linux-x64",
  cuda: "@node-llama-cpp/linux-x64-cuda",
  vulkan: "@node-llama-cpp/linux-x64-vulkan",
};

// --- C types -------------------------------------------------------------------------------------

export const ModelParams = koffi.struct("llama_model_params", {
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

export const ContextParams = koffi.struct("llama_context_params", {
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

export const Batch = koffi.struct("llama_batch", {
  n_tokens: "int32_t",
  token: "void *",
  embd: "void *",
  pos: "void *",
  n_seq_id: "void *",
  seq_id: "void *",
  logits: "void *",
});

export const ChatMessage = koffi.struct("llama_chat_message", { role: "const char *", content: "const char *" });

export const OptParams = koffi.struct("llama_opt_params", {
  n_ctx_train: "uint32_t",
  param_filter: "void *",
  param_filter_ud: "void *",
  get_opt_pars: "void *",
  get_opt_pars_ud: "void *",
  optimizer_type: "int",
});

// The head of struct ggml_tensor up to its name (ggml.h, GGML_MAX_DIMS 4, GGML_MAX_SRC 10): the
// eval callback reads type and ne[] at these offsets.
export const TensorHead = koffi.struct("ggml_tensor_head", {
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

export const EvalCallback = koffi.proto("bool ggml_backend_sched_eval_callback(void *t, bool ask, void *ud)");
export const LogCallback = koffi.proto("void ggml_log_callback(int level, const char *text, void *ud)");
export const OptEpochCallback = koffi.proto(
  "void ggml_opt_epoch_callback(bool train, void *opt_ctx, void *dataset, void *result, int64_t ibatch, int64_t ibatch_max, int64_t t_start_us)",
);

// --- library loading --------------------------------------------------------------------------------

/** Finds the folder of prebuilt llama.cpp libraries for a backend choice. */
export function findLibraryDir(choice: Exclude<GpuChoice, "auto">): string {
  const pkg = PLATFORM_PACKAGES[choice];
  const require = createRequire(import.meta.url);
  let pkgRoot: string;
  try {
    // the package exports only its entry point: walk up from it to the package root
    pkgRoot = dirname(require.resolve(pkg));
    while (!existsSync(join(pkgRoot, "package.json"))) pkgRoot = dirname(pkgRoot);
  } catch {
    throw new EngineError(
      "backend_missing",
      `The ${choice === "cpu" ? "CPU" : choice.toUpperCase()} build of llama.cpp is not installed (npm package ${pkg}). ` +
        `Install it with: npm install -E ${pkg}@3.21.1` +
        (choice === "cuda" ? " (it needs the CUDA 13 runtime: libcudart.so.13 and libcublas.so.13)" : ""),
    );
  }
  const bins = join(pkgRoot, "bins");
  const dirs = existsSync(bins) ? readdirSync(bins).map((d) => join(bins, d)) : [];
  const found = dirs.find((d) => readdirSync(d).some((f) => /^libllama(\.v[\d.]+)?\.so$/.test(f)));
  if (!found) throw new EngineError("backend_missing", `No libllama shared library found under ${bins} (package ${pkg}).`);
  return found;
}

function libFile(dir: string, stem: string): string {
  const f = readdirSync(dir).find((n) => new RegExp(`^${stem}(\\.v[\\d.]+)?\\.so$`).test(n));
  if (!f) throw new EngineError("backend_missing", `${stem}.so not found in ${dir}`);
  return join(dir, f);
}

function declare(dir: string) {
  const ggmlBase = koffi.load(libFile(dir, "libggml-base"));
  const ggml = koffi.load(libFile(dir, "libggml"));
  const llama = koffi.load(libFile(dir, "libllama"));
  return {
    // ggml
    ggml_backend_load_all_from_path: ggml.func("void ggml_backend_load_all_from_path(const char *dir)"),
    ggml_backend_dev_count: ggml.func("size_t ggml_backend_dev_count()"),
    ggml_backend_dev_get: ggml.func("void *ggml_backend_dev_get(size_t i)"),
    ggml_backend_dev_name: ggml.func("const char *ggml_backend_dev_name(void *dev)"),
    ggml_backend_dev_type: ggml.func("int ggml_backend_dev_type(void *dev)"),
    ggml_backend_tensor_get: ggmlBase.func("void ggml_backend_tensor_get(void *t, _Out_ void *data, size_t offset, size_t size)"),
    ggml_backend_tensor_set: ggmlBase.func("void ggml_backend_tensor_set(void *t, const void *data, size_t offset, size_t size)"),
    ggml_is_contiguous: ggmlBase.func("bool ggml_is_contiguous(void *t)"),
    ggml_nbytes: ggmlBase.func("size_t ggml_nbytes(void *t)"),
    ggml_get_name: ggmlBase.func("const char *ggml_get_name(void *t)"),
    ggml_opt_dataset_init: ggmlBase.func(
      "void *ggml_opt_dataset_init(int type_data, int type_label, int64_t ne_datapoint, int64_t ne_label, int64_t ndata, int64_t ndata_shard)",
    ),
    ggml_opt_dataset_free: ggmlBase.func("void ggml_opt_dataset_free(void *ds)"),
    ggml_opt_dataset_data: ggmlBase.func("void *ggml_opt_dataset_data(void *ds)"),
    ggml_opt_dataset_labels: ggmlBase.func("void *ggml_opt_dataset_labels(void *ds)"),
    ggml_opt_result_init: ggmlBase.func("void *ggml_opt_result_init()"),
    ggml_opt_result_free: ggmlBase.func("void ggml_opt_result_free(void *r)"),
    ggml_opt_result_reset: ggmlBase.func("void ggml_opt_result_reset(void *r)"),
    ggml_opt_result_loss: ggmlBase.func("void ggml_opt_result_loss(void *r, _Out_ double *loss, _Out_ double *unc)"),
    // llama
    llama_version: llama.func("const char *llama_version()"),
    llama_print_system_info: llama.func("const char *llama_print_system_info()"),
    llama_backend_init: llama.func("void llama_backend_init()"),
    llama_log_set: llama.func("void llama_log_set(ggml_log_callback *cb, void *ud)"),
    llama_model_default_params: llama.func("llama_model_params llama_model_default_params()"),
    llama_context_default_params: llama.func("llama_context_params llama_context_default_params()"),
    llama_model_load_from_file: llama.func("void *llama_model_load_from_file(const char *path, llama_model_params params)"),
    llama_model_save_to_file: llama.func("void llama_model_save_to_file(void *model, const char *path)"),
    llama_model_free: llama.func("void llama_model_free(void *model)"),
    llama_init_from_model: llama.func("void *llama_init_from_model(void *model, llama_context_params params)"),
    llama_free: llama.func("void llama_free(void *ctx)"),
    llama_n_ctx: llama.func("uint32_t llama_n_ctx(void *ctx)"),
    llama_n_batch: llama.func("uint32_t llama_n_batch(void *ctx)"),
    llama_n_ubatch: llama.func("uint32_t llama_n_ubatch(void *ctx)"),
    llama_n_seq_max: llama.func("uint32_t llama_n_seq_max(void *ctx)"),
    llama_get_memory: llama.func("void *llama_get_memory(void *ctx)"),
    llama_memory_clear: llama.func("void llama_memory_clear(void *mem, bool data)"),
    llama_memory_seq_rm: llama.func("bool llama_memory_seq_rm(void *mem, int32_t seq, int32_t p0, int32_t p1)"),
    llama_model_get_vocab: llama.func("void *llama_model_get_vocab(void *model)"),
    llama_model_n_ctx_train: llama.func("int32_t llama_model_n_ctx_train(void *model)"),
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
    llama_opt_init: llama.func("void llama_opt_init(void *ctx, void *model, llama_opt_params params)"),
    llama_opt_epoch: llama.func(
      "void llama_opt_epoch(void *ctx, void *ds, void *r_train, void *r_eval, int64_t idata_split, ggml_opt_epoch_callback *cb_train, ggml_opt_epoch_callback *cb_eval)",
    ),
    // raw function addresses llama.cpp calls back into (passed as pointers, never called from JS)
    addressOf: (name: "llama_opt_param_filter_all" | "ggml_opt_get_constant_optimizer_params") =>
      (name.startsWith("llama") ? llama : ggmlBase).symbol(name) as unknown,
  };
}

export type Native = ReturnType<typeof declare>;

let loaded: { native: Native; dir: string; backend: Exclude<GpuChoice, "auto"> } | undefined;

/** Loads the compute backends of the chosen build (after the log callback is set, so it stays quiet). */
export function initBackends(native: Native, dir: string): void {
  native.ggml_backend_load_all_from_path(dir);
  native.llama_backend_init();
}

/**
 * Loads llama.cpp once per process. The backend (CPU or a GPU build) cannot change afterwards
 * because the ggml libraries are process-global.
 */
export function loadNative(gpu: GpuChoice = "cpu"): { native: Native; dir: string; backend: Exclude<GpuChoice, "auto"> } {
  if (loaded) {
    if (gpu !== "auto" && gpu !== loaded.backend) {
      throw new EngineError(
        "backend_conflict",
        `llama.cpp is already loaded with the ${loaded.backend} backend in this process; cannot switch to ${gpu}.`,
      );
    }
    return loaded;
  }
  let backend: Exclude<GpuChoice, "auto"> = gpu === "auto" ? "cpu" : gpu;
  if (gpu === "auto") {
    for (const cand of ["cuda", "vulkan"] as const) {
      try {
        findLibraryDir(cand);
        backend = cand;
        break;
      } catch {
        /* not installed: try the next one */
      }
    }
  }
  const dir = findLibraryDir(backend);
  let native: Native;
  try {
    native = declare(dir);
  } catch (e) {
    throw new EngineError(
      "backend_load_failed",
      `Could not load llama.cpp from ${dir}: ${(e as Error).message}` +
        (backend === "cuda" ? " (is the CUDA 13 runtime installed: libcudart.so.13, libcublas.so.13?)" : ""),
    );
  }
  loaded = { native, dir, backend };
  return loaded;
}

export { koffi };
