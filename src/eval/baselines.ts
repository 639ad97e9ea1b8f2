// Baselines as evaluation conditions, beside steering in the same table, for any model: a prompt
// prefix (the system-prompt baseline), CAA and the refusal direction (vectors from
// steer/baselines.ts, steered like a bundle and swept like one), and detect-then-refuse.
import { SafeSteerError } from "../errors.js";
import { CANNED_REFUSAL } from "../steer/baselines.js";
import { bundlePolicy } from "../steer/policy.js";
import type { Bundle, FireMode } from "../steer/types.js";
import type { ConditionSpec } from "./results.js";

export type VectorBaseline = "caa" | "refusal-direction";
export const VECTOR_BASELINES: readonly VectorBaseline[] = ["caa", "refusal-direction"];

export type BaselineSpec =
  | { kind: "prefix"; text: string }
  /** Vectors built from data at run time, or read from a bundle file (`file`), e.g. one a sweep tuned. */
  | { kind: VectorBaseline; file?: string }
  | { kind: "detect-refuse"; text: string };

export const BASELINE_HELP = "prefix:<text> | caa[:<bundle>] | refusal-direction[:<bundle>] | detect-refuse[:<answer>]";

/** Reads "prefix:Be careful.", "caa", "caa:tuned.caa.gguf", "refusal-direction", "detect-refuse[:text]". */
export function parseBaseline(spec: string): BaselineSpec {
  const at = spec.indexOf(":");
  const kind = at < 0 ? spec : spec.slice(0, at);
  const rest = at < 0 ? undefined : spec.slice(at + 1);
  if (kind === "prefix") {
    if (!rest?.trim())
      throw new SafeSteerError("usage", `--baseline prefix needs its text: write --baseline "prefix:Be careful and kind."`);
    return { kind, text: rest };
  }
  if (kind === "detect-refuse") return { kind, text: rest?.trim() ? rest : CANNED_REFUSAL };
  if ((VECTOR_BASELINES as readonly string[]).includes(kind)) {
    if (rest !== undefined && !rest.trim())
      throw new SafeSteerError("usage", `--baseline ${kind}: give a bundle file after the colon, or no colon.`);
    return { kind: kind as VectorBaseline, ...(rest ? { file: rest } : {}) };
  }
  throw new SafeSteerError("usage", `unknown baseline "${spec}": use ${BASELINE_HELP}.`);
}

export interface BaselineConditionOptions {
  mode: ConditionSpec["mode"];
  fire?: FireMode;
  raw?: boolean;
  /** Steer only these categories (those of --steer); default: every category of the vectors. */
  categories?: string[];
  /** Vectors per vector baseline. */
  vectorSets: Record<string, Bundle>;
}

/**
 * One condition per baseline. Vector baselines steer as the steered condition does (same mode),
 * each category at the strength a sweep tuned into their bundle, else the bundle's recommended one.
 */
export function baselineConditions(specs: BaselineSpec[], o: BaselineConditionOptions): ConditionSpec[] {
  const names = new Set<string>();
  return specs.map((b) => {
    if (names.has(b.kind)) throw new SafeSteerError("usage", `--baseline ${b.kind} is given twice: give each baseline once.`);
    names.add(b.kind);
    if (b.kind === "prefix") return { name: "prefix", mode: "none", prefix: b.text };
    if (b.kind === "detect-refuse") return { name: "detect-refuse", mode: "none", refuseWith: b.text };
    const set = o.vectorSets[b.kind];
    if (!set) throw new SafeSteerError("bad_argument", `no ${b.kind} vectors were built or read.`);
    const all = bundlePolicy(set);
    const policy = o.categories ? Object.fromEntries(o.categories.filter((c) => c in all).map((c) => [c, all[c] as number])) : all;
    if (Object.keys(policy).length === 0)
      throw new SafeSteerError(
        "usage",
        `the ${b.kind} vectors have categories ${Object.keys(all).join(", ")}, none of --steer's (${o.categories?.join(", ")}): build them from data with these categories.`,
      );
    return {
      name: b.kind,
      mode: o.mode === "none" ? "known" : o.mode,
      policy,
      vectors: b.kind,
      ...(o.raw ? { raw: true } : {}),
      ...(o.mode === "conditional" ? { fire: o.fire ?? "all" } : {}),
    };
  });
}
