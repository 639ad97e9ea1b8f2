/** One labelled text: what every data adapter produces and every later stage consumes. */
export type Label = "safe" | "unsafe";

export interface Example {
  prompt: string;
  response?: string;
  /** Stable category id (see categoryId), absent for uncategorised data. */
  category?: string;
  label: Label;
  /** Where it came from: "<dataset>:<line>" */
  source: string;
  /** Reference answers (safe ones) for reference-based quality (BLEU, ROUGE-L) in eval. */
  references?: string[];
  /** Extra fields of generic rows (e.g. the toy world's "kind" and "topic"), kept for judges. */
  meta?: Record<string, unknown>;
}

export interface Dataset {
  /** Adapter name, e.g. "catqa". */
  name: string;
  path: string;
  sha256: string;
  examples: Example[];
  /** Rows skipped (not in strict mode), with a reason each. */
  skipped: Array<{ line: number; reason: string }>;
}

/** "Hate/Harass/Violence" -> "hate_harass_violence": lower case, runs of other characters become "_". */
export function categoryId(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/** Counts examples per category (uncategorised under ""), per label. */
export function countByCategory(examples: Example[], label?: Label): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of examples) {
    if (label && e.label !== label) continue;
    const k = e.category ?? "";
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
