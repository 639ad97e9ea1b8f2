// Model files the tests use: the project's converted stories260K, shared fixtures, and random GGUFs
// generated once per run into a temporary folder.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type RandomModelSpec, writeRandomLlamaGguf } from "../../src/convert/random-model.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** ../shared beside the checkout, or SAFESTEER_SHARED. */
export const SHARED = process.env.SAFESTEER_SHARED ?? resolve(ROOT, "..", "shared");
export const STORIES_GGUF = join(ROOT, "models", "stories260K.gguf");
export const STORIES_BIN = join(SHARED, "models", "stories260K.bin");
export const TOK512_BIN = join(SHARED, "models", "tok512.bin");
export const TINY_RANDOM_GGUF = join(SHARED, "models", "llama-2-tiny-random.gguf");

/**
 * The skip reason for a test whose ../shared files are missing. In CI (`CI` set) a missing file is a
 * failure, not a skip: CI has ../shared beside the checkout, so a silent skip would hide a broken path.
 */
export function sharedMissing(reason: string): string {
  if (process.env.CI) throw new Error(`${reason}; CI runs with ../shared beside the checkout (or SAFESTEER_SHARED).`);
  return reason;
}

/**
 * For `it(name, { skip: needsSharedModel(STORIES_BIN) }, ...)`: false when the shared model files are
 * there, else the reason the test is not run (third-party files the project cannot recreate).
 */
export function needsSharedModel(...paths: string[]): string | false {
  const missing = paths.filter((p) => !existsSync(p)).map((p) => basename(p));
  return missing.length
    ? sharedMissing(
        `../shared/models not present (${missing.join(", ")} not in ${dirname(paths[0] as string)}): a check on third-party files not run`,
      )
    : false;
}

// one variable is enough: the public data sets are read from the shared folder's data/ (this process
// and the CLI processes it spawns), unless SAFESTEER_DATA names another folder
if (!process.env.SAFESTEER_DATA && existsSync(join(SHARED, "data"))) process.env.SAFESTEER_DATA = join(SHARED, "data");

export const TMP = join(tmpdir(), `safesteer-test-${process.pid}`);
mkdirSync(TMP, { recursive: true });
// each test process made its own folder: remove it on the way out (npm test used to leave ~17 behind)
process.on("exit", () => rmSync(TMP, { recursive: true, force: true }));

export function tmpFile(name: string): string {
  return join(TMP, name);
}

/** A random llama GGUF with the given shape, made once per process. */
export function randomModel(spec: RandomModelSpec): string {
  const path = tmpFile(`random-${spec.nEmbd}x${spec.nLayer}-${spec.nVocab ?? 512}-${spec.type ?? "f32"}-${spec.seed ?? 1}.gguf`);
  if (!existsSync(path)) writeRandomLlamaGguf(path, spec);
  return path;
}
