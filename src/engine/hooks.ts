// Activation sites, read hooks (captures with streaming reductions) and write hooks (add a vector
// at a site). Names follow TransformerLens; llama.cpp tensor names appear only in SITE_TENSORS.
import type { TensorObserver, TensorRef } from "../native/llama.js";
import { EngineError } from "./errors.js";

/** Our site names and the llama.cpp graph tensor each one reads ("<tensor>-<layer>"). */
export const SITE_TENSORS = {
  /** residual stream after the block; where llama.cpp adds control vectors */
  resid_post: "l_out",
  /** residual stream between attention and MLP */
  resid_mid: "ffn_inp",
  /** attention output projection, before the residual add (the SafeSteer paper's site) */
  attn_out: "attn_out",
  /** MLP output, before the residual add (the first tensor named ffn_out in the layer) */
  mlp_out: "ffn_out",
} as const;

export type KnownSite = keyof typeof SITE_TENSORS;
/** A known site, or any raw llama.cpp tensor base name (e.g. "kqv_out", "ffn_norm"). */
export type Site = KnownSite | (string & {});
export type Reduction = "sum" | "mean" | "last" | "none";

export const KNOWN_SITES = Object.keys(SITE_TENSORS) as KnownSite[];

export function isKnownSite(site: string): site is KnownSite {
  return site in SITE_TENSORS;
}

export function siteTensor(site: Site): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(site)) {
    throw new EngineError(
      "bad_site",
      `"${site}" is not a site name. Use one of ${KNOWN_SITES.join(", ")}, or a raw llama.cpp tensor name such as kqv_out.`,
    );
  }
  return isKnownSite(site) ? SITE_TENSORS[site] : site;
}

/** One decode's row layout: which sequence each batch row belongs to, and which rows are outputs. */
export interface BatchLayout {
  seqIds: ArrayLike<number>;
  outputs: ArrayLike<boolean | number>;
}

/** Maps the rows of a tensor to batch rows: all tokens, or only the output rows (last layer). */
function rowMap(rows: number, layout: BatchLayout, name: string): ArrayLike<number> {
  const n = layout.seqIds.length;
  if (rows === n) return { length: n } as ArrayLike<number>;
  const outs: number[] = [];
  for (let i = 0; i < n; i++) if (layout.outputs[i]) outs.push(i);
  if (rows === outs.length) return outs;
  throw new EngineError("bad_site", `tensor ${name} has ${rows} rows but the batch has ${n} tokens (${outs.length} outputs).`);
}

export interface CaptureSpec {
  site: Site;
  layers: readonly number[];
  reduce: Reduction;
}

interface Acc {
  sum: Float64Array;
  count: number;
  last: Float32Array;
  rows: Float32Array[];
}

/**
 * Collects activations of one site at several layers over any number of decodes, reducing as it
 * goes so that only one vector per sequence and layer is kept (except for "none").
 */
export class Capture {
  readonly tensorBase: string;
  private readonly byName = new Map<string, number>();
  private readonly acc = new Map<string, Acc>();
  private readonly seenLayers = new Set<number>();
  private askedThisGraph = new Set<string>();
  private buf = new Float32Array(0);

  constructor(
    readonly spec: CaptureSpec,
    readonly width: number,
  ) {
    this.tensorBase = siteTensor(spec.site);
    for (const l of spec.layers) this.byName.set(`${this.tensorBase}-${l}`, l);
  }

  /**
   * Observer for one decode with the given row layout. With stopAfterLast, the graph stops once the
   * deepest captured layer is read: later layers and the output head are skipped when no logits are
   * needed (the K/V cache of the skipped layers is never read by a capture-only evaluation).
   */
  observer(layout: BatchLayout, stopAfterLast = false): TensorObserver {
    this.askedThisGraph = new Set();
    const lastName = `${this.tensorBase}-${Math.max(...this.spec.layers)}`;
    return {
      want: (name) => {
        if (!this.byName.has(name) || this.askedThisGraph.has(name)) return false;
        this.askedThisGraph.add(name); // first tensor of that name in the graph (mlp_out vs the residual sum)
        return true;
      },
      seen: (t) => {
        this.take(t, layout);
        return !(stopAfterLast && t.name === lastName);
      },
    };
  }

  private take(t: TensorRef, layout: BatchLayout): void {
    const layer = this.byName.get(t.name);
    if (layer === undefined) return;
    if (!t.isF32Contiguous) throw new EngineError("bad_site", `tensor ${t.name} is not a contiguous F32 tensor; it cannot be captured.`);
    const [w, rows] = t.ne;
    if (w !== this.width) throw new EngineError("bad_site", `tensor ${t.name} has width ${w}, not the model width ${this.width}.`);
    if (this.buf.length < w * rows) this.buf = new Float32Array(w * rows);
    const data = t.read(this.buf);
    const map = rowMap(rows, layout, t.name);
    const direct = !Array.isArray(map);
    this.seenLayers.add(layer);
    for (let r = 0; r < rows; r++) {
      const b = direct ? r : (map[r] as number);
      const seq = layout.seqIds[b] as number;
      const a = this.slot(seq, layer);
      const row = data.subarray(r * w, (r + 1) * w);
      a.count++;
      switch (this.spec.reduce) {
        case "sum":
        case "mean":
          for (let i = 0; i < w; i++) (a.sum[i] as number) += row[i] as number;
          break;
        case "last":
          a.last.set(row);
          break;
        case "none":
          a.rows.push(row.slice());
          break;
      }
    }
  }

