// The toy world as data files in the generic format, so the general commands (build, eval) read it
// like any other data: prompts with kind and topic words for the toy judge.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";
import { type Dialogue, makeWorld, type World, type WorldOptions } from "./world.js";

export interface OrganismFiles {
  /** Harmful requests with harmful (unsafe) or safe-and-helpful (safe) answers, per category: vector data. */
  vectors: string;
  /** Training-split prompts (harmful, benign, look-alike): sweeps and detector calibration. */
  trainPrompts: string;
  /** Held-out prompts: unseen templates and topic combinations. */
  testPrompts: string;
}

function promptRow(d: Dialogue) {
  const topic = d.subject;
  if (d.kind === "harmful") return { prompt: d.prompt, category: d.category, label: "unsafe", kind: d.kind, topic };
  return { prompt: d.prompt, label: "safe", kind: d.kind, ...(d.kind === "lookalike" ? { lookalike_of: d.category } : {}), topic };
}

const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;

export function writeOrganismFiles(dir: string, opts: WorldOptions = {}, world: World = makeWorld(opts)): OrganismFiles {
  mkdirSync(dir, { recursive: true });
  const files = {
    vectors: join(dir, "vectors.jsonl"),
    trainPrompts: join(dir, "train-prompts.jsonl"),
    testPrompts: join(dir, "test-prompts.jsonl"),
  };
  const vec = world.train
    .filter((d) => d.kind === "harmful" && (d.style === "harmful" || d.style === "safe"))
    .map((d) => ({ prompt: d.prompt, response: d.response, category: d.category, label: d.style === "harmful" ? "unsafe" : "safe" }));
  // one row per distinct training prompt
  const seen = new Set<string>();
  const trainPrompts = world.train.filter((d) => !seen.has(d.prompt) && seen.add(d.prompt)).map(promptRow);
  writeFileAtomic(files.vectors, [jsonl(vec)]);
  writeFileAtomic(files.trainPrompts, [jsonl(trainPrompts)]);
  writeFileAtomic(files.testPrompts, [jsonl(world.test.map(promptRow))]);
  return files;
}
