// llama.cpp's control-vector GGUF: general.architecture = "controlvector", controlvector.model_hint,
// controlvector.layer_count, and one F32 tensor direction.<N> per steered layer, N >= 1 being the
// layer whose output (l_out-N, our resid_post) the vector is added to. One vector set per file.

import type { SteeringVector } from "./context.js";
import { EngineError } from "./errors.js";
import { metaString, readGguf, readTensor } from "./gguf/reader.js";
import { GgmlType, type GgufValue, gv } from "./gguf/types.js";
import { writeGguf } from "./gguf/writer.js";

export interface ControlVector {
  modelHint: string;
  /** layer -> direction (resid_post of that layer) */
  directions: Map<number, Float32Array>;
}

export function readControlVector(path: string): ControlVector {
  const f = readGguf(path, "control vector");
  if (metaString(f, "general.architecture") !== "controlvector") {
    throw new EngineError("bad_vector", `${path} is not a llama.cpp control vector (general.architecture is not "controlvector").`);
  }
  const directions = new Map<number, Float32Array>();
  for (const t of f.tensors) {
    const m = /^direction\.(\d+)$/.exec(t.name);
    if (!m || Number(m[1]) === 0) {
      throw new EngineError("bad_vector", `${path}: tensor ${t.name} is not direction.<N> with N >= 1; llama.cpp would reject this file.`);
    }
    if (t.dims.length !== 1) throw new EngineError("bad_vector", `${path}: ${t.name} must be 1-D, has dims [${t.dims}].`);
    directions.set(Number(m[1]), readTensor(f, t.name));
  }
  return { modelHint: metaString(f, "controlvector.model_hint") ?? "", directions };
}

export function writeControlVector(path: string, cv: ControlVector, extra: Record<string, GgufValue> = {}): void {
  const layers = [...cv.directions.keys()].sort((a, b) => a - b);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 1) {
      throw new EngineError(
        "bad_layer",
        `llama.cpp control vectors cannot hold layer ${l} (layers start at 1); steer layer 0 through a hook instead.`,
      );
    }
  }
  writeGguf(
    path,
    {
      "general.architecture": gv.str("controlvector"),
      "controlvector.model_hint": gv.str(cv.modelHint),
      "controlvector.layer_count": gv.u32(layers.length),
      ...extra,
    },
    layers.map((l) => {
      const data = cv.directions.get(l) as Float32Array;
      return { name: `direction.${l}`, dims: [data.length], type: GgmlType.F32, data };
    }),
  );
}

/** Checks a control vector against a model's shape before it is used. */
export function checkControlVector(cv: ControlVector, model: { nLayer: number; nEmbd: number }, source = "control vector"): void {
  for (const [l, d] of cv.directions) {
    if (l >= model.nLayer) {
      throw new EngineError(
        "bad_vector",
        `${source} has a direction for layer ${l} but the model has ${model.nLayer} layers (0..${model.nLayer - 1}): it was made for another model.`,
      );
    }
    if (d.length !== model.nEmbd) {
      throw new EngineError(
        "bad_vector",
        `${source} has width ${d.length} at layer ${l} but the model's width is ${model.nEmbd}: it was made for another model.`,
      );
    }
    const bad = d.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0)
      throw new EngineError("bad_vector", `${source} contains ${d[bad]} at layer ${l}, index ${bad}: vectors must be finite numbers.`);
  }
}

/** A control vector as steering at resid_post, scaled by strength. */
export function controlVectorSteering(cv: ControlVector, strength = 1): SteeringVector[] {
  return [...cv.directions].map(([layer, vector]) => ({ site: "resid_post", layer, vector, strength }));
}
