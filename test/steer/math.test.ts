import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { auroc, cosine, meanAndSd, meanOf, prunedDifference, quantile, solveSpd } from "../../src/steer/math.js";

describe("SafeSteer vector math on a hand-checkable fixture", () => {
  // safe rows mean (2, 0); unsafe rows at distances 1, 2, 3, 4, 5 from it along different axes
  const safe = [Float32Array.of(1, 0), Float32Array.of(3, 0)];
  const unsafe = [Float32Array.of(1, 0), Float32Array.of(2, 2), Float32Array.of(2, -3), Float32Array.of(-2, 0), Float32Array.of(2, 5)];

  it("difference of means: mean(safe) - mean(unsafe)", () => {
    const sm = meanOf(safe, 2);
    assert.deepEqual(Array.from(sm), [2, 0]);
    const { vector, kept } = prunedDifference(sm, unsafe, "off");
    // mean(unsafe) = (5/5, 4/5) = (1, 0.8)  ->  w = (1, -0.8)
    assert.deepEqual(kept, [0, 1, 2, 3, 4]);
    assert.ok(Math.abs(vector[0]! - 1) < 1e-6 && Math.abs(vector[1]! + 0.8) < 1e-6, Array.from(vector).join());
  });

  it("pruning keeps exactly the examples at or above the median difference norm", () => {
    const { vector, kept, norms } = prunedDifference(meanOf(safe, 2), unsafe, 0.5);
    assert.deepEqual(
      norms.map((n) => Math.round(n * 1e6) / 1e6),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(kept, [2, 3, 4], "median 3: norms 3, 4, 5 kept");
    // d = (0,3), (4,0), (0,-5)  ->  mean (4/3, -2/3)
    assert.ok(Math.abs(vector[0]! - 4 / 3) < 1e-6 && Math.abs(vector[1]! + 2 / 3) < 1e-6);
    // an even count: median between the two middle norms
    const four = prunedDifference(meanOf(safe, 2), unsafe.slice(0, 4), 0.5);
    assert.deepEqual(four.kept, [2, 3], "median 2.5: norms 3 and 4 kept");
    // other kept fractions
    assert.deepEqual(prunedDifference(meanOf(safe, 2), unsafe, 0.2).kept, [4]);
    assert.deepEqual(prunedDifference(meanOf(safe, 2), unsafe, 1).kept, [0, 1, 2, 3, 4]);
  });

  it("quantile, AUROC and cosine", () => {
    assert.equal(quantile([5, 1, 3], 0.5), 3);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(auroc([3, 4], [1, 2]), 1);
    assert.equal(auroc([1, 2], [3, 4]), 0);
    assert.equal(auroc([1, 3], [2, 2]), 0.5);
    assert.equal(auroc([2], [2]), 0.5);
    assert.ok(Math.abs(cosine([1, 0], [1, 1]) - Math.SQRT1_2) < 1e-12);
  });

  it("mean and sample standard deviation", () => {
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, sample variance 32 / 7
    const { mean, sd } = meanAndSd([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(mean, 5);
    assert.ok(Math.abs(sd - Math.sqrt(32 / 7)) < 1e-12);
    assert.deepEqual(meanAndSd([3]), { mean: 3, sd: 0 });
  });

  it("solves a symmetric positive definite system (the detector's whitening), and refuses an indefinite one", () => {
    // [[4, 2], [2, 3]] x = [2, 1]  ->  x = (0.5, 0)
    const x = solveSpd(Float64Array.of(4, 2, 2, 3), [2, 1]) as Float64Array;
    assert.ok(Math.abs(x[0]! - 0.5) < 1e-12 && Math.abs(x[1]!) < 1e-12, Array.from(x).join());
    assert.equal(solveSpd(Float64Array.of(1, 2, 2, 1), [1, 1]), undefined, "not positive definite");
  });
});
