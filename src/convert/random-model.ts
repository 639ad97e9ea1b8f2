// Random-weight llama GGUFs for tests and benchmarks: any width, depth and vocabulary size,
// deterministic from a seed. Outputs are meaningless; shapes, speed and steering math are real.

import { GgmlType } from "../engine/gguf/types.js";
import { Rng } from "../util/random.js";
import { type LlamaLayerWeights, type SpmVocab, writeLlamaGguf } from "./llama-gguf.js";

export interface RandomModelSpec {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv?: number;
  nFf?: number;
  nVocab?: number;
  nCtxTrain?: number;
  type?: "f32" | "f16";
  seed?: number;
}

/** A byte-fallback SentencePiece vocabulary: specials, 256 bytes, then letter pieces. */
export function syntheticVocab(size: number): SpmVocab {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  const letters = "etaoinshrdlucmfwypvbgkjqxz";
  const seen = new Set(tokens);
  for (let i = 0; tokens.length < size; i++) {
    let piece = "";
    let k = i;
    do {
      piece += letters[k % 26];
      k = Math.floor(k / 26);
    } while (k > 0);
    for (const p of [`\u2581${piece}`, piece]) {
      if (tokens.length < size && !seen.has(p)) {
        seen.add(p);
        tokens.push(p);
        types.push(1);
      }
    }
  }
  const scores = tokens.map((_, i) => (types[i] === 1 ? -i : 0));
  return { tokens, scores, types, bos: 1, eos: 2, unk: 0 };
}

export function writeRandomLlamaGguf(path: string, spec: RandomModelSpec): void {
  const rng = new Rng(spec.seed ?? 1);
  const E = spec.nEmbd;
  const nHeadKv = spec.nHeadKv ?? spec.nHead;
  const kvDim = (E / spec.nHead) * nHeadKv;
  const F = spec.nFf ?? Math.round((E * 8) / 3 / 32) * 32;
  const V = spec.nVocab ?? 512;
  const mat = (n: number, fanIn: number) => {
    const a = new Float32Array(n);
    const s = 1 / Math.sqrt(fanIn);
    for (let i = 0; i < n; i++) a[i] = rng.normal() * s;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const layers: LlamaLayerWeights[] = Array.from({ length: spec.nLayer }, () => ({
    attnNorm: ones(E),
    wq: mat(E * E, E),
    wk: mat(E * kvDim, E),
    wv: mat(E * kvDim, E),
    wo: mat(E * E, E),
    ffnNorm: ones(E),
    wGate: mat(E * F, E),
    wDown: mat(F * E, F),
    wUp: mat(E * F, E),
  }));
  writeLlamaGguf(
    path,
    {
      name: `random-${E}x${spec.nLayer}`,
      nEmbd: E,
      nFf: F,
      nLayer: spec.nLayer,
      nHead: spec.nHead,
      nHeadKv,
      nCtxTrain: spec.nCtxTrain ?? 2048,
      rmsEps: 1e-5,
      ropeFreqBase: 10000,
    },
    syntheticVocab(V),
    { tokEmbd: mat(V * E, 1), layers, outputNorm: ones(E), output: mat(V * E, E) },
    { matrixType: spec.type === "f16" ? GgmlType.F16 : GgmlType.F32 },
  );
}
