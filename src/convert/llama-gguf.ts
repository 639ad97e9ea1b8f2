// The llama architecture from plain arrays (the llama2.c converter's weights), written by the shared
// model writer with the tensor names and shapes of the architecture table's llama row.

import type { GgmlType, GgufValue } from "../engine/gguf/types.js";
import { ARCHITECTURES, headTensors } from "./architectures.js";
import { type ModelHparams, writeModelGguf } from "./model-gguf.js";
import type { SpmVocab } from "./vocab.js";

export type { SpmVocab } from "./vocab.js";
export type LlamaHparams = ModelHparams;

/** One block's weights, in the order of the llama row's block tensors. */
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

const BLOCK_ORDER: Array<keyof LlamaLayerWeights> = ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "wGate", "wDown", "wUp"];

export function writeLlamaGguf(path: string, hp: LlamaHparams, vocab: SpmVocab, w: LlamaWeights, opts: WriteLlamaOptions = {}): void {
  const shape = {
    nEmbd: hp.nEmbd,
    nLayer: hp.nLayer,
    nHead: hp.nHead,
    nHeadKv: hp.nHeadKv,
    headDim: hp.headDim ?? hp.nEmbd / hp.nHead,
    nFf: hp.nFf,
    nVocab: vocab.tokens.length,
  };
  const head = headTensors(shape, !w.output);
  const headData = [w.tokEmbd, w.outputNorm, ...(w.output ? [w.output] : [])];
  const tensors = head.map((t, i) => ({ name: t.name, dims: t.dims, data: headData[i] as Float32Array }));
  w.layers.forEach((l, i) => {
    ARCHITECTURES.llama.block(`blk.${i}.`, shape).forEach((t, j) => {
      tensors.push({ name: t.name, dims: t.dims, data: l[BLOCK_ORDER[j] as keyof LlamaLayerWeights] });
    });
  });
  writeModelGguf(path, "llama", hp, vocab, tensors, opts);
}
