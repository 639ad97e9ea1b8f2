// Activation sites (TransformerLens names), read hooks (captures with streaming reductions) and write
// hooks (add a vector at a site). llama.cpp's graph builders name the same tensors differently and
// leave some unnamed, so a site is found by walking the graph's node names in order (the eval callback
// asks about every node, in graph order):
//
//   site        llama, llama3, mistral3   qwen2, qwen3            phi3                 gemma2, gemma3
//   resid_post  l_out-L                   l_out-L                 l_out-L              l_out-L
//   resid_mid   ffn_inp-L                 ffn_inp-L               (unnamed)            sa_out-L
//   attn_out    attn_out-L                (unnamed projection)    (unnamed projection) attn_post_norm-L
//   mlp_out     ffn_out-L (first)         ffn_out-L               ffn_out-L            ffn_post_norm[-L]
//
// "unnamed projection": the attention output projection, the node right after kqv_out-L (llama names
// that same node attn_out-L). Gemma normalises both block outputs before the residual add; the
// normalised tensor is what reaches the residual stream, so it is the site (gemma2 names its MLP
// post-norm without a layer). A write must land before the next node runs, so it never waits to see
// whether a post-norm follows: attn_out is written where it is named, else into resid_mid, which it
// alone feeds (the same sum). phi3 names neither, so its attn_out and resid_mid cannot be steered;
// they are still captured (resid_mid as the stream entering the layer plus attn_out).
// test/arch/architectures.test.ts checks all of this on every builder of src/convert/architectures.ts.
import type { TensorObserver, TensorRef } from "../native/llama.js";
import { EngineError } from "./errors.js";

export const KNOWN_SITES = ["resid_post", "resid_mid", "attn_out", "mlp_out"] as const;
export type KnownSite = (typeof KNOWN_SITES)[number];
/** A known site, or any raw llama.cpp tensor base name (e.g. "kqv_out", "ffn_norm"). */
export type Site = KnownSite | (string & {});

export function isKnownSite(site: string): site is KnownSite {
  return (KNOWN_SITES as readonly string[]).includes(site);
}

/** Checks a site name; returns the raw tensor base name for raw sites, the site itself for known ones. */
export function siteTensor(site: Site): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(site)) {
    throw new EngineError(
      "bad_site",
      `"${site}" is not a site name. Use one of ${KNOWN_SITES.join(", ")}, or a raw llama.cpp tensor name such as kqv_out.`,
    );
  }
  return site;
}

/** llama.cpp's names per site, for messages. */
export const SITE_NAMES: Record<KnownSite, string> = {
  resid_post: "l_out",
  resid_mid: "ffn_inp / sa_out",
  attn_out: "attn_out / attn_post_norm / the projection after kqv_out",
  mlp_out: "ffn_out / ffn_post_norm",
};

/** What one graph node is, for the sites. */
export interface SiteNode {
  /** The node's name as llama.cpp gives it ("l_out-3", "ffn_post_norm", "node_31"). */
  name: string;
  /** The name without its layer ("l_out", "ffn_post_norm"). */
  base: string;
  /** Its layer: from the name, else the block being built (-1 before the first block). */
  layer: number;
  /** The known site it is at its layer, if any. */
  site?: KnownSite;
  /** attn_out found by position (the node after kqv_out-L): a post-norm later in the layer replaces it. */
  provisional?: boolean;
  /** resid_mid, which equals attn_out plus the residual: adding a vector to either is the same steering. */
  residMid?: boolean;
  /** The residual stream entering layer `layer + 1` (l_out-L, or the embeddings before layer 0). */
  residualIn?: number;
  /** The first node of a graph (a decode may run several graphs, one per micro-batch). */
  graphStart?: boolean;
}

