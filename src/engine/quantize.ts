// Quantized copies of a model through llama.cpp's own quantizer (llama_model_quantize), written
// atomically: the file appears whole or not at all.
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { quantizeFile, setEngineLog } from "../native/llama.js";
import { EngineError } from "./errors.js";
import { metaNumber, readGguf } from "./gguf/reader.js";

/** llama.cpp's llama_ftype numbers for the types users run most (include/llama.h). */
export const QUANT_TYPES = { F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18 } as const;
export type QuantType = keyof typeof QUANT_TYPES;

/** The quantization a GGUF file records (general.file_type), as a name: "F32", "F16", "Q8_0", ... */
export function fileTypeName(path: string): string {
  const ft = metaNumber(readGguf(path), "general.file_type");
  if (ft === undefined || ft === 0) return "F32";
  const known = Object.entries(QUANT_TYPES).find(([, v]) => v === ft);
  return known ? known[0] : `ftype ${ft}`;
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
