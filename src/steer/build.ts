// Building a bundle: collect activations of unsafe examples per category and of safe examples,
// compute pruned difference-of-means vectors at every candidate layer, measure held-out
// separability, pick a layer per category.

import type { Dataset, Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import type { Model } from "../engine/model.js";
import type { Site } from "../engine/sites.js";
import { Rng } from "../util/random.js";
import { TOOL_VERSION } from "./bundle.js";
import { type Activations, activationRow, collectActivations, layersToRead } from "./collect.js";
import { SteerError } from "./errors.js";
import { type CategorySplits, type ExampleReadOptions, groupExamples, splitsOf } from "./examples.js";
import { auroc, cosine, dot, meanAndSd, meanOf, norm, prunedDifference, quantile } from "./math.js";
import { renderExample, usesChat } from "./render.js";
import type { Bundle, CategoryEntry, LayerDiagnostics, VectorReduce } from "./types.js";

export interface BuildOptions extends Omit<ExampleReadOptions, "reduce"> {
  site?: Site;
  /** Default "mean" (types.ts VectorReduce). */
  reduce?: VectorReduce;
  /** "auto": every layer is a candidate and each category gets its best one. A list: candidates. */
  layers?: "auto" | number[];
  /** Kept fraction for pruning (0.5: at or above the median), or "off". */
  prune?: number | "off";
  /** Share of each group held out to measure separability (default 0.2). */
  heldOut?: number;
}

export { FEW_EXAMPLES, fewExampleWarnings } from "./examples.js";

/** How the layer is picked among the candidates, for a projection that compares `sides`. */
const pickRule = (sides: string) =>
  `the highest held-out AUROC of the projection onto the vector (${sides}); ties within 0.005 go to the larger held-out margin (Cohen's d)`;

/** The layer rule a bundle records: chosen among every layer but the ends ("auto") or among the listed ones. */
export function layerRule(listed?: number[], sides = "safe vs the category's unsafe"): string {
  return listed
    ? `listed: ${listed.join(",")}; among the listed layers, ${pickRule(sides)}`
    : `auto: among candidate layers (all but the first and last when the model has more than 2), ${pickRule(sides)}`;
}

export const LAYER_RULE = layerRule();

/** The layer LAYER_RULE picks from per-layer held-out diagnostics. */
export function chooseLayer(layers: number[], nLayer: number, diagnostics: Record<number, LayerDiagnostics>): number {
  const candidates = layers.length > 2 && nLayer > 2 ? layers.filter((l) => l > 0 && l < nLayer - 1) : layers;
  const pool = candidates.length ? candidates : layers;
  const score = (l: number) => diagnostics[l]?.auroc ?? 0;
  const best = Math.max(...pool.map(score));
  const near = pool.filter((l) => score(l) >= best - 0.005);
  return near.reduce((a, b) => ((diagnostics[b]?.margin ?? 0) > (diagnostics[a]?.margin ?? 0) ? b : a));
}

/**
 * What a bundle says about its categories as a whole: the cosine of every two categories' vectors per
 * layer, and the recommended strength (the median over categories of the vector's norm at its steer
 * layer relative to the mean activation norm there).
 */
export function categoryGeometry(
  cats: string[],
  categories: Map<string, CategoryEntry>,
  layers: number[],
  meanNorm: Record<number, number>,
): { cosineByLayer: Record<number, number[][]>; recommendedStrength: number } {
  const cosineByLayer: Record<number, number[][]> = {};
  for (const l of layers) {
    cosineByLayer[l] = cats.map((a) =>
      cats.map((b) => cosine(categories.get(a)?.vectors.get(l) ?? [], categories.get(b)?.vectors.get(l) ?? [])),
    );
  }
  const ratios = cats.map((c) => {
    const e = categories.get(c) as CategoryEntry;
    const l = e.steerLayers[0] as number;
    return (e.diagnostics[l]?.norm ?? 0) / (meanNorm[l] || 1);
  });
  return { cosineByLayer, recommendedStrength: quantile(ratios, 0.5) };
}

/** Held-out Cohen's d of two projections (null with fewer than two on a side or no spread). */
export function cohensD(a: number[], b: number[]): number | null {
  if (a.length < 2 || b.length < 2) return null;
  const sa = meanAndSd(a);
  const sb = meanAndSd(b);
  const sd = Math.sqrt((sa.sd ** 2 + sb.sd ** 2) / 2);
  return sd > 0 ? (sa.mean - sb.mean) / sd : null;
}

/** The build's settings with their defaults, checked. */
function buildSettings(model: Model, opts: BuildOptions) {
  const prune = opts.prune ?? 0.5;
  const heldOut = opts.heldOut ?? 0.2;
  if (prune !== "off" && !(prune > 0 && prune <= 1))
    throw new SteerError("bad_argument", `prune must be a kept fraction in (0, 1] or "off", got ${prune}.`);
  if (!(heldOut >= 0 && heldOut < 1)) throw new SteerError("bad_argument", `held-out share must be in [0, 1), got ${heldOut}.`);
  const chat = usesChat(model, opts.chat ?? "auto");
  return { site: opts.site ?? "resid_post", reduce: opts.reduce ?? "mean", prune, heldOut, chat };
}

/** Every example's activations at the layers read (each example rendered as the model sees it). */
async function readExamples(
  ctx: Context,
  all: Example[],
  layers: number[],
  settings: ReturnType<typeof buildSettings>,
  opts: BuildOptions,
): Promise<Activations> {
  const texts = all.map((e) => renderExample(ctx.model, e, settings.chat));
  for (const [i, t] of texts.entries()) {
    if (t.length > ctx.nCtx)
      throw new SteerError(
        "bad_argument",
        `example ${all[i]?.source} has ${t.length} tokens, more than the context (${ctx.nCtx}); use a larger --ctx.`,
      );
  }
  const { site, reduce } = settings;
  // "answer": the mean from the row that predicts the response's first token (the prompt's last) on
  const from = reduce === "answer" ? all.map((e) => renderExample(ctx.model, { prompt: e.prompt }, settings.chat).length - 1) : undefined;
  const acts = await collectActivations(ctx, texts, {
    site,
    layers,
    reduce: reduce === "answer" ? "mean" : reduce,
    ...(from ? { from } : {}),
    signal: opts.signal,
    onProgress: opts.onProgress,
  });
  // stopped during the last batch: the activations are complete, but the user asked for nothing
  if (opts.signal?.aborted) throw new SteerError("aborted", `stopped after all ${texts.length} texts were read; nothing was written.`);
  return acts;
}

/**
 * One category's vector at every layer (the pruned difference of its unsafe training rows from the
 * mean of its safe ones), each layer's held-out diagnostics, and the layer LAYER_RULE picks.
 */
function categoryEntry(acts: Activations, sp: CategorySplits, layers: number[], nLayer: number, prune: number | "off"): CategoryEntry {
  const rows = (idx: number[], l: number) => idx.map((i) => activationRow(acts, l, i));
  const { unsafe: u, safe: s } = sp;
  const vectors = new Map<number, Float32Array>();
  const diagnostics: Record<number, LayerDiagnostics> = {};
  for (const l of layers) {
    const safeMean = meanOf(rows(s.train, l), acts.width);
    const p = prunedDifference(safeMean, rows(u.train, l), prune);
    vectors.set(l, p.vector);
    const projS = rows(s.test, l).map((r) => dot(r, p.vector));
    const projU = rows(u.test, l).map((r) => dot(r, p.vector));
    const a = auroc(projS, projU);
    diagnostics[l] = { norm: norm(p.vector), auroc: Number.isNaN(a) ? null : a, margin: cohensD(projS, projU), kept: p.kept.length };
  }
  return {
    steerLayers: [chooseLayer(layers, nLayer, diagnostics)],
    vectors,
    diagnostics,
    nUnsafe: u.train.length + u.test.length,
    nSafe: s.train.length + s.test.length,
    safeSource: sp.safeSource,
  };
}

/** Per-category steering vectors from labelled examples: the bundle `steer()` applies. */
export async function buildBundle(
  ctx: Context,
  datasets: Dataset[],
  safeSet: Dataset | undefined,
  opts: BuildOptions = {},
): Promise<Bundle> {
  const model = ctx.model;
  const settings = buildSettings(model, opts);
  const { site, reduce, prune, heldOut, chat } = settings;
  const g = groupExamples(datasets, safeSet, { ...opts, heldOut }, new Rng(opts.seed ?? 1));
  const layers = layersToRead(ctx, opts.layers);
  const acts = await readExamples(ctx, g.all, layers, settings, opts);

  const meanNorm: Record<number, number> = {};
  for (const l of layers) meanNorm[l] = g.all.reduce((sum, _, i) => sum + norm(activationRow(acts, l, i)), 0) / g.all.length;
  const categories = new Map(g.cats.map((c) => [c, categoryEntry(acts, splitsOf(g, c), layers, model.info.nLayer, prune)]));
  const { cosineByLayer, recommendedStrength } = categoryGeometry(g.cats, categories, layers, meanNorm);
  const fp = await model.fingerprint();
  return {
    model: { ...fp, name: model.info.name, fileType: model.info.fileType },
    site,
    reduce,
    prune,
    layers,
    chat,
    categories,
    meanNorm,
    cosine: cosineByLayer,
    data: [...datasets, ...(safeSet ? [safeSet] : [])].map((d) => ({
      name: d.name,
      path: d.path,
      sha256: d.sha256,
      examples: d.examples.length,
    })),
    layerRule: opts.layers === undefined || opts.layers === "auto" ? LAYER_RULE : layerRule(layers),
    recommendedStrength,
    toolVersion: TOOL_VERSION,
    created: new Date().toISOString(),
  };
}
