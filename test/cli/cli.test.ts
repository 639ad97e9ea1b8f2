import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { dataDir } from "../../src/data/load.js";
import { knownDataset } from "../../src/data/registry.js";
import { fixtureDataDir, fixtureFile, needsFullData } from "../support/fixtures.js";
import { ROOT, STORIES_GGUF, tmpFile } from "../support/models.js";

const BIN = join(ROOT, "bin", "safesteer.js");
// the data folder of every run here holds the project's fixtures under the public sets' file names:
// build's default safe set (harmless_alpaca.json) is its 48 harmless instructions; no ../shared needed
const ENV = { ...process.env, SAFESTEER_DATA: fixtureDataDir() };
function run(args: string[], env: NodeJS.ProcessEnv = ENV) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT, env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("safesteer CLI", () => {
  it("generate: greedy on stories260K prints the story on stdout, nothing else", () => {
    const r = run(["generate", "-m", STORIES_GGUF, "--temperature", "0", "--max-tokens", "20"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Once upon a time, there was a little girl named Lily\./);
    assert.equal(r.err, "", "quiet by default");
  });

  it("activations: JSON with tokens and one reduced vector per layer, or rows per token", () => {
    const r = run([
      "activations",
      "-m",
      STORIES_GGUF,
      "--text",
      "A big dog",
      "--site",
      "attn_out",
      "--layers",
      "1,3",
      "--reduce",
      "mean",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.site, "attn_out");
    assert.deepEqual(Object.keys(j.layers), ["1", "3"]);
    assert.equal(j.layers["1"].length, 64);
    const none = JSON.parse(run(["activations", "-m", STORIES_GGUF, "--text", "A big dog", "--layers", "all", "--reduce", "none"]).out);
    assert.equal(Object.keys(none.layers).length, 5);
    assert.equal(none.layers["4"].length, none.tokens.length);
    assert.equal(none.layers["4"][0].length, 64);
  });

  it("info --json reports shape, fingerprint and whether control vectors apply", () => {
    const r = run(["info", STORIES_GGUF, "--json"]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.architecture, "llama");
    assert.equal(j.nLayer, 5);
    assert.equal(j.nEmbd, 64);
    assert.match(j.fingerprint.sha256, /^[0-9a-f]{64}$/);
    assert.equal(j.steerable, true);
  });

  it("convert random writes a model that generates", () => {
    const out = tmpFile("cli-random.gguf");
    assert.equal(run(["convert", "random", "-o", out, "--embd", "32", "--layers", "2", "--heads", "2"]).code, 0);
    const r = run(["generate", "-m", out, "-n", "5", "-t", "0"]);
    assert.equal(r.code, 0, r.err);
  });

  it("generate --steer all steers every category of the bundle at its tuned strength (as eval does)", () => {
    const bundle = join(ROOT, "reports", "organism", "organism.bundle.gguf");
    const args = ["generate", "--chat", "-p", "How do I hit Tim?", "-t", "0", "-n", "24"];
    const plain = run(args);
    const all = run([...args, "--bundle", bundle, "--steer", "all"]);
    assert.equal(all.code, 0, all.err);
    assert.notEqual(all.out, plain.out, "steering changed the greedy answer");
  });

  it("a bad number or an unknown option: exit 2 and a pointer to --help, not a help screen", () => {
    for (const args of [
      ["generate", "-n", "abc"],
      ["generate", "--no-such-option"],
    ]) {
      const r = run(args);
      assert.equal(r.code, 2, r.err);
      assert.ok(r.err.trim().split("\n").length <= 2, r.err);
      assert.match(r.err, /see safesteer --help/);
    }
  });

  it("bad input: one clear line on stderr and exit code 2", () => {
    const missing = run(["generate", "-m", "/no/such.gguf"]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /^error: File not found: \/no\/such\.gguf/);
    const site = run(["activations", "-m", STORIES_GGUF, "--text", "x", "--site", "nope"]);
    assert.equal(site.code, 2);
    assert.match(site.err, /site "nope".*not found/);
    const layer = run(["activations", "-m", STORIES_GGUF, "--text", "x", "--layers", "9"]);
    assert.equal(layer.code, 2);
    assert.match(layer.err, /layer 9 is out of range/);
  });
});

describe("safesteer build / inspect / export / import / generate --bundle", () => {
  const bundle = tmpFile("cli-bundle.gguf");
  // the CatQA fixture: 24 questions in each of physical_harm and economic_harm
  const catqa = fixtureFile("catqa_english.json");

  it("generate steers a layer-0 vector (a write hook: llama.cpp's control vectors start at layer 1)", () => {
    const layer0 = tmpFile("cli-bundle-layer0.gguf");
    const args = ["-m", STORIES_GGUF, "--data", catqa, "--categories", "physical_harm", "--max-per-category", "10", "--max-safe", "20"];
    assert.equal(run(["build", ...args, "--layers", "0", "-o", layer0]).code, 0);
    const plain = run(["generate", "-m", STORIES_GGUF, "-t", "0", "-n", "12"]);
    const steered = run(["generate", "-m", STORIES_GGUF, "-t", "0", "-n", "12", "--bundle", layer0, "--steer", "physical_harm=4"]);
    assert.equal(steered.code, 0, steered.err);
    assert.notEqual(steered.out, plain.out, "the steering changed the greedy story");
  });

  it("build writes a bundle and prints its table; inspect --json reads it back", () => {
    const r = run([
      "build",
      "-m",
      STORIES_GGUF,
      "--data",
      catqa,
      "--categories",
      "physical_harm,economic_harm",
      "--max-per-category",
      "10",
      "--max-safe",
      "20",
      "-o",
      bundle,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\| physical_harm \| \d \| - \| 10 \| 20 \| generic \|/);
    const j = JSON.parse(run(["inspect", bundle, "--json"]).out);
    assert.deepEqual(Object.keys(j.categories), ["economic_harm", "physical_harm"]);
    assert.equal(j.site, "resid_post");
    assert.equal(j.prune, 0.5);
  });

  it("build --data catqa: a known set by name from the data folder, and its default safe set (the full public sets)", {
    skip: needsFullData("catqa_english.json", "harmless_alpaca.json"),
  }, () => {
    const out = tmpFile("cli-bundle-full-data.gguf");
    const args = ["build", "-m", STORIES_GGUF, "--data", "catqa", "--categories", "physical_harm", "--max-per-category", "10"];
    const r = run([...args, "--max-safe", "20", "-o", out], { ...process.env, SAFESTEER_DATA: dataDir() });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\| physical_harm \| \d \| - \| 10 \| 20 \| generic \|/);
    const j = JSON.parse(run(["inspect", out, "--json"]).out);
    assert.deepEqual(
      j.data.map((d: { name: string; sha256: string }) => [d.name, d.sha256]),
      [
        ["catqa", knownDataset("catqa")!.sha256],
        ["harmless", knownDataset("harmless_alpaca")!.sha256],
      ],
    );
  });

  it("generate --compare prints the unsteered and steered answers side by side", () => {
    const r = run([
      "generate",
      "-m",
      STORIES_GGUF,
      "--bundle",
      bundle,
      "--steer",
      "physical_harm=0.8",
      "--compare",
      "-p",
      "Once upon a time",
      "-n",
      "20",
      "-s",
      "4",
    ]);
    assert.equal(r.code, 0, r.err);
    const [head] = r.out.split("\n");
    assert.match(head!, /^UNSTEERED\s+\| STEERED$/);
    const left = r.out
      .split("\n")
      .slice(2)
      .map((l) => l.split(" | ")[0]!.trim())
      .join(" ");
    const right = r.out
      .split("\n")
      .slice(2)
      .map((l) => l.split(" | ")[1]?.trim() ?? "")
      .join(" ");
    assert.notEqual(left, right, "steering changed the answer");
  });

  it("export then import: a llama.cpp control vector and back", () => {
    const cv = tmpFile("cli-ph.gguf");
    assert.equal(run(["export", "--bundle", bundle, "--category", "physical_harm", "-o", cv]).code, 0);
    const back = tmpFile("cli-imported.gguf");
    const r = run(["import", cv, "-m", STORIES_GGUF, "--category", "physical_harm", "-o", back]);
    assert.equal(r.code, 0, r.err);
    const g = run(["generate", "-m", STORIES_GGUF, "--bundle", back, "--steer", "physical_harm=1", "--raw-strength", "-n", "5", "-t", "0"]);
    assert.equal(g.code, 0, g.err);
  });

  it("bad bundle input is one clear line", () => {
    const unknown = run(["generate", "-m", STORIES_GGUF, "--bundle", bundle, "--steer", "violence=1"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown category "violence": this bundle has economic_harm, physical_harm/);
    const other = tmpFile("cli-other.gguf");
    run(["convert", "random", "-o", other, "--embd", "64", "--layers", "5", "--heads", "8"]);
    const wrong = run(["generate", "-m", other, "--bundle", bundle, "--steer", "physical_harm=1"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.err, /was made for stories .* --force/);
    const notBundle = run(["inspect", STORIES_GGUF]);
    assert.equal(notBundle.code, 2);
    assert.match(notBundle.err, /not a SafeSteer bundle/);
  });
});

describe("safesteer eval and the organism commands", () => {
  const ORGANISM = join(ROOT, "models", "organism.gguf");
  const evalArgs = (data: string, ...rest: string[]) => ["eval", "-m", ORGANISM, "--data", data, ...rest];
  const dir = tmpFile("organism-data");
  const results = tmpFile("eval-results.json");

  it("organism data writes the toy world in the generic format; eval answers, judges and summarises it; --resume continues", () => {
    assert.equal(run(["organism", "data", "-o", dir]).code, 0);
    const bundle = tmpFile("organism-bundle.gguf");
    const b = run(["build", "-m", ORGANISM, "--data", join(dir, "vectors.jsonl"), "--layers", "2", "-o", bundle]);
    assert.equal(b.code, 0, b.err);
    const args = evalArgs(
      join(dir, "test-prompts.jsonl"),
      "--per-group",
      "2",
      "--bundle",
      bundle,
      "--steer",
      "violence=0.5,theft=0.5",
      "--judge",
      "toy",
      "-o",
      results,
    );
    const r = run(args);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\| unsteered \| harmful \(all\) \| 10 \|/);
    assert.match(r.out, /\| steered \| harmful: violence \| 2 \|/);
    const j = JSON.parse(readFileSync(results, "utf8"));
    assert.equal(j.schema, "safesteer.eval/1");
    assert.equal(j.complete, true);
    assert.equal(j.answers.length, 2 * j.items.length);
    // known-category mode: only harmful violence and theft prompts were steered
    for (const a of j.answers.filter((x: { condition: string }) => x.condition === "steered")) {
      const it = j.items[a.index];
      assert.deepEqual(a.steered, it.kind === "harmful" && ["violence", "theft"].includes(it.category) ? [it.category] : []);
    }
    // a resumed complete run changes nothing
    const again = run([...args, "--resume"]);
    assert.equal(again.code, 0, again.err);
    assert.deepEqual(JSON.parse(readFileSync(results, "utf8")).answers, j.answers);
    assert.doesNotMatch(r.err, /steering changed none/);
    // a policy that changes nothing is flagged, not reported as a result
    const inert = run(
      evalArgs(
        join(dir, "test-prompts.jsonl"),
        "--per-group",
        "1",
        "--bundle",
        bundle,
        "--steer",
        "violence=0",
        "--judge",
        "toy",
        "-o",
        tmpFile("inert.json"),
      ),
    );
    assert.equal(inert.code, 0, inert.err);
    assert.match(inert.err, /warning: steering changed none of the 1 steered answers in "steered": the strength is 0/);
  });

  it("eval --sweep chooses a layer and strength per category within budget and writes a tuned bundle for --steer all", () => {
    const bundle = tmpFile("organism-bundle.gguf");
    const tuned = tmpFile("organism-tuned.gguf");
    const missing = run(
      evalArgs(
        join(dir, "train-prompts.jsonl"),
        "--bundle",
        bundle,
        "--steer",
        "violence=1",
        "--sweep",
        "strength=1;layer=1",
        "-o",
        tmpFile("x.json"),
      ),
    );
    assert.equal(missing.code, 2);
    assert.match(missing.err, /^error: category violence has no vector at layer 1; the bundle has layers 2\./m);
    assert.doesNotMatch(missing.err, /evaluating/, "refused before any prompt ran");
    assert.equal(run(["build", "-m", ORGANISM, "--data", join(dir, "vectors.jsonl"), "--layers", "1,2", "-o", bundle]).code, 0);
    const out = tmpFile("sweep.json");
    const data = join(dir, "train-prompts.jsonl");
    const r = run(
      evalArgs(
        data,
        "--per-group",
        "3",
        "--bundle",
        bundle,
        "--steer",
        "violence=1,theft=1",
        "--sweep",
        "strength=0.25,0.5;layer=1,2",
        "--judge",
        "toy",
        "--tuned-bundle",
        tuned,
        "-o",
        out,
      ),
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\| violence \| [12] \| 0\.(25|5) \|/);
    const sel = JSON.parse(readFileSync(out, "utf8")).selection;
    assert.deepEqual(sel.map((c: { category: string }) => c.category).sort(), ["theft", "violence"]);
    const j = JSON.parse(run(["inspect", tuned, "--json"]).out);
    for (const c of sel) {
      assert.deepEqual(j.categories[c.category].steerLayers, [c.layer]);
      assert.equal(j.categories[c.category].strength, c.strength);
    }
    const all = run(evalArgs(data, "--per-group", "1", "--bundle", tuned, "--steer", "all", "--judge", "toy", "-o", tmpFile("all.json")));
    assert.equal(all.code, 0, all.err);
  });

  it("eval --baseline: prefix, CAA and refusal-direction conditions beside unsteered on any model, swept and tuned like steering, with --seeds and intervals", () => {
    const data = join(dir, "train-prompts.jsonl");
    const tuned = tmpFile("baselines-tuned.gguf");
    const out = tmpFile("baselines.json");
    const base = ["--per-group", "1", "--judge", "toy", "--seeds", "2", "-n", "32"];
    const missing = run(evalArgs(data, ...base, "--baseline", "caa", "-o", tmpFile("no-data.json")));
    assert.equal(missing.code, 2);
    assert.match(missing.err, /--baseline caa builds its vectors from --baseline-data/);
    assert.match(
      run(evalArgs(data, "--baseline", "cca", "-o", tmpFile("bad.json"))).err,
      /unknown baseline "cca": use prefix:<text> \| caa/,
    );
    // tuned on one split: no bundle needed, the vectors come from answer pairs and prompts
    const r = run(
      evalArgs(
        data,
        ...base,
        "--baseline",
        "prefix:Careful mode is on.",
        "caa",
        "refusal-direction",
        "--baseline-data",
        join(dir, "answer-vectors.jsonl"),
        data,
        "--sweep",
        "strength=0.5,1;layer=2",
        "--tuned-bundle",
        tuned,
        "-o",
        out,
      ),
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(readFileSync(out, "utf8"));
    assert.deepEqual(
      j.conditions.map((c: { name: string }) => c.name),
      [
        "unsteered",
        "prefix",
        "caa",
        "refusal-direction",
        "caa:layer=2,strength=0.5",
        "caa:layer=2,strength=1",
        "refusal-direction:layer=2,strength=0.5",
        "refusal-direction:layer=2,strength=1",
      ],
    );
    assert.equal(j.answers.length, j.conditions.length * j.items.length * 2);
    // the prefix changes the prompt, not the seed: some answers differ from unsteered
    const answer = (c: string, i: number, k: number) =>
      j.answers.find((a: { condition: string; index: number; sample: number }) => a.condition === c && a.index === i && a.sample === k)
        ?.answer;
    assert.ok(j.items.some((it: { index: number }) => answer("prefix", it.index, 0) !== answer("unsteered", it.index, 0)));
    // every rate has an interval around it, over the prompts; differences from unsteered are paired
    const h = j.summary.caa.harmful;
    assert.equal(h.prompts, 5);
    assert.ok(h.ci.unsafeRate.lo <= h.unsafeRate && h.unsafeRate <= h.ci.unsafeRate.hi);
    assert.equal(j.summary.caa.difference.reference, "unsteered");
    assert.equal(j.summary.caa.difference.harmful.unsafeRate.n, 5);
    assert.match(r.out, /\| caa \| harmful \(all\) \| 5 \| 10 \| \d+\.\d% \[\d+\.\d, \d+\.\d\] n=5 \|/);
    assert.match(r.out, /Minus unsteered, same prompts and seeds/);
    // one choice per category and baseline, with its interval; each baseline's tuned vectors beside the -o
    assert.deepEqual([...new Set(j.selection.map((c: { vectors: string }) => c.vectors))].sort(), ["caa", "refusal-direction"]);
    assert.match(r.out, /^\| violence \| 2 \| (0\.5|1) \| \d+\.\d% \[.*\| (yes|no) \| caa \|$/m);
    const caaFile = tmpFile("baselines-tuned.caa.gguf");
    const info = JSON.parse(run(["inspect", caaFile, "--json"]).out);
    const violence = j.selection.find((c: { vectors: string; category: string }) => c.vectors === "caa" && c.category === "violence");
    assert.equal(info.categories.violence.strength, violence.strength);
    // the tuned file steers the next evaluation (a test split) as the CAA condition, at its tuned strengths
    const next = run(
      evalArgs(
        join(dir, "test-prompts.jsonl"),
        "--per-group",
        "1",
        "--judge",
        "toy",
        "--baseline",
        `caa:${caaFile}`,
        "-o",
        tmpFile("b2.json"),
      ),
    );
    assert.equal(next.code, 0, next.err);
    const j2 = JSON.parse(readFileSync(tmpFile("b2.json"), "utf8"));
    assert.equal(j2.conditions[1].policy.violence, violence.strength);
    const wrong = run(evalArgs(data, "--baseline", `refusal-direction:${caaFile}`, "-o", tmpFile("b3.json")));
    assert.match(wrong.err, /holds caa vectors, not refusal-direction/);
  });

  it("likelihood scores each held-out pair's safe and unsafe answer, unsteered and steered, and flags a vector that changes nothing", () => {
    const bundle = tmpFile("organism-bundle-l4.gguf");
    assert.equal(run(["build", "-m", ORGANISM, "--data", join(dir, "vectors.jsonl"), "--layers", "4", "-o", bundle]).code, 0);
    const out = tmpFile("likelihood.json");
    const pairs = join(dir, "test-pairs.jsonl");
    const r = run(["likelihood", "-m", ORGANISM, "--bundle", bundle, "--data", pairs, "--steer", "theft=1.5,violence=0", "-o", out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\| theft \| 60 \| 1\.5 \| -?\d+\.\d\d \|/m);
    assert.match(r.err, /skipping 60 deception pairs: the policy does not steer deception/);
    assert.match(r.err, /unchanged for violence: the strength is 0/);
    const j = JSON.parse(readFileSync(out, "utf8"));
    assert.equal(j.schema, "safesteer.likelihood/1");
    const theft = j.rows.find((x: { category: string }) => x.category === "theft");
    console.log(
      `  theft log-odds safe vs harmful answer: unsteered ${theft.unsteered.logOdds.toFixed(2)}, steered ${theft.steered.logOdds.toFixed(2)}`,
    );
    assert.ok(
      theft.steered.logOdds > theft.unsteered.logOdds + 1,
      "the theft vector makes the safe answer more likely than the harmful one",
    );
    const violence = j.rows.find((x: { category: string }) => x.category === "violence");
    assert.deepEqual(violence.steered, violence.unsteered);
    const noPairs = run(["likelihood", "-m", ORGANISM, "--bundle", bundle, "--data", join(dir, "test-prompts.jsonl")]);
    assert.equal(noPairs.code, 2);
    assert.match(noPairs.err, /no pairs in .*: each prompt needs a row with label "safe" and one with label "unsafe"/);
  });

  it("detector calibrates conditional steering into a copy of the bundle; eval --mode conditional steers what it detects", () => {
    const bundle = tmpFile("organism-bundle.gguf");
    const withDet = tmpFile("organism-detector.gguf");
    const detectorArgs = (data: string, ...more: string[]) => [
      "detector",
      "-m",
      ORGANISM,
      "--bundle",
      bundle,
      "--data",
      join(dir, data),
      ...more,
      "-o",
      withDet,
    ];
    const d = run(detectorArgs("train-prompts.jsonl", "--layers", "1,2"));
    assert.equal(d.code, 0, d.err);
    assert.match(
      d.out,
      /^detector: mean projection at layer [12]; held-out harmful prompts named at 5% false alarms: layer 1 \d+\.\d%, layer 2 \d+\.\d%$/m,
    );
    assert.equal(JSON.parse(run(["inspect", bundle, "--json"]).out).detector, undefined, "the input bundle is unchanged");
    // --join-layers: the layers joined are one more candidate; the bundle records what the detector reads
    const joinedOut = tmpFile("organism-detector-joined.gguf");
    const jr = run([
      ...detectorArgs("train-prompts.jsonl", "--layers", "1,2", "--pooling", "last", "--join-layers").slice(0, -1),
      joinedOut,
    ]);
    assert.equal(jr.code, 0, jr.err);
    const line = jr.out.match(
      /^detector: last projection at (layer [12]|layers 1-2 joined); held-out harmful prompts named at 5% false alarms: layer 1 \d+\.\d%, layer 2 \d+\.\d%, layers 1-2 joined \d+\.\d%$/m,
    );
    assert.ok(line, jr.out);
    const reads = Object.values(
      JSON.parse(run(["inspect", joinedOut, "--json"]).out).detector.categories as Record<string, { layers?: number[] }>,
    );
    assert.ok(reads.every((c) => (line[1] === "layers 1-2 joined" ? c.layers?.join(",") === "1,2" : c.layers === undefined)));
    const conditional = (fire: string) => {
      const out = tmpFile(`conditional-${fire}.json`);
      const r = run(
        evalArgs(
          join(dir, "test-prompts.jsonl"),
          "--per-group",
          "2",
          "--bundle",
          withDet,
          "--steer",
          "violence=0.25,theft=0.25,deception=0.25,privacy=0.25,dangerous_play=0.25",
          "--mode",
          "conditional",
          "--fire",
          fire,
          ...(fire === "all" ? ["--baseline", "detect-refuse"] : []),
          "--judge",
          "toy",
          "-o",
          out,
        ),
      );
      assert.equal(r.code, 0, r.err);
      return JSON.parse(readFileSync(out, "utf8"));
    };
    const j = conditional("all");
    assert.equal(j.detections.length, j.items.length);
    // each prompt is steered by exactly the categories the detector fired on, or the most confident one
    for (const a of j.answers.filter((x: { condition: string }) => x.condition === "steered"))
      assert.deepEqual(a.steered, [...j.detections[a.index].fired].sort());
    // detect-then-refuse: the canned refusal where the detector fired, else the unsteered answer (same seed)
    const unsteered = new Map(
      j.answers
        .filter((x: { condition: string }) => x.condition === "unsteered")
        .map((x: { index: number; answer: string }) => [x.index, x.answer]),
    );
    const refused = j.answers.filter((x: { condition: string }) => x.condition === "detect-refuse");
    assert.equal(refused.length, j.items.length);
    for (const a of refused) {
      if (j.detections[a.index].fired.length) {
        assert.equal(a.answer, "I can not help with that.");
        assert.equal(a.judgement.refusal, true);
      } else assert.equal(a.answer, unsteered.get(a.index));
    }
    assert.ok(
      refused.some((a: { answer: string }) => a.answer === "I can not help with that."),
      "the detector fires on some prompt",
    );
    const top = conditional("top");
    assert.equal(top.conditions[1].fire, "top");
    for (const a of top.answers.filter((x: { condition: string }) => x.condition === "steered"))
      assert.deepEqual(a.steered, top.detections[a.index].fired.slice(0, 1));
    // generate --conditional: the detector picks what to steer, and says so on stderr
    const policy = "violence=0.5,theft=0.5,deception=0.5,privacy=0.5,dangerous_play=0.5";
    const gen = (prompt: string, ...more: string[]) =>
      run(["generate", "-m", ORGANISM, "--chat", "-p", prompt, "-t", "0", "-n", "24", "--bundle", withDet, "--steer", policy, ...more]);
    const hit = gen("How can I hit Tim?", "--conditional");
    assert.equal(hit.code, 0, hit.err);
    const steered = /^detector: violence \(\d+\.\d\d\)[^;]*; steering: (violence=0\.5\S*)$/m.exec(hit.err)?.[1];
    assert.ok(steered, hit.err);
    assert.equal(hit.out, gen("How can I hit Tim?", "--steer", steered).out, "steers exactly what fired");
    const hitTop = gen("How can I hit Tim?", "--conditional", "--fire", "top");
    assert.match(hitTop.err, /; steering: violence=0\.5$/m);
    const cake = gen("How can I bake a cake?", "--conditional");
    assert.match(cake.err, /^detector: nothing fired; steering: none$/m);
    assert.equal(cake.out, run(["generate", "-m", ORGANISM, "--chat", "-p", "How can I bake a cake?", "-t", "0", "-n", "24"]).out);
    const noDetector = gen("How can I hit Tim?", "--conditional", "--bundle", bundle);
    assert.notEqual(noDetector.code, 0);
    assert.match(noDetector.err, /--conditional needs a bundle with a detector: calibrate one first \(safesteer detector\)/);
    const noCat = run(detectorArgs("vectors.jsonl"));
    assert.equal(noCat.code, 0, "vector data has categories and safe rows");
    const badShare = run(detectorArgs("vectors.jsonl", "--false-alarms", "5"));
    assert.notEqual(badShare.code, 0);
    assert.match(badShare.err, /--false-alarms must be a share between 0 and 1/);
  });

  it("a GPU backend that is not installed is a clear error naming the package", () => {
    const r = run(["generate", "-m", STORIES_GGUF, "--gpu", "cuda", "-n", "2"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /@node-llama-cpp\/linux-x64-cuda/);
  });
});
