// 95% intervals for everything a report states: a rate (Wilson score), a mean (percentile
// bootstrap) and a paired difference (bootstrap over prompts, so the seeds of one prompt move
// together). One module, so every table, results file and chart gets the same numbers.
import { Rng } from "../util/random.js";

/** A point estimate with its 95% interval and the number of units it rests on. */
export interface Estimate {
  value: number;
  lo: number;
  hi: number;
  n: number;
}

const Z95 = 1.959963984540054;
/** Bootstrap resamples: enough for stable 2.5% / 97.5% percentiles at report precision. */
const RESAMPLES = 2000;

/** Wilson score interval for k successes in n trials (well behaved at 0, 1 and small n). */
export function wilson(k: number, n: number, z = Z95): Estimate {
  if (!Number.isInteger(n) || n < 0 || k < 0 || k > n) throw new RangeError(`wilson: need 0 <= k <= n, got k=${k}, n=${n}`);
  if (n === 0) return { value: Number.NaN, lo: 0, hi: 1, n: 0 };
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { value: p, lo: Math.max(0, centre - half), hi: Math.min(1, centre + half), n };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/**
 * Mean over clusters (e.g. prompts) of per-unit values (e.g. one value per seed), with a percentile
 * bootstrap that resamples whole clusters: seeds of one prompt are not independent evidence.
 * `n` is the number of clusters. A flat list is a list of one-element clusters.
 */
export function clusteredMean(clusters: readonly (readonly number[])[], seed = 1): Estimate {
  const groups = clusters.filter((c) => c.length > 0);
  const n = groups.length;
  if (n === 0) return { value: Number.NaN, lo: Number.NaN, hi: Number.NaN, n: 0 };
  const sums = groups.map((g) => g.reduce((s, x) => s + x, 0));
  const sizes = groups.map((g) => g.length);
  const value = sums.reduce((s, x) => s + x, 0) / sizes.reduce((s, x) => s + x, 0);
  const rng = new Rng(seed);
  const draws: number[] = [];
  for (let b = 0; b < RESAMPLES; b++) {
    let s = 0;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      s += sums[j] as number;
      m += sizes[j] as number;
    }
    draws.push(s / m);
  }
  draws.sort((a, b) => a - b);
  return { value, lo: percentile(draws, 0.025), hi: percentile(draws, 0.975), n };
}

/** Mean of independent values with a percentile-bootstrap 95% interval. */
export function meanInterval(values: readonly number[], seed = 1): Estimate {
  return clusteredMean(
    values.map((v) => [v]),
    seed,
  );
}

/**
 * Difference of means (b - a) on paired data: `pairs[i]` holds prompt i's values under a and
 * under b (one or more seeds each). The bootstrap resamples prompts, keeping each pair together.
 */
export function pairedDifference(pairs: readonly { a: readonly number[]; b: readonly number[] }[], seed = 1): Estimate {
  const used = pairs.filter((p) => p.a.length > 0 && p.b.length > 0);
  const n = used.length;
  if (n === 0) return { value: Number.NaN, lo: Number.NaN, hi: Number.NaN, n: 0 };
  const d = used.map((p) => mean(p.b) - mean(p.a));
  const value = mean(d);
  const rng = new Rng(seed);
  const draws: number[] = [];
  for (let b = 0; b < RESAMPLES; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[rng.int(n)] as number;
    draws.push(s / n);
  }
  draws.sort((x, y) => x - y);
  return { value, lo: percentile(draws, 0.025), hi: percentile(draws, 0.975), n };
}

/** "12.5% [6.1, 23.9] n=40": how every rate is printed. */
export function formatRate(e: Estimate, digits = 1): string {
  if (e.n === 0 || Number.isNaN(e.value)) return `- n=0`;
  const pct = (x: number) => (100 * x).toFixed(digits);
  return `${pct(e.value)}% [${pct(e.lo)}, ${pct(e.hi)}] n=${e.n}`;
}

/** "+0.012 [-0.003, 0.027] n=40": how a mean or a difference is printed. */
export function formatEstimate(e: Estimate, digits = 3, signed = false): string {
  if (e.n === 0 || Number.isNaN(e.value)) return `- n=0`;
  const f = (x: number) => (signed && x >= 0 ? "+" : "") + x.toFixed(digits);
  return `${f(e.value)} [${f(e.lo)}, ${f(e.hi)}] n=${e.n}`;
}
