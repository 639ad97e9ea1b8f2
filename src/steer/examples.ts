// The examples of a build (vectors, neurons): unsafe ones per category, safe ones per category or
// generic, each group a seeded sample split into train and held-out parts.
import type { Dataset, Example } from "../data/example.js";
import { log } from "../util/logger.js";
import type { Rng } from "../util/random.js";
import { SteerError } from "./errors.js";
import type { ChatMode } from "./render.js";

/** Fewer examples than this on either side of a category: its vector and held-out numbers are noisy. */
export const FEW_EXAMPLES = 10;

const examplesOf = (n: number, what: string) => `${n} ${what} example${n === 1 ? "" : "s"}`;

/**
 * Warnings for categories built from too few examples: fewer than FEW_EXAMPLES on either side make
 * a noisy vector and noisy held-out numbers; a side of one example leaves nothing held out, so the
 * held-out separability cannot be measured at all (and the layer is not chosen by it).
 */
export function fewExampleWarnings(
  counts: Array<{ category: string; unsafe: number; unsafeHeldOut: number; safe: number; safeHeldOut: number; safeSource: string }>,
): string[] {
  const out: string[] = [];
  for (const c of counts) {
    if (c.unsafe >= FEW_EXAMPLES && c.safe >= FEW_EXAMPLES) continue;
    const have = `category ${c.category} has ${examplesOf(c.unsafe, "unsafe")} and ${examplesOf(c.safe, "safe")} (${c.safeSource}), fewer than ${FEW_EXAMPLES} on a side`;
    const none = c.unsafeHeldOut === 0 ? "unsafe" : c.safeHeldOut === 0 ? "safe" : undefined;
    out.push(
      none
        ? `${have}: with a single ${none} example nothing is held out, so its held-out separability (AUROC, margin) cannot be measured and does not choose its layer; the vector will be noisy. Give at least ${FEW_EXAMPLES} of each.`
        : `${have}: its vector and its held-out numbers (AUROC, margin) will be noisy. Give at least ${FEW_EXAMPLES} of each.`,
    );
  }
  return out;
}

/** Splits into train and held-out parts; at least one of each when there are 2 or more. */
function split<T>(xs: T[], heldOut: number): { train: T[]; test: T[] } {
  if (xs.length < 2) return { train: xs, test: [] };
  const nTest = Math.min(xs.length - 1, Math.max(1, Math.round(xs.length * heldOut)));
  return { train: xs.slice(nTest), test: xs.slice(0, nTest) };
}

export interface GroupOptions {
  /** Only these categories (ids). */
  categories?: string[];
  /** At most this many unsafe examples per category (a seeded sample). */
  maxPerCategory?: number;
  /** At most this many generic safe examples (a seeded sample; default 256). */
  maxSafe?: number;
  /** Share of each group held out. */
  heldOut: number;
  /** Warnings about the data (too few examples); default: printed on stderr. */
  onWarning?: (msg: string) => void;
}

/** What building a bundle and finding neurons share: which examples, and how they are read. */
export interface ExampleReadOptions extends Omit<GroupOptions, "heldOut"> {
  layers?: "auto" | number[];
  reduce?: "mean" | "last";
  /** Share of each group held out (default 0.2). */
  heldOut?: number;
  seed?: number;
  chat?: ChatMode;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, tokens: number) => void;
}

/** Row indices (into `all`) of a group's train and held-out parts. */
export interface GroupIndex {
  train: number[];
  test: number[];
}

export interface GroupedExamples {
  /** Categories, sorted. */
  cats: string[];
  /** Every example once, in group order: one activation row each. */
  all: Example[];
  /** "unsafe:<cat>", "safe:<cat>" (a category's own safe examples) and "safe:" (the generic safe set). */
  index: Map<string, GroupIndex>;
  /** Categories with safe examples of their own. */
  ownSafe: Map<string, Example[]>;
}

/** The key of a category's safe group: its own safe examples, else the generic ones. */
export const safeKeyOf = (g: Pick<GroupedExamples, "ownSafe">, c: string) => (g.ownSafe.has(c) ? `safe:${c}` : "safe:");

/** A category's two groups (its unsafe examples, and the safe ones it is compared with) and where the safe ones come from. */
export interface CategorySplits {
  unsafe: GroupIndex;
  safe: GroupIndex;
  safeSource: "category" | "generic";
}

