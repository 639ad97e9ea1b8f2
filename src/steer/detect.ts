// Conditional steering: find which categories a prompt touches from its own activations.
// Per category, a direction d_c = mean(harmful prompts of c) - mean(benign prompts) at one layer,
// and a threshold on the projection, calibrated on a training split (max balanced accuracy).

import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import { activationRow, collectActivations } from "./collect.js";
import { SteerError } from "./errors.js";
import { dot, meanOf, norm } from "./math.js";
import { renderExample } from "./render.js";

export interface CategoryDetector {
  layer: number;
  /** Unit direction from benign towards this category's harmful prompts. */
  direction: Float32Array;
  threshold: number;
  /** Spread of benign projections, to compare margins across categories. */
  scale: number;
}

export interface Detector {
  site: string;
  reduce: "mean" | "last";
  categories: Record<string, CategoryDetector>;
}

export interface Detection {
  /** Categories whose score is above threshold, most confident first. */
  fired: string[];
  scores: Record<string, number>;
}

/** Prompt-only activations (as a chat user turn, without an answer) of several prompts. */
async function promptActivations(ctx: Context, prompts: string[], site: string, layer: number, reduce: "mean" | "last", chat: boolean) {
  const texts = prompts.map((p) => renderExample(ctx.model, { prompt: p }, chat));
  return collectActivations(ctx, texts, { site, layers: [layer], reduce });
}

export async function calibrateDetector(
  ctx: Context,
  harmful: Example[],
  benign: Example[],
  opts: { layer: number; site?: string; reduce?: "mean" | "last"; chat: boolean },
): Promise<Detector> {
  const site = opts.site ?? "resid_post";
  const reduce = opts.reduce ?? "mean";
  if (benign.length === 0) throw new SteerError("not_enough_data", "calibrating the detector needs benign prompts.");
  const cats = [...new Set(harmful.map((e) => e.category).filter((c): c is string => c !== undefined))].sort();
  const all = [...benign, ...harmful];
  const acts = await promptActivations(
    ctx,
    all.map((e) => e.prompt),
    site,
    opts.layer,
    reduce,
    opts.chat,
  );
  const row = (i: number) => activationRow(acts, opts.layer, i);
  const benignRows = benign.map((_, i) => row(i));
  const benignMean = meanOf(benignRows, acts.width);
  const categories: Record<string, CategoryDetector> = {};
  for (const c of cats) {
    const idx = harmful.flatMap((e, i) => (e.category === c ? [benign.length + i] : []));
    const d = meanOf(idx.map(row), acts.width).map((x, i) => x - (benignMean[i] as number));
    const n = norm(d);
    const direction = d.map((x) => x / (n || 1));
    const pos = idx.map((i) => dot(row(i), direction));
    // negatives: benign prompts and the other categories' harmful prompts
    const neg = all.flatMap((e, i) => (i >= benign.length && e.category === c ? [] : [dot(row(i), direction)]));
    const candidates = [...pos, ...neg].sort((a, b) => a - b);
    let best = { t: candidates[0] as number, acc: -1 };
    for (let k = 0; k < candidates.length - 1; k++) {
      const t = ((candidates[k] as number) + (candidates[k + 1] as number)) / 2;
      const acc = pos.filter((x) => x > t).length / pos.length + neg.filter((x) => x <= t).length / neg.length;
      if (acc > best.acc) best = { t, acc };
    }
    const bp = benignRows.map((r) => dot(r, direction));
    const mu = bp.reduce((s, x) => s + x, 0) / bp.length;
    const sd = Math.sqrt(bp.reduce((s, x) => s + (x - mu) ** 2, 0) / Math.max(1, bp.length - 1));
    categories[c] = { layer: opts.layer, direction, threshold: best.t, scale: sd || 1 };
  }
  return { site, reduce, categories };
}

/** Scores prompts against every category; a category fires above its threshold. */
export async function detect(ctx: Context, det: Detector, prompts: string[], chat: boolean): Promise<Detection[]> {
  const layers = [...new Set(Object.values(det.categories).map((c) => c.layer))];
  const texts = prompts.map((p) => renderExample(ctx.model, { prompt: p }, chat));
  const acts = await collectActivations(ctx, texts, { site: det.site, layers, reduce: det.reduce });
  return prompts.map((_, i) => {
    const scores: Record<string, number> = {};
    for (const [c, d] of Object.entries(det.categories))
      scores[c] = (dot(activationRow(acts, d.layer, i), d.direction) - d.threshold) / d.scale;
    const fired = Object.keys(scores)
      .filter((c) => (scores[c] as number) > 0)
      .sort((a, b) => (scores[b] as number) - (scores[a] as number));
    return { fired, scores };
  });
}
