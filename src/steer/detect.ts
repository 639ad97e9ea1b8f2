// Conditional steering: find which categories a prompt touches from its own activations.
// Per category, a linear discriminant at one layer (the category's harmful prompts against every
// other calibration prompt, whitened by the prompts' within-class covariance), and a threshold on
// the prompt's projection. One threshold, in units of the benign prompts' spread, is set so that a
// set share of held-out benign prompts fire any category (the false-alarm budget). The layer is the
// one that names held-out harmful calibration prompts best.

import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import { activationRow, collectActivations } from "./collect.js";
import { SteerError } from "./errors.js";
import { dot, meanAndSd, meanOf, norm, solveSpd } from "./math.js";
import { renderExample } from "./render.js";
import type { CategoryDetector, Detection, Detector, DetectorPooling, FireMode, Policy } from "./types.js";

/** Default covariance shrinkage of the detector's discriminant directions. */
export const DEFAULT_SHRINKAGE = 0.1;

interface RunHooks {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Pooled activations of prompts rendered as a chat user turn (without an answer). */
function promptActivations(
  ctx: Context,
  prompts: string[],
  site: string,
  layers: number[],
  pooling: DetectorPooling,
  chat: boolean,
  run: RunHooks = {},
) {
  const texts = prompts.map((p) => renderExample(ctx.model, { prompt: p }, chat));
  return collectActivations(ctx, texts, { site, layers, reduce: pooling, signal: run.signal, onProgress: run.onProgress });
}

/**
 * One layer's category directions (Fisher's linear discriminant, one category against the rest):
 * d_c = mean(harmful prompts of c) - mean(the others), whitened by the within-class covariance of
 * the prompts (classes: each category, and the benign prompts), shrunk towards its mean variance.
 * Whitening discounts the directions in which wording varies (request frames, names), so a request
 * phrased in an unseen way still lands on its category.
 */
function fitDirections(rows: Float32Array[], cats: Array<string | undefined>, width: number, shrinkage: number) {
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
    );
    if (!w) {
      throw new SteerError(
        "not_enough_data",
        `the calibration prompts' covariance cannot be inverted (shrinkage ${shrinkage}; are the prompts' activations all alike?): raise --shrinkage (e.g. 0.5) or give more varied calibration prompts.`,
      );
    }
    const n = norm(w) || 1;
    out.set(
      c,
      Float32Array.from(w, (x) => x / n),
    );
  }
  return out;
}

/**
 * Thresholds for one layer's directions from benign prompts the directions were not fitted on: a
 * category's score is measured in its benign scores' standard deviations, and one threshold in
 * those units is set so that at most `falseAlarms` of these prompts fire any category.
 */
function setThresholds(dirs: Map<string, Float32Array>, benign: Float32Array[], layer: number, falseAlarms: number) {
  const stats = [...dirs].map(([c, direction]) => {
    const s = benign.map((r) => dot(r, direction));
    const { mean: mu, sd: spread } = meanAndSd(s);
    const sd = spread || 1;
    return { c, direction, mu, sd, z: s.map((x) => (x - mu) / sd) };
  });
  // the threshold is an order statistic: exactly floor(n * falseAlarms) of these prompts score above it
  const highest = benign.map((_, i) => Math.max(...stats.map((st) => st.z[i] as number))).sort((a, b) => a - b);
  const t = highest[highest.length - 1 - Math.floor(highest.length * falseAlarms)] as number;
  const categories: Record<string, CategoryDetector> = {};
  for (const st of stats) categories[st.c] = { layer, direction: st.direction, threshold: st.mu + t * st.sd, scale: st.sd };
  return categories;
}

/** Scores one prompt (its pooled activation per layer) against every category. */
function classify(pooledAt: (layer: number) => Float32Array, det: Detector): Detection {
  const scores: Record<string, number> = {};
  for (const [c, d] of Object.entries(det.categories)) scores[c] = (dot(pooledAt(d.layer), d.direction) - d.threshold) / d.scale;
  const fired = Object.keys(scores)
    .filter((c) => (scores[c] as number) > 0)
    .sort((a, b) => (scores[b] as number) - (scores[a] as number));
  return { fired, scores };
}

export interface DetectorCalibration {
  detector: Detector;
  /** The layer chosen (every category's direction lives there). */
  layer: number;
  /**
   * Per candidate layer, on the held-out quarter of the calibration prompts: the share of harmful
   * prompts named (their category fires first) at the false-alarm budget, and their mean score
   * (margin above threshold, in benign standard deviations) that breaks ties.
   */
  byLayer: Array<{ layer: number; score: number; margin: number }>;
}

/** Benign calibration prompts needed: a quarter of them sets the thresholds. */
const MIN_BENIGN = 20;

/**
 * Calibrates a detector from harmful prompts with categories and benign prompts (look-alikes
 * belong here: they are what the detector must not fire on). Every fourth prompt is held out:
 * directions are fitted on the rest, thresholds set on the held-out benign prompts, and the layer
 * is the one whose held-out harmful prompts are named best.
 */
