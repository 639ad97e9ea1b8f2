// Activation collection: every text through the model, reduced over its tokens at one site for
// several layers, several texts per decode. Nothing partial is returned: an abort throws.

import type { Reduction } from "../engine/capture.js";
import type { Context } from "../engine/context.js";
import type { Site } from "../engine/sites.js";
import { SteerError } from "./errors.js";

export interface CollectOptions {
  site: Site;
  layers: readonly number[];
  reduce: Extract<Reduction, "mean" | "last">;
  /** Per text: the first token position reduced (default 0: all of them). */
  from?: readonly number[];
  signal?: AbortSignal;
  /** Called after each batch with texts and tokens done so far. */
  onProgress?: (done: number, total: number, tokens: number) => void;
}

/** The layers to read: "auto" (or none given) is every layer; a list is deduplicated and sorted, each checked. */
export function layersToRead(ctx: Context, layers: "auto" | number[] | undefined): number[] {
  const out =
    layers === undefined || layers === "auto"
      ? Array.from({ length: ctx.model.info.nLayer }, (_, i) => i)
      : [...new Set(layers)].sort((a, b) => a - b);
  for (const l of out) ctx.checkLayer(l);
  return out;
}

/** Reduced activations of n texts: per layer one n x width matrix, rows in input order. */
export interface Activations {
  site: Site;
  reduce: "mean" | "last";
  layers: number[];
  width: number;
  n: number;
  byLayer: Map<number, Float32Array>;
  tokens: number;
}

export function activationRow(a: Activations, layer: number, i: number): Float32Array {
  const m = a.byLayer.get(layer);
  if (!m) throw new SteerError("bad_argument", `no activations were collected at layer ${layer}.`);
  return m.subarray(i * a.width, (i + 1) * a.width);
}

export async function collectActivations(ctx: Context, texts: number[][], opts: CollectOptions): Promise<Activations> {
  const width = ctx.siteWidth(opts.site);
  const layers = [...opts.layers];
  const byLayer = new Map(layers.map((l) => [l, new Float32Array(texts.length * width)]));
  let tokens = 0;
  // texts longer than the context are an error from evaluate(); group by the context's sequences
  for (let start = 0; start < texts.length; ) {
    if (opts.signal?.aborted)
      throw new SteerError("aborted", `activation collection stopped after ${start} of ${texts.length} texts; nothing was written.`);
    const group: number[][] = [];
    let used = 0;
    while (start + group.length < texts.length && group.length < ctx.nSeq) {
      const t = texts[start + group.length] as number[];
      if (group.length > 0 && used + t.length > ctx.nCtx) break;
      group.push(t);
      used += t.length;
    }
    const from = opts.from?.slice(start, start + group.length);
    const { capture } = await ctx.evaluate(group, {
      capture: { site: opts.site, layers, reduce: opts.reduce, ...(from ? { from } : {}) },
      logits: "none",
    });
    group.forEach((_, g) => {
      for (const l of layers) (byLayer.get(l) as Float32Array).set(capture!.reduced(g, l), (start + g) * width);
    });
    start += group.length;
    tokens += used;
    opts.onProgress?.(start, texts.length, tokens);
  }
  return { site: opts.site, reduce: opts.reduce, layers, width, n: texts.length, byLayer, tokens };
}
