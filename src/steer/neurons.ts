// Finding category neurons: every MLP unit (mlp_post) at the chosen layers is ranked by how well its
// activation separates a category's unsafe examples from safe ones on the training part (Cohen's d),
// and the top K are scored on the held-out part (AUROC, effect size), against every other category
// (specificity), by what they contribute to the category vector, and by the tokens they promote.
import type { Dataset } from "../data/example.js";
import type { Context } from "../engine/context.js";
import { readTensor } from "../engine/gguf/reader.js";
import type { Model } from "../engine/model.js";
import { Rng } from "../util/random.js";
import { TOOL_VERSION } from "./bundle.js";
import { type Activations, collectActivations, layersToRead } from "./collect.js";
import { SteerError } from "./errors.js";
import { type ExampleReadOptions, type GroupedExamples, type GroupIndex, groupExamples, safeKeyOf } from "./examples.js";
import { auroc, dot, meanAndSd, norm } from "./math.js";
import { NEURONS_SCHEMA, type NeuronCategory, type NeuronSet, type NeuronUnit } from "./neuron-types.js";
import { renderExample, usesChat } from "./render.js";

export interface NeuronOptions extends ExampleReadOptions {
  /** "auto" (default): every layer. A list: only these. */
  layers?: "auto" | number[];
  /** Units kept per category (default 16). */
  top?: number;
  /** Share of each group held out for the scores (default 0.2). */
  heldOut?: number;
  /** Tokens listed per unit by the logit lens (default 8; 0: none). */
  lensTokens?: number;
  /** Texts read so far, of all passes (mlp_post, then resid_post for the explained share). */
  onProgress?: (done: number, total: number, tokens: number) => void;
}

export const NEURON_RULE =
  "units ranked by |Cohen's d| of their activation (mean over the prompt's tokens) between the category's unsafe and safe training examples; AUROC and effect size measured on the held-out part, oriented so that 1 (AUROC) and positive (d) mean the training direction holds";

/** Per-unit mean and variance of a group's rows at one layer. */
function unitStats(a: Activations, layer: number, rows: number[]): { mean: Float64Array; variance: Float64Array } {
  const w = a.width;
  const m = a.byLayer.get(layer) as Float32Array;
  const mean = new Float64Array(w);
  const sq = new Float64Array(w);
  for (const r of rows) {
    const o = r * w;
    for (let i = 0; i < w; i++) {
      const x = m[o + i] as number;
      mean[i]! += x;
      sq[i]! += x * x;
    }
  }
  const n = Math.max(rows.length, 1);
  const variance = new Float64Array(w);
  for (let i = 0; i < w; i++) {
    mean[i]! /= n;
    variance[i] = rows.length > 1 ? Math.max(0, (sq[i]! - n * mean[i]! ** 2) / (n - 1)) : 0;
  }
  return { mean, variance };
}

const unitValues = (a: Activations, layer: number, index: number, rows: number[]) =>
  rows.map((r) => (a.byLayer.get(layer) as Float32Array)[r * a.width + index] as number);

/** Cohen's d of unsafe minus safe, or null without spread. */
function effectSize(unsafe: number[], safe: number[]): number | null {
  if (unsafe.length < 2 || safe.length < 2) return null;
  const u = meanAndSd(unsafe);
  const s = meanAndSd(safe);
  const sd = Math.sqrt((u.sd ** 2 + s.sd ** 2) / 2);
  return sd > 0 ? (u.mean - s.mean) / sd : null;
}

/** Oriented held-out AUROC of one unit for one category's groups. */
function heldOutAuroc(a: Activations, layer: number, index: number, sign: number, u: GroupIndex, s: GroupIndex): number | null {
  const v = auroc(
    unitValues(a, layer, index, u.test).map((x) => sign * x),
    unitValues(a, layer, index, s.test).map((x) => sign * x),
  );
  return Number.isNaN(v) ? null : v;
}

