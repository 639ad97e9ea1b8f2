// Model files the tests use: the project's converted stories260K, shared fixtures, and random GGUFs
// generated once per run into a temporary folder.
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type RandomModelSpec, writeRandomLlamaGguf } from "../../src/convert/random-model.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** ../shared beside the checkout, or SAFESTEER_SHARED. */
export const SHARED = process.env.SAFESTEER_SHARED ?? resolve(ROOT, "..", "shared");
export const STORIES_GGUF = join(ROOT, "models", "stories260K.gguf");
export const STORIES_BIN = join(SHARED, "models", "stories260K.bin");
export const TOK512_BIN = join(SHARED, "models", "tok512.bin");
export const TINY_RANDOM_GGUF = join(SHARED, "models", "llama-2-tiny-random.gguf");

export const TMP = join(tmpdir(), `safesteer-test-${process.pid}`);
mkdirSync(TMP, { recursive: true });

export function tmpFile(name: string): string {
  return join(TMP, name);
}

/** A random llama GGUF with the given shape, made once per process. */
export function randomModel(spec: RandomModelSpec): string {
  const path = tmpFile(`random-${spec.nEmbd}x${spec.nLayer}-${spec.nVocab ?? 512}-${spec.type ?? "f32"}-${spec.seed ?? 1}.gguf`);
  if (!existsSync(path)) writeRandomLlamaGguf(path, spec);
  return path;
}
