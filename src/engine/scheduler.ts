// Continuous batching: requests join and leave one shared batch of a context's sequences, each with
// its own sampling and its own steering (write hooks on its own rows only). Each step decodes one
// token of every answering sequence plus as much of the waiting prompts as n_batch leaves room for;
// weights are read once per step for all of them. A sequence's numbers do not depend on its
// neighbours (its rows only attend to its own cells), so an answer is the one it gets served alone.
// The scheduler owns the context's sequences: a request waits for a free one, first come first
// served, and gives it up when it ends, is aborted or its reader stops. A freed sequence keeps its
// prompt's cells: the next request with the same steering whose prompt starts the same way decodes
// only the rest (llama-server's prompt cache; a chat's system prompt, a repeated question), so its
// first token comes after one short decode instead of the whole prompt's.

import { log } from "../util/logger.js";
import { Batch } from "./batch.js";
import type { Context, SteeringHandle, SteeringPlan, SteeringVector } from "./context.js";
import { Continuation, type ContinuationEvent, type ContinuationOptions } from "./continuation.js";
import { EngineError } from "./errors.js";
import { commonPrefix, PromptCache } from "./prompt-cache.js";
import { sameSteering } from "./steering-key.js";

export interface ScheduledRequest {
  prompt: number[];
  options: ContinuationOptions;
  /** Steering for this request alone (callers come through steer/apply.ts steerSequence). */
  steering: SteeringVector[];
  /** Aborted while waiting: the request leaves the queue; while decoding: it ends ("aborted") at the next step. */
  signal?: AbortSignal;
}

export interface SchedulerOptions {
  /**
   * Bytes of host memory for prompts' K/V cells (llama-server's --cache-ram): a request that starts
   * like a prompt decoded before under the same steering loads those cells into its sequence, whichever
   * it gets (default 0: only the cells a free sequence still holds are reused).
   */
  promptCacheBytes?: number;
}

/** "start": the request got its sequence and decoding begins (the time before it is queue wait). */
export type ScheduledEvent = { type: "start"; seq: number } | ContinuationEvent;

interface Member {
  seq: number;
  req: ScheduledRequest;
  cont: Continuation;
  /** Prompt tokens in the cache so far; -1 until the loop has kept what the sequence already holds. */
  prefilled: number;
  /** The token to decode next (answering), once the prompt is in. */
  next?: number;
  /** Events not yet taken by the reader, and the reader's wake-up. */
  queue: ContinuationEvent[];
  wake?: () => void;
  error?: unknown;
  /** Resolves once the sequence has left the batch and its cache cells are free. */
  left: Promise<void>;
  resolveLeft: () => void;
}

/** The prompt whose cells a free sequence still holds, and the steering they were decoded with. */
interface Kept {
  tokens: number[];
  steering: SteeringVector[];
}

export class BatchScheduler {
  private readonly members = new Map<number, Member>();
  /** Sequences no request holds, and the requests waiting for one, oldest first. */
  private readonly free: number[];
  private readonly waiters: Array<{ grant: (seq: number) => void }> = [];
  private running: Promise<void> | undefined;
  private steering: SteeringHandle | undefined;
  /** Membership changed since steering was last applied. */
  private dirty = false;
  /** By sequence: the prompt its cells still hold, for the next request that starts the same way. */
  private readonly kept = new Map<number, Kept>();
  /** The context's memory version after the scheduler's own last change: another means another caller changed the cells. */
  private memoryVersion: number;
  /** Prompt tokens asked for and prompt tokens reused (not decoded): from kept cells, and of those from host memory. */
  readonly promptStats = { tokens: 0, reused: 0, fromHost: 0 };
  private readonly promptCache: PromptCache | undefined;

  constructor(
    readonly ctx: Context,
    opts: SchedulerOptions = {},
  ) {
    const bytes = opts.promptCacheBytes ?? 0;
    if (!Number.isFinite(bytes) || bytes < 0)
      throw new EngineError("bad_argument", `promptCacheBytes must be a number of bytes >= 0, got ${bytes}.`);
    this.promptCache = bytes > 0 ? new PromptCache(bytes) : undefined;
    ctx.clearMemory();
    this.memoryVersion = ctx.memoryVersion;
    this.free = Array.from({ length: ctx.nSeq }, (_, i) => i);
  }

  /** Bytes of host memory holding prompts' cells now. */
  get promptCacheBytes(): number {
    return this.promptCache?.bytes ?? 0;
  }

  /** How the current steering is applied (native control vector layers, write-hook sites); none: unsteered. */
  get steeringPlan(): SteeringPlan | undefined {
    return this.steering?.plan;
  }

  /** Sequences held by requests (decoding, or leaving the batch). */
  get active(): number {
    return this.ctx.nSeq - this.free.length;
  }