/** The top K units of one category by training |d| over every layer. */
function rankUnits(a: Activations, u: GroupIndex, s: GroupIndex, top: number): Array<{ layer: number; index: number; d: number }> {
  const best: Array<{ layer: number; index: number; d: number }> = [];
  for (const l of a.layers) {
    const su = unitStats(a, l, u.train);
    const ss = unitStats(a, l, s.train);
    for (let i = 0; i < a.width; i++) {
      const sd = Math.sqrt((su.variance[i]! + ss.variance[i]!) / 2);
      const diff = su.mean[i]! - ss.mean[i]!;
      // no spread: a unit that always differs is a perfect separator, one that never does is nothing
      const d = sd > 1e-12 ? diff / sd : diff !== 0 ? Math.sign(diff) * 1e6 : 0;
      if (best.length < top || Math.abs(d) > Math.abs(best[best.length - 1]!.d)) {
        best.push({ layer: l, index: i, d });
        best.sort((x, y) => Math.abs(y.d) - Math.abs(x.d));
        if (best.length > top) best.pop();
      }
    }
  }
  return best;
}

function scoreCategory(a: Activations, g: GroupedExamples, c: string, top: number): NeuronUnit[] {
  const u = g.index.get(`unsafe:${c}`) as GroupIndex;
  const s = g.index.get(safeKeyOf(g, c)) as GroupIndex;
  const all = (x: GroupIndex) => [...x.train, ...x.test];
  return rankUnits(a, u, s, top).map(({ layer, index, d }) => {
    const sign = d >= 0 ? 1 : -1;
    const mean = (rows: number[]) => unitValues(a, layer, index, rows).reduce((x, y) => x + y, 0) / Math.max(rows.length, 1);
    const effect = effectSize(unitValues(a, layer, index, u.test), unitValues(a, layer, index, s.test));
    const others: Record<string, number | null> = {};
    for (const o of g.cats) {
      if (o !== c)
        others[o] = heldOutAuroc(
          a,
          layer,
          index,
          sign,
          g.index.get(`unsafe:${o}`) as GroupIndex,
          g.index.get(safeKeyOf(g, o)) as GroupIndex,
        );
    }
    return {
      layer,
      index,
      sign,
      auroc: heldOutAuroc(a, layer, index, sign, u, s),
      effect: effect === null ? null : sign * effect,
      trainEffect: Math.abs(d),
      meanUnsafe: mean(all(u)),
      meanSafe: mean(all(s)),
      others,
    };
  });
}

/** A model's down projection at a layer (n_ff x n_embd, ne0 = n_ff), or undefined when not readable (quantised). */
function downProjection(model: Model, layer: number): Float32Array | undefined {
  try {
    return readTensor(model.gguf, `blk.${layer}.ffn_down.weight`);
  } catch {
    return undefined;
  }
}

/** Column i of W_down: what unit i adds to the residual stream per unit of activation. */
function column(w: Float32Array, nFf: number, nEmbd: number, i: number): Float64Array {
  const out = new Float64Array(nEmbd);
  for (let j = 0; j < nEmbd; j++) out[j] = w[j * nFf + i] as number;
  return out;
}

const meanOf = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / Math.max(xs.length, 1);

/**
 * The share of each layer's category vector (mean safe - mean unsafe at resid_post, training part)
 * that the units' direct contributions make up: resid_post(L) sums every mlp_out(l <= L), and
 * mlp_out = W_down . mlp_post, so each unit adds W_down[:, i] times its own mean difference.
 */