export async function calibrateDetector(
  ctx: Context,
  harmful: Example[],
  benign: Example[],
  opts: {
    layers: number[];
    site?: string;
    reduce?: DetectorPooling;
    chat: boolean;
    /** Share of held-out benign calibration prompts allowed to fire any category (default 0.05). */
    falseAlarms?: number;
    /** Covariance shrinkage towards its mean variance (default 0.1; large values approach the plain mean difference). */
    shrinkage?: number;
    /**
     * Prompts worded otherwise than the calibration ones (another split): when given, directions are
     * fitted on every calibration prompt and the thresholds and the layer are set on these instead
     * of on every fourth calibration prompt, so the choice is validated on held-out wordings.
     */
    validation?: { harmful: Example[]; benign: Example[] };
  } & RunHooks,
): Promise<DetectorCalibration> {
  const site = opts.site ?? "resid_post";
  const reduce = opts.reduce ?? "mean";
  const falseAlarms = opts.falseAlarms ?? 0.05;
  const shrinkage = opts.shrinkage ?? DEFAULT_SHRINKAGE;
  if (benign.length < MIN_BENIGN)
    throw new SteerError(
      "not_enough_data",
      `calibrating the detector needs at least ${MIN_BENIGN} benign prompts (got ${benign.length}): a quarter of them sets the thresholds.`,
    );
  if (!harmful.some((e) => e.category))
    throw new SteerError("not_enough_data", "calibrating the detector needs harmful prompts with a category.");
  if (opts.layers.length === 0) throw new SteerError("bad_argument", "calibrating the detector needs at least one layer.");
  if (!(shrinkage > 0))
    throw new SteerError("bad_argument", `the detector's shrinkage must be a number above 0 (e.g. 0.1), not ${shrinkage}.`);
  // harmful prompts carry their category, benign ones none: the fitting prompts, then the validation ones
  const labelled = (h: Example[], b: Example[]) => [
    ...h.filter((e) => e.category).map((e) => ({ e, c: e.category })),
    ...b.map((e) => ({ e, c: undefined })),
  ];
  const fitting = labelled(harmful, benign);
  const held = opts.validation ? labelled(opts.validation.harmful, opts.validation.benign) : [];
  const all = [...fitting, ...held].map((x) => x.e);
  const cats = [...fitting, ...held].map((x) => x.c);
  const acts = await promptActivations(
    ctx,
    all.map((e) => e.prompt),
    site,
    opts.layers,
    reduce,
    opts.chat,
    opts,
  );
  const width = acts.width;
  const every = all.map((_, i) => i);
  const fitIdx = held.length ? every.filter((i) => i < fitting.length) : every.filter((i) => i % 4 !== 3);
  const valIdx = held.length ? every.filter((i) => i >= fitting.length) : every.filter((i) => i % 4 === 3);
  const candidates = opts.layers.map((layer) => {
    const row = (i: number) => activationRow(acts, layer, i);
    const dirs = fitDirections(
      fitIdx.map(row),
      fitIdx.map((i) => cats[i]),
      width,
      shrinkage,
    );
    const det: Detector = {
      site,
      reduce,
      categories: setThresholds(dirs, valIdx.filter((i) => cats[i] === undefined).map(row), layer, falseAlarms),
    };
    const harmfulVal = valIdx.filter((i) => cats[i] !== undefined);
    const dets = harmfulVal.map((i) => classify((l) => activationRow(acts, l, i), det));
    const score = dets.filter((d, k) => d.fired[0] === cats[harmfulVal[k] as number]).length / Math.max(1, harmfulVal.length);
    const margin = dets.reduce((a, d, k) => a + (d.scores[cats[harmfulVal[k] as number] as string] ?? 0), 0) / Math.max(1, dets.length);
    return { layer, score, margin, det };
  });
  const best = candidates.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.margin > a.margin) ? b : a));
  return { detector: best.det, layer: best.layer, byLayer: candidates.map(({ layer, score, margin }) => ({ layer, score, margin })) };
}

/** Scores prompts against every category; a category fires above its threshold. */
export async function detect(ctx: Context, det: Detector, prompts: string[], chat: boolean): Promise<Detection[]> {
  const layers = [...new Set(Object.values(det.categories).map((c) => c.layer))];
  const acts = await promptActivations(ctx, prompts, det.site, layers, det.reduce, chat);
  return prompts.map((_, i) => classify((l) => activationRow(acts, l, i), det));
}

/** The part of a policy that conditional steering applies to a prompt with this detection. */
export function conditionalPolicy(policy: Policy, detection: Detection, fire: FireMode = "all"): Policy {
  const fired = detection.fired.filter((c) => policy[c] !== undefined);
  return Object.fromEntries((fire === "top" ? fired.slice(0, 1) : fired).map((c) => [c, policy[c] as number]));
}
