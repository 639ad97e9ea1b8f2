// Conditional steering: find which categories a prompt touches from its own activations.
// Per category, a direction d_c = mean(harmful prompts of c) - mean(every other calibration prompt:
// benign, look-alike and the other categories) at one layer, and a threshold on the prompt's
// projection that a set share of benign calibration prompts exceed (the false-alarm budget). The
// layer is the one that names categories best on a validation share of the calibration prompts.

import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import { activationRow, collectActivations } from "./collect.js";
import { SteerError } from "./errors.js";
import { dot, meanOf, norm, quantile } from "./math.js";
import { renderExample } from "./render.js";

/** How a prompt's token activations become one vector: their mean (as for the vectors) or the last token's. */
export type DetectorPooling = "mean" | "last";
export const DETECTOR_POOLINGS: readonly DetectorPooling[] = ["mean", "last"];

export interface CategoryDetector {
  layer: number;
  /** Unit direction from the other prompts towards this category's harmful prompts. */
  direction: Float32Array;
  threshold: number;
  /** Spread of the benign prompts' scores, to compare margins across categories. */
  scale: number;
}

export interface Detector {
  site: string;
  reduce: DetectorPooling;
  categories: Record<string, CategoryDetector>;
}

export interface Detection {
  /** Categories whose score is above threshold, most confident first. */
  fired: string[];
  scores: Record<string, number>;
}

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
 * Fits one layer's category directions and thresholds on the given prompts (pooled rows). A
 * category's threshold lets through at most `falseAlarms` of the benign prompts (their score
 * quantile): a false-positive budget rather than the best balanced accuracy on the calibration
 * prompts, which sits too close to their wording and misses requests phrased another way.
 */
function fit(pooled: Float32Array[], cats: Array<string | undefined>, width: number, layer: number, falseAlarms: number) {
  const categories: Record<string, CategoryDetector> = {};
  for (const c of [...new Set(cats.filter((x): x is string => x !== undefined))].sort()) {
    const isPos = cats.map((x) => x === c);
    const pos = pooled.filter((_, i) => isPos[i]);
    const neg = pooled.filter((_, i) => !isPos[i]);
    if (pos.length === 0 || neg.length === 0) continue;
    const mp = meanOf(pos, width);
    const mn = meanOf(neg, width);
    const d = mp.map((x, k) => x - (mn[k] as number));
    const n = norm(d) || 1;
    const direction = d.map((x) => x / n);
    const benign = pooled.filter((_, i) => cats[i] === undefined).map((r) => dot(r, direction));
    const mu = benign.reduce((a, b) => a + b, 0) / benign.length;
    const sd = Math.sqrt(benign.reduce((a, b) => a + (b - mu) ** 2, 0) / Math.max(1, benign.length - 1));
    categories[c] = { layer, direction, threshold: quantile(benign, 1 - falseAlarms), scale: sd || 1 };
  }
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

/** Validation quality of a detector: harmful prompts named correctly, other prompts left alone. */
function balancedAccuracy(dets: Detection[], cats: Array<string | undefined>): number {
  let harmful = 0;
  let named = 0;
  let other = 0;
  let quiet = 0;
  dets.forEach((d, i) => {
    if (cats[i] === undefined) {
      other++;
      if (d.fired.length === 0) quiet++;
    } else {
      harmful++;
      if (d.fired[0] === cats[i]) named++;
    }
  });
  return (named / Math.max(1, harmful) + quiet / Math.max(1, other)) / 2;
}

export interface DetectorCalibration {
  detector: Detector;
  /** The layer chosen (every category's direction lives there). */
  layer: number;
  /** Validation balanced accuracy per candidate layer (the best one is used). */
  byLayer: Array<{ layer: number; score: number }>;
}

/**
 * Calibrates a detector from harmful prompts with categories and benign prompts (look-alikes
 * belong here: they are what the detector must not fire on). With several candidate layers, every
 * fourth prompt is held out to choose the layer, then the detector is refitted on all prompts.
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
    /** Share of the benign calibration prompts each category may fire on (default 0.05). */
    falseAlarms?: number;
  } & RunHooks,
): Promise<DetectorCalibration> {
  const site = opts.site ?? "resid_post";
  const reduce = opts.reduce ?? "mean";
  const falseAlarms = opts.falseAlarms ?? 0.05;
  if (benign.length === 0) throw new SteerError("not_enough_data", "calibrating the detector needs benign prompts.");
  if (!harmful.some((e) => e.category))
    throw new SteerError("not_enough_data", "calibrating the detector needs harmful prompts with a category.");
  if (opts.layers.length === 0) throw new SteerError("bad_argument", "calibrating the detector needs at least one layer.");
  const all = [...harmful.filter((e) => e.category), ...benign];
  const cats = all.map((e, i) => (i < all.length - benign.length ? e.category : undefined));
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
  const at = (layer: number, idx: number[]) => idx.map((i) => activationRow(acts, layer, i));
  const every = all.map((_, i) => i);
  let byLayer = [{ layer: opts.layers[0] as number, score: Number.NaN }];
  if (opts.layers.length > 1) {
    const val = every.filter((i) => i % 4 === 3);
    const fitIdx = every.filter((i) => i % 4 !== 3);
    byLayer = opts.layers.map((layer) => {
      const fitCats = fitIdx.map((i) => cats[i]);
      const det: Detector = { site, reduce, categories: fit(at(layer, fitIdx), fitCats, width, layer, falseAlarms) };
      const dets = val.map((i) => classify((l) => activationRow(acts, l, i), det));
      return {
        layer,
        score: balancedAccuracy(
          dets,
          val.map((i) => cats[i]),
        ),
      };
    });
  }
  const layer = byLayer.reduce((a, b) => (b.score > a.score ? b : a)).layer;
  return { detector: { site, reduce, categories: fit(at(layer, every), cats, width, layer, falseAlarms) }, layer, byLayer };
}

/** Scores prompts against every category; a category fires above its threshold. */
export async function detect(ctx: Context, det: Detector, prompts: string[], chat: boolean): Promise<Detection[]> {
  const layers = [...new Set(Object.values(det.categories).map((c) => c.layer))];
  const acts = await promptActivations(ctx, prompts, det.site, layers, det.reduce, chat);
  return prompts.map((_, i) => classify((l) => activationRow(acts, l, i), det));
}
