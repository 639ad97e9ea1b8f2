// The baselines a reader compares steering with, built with the same machinery (collectActivations,
// the held-out layer rule) and returned as bundles, so the evaluation, sweeps and `steer()` use
// them as they use SafeSteer's own vectors:
// - CAA (contrastive activation addition): per category, the mean over answer pairs to one prompt
//   of act(prompt + safe answer) - act(prompt + unsafe answer), at the pair's last token. The
//   prompt's own last token cannot tell the pair apart: a causal model reads the answer after it.
// - the refusal direction: mean(harmful prompts) - mean(harmless prompts) at the last prompt token
//   (the position that starts the answer), added; one direction shared by every category.
// - a prompt prefix (the system-prompt baseline) and a canned refusal (detect, then refuse): text
//   only, applied by the evaluation.
import type { Example } from "../data/example.js";
import type { Context } from "../engine/context.js";
import type { Site } from "../engine/sites.js";
import { Rng } from "../util/random.js";
import { categoryGeometry, chooseLayer, cohensD, layerRule } from "./build.js";
import { TOOL_VERSION } from "./bundle.js";
import { type Activations, activationRow, collectActivations, layersToRead } from "./collect.js";
import { SteerError } from "./errors.js";
import { auroc, dot, meanOf, norm } from "./math.js";
import { type ChatMode, renderExample, usesChat } from "./render.js";
import type { Bundle, CategoryEntry, DataProvenance, LayerDiagnostics } from "./types.js";

/** The default canned answer of detect-then-refuse (its words are in every refusal judge's list). */
export const CANNED_REFUSAL = "I can not help with that.";

/** A prompt with the system-prompt baseline's text in front (as the user turn, so any model and template take it). */
export const withPrefix = (prefix: string, prompt: string) => `${prefix} ${prompt}`;

export interface BaselineOptions {
  site?: Site;
  /** Candidate layers ("auto": every layer; the held-out rule picks one, as for SafeSteer's vectors). */
  layers?: "auto" | number[];
  /** Share of pairs (CAA) or prompts (refusal direction) held out to measure separability (default 0.2). */
  heldOut?: number;
  seed?: number;
  chat?: ChatMode;
  /** The data's files, recorded in the bundle. */
  data?: DataProvenance[];
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, tokens: number) => void;
}

/** One prompt answered both ways. */
export interface AnswerPair {
  prompt: string;
  category: string;
  safe: string;
  unsafe: string;
}

/**
 * Answer pairs from labelled examples: a prompt with an unsafe answer (its category names the
 * pair's) and a safe answer to the same prompt. Several answers to one prompt pair up in order.
 */
export function answerPairs(examples: Example[]): AnswerPair[] {
  const byPrompt = new Map<string, { safe: Example[]; unsafe: Example[] }>();
  for (const e of examples) {
    if (e.response === undefined) continue;
    const g = byPrompt.get(e.prompt) ?? { safe: [], unsafe: [] };
    (e.label === "unsafe" ? g.unsafe : g.safe).push(e);
    byPrompt.set(e.prompt, g);
  }
  const out: AnswerPair[] = [];
  for (const [prompt, g] of byPrompt)
    g.unsafe.forEach((u, i) => {
      const s = g.safe[i];
      if (s && u.category) out.push({ prompt, category: u.category, safe: s.response as string, unsafe: u.response as string });
    });
  return out;
}

function heldOutSplit<T>(xs: T[], heldOut: number, rng: Rng): { train: T[]; test: T[] } {
  const s = rng.shuffled(xs);
  if (s.length < 2) return { train: s, test: [] };
  const nTest = Math.min(s.length - 1, Math.max(1, Math.round(s.length * heldOut)));
  return { train: s.slice(nTest), test: s.slice(0, nTest) };
}

function candidateLayers(ctx: Context, layers: BaselineOptions["layers"]): number[] {
  const out = layersToRead(ctx, layers);
  if (out.length === 0) throw new SteerError("bad_argument", "a baseline needs at least one candidate layer.");
  return out;
}

