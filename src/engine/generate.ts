// Text generation: several sequences decoded side by side, streamed as events, abortable.
import { Batch } from "./batch.js";
import type { Context } from "./context.js";
import { Continuation, type FinishReason } from "./continuation.js";
import { EngineError } from "./errors.js";
import type { SamplingOptions } from "./sampling.js";

export type { FinishReason };

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default 256). */
  maxTokens?: number;
  /** Generation ends before the first occurrence of any of these strings. */
  stop?: string[];
  signal?: AbortSignal;
}

export type GenerationEvent =
  | { type: "token"; seq: number; token: number; text: string }
  | { type: "done"; seq: number; reason: FinishReason; text: string; tokens: number[] };

export interface GenerationResult {
  text: string;
  tokens: number[];
  reason: FinishReason;
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
  const total = prompts.reduce((a, p) => a + p.length, 0);
  for (const p of prompts)
    if (p.length === 0) throw new EngineError("bad_argument", "empty prompt: it needs at least one token (e.g. BOS).");
  // a unified cache holds all prompts together; a stream per sequence holds each on its own
  if (ctx.kvUnified) ctx.checkFits(total, prompts.length > 1 ? "batch of prompts" : "prompt");
  else for (const p of prompts) ctx.checkFits(p.length);
  const seqs = prompts.map(
    (p, i) =>
      new Continuation(ctx.model, p, {
        ...opts,
        seed: opts.seeds?.[i] ?? (opts.seed ?? 0) + i,
        maxTokens: opts.maxTokens ?? 256,
        stop: opts.stop ?? [],
      }),
  );

  // prefill: all prompts, in chunks of n_batch; keep each prompt's last-row logits
  ctx.clearMemory();
  const prefill = new Batch();
  prompts.forEach((p, s) => {
    prefill.addSequence(p, s);
  });
  const pending: Array<Float32Array | undefined> = prompts.map(() => undefined);
  for (const { batch } of prefill.parts(ctx.nBatch)) await decodeInto(ctx, batch, pending);

  let used = total;
  while (true) {
    const step = new Batch();
    const events: GenerationEvent[] = [];
    for (const [s, c] of seqs.entries()) {
      if (c.done) continue;
      const r = opts.signal?.aborted
        ? { events: c.finish("aborted") }
        : c.next(pending[s] as Float32Array, ctx.holds(used + 1, c.nPast + 1));
      for (const e of r.events) events.push({ ...e, seq: s });
      if (r.token === undefined) continue;
      used++;
      step.add(r.token, c.nPast, s, true);
    }
    for (const e of events) yield e;
    if (step.length === 0) return;
    await decodeInto(ctx, step, pending);
    for (const s of step.seqIds) (seqs[s] as Continuation).nPast++;
  }
}

/** Decodes a batch and keeps each output row's logits as its sequence's next. */
async function decodeInto(ctx: Context, batch: Batch, pending: Array<Float32Array | undefined>): Promise<void> {
  await ctx.decode(batch);
  for (let r = 0; r < batch.length; r++) if (batch.outputs[r]) pending[batch.seqIds[r] as number] = ctx.logits(r);
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
