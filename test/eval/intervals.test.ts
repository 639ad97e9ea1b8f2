import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clusteredMean, formatRate, meanInterval, pairedDifference, wilson } from "../../src/eval/intervals.js";

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

describe("intervals", () => {
  it("Wilson matches Newcombe (1998, Stat Med 17:857, table I) to 4 decimals", () => {
    // Newcombe's worked examples, method 3 (score interval without continuity correction)
    const cases: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [k, n, lo, hi] of cases) {
      const e = wilson(k, n);
      close(e.lo, lo, 6e-5, `${k}/${n} lo`);
      close(e.hi, hi, 6e-5, `${k}/${n} hi`);
      assert.equal(e.n, n);
    }
    assert.throws(() => wilson(3, 2), /k <= n/);
    assert.equal(formatRate(wilson(0, 30)), "0.0% [0.0, 11.4] n=30");
  });

  it("bootstrap intervals cover the mean, shrink with n, and are reproducible by seed", () => {
    const small = meanInterval([0, 1, 0, 1, 1, 0, 1, 0]);
    const large = meanInterval(Array.from({ length: 800 }, (_, i) => i % 2));
    assert.equal(small.value, 0.5);
    assert.ok(small.lo < 0.5 && small.hi > 0.5);
    assert.ok(large.hi - large.lo < (small.hi - small.lo) / 5, "width falls like 1/sqrt(n)");
    assert.deepEqual(meanInterval([3, 1, 4, 1, 5], 7), meanInterval([3, 1, 4, 1, 5], 7));
  });

  it("clusters resample whole prompts: identical seeds do not count as independent evidence", () => {
    const flat = meanInterval([0, 1, 0, 1]);
    const cloned = clusteredMean([
      [0, 0, 0],
      [1, 1, 1],
      [0, 0, 0],
      [1, 1, 1],
    ]);
    assert.equal(cloned.n, 4);
    close(cloned.hi - cloned.lo, flat.hi - flat.lo, 1e-12, "same width as one value per prompt");
  });

  it("paired difference: a constant shift has a zero-width interval; a noisy one straddles its mean", () => {
    const shift = pairedDifference([0.1, 0.4, 0.3, 0.9].map((a) => ({ a: [a], b: [a + 0.25] })));
    close(shift.value, 0.25, 1e-12, "shift");
    close(shift.hi - shift.lo, 0, 1e-12, "width");
    const noisy = pairedDifference(Array.from({ length: 50 }, (_, i) => ({ a: [i % 3], b: [(i * 7) % 5] })));
    assert.ok(noisy.lo < noisy.value && noisy.value < noisy.hi);
    assert.equal(noisy.n, 50);
  });
});
