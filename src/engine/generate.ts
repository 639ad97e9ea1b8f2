// Text generation: several sequences decoded side by side, streamed as events, abortable.
import { TextDecoder } from "node:util";
import type { Context } from "./context.js";
import { EngineError } from "./errors.js";
import { Sampler, type SamplingOptions } from "./sampling.js";

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default 256). */
  maxTokens?: number;
  /** Generation ends before the first occurrence of any of these strings. */
  stop?: string[];
  signal?: AbortSignal;
}

export type FinishReason = "eog" | "length" | "stop" | "context" | "aborted";

export type GenerationEvent =
  | { type: "token"; seq: number; token: number; text: string }
  | { type: "done"; seq: number; reason: FinishReason; text: string; tokens: number[] };

export interface GenerationResult {
  text: string;
  tokens: number[];
  reason: FinishReason;
}

interface SeqState {
  sampler: Sampler;
  decoder: TextDecoder;
  tokens: number[];
  text: string;
  emitted: number;
  nPast: number;
  done: boolean;
}

/** Length of the longest suffix of text that is a proper prefix of a stop string (held back). */
function holdBack(text: string, stops: string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(s.slice(0, k))) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

/**
 * Generates a continuation for each prompt (token ids). Sequence i samples with seed
 * `seeds[i]` (default: options.seed + i), so a prompt's answer does not depend on its neighbours.
 */
export async function* generateStream(
  ctx: Context,
  prompts: number[][],
  opts: GenerateOptions & { seeds?: number[] } = {},
): AsyncGenerator<GenerationEvent> {
  if (prompts.length === 0) return;
  if (prompts.length > ctx.nSeq) {
    throw new EngineError(
      "bad_argument",
      `${prompts.length} prompts but the context decodes ${ctx.nSeq} sequences; create it with nSeq >= ${prompts.length}.`,
    );
  }
  const maxTokens = opts.maxTokens ?? 256;
  const stops = (opts.stop ?? []).filter((s) => s.length > 0);
  const total = prompts.reduce((a, p) => a + p.length, 0);
  for (const p of prompts)
    if (p.length === 0) throw new EngineError("bad_argument", "empty prompt: it needs at least one token (e.g. BOS).");
  ctx.checkFits(total, prompts.length > 1 ? "batch of prompts" : "prompt");
  const model = ctx.model;
  // SentencePiece adds a space before the first word: drop it when the prompt has no text of its own
  const bare = prompts.map((p) => model.detokenize(p).length === 0);
  const states: SeqState[] = prompts.map((p, i) => ({
    sampler: new Sampler({ ...opts, seed: opts.seeds?.[i] ?? (opts.seed ?? 0) + i }),
    decoder: new TextDecoder("utf-8"),
    tokens: [],
    text: "",
    emitted: 0,
    nPast: p.length,
    done: false,
  }));

  // prefill: all prompts, in chunks of n_batch; keep each prompt's last-row logits
  ctx.clearMemory();
  const flat = prompts.flatMap((p, s) => p.map((tok, pos) => ({ tok, pos, s, last: pos === p.length - 1 })));
  const pending: Array<Float32Array | undefined> = prompts.map(() => undefined);
  for (let o = 0; o < flat.length; o += ctx.nBatch) {
    const part = flat.slice(o, o + ctx.nBatch);
    await ctx.decode({
      tokens: part.map((x) => x.tok),
      positions: part.map((x) => x.pos),
      seqIds: part.map((x) => x.s),
      outputs: part.map((x) => x.last),
    });
    part.forEach((x, r) => {
      if (x.last) pending[x.s] = ctx.logits(r);
    });
  }

  let used = total;
  /** Ends a sequence: flushes the text not yet streamed (up to a stop string) and reports why. */
  const finish = (s: number, reason: FinishReason): GenerationEvent[] => {
    const st = states[s] as SeqState;
    st.done = true;
    st.text += st.decoder.decode();
    if (reason === "stop") {
      const cut = Math.min(...stops.map((x) => st.text.indexOf(x)).filter((k) => k >= 0));
      st.text = st.text.slice(0, cut);
    }
    const events: GenerationEvent[] = [];
    const last = st.tokens[st.tokens.length - 1];
    if (st.text.length > st.emitted && last !== undefined)
      events.push({ type: "token", seq: s, token: last, text: st.text.slice(st.emitted) });
    st.emitted = st.text.length;
    events.push({ type: "done", seq: s, reason, text: st.text, tokens: st.tokens });
    return events;
  };

  while (true) {
    const step: Array<{ s: number; tok: number }> = [];
    const events: GenerationEvent[] = [];
    for (let s = 0; s < states.length; s++) {
      const st = states[s] as SeqState;
      if (st.done) continue;
      if (opts.signal?.aborted) {
        events.push(...finish(s, "aborted"));
        continue;
      }
      const tok = st.sampler.sample(pending[s] as Float32Array);
      if (model.isEndOfGeneration(tok)) {
        events.push(...finish(s, "eog"));
        continue;
      }
      st.tokens.push(tok);
      const lstrip = bare[s] && st.tokens.length === 1 ? 1 : 0;
      st.text += st.decoder.decode(model.tokenBytes(tok, lstrip), { stream: true });
      if (stops.some((x) => st.text.includes(x))) {
        events.push(...finish(s, "stop"));
        continue;
      }
      const visible = st.text.length - holdBack(st.text, stops);
      if (visible > st.emitted) {
        events.push({ type: "token", seq: s, token: tok, text: st.text.slice(st.emitted, visible) });
        st.emitted = visible;
      }
      if (st.tokens.length >= maxTokens) {
        events.push(...finish(s, "length"));
        continue;
      }
      if (used + 1 > ctx.nCtx) {
        events.push(...finish(s, "context"));
        continue;
      }
      used++;
      step.push({ s, tok });
    }
    for (const e of events) yield e;
    if (step.length === 0) return;
    await ctx.decode({
      tokens: step.map((x) => x.tok),
      positions: step.map((x) => (states[x.s] as SeqState).nPast),
      seqIds: step.map((x) => x.s),
      outputs: step.map(() => 1),
    });
    step.forEach((x, r) => {
      (states[x.s] as SeqState).nPast++;
      pending[x.s] = ctx.logits(r);
    });
  }
}

/** Generates for several prompts side by side and returns the finished results in order. */
export async function generateBatch(
  ctx: Context,
  prompts: number[][],
  opts: GenerateOptions & { seeds?: number[] } = {},
): Promise<GenerationResult[]> {
  const out: GenerationResult[] = prompts.map(() => ({ text: "", tokens: [], reason: "length" }));
  for await (const e of generateStream(ctx, prompts, opts)) {
    if (e.type === "done") out[e.seq] = { text: e.text, tokens: e.tokens, reason: e.reason };
  }
  return out;
}

export async function generate(ctx: Context, prompt: number[], opts: GenerateOptions = {}): Promise<GenerationResult> {
  return (await generateBatch(ctx, [prompt], opts))[0] as GenerationResult;
}
