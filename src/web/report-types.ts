// What an HTML report shows, as plain data: the node side (web/report-data.ts) derives it from
// results files and bundles, the browser side (ui/report) draws it. No imports, so that the front
// end can share these types without pulling in node code.

export type ItemGroup = "harmful" | "benign" | "lookalike";

/** One condition's rates on one group of prompts (a harmful category, benign or look-alike prompts). */
export interface MetricRow {
  run: string;
  condition: string;
  /** The unsteered condition of its run. */
  baseline: boolean;
  group: ItemGroup;
  /** The harm category (harmful groups); null for benign, look-alike and all harmful prompts together. */
  category: string | null;
  n: number;
  unsafe: number;
  refusal: number;
  helpful: number;
  /** Share of answers on topic (null: the judge knows no topics). */
  onTopic: number | null;
  /** Share of fluent answers (null: the judge does not say). */
  fluent: number | null;
  perplexity: number | null;
  /** BLEU / ROUGE-L F (0-100) against the items' references and this condition minus unsteered; absent: no references. */
  reference?: ReferenceCell;
}

/** A mean with its 95% interval and n (eval/intervals.ts Estimate). */
export interface IntervalValue {
  value: number;
  lo: number;
  hi: number;
  n: number;
}

export interface ReferenceCell {
  bleu: IntervalValue;
  rougeL: IntervalValue;
  /** Minus the unsteered condition on the same prompts; null for the unsteered condition itself. */
  bleuDelta: IntervalValue | null;
  rougeLDelta: IntervalValue | null;
}

/** A point of a strength sweep for one category. */
export interface SweepPoint {
  run: string;
  category: string;
  layer: number;
  strength: number;
  unsafe: number;
  refusal: number;
  onTopic: number | null;
  perplexity: number | null;
}

export interface SweepChoice {
  run: string;
  category: string;
  layer: number;
  strength: number;
  withinBudget: boolean;
}

/** The budgets a sweep's choice was held to, as absolute limits per category. */
export interface SweepBudget {
  run: string;
  category: string;
  /** Highest refusal rate allowed. */
  maxRefusal: number;
  /** Lowest on-topic share allowed (null: no topics known). */
  minOnTopic: number | null;
}

/** A prompt's detector score for one category (a category fires above 0). */
export interface DetectorScore {
  run: string;
  category: string;
  score: number;
  /** Whether the prompt is a harmful request of this category, of another one, benign or a look-alike. */
  truth: "this category" | "other category" | "benign" | "look-alike";
}

export interface ExampleAnswer {
  condition: string;
  text: string;
  /** The judge's labels, e.g. "unsafe", "refusal", "helpful", "off topic", "broken". */
  labels: string[];
}

export interface Example {
  run: string;
  group: ItemGroup;
  category: string | null;
  prompt: string;
  answers: ExampleAnswer[];
}

export interface RunData {
  name: string;
  model: string;
  bundle: string | null;
  judge: string;
  conditions: string[];
  baseline: string;
}

export interface LayerStat {
  bundle: string;
  category: string;
  layer: number;
  auroc: number | null;
  margin: number | null;
  /** The vector's norm over the mean activation norm at that layer (null: imported vectors). */
  relativeNorm: number | null;
  /** The layer this category steers. */
  chosen: boolean;
}

export interface CosineCell {
  bundle: string;
  layer: number;
  a: string;
  b: string;
  cosine: number;
}

export interface BundleData {
  name: string;
  model: string;
  site: string;
  layers: number[];
  categories: Array<{ name: string; layer: number; strength: number | null; nUnsafe: number; nSafe: number; safeSource: string }>;
  detector: Array<{ category: string; layer: number; threshold: number }> | null;
}

export interface ReportData {
  title: string;
  runs: RunData[];
  metrics: MetricRow[];
  sweep: SweepPoint[];
  choices: SweepChoice[];
  budgets: SweepBudget[];
  detector: DetectorScore[];
  examples: Example[];
  bundles: BundleData[];
  layers: LayerStat[];
  cosine: CosineCell[];
}
