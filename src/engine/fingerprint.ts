// A model's fingerprint (architecture, shape, SHA-256) read from its GGUF header alone, for the
// commands that only need to name a model (import), so they never load llama.cpp.
import { cachedSha256 } from "../util/hash-cache.js";
import { EngineError } from "./errors.js";
import { metaNumber, metaString, readGguf } from "./gguf/reader.js";
import type { ModelFingerprint } from "./model.js";

export async function readModelFingerprint(path: string): Promise<ModelFingerprint & { name: string }> {
  const f = readGguf(path);
  const architecture = metaString(f, "general.architecture");
  const nLayer = architecture ? metaNumber(f, `${architecture}.block_count`) : undefined;
  const nEmbd = architecture ? metaNumber(f, `${architecture}.embedding_length`) : undefined;
  const tokens = f.metadata.get("tokenizer.ggml.tokens");
  const nVocab = tokens && Array.isArray(tokens.value) ? tokens.value.length : undefined;
  if (!architecture || nLayer === undefined || nEmbd === undefined || nVocab === undefined) {
    throw new EngineError(
      "model_invalid",
      `${path} is a GGUF but not a model llama.cpp can run (no architecture, block count, width or vocabulary in its header): pass the model file itself.`,
    );
  }
  return { architecture, nLayer, nEmbd, nVocab, sha256: await cachedSha256(path), name: metaString(f, "general.name") ?? "" };
}
