// One sequence's answer as it is generated: its sampler, UTF-8 decoding across token boundaries,
// stop strings (text that could start one is held back until it cannot), and why it ended. Shared by
// generate.ts (a fixed set of prompts) and scheduler.ts (requests joining and leaving one batch).
import { TextDecoder } from "node:util";
import type { Model } from "./model.js";
import { Sampler, type SamplingOptions } from "./sampling.js";

export type FinishReason = "eog" | "length" | "stop" | "context" | "aborted";

/** What a sequence produced: text as it becomes final, then the end. */
export type ContinuationEvent =
  | { type: "token"; token: number; text: string }
  | { type: "done"; reason: FinishReason; text: string; tokens: number[] };

export interface ContinuationOptions extends SamplingOptions {
  maxTokens: number;
  /** Strings that end the answer (cut from it). */
  stop: string[];
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

export class Continuation {
  readonly tokens: number[] = [];
  text = "";
  done = false;
  /** The next position in the sequence (the prompt's length at first). */
  nPast: number;
  private emitted = 0;
  private readonly sampler: Sampler;
  private readonly decoder = new TextDecoder("utf-8");
  private readonly stops: string[];
  /** SentencePiece adds a space before the first word: dropped when the prompt has no text of its own. */
  private readonly bare: boolean;

  constructor(
    private readonly model: Model,
    prompt: number[],
    private readonly opts: ContinuationOptions,
  ) {
    this.sampler = new Sampler(opts);
    this.stops = opts.stop.filter((s) => s.length > 0);
    this.nPast = prompt.length;
    this.bare = model.detokenize(prompt).length === 0;
  }

  /**
   * Samples the next token from the logits after the last decoded one. Returns the events it makes
   * and the token to decode next, or no token when the answer ended. `room` says whether the
   * context has space for one more token.
   */
  next(logits: Float32Array, room: boolean): { events: ContinuationEvent[]; token?: number } {
    const tok = this.sampler.sample(logits);
    if (this.model.isEndOfGeneration(tok)) return { events: this.finish("eog") };
    this.tokens.push(tok);
    const lstrip = this.bare && this.tokens.length === 1 ? 1 : 0;
    this.text += this.decoder.decode(this.model.tokenBytes(tok, lstrip), { stream: true });
    if (this.stops.some((x) => this.text.includes(x))) return { events: this.finish("stop") };
    const events: ContinuationEvent[] = [];
    const visible = this.text.length - holdBack(this.text, this.stops);
    if (visible > this.emitted) {
      events.push({ type: "token", token: tok, text: this.text.slice(this.emitted, visible) });
      this.emitted = visible;
    }
    if (this.tokens.length >= this.opts.maxTokens) return { events: [...events, ...this.finish("length")] };
    if (!room) return { events: [...events, ...this.finish("context")] };
    return { events, token: tok };
  }

  /** Ends the answer: flushes the text not yet streamed (up to a stop string) and says why. */
  finish(reason: FinishReason): ContinuationEvent[] {
    this.done = true;
    this.text += this.decoder.decode();
    if (reason === "stop") {
      const cut = Math.min(...this.stops.map((x) => this.text.indexOf(x)).filter((k) => k >= 0));
      this.text = this.text.slice(0, cut);
    }
    const events: ContinuationEvent[] = [];
    const last = this.tokens[this.tokens.length - 1];
    if (this.text.length > this.emitted && last !== undefined)
      events.push({ type: "token", token: last, text: this.text.slice(this.emitted) });
    this.emitted = this.text.length;
    events.push({ type: "done", reason, text: this.text, tokens: this.tokens });
    return events;
  }
}
