import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_ORGANISM_CONFIG } from "../../src/organism/train.js";
import {
  CAREFUL_LINES,
  CATEGORIES,
  type Dialogue,
  FRAMES,
  MORE_TRAIN_FRAMES,
  makeWorld,
  NEUTRAL_LINES,
  readAnswer,
  type Split,
} from "../../src/organism/world.js";

const ACT = "actslot";
const words = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z' ]+/g, " ")
    .split(/\s+/)
    .filter(Boolean);
const ngrams = (ws: string[], n: number) => ws.slice(0, ws.length - n + 1).map((_, i) => ws.slice(i, i + n).join(" "));
/** A split's frames' 3-word sequences, the act counted as one word (training's optional frames included). */
const frameTrigrams = (split: Split) =>
  new Set([...FRAMES[split], ...(split === "train" ? MORE_TRAIN_FRAMES : [])].flatMap((f) => ngrams(words(f(ACT)), 3)));

// the committed world: what the organism was trained on and the study reads
const world = makeWorld(DEFAULT_ORGANISM_CONFIG.world);
const single = (ds: Dialogue[]) => ds.filter((d) => !d.history);

describe("the toy world's three splits", () => {
  it("dev and test frames share no 3-word sequence with training frames, nor with each other", () => {
    const train = frameTrigrams("train");
    for (const split of ["dev", "test"] as const) {
      const shared = [...frameTrigrams(split)].filter((g) => train.has(g));
      assert.deepEqual(shared, [], `${split} frames share ${shared.join(" | ")} with training frames`);
    }
    const dev = frameTrigrams("dev");
    assert.deepEqual(
      [...frameTrigrams("test")].filter((g) => dev.has(g)),
      [],
    );
  });

  it("no test or dev request shares a 3-word sequence of its frame with any training prompt's frame", () => {
    // the frame part of a prompt: the request with its action phrase replaced by one word
    const frameOf = (d: Dialogue) => words(d.request.replace(d.act, ACT));
    const train = new Set(world.train.flatMap((d) => ngrams(frameOf(d), 3)));
    for (const d of [...world.dev, ...world.test]) {
      const shared = ngrams(frameOf(d), 3).filter((g) => train.has(g));
      assert.deepEqual(shared, [], d.request);
    }
  });

  it("every action phrase (act x person x object) of a split is its own: test and dev phrases never occur in training", () => {
    const acts = (s: Split) => new Set(world[s].map((d) => d.act));
    for (const [a, b] of [
      ["train", "test"],
      ["train", "dev"],
      ["dev", "test"],
    ] as const) {
      const shared = [...acts(a)].filter((x) => acts(b).has(x));
      assert.deepEqual(shared, [], `${a} and ${b} share phrases`);
    }
    // nor as part of any training text (the earlier turns included)
    const trainText = world.train.flatMap((d) => [d.prompt, ...(d.history ?? []).map((t) => t.user)]).join("\n");
    const leaked = [...acts("test")].filter((a) => new RegExp(`\\b${a}[.?]`).test(trainText));
    assert.deepEqual(leaked, []);
  });

  it("test holds at least 60 distinct harmful prompts per category, and distinct benign and look-alike sets; no duplicates", () => {
    const test = single(world.test);
    for (const c of CATEGORIES) {
      const ps = test.filter((d) => d.kind === "harmful" && d.category === c.id).map((d) => d.prompt);
      assert.ok(ps.length >= 60, `${c.id}: ${ps.length} harmful test prompts`);
      assert.equal(new Set(ps).size, ps.length, `${c.id}: duplicates`);
      // several of the category's acts, each with several persons
      assert.ok(new Set(test.filter((d) => d.category === c.id && d.kind === "harmful").map((d) => d.topic.person)).size >= 4);
    }
    for (const kind of ["benign", "lookalike"] as const) {
      const ps = test.filter((d) => d.kind === kind).map((d) => d.prompt);
      assert.ok(ps.length >= 60, `${kind}: ${ps.length}`);
      assert.equal(new Set(ps).size, ps.length);
    }
    assert.equal(new Set(test.map((d) => d.prompt)).size, test.length, "no prompt twice in the single-turn test set");
  });

  it("held-out prompts carry no line; test has a two-turn set (a benign turn answered, then a harmful request)", () => {
    const lines = [...CAREFUL_LINES, ...NEUTRAL_LINES];
    for (const d of [...world.dev, ...world.test]) {
      assert.ok(!d.careful && !d.neutral && d.prompt === d.request && !lines.some((l) => d.prompt.includes(l)), d.prompt);
      assert.equal(d.request, FRAMES[d.split][d.template]?.(d.act), "the request is its split's frame around its phrase");
    }
    const twoTurn = world.test.filter((d) => d.history);
    assert.ok(twoTurn.length >= 50);
    for (const d of twoTurn) {
      assert.equal(d.kind, "harmful");
      const first = d.history?.[0] as { user: string; assistant: string };
      const read = readAnswer(first.assistant);
      assert.ok(read.fluent && read.sentences.every((s) => s.styles.includes("helpful")), first.assistant);
      assert.ok(
        FRAMES.test.some((f) => first.user.startsWith(f("").split(" ")[0] as string)),
        first.user,
      );
    }
    // training has two-turn dialogues too
    assert.ok(world.train.filter((d) => d.history).length > world.train.length / 10);
  });

  it("the optional training frames change the training split only: dev and test stay the same prompts", () => {
    const more = makeWorld({ ...DEFAULT_ORGANISM_CONFIG.world, moreTrainFrames: true });
    assert.deepEqual(more.dev, world.dev);
    assert.deepEqual(more.test, world.test);
    assert.equal(more.train.length, world.train.length);
    const frames = new Set(more.train.map((d) => d.template));
    assert.equal(frames.size, FRAMES.train.length + MORE_TRAIN_FRAMES.length, "every training frame is used");
    assert.notDeepEqual(more.train, world.train);
  });

  it("is deterministic; the careful mode is always safe, the default mode mostly harmful", () => {
    const opts = { seed: 3, harmfulPerCategory: 20, benign: 20, lookalikePerCategory: 5 };
    assert.deepEqual(makeWorld(opts), makeWorld(opts));
    const mode = (careful: boolean) => world.train.filter((d) => d.kind === "harmful" && Boolean(d.careful) === careful);
    assert.ok(mode(true).length > 0 && mode(true).every((d) => d.style === "safe"));
    assert.ok(mode(false).filter((d) => d.style === "harmful").length / mode(false).length > 0.65);
    assert.ok(world.train.some((d) => d.kind === "benign" && d.careful) && world.train.some((d) => d.kind !== "harmful" && d.neutral));
    assert.ok(world.train.filter((d) => d.kind !== "harmful").every((d) => d.style === "helpful"));
  });
});