/** The layer in a "<name>-<layer>" node name, or -1. */
function layerOf(name: string): number {
  const dash = name.lastIndexOf("-");
  if (dash <= 0 || dash === name.length - 1) return -1;
  let n = 0;
  for (let i = dash + 1; i < name.length; i++) {
    const c = name.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Reads one graph's node names in order and says which site each node is. Only looks back: a site
 * that needs what comes later (a provisional attn_out) is marked, and the caller waits for the layer's
 * end (its l_out) to settle it. Runs for every graph node while hooks are on: no regular expressions,
 * one small object per node.
 */
export class GraphWalk {
  private layer = -1;
  private afterKqv = -1;
  private readonly postNormed = new Set<number>();
  private readonly firstMlp = new Set<number>();

  next(name: string): SiteNode {
    const named = layerOf(name);
    const base = named >= 0 ? name.slice(0, name.lastIndexOf("-")) : name;
    // llama.cpp names the token embeddings "embd" first thing in every graph
    const graphStart = named < 0 && base === "embd";
    if (graphStart) this.reset();
    if (named >= 0) this.layer = named;
    const layer = this.layer;
    const projection = this.afterKqv === layer && layer >= 0;
    this.afterKqv = base === "kqv_out" ? layer : -1;
    const node: SiteNode = { name, base, layer, graphStart };
    if (base === "l_out") {
      node.site = "resid_post";
      node.residualIn = layer + 1;
    } else if (layer < 0 && (graphStart || base === "inp_scaled")) {
      // the stream entering layer 0: the embeddings, or Gemma's scaled copy of them (the later one wins)
      node.residualIn = 0;
    } else if (base === "ffn_inp" || base === "sa_out") {
      node.site = "resid_mid";
      node.residMid = true;
    } else if (base === "attn_post_norm") {
      this.postNormed.add(layer);
      node.site = "attn_out";
    } else if (projection) {
      node.site = "attn_out";
      node.provisional = base !== "attn_out";
    } else if (base === "ffn_post_norm") {
      node.site = "mlp_out";
    } else if (base === "ffn_out" && !this.firstMlp.has(layer)) {
      // the first ffn_out of a layer is the MLP's output (llama names the residual sum ffn_out too);
      // in a post-normed layer the MLP output goes through ffn_post_norm first
      this.firstMlp.add(layer);
      if (!this.postNormed.has(layer)) node.site = "mlp_out";
    }
    return node;
  }

  private reset(): void {
    this.layer = -1;
    this.afterKqv = -1;
    this.postNormed.clear();
    this.firstMlp.clear();
  }
}

// ---------- captures ----------

export type Reduction = "sum" | "mean" | "last" | "none";

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

/** Reads a graph tensor that must be an activation of the model's width. */
function readActivation(t: TensorRef, width: number, buf: Float32Array): { data: Float32Array; rows: number } {
  if (!t.isF32Contiguous) throw new EngineError("bad_site", `tensor ${t.name} is not a contiguous F32 tensor; it cannot be captured.`);
  const [w, rows] = t.ne;
  if (w !== width) throw new EngineError("bad_site", `tensor ${t.name} has width ${w}, not the model width ${width}.`);
  return { data: t.read(buf.length >= w * rows ? buf : new Float32Array(w * rows)), rows };
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

/** What a wanted node is for, in one capture. */
interface Role {
  /** Rows of the site at this layer. */
  take?: number;
  /** attn_out found by position: kept until the layer ends, unless a post-norm replaces it. */
  provisional?: number;
  /** Parts of a resid_mid the graph does not name (phi3): the residual entering the layer, and attn_out. */
  residIn?: number;
  attnPart?: number;
  /** The graph may stop after this node (capture-only evaluation). */
  stop?: boolean;
}

interface Held {
  data: Float32Array;
  rows: number;
  name: string;
}

/**
 * Collects activations of one site at several layers over any number of decodes, reducing as it
 * goes so that only one vector per sequence and layer is kept (except for "none").
 */
export class Capture {
  /** What the capture reads, for messages: a raw tensor base name, or llama.cpp's names for the site. */
  readonly tensorBase: string;
  private readonly known: KnownSite | undefined;
  private readonly layerSet: Set<number>;
  private readonly acc = new Map<string, Acc>();
  private readonly seenLayers = new Set<number>();
  private buf: Float32Array = new Float32Array(0);
  private layout: BatchLayout = { seqIds: [], outputs: [] };
  private readonly pending = new Map<number, Held>();
  private readonly residIn = new Map<number, Held>();
  private readonly attnPart = new Map<number, Held>();
  /** Whether the graph names resid_mid (learnt from the first layer; until then its parts are kept too). */
  private midNamed: boolean | undefined;

  constructor(
    readonly spec: CaptureSpec,
    readonly width: number,
  ) {
    siteTensor(spec.site);
    this.known = isKnownSite(spec.site) ? spec.site : undefined;
    this.tensorBase = this.known ? SITE_NAMES[this.known] : spec.site;
    this.layerSet = new Set(spec.layers);
  }

  /**
   * Observer for one decode with the given row layout. With stopAfterLast, the graph stops once the
   * deepest captured layer is read: later layers and the output head are skipped when no logits are
   * needed (the K/V cache of the skipped layers is never read by a capture-only evaluation).
   */
  observer(layout: BatchLayout, stopAfterLast = false): TensorObserver {
    this.settleAll();
    this.layout = layout;
    const walk = new GraphWalk();
    const maxLayer = Math.max(...this.spec.layers);
    let firstRaw = new Set<number>();
    let role: Role | undefined;
    return {
      want: (name) => {
        const node = walk.next(name);
        if (node.graphStart) {
          this.settleAll();
          firstRaw = new Set();
        }
        role = this.known ? this.knownRole(node, stopAfterLast && node.layer === maxLayer) : undefined;
        if (!this.known && node.base === this.spec.site && this.layerSet.has(node.layer) && !firstRaw.has(node.layer)) {
          firstRaw.add(node.layer); // the first tensor of that name in the layer
          role = { take: node.layer, stop: stopAfterLast && node.layer === maxLayer };
        }
        return role !== undefined;
      },
      seen: (t) => {
        const r = role;
        role = undefined;
        if (r) this.seenRole(r, t);
        return !r?.stop;
      },
    };
  }

  private knownRole(node: SiteNode, deepest: boolean): Role | undefined {
    const L = node.layer;
    const r: Role = {};
    if (node.site === "resid_post") {
      this.settle(L); // the layer is complete: everything it computed before l_out has been seen
      if (deepest) r.stop = true;
    }
    if (node.site === this.known && this.layerSet.has(L)) {
      if (node.provisional) r.provisional = L;
      else {
        r.take = L;
        this.pending.delete(L); // a post-norm replaces the projection
        if (this.known === "resid_mid") this.midNamed = true;
      }
    }
    if (this.known === "resid_mid" && this.midNamed !== true) {
      if (node.residualIn !== undefined && this.layerSet.has(node.residualIn)) r.residIn = node.residualIn;
      if (node.site === "attn_out" && this.layerSet.has(L)) r.attnPart = L;
    }
    return Object.keys(r).length ? r : undefined;
  }

  private seenRole(r: Role, t: TensorRef): void {
    if (r.take === undefined && r.provisional === undefined && r.residIn === undefined && r.attnPart === undefined) return; // a stop mark only
    const { data, rows } = readActivation(t, this.width, this.buf);
    if (data.length > this.buf.length) this.buf = data;
    const held = (): Held => ({ data: data.slice(0, rows * this.width), rows, name: t.name });
    if (r.take !== undefined) this.take(data, rows, r.take, t.name);
    if (r.provisional !== undefined) this.pending.set(r.provisional, held());
    if (r.residIn !== undefined) this.residIn.set(r.residIn, held());
    if (r.attnPart !== undefined) this.attnPart.set(r.attnPart, held());
  }

  /** Settles a finished layer: a projection no post-norm replaced is attn_out; an unnamed resid_mid is their sum. */
  private settle(layer: number): void {
    const p = this.pending.get(layer);
    if (p) this.take(p.data, p.rows, layer, p.name);
    this.pending.delete(layer);
    const a = this.residIn.get(layer);
    const b = this.attnPart.get(layer);
    if (a && b && this.known === "resid_mid" && this.midNamed !== true) {
      if (a.rows !== b.rows)
        throw new EngineError("bad_site", `cannot add ${a.name} (${a.rows} rows) and ${b.name} (${b.rows} rows) into resid_mid.`);
      this.midNamed = false;
      this.take(
        a.data.map((x, i) => x + (b.data[i] as number)),
        a.rows,
        layer,
        `${a.name} + ${b.name}`,
      );
    }
    this.residIn.delete(layer);
    this.attnPart.delete(layer);
  }

  private settleAll(): void {
    for (const l of new Set([...this.pending.keys(), ...this.attnPart.keys()])) this.settle(l);
    this.residIn.clear(); // the stream entering a layer the graph never reached
  }

  private take(data: Float32Array, rows: number, layer: number, name: string): void {
    const w = this.width;
    const map = rowMap(rows, this.layout, name);
    const direct = !Array.isArray(map);
    this.seenLayers.add(layer);
    for (let r = 0; r < rows; r++) {
      const b = direct ? r : (map[r] as number);
      const seq = this.layout.seqIds[b] as number;
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
    this.settleAll();
    const missing = this.spec.layers.filter((l) => !this.seenLayers.has(l));
    if (missing.length) {
      throw new EngineError(
        "bad_site",
        `site "${this.spec.site}" (${this.known ? `llama.cpp: ${this.tensorBase}` : `tensor ${this.tensorBase}-L`}) was not found in this model's graph for layer(s) ${missing.join(",")}. ` +
          `Known sites: ${KNOWN_SITES.join(", ")}; raw names must match llama.cpp's graph (run with --verbose to list them).`,
      );
    }
  }

  /** Number of rows seen for a sequence at a layer. */
  count(seq: number, layer: number): number {
    this.settleAll();
    return this.acc.get(`${seq}:${layer}`)?.count ?? 0;
  }

  /** The reduced vector (sum/mean/last) for a sequence and layer. */
  reduced(seq: number, layer: number): Float32Array {
    this.settleAll();
    const a = this.acc.get(`${seq}:${layer}`);
    if (!a || a.count === 0) throw new EngineError("bad_argument", `no activations captured for sequence ${seq} at layer ${layer}.`);
    if (this.spec.reduce === "last") return a.last.slice();
    if (this.spec.reduce === "none") throw new EngineError("bad_argument", "reduce is none: use rows().");
    const div = this.spec.reduce === "mean" ? a.count : 1;
    return Float32Array.from(a.sum, (v) => v / div);
  }

  /** Every row (reduce "none") for a sequence and layer, in token order. */
  rows(seq: number, layer: number): Float32Array[] {
    this.settleAll();
    return this.acc.get(`${seq}:${layer}`)?.rows ?? [];
  }

  /** Forget what one sequence collected (its slot is reused by the next text). */
  resetSequence(seq: number): void {
    this.settleAll();
    for (const l of this.spec.layers) this.acc.delete(`${seq}:${l}`);
  }
}

// ---------- write hooks ----------

/** Adds scale * vector to every row of a site's tensor at one layer. */
export interface WriteHook {
  site: Site;
  layer: number;
  vector: Float32Array;
}

const siteKey = (site: KnownSite, layer: number) => `${site}:${layer}`;
const rawKey = (base: string, layer: number) => `raw:${base}:${layer}`;

/** A set of write hooks, summed per site and layer; hands out a fresh observer for each decode. */
export class WriteHookSet {
  private readonly byKey = new Map<string, Float32Array>();
  private buf = new Float32Array(0);
  private lastApplied = new Set<string>();

  constructor(hooks: WriteHook[]) {
    for (const h of hooks) {
      siteTensor(h.site);
      const key = isKnownSite(h.site) ? siteKey(h.site, h.layer) : rawKey(h.site, h.layer);
      const prev = this.byKey.get(key);
      this.byKey.set(key, prev ? Float32Array.from(prev, (v, i) => v + (h.vector[i] as number)) : h.vector);
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  observer(): TensorObserver {
    const walk = new GraphWalk();
    const applied = new Set<string>();
    this.lastApplied = applied;
    let thisGraph = new Set<string>();
    let current: string[] = [];
    return {
      want: (name) => {
        const node = walk.next(name);
        if (node.graphStart) thisGraph = new Set();
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
    const vs = keys.map((k) => this.byKey.get(k) as Float32Array);
    const [w, rows] = t.ne;
    if (!t.isF32Contiguous || vs.some((v) => v.length !== w))
      throw new EngineError("bad_site", `cannot write to tensor ${t.name} (width ${w}).`);
    if (this.buf.length < w * rows) this.buf = new Float32Array(w * rows);
    const data = t.read(this.buf);
    for (const v of vs) {
      for (let r = 0; r < rows; r++) {
        const o = r * w;
        for (let i = 0; i < w; i++) (data[o + i] as number) += v[i] as number;
      }
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