async function lastTokenActivations(ctx: Context, texts: number[][], site: Site, layers: number[], opts: BaselineOptions) {
  for (const t of texts)
    if (t.length > ctx.nCtx)
      throw new SteerError(
        "bad_argument",
        `a baseline text has ${t.length} tokens, more than the context (${ctx.nCtx}); use a larger --ctx.`,
      );
  const acts = await collectActivations(ctx, texts, { site, layers, reduce: "last", signal: opts.signal, onProgress: opts.onProgress });
  if (opts.signal?.aborted) throw new SteerError("aborted", "stopped while reading the baseline's texts; nothing was built.");
  return acts;
}

/** A vector and its held-out diagnostics: `pos` should project higher than `neg`. */
function diagnose(v: Float32Array, pos: Float32Array[], neg: Float32Array[], kept: number): LayerDiagnostics {
  const p = pos.map((r) => dot(r, v));
  const n = neg.map((r) => dot(r, v));
  const a = auroc(p, n);
  return { norm: norm(v), auroc: Number.isNaN(a) ? null : a, margin: cohensD(p, n), kept };
}

async function assemble(
  ctx: Context,
  method: "caa" | "refusal-direction",
  acts: Activations,
  layers: number[],
  categories: Map<string, CategoryEntry>,
  chat: boolean,
  opts: BaselineOptions,
): Promise<Bundle> {
  const meanNorm: Record<number, number> = {};
  for (const l of layers) {
    let s = 0;
    for (let i = 0; i < acts.n; i++) s += norm(activationRow(acts, l, i));
    meanNorm[l] = s / Math.max(1, acts.n);
  }
  const { cosineByLayer, recommendedStrength } = categoryGeometry([...categories.keys()], categories, layers, meanNorm);
  const fp = await ctx.model.fingerprint();
  return {
    model: { ...fp, name: ctx.model.info.name, fileType: ctx.model.info.fileType },
    site: acts.site,
    reduce: "last",
    prune: "off",
    layers,
    chat,
    categories,
    meanNorm,
    cosine: cosineByLayer,
    data: opts.data ?? [],
    layerRule: `${method}: ${layerRule(undefined, method === "caa" ? "safe vs unsafe answers of held-out pairs" : "harmful vs harmless held-out prompts")}`,
    recommendedStrength,
    toolVersion: TOOL_VERSION,
    created: new Date().toISOString(),
    method,
  };
}

/**
 * CAA vectors per category from answer pairs (answerPairs): the mean paired difference safe minus
 * unsafe at the last token, per candidate layer; the layer by held-out separability of safe and
 * unsafe answers. Strength is relative to the mean last-token activation norm, as for bundles.
 */
export async function buildCaaBundle(ctx: Context, pairs: AnswerPair[], opts: BaselineOptions = {}): Promise<Bundle> {
  if (pairs.length === 0)
    throw new SteerError(
      "not_enough_data",
      "CAA needs answer pairs: the same prompt with a safe and an unsafe response (label unsafe with a category, and label safe).",
    );
  const site = opts.site ?? "resid_post";
  const layers = candidateLayers(ctx, opts.layers);
  const chat = usesChat(ctx.model, opts.chat ?? "auto");
  const rng = new Rng(opts.seed ?? 1);
  const byCat = new Map<string, AnswerPair[]>();
  for (const p of pairs) byCat.set(p.category, [...(byCat.get(p.category) ?? []), p]);
  // rows 2i (safe) and 2i+1 (unsafe) of pair i
  const texts = pairs.flatMap((p) => [
    renderExample(ctx.model, { prompt: p.prompt, response: p.safe }, chat),
    renderExample(ctx.model, { prompt: p.prompt, response: p.unsafe }, chat),
  ]);
  const acts = await lastTokenActivations(ctx, texts, site, layers, opts);
  const index = new Map(pairs.map((p, i) => [p, i]));
  const categories = new Map<string, CategoryEntry>();
  for (const c of [...byCat.keys()].sort()) {
    const { train, test } = heldOutSplit(byCat.get(c) as AnswerPair[], opts.heldOut ?? 0.2, rng);
    const vectors = new Map<number, Float32Array>();
    const diagnostics: Record<number, LayerDiagnostics> = {};
    for (const l of layers) {
      const row = (p: AnswerPair, side: 0 | 1) => activationRow(acts, l, 2 * (index.get(p) as number) + side);
      const diffs = train.map((p) => Float32Array.from(row(p, 0), (x, k) => x - (row(p, 1)[k] as number)));
      const v = meanOf(diffs, acts.width);
      vectors.set(l, v);
      diagnostics[l] = diagnose(
        v,
        test.map((p) => row(p, 0)),
        test.map((p) => row(p, 1)),
        train.length,
      );
    }
    const n = train.length + test.length;
    categories.set(c, {
      steerLayers: [chooseLayer(layers, ctx.model.info.nLayer, diagnostics)],
      vectors,
      diagnostics,
      nUnsafe: n,
      nSafe: n,
      safeSource: "paired",
    });
  }
  return assemble(ctx, "caa", acts, layers, categories, chat, opts);
}

