// llama.cpp's own control-vector loader (common_control_vector_load in libllama-common, a C++
// function: std::vector / std::string arguments are laid out by hand for libstdc++ on x86-64).
// Used to prove that files we export load in llama.cpp exactly as its tools would load them.
import { join } from "node:path";
import { findLibraryDir, koffi } from "../../src/native/library.js";
import { engineNative } from "../../src/native/llama.js";

const CvecData = koffi.struct("common_control_vector_data_abi", { n_embd: "int", begin: "void *", end: "void *", cap: "void *" });

let fn: ((infos: unknown) => { n_embd: number; begin: unknown; end: unknown }) | undefined;
let free: ((p: unknown) => void) | undefined;

export interface LlamaCppControlVector {
  nEmbd: number;
  /** Layers 1..n, n_embd floats each, as llama.cpp would pass to llama_set_adapter_cvec. */
  data: Float32Array;
}

/** Loads control-vector files through llama.cpp; undefined when llama.cpp rejects them. */
export function llamaCppLoadControlVectors(files: Array<{ path: string; strength: number }>): LlamaCppControlVector | undefined {
  engineNative();
  if (!fn) {
    const lib = koffi.load(join(findLibraryDir("cpu"), "libllama-common.so"));
    fn = lib.func("_Z26common_control_vector_loadRKSt6vectorI31common_control_vector_load_infoSaIS0_EE", CvecData, ["void *"]);
    free = koffi.load("libc.so.6").func("void free(void *p)");
  }
  const INFO = 40; // float strength; pad; std::string { char *p; size_t len; char buf[16] | size_t cap }
  const infos = koffi.alloc("uint8_t", INFO * files.length);
  const view = new DataView(koffi.view(infos, INFO * files.length));
  const base = koffi.address(infos);
  const keep: unknown[] = [];
  files.forEach((f, i) => {
    const bytes = Buffer.from(`${f.path}\0`, "utf8");
    const chars = koffi.alloc("uint8_t", bytes.length);
    new Uint8Array(koffi.view(chars, bytes.length)).set(bytes);
    keep.push(chars);
    const o = i * INFO;
    view.setFloat32(o, f.strength, true);
    view.setBigUint64(o + 8, koffi.address(chars), true);
    view.setBigUint64(o + 16, BigInt(bytes.length - 1), true);
    view.setBigUint64(o + 24, BigInt(bytes.length - 1), true);
  });
  const vec = koffi.alloc("uint64_t", 3);
  const v = new BigUint64Array(koffi.view(vec, 24));
  v[0] = base;
  v[1] = base + BigInt(INFO * files.length);
  v[2] = v[1] as bigint;
  const r = fn(vec);
  for (const k of [...keep, infos, vec]) koffi.free(k);
  if (r.n_embd === -1) return undefined;
  const n = Number((koffi.address(r.end) - koffi.address(r.begin)) / 4n);
  const data = new Float32Array(koffi.view(r.begin, n * 4)).slice();
  free?.(r.begin);
  return { nEmbd: r.n_embd, data };
}
