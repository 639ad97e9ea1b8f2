// The vector math of SafeSteer on plain arrays, so it can be checked by hand.

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  return Math.sqrt(s);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = norm(a) * norm(b);
  return d === 0 ? 0 : dot(a, b) / d;
}

/** Mean of equal-length rows (float64 accumulation). */
export function meanOf(rows: ArrayLike<number>[], width: number): Float32Array {
  const acc = new Float64Array(width);
  for (const r of rows) for (let i = 0; i < width; i++) acc[i]! += r[i] as number;
  return Float32Array.from(acc, (x) => x / Math.max(rows.length, 1));
}

/** Mean and sample standard deviation (n - 1; 0 for fewer than two values). */
export function meanAndSd(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const v = values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1);
  return { mean, sd: Math.sqrt(v) };
}

/** Quantile with linear interpolation between order statistics (q = 0.5 is the median). */
export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/**
 * Cholesky factor L (row-major n x n, lower; A = L L^T) of a symmetric positive definite A.
 * Returns undefined when A is not positive definite (numerically), for the caller to explain.
 */
export function cholesky(a: Float64Array, n: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j] as number;
      for (let k = 0; k < j; k++) s -= (l[ri + k] as number) * (l[rj + k] as number);
      if (i === j) {
        if (!(s > 0)) return undefined;
        l[ri + i] = Math.sqrt(s);
      } else l[ri + j] = s / (l[rj + j] as number);
    }
  }
  return l;
}

/** Solves L L^T x = b given the Cholesky factor L (one factorization serves many right-hand sides). */
export function choleskySolve(l: Float64Array, b: ArrayLike<number>): Float64Array {
  const n = b.length;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i] as number;
    for (let k = 0; k < i; k++) s -= (l[i * n + k] as number) * (y[k] as number);
    y[i] = s / (l[i * n + i] as number);
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i] as number;
    for (let k = i + 1; k < n; k++) s -= (l[k * n + i] as number) * (x[k] as number);
    x[i] = s / (l[i * n + i] as number);
  }
  return x;
}

/**
 * Solves A x = b for a symmetric positive definite A (row-major n x n) by Cholesky decomposition.
 * Returns undefined when A is not positive definite (numerically), for the caller to explain.
 */
export function solveSpd(a: Float64Array, b: ArrayLike<number>): Float64Array | undefined {
  const l = cholesky(a, b.length);
  return l && choleskySolve(l, b);
}

/**
 * Gram matrix G[i][j] = dot(rows[i], rows[j]) (row-major n x n, symmetric): the detector's one
 * O(n^2 d) step. Blocks of 4 x 2 rows, so each element loaded serves several dot products.
 */
export function gram(rows: Float64Array[]): Float64Array {
  const n = rows.length;
  const g = new Float64Array(n * n);
  const width = rows[0]?.length ?? 0;
  const row = (i: number) => rows[Math.min(i, n - 1)] as Float64Array;
  const put = (i: number, j: number, v: number) => {
    if (i < n && j < n && j <= i) {
      g[i * n + j] = v;
      g[j * n + i] = v;
    }
  };
  for (let i = 0; i < n; i += 4) {
    const [a0, a1, a2, a3] = [row(i), row(i + 1), row(i + 2), row(i + 3)];
    for (let j = 0; j <= Math.min(i + 3, n - 1); j += 2) {
      const b0 = row(j);
      const b1 = row(j + 1);
      let s00 = 0;
      let s10 = 0;
      let s20 = 0;
      let s30 = 0;
      let s01 = 0;
      let s11 = 0;
      let s21 = 0;
      let s31 = 0;
      for (let k = 0; k < width; k++) {
        const x = b0[k] as number;
        const y = b1[k] as number;
        const p0 = a0[k] as number;
        const p1 = a1[k] as number;
        const p2 = a2[k] as number;
        const p3 = a3[k] as number;
        s00 += p0 * x;
        s10 += p1 * x;
        s20 += p2 * x;
        s30 += p3 * x;
        s01 += p0 * y;
        s11 += p1 * y;
        s21 += p2 * y;
        s31 += p3 * y;
      }
      put(i, j, s00);
      put(i + 1, j, s10);
      put(i + 2, j, s20);
      put(i + 3, j, s30);
      put(i, j + 1, s01);
      put(i + 1, j + 1, s11);
      put(i + 2, j + 1, s21);
      put(i + 3, j + 1, s31);
    }
  }
  return g;
}

export interface PrunedVector {
  vector: Float32Array;
  /** Indices (into the unsafe rows) of the kept examples. */
  kept: number[];
  /** ||d_i|| for every unsafe example, d_i = mean(safe) - act(u_i). */
  norms: number[];
}

/**
 * w = mean over kept i of d_i, d_i = mean(safe) - act(u_i). Pruning keeps the examples whose
 * ||d_i|| is at or above the (1 - keep) quantile: keep = 0.5 keeps those at or above the median.
 * keep = "off" keeps all, which is exactly mean(safe) - mean(unsafe).
 */
export function prunedDifference(safeMean: Float32Array, unsafe: ArrayLike<number>[], keep: number | "off"): PrunedVector {
  const w = safeMean.length;
  const diffs = unsafe.map((u) => Float32Array.from(safeMean, (s, i) => s - (u[i] as number)));
  const norms = diffs.map(norm);
  const threshold = keep === "off" ? Number.NEGATIVE_INFINITY : quantile(norms, 1 - keep);
  const kept = norms.flatMap((n, i) => (n >= threshold ? [i] : []));
  return {
    vector: meanOf(
      kept.map((i) => diffs[i] as Float32Array),
      w,
    ),
    kept,
    norms,
  };
}

/** Area under the ROC curve: P(score of a positive > score of a negative), ties count half. */
export function auroc(positives: number[], negatives: number[]): number {
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  const all = [...positives.map((s) => ({ s, p: 1 })), ...negatives.map((s) => ({ s, p: 0 }))].sort((a, b) => a.s - b.s);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && (all[j] as { s: number }).s === (all[i] as { s: number }).s) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if ((all[k] as { p: number }).p) rankSum += avgRank;
    i = j;
  }
  const nP = positives.length;
  return (rankSum - (nP * (nP + 1)) / 2) / (nP * negatives.length);
}
