import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Example } from "../../src/data/example.js";
import { loadDataset } from "../../src/data/load.js";
import { Context } from "../../src/engine/context.js";
import { Model } from "../../src/engine/model.js";
import { writeOrganismFiles } from "../../src/organism/files.js";
import { activationRow, collectActivations } from "../../src/steer/collect.js";
import { calibrateDetector, setThresholds } from "../../src/steer/detect.js";
import { fitDirections } from "../../src/steer/discriminant.js";
import { dot, gram, meanOf, norm, solveSpd } from "../../src/steer/math.js";
import { renderExample } from "../../src/steer/render.js";
import { Rng } from "../../src/util/random.js";
import { ROOT, tmpFile } from "../support/models.js";

/**
 * The reference: the detector's directions as first written (one width x width covariance, and one
 * Cholesky factorization of it per category), kept here only to check the faster forms against.
 */
function referenceDirections(rows: Float32Array[], cats: Array<string | undefined>, width: number, shrinkage: number) {
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
  const cov = new Float64Array(width * width);
  rows.forEach((r, i) => {
    const m = means.get(cats[i] ?? "") as Float32Array;
    const c = Float64Array.from(r, (x, k) => x - (m[k] as number));
    for (let a = 0; a < width; a++)
      for (let b = 0; b < width; b++) cov[a * width + b]! += ((c[a] as number) * (c[b] as number)) / rows.length;
  });
  let trace = 0;
  for (let a = 0; a < width; a++) trace += cov[a * width + a] as number;
  for (let a = 0; a < width; a++) cov[a * width + a]! += (shrinkage * trace) / width + 1e-12;
  const out = new Map<string, Float32Array>();
  for (const c of [...new Set(cats.filter((x): x is string => x !== undefined))].sort()) {
    const pos = rows.filter((_, i) => cats[i] === c);
    const neg = rows.filter((_, i) => cats[i] !== c);
    if (pos.length === 0 || neg.length === 0) continue;
    const mp = meanOf(pos, width);
    const mn = meanOf(neg, width);
    const w = solveSpd(
      cov,
      mp.map((x, k) => x - (mn[k] as number)),
    ) as Float64Array;
    const n = norm(w) || 1;
    out.set(
      c,
      Float32Array.from(w, (x) => x / n),
    );
  }
  return out;
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>) {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let worst = 0;
  for (const [c, v] of a) {
    const w = b.get(c) as Float32Array;
    for (let k = 0; k < v.length; k++) worst = Math.max(worst, Math.abs((v[k] as number) - (w[k] as number)));
  }
  return worst;
}

/** Rows with a category signal and correlated noise (a low-rank wording component), like activations. */
function syntheticRows(n: number, width: number, seed: number) {
  const rng = new Rng(seed);
  const cats = ["a", "b", "c", undefined];
  const centres = cats.map(() => Float32Array.from({ length: width }, () => rng.normal()));
  const wording = Array.from({ length: 5 }, () => Float32Array.from({ length: width }, () => rng.normal() * 3));
  const labels = Array.from({ length: n }, (_, i) => cats[i % cats.length]);
  const rows = labels.map((_, i) => {
    const c = centres[i % cats.length] as Float32Array;
    const coef = wording.map(() => rng.normal());
    return Float32Array.from(c, (x, k) => x + rng.normal() + wording.reduce((s, w, j) => s + (w[k] as number) * (coef[j] as number), 0));
  });
  return { rows, labels };
}

