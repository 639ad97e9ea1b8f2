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

export class Sampler {
  readonly options: Required<SamplingOptions>;
  private readonly rng: Rng;

  constructor(options: SamplingOptions = {}) {
    this.options = validateSampling(options);
    this.rng = new Rng(this.options.seed);
  }

  sample(logits: ArrayLike<number>): number {
    const { temperature, topK, topP, minP } = this.options;
    if (temperature === 0) return argmax(logits);
    const cand = topIndices(logits, topK);
    const maxL = logits[cand[0] as number] as number;
    let probs = cand.map((i) => Math.exp(((logits[i] as number) - maxL) / temperature));
    let total = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / total);
    let keep = probs.length;
    if (minP > 0) {
      const cut = (probs[0] as number) * minP;
      keep = Math.max(1, probs.findIndex((p) => p < cut) === -1 ? keep : probs.findIndex((p) => p < cut));
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