  /** Requests waiting for a sequence. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Generates one request's answer as events: "start" once it holds a sequence (it waits for one,
   * first come first served), then its tokens and "done". The sequence is freed when the answer
   * ends, the signal aborts or the reader stops.
   */
  async *run(req: ScheduledRequest): AsyncGenerator<ScheduledEvent> {
    if (req.prompt.length === 0) throw new EngineError("bad_argument", "empty prompt: it needs at least one token (e.g. BOS).");
    const seq = await this.acquire(req);
    try {
      yield { type: "start", seq };
      yield* this.decodeIn(seq, req);
    } finally {
      this.release(seq);
    }
  }

  /** How many of a kept prompt's cells a request can use: its common start, same steering, never its last token (decoded again for its logits). */
  private reusable(seq: number, req: ScheduledRequest): number {
    if (this.ctx.memoryVersion !== this.memoryVersion) return 0;
    const k = this.kept.get(seq);
    if (!k || !sameSteering(k.steering, req.steering)) return 0;
    return commonPrefix(k.tokens, req.prompt, req.prompt.length - 1);
  }

  /**
   * The free sequence whose kept prompt starts like the request's, else a free one, else a place in
   * the queue; an aborted signal takes the request out of it.
   */
  private acquire(req: ScheduledRequest): Promise<number> {
    const signal = req.signal;
    const cancelled = (when: string) => new EngineError("aborted", `the request was cancelled ${when}.`);
    if (signal?.aborted) return Promise.reject(cancelled("before it got a sequence"));
    if (this.free.length > 0) {
      let best = 0;
      for (let i = 1; i < this.free.length; i++)
        if (this.reusable(this.free[i] as number, req) > this.reusable(this.free[best] as number, req)) best = i;
      return Promise.resolve(this.free.splice(best, 1)[0] as number);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(cancelled("while waiting for a sequence"));
      };
      const w = {
        grant: (s: number) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(s);
        },
      };
      this.waiters.push(w);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Hands a sequence that has left the batch to the oldest waiter, else frees it. */
  private release(seq: number): void {
    const next = this.waiters.shift();
    if (next) next.grant(seq);
    else this.free.push(seq);
  }

