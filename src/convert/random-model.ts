// Random-weight GGUFs for tests and benchmarks: any architecture in the table, width, depth and
// vocabulary size, deterministic from a seed. Outputs are meaningless; shapes, metadata, speed and
// steering math are real.

import { EngineError } from "../engine/errors.js";
import { GgmlType, type GgufValue } from "../engine/gguf/types.js";
import { Rng } from "../util/random.js";
import { ARCHITECTURES, type ArchName, type ArchShape, headTensors, type TensorPlan } from "./architectures.js";
import { type WeightTensor, writeModelGguf } from "./model-gguf.js";
import { syntheticVocab } from "./vocab.js";

export { syntheticVocab } from "./vocab.js";

export interface RandomModelSpec {
  /** Row of the architecture table (default llama). */
  arch?: ArchName;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** Default: the architecture's grouping (e.g. n_head / 4 for llama3). */
  nHeadKv?: number;
  /** Default: the architecture's head size rule (n_embd / n_head for most). */
  headDim?: number;
  nFf?: number;
  nVocab?: number;
  nCtxTrain?: number;
  type?: "f32" | "f16";
  seed?: number;
  chatTemplate?: string;
  /** Metadata over the architecture's own (e.g. a shorter gemma3.attention.sliding_window). */
  metadata?: Record<string, GgufValue>;
}

/** The concrete sizes of a spec, with the architecture's defaults filled in and checked. */
export function randomShape(spec: RandomModelSpec): ArchShape {
  const a = ARCHITECTURES[spec.arch ?? "llama"];
  const E = spec.nEmbd;
  const nHeadKv = spec.nHeadKv ?? a.kvHeads(spec.nHead);
  const headDim = spec.headDim ?? (a.headDim ? a.headDim(E, spec.nHead) : E / spec.nHead);
  const bad = (why: string) => new EngineError("bad_argument", `cannot make a random ${spec.arch ?? "llama"} model: ${why}`);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0)
    throw bad(`head size ${headDim} (width ${E}, ${spec.nHead} heads) must be an even whole number.`);
  if (!Number.isInteger(nHeadKv) || nHeadKv < 1 || spec.nHead % nHeadKv !== 0) {
    throw bad(`${spec.nHead} heads cannot be shared by ${nHeadKv} K/V heads (it must divide the head count; choose it with --kv-heads).`);
  }
  return {
    nEmbd: E,
    nLayer: spec.nLayer,
    nHead: spec.nHead,
    nHeadKv,
    headDim,
    nFf: spec.nFf ?? Math.round((E * 8) / 3 / 32) * 32,
    nVocab: spec.nVocab ?? 512,
  };
}

export function writeRandomGguf(path: string, spec: RandomModelSpec): void {
  const name = spec.arch ?? "llama";
  const a = ARCHITECTURES[name];
  const s = randomShape(spec);
  const rng = new Rng(spec.seed ?? 1);
  const fill = (t: TensorPlan): WeightTensor => {
    const n = t.dims.reduce((x, y) => x * y, 1);
    let data: Float32Array;
    if (t.init instanceof Float32Array) data = t.init;
    else if (t.init === "ones") data = new Float32Array(n).fill(1);
    else {
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = rng.normal() * t.init.std;
    }
    return { name: t.name, dims: t.dims, data };
  };
  // blocks are drawn before the embedding and head, and written after them (the first random models' order)
  // key/value_length are written where the family's converter writes them, or when asked for
  const writesHeadDim = a.headDim !== undefined || spec.headDim !== undefined;
  const blocks = Array.from({ length: s.nLayer }, (_, i) => a.block(`blk.${i}.`, s).map(fill)).flat();
  const globals = [...headTensors(s, a.tied), ...(a.extra?.(s, a.ropeFreqBase) ?? [])].map(fill);
  writeModelGguf(
    path,
    a.gguf,
    {
      name: `random-${name === "llama" ? "" : `${name}-`}${s.nEmbd}x${s.nLayer}`,
      nEmbd: s.nEmbd,
      nFf: s.nFf,
      nLayer: s.nLayer,
      nHead: s.nHead,
      nHeadKv: s.nHeadKv,
      headDim: writesHeadDim ? s.headDim : undefined,
      nCtxTrain: spec.nCtxTrain ?? 2048,
      rmsEps: a.rmsEps,
      ropeFreqBase: a.ropeFreqBase,
    },
    syntheticVocab(s.nVocab, a.specials),
    [...globals, ...blocks],
    {
      matrixType: spec.type === "f16" ? GgmlType.F16 : GgmlType.F32,
      chatTemplate: spec.chatTemplate,
      extraMetadata: { ...a.metadata(s), ...spec.metadata },
    },
  );
}

/** A random llama-architecture model (the table's first row unless spec.arch says otherwise). */
export function writeRandomLlamaGguf(path: string, spec: RandomModelSpec): void {
  writeRandomGguf(path, spec);
}
