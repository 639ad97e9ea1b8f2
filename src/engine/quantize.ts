// Quantized copies of a model through llama.cpp's own quantizer (llama_model_quantize), written
// atomically: the file appears whole or not at all.
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { exitNow } from "../native/exit.js";
import { openEngine, quantizeFile } from "../native/llama.js";
import { EngineError } from "./errors.js";
import { fileTypeOf, QUANT_TYPES, type QuantType } from "./gguf/file-type.js";
import { readGguf } from "./gguf/reader.js";

/** The quantization a GGUF file records, by name: "F32", "F16", "Q8_0", ... */
export function fileTypeName(path: string): string {
  return fileTypeOf(readGguf(path));
}

export interface QuantizeOptions {
  type: QuantType;
  /** Threads for quantizing (default: all cores). */
  threads?: number;
  /** Pass llama.cpp's log to stderr (errors always are). */
  verbose?: boolean;
  /**
   * Stops waiting (Ctrl-C): the temporary file is removed at once and the call rejects with
   * EngineError "aborted". llama.cpp's quantizer cannot be interrupted, so its worker thread goes on
   * writing to the removed file until the process exits (the CLI exits at once).
   */
  signal?: AbortSignal;
}

/** Writes a quantized copy of a model; returns its size in bytes. */
export async function quantizeModel(input: string, output: string, opts: QuantizeOptions): Promise<{ bytes: number; type: QuantType }> {
  const ftype = QUANT_TYPES[opts.type];
  if (ftype === undefined) {
    throw new EngineError("bad_argument", `unknown quantization type "${opts.type}": use one of ${Object.keys(QUANT_TYPES).join(", ")}.`);
  }
  readGguf(input); // a clear error for a missing, non-GGUF or truncated input before llama.cpp reads it
  const engine = openEngine(opts.verbose ? { log: "verbose" } : {});
  const tmp = join(dirname(output), `.${process.pid}.${Date.now()}.quantize.tmp`);
  const signal = opts.signal;
  if (signal?.aborted) throw stopped(tmp);
  let onAbort: (() => void) | undefined;
  try {
    const done = await new Promise<boolean>((resolve, reject) => {
      onAbort = () => {
        rmSync(tmp, { force: true });
        reject(stopped(tmp));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      quantizeFile(engine, input, tmp, ftype, opts.threads ?? 0).then(resolve, reject);
    });
    if (!done || !existsSync(tmp)) {
      throw new EngineError("model_invalid", `llama.cpp could not quantize ${input} to ${opts.type} (run with --verbose to see why).`);
    }
    renameSync(tmp, output);
  } finally {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    rmSync(tmp, { force: true });
  }
  return { bytes: statSync(output).size, type: opts.type };
}

function stopped(tmp: string): EngineError {
  return new EngineError("aborted", `quantizing was interrupted; the partial file ${basename(tmp)} was removed and nothing was written.`);
}

/**
 * Ends the process at once with `code` after an interrupted quantizeModel: llama.cpp's quantizer
 * goes on in its worker thread, and Node's own exit would wait for it (minutes on a large model).
 */
export function exitDuringQuantize(code: number): never {
  return exitNow(code);
}