  /** Decodes a request in the sequence it holds, as the batch's member until it ends. */
  private async *decodeIn(seq: number, req: ScheduledRequest): AsyncGenerator<ContinuationEvent> {
    let resolveLeft = () => {};
    const left = new Promise<void>((resolve) => {
      resolveLeft = resolve;
    });
    const m: Member = {
      seq,
      req,
      cont: new Continuation(this.ctx.model, req.prompt, req.options),
      prefilled: -1,
      queue: [],
      left,
      resolveLeft,
    };
    this.members.set(seq, m);
    this.dirty = true;
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
    });
    try {
      while (true) {
        if (m.queue.length === 0) {
          if (m.error) throw m.error;
          if (m.cont.done) return;
          await new Promise<void>((resolve) => {
            m.wake = resolve;
          });
          m.wake = undefined;
          continue;
        }
        const e = m.queue.shift() as ContinuationEvent;
        yield e;
        if (e.type === "done") return;
      }
    } finally {
      // a reader that stops early (a client gone) ends its sequence at the next step; the sequence is
      // free for the next request once it has left the batch
      if (!m.cont.done) m.cont.finish("aborted");
      await m.left;
    }
  }

  private emit(m: Member, events: ContinuationEvent[]): void {
    m.queue.push(...events);
    m.wake?.();
  }

  /**
   * Takes a member out of the batch. Its whole prompt's cells stay for the next request (`keep`,
   * unless it left before its prompt was in); the answer's go.
   */
  private leave(m: Member, keep: boolean): void {
    this.forgetIfChanged();
    this.members.delete(m.seq);
    const n = m.req.prompt.length;
    if (keep && m.prefilled === n) {
      this.kept.set(m.seq, { tokens: m.req.prompt, steering: m.req.steering });
      this.ctx.removeSequence(m.seq, n);
    } else {
      this.kept.delete(m.seq);
      this.ctx.removeSequence(m.seq);
    }
    this.memoryVersion = this.ctx.memoryVersion;
    this.dirty = true;
    m.wake?.();
    m.resolveLeft();
  }

  private async loop(): Promise<void> {
    try {
      while (this.members.size > 0) {
        for (const m of [...this.members.values()]) {
          if (m.req.signal?.aborted && !m.cont.done) this.emit(m, m.cont.finish("aborted"));
          if (m.cont.done) this.leave(m, true);
        }
        if (this.members.size === 0) break;
        if (this.dirty) {
          // a request that joins while steering is applied gets it applied again before its rows decode
          await this.applySteering();
          continue;
        }
        // on the loop, between decodes: cells change only while no decode runs
        for (const m of this.members.values()) if (m.prefilled < 0) this.join(m);
        await this.step();
        // let readers take their tokens, and new requests and aborts arrive, between steps
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      for (const m of this.members.values()) {
        m.error = e;
        m.cont.done = true;
        this.leave(m, false);
      }
    } finally {
      this.steering?.release();
      this.steering = undefined;
    }
  }

  /** Another caller decoded or cleared on the context since the scheduler's own last change: kept cells may be gone. */
  private forgetIfChanged(): void {
    if (this.ctx.memoryVersion !== this.memoryVersion) this.kept.clear();
  }

  /**
   * A new member starts after the longest start of its prompt it can reuse: what its sequence still
   * holds, or a prompt in host memory loaded into it; the rest of the cells go. A kept prompt that
   * would be lost goes to host memory first. The host memory only saves work: where a copy fails,
   * the request decodes its whole prompt.
   */
  private join(m: Member): void {
    this.forgetIfChanged();
    let reused = this.reusable(m.seq, m.req);
    const kept = this.kept.get(m.seq);
    this.kept.delete(m.seq);
    const cache = this.promptCache;
    if (cache && kept && reused < kept.tokens.length - 1 && !cache.has(kept.tokens, kept.steering)) {
      try {
        cache.put(kept.tokens, kept.steering, this.ctx.sequenceState(m.seq));
      } catch (e) {
        log.warn(`a prompt's cells could not be kept in host memory: ${(e as Error).message}`);
      }
    }
    let fromHost = false;
    const hit = cache?.best(m.req.prompt, m.req.steering, m.req.prompt.length - 1, reused);
    if (cache && hit) {
      try {
        this.ctx.setSequenceState(m.seq, hit.state);
        reused = hit.n;
        fromHost = true;
      } catch (e) {
        cache.drop(hit); // the sequence is empty now
        reused = 0;
        log.warn(`a prompt's cells could not be loaded from host memory (decoding the prompt instead): ${(e as Error).message}`);
      }
    }
    // a sliding-window model keeps only the window's last cells: those left may not reach back far enough
    if (reused > 0 && !this.ctx.canContinue(m.seq, reused)) {
      reused = 0;
      fromHost = false;
    }
    this.ctx.removeSequence(m.seq, reused);
    this.memoryVersion = this.ctx.memoryVersion;
    m.prefilled = reused;
    this.promptStats.tokens += m.req.prompt.length;
    this.promptStats.reused += reused;
    if (fromHost) this.promptStats.fromHost += reused;
  }

  /**
   * Every member's vectors, each on its own rows; applied again whenever a member joins or leaves.
   * When every member steers the same way, the vectors go to all rows instead: resid_post then
   * takes llama.cpp's control vector and the step calls no write hook; with no member steered
   * nothing is applied at all. Either way, with the native eval filter, the step calls no JavaScript
   * per graph node (without it, each node's question still reaches JavaScript and is answered no).
   */
  private async applySteering(): Promise<void> {
    this.steering?.release();
    this.steering = undefined;
    this.dirty = false;
    const members = [...this.members.values()];
    const first = members[0]?.req.steering ?? [];
    const vectors = members.every((m) => sameSteering(m.req.steering, first))
      ? first
      : members.flatMap((m) => m.req.steering.map((v) => ({ ...v, seq: m.seq })));
    if (vectors.length) this.steering = await this.ctx.applySteering(vectors);
  }

  private async step(): Promise<void> {
    // answering sequences one token each, then prompts in the room left, oldest member first
    let room = this.ctx.nBatch;
    for (const m of this.members.values()) if (m.next !== undefined) room--;
    const chunk = new Map<number, number>();
    for (const m of this.members.values()) {
      const left = m.req.prompt.length - m.prefilled;
      if (m.next !== undefined || m.prefilled < 0 || left === 0 || room === 0) continue;
      chunk.set(m.seq, Math.min(left, room));
      room -= chunk.get(m.seq) as number;
    }
    // rows by sequence id: with a K/V stream per sequence llama.cpp runs consecutive ids as one ubatch
    const batch = new Batch();
    for (const m of [...this.members.values()].sort((a, b) => a.seq - b.seq)) {
      const n = chunk.get(m.seq);
      if (m.next !== undefined) batch.add(m.next, m.cont.nPast, m.seq, true);
      else if (n !== undefined) {
        batch.addSequence(m.req.prompt.slice(m.prefilled, m.prefilled + n), m.seq, m.prefilled, m.prefilled + n === m.req.prompt.length);
        m.prefilled += n;
      }
    }
    if (batch.length === 0) return;
    await this.ctx.decode(batch);
    this.memoryVersion = this.ctx.memoryVersion;
    for (let r = 0; r < batch.length; r++) {
      if (!batch.outputs[r]) continue;
      const m = this.members.get(batch.seqIds[r] as number);
      if (!m || m.cont.done) continue; // aborted while the step ran
      if (m.next !== undefined) m.cont.nPast++;
      // a sequence's answer may use its share of the cache: its prompt and max tokens were checked to fit
      const res = m.cont.next(this.ctx.logits(r), true);
      m.next = res.token;
      this.emit(m, res.events);
    }
  }
}
