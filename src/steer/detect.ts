// Conditional steering: find which categories a prompt touches from its own activations.
// Per category, a linear discriminant at one layer, or at several layers joined (the category's
// harmful prompts against every other calibration prompt, whitened by the prompts' within-class
// covariance), and a threshold on the prompt's projection. One threshold, in units of the benign
// prompts' spread, is set so that a set share of held-out benign prompts fire any category (the
// false-alarm budget). The layer (or the joined layers) is the candidate that names held-out
// harmful calibration prompts best.

import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import { type Activations, activationRow, collectActivations } from "./collect.js";
import { fitDirections } from "./discriminant.js";
import { SteerError } from "./errors.js";
import { dot, meanAndSd } from "./math.js";
import { renderExample } from "./render.js";
import type { CategoryDetector, Detection, Detector, DetectorPooling, FireMode, Policy } from "./types.js";

/** The layers a category's direction reads, in the order its parts are joined. */
export function detectorLayers(d: CategoryDetector): number[] {
  return d.layers ?? [d.layer];
}

/** "layer 4" or "layers 0-4 joined": how reports name what a detector reads. */
export function describeLayers(layers: number[]): string {
  if (layers.length === 1) return `layer ${layers[0]}`;
  const run = layers.every((l, k) => k === 0 || l === (layers[k - 1] as number) + 1);
  return `layers ${run ? `${layers[0]}-${layers[layers.length - 1]}` : layers.join(",")} joined`;
}

/** A prompt's pooled activations at several layers, joined (one layer: its row itself, no copy). */
export function joinedRow(acts: Activations, layers: number[], i: number): Float32Array {
  if (layers.length === 1) return activationRow(acts, layers[0] as number, i);
  const out = new Float32Array(layers.length * acts.width);
  layers.forEach((l, k) => {
    out.set(activationRow(acts, l, i), k * acts.width);
  });
  return out;
}

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
 * Thresholds for one layer's directions from benign prompts the directions were not fitted on: a
 * category's score is measured in its benign scores' standard deviations, and one threshold in
 * those units is set so that at most `falseAlarms` of these prompts fire any category.
 */
export function setThresholds(
  dirs: Map<string, Float32Array>,
  benign: Float32Array[],
  layer: number,
  falseAlarms: number,
  /** Several layers joined (benign rows and directions span them); `layer` is then the deepest. */
  layers?: number[],
) {
  const stats = [...dirs].map(([c, direction]) => {
    const s = benign.map((r) => dot(r, direction));
    const { mean: mu, sd: spread } = meanAndSd(s);
    const sd = spread || 1;
    return { c, direction, mu, sd, z: s.map((x) => (x - mu) / sd) };
  });
  // exactly floor(n * falseAlarms) of these prompts score above the threshold: halfway between that
  // order statistic and the next, so that the prompt at the order statistic does not sit on the
  // threshold (its activations computed in another batch differ by rounding, and it would fire)
  const highest = benign.map((_, i) => Math.max(...stats.map((st) => st.z[i] as number))).sort((a, b) => a - b);
  const at = highest.length - 1 - Math.floor(highest.length * falseAlarms);
  const t = at + 1 < highest.length ? ((highest[at] as number) + (highest[at + 1] as number)) / 2 : (highest[at] as number);
  const categories: Record<string, CategoryDetector> = {};
  const read = layers && layers.length > 1 ? { layer: Math.max(...layers), layers } : { layer };
  for (const st of stats) categories[st.c] = { ...read, direction: st.direction, threshold: st.mu + t * st.sd, scale: st.sd };
  return categories;
}

/** A category's projection of one prompt: per layer read, that layer's part of the direction (no joined copy). */
function project(pooledAt: (layer: number) => Float32Array, d: CategoryDetector): number {
  const layers = detectorLayers(d);
  if (layers.length === 1) return dot(pooledAt(d.layer), d.direction);
  const w = d.direction.length / layers.length;
  return layers.reduce((s, l, k) => s + dot(pooledAt(l), d.direction.subarray(k * w, (k + 1) * w)), 0);
}

/** Scores one prompt (its pooled activation per layer) against every category. */
export function classify(pooledAt: (layer: number) => Float32Array, det: Detector): Detection {
  const scores: Record<string, number> = {};
  for (const [c, d] of Object.entries(det.categories)) scores[c] = (project(pooledAt, d) - d.threshold) / d.scale;
  const fired = Object.keys(scores)
    .filter((c) => (scores[c] as number) > 0)
    .sort((a, b) => (scores[b] as number) - (scores[a] as number));
  return { fired, scores };
}

