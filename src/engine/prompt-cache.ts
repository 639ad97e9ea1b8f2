// Prompts' K/V cells kept in host memory (llama-server's --cache-ram): before a sequence's kept prompt
// gives way to another request's, its cells are copied out; a later request that starts the same way,
// under the same steering, has them loaded into whichever sequence it gets and decodes only the rest.
// Bounded in bytes, least recently used first out.
import type { SteeringVector } from "./context.js";
import { sameSteering } from "./steering-key.js";

interface Entry {
  tokens: number[];
  steering: SteeringVector[];
  state: Uint8Array;
}

/** The entry a prompt can reuse the most of, and how many of its tokens. */
export interface PromptCacheHit {
  state: Uint8Array;
  n: number;
}

export class PromptCache {
  /** Oldest use first. */
  private readonly entries: Entry[] = [];
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.length, bytes: this.bytes };
  }

  /** Whether an entry holds exactly these tokens under this steering. */
  has(tokens: readonly number[], steering: SteeringVector[]): boolean {
    return this.entries.some((e) => sameSteering(e.steering, steering) && sameTokens(e.tokens, tokens));
  }

  /** Keeps a prompt's cells (an entry for the same tokens and steering is replaced); the least recently used go past maxBytes. */
  put(tokens: number[], steering: SteeringVector[], state: Uint8Array): void {
    if (state.byteLength > this.maxBytes) return;
    const i = this.entries.findIndex((e) => sameSteering(e.steering, steering) && sameTokens(e.tokens, tokens));
    if (i >= 0) this.bytes -= (this.entries.splice(i, 1)[0] as Entry).state.byteLength;
    this.entries.push({ tokens, steering, state });
    this.bytes += state.byteLength;
    while (this.bytes > this.maxBytes) this.bytes -= (this.entries.shift() as Entry).state.byteLength;
  }

  /** The entry under this steering sharing the longest start with `prompt`, at most `max` tokens of it (none: undefined). */
  best(prompt: readonly number[], steering: SteeringVector[], max: number): PromptCacheHit | undefined {
    let best: { i: number; n: number } | undefined;
    for (const [i, e] of this.entries.entries()) {
      if (!sameSteering(e.steering, steering)) continue;
      const lim = Math.min(max, e.tokens.length);
      let n = 0;
      while (n < lim && e.tokens[n] === prompt[n]) n++;
      if (n > 0 && (!best || n > best.n)) best = { i, n };
    }
    if (!best) return undefined;
    const [e] = this.entries.splice(best.i, 1) as [Entry];
    this.entries.push(e); // most recently used
    return { state: e.state, n: best.n };
  }
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
