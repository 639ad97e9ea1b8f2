// Measures, on a loaded model, what each known site supports: capture (the site's tensor is found and
// read at one layer) and steering (a vector added there moves the logits). A few-token text is
// evaluated once plainly and once steered per site, in exact arithmetic so that "no effect" is exactly
// zero: cheap enough for `safesteer info`, and a flag is never trusted in place of the measurement.
import { Rng } from "../util/random.js";
import { Context, type SteeringVector } from "./context.js";
import { EngineError } from "./errors.js";
import type { Model } from "./model.js";
import { KNOWN_SITES, type KnownSite, SITE_NAMES, siteWidth } from "./sites.js";

export interface SiteCapture {
  ok: boolean;
  /** Norm of the captured mean activation. */
  norm?: number;
  error?: string;
}

export interface SiteSteering {
  ok: boolean;
  /** llama.cpp's control vector (resid_post) or a write hook. */
  via?: "native" | "hook";
  /** Largest change of any logit of the last token. */
  logitChange?: number;
  error?: string;
}

export interface SiteProbe {
  site: KnownSite;
  layer: number;
  capture: SiteCapture;
  steer: SiteSteering;
}

export interface ProbeOptions {
  /** Layer to probe (default: the middle one, at least 1 so that control vectors can apply). */
  layer?: number;
  text?: string;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A short reason for the table: a hook that found no tensor is this architecture's graph, not a bug. */
function reason(e: unknown, site: KnownSite, arch: string): string {
  return e instanceof EngineError && e.code === "bad_site" && /not (found|in this model's graph)/.test(e.message)
    ? `llama.cpp's ${arch} graph leaves ${site} unnamed (${SITE_NAMES[site]})`
    : message(e);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

export async function probeSites(model: Model, opts: ProbeOptions = {}): Promise<SiteProbe[]> {
  const { nLayer } = model.info;
  const layer = opts.layer ?? Math.min(Math.max(1, Math.floor(nLayer / 2)), nLayer - 1);
  const tokens = model.tokenize(opts.text ?? "The quick brown fox").slice(0, 8);
  const ctx = new Context(model, { nCtx: 256, nBatch: 16, exact: true });
  try {
    const plain = (await ctx.evaluate([tokens])).logits[0]?.[0] as Float32Array;
    const out: SiteProbe[] = [];
    for (const site of KNOWN_SITES) {
      const capture: SiteCapture = { ok: false };
      const width = siteWidth(model.info, site);
      const rng = new Rng(12345);
      const direction = Float32Array.from({ length: width }, () => rng.normal());
      const dirNorm = Math.hypot(...direction);
      try {
        const c = (await ctx.evaluate([tokens], { capture: { site, layers: [layer], reduce: "mean" }, logits: "none" })).capture;
        const v = c?.reduced(0, layer) as Float32Array;
        capture.norm = Math.hypot(...v);
        capture.ok = Number.isFinite(capture.norm) && capture.norm > 0;
        if (!capture.ok) capture.error = `the captured activation has norm ${capture.norm}`;
      } catch (e) {
        capture.error = reason(e, site, model.info.architecture);
      }
      // a vector as long as the activation it is added to (or sqrt(width) without one): a clear, sane push
      const scale = (capture.ok ? (capture.norm as number) : Math.sqrt(width)) / dirNorm;
      const vector = direction.map((x) => x * scale);
      const steer = await steerOnce(ctx, tokens, plain, { site, layer, vector }, (e) => reason(e, site, model.info.architecture));
      out.push({ site, layer, capture, steer });
    }
    return out;
  } finally {
    ctx.dispose();
  }
}

/** Steers one site and measures the logit change; resid_post falls back to a hook where control vectors do nothing. */
async function steerOnce(
  ctx: Context,
  tokens: number[],
  plain: Float32Array,
  sv: SteeringVector,
  describe: (e: unknown) => string,
): Promise<SiteSteering> {
  const tries: SteeringVector[] = sv.site === "resid_post" && sv.layer >= 1 ? [sv, { ...sv, via: "hook" }] : [sv];
  let last: SiteSteering = { ok: false };
  for (const t of tries) {
    const via = t.site === "resid_post" && t.layer >= 1 && t.via !== "hook" ? "native" : "hook";
    try {
      const h = await ctx.applySteering([t]);
      try {
        const steered = (await ctx.evaluate([tokens])).logits[0]?.[0] as Float32Array;
        const logitChange = maxAbsDiff(steered, plain);
        if (logitChange > 0) return { ok: true, via, logitChange };
        last = { ok: false, via, logitChange, error: "the logits did not change" };
      } finally {
        h.release();
      }
    } catch (e) {
      last = { ok: false, via, error: describe(e) };
    }
  }
  return last;
}
