// The one GGUF model writer: the hyperparameters every llama.cpp transformer reads (prefixed with the
// architecture's name, as in "qwen2.block_count"), a SentencePiece vocabulary, and the tensors.
// Architecture-specific keys and tensor lists come from the caller (architectures.ts, llama2c.ts).

import { GgmlType, type GgufTensorInput, type GgufValue, gv } from "../engine/gguf/types.js";
import { writeGguf } from "../engine/gguf/writer.js";
import { type SpmVocab, spmMetadata } from "./vocab.js";

export interface ModelHparams {
  name: string;
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nCtxTrain: number;
  rmsEps: number;
  ropeFreqBase: number;
  /** Size of one attention head when it is not nEmbd / nHead (Gemma, Qwen3): written as key/value_length. */
  headDim?: number;
}

/** A tensor's values; 1-D tensors (norms, biases, rope factors) stay F32 as llama.cpp expects. */
export interface WeightTensor {
  name: string;
  /** ggml order: dims[0] is the row length (the input side of a matrix). */
  dims: number[];
  data: Float32Array;
}

export interface WriteModelOptions {
  /** Storage type of the 2-D weight matrices. */
  matrixType?: GgmlType;
  chatTemplate?: string;
  /** Architecture-specific keys (full names), written after the common ones. */
  extraMetadata?: Record<string, GgufValue>;
}

export function writeModelGguf(
  path: string,
  arch: string,
  hp: ModelHparams,
  vocab: SpmVocab,
  weights: WeightTensor[],
  opts: WriteModelOptions = {},
): void {
  const headDim = hp.headDim ?? hp.nEmbd / hp.nHead;
  const mt = opts.matrixType ?? GgmlType.F32;
  const k = (key: string) => `${arch}.${key}`;
  const meta: Record<string, GgufValue> = {
    "general.architecture": gv.str(arch),
    "general.name": gv.str(hp.name),
    "general.file_type": gv.u32(mt === GgmlType.F16 ? 1 : 0),
    [k("context_length")]: gv.u32(hp.nCtxTrain),
    [k("embedding_length")]: gv.u32(hp.nEmbd),
    [k("feed_forward_length")]: gv.u32(hp.nFf),
    [k("block_count")]: gv.u32(hp.nLayer),
    [k("attention.head_count")]: gv.u32(hp.nHead),
    [k("attention.head_count_kv")]: gv.u32(hp.nHeadKv),
    ...(hp.headDim !== undefined ? { [k("attention.key_length")]: gv.u32(headDim), [k("attention.value_length")]: gv.u32(headDim) } : {}),
    [k("rope.dimension_count")]: gv.u32(headDim),
    [k("rope.freq_base")]: gv.f32(hp.ropeFreqBase),
    [k("attention.layer_norm_rms_epsilon")]: gv.f32(hp.rmsEps),
    [k("vocab_size")]: gv.u32(vocab.tokens.length),
    ...spmMetadata(vocab),
    ...(opts.chatTemplate ? { "tokenizer.chat_template": gv.str(opts.chatTemplate) } : {}),
    ...opts.extraMetadata,
  };
  const tensors: GgufTensorInput[] = weights.map((w) => ({ ...w, type: w.dims.length > 1 ? mt : GgmlType.F32 }));
  writeGguf(path, meta, tensors);
}
