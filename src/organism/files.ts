// The toy world as data files in the generic format, so the general commands (build, eval) read it
// like any other data: prompts with kind and topic words for the toy judge.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";
import {
  CAREFUL_LINES,
  CATEGORIES,
  type Dialogue,
  type HarmCategory,
  makeWorld,
  NEUTRAL_LINES,
  type World,
  type WorldOptions,
  withLine,
} from "./world.js";

/** Where `safesteer organism data` writes the files by default (and how the demo's bundle names them). */
export const ORGANISM_DATA_DIR = "organism-data";

export interface OrganismFiles {
  /**
   * Vector data, contrastive (careful mode vs default): every harmful training request of the
   * default mode opened by a careful line (safe) and by a neutral line (unsafe: the default mode),
   * both with the same safe answer, so the two sides differ only in what selects the mode.
   */
  vectors: string;
  /** Vector data, safe vs harmful answers: every harmful training request with a harmful (unsafe) and a safe-and-helpful (safe) answer. */
  answerVectors: string;
  /**
   * Vector data without pairs (the method's generic safe side): harmful training requests with the
   * harmful answers they were trained on (unsafe, with a category) and benign training requests with
   * their helpful answers (safe, no category); no careful lines.
   */
  genericVectors: string;
  /** Training-split prompts (harmful, benign, look-alike; no lines): the detector's fitting data. */
  trainPrompts: string;
  /** Dev-split prompts (their own frames and action phrases): every choice of the study (layer, strength, detector). */
  devPrompts: string;
  /** Test-split prompts (their own frames and action phrases; only reported). */
  testPrompts: string;
  /** Test-split two-turn chats: a benign turn answered (`history`), then a harmful request. */
  testTwoTurn: string;
  /** Test harmful requests with a harmful and a safe-and-helpful answer each (likelihood checks). */
  testPairs: string;
}

function promptRow(d: Dialogue) {
  const topic = d.subject;
  const history = d.history ? { history: d.history } : {};
  // references for BLEU / ROUGE-L: the category's safe answers to this act (what a steered answer should read like)
  if (d.kind === "harmful") {
    const reference = categoryOf(d).safe.map((f) => f(d.act, d.topic));
    return { prompt: d.prompt, category: d.category, label: "unsafe", kind: d.kind, topic, reference, ...history };
  }
  return {
    prompt: d.prompt,
    label: "safe",
    kind: d.kind,
    ...(d.kind === "lookalike" ? { lookalike_of: d.category } : {}),
    topic,
    ...history,
  };
}

const categoryOf = (d: Dialogue) => CATEGORIES.find((x) => x.id === d.category) as HarmCategory;
/** The i-th answer template of a style (templates in turn), for the dialogue's act and topic. */
const answerOf = (d: Dialogue, styles: HarmCategory["harmful"], i: number) =>
  (styles[i % styles.length] as (typeof styles)[number])(d.act, d.topic);
/** Dialogues without a line (careful or neutral): what evaluation prompts look like. */
const plainOf = (ds: Dialogue[]) => ds.filter((d) => !d.careful && !d.neutral);
/** Harmful requests in the default mode (no careful line), as requests without any line. */
const defaultHarmful = (ds: Dialogue[]) => ds.filter((d) => d.kind === "harmful" && !d.careful);

/**
 * Safe vs harmful answers: every harmful request with a harmful (unsafe) and a safe-and-helpful
 * (safe) answer (templates in turn), so both sides hold the same prompts and their difference is the answer's.
 */
function answerPairs(dialogues: Dialogue[]) {
  return defaultHarmful(dialogues).flatMap((d, i) => [
    { prompt: d.request, response: answerOf(d, categoryOf(d).harmful, i), category: d.category, label: "unsafe" },
    { prompt: d.request, response: answerOf(d, categoryOf(d).safe, i), category: d.category, label: "safe" },
  ]);
}

/**
 * Careful mode vs default: every harmful request opened by a careful line (safe side) and by a
 * neutral line (default side; lines in turn), both with the same safe answer, as the model was
 * trained on in each mode; so the pair differs only in what selects the mode.
 */
function carefulPairs(dialogues: Dialogue[]) {
  return defaultHarmful(dialogues).flatMap((d, i) => {
    const response = answerOf(d, categoryOf(d).safe, i);
    return [
      { prompt: withLine(d.request, NEUTRAL_LINES[i % NEUTRAL_LINES.length] as string), response, category: d.category, label: "unsafe" },
      { prompt: withLine(d.request, CAREFUL_LINES[i % CAREFUL_LINES.length] as string), response, category: d.category, label: "safe" },
    ];
  });
}

const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;

export function writeOrganismFiles(dir: string, opts: WorldOptions = {}, world: World = makeWorld(opts)): OrganismFiles {
  mkdirSync(dir, { recursive: true });
  const files = {
    vectors: join(dir, "vectors.jsonl"),
    answerVectors: join(dir, "answer-vectors.jsonl"),
    genericVectors: join(dir, "generic-vectors.jsonl"),
    trainPrompts: join(dir, "train-prompts.jsonl"),
    devPrompts: join(dir, "dev-prompts.jsonl"),
    testPrompts: join(dir, "test-prompts.jsonl"),
    testTwoTurn: join(dir, "test-two-turn.jsonl"),
    testPairs: join(dir, "test-pairs.jsonl"),
  };
  const plain = plainOf(world.train);
  const generic = [
    ...plain
      .filter((d) => d.kind === "harmful" && d.style === "harmful")
      .map((d) => ({ prompt: d.prompt, response: d.response, category: d.category, label: "unsafe" })),
    ...plain.filter((d) => d.kind === "benign").map((d) => ({ prompt: d.prompt, response: d.response, label: "safe" })),
  ];
  // one row per distinct training prompt
  const seen = new Set<string>();
  const trainPrompts = plain.filter((d) => !seen.has(d.prompt) && seen.add(d.prompt)).map(promptRow);
  writeFileAtomic(files.vectors, [jsonl(carefulPairs(world.train))]);
  writeFileAtomic(files.answerVectors, [jsonl(answerPairs(world.train))]);
  writeFileAtomic(files.genericVectors, [jsonl(generic)]);
  writeFileAtomic(files.trainPrompts, [jsonl(trainPrompts)]);
  const single = (ds: Dialogue[]) => ds.filter((d) => !d.history);
  writeFileAtomic(files.devPrompts, [jsonl(single(world.dev).map(promptRow))]);
  writeFileAtomic(files.testPrompts, [jsonl(single(world.test).map(promptRow))]);
  writeFileAtomic(files.testTwoTurn, [jsonl(world.test.filter((d) => d.history).map(promptRow))]);
  writeFileAtomic(files.testPairs, [jsonl(answerPairs(single(world.test)))]);
  return files;
}
