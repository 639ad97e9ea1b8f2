// llama2.c legacy checkpoint (+ its tokenizer.bin) -> llama GGUF.
// llama2.c rotates interleaved pairs, which is what ggml's normal RoPE for llama expects: no q/k permutation.
import { existsSync, readFileSync } from "node:fs";
import { EngineError } from "../engine/errors.js";
import { type LlamaHparams, type LlamaLayerWeights, type SpmVocab, writeLlamaGguf } from "./llama-gguf.js";

export interface Llama2cModel {
  hparams: LlamaHparams;
  vocabSize: number;
  sharedClassifier: boolean;
  tokEmbd: Float32Array;
  layers: LlamaLayerWeights[];
  outputNorm: Float32Array;
  output?: Float32Array;
}

export function readLlama2cCheckpoint(path: string): Llama2cModel {
  if (!existsSync(path)) throw new EngineError("model_not_found", `llama2.c checkpoint not found: ${path}`);
  const buf = readFileSync(path);
  if (buf.length < 28) throw new EngineError("model_invalid", `${path} is too small to be a llama2.c checkpoint.`);
  const h = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, nLayer, nHead, nKv, vocabRaw, seqLen] = Array.from(h) as [number, number, number, number, number, number, number];
  const sharedClassifier = vocabRaw > 0;
  const vocabSize = Math.abs(vocabRaw);
  if (!(dim > 0 && hidden > 0 && nLayer > 0 && nHead > 0 && nKv > 0 && vocabSize > 0 && dim % nHead === 0)) {
    throw new EngineError("model_invalid", `${path} does not look like a llama2.c checkpoint (header ${Array.from(h)}).`);
  }
  const headDim = dim / nHead;
  const kvDim = headDim * nKv;
  const floats = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length - ((buf.length - 28) % 4)));
  let o = 0;
  const take = (n: number): Float32Array => {
    if (o + n > floats.length) throw new EngineError("model_invalid", `${path} is truncated (needs more weights).`);
    const a = floats.slice(o, o + n);
    o += n;
    return a;
  };
  const tokEmbd = take(vocabSize * dim);
  const per = (n: number) => Array.from({ length: nLayer }, () => take(n));
  const attnNorm = per(dim);
  const wq = per(dim * dim);
  const wk = per(kvDim * dim);
  const wv = per(kvDim * dim);
  const wo = per(dim * dim);
  const ffnNorm = per(dim);
  const w1 = per(hidden * dim);
  const w2 = per(dim * hidden);
  const w3 = per(hidden * dim);
  const outputNorm = take(dim);
  take(seqLen * (headDim / 2) * 2); // freq_cis_real, freq_cis_imag: recomputed by ggml
  const output = sharedClassifier ? undefined : take(vocabSize * dim);
  const layers = Array.from({ length: nLayer }, (_, i) => ({
    attnNorm: attnNorm[i] as Float32Array,
    wq: wq[i] as Float32Array,
    wk: wk[i] as Float32Array,
    wv: wv[i] as Float32Array,
    wo: wo[i] as Float32Array,
    ffnNorm: ffnNorm[i] as Float32Array,
    wGate: w1[i] as Float32Array,
    wDown: w2[i] as Float32Array,
    wUp: w3[i] as Float32Array,
  }));
  return {
    hparams: {
      name: "stories",
      nEmbd: dim,
      nFf: hidden,
      nLayer,
      nHead,
      nHeadKv: nKv,
      nCtxTrain: seqLen,
      rmsEps: 1e-5,
      ropeFreqBase: 10000,
    },
    vocabSize,
    sharedClassifier,
    tokEmbd,
    layers,
    outputNorm,
    output,
  };
}

/** Reads a llama2.c tokenizer.bin: int32 max_len, then per token f32 score, i32 length, bytes. */
export function readLlama2cTokenizer(path: string, vocabSize: number): SpmVocab {
  if (!existsSync(path)) throw new EngineError("model_not_found", `llama2.c tokenizer not found: ${path}`);
  const b = readFileSync(path);
  let o = 4;
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    if (o + 8 > b.length) throw new EngineError("model_invalid", `${path} has fewer than ${vocabSize} tokens.`);
    const score = b.readFloatLE(o);
    const len = b.readInt32LE(o + 4);
    o += 8;
    let piece = b.toString("utf8", o, o + len);
    o += len;
    let type = 1;
    if (i === 0) type = 2;
    else if (piece.trim() === "<s>" || piece.trim() === "</s>") {
      piece = piece.trim();
      type = 3;
    } else if (/^<0x[0-9A-F]{2}>$/.test(piece)) type = 6;
    else piece = piece.replace(/ /g, "\u2581");
    tokens.push(piece);
    scores.push(score);
    types.push(type);
  }
  return { tokens, scores, types, bos: 1, eos: 2, unk: 0 };
}

export interface ConvertLlama2cOptions {
  /** Write a separate output.weight (a copy of the embedding) so fine-tuning can train the head. */
  untieOutput?: boolean;
  name?: string;
  chatTemplate?: string;
}

export function convertLlama2c(checkpoint: string, tokenizer: string, out: string, opts: ConvertLlama2cOptions = {}): void {
  const m = readLlama2cCheckpoint(checkpoint);
  const vocab = readLlama2cTokenizer(tokenizer, m.vocabSize);
  const output = m.output ?? (opts.untieOutput ? m.tokEmbd.slice() : undefined);
  writeLlamaGguf(
    out,
    { ...m.hparams, name: opts.name ?? m.hparams.name },
    vocab,
    { tokEmbd: m.tokEmbd, layers: m.layers, outputNorm: m.outputNorm, output },
    { chatTemplate: opts.chatTemplate },
  );
}