describe("the detector's discriminant directions", () => {
  it("the Gram matrix is every pair's dot product", () => {
    const rng = new Rng(4);
    for (const n of [1, 3, 4, 7]) {
      const rows = Array.from({ length: n }, () => Float64Array.from({ length: 9 }, () => rng.normal()));
      const g = gram(rows);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) assert.ok(Math.abs((g[i * n + j] as number) - dot(rows[i]!, rows[j]!)) < 1e-12, `${n}: ${i},${j}`);
    }
  });

  for (const [n, width, form] of [
    [60, 200, "dual: fewer prompts than width"],
    [300, 48, "primal: more prompts than width"],
    [64, 64, "primal: as many prompts as width"],
  ] as const) {
    it(`match the per-category reference solve to 1e-6 (${form})`, () => {
      const { rows, labels } = syntheticRows(n, width, n + width);
      for (const shrinkage of [0.01, 0.1, 1]) {
        const ref = referenceDirections(rows, labels, width, shrinkage);
        const got = fitDirections(rows, labels, width, shrinkage);
        const d = maxDiff(got, ref);
        assert.ok(d < 1e-6, `shrinkage ${shrinkage}: largest difference ${d}`);
        // and the directions are not trivial: whitening moved them away from the plain mean difference
        assert.ok(norm(got.get("a") as Float32Array) > 0.999);
      }
    });
  }
});

describe("the calibrated detector against the reference solve (organism activations)", () => {
  let model: Model;
  let ctx: Context;
  let train: Example[];
  before(() => {
    model = Model.load(join(ROOT, "models", "organism.gguf"));
    ctx = new Context(model, { nCtx: 1024, nSeq: 16 });
    train = loadDataset(writeOrganismFiles(tmpFile("discriminant-world")).trainPrompts).examples;
  });
  after(() => {
    ctx.dispose();
    model.dispose();
  });

  // the organism is 64 wide: all training prompts take the primal form, 40 + 24 of them the dual one
  for (const [label, nHarmful, nBenign] of [
    ["primal", Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY],
    ["dual", 40, 24],
  ] as const) {
    it(`same directions, thresholds and scores to 1e-6 (${label} form)`, async () => {
      const harmful = train.filter((e) => e.meta?.kind === "harmful").slice(0, nHarmful);
      const benign = train.filter((e) => e.meta?.kind !== "harmful").slice(0, nBenign);
      const layer = 2;
      const { detector } = await calibrateDetector(ctx, harmful, benign, { layers: [layer], chat: true });
      // the reference, from the same activations and the same split as calibrateDetector's
      const all = [...harmful, ...benign];
      const cats = all.map((e, i) => (i < harmful.length ? e.category : undefined));
      const texts = all.map((e) => renderExample(model, { prompt: e.prompt }, true));
      const acts = await collectActivations(ctx, texts, { site: "resid_post", layers: [layer], reduce: "mean" });
      const row = (i: number) => activationRow(acts, layer, i);
      const fit = all.map((_, i) => i).filter((i) => i % 4 !== 3);
      assert.equal(fit.length < acts.width, label === "dual", `${fit.length} fitted rows, width ${acts.width}`);
      const refDirs = referenceDirections(
        fit.map(row),
        fit.map((i) => cats[i]),
        acts.width,
        0.1,
      );
      const heldBenign = all.map((_, i) => i).filter((i) => i % 4 === 3 && cats[i] === undefined);
      const ref = setThresholds(refDirs, heldBenign.map(row), layer, 0.05);
      assert.deepEqual(Object.keys(detector.categories), Object.keys(ref));
      let worst = 0;
      for (const [c, d] of Object.entries(detector.categories)) {
        const r = ref[c]!;
        assert.equal(d.layer, r.layer);
        for (let k = 0; k < d.direction.length; k++) worst = Math.max(worst, Math.abs(d.direction[k]! - r.direction[k]!));
        worst = Math.max(worst, Math.abs(d.threshold - r.threshold), Math.abs(d.scale - r.scale) / r.scale);
        for (let i = 0; i < all.length; i++) {
          const s = (dot(row(i), d.direction) - d.threshold) / d.scale;
          const sr = (dot(row(i), r.direction) - r.threshold) / r.scale;
          worst = Math.max(worst, Math.abs(s - sr));
        }
      }
      assert.ok(worst < 1e-6, `largest difference in a direction, threshold or score: ${worst}`);
    });
  }
});
