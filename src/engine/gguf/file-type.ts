// The quantization a GGUF model records (general.file_type, llama.cpp's llama_ftype), by name.

import type { GgufFile } from "./reader.js";
import { metaNumber } from "./reader.js";

/** llama.cpp's llama_ftype numbers for the types users run most (include/llama.h). */
export const QUANT_TYPES = { F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18 } as const;
export type QuantType = keyof typeof QUANT_TYPES;

/** "F32", "F16", "Q8_0", ... ("ftype N" for types without a name here). */
export function fileTypeOf(f: GgufFile): string {
  const ft = metaNumber(f, "general.file_type");
  if (ft === undefined || ft === 0) return "F32";
  const known = Object.entries(QUANT_TYPES).find(([, v]) => v === ft);
  return known ? known[0] : `ftype ${ft}`;
}
