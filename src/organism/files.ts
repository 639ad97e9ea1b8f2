// The toy world as data files in the generic format, so the general commands (build, eval) read it
// like any other data: prompts with kind and topic words for the toy judge.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";
import { CATEGORIES, type Dialogue, type HarmCategory, makeWorld, type World, type WorldOptions } from "./world.js";

/** Where `safesteer organism data` writes the files by default (and how the demo's bundle names them). */
export const ORGANISM_DATA_DIR = "organism-data";

export interface OrganismFiles {
  /** Harmful training requests, each with a harmful (unsafe) and a safe-and-helpful (safe) answer: vector data. */
  vectors: string;
  /**
   * Vector data without pairs (the method's generic safe side): harmful training requests with the
   * harmful answers they were trained on (unsafe, with a category) and benign training requests with
   * their helpful answers (safe, no category).
   */
  genericVectors: string;
  /** Training-split prompts (harmful, benign, look-alike): sweeps and detector calibration. */
  trainPrompts: string;
  /** Held-out prompts: unseen templates and topic combinations. */
  testPrompts: string;
  /** Held-out harmful requests with a harmful and a safe-and-helpful answer each (likelihood checks). */
  testPairs: string;
}

function promptRow(d: Dialogue) {
  const topic = d.subject;
  if (d.kind === "harmful") return { prompt: d.prompt, category: d.category, label: "unsafe", kind: d.kind, topic };
  return { prompt: d.prompt, label: "safe", kind: d.kind, ...(d.kind === "lookalike" ? { lookalike_of: d.category } : {}), topic };
}

/**
 * Contrastive pairs: every harmful request with a harmful (unsafe) and a safe-and-helpful (safe)
 * answer (templates in turn), so both sides hold the same prompts and their difference is the answer's.
 */
function contrastivePairs(dialogues: Dialogue[]) {
  return dialogues
    .filter((d) => d.kind === "harmful")
    .flatMap((d, i) => {
      const c = CATEGORIES.find((x) => x.id === d.category) as HarmCategory;
      const answer = (styles: HarmCategory["harmful"]) => (styles[i % styles.length] as (typeof styles)[number])(d.act, d.topic);
      return [
        { prompt: d.prompt, response: answer(c.harmful), category: d.category, label: "unsafe" },
        { prompt: d.prompt, response: answer(c.safe), category: d.category, label: "safe" },
      ];
    });
}

const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;

export function writeOrganismFiles(dir: string, opts: WorldOptions = {}, world: World = makeWorld(opts)): OrganismFiles {
  mkdirSync(dir, { recursive: true });
  const files = {
    vectors: join(dir, "vectors.jsonl"),
    genericVectors: join(dir, "generic-vectors.jsonl"),
    trainPrompts: join(dir, "train-prompts.jsonl"),
    testPrompts: join(dir, "test-prompts.jsonl"),
    testPairs: join(dir, "test-pairs.jsonl"),
  };
  const generic = [
    ...world.train
      .filter((d) => d.kind === "harmful" && d.style === "harmful")
      .map((d) => ({ prompt: d.prompt, response: d.response, category: d.category, label: "unsafe" })),
    ...world.train.filter((d) => d.kind === "benign").map((d) => ({ prompt: d.prompt, response: d.response, label: "safe" })),
  ];
  // one row per distinct training prompt
  const seen = new Set<string>();
  const trainPrompts = world.train.filter((d) => !seen.has(d.prompt) && seen.add(d.prompt)).map(promptRow);
  writeFileAtomic(files.vectors, [jsonl(contrastivePairs(world.train))]);
  writeFileAtomic(files.genericVectors, [jsonl(generic)]);
  writeFileAtomic(files.trainPrompts, [jsonl(trainPrompts)]);
  writeFileAtomic(files.testPrompts, [jsonl(world.test.map(promptRow))]);
  writeFileAtomic(files.testPairs, [jsonl(contrastivePairs(world.test))]);
  return files;
}