/**
 * The refusal direction: mean(harmful prompts) - mean(harmless prompts) at the last prompt token
 * (the chat template's answer start), per candidate layer, pooled over categories; the layer by
 * held-out separability of harmful and harmless prompts. Every category of the harmful prompts
 * gets the same direction (uncategorised ones: "refusal"), so known-category and conditional
 * conditions steer it as they steer a bundle.
 */
export async function buildRefusalDirectionBundle(
  ctx: Context,
  harmful: Example[],
  harmless: Example[],
  opts: BaselineOptions = {},
): Promise<Bundle> {
  if (harmful.length < 2 || harmless.length < 2)
    throw new SteerError(
      "not_enough_data",
      `the refusal direction needs at least 2 harmful and 2 harmless prompts (got ${harmful.length} and ${harmless.length}).`,
    );
  const site = opts.site ?? "resid_post";
  const layers = candidateLayers(ctx, opts.layers);
  const chat = usesChat(ctx.model, opts.chat ?? "auto");
  const rng = new Rng(opts.seed ?? 1);
  const h = heldOutSplit(harmful, opts.heldOut ?? 0.2, rng);
  const b = heldOutSplit(harmless, opts.heldOut ?? 0.2, rng);
  const all = [...h.train, ...h.test, ...b.train, ...b.test];
  const texts = all.map((e) => renderExample(ctx.model, { prompt: e.prompt }, chat));
  const acts = await lastTokenActivations(ctx, texts, site, layers, opts);
  const at = (from: number, count: number, l: number) => Array.from({ length: count }, (_, i) => activationRow(acts, l, from + i));
  const nh = h.train.length + h.test.length;
  const vectors = new Map<number, Float32Array>();
  const diagnostics: Record<number, LayerDiagnostics> = {};
  for (const l of layers) {
    const mh = meanOf(at(0, h.train.length, l), acts.width);
    const mb = meanOf(at(nh, b.train.length, l), acts.width);
    const v = Float32Array.from(mh, (x, k) => x - (mb[k] as number));
    vectors.set(l, v);
    diagnostics[l] = diagnose(v, at(h.train.length, h.test.length, l), at(nh + b.train.length, b.test.length, l), h.train.length);
  }
  const layer = chooseLayer(layers, ctx.model.info.nLayer, diagnostics);
  const cats = [...new Set(harmful.map((e) => e.category ?? "refusal"))].sort();
  const categories = new Map<string, CategoryEntry>(
    cats.map((c) => [
      c,
      { steerLayers: [layer], vectors, diagnostics, nUnsafe: nh, nSafe: all.length - nh, safeSource: "generic" as const },
    ]),
  );
  return assemble(ctx, "refusal-direction", acts, layers, categories, chat, opts);
}
