// A bundle: every category's steering vectors for one model, with provenance and diagnostics,
// stored as one GGUF file (our own metadata keys; vectors as F32 tensors vec.<category>.<layer>).

import { metaNumber, metaString, readGguf, readTensor } from "../engine/gguf/reader.js";
import { GgmlType, type GgufTensorInput, GgufType, gv } from "../engine/gguf/types.js";
import { writeGguf } from "../engine/gguf/writer.js";
import type { ModelFingerprint } from "../engine/model.js";
import { SteerError } from "./errors.js";
import {
  type Bundle,
  type CategoryEntry,
  type DataProvenance,
  type Detector,
  type DetectorPooling,
  VECTOR_METHODS,
  type VectorMethod,
} from "./types.js";

/**
 * The newest bundle format: 2 lets a detector category read several layers joined (`layers`).
 * A bundle is written in the oldest format that holds it (1 unless its detector joins layers), so
 * older SafeSteers still read the bundles they can use, and refuse the ones they would misread.
 */
export const BUNDLE_FORMAT_VERSION = 2;
const READABLE_FORMATS = [1, 2];
export const TOOL_VERSION = "0.1.0";

const K = "safesteer.";

export function writeBundle(path: string, b: Bundle): void {
  const names = [...b.categories.keys()];
  const tensors: GgufTensorInput[] = [];
  const perCategory: Record<string, Omit<CategoryEntry, "vectors">> = {};
  for (const [c, e] of b.categories) {
    for (const [l, v] of [...e.vectors].sort((x, y) => x[0] - y[0]))
      tensors.push({ name: `vec.${c}.${l}`, dims: [v.length], type: GgmlType.F32, data: v });
    const { vectors: _v, ...rest } = e;
    perCategory[c] = rest;
  }
  const detector = b.detector && {
    site: b.detector.site,
    reduce: b.detector.reduce,
    categories: Object.fromEntries(
      Object.entries(b.detector.categories).map(([c, d]) => {
        tensors.push({ name: `det.${c}`, dims: [d.direction.length], type: GgmlType.F32, data: d.direction });
        return [c, { layer: d.layer, ...(d.layers ? { layers: d.layers } : {}), threshold: d.threshold, scale: d.scale }];
      }),
    ),
  };
  writeGguf(
    path,
    {
      "general.architecture": gv.str("safesteer"),
      [`${K}format_version`]: gv.u32(Object.values(b.detector?.categories ?? {}).some((d) => d.layers) ? 2 : 1),
      [`${K}tool_version`]: gv.str(b.toolVersion),
      [`${K}created`]: gv.str(b.created),
      [`${K}model.architecture`]: gv.str(b.model.architecture),
      [`${K}model.name`]: gv.str(b.model.name),
      [`${K}model.n_layer`]: gv.u32(b.model.nLayer),
      [`${K}model.n_embd`]: gv.u32(b.model.nEmbd),
      [`${K}model.n_vocab`]: gv.u32(b.model.nVocab),
      [`${K}model.sha256`]: gv.str(b.model.sha256),
      ...(b.model.fileType ? { [`${K}model.file_type`]: gv.str(b.model.fileType) } : {}),
      [`${K}site`]: gv.str(b.site),
      [`${K}reduce`]: gv.str(b.reduce),
      [`${K}prune`]: gv.str(String(b.prune)),
      [`${K}layers`]: gv.arr(GgufType.INT32, b.layers),
      [`${K}chat`]: gv.bool(b.chat),
      [`${K}categories`]: gv.arr(GgufType.STRING, names),
      [`${K}layer_rule`]: gv.str(b.layerRule),
      [`${K}recommended_strength`]: gv.f64(b.recommendedStrength),
      [`${K}data`]: gv.str(JSON.stringify(b.data)),
      [`${K}diagnostics`]: gv.str(JSON.stringify({ categories: perCategory, meanNorm: b.meanNorm, cosine: b.cosine })),
      ...(detector ? { [`${K}detector`]: gv.str(JSON.stringify(detector)) } : {}),
      ...(b.method && b.method !== "safesteer" ? { [`${K}method`]: gv.str(b.method) } : {}),
    },
    tensors,
  );
}

