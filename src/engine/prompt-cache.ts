// Prompts' K/V cells kept in host memory (llama-server's --cache-ram): before a sequence's kept prompt
// gives way to another request's, its cells are copied out; a later request that starts the same way,
// under the same steering, has them loaded into whichever sequence it gets and decodes only the rest.
// Bounded in bytes (the cells, the tokens and the steering each entry holds), least recently used
// first out.
import type { SteeringVector } from "./context.js";
import { sameSteering } from "./steering-key.js";

interface Entry {
  tokens: number[];
  steering: SteeringVector[];
  state: Uint8Array;
  bytes: number;
}

/** An entry a prompt can reuse, and how many of its tokens. */
export interface PromptCacheHit {
  entry: object;
  state: Uint8Array;
  n: number;
}

/** An entry is loaded only for at least this share of its tokens (llama-server's f_keep): less is not worth the copy. */
const MIN_KEEP = 0.25;

/** How many tokens a and b share from the start, at most max. */
export function commonPrefix(a: readonly number[], b: readonly number[], max = Number.POSITIVE_INFINITY): number {
  const lim = Math.min(max, a.length, b.length);
  let n = 0;
  while (n < lim && a[n] === b[n]) n++;
  return n;
}

export class PromptCache {
  /** Oldest use first. */
  private readonly entries: Entry[] = [];
  private held = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  /** Whether an entry holds exactly these tokens under this steering. */
  has(tokens: readonly number[], steering: SteeringVector[]): boolean {
    return this.find(tokens, steering) >= 0;
  }

  /** Keeps a prompt's cells (an entry for the same tokens and steering is replaced); the least recently used go past maxBytes. */
  put(tokens: number[], steering: SteeringVector[], state: Uint8Array): void {
    const vectors = steering.reduce((a, v) => a + v.vector.byteLength + (v.scale?.byteLength ?? 0), 0);
    const bytes = state.byteLength + 8 * tokens.length + vectors;
    if (bytes > this.maxBytes) return;
    const i = this.find(tokens, steering);
    if (i >= 0) this.remove(i);
    this.entries.push({ tokens, steering, state, bytes });
    this.held += bytes;
    while (this.held > this.maxBytes) this.remove(0);
  }

  /**
   * The entry under this steering sharing the longest start with `prompt` (at most `max` tokens of it),
   * if that is more than `atLeast` tokens and at least a quarter of the entry; it becomes the most recently used.
   */
  best(prompt: readonly number[], steering: SteeringVector[], max: number, atLeast: number): PromptCacheHit | undefined {
    let best: { i: number; n: number } | undefined;
    for (const [i, e] of this.entries.entries()) {
      if (!sameSteering(e.steering, steering)) continue;
      const n = commonPrefix(e.tokens, prompt, max);
      if (n > atLeast && n >= MIN_KEEP * e.tokens.length && (!best || n > best.n)) best = { i, n };
    }
    if (!best) return undefined;
    const [e] = this.entries.splice(best.i, 1) as [Entry];
    this.entries.push(e);
    return { entry: e, state: e.state, n: best.n };
  }

  /** Forgets an entry (one that failed to load). */
  drop(hit: PromptCacheHit): void {
    const i = this.entries.indexOf(hit.entry as Entry);
    if (i >= 0) this.remove(i);
  }

  private find(tokens: readonly number[], steering: SteeringVector[]): number {
    return this.entries.findIndex(
      (e) => e.tokens.length === tokens.length && commonPrefix(e.tokens, tokens) === tokens.length && sameSteering(e.steering, steering),
    );
  }

  private remove(i: number): void {
    this.held -= (this.entries.splice(i, 1)[0] as Entry).bytes;
  }
}
