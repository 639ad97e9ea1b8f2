// Captures: read hooks that collect a site's activations at several layers over any number of
// decodes, reducing as they go (sum, mean, last token, or every row).
import type { TensorRef } from "../native/llama.js";
import { EngineError } from "./errors.js";
import { NodeNameCache, type SiteObserver } from "./observers.js";
import {
  type BatchLayout,
  GraphWalk,
  isKnownSite,
  KNOWN_SITES,
  type KnownSite,
  rowMap,
  SITE_NAMES,
  type Site,
  type SiteNode,
  siteTensor,
} from "./sites.js";

export type Reduction = "sum" | "mean" | "last" | "none";

/** Whether a graph has a node of the site at each of the layers. */
function namesSiteAt(graph: readonly string[], site: KnownSite, layers: readonly number[]): boolean {
  const walk = new GraphWalk();
  const at = new Set<number>();
  for (const name of graph) {
    const n = walk.next(name);
    if (n.site === site) at.add(n.layer);
  }
  return layers.every((l) => at.has(l));
}

/** Reads a graph tensor that must be an activation of the model's width. */
function readActivation(t: TensorRef, width: number, buf: Float32Array): { data: Float32Array; rows: number } {
  if (!t.isF32Contiguous) throw new EngineError("bad_site", `tensor ${t.name} is not a contiguous F32 tensor; it cannot be captured.`);
  const [w, rows] = t.ne;
  if (w !== width) throw new EngineError("bad_site", `tensor ${t.name} has width ${w}, not the site's width ${width}.`);
  return { data: t.read(buf.length >= w * rows ? buf : new Float32Array(w * rows)), rows };
}

export interface CaptureSpec {
  site: Site;
  layers: readonly number[];
  reduce: Reduction;
  /** Per sequence (by its index among the evaluated ones): rows at earlier positions are skipped (default 0). */
  from?: readonly number[];
}

interface Acc {
  sum: Float64Array;
  /** Rows reduced, and rows seen (the next row's position in its sequence). */
  count: number;
  seen: number;
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
  /** Which of the decode's graphs (ubatches) runs now: its tensors' rows are that ubatch's. */
  private graph = 0;
  private readonly pending = new Map<number, Held>();
  private readonly residIn = new Map<number, Held>();
  private readonly attnPart = new Map<number, Held>();
  /** Whether the graph names resid_mid (learnt from the first layer; until then its parts are kept too). */
  private midNamed: boolean | undefined;
  private readonly nodeNames = new NodeNameCache();

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
  observer(layout: BatchLayout, stopAfterLast = false): SiteObserver {
    this.settleAll();
    this.layout = layout;
    this.graph = -1;
    const walk = new GraphWalk();
    const maxLayer = Math.max(...this.spec.layers);
    let firstRaw = new Set<number>();
    let role: Role | undefined;
    return {
      names: (graph) => {
        // where the graph names resid_mid at every captured layer, its parts are never summed
        const parts = this.known === "resid_mid" && this.midNamed !== true && !namesSiteAt(graph, "resid_mid", this.spec.layers);
        return this.nodeNames.get(graph, `${stopAfterLast}:${parts}`, (node) => this.mayWant(node, stopAfterLast ? maxLayer : -1, parts));
      },
      want: (name) => {
        const node = walk.next(name);
        if (node.graphStart) {
          this.settleAll(); // what the last graph held, with its rows
          this.graph++;
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

  /**
   * Whether want() may take a node (with no side effects): at least every node it takes, and the
   * l_out that settles a captured layer. `stopAt`: the layer whose end stops the graph (-1: none);
   * `parts`: resid_mid may have to be summed from its parts.
   */
  private mayWant(node: SiteNode, stopAt: number, parts: boolean): boolean {
    const L = node.layer;
    if (!this.known) return node.base === this.spec.site && this.layerSet.has(L);
    if (node.site === "resid_post" && L === stopAt) return true;
    if (node.site === this.known && this.layerSet.has(L)) return true;
    // a projection waits for its layer's end; an unnamed resid_mid is summed from its parts there
    const settles = this.known === "attn_out" || parts;
    if (settles && node.site === "resid_post" && this.layerSet.has(L)) return true;
    if (parts) {
      if (node.residualIn !== undefined && this.layerSet.has(node.residualIn)) return true;
      if (node.site === "attn_out" && this.layerSet.has(L)) return true;
    }
    return false;
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
    const map = rowMap(rows, this.layout, name, Math.max(0, this.graph));
    const direct = !Array.isArray(map);
    this.seenLayers.add(layer);
    for (let r = 0; r < rows; r++) {
      const b = direct ? r : (map[r] as number);
      const seq = this.layout.seqIds[b] as number;
      const a = this.slot(seq, layer);
      // rows come in token order per sequence: the seen count is the row's position
      if (a.seen++ < (this.spec.from?.[seq] ?? 0)) continue;
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
        seen: 0,
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
