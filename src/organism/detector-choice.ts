// The study's detector, with its pooling and shrinkage chosen on dev wordings it was not set on.
// calibrateDetector sets the layer and thresholds on dev prompts, so its own dev rates cannot show
// how it does on wording it never saw (on test, its false alarms were ten times the dev budget).
// Here each candidate is set on half of dev's request frames and scored on the other half (and
// the other way round): the candidate whose false alarms there stay within the target, naming the
// most harmful prompts, is then set on all of dev.
import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import { type Activations, activationRow, collectActivations } from "../steer/collect.js";
import { calibrateFromActivations, type DetectorCalibration } from "../steer/detect.js";
import { dot } from "../steer/math.js";
import { renderExample } from "../steer/render.js";
import type { Detector, DetectorPooling } from "../steer/types.js";
import { FRAMES } from "./world.js";

/** The candidates: pooling over the prompt's tokens or its last token; covariance shrinkage. */
export const DETECTOR_CANDIDATES: { poolings: DetectorPooling[]; shrinkages: number[] } = {
  poolings: ["mean", "last"],
  shrinkages: [0.1, 1],
};

/** The false-alarm target of issue 21 (benign and look-alike prompts that fire). */
const FALSE_ALARM_TARGET = 0.05;

export interface DetectorCandidate {
  pooling: DetectorPooling;
  shrinkage: number;
  /** On the held-out half of dev's frames (mean of both halves): harmful prompts named, benign and look-alike prompts that fire. */
  named: number;
  falseAlarms: number;
  chosen: boolean;
}

/** The index of the dev frame a prompt is worded in (-1: none). */
function devFrame(prompt: string): number {
  return FRAMES.dev.findIndex((f) => {
    const [head, tail] = f("\u0001").split("\u0001") as [string, string];
    return prompt.startsWith(head) && prompt.endsWith(tail);
  });
}

/** Some rows of the activations, in the order given. */
function rowsOf(a: Activations, idx: number[]): Activations {
  const byLayer = new Map(
    a.layers.map((l) => {
      const m = new Float32Array(idx.length * a.width);
      idx.forEach((i, k) => {
        m.set(activationRow(a, l, i), k * a.width);
      });
      return [l, m] as const;
    }),
  );
  return { ...a, n: idx.length, byLayer };
}

/** Share of harmful rows named first, and of the other rows that fire any category. */
function rates(a: Activations, idx: number[], cats: Array<string | undefined>, det: Detector) {
  let named = 0;
  let harmful = 0;
  let fired = 0;
  let other = 0;
  for (const i of idx) {
    const scores = Object.entries(det.categories).map(
      ([c, d]) => [c, (dot(activationRow(a, d.layer, i), d.direction) - d.threshold) / d.scale] as const,
    );
    const top = scores.filter(([, s]) => s > 0).sort((x, y) => y[1] - x[1]);
    if (cats[i] !== undefined) {
      harmful++;
      if (top[0]?.[0] === cats[i]) named++;
    } else {
      other++;
      if (top.length) fired++;
    }
  }
  return { named: named / Math.max(1, harmful), falseAlarms: fired / Math.max(1, other) };
}

/**
 * Fits directions on the training prompts and chooses pooling and shrinkage by two-fold
 * validation over dev's request frames; the chosen detector's layer and thresholds are then set
 * on every dev prompt (calibrateFromActivations, as calibrateDetector with validation does).
 */
export async function chooseDetector(
  ctx: Context,
  train: { harmful: Example[]; benign: Example[] },
  dev: { harmful: Example[]; benign: Example[] },
  opts: { layers: number[]; falseAlarms: number; signal?: AbortSignal },
): Promise<DetectorCalibration & { candidates: DetectorCandidate[] }> {
  const labelled = (h: Example[], b: Example[]) => [
    ...h.filter((e) => e.category).map((e) => ({ e, c: e.category })),
    ...b.map((e) => ({ e, c: undefined as string | undefined })),
  ];
  const fit = labelled(train.harmful, train.benign);
  const held = labelled(dev.harmful, dev.benign);
  const all = [...fit, ...held];
  const cats = all.map((x) => x.c);
  const fitIdx = fit.map((_, i) => i);
  const devIdx = held.map((_, i) => fit.length + i);
  const halves = [0, 1].map((h) => devIdx.filter((i) => devFrame((all[i] as (typeof all)[number]).e.prompt) % 2 === h));
  const texts = all.map((x) => renderExample(ctx.model, { prompt: x.e.prompt }, true));
  const results: Array<DetectorCandidate & { cal: () => DetectorCalibration }> = [];
  for (const pooling of DETECTOR_CANDIDATES.poolings) {
    const acts = await collectActivations(ctx, texts, { site: "resid_post", layers: opts.layers, reduce: pooling, signal: opts.signal });
    for (const shrinkage of DETECTOR_CANDIDATES.shrinkages) {
      const calibrate = (setOn: number[]) =>
        calibrateFromActivations(
          rowsOf(acts, [...fitIdx, ...setOn]),
          [...fitIdx, ...setOn].map((i) => cats[i]),
          { site: "resid_post", reduce: pooling, falseAlarms: opts.falseAlarms, shrinkage, fitted: fitIdx.length },
        );
      const folds = [0, 1].map((h) => rates(acts, halves[1 - h] as number[], cats, calibrate(halves[h] as number[]).detector));
      const mean = (k: "named" | "falseAlarms") => folds.reduce((s, f) => s + f[k], 0) / folds.length;
      results.push({
        pooling,
        shrinkage,
        named: mean("named"),
        falseAlarms: mean("falseAlarms"),
        chosen: false,
        cal: () => calibrate(devIdx),
      });
    }
  }
  // within the false-alarm target, the one naming most; if none is, the fewest false alarms
  const within = results.filter((r) => r.falseAlarms <= FALSE_ALARM_TARGET);
  const best = within.length
    ? within.reduce((a, b) => (b.named > a.named ? b : a))
    : results.reduce((a, b) => (b.falseAlarms < a.falseAlarms || (b.falseAlarms === a.falseAlarms && b.named > a.named) ? b : a));
  best.chosen = true;
  return { ...best.cal(), candidates: results.map(({ cal: _c, ...r }) => r) };
}
