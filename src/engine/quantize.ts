// Quantized copies of a model through llama.cpp's own quantizer (llama_model_quantize), written
// atomically: the file appears whole or not at all.
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { quantizeFile, setEngineLog } from "../native/llama.js";
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
}

/** Writes a quantized copy of a model; returns its size in bytes. */
export function quantizeModel(input: string, output: string, opts: QuantizeOptions): { bytes: number; type: QuantType } {
  const ftype = QUANT_TYPES[opts.type];
  if (ftype === undefined) {
    throw new EngineError("bad_argument", `unknown quantization type "${opts.type}": use one of ${Object.keys(QUANT_TYPES).join(", ")}.`);
  }
  setEngineLog((level, text) => {
    if (opts.verbose || level === "error") process.stderr.write(text);
  });
  readGguf(input); // a clear error for a missing, non-GGUF or truncated input before llama.cpp reads it
  const tmp = join(dirname(output), `.${process.pid}.${Date.now()}.quantize.tmp`);
  try {
    if (!quantizeFile(input, tmp, ftype, opts.threads ?? 0) || !existsSync(tmp)) {
      throw new EngineError("model_invalid", `llama.cpp could not quantize ${input} to ${opts.type} (run with --verbose to see why).`);
    }
    renameSync(tmp, output);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { bytes: statSync(output).size, type: opts.type };
}
