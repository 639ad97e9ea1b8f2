// A policy says how strongly to steer each category: {category: strength}. Categories at one layer
// compose by topping up (composeAtLayer): each adds only what the others have not already added
// along its direction, so categories that share a direction are not pushed several times over.
import type { SteeringVector } from "../engine/context.js";
import { bundleCategory } from "./bundle.js";
import { SteerError } from "./errors.js";
import { norm } from "./math.js";
import type { Bundle, Policy } from "./types.js";

/**
 * The largest |strength| accepted, relative or raw. Relative 1 already adds a vector as large as a
 * typical activation; far beyond 100 the text degenerates (1e30 gives empty or garbage output).
 */
export const MAX_STRENGTH = 100;

/** A finite strength with |s| <= MAX_STRENGTH, else a one-line error naming the limit. */
export function checkStrength(category: string, strength: number): void {
  if (!(Number.isFinite(strength) && Math.abs(strength) <= MAX_STRENGTH)) {
    throw new SteerError(
      "bad_policy",
      `strength ${strength} for ${category} is out of range: use a finite strength between -${MAX_STRENGTH} and ${MAX_STRENGTH} (relative 1 = as large as a typical activation).`,
    );
  }
}

/** "hate_harass_violence=1.0,physical_harm=0.5" -> {hate_harass_violence: 1, physical_harm: 0.5} */
export function parsePolicy(spec: string): Policy {
  const out: Policy = {};
  for (const part of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9_]+)\s*=\s*(-?[0-9.eE+-]+)$/.exec(part);
    const v = m ? Number(m[2]) : Number.NaN;
    if (!m || !Number.isFinite(v)) {
      throw new SteerError(
        "bad_policy",
        `cannot read "${part}" in the policy "${spec}": write category=strength pairs separated by commas, e.g. violence=1.0,theft=0.5.`,
      );
    }
    checkStrength(m[1] as string, v);
    if ((m[1] as string) in out) throw new SteerError("bad_policy", `category ${m[1]} appears twice in the policy "${spec}".`);
    out[m[1] as string] = v;
  }
  if (Object.keys(out).length === 0) throw new SteerError("bad_policy", "the policy is empty: give at least one category=strength.");
  return out;
}

export interface PolicyOptions {
  /** Strength multiplies the raw vector (the paper's m) instead of the relative unit. */
  raw?: boolean;
  /** Steer this layer instead of each category's own (sweeps). */
  layer?: number;
}

/**
 * Turns a policy into steering vectors. Relative strength s adds a vector whose norm is s times the
 * mean activation norm at that site and layer (s = 1: as large as a typical activation), so one
 * number means the same across models and layers. Raw strength m adds m x w as in the paper.
 */
export function policySteering(b: Bundle, policy: Policy, opts: PolicyOptions = {}): SteeringVector[] {
  const out: SteeringVector[] = [];
  for (const [name, strength] of Object.entries(policy)) {
    const entry = bundleCategory(b, name);
    // library callers (and a bundle's own tuned strengths) bypass parsePolicy: check here too
    checkStrength(name, strength);
    const layers = opts.layer !== undefined ? [opts.layer] : entry.steerLayers;
    for (const layer of layers) {
      const v = entry.vectors.get(layer);
      if (!v)
        throw new SteerError(
          "bad_argument",
          `category ${name} has no vector at layer ${layer}; the bundle has layers ${[...entry.vectors.keys()].join(", ")}.`,
        );
      let scale = strength;
      if (!opts.raw) {
        const mn = b.meanNorm[layer];
        const vn = norm(v);
        if (mn === undefined || !(mn > 0)) {
          throw new SteerError(
            "bad_argument",
            `the bundle has no activation norm at layer ${layer} (imported vectors); give the strength with --raw-strength.`,
          );
        }
        scale = vn > 0 ? (strength * mn) / vn : 0;
      }
      out.push({ site: b.site, layer, vector: v, strength: scale });
    }
  }
  return composeAtLayer(out);
}

/**
 * One vector per site and layer from several categories' scaled vectors. Summing them pushes a
 * shared direction once per category: harm categories' vectors are often nearly parallel (cosine
 * 0.95 on the organism), and five of them summed at their tuned strengths end every answer at
 * once. Instead each category, weakest push first, adds only its shortfall along its own unit
 * direction: parallel vectors give the strongest alone, orthogonal ones their sum, opposed ones the
 * stronger, and a single category is unchanged (strength x vector).
 */
export function composeAtLayer(vectors: SteeringVector[]): SteeringVector[] {
  const groups = new Map<string, SteeringVector[]>();
  for (const sv of vectors) {
    const key = `${sv.site}/${sv.layer}/${sv.via ?? ""}/${sv.seq ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), sv]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0] as SteeringVector;
    if (g.length === 1) return first;
    const pushes = g
      .map((sv) => ({ v: sv.vector, n: norm(sv.vector), s: sv.strength ?? 1 }))
      .filter((p) => p.n > 0 && p.s !== 0)
      // weakest first: the strongest comes last and is met in full, so no weaker push undoes it
      .sort((a, z) => Math.abs(a.s * a.n) - Math.abs(z.s * z.n));
    const x = new Float32Array(first.vector.length);
    for (const p of pushes) {
      const target = p.s * p.n; // the push wanted along the unit direction v / n
      let along = 0;
      for (let i = 0; i < x.length; i++) along += (x[i] as number) * (p.v[i] as number);
      along /= p.n;
      const short = target - along;
      if (Math.sign(short) !== Math.sign(target)) continue; // already pushed at least that far
      for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + (short * (p.v[i] as number)) / p.n;
    }
    return { ...first, vector: x, strength: 1 };
  });
}

/** The bundle's own policy: every category at its tuned strength, else the bundle's recommended one. */
export function bundlePolicy(b: Bundle): Policy {
  return Object.fromEntries([...b.categories].map(([c, e]) => [c, e.strength ?? b.recommendedStrength]));
}

/** A --steer option: "all" (the bundle's own policy) or category=strength pairs. */
export function policyOption(spec: string, b: Bundle): Policy {
  return spec === "all" ? bundlePolicy(b) : parsePolicy(spec);
}

/** A --steer option where "none" is allowed too (the server's default: steer nothing unless a request asks). */
export function policySpec(spec: string): Policy | "all" | "none" {
  return spec === "all" || spec === "none" ? spec : parsePolicy(spec);
}
