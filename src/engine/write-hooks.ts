// Write hooks: add a vector to a site's tensor while llama.cpp computes (every site but llama.cpp's
// own control vector at resid_post), to every row of the batch or only to one sequence's rows. A hook
// may also scale each unit first (x -> scale * x + vector): neuron steering at mlp_post sets units to
// a mean or ablates them that way.
import type { TensorRef } from "../native/llama.js";
import { EngineError } from "./errors.js";
import { NodeNameCache, type SiteObserver } from "./observers.js";
import {
  type BatchLayout,
  GraphWalk,
  isKnownSite,
  type KnownSite,
  rowMap,
  SITE_NAMES,
  type Site,
  type SiteNode,
  siteTensor,
} from "./sites.js";

/** Adds a vector to the rows of a site's tensor at one layer: every row, or only one sequence's. */
export interface WriteHook {
  site: Site;
  layer: number;
  vector: Float32Array;
  /** Multiplies each unit before the vector is added (x -> scale * x + vector); 1 where absent. */
  scale?: Float32Array;
  /** Only the rows of this sequence (several requests in one batch, each steered its own way). */
  seq?: number;
}

/** x -> scale * x + add, per unit. */
interface Affine {
  add: Float32Array;
  scale?: Float32Array;
}

/** The maps of one site and layer: composed over the hooks for every row, and per sequence. */
interface Target {
  all?: Affine;
  bySeq: Map<number, Affine>;
}

/** b after a: x -> sb (sa x + aa) + ab; plain vectors just add. */
function compose(a: Affine | undefined, b: Affine): Affine {
  if (!a) return b;
  const sb = b.scale;
  const add = Float32Array.from(a.add, (v, i) => (sb ? (sb[i] as number) : 1) * v + (b.add[i] as number));
  if (!a.scale && !sb) return { add };
  const scale = Float32Array.from(add, (_, i) => (a.scale ? (a.scale[i] as number) : 1) * (sb ? (sb[i] as number) : 1));
  return { add, scale };
}

const siteKey = (site: KnownSite, layer: number) => `${site}:${layer}`;
const rawKey = (base: string, layer: number) => `raw:${base}:${layer}`;

/** A set of write hooks, summed per site and layer; hands out a fresh observer for each decode. */
export class WriteHookSet {
  private readonly byKey = new Map<string, Target>();
  private buf = new Float32Array(0);
  private lastApplied = new Set<string>();
  private layout: BatchLayout | undefined;
  /** Which of the decode's graphs (ubatches) runs now: its tensors' rows are that ubatch's. */
  private graph = 0;
  private readonly nodeNames = new NodeNameCache();
  /** Whether some hook is for one sequence only (then each decode needs its row layout). */
  readonly perSequence: boolean;

