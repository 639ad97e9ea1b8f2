// The native eval filter (native/eval-filter.c) loaded through koffi: llama.cpp asks it about every
// graph node, and it passes on to the JavaScript eval callback only the nodes named in the set the
// context last gave it (none while nothing is observed). Without it (no C compiler, Windows,
// SAFESTEER_EVAL_FILTER=0) every node reaches JavaScript, as it always did: same results, slower.
import { EngineError } from "../engine/errors.js";
import { log } from "../util/logger.js";
import { buildEvalFilter } from "./eval-filter-build.js";
import { koffi } from "./library.js";

/** The filter's modes (eval-filter.c). */
export const FILTER_NONE = 0;
export const FILTER_ALL = 1;
export const FILTER_SET = 2;
/** Indexes of the counters at the head of the C filter (struct ss_counters). */
export const COUNTER = { mode: 0, graphs: 1, asks: 2, calls: 3 } as const;
const ABI = 1;
/** GGML_MAX_NAME: llama.cpp's node names are shorter. */
export const NODE_NAME_MAX = 64;

// function-length: declarative table
function declare(path: string) {
  const lib = koffi.load(path);
  return {
    abi: lib.func("int32_t ss_filter_abi()"),
    create: lib.func("void *ss_filter_new(void *js, void *js_ud)"),
    free: lib.func("void ss_filter_free(void *f)"),
    set: lib.func("int32_t ss_filter_set(void *f, int32_t mode, const uint8_t *buf, int32_t buf_len, int32_t n)"),
    evalFn: lib.func("void *ss_filter_eval_fn()"),
  };
}

export type EvalFilterLib = ReturnType<typeof declare> & { path: string };

const loaded = new Map<string, EvalFilterLib | null>();

/** Off with SAFESTEER_EVAL_FILTER=0 (every node goes to JavaScript: the reference path, for measurements). */
function disabled(): boolean {
  const v = process.env.SAFESTEER_EVAL_FILTER;
  return v === "0" || v === "off" || v === "false";
}

/**
 * The filter for the llama.cpp libraries in libDir, compiled and loaded on first use (null: not
 * available here; the reason goes to the log once, as information: the JavaScript path still works).
 */
export function evalFilterLibrary(libDir: string): EvalFilterLib | null {
  if (disabled()) return null;
  const known = loaded.get(libDir);
  if (known !== undefined) return known;
  let lib: EvalFilterLib | null = null;
  const built = buildEvalFilter(libDir);
  if (!built.ok) {
    log.info(`the native eval filter is not in use (${built.reason}): activation hooks ask JavaScript about every graph node.`);
  } else {
    try {
      const fns = declare(built.path);
      const abi = fns.abi();
      if (abi !== ABI) throw new Error(`it has ABI ${abi}, expected ${ABI}`);
      lib = { ...fns, path: built.path };
      log.debug(`native eval filter: ${built.path}${built.compiled ? " (compiled now)" : ""}`);
    } catch (e) {
      log.info(
        `the native eval filter ${built.path} could not be loaded (${(e as Error).message}): activation hooks ask JavaScript about every graph node.`,
      );
    }
  }
  loaded.set(libDir, lib);
  return lib;
}

/** Checks a name set before it reaches C, and packs it: each name, then a NUL. */
export function packNames(names: readonly string[]): Uint8Array {
  const parts = names.map((n) => Buffer.from(n, "utf8"));
  for (const [i, b] of parts.entries()) {
    if (b.length === 0 || b.length >= NODE_NAME_MAX || b.includes(0)) {
      throw new EngineError(
        "bad_argument",
        `graph node name ${JSON.stringify(names[i])} cannot be filtered: names are 1 to ${NODE_NAME_MAX - 1} bytes without NUL, as llama.cpp makes them.`,
      );
    }
  }
  return Buffer.concat(parts.flatMap((b) => [b, Buffer.alloc(1)]));
}

const SET_ERRORS: Record<number, string> = {
  [-1]: "no filter (it was freed)",
  [-2]: "unknown mode",
  [-3]: "bad name count",
  [-4]: "a name is empty, too long or past the buffer",
  [-5]: "out of memory",
};

/** One context's filter: the C object, its counters, and what it passes on. */
export class EvalFilter {
  private ptr: unknown;
  /** ss_counters, read in place (a copy of its own once freed). */
  counters: Uint32Array;
  /** The names C holds (kept while the mode is another). */
  private names: readonly string[] | undefined;
  private namesKey: string | undefined;

  constructor(
    readonly lib: EvalFilterLib,
    jsCallback: unknown,
  ) {
    const ptr = lib.create(jsCallback, null);
    if (!ptr) throw new EngineError("context_failed", "the native eval filter could not be created (out of memory).");
    this.ptr = ptr;
    this.counters = new Uint32Array(koffi.view(ptr, 16));
  }

  /** For llama_context_params: cb_eval and cb_eval_user_data. */
  get callback(): { fn: unknown; userData: unknown } {
    return { fn: this.lib.evalFn(), userData: this.ptr };
  }

  get mode(): number {
    return this.ptr ? (this.counters[COUNTER.mode] as number) : FILTER_NONE;
  }

  /**
   * Passes on nothing, every node, or the nodes with these names. Called around every decode: a
   * mode alone is written in place, and the names go to C only when they change.
   */
  set(mode: number, names: readonly string[] = []): void {
    if (!this.ptr) throw new EngineError("disposed", "this context was disposed (or its model was): create a new context to use it.");
    if (mode === FILTER_SET && names !== this.names) {
      const key = names.join("\0");
      if (key !== this.namesKey) {
        const buf = packNames(names);
        const rc = this.lib.set(this.ptr, FILTER_SET, buf, buf.length, names.length);
        if (rc !== 0)
          throw new EngineError("bad_argument", `the native eval filter refused the node names: ${SET_ERRORS[rc] ?? `code ${rc}`}.`);
        this.namesKey = key;
      }
      this.names = names;
    }
    if (mode !== FILTER_NONE && mode !== FILTER_ALL && mode !== FILTER_SET)
      throw new EngineError("bad_argument", `unknown filter mode ${mode}.`);
    this.counters[COUNTER.mode] = mode; // read by the callback at the next node; no decode runs now
  }

  /** Frees the C object (after llama_free: llama.cpp holds its address until then). */
  free(): void {
    if (!this.ptr) return;
    this.counters = new Uint32Array(4); // the view must not outlive the memory
    this.lib.free(this.ptr);
    this.ptr = undefined;
  }
}