export function readBundle(path: string): Bundle {
  const f = readGguf(path, "bundle");
  if (metaString(f, "general.architecture") !== "safesteer") {
    const hint =
      metaString(f, "general.architecture") === "controlvector"
        ? " It is a llama.cpp control vector: turn it into a bundle with `safesteer import`."
        : "";
    throw new SteerError("bad_bundle", `${path} is not a SafeSteer bundle.${hint}`);
  }
  const version = metaNumber(f, `${K}format_version`);
  if (version === undefined || !READABLE_FORMATS.includes(version)) {
    throw new SteerError(
      "bad_bundle",
      `${path} has bundle format ${version}; this SafeSteer reads formats ${READABLE_FORMATS.join(" and ")}. Rebuild it.`,
    );
  }
  const str = (k: string) => metaString(f, K + k) ?? "";
  const num = (k: string) => metaNumber(f, K + k) ?? Number.NaN;
  let diag: {
    categories: Record<string, Omit<CategoryEntry, "vectors">>;
    meanNorm: Record<number, number>;
    cosine: Record<number, number[][]>;
  };
  let data: DataProvenance[];
  try {
    diag = JSON.parse(str("diagnostics"));
    data = JSON.parse(str("data"));
  } catch {
    throw new SteerError("bad_bundle", `${path}: the bundle's diagnostics or data provenance is not valid JSON; the file is damaged.`);
  }
  const names = (f.metadata.get(`${K}categories`)?.value as string[] | undefined) ?? [];
  const categories = new Map<string, CategoryEntry>();
  for (const c of names) {
    const vectors = new Map<number, Float32Array>();
    for (const t of f.tensors) {
      const m = /^vec\.(.+)\.(\d+)$/.exec(t.name);
      if (m && m[1] === c) vectors.set(Number(m[2]), readTensor(f, t.name));
    }
    const d = diag.categories[c];
    if (!d) throw new SteerError("bad_bundle", `${path}: category ${c} has no diagnostics; the file is damaged.`);
    categories.set(c, { ...d, vectors });
  }
  const prune = str("prune");
  const methodName = str("method");
  if (methodName && !VECTOR_METHODS.includes(methodName as VectorMethod))
    throw new SteerError(
      "bad_bundle",
      `${path} was made by an unknown method "${methodName}"; this SafeSteer knows ${VECTOR_METHODS.join(", ")}.`,
    );
  const method = methodName ? (methodName as VectorMethod) : undefined;
  const detJson = str("detector");
  let detector: Detector | undefined;
  if (detJson) {
    const d = JSON.parse(detJson) as {
      site: string;
      reduce: DetectorPooling;
      categories: Record<string, { layer: number; layers?: number[]; threshold: number; scale: number }>;
    };
    detector = {
      site: d.site,
      reduce: d.reduce,
      categories: Object.fromEntries(Object.entries(d.categories).map(([c, x]) => [c, { ...x, direction: readTensor(f, `det.${c}`) }])),
    };
  }
  return {
    model: {
      architecture: str("model.architecture"),
      name: str("model.name"),
      nLayer: num("model.n_layer"),
      nEmbd: num("model.n_embd"),
      nVocab: num("model.n_vocab"),
      sha256: str("model.sha256"),
      ...(metaString(f, `${K}model.file_type`) ? { fileType: metaString(f, `${K}model.file_type`) } : {}),
    },
    site: str("site"),
    reduce: str("reduce") as "mean" | "last",
    prune: prune === "off" ? "off" : Number(prune),
    layers: ((f.metadata.get(`${K}layers`)?.value as number[] | undefined) ?? []).map(Number),
    chat: f.metadata.get(`${K}chat`)?.value === true,
    categories,
    meanNorm: diag.meanNorm,
    cosine: diag.cosine,
    data,
    layerRule: str("layer_rule"),
    recommendedStrength: num("recommended_strength"),
    toolVersion: str("tool_version"),
    created: str("created"),
    ...(detector ? { detector } : {}),
    ...(method ? { method } : {}),
  };
}

/**
 * Refuses a bundle made for another model. Width and layer count always must match; --force
 * accepts a different file (fingerprint), e.g. a quantised or fine-tuned copy of the same model.
 */
export function checkBundleModel(b: Bundle, fp: ModelFingerprint, opts: { force?: boolean } = {}): void {
  const made = `${b.model.name || b.model.architecture} (${b.model.nLayer} layers, width ${b.model.nEmbd}${b.model.fileType ? `, ${b.model.fileType}` : ""}, sha256 ${b.model.sha256.slice(0, 12)})`;
  if (b.model.nEmbd !== fp.nEmbd || b.model.nLayer !== fp.nLayer) {
    throw new SteerError(
      "wrong_model",
      `this bundle was made for ${made}, but the model has ${fp.nLayer} layers and width ${fp.nEmbd}: its vectors cannot apply. Build a bundle for this model.`,
    );
  }
  if (!opts.force && (b.model.sha256 !== fp.sha256 || b.model.architecture !== fp.architecture)) {
    throw new SteerError(
      "wrong_model",
      `this bundle was made for ${made}, not for this model file (sha256 ${fp.sha256.slice(0, 12)}). Build a bundle for it, or pass --force if it is the same model in another file (e.g. quantised).`,
    );
  }
}

/** A category of the bundle, or an error listing the ones it has. */
export function bundleCategory(b: Bundle, name: string): CategoryEntry {
  const e = b.categories.get(name);
  if (!e) throw new SteerError("unknown_category", `unknown category "${name}": this bundle has ${[...b.categories.keys()].join(", ")}.`);
  return e;
}