function explainedShares(
  model: Model,
  units: NeuronUnit[],
  acts: { post: Activations; resid: Activations },
  groups: { u: GroupIndex; s: GroupIndex },
  downs: Map<number, Float32Array>,
): NeuronCategory["explained"] {
  const { nFf, nEmbd } = model.info;
  const { u, s } = groups;
  const contrib = new Float64Array(nEmbd);
  const out: NonNullable<NeuronCategory["explained"]> = [];
  const sorted = [...units].sort((a, b) => a.layer - b.layer);
  let k = 0;
  for (const l of acts.resid.layers) {
    for (; k < sorted.length && (sorted[k] as NeuronUnit).layer <= l; k++) {
      const unit = sorted[k] as NeuronUnit;
      const w = downs.get(unit.layer);
      if (!w) return null;
      const delta =
        meanOf(unitValues(acts.post, unit.layer, unit.index, s.train)) - meanOf(unitValues(acts.post, unit.layer, unit.index, u.train));
      const col = column(w, nFf, nEmbd, unit.index);
      for (let j = 0; j < nEmbd; j++) contrib[j]! += col[j]! * delta;
    }
    const ms = unitStats(acts.resid, l, s.train).mean;
    const mu = unitStats(acts.resid, l, u.train).mean;
    const v = ms.map((x, i) => x - mu[i]!);
    const vv = dot(v, v);
    const nc = norm(contrib) * norm(v);
    out.push({ layer: l, share: vv > 0 ? dot(contrib, v) / vv : 0, cosine: nc > 0 ? dot(contrib, v) / nc : 0 });
  }
  return out;
}

/** The output head as the logit lens reads it: output norm gain and unembedding (tied to the embeddings where absent). */
function outputHead(model: Model): { gain?: Float32Array; unembed: Float32Array } | undefined {
  try {
    const names = new Set(model.gguf.tensors.map((t) => t.name));
    const unembed = readTensor(model.gguf, names.has("output.weight") ? "output.weight" : "token_embd.weight");
    const gain = names.has("output_norm.weight") ? readTensor(model.gguf, "output_norm.weight") : undefined;
    return { gain, unembed };
  } catch {
    return undefined;
  }
}

/** The n tokens whose logits the unit raises most when it moves as on the category's unsafe prompts. */
function lensTokens(model: Model, head: { gain?: Float32Array; unembed: Float32Array }, down: Float32Array, unit: NeuronUnit, n: number) {
  const { nFf, nEmbd, nVocab } = model.info;
  const col = column(down, nFf, nEmbd, unit.index).map((x, j) => unit.sign * x * (head.gain ? (head.gain[j] as number) : 1));
  const best: Array<{ id: number; logit: number }> = [];
  for (let v = 0; v < nVocab; v++) {
    let z = 0;
    const o = v * nEmbd;
    for (let j = 0; j < nEmbd; j++) z += (head.unembed[o + j] as number) * (col[j] as number);
    if (best.length < n || z > (best[best.length - 1] as { logit: number }).logit) {
      best.push({ id: v, logit: z });
      best.sort((a, b) => b.logit - a.logit);
      if (best.length > n) best.pop();
    }
  }
  return best.map((b) => model.detokenize([b.id], { renderSpecial: true }));
}

/** Jaccard overlap of the categories' unit sets. */
export function overlaps(categories: Record<string, NeuronCategory>): NeuronSet["overlap"] {
  const key = (x: NeuronUnit) => `${x.layer}:${x.index}`;
  const sets = Object.entries(categories).map(([c, e]) => [c, new Set(e.units.map(key))] as const);
  const out: NeuronSet["overlap"] = {};
  for (const [a, sa] of sets) {
    out[a] = {};
    for (const [b, sb] of sets) {
      const both = [...sa].filter((k) => sb.has(k)).length;
      (out[a] as Record<string, number>)[b] = both / Math.max(1, sa.size + sb.size - both);
    }
  }
  return out;
}

/** Collects the activations of every text at one site, the passes counted together in the progress. */
async function collectPass(
  ctx: Context,
  texts: number[][],
  site: "mlp_post" | "resid_post",
  layers: number[],
  opts: NeuronOptions,
  pass: { at: number; of: number },
) {
  const n = texts.length;
  return collectActivations(ctx, texts, {
    site,
    layers,
    reduce: opts.reduce ?? "mean",
    signal: opts.signal,
    onProgress: (d, _t, tok) => opts.onProgress?.(pass.at * n + d, pass.of * n, tok),
  });
}