export interface DetectorCalibration {
  detector: Detector;
  /** The layer chosen (every category's direction lives there; joined layers: the deepest). */
  layer: number;
  /** The layers read: [layer], or every candidate layer when the joined candidate won. */
  layers: number[];
  /**
   * Per candidate (each layer, then the layers joined when asked), on the held-out calibration
   * prompts: the share of harmful prompts named (their category fires first) at the false-alarm
   * budget, and their mean score (margin above threshold, in benign standard deviations) that
   * breaks ties. `layers` only on the joined candidate.
   */
  byLayer: Array<{ layer: number; layers?: number[]; score: number; margin: number }>;
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
    /** Also try every layer's pooled activations joined into one feature (default false). */
    join?: boolean;
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
  return calibrateFromActivations(acts, cats, {
    site,
    reduce,
    falseAlarms,
    shrinkage,
    join: opts.join,
    fitted: held.length ? fitting.length : undefined,
  });
}

/**
 * The detector from the calibration prompts' activations (rows in order; category undefined:
 * benign): everything calibrateDetector does after the forward passes.
 */
export function calibrateFromActivations(
  acts: Activations,
  cats: Array<string | undefined>,
  opts: {
    site: string;
    reduce: DetectorPooling;
    falseAlarms: number;
    shrinkage: number;
    /** Also try every layer of `acts` joined into one feature (a candidate after the single layers). */
    join?: boolean;
    /** Rows before this index are fitted, the rest validate (another split's wordings); default: every fourth row validates. */
    fitted?: number;
    /** Rows to fit and to validate on, given outright (overrides `fitted`): the study's folds over request frames. */
    split?: { fit: number[]; validate: number[] };
  },
): DetectorCalibration {
  const { site, reduce, falseAlarms, shrinkage, fitted } = opts;
  const every = cats.map((_, i) => i);
  const fitIdx = opts.split?.fit ?? (fitted !== undefined ? every.filter((i) => i < fitted) : every.filter((i) => i % 4 !== 3));
  const valIdx = opts.split?.validate ?? (fitted !== undefined ? every.filter((i) => i >= fitted) : every.filter((i) => i % 4 === 3));
  const reads = acts.layers.map((l) => [l]);
  if (opts.join && acts.layers.length > 1) reads.push([...acts.layers]);
  const candidates = reads.map((layers) => {
    const row = (i: number) => joinedRow(acts, layers, i);
    const dirs = fitDirections(
      fitIdx.map(row),
      fitIdx.map((i) => cats[i]),
      acts.width * layers.length,
      shrinkage,
    );
    const det: Detector = {
      site,
      reduce,
      categories: setThresholds(dirs, valIdx.filter((i) => cats[i] === undefined).map(row), Math.max(...layers), falseAlarms, layers),
    };
    const harmfulVal = valIdx.filter((i) => cats[i] !== undefined);
    const dets = harmfulVal.map((i) => classify((l) => activationRow(acts, l, i), det));
    const score = dets.filter((d, k) => d.fired[0] === cats[harmfulVal[k] as number]).length / Math.max(1, harmfulVal.length);
    const margin = dets.reduce((a, d, k) => a + (d.scores[cats[harmfulVal[k] as number] as string] ?? 0), 0) / Math.max(1, dets.length);
    return { layer: Math.max(...layers), layers, score, margin, det };
  });
  const best = candidates.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.margin > a.margin) ? b : a));
  return {
    detector: best.det,
    layer: best.layer,
    layers: best.layers,
    byLayer: candidates.map(({ layer, layers, score, margin }) => ({ layer, ...(layers.length > 1 ? { layers } : {}), score, margin })),
  };
}

/** Scores prompts against every category; a category fires above its threshold. */
export async function detect(ctx: Context, det: Detector, prompts: string[], chat: boolean): Promise<Detection[]> {
  const layers = [...new Set(Object.values(det.categories).flatMap(detectorLayers))];
  const acts = await promptActivations(ctx, prompts, det.site, layers, det.reduce, chat);
  return prompts.map((_, i) => classify((l) => activationRow(acts, l, i), det));
}

/** The part of a policy that conditional steering applies to a prompt with this detection. */
export function conditionalPolicy(policy: Policy, detection: Detection, fire: FireMode = "all"): Policy {
  const fired = detection.fired.filter((c) => policy[c] !== undefined);
  return Object.fromEntries((fire === "top" ? fired.slice(0, 1) : fired).map((c) => [c, policy[c] as number]));
}