  private slot(seq: number, layer: number): Acc {
    const key = `${seq}:${layer}`;
    let a = this.acc.get(key);
    if (!a) {
      const w = this.width;
      a = {
        sum: new Float64Array(this.spec.reduce === "sum" || this.spec.reduce === "mean" ? w : 0),
        count: 0,
        last: new Float32Array(this.spec.reduce === "last" ? w : 0),
        rows: [],
      };
      this.acc.set(key, a);
    }
    return a;
  }

  /** Throws if a requested layer never appeared (unknown raw tensor name, or the layer was skipped). */
  assertComplete(): void {
    const missing = this.spec.layers.filter((l) => !this.seenLayers.has(l));
    if (missing.length) {
      throw new EngineError(
        "bad_site",
        `site "${this.spec.site}" (tensor ${this.tensorBase}-L) was not found in this model's graph for layer(s) ${missing.join(",")}. ` +
          `Known sites: ${KNOWN_SITES.join(", ")}; raw names must match llama.cpp's graph (run with --verbose to list them).`,
      );
    }
  }

  /** Number of rows seen for a sequence at a layer. */
  count(seq: number, layer: number): number {
    return this.acc.get(`${seq}:${layer}`)?.count ?? 0;
  }

  /** The reduced vector (sum/mean/last) for a sequence and layer. */
  reduced(seq: number, layer: number): Float32Array {
    const a = this.acc.get(`${seq}:${layer}`);
    if (!a || a.count === 0) throw new EngineError("bad_argument", `no activations captured for sequence ${seq} at layer ${layer}.`);
    if (this.spec.reduce === "last") return a.last.slice();
    if (this.spec.reduce === "none") throw new EngineError("bad_argument", "reduce is none: use rows().");
    const div = this.spec.reduce === "mean" ? a.count : 1;
    return Float32Array.from(a.sum, (v) => v / div);
  }

  /** Every row (reduce "none") for a sequence and layer, in token order. */
  rows(seq: number, layer: number): Float32Array[] {
    return this.acc.get(`${seq}:${layer}`)?.rows ?? [];
  }

  /** Forget what one sequence collected (its slot is reused by the next text). */
  resetSequence(seq: number): void {
    for (const l of this.spec.layers) this.acc.delete(`${seq}:${l}`);
  }
}

/** Adds scale * vector to every row of a site's tensor at one layer. */
export interface WriteHook {
  site: Site;
  layer: number;
  vector: Float32Array;
}

/** A set of write hooks, summed per tensor; hands out a fresh observer for each decode. */
export class WriteHookSet {
  private readonly byName = new Map<string, Float32Array>();
  private buf = new Float32Array(0);
  private lastAsked = new Set<string>();

  constructor(hooks: WriteHook[]) {
    for (const h of hooks) {
      const name = `${siteTensor(h.site)}-${h.layer}`;
      const prev = this.byName.get(name);
      this.byName.set(name, prev ? Float32Array.from(prev, (v, i) => v + (h.vector[i] as number)) : h.vector);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  observer(): TensorObserver {
    const asked = new Set<string>();
    this.lastAsked = asked;
    return {
      want: (name) => {
        if (!this.byName.has(name) || asked.has(name)) return false;
        asked.add(name); // the first tensor of that name in the graph
        return true;
      },
      seen: (t) => {
        this.add(t);
        return true;
      },
    };
  }

  /** After a decode: every hooked tensor must have been in the graph, or steering silently did nothing. */
  assertApplied(): void {
    const missing = [...this.byName.keys()].filter((n) => !this.lastAsked.has(n));
    if (missing.length) {
      throw new EngineError(
        "bad_site",
        `write hook target(s) ${missing.join(", ")} are not in this model's graph: steering there would do nothing. Known sites: ${KNOWN_SITES.join(", ")}.`,
      );
    }
  }

  private add(t: TensorRef): void {
    const v = this.byName.get(t.name);
    if (!v) return;
    const [w, rows] = t.ne;
    if (!t.isF32Contiguous || w !== v.length) throw new EngineError("bad_site", `cannot write to tensor ${t.name} (width ${w}).`);
    if (this.buf.length < w * rows) this.buf = new Float32Array(w * rows);
    const data = t.read(this.buf);
    for (let r = 0; r < rows; r++) {
      const o = r * w;
      for (let i = 0; i < w; i++) (data[o + i] as number) += v[i] as number;
    }
    t.write(data.subarray(0, w * rows));
  }
}

/** Runs several observers on one decode, in order (write hooks before captures). */
export function combineObservers(list: Array<TensorObserver | undefined>): TensorObserver | undefined {
  const obs = list.filter((o): o is TensorObserver => o !== undefined);
  if (obs.length === 0) return undefined;
  if (obs.length === 1) return obs[0];
  const wanted = new Map<string, TensorObserver[]>();
  return {
    want(name) {
      const who = obs.filter((o) => o.want(name));
      if (who.length) wanted.set(name, who);
      return who.length > 0;
    },
    seen(t) {
      let go = true;
      for (const o of wanted.get(t.name) ?? []) go = o.seen(t) !== false && go;
      wanted.delete(t.name);
      return go;
    },
  };
}
