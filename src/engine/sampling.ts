// Token sampling over a logits row, deterministic for a given seed.
import { Rng } from "../util/random.js";
import { EngineError } from "./errors.js";

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). */
  topK?: number;
  /** Nucleus: keep the smallest set whose probability reaches p (1 = off). */
  topP?: number;
  /** Drop tokens below minP x the top probability (0 = off). */
  minP?: number;
  seed?: number;
}

export const DEFAULT_SAMPLING: Required<SamplingOptions> = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 0 };

export function validateSampling(o: SamplingOptions): Required<SamplingOptions> {
  const s = { ...DEFAULT_SAMPLING, ...o };
  const bad = (what: string) => {
    throw new EngineError("bad_argument", `invalid sampling option: ${what}`);
  };
  if (!(s.temperature >= 0) || !Number.isFinite(s.temperature)) bad(`temperature ${s.temperature} (must be >= 0)`);
  if (!Number.isInteger(s.topK) || s.topK < 0) bad(`top-k ${s.topK} (an integer >= 0)`);
  if (!(s.topP > 0 && s.topP <= 1)) bad(`top-p ${s.topP} (in (0, 1])`);
  if (!(s.minP >= 0 && s.minP < 1)) bad(`min-p ${s.minP} (in [0, 1))`);
  if (!Number.isInteger(s.seed)) bad(`seed ${s.seed} (an integer)`);
  return s;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i] as number;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** Indices of the k largest values, largest first. */
function topIndices(logits: ArrayLike<number>, k: number): number[] {
  const n = logits.length;
  if (k <= 0 || k >= n) return Array.from({ length: n }, (_, i) => i).sort((a, b) => (logits[b] as number) - (logits[a] as number));
  // keep a small sorted window; vocabularies are large and k is small
  const idx: number[] = [];
  let minV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i] as number;
    if (idx.length === k && v <= minV) continue;
    let lo = 0;
    let hi = idx.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((logits[idx[mid] as number] as number) >= v) lo = mid + 1;
      else hi = mid;
    }
    idx.splice(lo, 0, i);
    if (idx.length > k) idx.pop();
    minV = logits[idx[idx.length - 1] as number] as number;
  }
  return idx;
}

/** Index bits in a sort key: vocabularies up to 2^21 tokens (larger ones sort the slow way). */
const INDEX_BITS = 2 ** 21;

/**
 * Every index of a float32 row, largest value first and equal values in index order: the order of a
 * stable sort by value (ties: -0 and 0, equal infinities), as one native numeric sort of keys that
 * pack the value's bits and the index into a double. False (keys untouched) when the row has a NaN
 * or is too long for the keys: the caller sorts the slow way.
 */
function sortDescending(logits: Float32Array, keys: Float64Array): boolean {
  const n = logits.length;
  if (n > INDEX_BITS || logits.byteOffset % 4 !== 0) return false;
  const bits = new Uint32Array(logits.buffer, logits.byteOffset, n);
  for (let i = 0; i < n; i++) {
    let b = bits[i] as number;
    if ((b & 0x7fffffff) > 0x7f800000) return false; // NaN: the comparison sort's order is the reference
    if (b === 0x80000000) b = 0; // -0 compares equal to 0
    // bits increasing with the value, then flipped: ascending keys are descending values
    const up = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - up) * INDEX_BITS + i;
  }
  keys.sort();
  return true;
}

export class Sampler {
  readonly options: Required<SamplingOptions>;
  private readonly rng: Rng;
  /** Scratch rows, reused from token to token: sort keys, candidate indices and their probabilities. */
  private keys = new Float64Array(0);
  private cand = new Uint32Array(0);
  private probs = new Float64Array(0);

  constructor(options: SamplingOptions = {}) {
    this.options = validateSampling(options);
    this.rng = new Rng(this.options.seed);
  }

  /** The candidates, most likely first (all tokens unless top-k), ties in index order. */
  private candidates(logits: ArrayLike<number>, topK: number): ArrayLike<number> {
    const n = logits.length;
    if (topK > 0 && topK < n) return topIndices(logits, topK);
    if (!(logits instanceof Float32Array)) return topIndices(logits, topK);
    if (this.keys.length < n) {
      this.keys = new Float64Array(n);
      this.cand = new Uint32Array(n);
    }
    const keys = this.keys.subarray(0, n);
    if (!sortDescending(logits, keys)) return topIndices(logits, topK);
    const cand = this.cand;
    for (let i = 0; i < n; i++) cand[i] = (keys[i] as number) % INDEX_BITS;
    return cand.subarray(0, n);
  }

  sample(logits: ArrayLike<number>): number {
    const { temperature, topK, topP, minP } = this.options;
    if (temperature === 0) return argmax(logits);
    const cand = this.candidates(logits, topK);
    const m = cand.length;
    if (this.probs.length < m) this.probs = new Float64Array(m);
    const probs = this.probs;
    // the arithmetic, in its order, is that of the answers already given: the same seed, the same token
    const maxL = logits[cand[0] as number] as number;
    let total = 0;
    for (let i = 0; i < m; i++) {
      const p = Math.exp(((logits[cand[i] as number] as number) - maxL) / temperature);
      probs[i] = p;
      total += p;
    }
    for (let i = 0; i < m; i++) probs[i] = (probs[i] as number) / total;
    let keep = m;
    if (minP > 0) {
      const cut = (probs[0] as number) * minP;
      let below = -1;
      for (let i = 0; i < m; i++)
        if ((probs[i] as number) < cut) {
          below = i;
          break;
        }
      keep = Math.max(1, below === -1 ? keep : below);
    }
    if (topP < 1) {
      let acc = 0;
      for (let i = 0; i < keep; i++) {
        acc += probs[i] as number;
        if (acc >= topP) {
          keep = i + 1;
          break;
        }
      }
    }
    total = 0;
    for (let i = 0; i < keep; i++) total += probs[i] as number;
    let r = this.rng.next() * total;
    for (let i = 0; i < keep; i++) {
      r -= probs[i] as number;
      if (r <= 0) return cand[i] as number;
    }
    return cand[keep - 1] as number;
  }
}
