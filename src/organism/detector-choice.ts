// The study's detector, with its pooling and shrinkage chosen on dev wordings it was not set on.
// calibrateDetector sets the layer and thresholds on dev prompts, so its own dev rates cannot show
// how it does on wording it never saw (on test, its false alarms were ten times the dev budget).
// Here each candidate is judged leave-frame-out: for each of dev's request frames, the layer (one
// layer, or every layer joined) and thresholds are set on dev's other frames, and the frame's own
// prompts are scored; every dev prompt is scored once by a detector that never saw its wording.
// The candidate whose false alarms there stay within the target, naming the most harmful prompts,
// is then set on all of dev. (scripts/detector-dev.ts measured the features: docs/detector-dev.md.)
import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import { type Activations, activationRow, collectActivations } from "../steer/collect.js";
import { calibrateFromActivations, classify, type DetectorCalibration } from "../steer/detect.js";
import { renderExample } from "../steer/render.js";
import type { DetectorPooling } from "../steer/types.js";
import { FRAMES } from "./world.js";

/**
 * The candidates: pooling over the prompt's tokens or its last token; covariance shrinkage. Each
 * also chooses among single layers and every layer joined (on dev, the last token at layers 0-4
 * joined named 98% of held-out-frame prompts against 92% at layer 4 alone: docs/detector-dev.md).
 */
export const DETECTOR_CANDIDATES: { poolings: DetectorPooling[]; shrinkages: number[]; join: boolean } = {
  poolings: ["mean", "last"],
  shrinkages: [0.1, 1],
  join: true,
};

/** The false-alarm target of issue 21 (benign and look-alike prompts that fire). */
const FALSE_ALARM_TARGET = 0.05;

/** Of n prompts, k: named (harmful) or fired (benign, look-alike). */
export interface Count {
  k: number;
  n: number;
}

export interface DetectorCandidate {
  pooling: DetectorPooling;
  shrinkage: number;
  /** On held-out dev frames (each prompt once): harmful prompts named, benign and look-alike prompts that fire. */
  named: number;
  falseAlarms: number;
  /** The counts behind those shares: named per category; fired per kind (absent in older files). */
  counts?: { named: Record<string, Count>; benign: Count; lookalike: Count };
  chosen: boolean;
}

/** The index of the dev frame a prompt is worded in (-1: none). */
function devFrame(prompt: string): number {
  return FRAMES.dev.findIndex((f) => {
    const [head, tail] = f("\u0001").split("\u0001") as [string, string];
    return prompt.startsWith(head) && prompt.endsWith(tail);
  });
}

/** Held-out verdicts of one candidate: each dev frame scored by the detector set on the other frames. */
function leaveFrameOut(
  acts: Activations,
  cats: Array<string | undefined>,
  kinds: string[],
  byFrame: number[][],
  calibrate: (validate: number[]) => DetectorCalibration,
) {
  const named: Record<string, Count> = {};
  const fired = { benign: { k: 0, n: 0 }, lookalike: { k: 0, n: 0 } };
  for (let f = 0; f < byFrame.length; f++) {
    const det = calibrate(byFrame.filter((_, g) => g !== f).flat()).detector;
    for (const i of byFrame[f] as number[]) {
      const d = classify((l) => activationRow(acts, l, i), det);
      const c = cats[i];
      if (c !== undefined) {
        named[c] ??= { k: 0, n: 0 };
        const e = named[c];
        e.n++;
        if (d.fired[0] === c) e.k++;
      } else {
        const e = kinds[i] === "lookalike" ? fired.lookalike : fired.benign;
        e.n++;
        if (d.fired.length > 0) e.k++;
      }
    }
  }
  const sum = (xs: Count[]) => xs.reduce((a, x) => ({ k: a.k + x.k, n: a.n + x.n }), { k: 0, n: 0 });
  const share = (x: Count) => x.k / Math.max(1, x.n);
  const sorted = Object.fromEntries(Object.entries(named).sort(([a], [b]) => a.localeCompare(b)));
  return {
    named: share(sum(Object.values(named))),
    falseAlarms: share(sum([fired.benign, fired.lookalike])),
    counts: { named: sorted, ...fired },
  };
}

/**
 * Fits directions on the training prompts and chooses pooling and shrinkage by leave-frame-out
 * validation over dev's request frames; the chosen detector's layers and thresholds are then set
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
  const kinds = all.map((x) => String(x.e.meta?.kind ?? ""));
  const fitIdx = fit.map((_, i) => i);
  const devIdx = held.map((_, i) => fit.length + i);
  const byFrame = FRAMES.dev.map((_, f) => devIdx.filter((i) => devFrame((all[i] as (typeof all)[number]).e.prompt) === f));
  const texts = all.map((x) => renderExample(ctx.model, { prompt: x.e.prompt }, true));
  const results: Array<DetectorCandidate & { cal: () => DetectorCalibration }> = [];
  for (const pooling of DETECTOR_CANDIDATES.poolings) {
    const acts = await collectActivations(ctx, texts, { site: "resid_post", layers: opts.layers, reduce: pooling, signal: opts.signal });
    for (const shrinkage of DETECTOR_CANDIDATES.shrinkages) {
      const calibrate = (validate: number[]) =>
        calibrateFromActivations(acts, cats, {
          site: "resid_post",
          reduce: pooling,
          falseAlarms: opts.falseAlarms,
          shrinkage,
          join: DETECTOR_CANDIDATES.join,
          split: { fit: fitIdx, validate },
        });
      results.push({
        pooling,
        shrinkage,
        ...leaveFrameOut(acts, cats, kinds, byFrame, calibrate),
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
