// Start-up guard: the struct layouts in library.ts must match the loaded library, or every call
// that passes a struct by value corrupts memory silently. Refuse to run on a mismatch.
import { EngineError } from "../engine/errors.js";
import { type Native, platformPackage } from "./library.js";
import { KOFFI_VERSION, LLAMA_CPP_VERSION, NODE_LLAMA_CPP_PACKAGE, NODE_LLAMA_CPP_VERSION } from "./versions.js";

/** The package llama.cpp comes from on this platform (or the release, where none is published). */
function sourcePackage(platform = process.platform, arch = process.arch): string {
  return platformPackage("cpu", platform, arch) ?? `${NODE_LLAMA_CPP_PACKAGE} (no prebuilt package for ${platform}-${arch})`;
}

/** The one-line error of a mismatch: what read back wrong, and the exact versions to reinstall. */
export function abiMismatchMessage(what: string, platform = process.platform, arch = process.arch): string {
  return (
    `llama.cpp ABI mismatch: ${what}. SafeSteer is built for llama.cpp v${LLAMA_CPP_VERSION} from ${sourcePackage(platform, arch)}@${NODE_LLAMA_CPP_VERSION} ` +
    `and koffi@${KOFFI_VERSION} (exact versions). Reinstall with \`npm ci\` so package-lock.json pins them.`
  );
}

function mismatch(what: string): never {
  throw new EngineError("abi_mismatch", abiMismatchMessage(what));
}

/** Checks the version string and the default-parameter structs (known values at known offsets). */
export function checkAbi(n: Native): string {
  const version: string = n.llama_version();
  if (!version.startsWith(LLAMA_CPP_VERSION)) mismatch(`llama_version() is "${version}", expected ${LLAMA_CPP_VERSION}`);
  const m = n.llama_model_default_params();
  if (m.n_gpu_layers !== -1 || m.main_gpu !== 0 || m.vocab_only !== false || m.use_extra_bufts !== true) {
    mismatch(`llama_model_params defaults read back wrong (${JSON.stringify(m)})`);
  }
  const c = n.llama_context_default_params();
  const ok =
    c.n_ctx === 512 &&
    c.n_batch === 2048 &&
    c.n_ubatch === 512 &&
    c.n_seq_max === 1 &&
    c.flash_attn_type === -1 &&
    c.type_k === 1 &&
    c.type_v === 1 &&
    c.cb_eval === null &&
    c.offload_kqv === true &&
    c.ctx_other === null;
  if (!ok) mismatch(`llama_context_params defaults read back wrong (${JSON.stringify(c)})`);
  return version;
}

/** Round trip on a real context: distinct sizes in, the same sizes out. */
export function checkContextRoundTrip(
  requested: { nCtx: number; nBatch: number; nUbatch: number; nSeqMax: number },
  got: { nCtx: number; nBatch: number; nUbatch: number; nSeqMax: number },
): void {
  const ctxOk = got.nCtx >= requested.nCtx && got.nCtx - requested.nCtx < 256;
  if (!ctxOk || got.nBatch !== requested.nBatch || got.nUbatch !== requested.nUbatch || got.nSeqMax !== requested.nSeqMax) {
    mismatch(`context sizes did not round-trip (asked ${JSON.stringify(requested)}, got ${JSON.stringify(got)})`);
  }
}
