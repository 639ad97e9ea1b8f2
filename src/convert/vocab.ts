// A synthetic SentencePiece vocabulary for random models, with each model family's own special
// tokens, so that the family's chat template renders and tokenizes as it does on the real model
// (its turn markers are single control tokens; its end-of-turn token stops generation).

import { GgufType, type GgufValue, gv } from "../engine/gguf/types.js";

/** SentencePiece-style vocabulary as llama.cpp's "llama" tokenizer reads it. */
export interface SpmVocab {
  tokens: string[];
  scores: number[];
  /** 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte */
  types: number[];
  bos: number;
  eos: number;
  unk: number;
  /** Whether llama.cpp adds BOS when tokenizing (default true, as SentencePiece models do). */
  addBos?: boolean;
}

/** A family's special tokens: BOS and EOS texts, then other control and user-defined tokens. */
export interface VocabSpecials {
  bos: string;
  eos: string;
  control?: string[];
  /** Added tokens that are not special (Qwen3's <think>): type 4, still parsed as one token. */
  userDefined?: string[];
  addBos?: boolean;
}

/** SentencePiece's own specials, as llama2.c and the first random models have them. */
export const SPM_SPECIALS: VocabSpecials = { bos: "<s>", eos: "</s>" };

/** Byte-fallback vocabulary: <unk>, BOS, EOS, 256 bytes, the family's other specials, then letter pieces. */
export function syntheticVocab(size: number, specials: VocabSpecials = SPM_SPECIALS): SpmVocab {
  const tokens = ["<unk>", specials.bos, specials.eos];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  const extra = [...(specials.control ?? []).map((t) => [t, 3] as const), ...(specials.userDefined ?? []).map((t) => [t, 4] as const)];
  for (const [t, type] of extra) {
    tokens.push(t);
    types.push(type);
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
  return { tokens, scores, types, bos: 1, eos: 2, unk: 0, addBos: specials.addBos };
}

/** The tokenizer.* metadata llama.cpp reads for a SentencePiece vocabulary. */
export function spmMetadata(vocab: SpmVocab): Record<string, GgufValue> {
  return {
    "tokenizer.ggml.model": gv.str("llama"),
    "tokenizer.ggml.tokens": gv.arr(GgufType.STRING, vocab.tokens),
    "tokenizer.ggml.scores": gv.arr(GgufType.FLOAT32, vocab.scores),
    "tokenizer.ggml.token_type": gv.arr(GgufType.INT32, vocab.types),
    "tokenizer.ggml.bos_token_id": gv.u32(vocab.bos),
    "tokenizer.ggml.eos_token_id": gv.u32(vocab.eos),
    "tokenizer.ggml.unknown_token_id": gv.u32(vocab.unk),
    "tokenizer.ggml.add_bos_token": gv.bool(vocab.addBos ?? true),
    "tokenizer.ggml.add_eos_token": gv.bool(false),
  };
}
