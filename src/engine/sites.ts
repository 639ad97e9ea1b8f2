// Activation sites (TransformerLens names) and where they are in llama.cpp's graph; the observers that
// read (capture.ts) and write (write-hooks.ts) them walk the graph with GraphWalk. llama.cpp's graph builders name the same tensors differently and
// leave some unnamed, so a site is found by walking the graph's node names in order (the eval callback
// asks about every node, in graph order):
//
//   site        llama, llama3, mistral3   qwen2, qwen3            phi3                 gemma2, gemma3
//   resid_post  l_out-L                   l_out-L                 l_out-L              l_out-L
//   resid_mid   ffn_inp-L                 ffn_inp-L               (unnamed)            sa_out-L
//   attn_out    attn_out-L                (unnamed projection)    (unnamed projection) attn_post_norm-L
//   mlp_out     ffn_out-L (first)         ffn_out-L               ffn_out-L            ffn_post_norm[-L]
//   mlp_post    ffn_swiglu-L              ffn_swiglu-L            ffn_swiglu-L         ffn_geglu-L
//
// "unnamed projection": the attention output projection, the node right after kqv_out-L (llama names
// that same node attn_out-L). Gemma normalises both block outputs before the residual add; the
// normalised tensor is what reaches the residual stream, so it is the site (gemma2 names its MLP
// post-norm without a layer). A write must land before the next node runs, so it never waits to see
// whether a post-norm follows: attn_out is written where it is named, else into resid_mid, which it
// alone feeds (the same sum). phi3 names neither, so its attn_out and resid_mid cannot be steered;
// they are still captured (resid_mid as the stream entering the layer plus attn_out).
// mlp_post (TransformerLens's mlp.hook_post) is the MLP's hidden activation, width n_ff: the input of
// the down projection, so mlp_out = W_down . mlp_post. llama.cpp's build_ffn names it after the fused
// gated activation (ffn_swiglu, ffn_geglu, ffn_reglu) or, unfused, the gate product (ffn_gate_par); an
// ungated MLP's activation (ffn_gelu, ffn_silu, ffn_relu) is not taken, since in a gated MLP the same
// names come before the product: such graphs leave mlp_post unnamed and hooks there fail with an error.
// test/arch/architectures.test.ts checks all of this on every builder of src/convert/architectures.ts.
import { GRAPH_START } from "../native/llama.js";
import { EngineError } from "./errors.js";

export const KNOWN_SITES = ["resid_post", "resid_mid", "attn_out", "mlp_out", "mlp_post"] as const;
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
  mlp_post: "ffn_swiglu / ffn_geglu / ffn_reglu / ffn_gate_par",
};

/** The MLP's hidden activation nodes (mlp_post): the input of the down projection. */
const MLP_POST = new Set(["ffn_swiglu", "ffn_geglu", "ffn_reglu", "ffn_gate_par"]);

/** A site's width: n_ff for mlp_post, the model width for the residual-stream sites and raw tensors. */
export function siteWidth(info: { nEmbd: number; nFf: number }, site: Site): number {
  return site === "mlp_post" ? info.nFf : info.nEmbd;
}

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
    const graphStart = named < 0 && base === GRAPH_START;
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
    } else if (MLP_POST.has(base) && layer >= 0) {
      node.site = "mlp_post";
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

/** One decode's row layout: which sequence each batch row belongs to, and which rows are outputs. */
export interface BatchLayout {
  seqIds: ArrayLike<number>;
  outputs: ArrayLike<boolean | number>;
  /**
   * The batch rows of each graph the decode runs (one per ubatch: src/engine/ubatch.ts), in the
   * order its tensors hold them; absent: one graph of every row in batch order.
   */
  ubatches?: readonly (readonly number[])[];
}

/**
 * Maps the rows of a tensor of the decode's `graph`-th graph (0 first) to batch rows: all its tokens,
 * or only its output rows (the last layer).
 */
export function rowMap(rows: number, layout: BatchLayout, name: string, graph = 0): ArrayLike<number> {
  const ub = layout.ubatches?.[graph];
  if (layout.ubatches && !ub)
    throw new EngineError("bad_site", `tensor ${name} is in graph ${graph + 1} of a decode that was to run ${layout.ubatches.length}.`);
  const n = ub ? ub.length : layout.seqIds.length;
  if (rows === n) return ub ?? ({ length: n } as ArrayLike<number>);
  const outs: number[] = [];
  for (let i = 0; i < n; i++) {
    const b = ub ? (ub[i] as number) : i;
    if (layout.outputs[b]) outs.push(b);
  }
  if (rows === outs.length) return outs;
  throw new EngineError("bad_site", `tensor ${name} has ${rows} rows but its graph has ${n} tokens (${outs.length} outputs).`);
}
