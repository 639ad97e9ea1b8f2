// Observers of graph nodes (write hooks, captures), several on one decode, and which nodes they need
// by name: the set the native eval filter passes on to JavaScript (every other node is answered in
// C). Worked out on one whole graph of the context, and used only where it is exact: walking just
// those nodes must say the same of each as walking them all.
import type { TensorObserver } from "../native/llama.js";
import { GraphWalk, type SiteNode } from "./sites.js";

/** An observer that can say which nodes it needs; without `names` it is asked about every node. */
export interface SiteObserver extends TensorObserver {
  /** The names of a graph's nodes this observer may want (undefined: it must see every node). */
  names?(graph: readonly string[]): readonly string[] | undefined;
}

/** ggml's names for nodes the graph builder left unnamed: they count nodes, so they move between graphs. */
const POSITIONAL = /^(node|leaf)_\d+$/;

const sameNode = (a: SiteNode, b: SiteNode) =>
  a.base === b.base &&
  a.layer === b.layer &&
  a.site === b.site &&
  a.provisional === b.provisional &&
  a.residMid === b.residMid &&
  a.residualIn === b.residualIn;

/**
 * The names of the nodes of `graph` (one whole graph's node names, in order) that `wants` takes
 * (asked once of each node, in graph order, as a walk's want() is), or
 * undefined when passing only those would change what the walk says of them (a site found by its
 * position, as the unnamed projection after kqv_out) or a name is positional: then every node must
 * reach JavaScript.
 */
export function selectNodeNames(graph: readonly string[], wants: (node: SiteNode) => boolean): string[] | undefined {
  const all = new GraphWalk();
  const nodes = graph.map((name) => all.next(name));
  const names = new Set<string>();
  for (const n of nodes) if (wants(n)) names.add(n.name);
  // where the walk over the chosen nodes alone says otherwise of a node, the node before it is what
  // it needs (llama's attn_out-L is the attention output because it follows kqv_out-L): take that too
  for (let extra = 0; extra <= MAX_CONTEXT_NAMES; extra++) {
    const differs = firstDifference(nodes, names);
    if (differs < 0) break;
    const before = nodes[differs - 1];
    if (!before || names.has(before.name) || extra === MAX_CONTEXT_NAMES) return undefined;
    names.add(before.name);
  }
  for (const name of names) if (POSITIONAL.test(name)) return undefined;
  return [...names];
}

/** Names added for what the walk needs to see (beyond that: every node reaches JavaScript). */
const MAX_CONTEXT_NAMES = 8;

/** The index of the first chosen node the walk over the chosen nodes alone sees otherwise (-1: none). */
function firstDifference(nodes: readonly SiteNode[], names: ReadonlySet<string>): number {
  // a fresh walk: the context passes a graph start on before the first node of each graph
  const some = new GraphWalk();
  for (const [i, n] of nodes.entries()) {
    if (names.has(n.name) && !sameNode(some.next(n.name), n)) return i;
  }
  return -1;
}

/** Memoises an observer source's names per graph (a context's graph is read once and kept). */
export class NodeNameCache {
  private graph: readonly string[] | undefined;
  private readonly byKey = new Map<string, string[] | undefined>();

  get(graph: readonly string[], key: string, wants: (node: SiteNode) => boolean): string[] | undefined {
    if (graph !== this.graph) {
      this.graph = graph;
      this.byKey.clear();
    }
    if (!this.byKey.has(key)) this.byKey.set(key, selectNodeNames(graph, wants));
    return this.byKey.get(key);
  }
}

/** Runs several observers on one decode, in order (write hooks before captures). */
export function combineObservers(list: Array<SiteObserver | undefined>): SiteObserver | undefined {
  const obs = list.filter((o): o is SiteObserver => o !== undefined);
  if (obs.length === 0) return undefined;
  if (obs.length === 1) return obs[0];
  const wanted = new Map<string, SiteObserver[]>();
  return {
    names(graph) {
      const each = obs.map((o) => o.names?.(graph));
      return each.every((n) => n !== undefined) ? [...new Set(each.flat())] : undefined;
    },
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
