// One llama_batch as rows (token, position, sequence, whether it yields logits), built the same way
// by the three callers that decode: Context.evaluate (whole texts), generateStream (a fixed set of
// prompts) and the scheduler (requests joining one batch). Rows past n_batch go in several decodes.
import type { BatchInput } from "../native/llama.js";

export class Batch implements BatchInput {
  readonly tokens: number[] = [];
  readonly positions: number[] = [];
  readonly seqIds: number[] = [];
  /** 1: the row yields logits (llama.cpp's `logits` flag). */
  readonly outputs: number[] = [];

  get length(): number {
    return this.tokens.length;
  }

  add(token: number, pos: number, seq: number, output: boolean): void {
    this.tokens.push(token);
    this.positions.push(pos);
    this.seqIds.push(seq);
    this.outputs.push(output ? 1 : 0);
  }

  /** A sequence's tokens from position `from` on, logits from its last one when `lastOutput`. */
  addSequence(tokens: ArrayLike<number>, seq: number, from = 0, lastOutput = true, allOutputs = false): void {
    for (let p = 0; p < tokens.length; p++)
      this.add(tokens[p] as number, from + p, seq, allOutputs || (lastOutput && p === tokens.length - 1));
  }

  /** Rows [start, end) as one decode's input. */
  rows(start: number, end: number): Batch {
    const b = new Batch();
    b.tokens.push(...this.tokens.slice(start, end));
    b.positions.push(...this.positions.slice(start, end));
    b.seqIds.push(...this.seqIds.slice(start, end));
    b.outputs.push(...this.outputs.slice(start, end));
    return b;
  }

  /** The rows in parts of at most n (n_batch), each with the index of its first row. */
  *parts(n: number): Generator<{ start: number; batch: Batch }> {
    for (let start = 0; start < this.length; start += n) yield { start, batch: this.rows(start, Math.min(start + n, this.length)) };
  }
}
