// One table row per architecture: the tensors (names and shapes as llama.cpp v0.4.0 creates them in
// src/models/<arch>.cpp), the metadata keys its loader reads, its defaults, and its family's special
// tokens. Each row follows a released model's layout, scaled down; the writer is shared (model-gguf.ts).

import { type GgufValue, gv } from "../engine/gguf/types.js";
import type { VocabSpecials } from "./vocab.js";

export const ARCHITECTURE_NAMES = ["llama", "llama3", "mistral3", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"] as const;
export type ArchName = (typeof ARCHITECTURE_NAMES)[number];

/** The sizes a table row is instantiated with. */
export interface ArchShape {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  /** Size of one attention head (query/key/value). */
  headDim: number;
  nFf: number;
  nVocab: number;
}

/** How a tensor's values are drawn: ones (norms), normal with a standard deviation, or fixed values. */
export type Init = "ones" | { std: number } | Float32Array;

export interface TensorPlan {
  name: string;
  /** ggml order: [input, output] for a matrix. */
  dims: number[];
  init: Init;
}

export interface Architecture {
  /** general.architecture (the llama.cpp builder). */
  gguf: string;
  /** The released model whose layout and defaults the row follows. */
  like: string;
  ropeFreqBase: number;
  rmsEps: number;
  /** K/V heads for a given number of query heads (grouped-query attention). */
  kvHeads(nHead: number): number;
  /** Head size when it is not nEmbd / nHead; written as attention.key_length / value_length. */
  headDim?(nEmbd: number, nHead: number): number;
  /** The output head reuses the token embedding (no output.weight). */
  tied: boolean;
  specials: VocabSpecials;
  /** Architecture-specific metadata, full key names. */
  metadata(s: ArchShape): Record<string, GgufValue>;
  /** Tensors outside the blocks beyond embedding, final norm and head (Llama 3's rope factors). */
  extra?(s: ArchShape, ropeFreqBase: number): TensorPlan[];
  /** One block's tensors, prefix "blk.<i>.". */
  block(p: string, s: ArchShape): TensorPlan[];
}

const norm = (name: string, n: number): TensorPlan => ({ name, dims: [n], init: "ones" });
const matrix = (name: string, nIn: number, nOut: number): TensorPlan => ({ name, dims: [nIn, nOut], init: { std: 1 / Math.sqrt(nIn) } });
const bias = (name: string, n: number): TensorPlan => ({ name, dims: [n], init: { std: 0.02 } });

/** Token embedding, final norm, and the output head unless tied. */
export function headTensors(s: ArchShape, tied: boolean): TensorPlan[] {
  return [
    { name: "token_embd.weight", dims: [s.nEmbd, s.nVocab], init: { std: 1 } },
    norm("output_norm.weight", s.nEmbd),
    ...(tied ? [] : [matrix("output.weight", s.nEmbd, s.nVocab)]),
  ];
}

interface AttentionOptions {
  /** One fused attn_qkv matrix (Phi-3) instead of attn_q/k/v. */
  fused?: boolean;
  /** Biases on q, k and v (Qwen2). */
  qkvBias?: boolean;
  /** RMS norms on each query and key head (Qwen3, Gemma 3). */
  qkNorm?: boolean;
  /** A norm on the attention output before the residual add (Gemma 2 and 3). */
  postNorm?: boolean;
}

function attention(p: string, s: ArchShape, o: AttentionOptions = {}): TensorPlan[] {
  const q = s.nHead * s.headDim;
  const kv = s.nHeadKv * s.headDim;
  const proj = o.fused
    ? [matrix(`${p}attn_qkv.weight`, s.nEmbd, q + 2 * kv)]
    : [matrix(`${p}attn_q.weight`, s.nEmbd, q), matrix(`${p}attn_k.weight`, s.nEmbd, kv), matrix(`${p}attn_v.weight`, s.nEmbd, kv)];
  return [
    norm(`${p}attn_norm.weight`, s.nEmbd),
    ...proj,
    ...(o.qkvBias ? [bias(`${p}attn_q.bias`, q), bias(`${p}attn_k.bias`, kv), bias(`${p}attn_v.bias`, kv)] : []),
    ...(o.qkNorm ? [norm(`${p}attn_q_norm.weight`, s.headDim), norm(`${p}attn_k_norm.weight`, s.headDim)] : []),
    matrix(`${p}attn_output.weight`, q, s.nEmbd),
    ...(o.postNorm ? [norm(`${p}post_attention_norm.weight`, s.nEmbd)] : []),
  ];
}

interface MlpOptions {
  /** Gate and up projections fused into one ffn_up of twice the width (Phi-3). */
  fusedUp?: boolean;
  /** A norm on the MLP output before the residual add (Gemma 2 and 3). */
  postNorm?: boolean;
}

function mlp(p: string, s: ArchShape, o: MlpOptions = {}): TensorPlan[] {
  const proj = o.fusedUp
    ? [matrix(`${p}ffn_up.weight`, s.nEmbd, 2 * s.nFf), matrix(`${p}ffn_down.weight`, s.nFf, s.nEmbd)]
    : [
        matrix(`${p}ffn_gate.weight`, s.nEmbd, s.nFf),
        matrix(`${p}ffn_down.weight`, s.nFf, s.nEmbd),
        matrix(`${p}ffn_up.weight`, s.nEmbd, s.nFf),
      ];
  return [norm(`${p}ffn_norm.weight`, s.nEmbd), ...proj, ...(o.postNorm ? [norm(`${p}post_ffw_norm.weight`, s.nEmbd)] : [])];
}

/** Llama 3.1's frequency factors (rope_type "llama3": factor 8, low 1, high 4, original context 8192), as its converter computes them. */
function llama3RopeFactors(headDim: number, base: number): Float32Array {
  const [factor, low, high, oldCtx] = [8, 1, 4, 8192];
  return Float32Array.from({ length: headDim / 2 }, (_, i) => {
    const wavelen = (2 * Math.PI) / base ** (-(2 * i) / headDim);
    if (wavelen < oldCtx / high) return 1;
    if (wavelen > oldCtx / low) return factor;
    const smooth = (oldCtx / wavelen - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
  });
}

const LLAMA3_SPECIALS: VocabSpecials = {
  bos: "<|begin_of_text|>",
  eos: "<|eot_id|>",
  control: ["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>"],
};
const QWEN_SPECIALS: VocabSpecials = {
  bos: "<|endoftext|>",
  eos: "<|im_end|>",
  control: ["<|im_start|>"],
  userDefined: ["<tool_call>", "</tool_call>"],
  addBos: false,
};
const GEMMA_SPECIALS: VocabSpecials = { bos: "<bos>", eos: "<eos>", control: ["<pad>", "<start_of_turn>", "<end_of_turn>"] };

const blockLlama = (p: string, s: ArchShape) => [...attention(p, s), ...mlp(p, s)];
const none = () => ({});

export const ARCHITECTURES: Record<ArchName, Architecture> = {
  llama: {
    gguf: "llama",
    like: "Llama 2 / llama2.c (multi-head attention, untied head)",
    ropeFreqBase: 10000,
    rmsEps: 1e-5,
    kvHeads: (h) => h,
    tied: false,
    specials: { bos: "<s>", eos: "</s>" },
    metadata: none,
    block: blockLlama,
  },
  llama3: {
    gguf: "llama",
    like: "Llama 3.1 8B Instruct (grouped-query attention 4:1, rope theta 500000 with llama3 frequency factors)",
    ropeFreqBase: 500000,
    rmsEps: 1e-5,
    kvHeads: (h) => Math.max(1, Math.floor(h / 4)),
    tied: false,
    specials: LLAMA3_SPECIALS,
    metadata: none,
    extra: (s, base) => [{ name: "rope_freqs.weight", dims: [s.headDim / 2], init: llama3RopeFactors(s.headDim, base) }],
    block: blockLlama,
  },
  mistral3: {
    gguf: "mistral3",
    like: "Ministral 3 (llama blocks; yarn rope scaling and attention temperature scaling)",
    ropeFreqBase: 1000000,
    rmsEps: 1e-5,
    kvHeads: (h) => Math.max(1, Math.floor(h / 4)),
    tied: false,
    specials: {
      bos: "<s>",
      eos: "</s>",
      control: [
        "[INST]",
        "[/INST]",
        "[SYSTEM_PROMPT]",
        "[/SYSTEM_PROMPT]",
        "[THINK]",
        "[/THINK]",
        "[TOOL_CALLS]",
        "[ARGS]",
        "[AVAILABLE_TOOLS]",
        "[/AVAILABLE_TOOLS]",
        "[TOOL_RESULTS]",
        "[/TOOL_RESULTS]",
      ],
    },
    metadata: () => ({
      "mistral3.rope.scaling.type": gv.str("yarn"),
      "mistral3.rope.scaling.factor": gv.f32(16),
      "mistral3.rope.scaling.original_context_length": gv.u32(16384),
      "mistral3.rope.scaling.yarn_beta_fast": gv.f32(32),
      "mistral3.rope.scaling.yarn_beta_slow": gv.f32(1),
      "mistral3.rope.scaling.yarn_log_multiplier": gv.f32(1),
      "mistral3.attention.temperature_scale": gv.f32(0.1),
    }),
    block: blockLlama,
  },
  qwen2: {
    gguf: "qwen2",
    like: "Qwen2.5 0.5B Instruct (q/k/v biases, grouped-query attention, tied embeddings, rope theta 1e6)",
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    kvHeads: (h) => Math.max(1, Math.floor(h / 2)),
    tied: true,
    specials: QWEN_SPECIALS,
    metadata: none,
    block: (p, s) => [...attention(p, s, { qkvBias: true }), ...mlp(p, s)],
  },
  qwen3: {
    gguf: "qwen3",
    like: "Qwen3 0.6B (q/k norms, head size 2 x n_embd / n_head, grouped-query attention, tied embeddings)",
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    kvHeads: (h) => Math.max(1, Math.floor(h / 2)),
    headDim: (e, h) => (2 * e) / h,
    tied: true,
    specials: {
      ...QWEN_SPECIALS,
      userDefined: ["<tool_call>", "</tool_call>", "<think>", "</think>", "<tool_response>", "</tool_response>"],
    },
    metadata: none,
    block: (p, s) => [...attention(p, s, { qkNorm: true }), ...mlp(p, s)],
  },
  gemma2: {
    gguf: "gemma2",
    like: "Gemma 2 2B it (post-norms, soft-capped attention and final logits, sliding window on every other layer, tied embeddings)",
    ropeFreqBase: 10000,
    rmsEps: 1e-6,
    kvHeads: (h) => Math.max(1, Math.floor(h / 2)),
    headDim: (e, h) => e / h,
    tied: true, // llama.cpp's gemma2 builder has no output.weight at all
    specials: GEMMA_SPECIALS,
    metadata: () => ({
      "gemma2.attn_logit_softcapping": gv.f32(50),
      "gemma2.final_logit_softcapping": gv.f32(30),
      "gemma2.attention.sliding_window": gv.u32(4096),
      "tokenizer.ggml.add_space_prefix": gv.bool(false),
    }),
    block: (p, s) => [...attention(p, s, { postNorm: true }), ...mlp(p, s, { postNorm: true })],
  },
  gemma3: {
    gguf: "gemma3",
    like: "Gemma 3 1B it (post-norms, q/k norms, 5 sliding-window layers to 1 global, local rope theta 10000, tied embeddings)",
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    kvHeads: () => 1,
    headDim: (e, h) => (2 * e) / h,
    tied: true,
    specials: { ...GEMMA_SPECIALS, control: [...(GEMMA_SPECIALS.control ?? []), "<start_of_image>", "<end_of_image>"] },
    metadata: () => ({
      "gemma3.attention.sliding_window": gv.u32(512),
      "gemma3.attention.sliding_window_pattern": gv.u32(6),
      "gemma3.rope.freq_base_swa": gv.f32(10000),
      "tokenizer.ggml.add_space_prefix": gv.bool(false),
    }),
    block: (p, s) => [...attention(p, s, { qkNorm: true, postNorm: true }), ...mlp(p, s, { postNorm: true })],
  },
  phi3: {
    gguf: "phi3",
    like: "Phi-3.5 mini instruct (fused attn_qkv, fused gate+up in ffn_up, untied head)",
    ropeFreqBase: 10000,
    rmsEps: 1e-5,
    kvHeads: (h) => h,
    tied: false,
    // "</s>" as in the real vocabulary: llama.cpp looks it up for any model named like Phi-3 (whitespace rules)
    specials: { bos: "<s>", eos: "<|endoftext|>", control: ["</s>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"], addBos: false },
    metadata: () => ({
      "phi3.rope.scaling.original_context_length": gv.u32(4096),
      // Phi-3 mini ships a 2047-token window; llama.cpp v0.4.0 reads it and turns sliding-window attention off
      "phi3.attention.sliding_window": gv.u32(2047),
    }),
    block: (p, s) => [...attention(p, s, { fused: true }), ...mlp(p, s, { fusedUp: true })],
  },
};

export function isArchName(name: string): name is ArchName {
  return (ARCHITECTURE_NAMES as readonly string[]).includes(name);
}