/** The groups of one of g.cats. */
export function splitsOf(g: GroupedExamples, c: string): CategorySplits {
  const unsafe = g.index.get(`unsafe:${c}`);
  const safe = g.index.get(safeKeyOf(g, c));
  if (!unsafe || !safe) throw new Error(`internal: no example groups for category ${c}`);
  return { unsafe, safe, safeSource: g.ownSafe.has(c) ? "category" : "generic" };
}

/** Groups, samples and splits the examples; warns about categories with too few. */
export function groupExamples(datasets: Dataset[], safeSet: Dataset | undefined, opts: GroupOptions, rng: Rng): GroupedExamples {
  const heldOut = opts.heldOut;
  // unsafe examples per category (uncategorised ones under their data set's name); category-specific safe examples
  const unsafe = new Map<string, Example[]>();
  const ownSafe = new Map<string, Example[]>();
  const genericSafe: Example[] = [];
  for (const d of [...datasets, ...(safeSet ? [safeSet] : [])]) {
    for (const e of d.examples) {
      if (e.label === "unsafe") {
        const c = e.category ?? d.name;
        unsafe.set(c, [...(unsafe.get(c) ?? []), e]);
      } else if (e.category && d !== safeSet) ownSafe.set(e.category, [...(ownSafe.get(e.category) ?? []), e]);
      else genericSafe.push(e);
    }
  }
  if (opts.categories) {
    const unknown = opts.categories.filter((c) => !unsafe.has(c));
    if (unknown.length) {
      throw new SteerError(
        "unknown_category",
        `unknown categor${unknown.length > 1 ? "ies" : "y"} ${unknown.join(", ")}: the data has ${[...unsafe.keys()].join(", ")}.`,
      );
    }
    for (const c of [...unsafe.keys()]) if (!opts.categories.includes(c)) unsafe.delete(c);
  }
  if (unsafe.size === 0)
    throw new SteerError("not_enough_data", "the data has no unsafe examples: give at least one file with harmful prompts.");
  const cats = [...unsafe.keys()].sort();
  const needGeneric = cats.some((c) => !ownSafe.has(c));
  if (needGeneric && genericSafe.length === 0) {
    throw new SteerError(
      "not_enough_data",
      "no safe examples: pass a generic safe set with --safe (e.g. harmless_alpaca.json) or data with safe examples per category.",
    );
  }

  // seeded samples and train / held-out splits
  const groups = new Map<string, { train: Example[]; test: Example[] }>();
  for (const c of cats) groups.set(`unsafe:${c}`, split(rng.shuffled(unsafe.get(c) as Example[]).slice(0, opts.maxPerCategory), heldOut));
  for (const c of cats) if (ownSafe.has(c)) groups.set(`safe:${c}`, split(rng.shuffled(ownSafe.get(c) as Example[]), heldOut));
  if (needGeneric) groups.set("safe:", split(rng.shuffled(genericSafe).slice(0, opts.maxSafe ?? 256), heldOut));
  // too few examples: say so before minutes of collection, with the counts
  const warn = opts.onWarning ?? log.warn;
  const sizes = (k: string) => {
    const g = groups.get(k) as { train: Example[]; test: Example[] };
    return { n: g.train.length + g.test.length, heldOut: g.test.length };
  };
  const counts = cats.map((c) => {
    const u = sizes(`unsafe:${c}`);
    const s = sizes(ownSafe.has(c) ? `safe:${c}` : "safe:");
    const safeSource = ownSafe.has(c) ? "its own" : "the generic safe set";
    return { category: c, unsafe: u.n, unsafeHeldOut: u.heldOut, safe: s.n, safeHeldOut: s.heldOut, safeSource };
  });
  for (const w of fewExampleWarnings(counts)) warn(w);

  // one activation row per example, in a flat list
  const all: Example[] = [];
  const index = new Map<string, { train: number[]; test: number[] }>();
  for (const [k, g] of groups) {
    const tr = g.train.map((e) => all.push(e) - 1);
    const te = g.test.map((e) => all.push(e) - 1);
    index.set(k, { train: tr, test: te });
  }
  return { cats, all, index, ownSafe };
}
