// Builds a llama-architecture GGUF (metadata + tensor list) from plain arrays; shared by the
// llama2.c converter and the random-model generator so both write the same layout.

import { GgmlType, type GgufTensorInput, GgufType, type GgufValue, gv } from "../engine/gguf/types.js";
import { writeGguf } from "../engine/gguf/writer.js";

export interface LlamaHparams {
  name: string;
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nCtxTrain: number;
  rmsEps: number;
  ropeFreqBase: number;
}

/** SentencePiece-style vocabulary as llama.cpp's "llama" tokenizer reads it. */
export interface SpmVocab {
  tokens: string[];
  scores: number[];
  /** 1 normal, 2 unknown, 3 control, 6 byte */
  types: number[];
  bos: number;
  eos: number;
  unk: number;
}

export interface LlamaLayerWeights {
  attnNorm: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  ffnNorm: Float32Array;
  wGate: Float32Array;
  wDown: Float32Array;
  wUp: Float32Array;
}

export interface LlamaWeights {
  tokEmbd: Float32Array;
  layers: LlamaLayerWeights[];
  outputNorm: Float32Array;
  /** Absent: the head is tied to the token embedding. */
  output?: Float32Array;
}

export interface WriteLlamaOptions {
  /** Storage type of the 2-D weight matrices; norms stay F32 as llama.cpp expects. */
  matrixType?: GgmlType;
  chatTemplate?: string;
  extraMetadata?: Record<string, GgufValue>;
}

export function writeLlamaGguf(path: string, hp: LlamaHparams, vocab: SpmVocab, w: LlamaWeights, opts: WriteLlamaOptions = {}): void {
  const headDim = hp.nEmbd / hp.nHead;
  const kvDim = headDim * hp.nHeadKv;
  const mt = opts.matrixType ?? GgmlType.F32;
  const meta: Record<string, GgufValue> = {
    "general.architecture": gv.str("llama"),
    "general.name": gv.str(hp.name),
    "general.file_type": gv.u32(mt === GgmlType.F16 ? 1 : 0),
    "llama.context_length": gv.u32(hp.nCtxTrain),
    "llama.embedding_length": gv.u32(hp.nEmbd),
    "llama.feed_forward_length": gv.u32(hp.nFf),
    "llama.block_count": gv.u32(hp.nLayer),
    "llama.attention.head_count": gv.u32(hp.nHead),
    "llama.attention.head_count_kv": gv.u32(hp.nHeadKv),
    "llama.rope.dimension_count": gv.u32(headDim),
    "llama.rope.freq_base": gv.f32(hp.ropeFreqBase),
    "llama.attention.layer_norm_rms_epsilon": gv.f32(hp.rmsEps),
    "llama.vocab_size": gv.u32(vocab.tokens.length),
    "tokenizer.ggml.model": gv.str("llama"),
    "tokenizer.ggml.tokens": gv.arr(GgufType.STRING, vocab.tokens),
    "tokenizer.ggml.scores": gv.arr(GgufType.FLOAT32, vocab.scores),
    "tokenizer.ggml.token_type": gv.arr(GgufType.INT32, vocab.types),
    "tokenizer.ggml.bos_token_id": gv.u32(vocab.bos),
    "tokenizer.ggml.eos_token_id": gv.u32(vocab.eos),
    "tokenizer.ggml.unknown_token_id": gv.u32(vocab.unk),
    "tokenizer.ggml.add_bos_token": gv.bool(true),
    "tokenizer.ggml.add_eos_token": gv.bool(false),
    ...(opts.chatTemplate ? { "tokenizer.chat_template": gv.str(opts.chatTemplate) } : {}),
    ...opts.extraMetadata,
  };
  const E = hp.nEmbd;
  const V = vocab.tokens.length;
  const tensors: GgufTensorInput[] = [
    { name: "token_embd.weight", dims: [E, V], type: mt, data: w.tokEmbd },
    { name: "output_norm.weight", dims: [E], type: GgmlType.F32, data: w.outputNorm },
  ];
  if (w.output) tensors.push({ name: "output.weight", dims: [E, V], type: mt, data: w.output });
  w.layers.forEach((l, i) => {
    const p = `blk.${i}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [E], type: GgmlType.F32, data: l.attnNorm },
      { name: `${p}attn_q.weight`, dims: [E, E], type: mt, data: l.wq },
      { name: `${p}attn_k.weight`, dims: [E, kvDim], type: mt, data: l.wk },
      { name: `${p}attn_v.weight`, dims: [E, kvDim], type: mt, data: l.wv },
      { name: `${p}attn_output.weight`, dims: [E, E], type: mt, data: l.wo },
      { name: `${p}ffn_norm.weight`, dims: [E], type: GgmlType.F32, data: l.ffnNorm },
      { name: `${p}ffn_gate.weight`, dims: [E, hp.nFf], type: mt, data: l.wGate },
      { name: `${p}ffn_down.weight`, dims: [hp.nFf, E], type: mt, data: l.wDown },
      { name: `${p}ffn_up.weight`, dims: [E, hp.nFf], type: mt, data: l.wUp },
    );
  });
  writeGguf(path, meta, tensors);
}