  constructor(hooks: WriteHook[]) {
    for (const h of hooks) {
      siteTensor(h.site);
      const key = isKnownSite(h.site) ? siteKey(h.site, h.layer) : rawKey(h.site, h.layer);
      const t: Target = this.byKey.get(key) ?? { bySeq: new Map() };
      const f: Affine = { add: h.vector, scale: h.scale };
      if (h.scale && h.scale.length !== h.vector.length)
        throw new EngineError("bad_vector", `write hook at ${h.site} layer ${h.layer}: scale and vector widths differ.`);
      if (h.seq === undefined) t.all = compose(t.all, f);
      else t.bySeq.set(h.seq, compose(t.bySeq.get(h.seq), f));
      this.byKey.set(key, t);
    }
    this.perSequence = [...this.byKey.values()].some((t) => t.bySeq.size > 0);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** An observer for one decode; `layout` (which sequence each batch row is) is needed by per-sequence hooks. */
  observer(layout?: BatchLayout): SiteObserver {
    if (this.perSequence && !layout) throw new EngineError("bad_argument", "per-sequence write hooks need the decode's row layout.");
    this.layout = layout;
    this.graph = -1;
    const walk = new GraphWalk();
    const applied = new Set<string>();
    this.lastApplied = applied;
    let thisGraph = new Set<string>();
    let current: string[] = [];
    return {
      names: (graph) => this.nodeNames.get(graph, "", this.firstTargets()),
      want: (name) => {
        const node = walk.next(name);
        if (node.graphStart) {
          thisGraph = new Set();
          this.graph++;
        }
        current = this.targets(node).filter((k) => !thisGraph.has(k));
        for (const k of current) {
          thisGraph.add(k);
          applied.add(k);
        }
        return current.length > 0;
      },
      seen: (t) => {
        this.add(t, current);
        current = [];
        return true;
      },
    };
  }

  /** Whether a node takes a hook not yet written in its graph, asked of each node in graph order (as want() does). */
  private firstTargets(): (node: SiteNode) => boolean {
    let written = new Set<string>();
    return (node) => {
      if (node.graphStart) written = new Set();
      const keys = this.targets(node).filter((k) => !written.has(k));
      for (const k of keys) written.add(k);
      return keys.length > 0;
    };
  }

  /** The hooks a graph node takes: its site (never a provisional one: writing must not wait), or a raw name. */
  private targets(node: SiteNode): string[] {
    const keys: string[] = [rawKey(node.base, node.layer)];
    if (node.site && !node.provisional) keys.push(siteKey(node.site, node.layer));
    // resid_mid = residual + attn_out, and attn_out feeds nothing else: adding to it is adding to attn_out
    if (node.residMid) keys.push(siteKey("attn_out", node.layer));
    return keys.filter((k) => this.byKey.has(k));
  }

  /** After a decode: every hook must have found its tensor, or steering silently did nothing. */
  assertApplied(): void {
    // as many graphs as the ubatches predicted: rows were mapped by that split (engine/ubatch.ts)
    const expected = this.layout?.ubatches?.length;
    if (expected !== undefined && this.graph + 1 !== expected)
      throw new EngineError(
        "decode_failed",
        `llama.cpp ran ${this.graph + 1} graph(s) for a decode that was to run ${expected} micro-batches: this llama.cpp splits batches otherwise than engine/ubatch.ts mirrors.`,
      );
    const missing = [...this.byKey.keys()].filter((k) => !this.lastApplied.has(k));
    if (missing.length === 0) return;
    const known = missing.filter((k) => !k.startsWith("raw:"));
    const what = missing.map((k) => {
      const [a, b, c] = k.split(":");
      return a === "raw" ? `${b}-${c}` : `${a} at layer ${b} (llama.cpp: ${SITE_NAMES[a as KnownSite]})`;
    });
    throw new EngineError(
      "bad_site",
      `write hook target(s) ${what.join(", ")} are not in this model's graph` +
        (known.length ? " (llama.cpp's graph for this architecture leaves that tensor unnamed)" : "") +
        ": steering there would do nothing. Steer another site (`safesteer info <model>` measures which sites capture and steer).",
    );
  }

  private add(t: TensorRef, keys: string[]): void {
    const targets = keys.map((k) => this.byKey.get(k) as Target);
    const [w, rows] = t.ne;
    const bad = (v: Affine | undefined) => v !== undefined && v.add.length !== w;
    if (!t.isF32Contiguous || targets.some((x) => bad(x.all) || [...x.bySeq.values()].some(bad)))
      throw new EngineError("bad_site", `cannot write to tensor ${t.name} (width ${w}).`);
    if (this.buf.length < w * rows) this.buf = new Float32Array(w * rows);
    const data = t.read(this.buf);
    const addRow = (r: number, { add, scale }: Affine) => {
      const o = r * w;
      if (scale) for (let i = 0; i < w; i++) data[o + i] = (scale[i] as number) * (data[o + i] as number) + (add[i] as number);
      else for (let i = 0; i < w; i++) (data[o + i] as number) += add[i] as number;
    };
    // the tensor's rows are the batch's tokens, or only its output rows (the last layer)
    const map = this.perSequence ? rowMap(rows, this.layout as BatchLayout, t.name, Math.max(0, this.graph)) : undefined;
    const direct = map !== undefined && !Array.isArray(map);
    for (const x of targets) {
      if (x.all) for (let r = 0; r < rows; r++) addRow(r, x.all);
      if (!map || x.bySeq.size === 0) continue;
      for (let r = 0; r < rows; r++) {
        const v = x.bySeq.get(this.layout?.seqIds[direct ? r : (map[r] as number)] as number);
        if (v) addRow(r, v);
      }
    }
    t.write(data.subarray(0, w * rows));
  }
}
