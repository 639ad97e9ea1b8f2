// The detector's linear algebra: one layer's category directions, whitened by the prompts'
// within-class covariance. The covariance is factorized once per layer for every category, in
// whichever form is smaller: width x width (primal) when there are at least as many prompts as
// width, else prompts x prompts (dual, Woodbury), so a 4096-wide model with a few hundred prompts
// costs O(n^2 d) per layer instead of O(d^3) per category.

import { SteerError } from "./errors.js";
import { cholesky, choleskySolve, dot, gram, meanOf, norm } from "./math.js";

/** Solves (C^T C / n + ridge I) w = b for many b, where C holds the n centred rows. */
type Solver = (b: ArrayLike<number>) => Float64Array;

/** Primal: the width x width covariance, factorized once. */
function primalSolver(centred: Float64Array[], width: number, ridge: number): Solver | undefined {
  const n = centred.length;
  // C^T C is the Gram matrix of C's columns
  const columns = Array.from({ length: width }, (_, a) => Float64Array.from(centred, (r) => r[a] as number));
  const cov = gram(columns);
  for (let k = 0; k < cov.length; k++) cov[k]! /= n;
  for (let a = 0; a < width; a++) cov[a * width + a]! += ridge;
  const l = cholesky(cov, width);
  return l && ((b) => choleskySolve(l, b));
}

/**
 * Dual (Woodbury): (C^T C / n + r I)^-1 b = (b - C^T (C C^T / n + r I)^-1 (C b) / n) / r, so only
 * the n x n matrix C C^T / n + r I is factorized.
 */
function dualSolver(centred: Float64Array[], width: number, ridge: number): Solver | undefined {
  const n = centred.length;
  const k = gram(centred);
  for (let i = 0; i < k.length; i++) k[i]! /= n;
  for (let i = 0; i < n; i++) k[i * n + i]! += ridge;
  const l = cholesky(k, n);
  if (!l) return undefined;
  return (b) => {
    const z = choleskySolve(
      l,
      centred.map((r) => dot(r, b) / n),
    );
    const w = Float64Array.from(b, (x) => x);
    centred.forEach((r, i) => {
      const zi = z[i] as number;
      for (let a = 0; a < width; a++) w[a]! -= (r[a] as number) * zi;
    });
    for (let a = 0; a < width; a++) w[a]! /= ridge;
    return w;
  };
}

/**
 * One layer's category directions (Fisher's linear discriminant, one category against the rest):
 * d_c = mean(harmful prompts of c) - mean(the others), whitened by the within-class covariance of
 * the prompts (classes: each category, and the benign prompts), shrunk towards its mean variance.
 * Whitening discounts the directions in which wording varies (request frames, names), so a request
 * phrased in an unseen way still lands on its category. Rows with category undefined are benign.
 */
export function fitDirections(
  rows: Float32Array[],
  cats: Array<string | undefined>,
  width: number,
  shrinkage: number,
): Map<string, Float32Array> {
  const classes = [...new Set(cats.map((c) => c ?? ""))];
  const means = new Map(
    classes.map((k) => [
      k,
      meanOf(
        rows.filter((_, i) => (cats[i] ?? "") === k),
        width,
      ),
    ]),
  );
  const centred = rows.map((r, i) => {
    const m = means.get(cats[i] ?? "") as Float32Array;
    return Float64Array.from(r, (x, k) => x - (m[k] as number));
  });
  // the covariance's trace is the rows' mean squared norm
  const trace = centred.reduce((s, c) => s + dot(c, c), 0) / Math.max(1, rows.length);
  const ridge = (shrinkage * trace) / width + 1e-12;
  const solve = rows.length < width ? dualSolver(centred, width, ridge) : primalSolver(centred, width, ridge);
  if (!solve) {
    throw new SteerError(
      "not_enough_data",
      `the calibration prompts' covariance cannot be inverted (shrinkage ${shrinkage}; are the prompts' activations all alike?): raise --shrinkage (e.g. 0.5) or give more varied calibration prompts.`,
    );
  }
  const out = new Map<string, Float32Array>();
  for (const c of [...new Set(cats.filter((x): x is string => x !== undefined))].sort()) {
    const pos = rows.filter((_, i) => cats[i] === c);
    const neg = rows.filter((_, i) => cats[i] !== c);
    if (pos.length === 0 || neg.length === 0) continue;
    const mp = meanOf(pos, width);
    const mn = meanOf(neg, width);
    const w = solve(mp.map((x, k) => x - (mn[k] as number)));
    const n = norm(w) || 1;
    out.set(
      c,
      Float32Array.from(w, (x) => x / n),
    );
  }
  return out;
}
