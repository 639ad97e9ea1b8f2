import type { Example } from "../data/example.js";
import type { ChatTurn } from "../steer/render.js";
import { Rng } from "../util/random.js";

/** What a prompt is for the evaluation: a harmful request, a benign one, or a benign one that looks harmful. */
export type ItemKind = "harmful" | "benign" | "lookalike";

export interface EvalItem {
  /** Position in the evaluation set (stable across conditions and resumes). */
  index: number;
  prompt: string;
  kind: ItemKind;
  category?: string;
  /** Words a relevant answer mentions (known in the toy world; absent elsewhere). */
  topic?: string[];
  /** Earlier turns of the chat (oldest first), rendered before the prompt: a multi-turn item. */
  history?: ChatTurn[];
  /** Reference answers (from the data's references): each answer gets BLEU and ROUGE-L against them. */
  references?: string[];
}

/**
 * Kind from the data: the toy world says it in meta.kind; otherwise unsafe prompts are harmful,
 * safe prompts with a category (XSTest's look-alikes) are look-alikes, other safe prompts benign.
 */
/** A row's `history` field ([{user, assistant}, ...]) as chat turns; anything else: none. */
function chatHistory(raw: unknown): ChatTurn[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const ok = raw.every((t) => typeof t?.user === "string" && typeof t?.assistant === "string");
  return ok ? raw.map((t) => ({ user: t.user as string, assistant: t.assistant as string })) : undefined;
}

export function toEvalItems(examples: Example[]): EvalItem[] {
  return examples.map((e, index) => {
    const metaKind = e.meta?.kind;
    const kind: ItemKind =
      metaKind === "harmful" || metaKind === "benign" || metaKind === "lookalike"
        ? metaKind
        : e.label === "unsafe"
          ? "harmful"
          : e.category
            ? "lookalike"
            : "benign";
    const rawTopic = e.meta?.topic;
    const topic = Array.isArray(rawTopic) ? rawTopic.map(String) : undefined;
    const history = chatHistory(e.meta?.history);
    return {
      index,
      prompt: e.prompt,
      kind,
      category: e.category,
      topic,
      ...(history ? { history } : {}),
      ...(e.references?.length ? { references: e.references } : {}),
    };
  });
}

/** A seeded sample of at most n items per (kind, category). */
export function samplePerGroup(items: EvalItem[], n: number | undefined, seed: number): EvalItem[] {
  if (n === undefined) return items;
  const rng = new Rng(seed);
  const groups = new Map<string, EvalItem[]>();
  for (const it of items) {
    const k = `${it.kind}:${it.category ?? ""}`;
    groups.set(k, [...(groups.get(k) ?? []), it]);
  }
  const out: EvalItem[] = [];
  for (const g of groups.values()) {
    out.push(...rng.shuffled(g).slice(0, n));
  }
  return out.map((it, index) => ({ ...it, index }));
}
