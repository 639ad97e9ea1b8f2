// Small order statistics the benches report (a percentile, a median with its range).

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

/** The median (middle of the sorted values, the mean of the middle two for an even count), min and max. */
export function spread(xs: number[]): { median: number; min: number; max: number } {
  if (xs.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  const median = s.length % 2 ? (s[h] as number) : ((s[h - 1] as number) + (s[h] as number)) / 2;
  return { median, min: s[0] as number, max: s[s.length - 1] as number };
}

/** The median of the values (NaN for none). */
export const median = (xs: number[]): number => spread(xs).median;
