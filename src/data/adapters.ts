// One adapter per known data set, plus the generic format. Each turns raw rows into Examples, or
// says why a row cannot be used.
import { categoryId, type Example, type Label } from "./example.js";
import type { Row } from "./rows.js";

export type RowResult = Example | { skip: string };

export interface Adapter {
  name: string;
  description: string;
  /** Recognises the data set from its file format and first row. */
  matches(format: string, first: unknown): boolean;
  /** Rows of the file (CatQA's nested JSON becomes one row per question). */
  rows?(rows: Row[]): Row[];
  convert(row: Row): RowResult;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);
const has = (v: unknown, ...keys: string[]) => isObj(v) && keys.every((k) => k in v);

/** The row's other fields as meta, leaving out empty ones (and adding no meta when all are). */
function withMeta(r: RowResult, meta: Record<string, unknown>): RowResult {
  if ("skip" in r) return r;
  const kept = Object.fromEntries(Object.entries(meta).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  return Object.keys(kept).length ? { ...r, meta: { ...r.meta, ...kept } } : r;
}

function unsafe(row: Row, prompt: unknown, category: unknown, dataset: string): RowResult {
  const p = str(prompt);
  if (!p) return { skip: "empty prompt" };
  const c = str(category);
  return { prompt: p, label: "unsafe", category: c ? categoryId(c) : undefined, source: `${dataset}:${row.at}` };
}

/** Source category names that are slips for an id users already see ("Privacy Violence" in TrustLLM). */
const CATEGORY_ALIASES: Record<string, string> = { privacy_violence: "privacy_violation" };

/**
 * BeaverTails QA pairs (30k_test, 330k_test): several answers per prompt, each with is_safe and 14
 * category flags. One unsafe example per prompt: its category is the one its unsafe answers are
 * flagged with most often (none when every answer is safe), its references the safe answers.
 */
const BEAVERTAILS_QA: Adapter = {
  name: "beavertails_qa",
  description:
    "BeaverTails QA JSONL: prompt, response, category {name: bool}, is_safe; one unsafe example per prompt, safe answers as references",
  matches: (format, first) => format === "jsonl" && has(first, "prompt", "response", "category", "is_safe"),
  rows: (rows) => {
    const byPrompt = new Map<string, { row: Row; counts: Map<string, number>; refs: string[] }>();
    const out: Row[] = [];
    for (const row of rows) {
      const v = row.value as Record<string, unknown>;
      const prompt = isObj(v) ? str(v.prompt) : undefined;
      if (!prompt) {
        out.push(row); // the loader reports it
        continue;
      }
      let g = byPrompt.get(prompt);
      if (!g) {
        g = { row, counts: new Map(), refs: [] };
        byPrompt.set(prompt, g);
        out.push(row);
      }
      const response = str(v.response);
      if (v.is_safe === true && response) g.refs.push(response);
      if (v.is_safe === false && isObj(v.category))
        for (const [c, on] of Object.entries(v.category)) if (on === true) g.counts.set(c, (g.counts.get(c) ?? 0) + 1);
    }
    return out.map((row) => {
      const g = byPrompt.get(str((row.value as Record<string, unknown>)?.prompt) ?? "");
      if (!g || g.row !== row) return row;
      const top = [...g.counts].reduce<[string, number] | undefined>((best, e) => (!best || e[1] > best[1] ? e : best), undefined);
      return { ...row, value: { prompt: (row.value as Record<string, unknown>).prompt, category: top?.[0], references: g.refs } };
    });
  },
  convert: (row) => {
    const v = row.value as { prompt?: unknown; category?: string; references?: string[] };
    if (!isObj(v) || !Array.isArray(v.references)) return { skip: "not a BeaverTails QA row" };
    const r = unsafe(row, v.prompt, v.category, "beavertails_qa");
    return "skip" in r || !v.references.length ? r : { ...r, references: v.references };
  },
};

export const ADAPTERS: Adapter[] = [
  {
    name: "catqa",
    description: "CatQA: {category: {subcategory: [questions]}}, all unsafe",
    matches: (format, first) => format === "json" && isObj(first) && Object.values(first).every((v) => isObj(v)),
    rows: (rows) => {
      const doc = rows[0]?.value as Record<string, Record<string, unknown>>;
      const out: Row[] = [];
      for (const [cat, subs] of Object.entries(doc)) {
        for (const [sub, qs] of Object.entries(subs)) {
          (Array.isArray(qs) ? qs : [qs]).forEach((q, i) => {
            out.push({ at: out.length, where: `${cat} / ${sub} [${i}]`, value: { q, cat, sub } });
          });
        }
      }
      return out;
    },
    convert: (row) => {
      const v = row.value as { q: unknown; cat: string; sub: string };
      return withMeta(unsafe(row, v.q, v.cat, "catqa"), { subcategory: v.sub });
    },
  },
  {
    name: "harmbench",
    description: "HarmBench CSV: Behavior (+ ContextString), by SemanticCategory, all unsafe",
    matches: (format, first) => format === "csv" && has(first, "Behavior", "SemanticCategory"),
    convert: (row) => {
      const v = row.value as Record<string, string>;
      const ctx = str(v.ContextString);
      const behavior = str(v.Behavior);
      const r = unsafe(row, behavior && ctx ? `${ctx}\n\n${behavior}` : behavior, v.SemanticCategory, "harmbench");
      return withMeta(r, { functional: str(v.FunctionalCategory), tags: str(v.Tags), id: str(v.BehaviorID) });
    },
  },
  {
    name: "jailbreakbench",
    description: "JailbreakBench CSV: Goal, by Category, all unsafe",
    matches: (format, first) => format === "csv" && has(first, "Goal", "Category"),
    convert: (row) => {
      const v = row.value as Record<string, string>;
      return withMeta(unsafe(row, v.Goal, v.Category, "jailbreakbench"), { behavior: str(v.Behavior), origin: str(v.Source) });
    },
  },
  {
    name: "advbench",
    description: "AdvBench CSV: goal, target; all unsafe, no category",
    matches: (format, first) => format === "csv" && has(first, "goal", "target") && !has(first, "Category"),
    convert: (row) => unsafe(row, (row.value as Record<string, string>).goal, undefined, "advbench"),
  },
  {
    name: "xstest",
    description: "XSTest CSV: prompt, type, label safe|unsafe (type becomes the category)",
    matches: (format, first) => format === "csv" && has(first, "prompt", "type", "label"),
    convert: (row) => {
      const v = row.value as Record<string, string>;
      const prompt = str(v.prompt);
      const label = str(v.label);
      if (!prompt) return { skip: "empty prompt" };
      if (label !== "safe" && label !== "unsafe") return { skip: `label "${v.label}" is not safe or unsafe` };
      const category = str(v.type) ? categoryId(v.type as string) : undefined;
      return withMeta({ prompt, label, category, source: `xstest:${row.at}` }, { focus: str(v.focus), note: str(v.note), id: str(v.id) });
    },
  },
  {
    name: "harmless",
    description: "Harmless instructions (Alpaca JSON): [{instruction}], all safe",
    matches: (format, first) => format === "json" && has(first, "instruction") && !has(first, "prompt"),
    convert: (row) => {
      const v = row.value as Record<string, unknown>;
      const prompt = str(v.instruction);
      if (!prompt) return { skip: "empty instruction" };
      const input = str(v.input);
      return { prompt: input ? `${prompt}\n\n${input}` : prompt, response: str(v.output), label: "safe", source: `harmless:${row.at}` };
    },
  },
  {
    name: "mtbench",
    description: "MT-Bench / Vicuna-bench JSONL: first turn of each question, safe, by category",
    matches: (format, first) => format === "jsonl" && has(first, "turns", "category"),
    convert: (row) => {
      const v = row.value as Record<string, unknown>;
      const prompt = Array.isArray(v.turns) ? str(v.turns[0]) : undefined;
      if (!prompt) return { skip: "no first turn" };
      return {
        prompt,
        label: "safe",
        category: str(v.category) ? categoryId(v.category as string) : undefined,
        source: `mtbench:${row.at}`,
      };
    },
  },
  BEAVERTAILS_QA,
  {
    name: "beavertails_eval",
    description: "BeaverTails-Evaluation JSONL: prompt, category, category_id; all unsafe",
    matches: (format, first) => format === "jsonl" && has(first, "prompt", "category", "category_id"),
    convert: (row) => {
      const v = row.value as Record<string, unknown>;
      return unsafe(row, v.prompt, v.category, "beavertails_eval");
    },
  },
  {
    name: "trustllm_exaggerated_safety",
    description: "TrustLLM exaggerated safety JSON: [{prompt, type, focus, note}]: safe prompts that look unsafe, by type",
    matches: (format, first) => format === "json" && has(first, "prompt", "type", "focus", "note", "source"),
    convert: (row) => {
      const v = row.value as Record<string, unknown>;
      const prompt = str(v.prompt);
      if (!prompt) return { skip: "empty prompt" };
      const category = str(v.type) ? categoryId(v.type as string) : undefined;
      const r: RowResult = { prompt, label: "safe", category, source: `trustllm_exaggerated_safety:${row.at}` };
      return withMeta(r, { focus: str(v.focus), note: str(v.note), id: str(v.id) });
    },
  },
  {
    name: "trustllm_misuse",
    description: "TrustLLM misuse JSON: [{prompt, type, source}]: all unsafe, type (when given) is the category",
    matches: (format, first) => format === "json" && has(first, "prompt", "type", "source") && !has(first, "focus"),
    convert: (row) => {
      const v = row.value as Record<string, unknown>;
      const type = str(v.type);
      const r = unsafe(row, v.prompt, type ? (CATEGORY_ALIASES[categoryId(type)] ?? type) : undefined, "trustllm_misuse");
      return withMeta(r, { origin: str(v.source) });
    },
  },
  {
    name: "trustllm_jailbreak",
    description: "TrustLLM jailbreak JSON: [{prompt, label: [method], source}]: all unsafe, the jailbreak method is the category",
    matches: (format, first) =>
      format === "json" && has(first, "prompt", "label", "source") && Array.isArray((first as { label: unknown }).label),
    convert: (row) => {
      const v = row.value as Record<string, unknown>;
      const method = Array.isArray(v.label) ? v.label[0] : undefined;
      return withMeta(unsafe(row, v.prompt, method, "trustllm_jailbreak"), { origin: str(v.source) });
    },
  },
  {
    name: "generic",
    description:
      'Generic: one object per row {"prompt", "response"?, "category"?, "label"?: "safe"|"unsafe", "reference"?: string or [strings]} (JSONL, JSON array or CSV); label defaults to unsafe when a category is given, else safe; references feed BLEU / ROUGE-L in eval',
    matches: (_format, first) => has(first, "prompt"),
    convert: (row) => {
      if (!isObj(row.value)) return { skip: "not an object" };
      const v = row.value;
      const prompt = str(v.prompt);
      if (!prompt) return { skip: 'missing "prompt"' };
      const category = str(v.category);
      const label = v.label === undefined || v.label === "" ? (category ? "unsafe" : "safe") : v.label;
      if (label !== "safe" && label !== "unsafe") return { skip: `label "${String(v.label)}" is not safe or unsafe` };
      if (v.response !== undefined && typeof v.response !== "string") return { skip: '"response" is not a string' };
      const references = referencesOf(v.reference);
      if (references === null) return { skip: '"reference" is not a string or an array of strings' };
      const { prompt: _p, response: _r, category: _c, label: _l, reference: _ref, ...rest } = v;
      return {
        prompt,
        response: str(v.response),
        category: category ? categoryId(category) : undefined,
        label: label as Label,
        source: `generic:${row.at}`,
        ...(references.length ? { references } : {}),
        ...(Object.keys(rest).length ? { meta: rest } : {}),
      };
    },
  },
];

/** A generic row's "reference": a string or an array of strings (empty ones dropped); null when neither. */
function referencesOf(v: unknown): string[] | null {
  if (v === undefined || v === null || v === "") return [];
  if (typeof v === "string") return [v.trim()];
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.map((x) => x.trim()).filter(Boolean);
  return null;
}

export function adapterByName(name: string): Adapter | undefined {
  return ADAPTERS.find((a) => a.name === name);
}