/** Finds each category's top units at mlp_post and scores them; see NEURON_RULE. */
export async function findNeurons(
  ctx: Context,
  datasets: Dataset[],
  safeSet: Dataset | undefined,
  opts: NeuronOptions = {},
): Promise<NeuronSet> {
  const model = ctx.model;
  const { nFf } = model.info;
  const top = opts.top ?? 16;
  const heldOut = opts.heldOut ?? 0.2;
  const seed = opts.seed ?? 1;
  if (!(Number.isInteger(top) && top >= 1))
    throw new SteerError("bad_argument", `top must be a whole number of units, at least 1, got ${top}.`);
  if (!(heldOut > 0 && heldOut < 1))
    throw new SteerError("bad_argument", `held-out share must be in (0, 1): the scores are held-out ones; got ${heldOut}.`);
  ctx.siteWidth("mlp_post"); // the file must say n_ff
  const g = groupExamples(datasets, safeSet, { ...opts, heldOut }, new Rng(seed));
  const layers = layersToRead(ctx, opts.layers);
  const chat = usesChat(model, opts.chat ?? "auto");
  const texts = g.all.map((e) => renderExample(model, e, chat));
  for (const [i, t] of texts.entries()) ctx.checkFits(t.length, `example ${g.all[i]?.source ?? i}`);
  // the explained share needs every down projection and a plain sum of MLP outputs (Gemma post-normalises them)
  const downs = new Map(
    layers.flatMap((l) => {
      const w = downProjection(model, l);
      return w ? [[l, w] as const] : [];
    }),
  );
  const postNormed = model.gguf.tensors.some((t) => t.name.endsWith("post_ffw_norm.weight"));
  const explain = downs.size === layers.length && !postNormed;
  const passes = explain ? 2 : 1;
  const post = await collectPass(ctx, texts, "mlp_post", layers, opts, { at: 0, of: passes });
  const resid = explain ? await collectPass(ctx, texts, "resid_post", layers, opts, { at: 1, of: passes }) : undefined;
  if (opts.signal?.aborted) throw new SteerError("aborted", `stopped after all ${texts.length} texts were read; nothing was written.`);
  const head = (opts.lensTokens ?? 8) > 0 ? outputHead(model) : undefined;
  const categories: Record<string, NeuronCategory> = {};
  for (const c of g.cats) {
    const u = g.index.get(`unsafe:${c}`) as GroupIndex;
    const s = g.index.get(safeKeyOf(g, c)) as GroupIndex;
    const units = scoreCategory(post, g, c, Math.min(top, layers.length * nFf));
    for (const unit of units) {
      const down = downs.get(unit.layer);
      if (head && down) unit.lens = lensTokens(model, head, down, unit, opts.lensTokens ?? 8);
    }
    categories[c] = {
      units,
      nUnsafe: u.train.length + u.test.length,
      nSafe: s.train.length + s.test.length,
      safeSource: g.ownSafe.has(c) ? "category" : "generic",
      explained: resid ? explainedShares(model, units, { post, resid }, { u, s }, downs) : null,
    };
  }
  const fp = await model.fingerprint();
  return {
    schema: NEURONS_SCHEMA,
    model: { ...fp, name: model.info.name, nFf },
    site: "mlp_post",
    reduce: opts.reduce ?? "mean",
    layers,
    chat,
    top,
    heldOut,
    seed,
    rule: NEURON_RULE,
    categories,
    overlap: overlaps(categories),
    data: [...datasets, ...(safeSet ? [safeSet] : [])].map((d) => ({
      name: d.name,
      path: d.path,
      sha256: d.sha256,
      examples: d.examples.length,
    })),
    toolVersion: TOOL_VERSION,
    created: new Date().toISOString(),
  };
}
