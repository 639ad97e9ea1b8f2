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

function unsafe(row: Row, prompt: unknown, category: unknown, dataset: string): RowResult {
  const p = str(prompt);
  if (!p) return { skip: "empty prompt" };
  const c = str(category);
  return { prompt: p, label: "unsafe", category: c ? categoryId(c) : undefined, source: `${dataset}:${row.at}` };
}

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
            out.push({ at: out.length, where: `${cat} / ${sub} [${i}]`, value: { q, cat } });
          });
        }
      }
      return out;
    },
    convert: (row) => {
      const v = row.value as { q: unknown; cat: string };
      return unsafe(row, v.q, v.cat, "catqa");
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
      return unsafe(row, behavior && ctx ? `${ctx}\n\n${behavior}` : behavior, v.SemanticCategory, "harmbench");
    },
  },
  {
    name: "jailbreakbench",
    description: "JailbreakBench CSV: Goal, by Category, all unsafe",
    matches: (format, first) => format === "csv" && has(first, "Goal", "Category"),
    convert: (row) => {
      const v = row.value as Record<string, string>;
      return unsafe(row, v.Goal, v.Category, "jailbreakbench");
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
      return { prompt, label, category: str(v.type) ? categoryId(v.type as string) : undefined, source: `xstest:${row.at}` };
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
  {
    name: "generic",
    description:
      'Generic: one object per row {"prompt", "response"?, "category"?, "label"?: "safe"|"unsafe"} (JSONL, JSON array or CSV); label defaults to unsafe when a category is given, else safe',
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
      const { prompt: _p, response: _r, category: _c, label: _l, ...rest } = v;
      return {
        prompt,
        response: str(v.response),
        category: category ? categoryId(category) : undefined,
        label: label as Label,
        source: `generic:${row.at}`,
        ...(Object.keys(rest).length ? { meta: rest } : {}),
      };
    },
  },
];

export function adapterByName(name: string): Adapter | undefined {
  return ADAPTERS.find((a) => a.name === name);
}
