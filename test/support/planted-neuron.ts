// A random llama GGUF with one planted MLP unit: the token "z" alone has a large embedding along one
// coordinate (every other token none), and blk.1's unit PLANTED_UNIT reads that coordinate through its
// gate and up rows, so it fires on prompts that hold a "z" and hardly elsewhere; and prompt data
// where only the "weapons" category's unsafe prompts hold a "z" (in "zebra").
import { closeSync, openSync, writeSync } from "node:fs";
import { writeRandomGguf } from "../../src/convert/random-model.js";
import type { Dataset, Example } from "../../src/data/example.js";
import { readGguf, readTensor } from "../../src/engine/gguf/reader.js";
import { Rng } from "../../src/util/random.js";

export const PLANTED_LAYER = 1;
export const PLANTED_UNIT = 37;
/** The synthetic vocabulary's token for "z". */
const Z_TEXT = "z";

/** Writes the model; zToken is the id of "z" in the synthetic vocabulary (the caller tokenizes). */
export function writePlantedModel(path: string, zToken: number): void {
  writeRandomGguf(path, { nEmbd: 64, nLayer: 3, nHead: 4, seed: 11 });
  const f = readGguf(path);
  const E = 64;
  const K = 5; // the coordinate only "z" writes
  const emb = readTensor(f, "token_embd.weight");
  const rms = Math.sqrt(emb.reduce((s, x) => s + x * x, 0) / emb.length);
  for (let v = 0; v < emb.length / E; v++) emb[v * E + K] = v === zToken ? 4 * rms * Math.sqrt(E) : 0;
  const row = new Float32Array(E);
  row[K] = 1;
  const fd = openSync(path, "r+");
  try {
    const te = f.tensors.find((x) => x.name === "token_embd.weight");
    if (!te) throw new Error("no token_embd");
    writeSync(fd, new Uint8Array(emb.buffer), 0, emb.length * 4, f.dataOffset + te.offset);
    for (const name of ["ffn_gate", "ffn_up"]) {
      const t = f.tensors.find((x) => x.name === `blk.${PLANTED_LAYER}.${name}.weight`);
      if (!t) throw new Error(`no ${name}`);
      // ne0 = n_embd: row PLANTED_UNIT is the unit's input weights
      writeSync(fd, new Uint8Array(row.buffer), 0, E * 4, f.dataOffset + t.offset + PLANTED_UNIT * E * 4);
    }
  } finally {
    closeSync(fd);
  }
}

export { Z_TEXT };

const WORDS = [
  "how",
  "can",
  "i",
  "get",
  "the",
  "old",
  "car",
  "from",
  "my",
  "home",
  "to",
  "a",
  "big",
  "park",
  "shop",
  "make",
  "good",
  "cake",
];
const ZWORDS = ["zebra"];

function sentence(rng: Rng, z: boolean): string {
  const words = Array.from({ length: 6 + rng.int(4) }, () => WORDS[rng.int(WORDS.length)] as string);
  if (z) words.splice(rng.int(words.length), 0, ZWORDS[rng.int(ZWORDS.length)] as string);
  return words.join(" ");
}

/** Unsafe prompts of "weapons" (with a z word) and "theft" (none), and safe ones (none): n of each. */
export function plantedData(n = 24, seed = 3): Dataset {
  const rng = new Rng(seed);
  const examples: Example[] = [];
  for (let i = 0; i < n; i++)
    examples.push({ prompt: sentence(rng, true), label: "unsafe", category: "weapons", source: `planted:${examples.length + 1}` });
  for (let i = 0; i < n; i++)
    examples.push({ prompt: sentence(rng, false), label: "unsafe", category: "theft", source: `planted:${examples.length + 1}` });
  for (let i = 0; i < n; i++) examples.push({ prompt: sentence(rng, false), label: "safe", source: `planted:${examples.length + 1}` });
  return { name: "planted", path: "planted.jsonl", sha256: "", examples, skipped: [] };
}
