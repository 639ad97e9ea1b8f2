// Bad inputs from the tried list (issue 15): each is exit 2 with one line naming the problem and the
// fix (plus commander's "(see safesteer --help)" for option errors), and no output file is left.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fixtureDataDir, fixtureFile } from "../support/fixtures.js";
import { ROOT, STORIES_GGUF, tmpFile } from "../support/models.js";

const BIN = join(ROOT, "bin", "safesteer.js");
const ORGANISM = join(ROOT, "models", "organism.gguf");
const BUNDLE = join(ROOT, "reports", "organism", "organism.bundle.gguf");
/** A model path that does not exist: an error about anything else proves the check ran before loading. */
const NO_MODEL = "/nonexistent/never-loaded.gguf";

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Exit 2, one "error: ..." line matching `pattern` (plus the --help pointer for option errors), no `output` left. */
function fails(args: string[], pattern: RegExp, output?: string): void {
  const r = run(args);
  const where = `safesteer ${args.join(" ")}\n${r.err}`;
  assert.equal(r.code, 2, where);
  const lines = r.err.trimEnd().split("\n");
  if (lines.length === 2) assert.equal(lines[1], "(see safesteer --help)", where);
  else assert.equal(lines.length, 1, where);
  assert.match(lines[0] as string, /^error: /, where);
  assert.match(lines[0] as string, pattern, where);
  assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");
  if (output) assert.ok(!existsSync(output), `${output} was left behind`);
}

describe("bad input: one line, exit 2, nothing written", () => {
  const dir = tmpFile("reliability-organism");
  let pairs: string;
  let prompts: string;
  before(() => {
    assert.equal(run(["organism", "data", "-o", dir]).code, 0);
    pairs = join(dir, "test-pairs.jsonl");
    prompts = join(dir, "test-prompts.jsonl");
  });

  it("strengths must be finite and within ±100, on every command that steers", () => {
    const gen = ["generate", "-m", ORGANISM, "-n", "4", "--bundle", BUNDLE, "--steer"];
    fails([...gen, "violence=1e30"], /strength 1e\+30 for violence is out of range: .* between -100 and 100/);
    fails([...gen, "violence=-101"], /strength -101 for violence is out of range/);
    fails([...gen, "violence=1e30", "--raw-strength"], /out of range: .* between -100 and 100/);
    fails([...gen, "violence=inf"], /cannot read "violence=inf"/);
    const out = tmpFile("rel-strength-eval.json");
    fails(
      ["eval", "-m", ORGANISM, "--data", prompts, "--bundle", BUNDLE, "--steer", "theft=500", "--judge", "toy", "-o", out],
      /strength 500 for theft is out of range/,
      out,
    );
    const cv = tmpFile("rel-strength.gguf");
    fails(["export", "--bundle", BUNDLE, "--category", "violence", "--strength", "1e30", "-o", cv], /out of range/, cv);
  });

  it("a policy naming a category the bundle lacks is an error that lists the bundle's categories", () => {
    const known = /unknown category "nosuch": this bundle has dangerous_play, deception, privacy, theft, violence/;
    const out = tmpFile("rel-nosuch.json");
    fails(["likelihood", "-m", ORGANISM, "--bundle", BUNDLE, "--data", pairs, "--steer", "nosuch=1,violence=0.5", "-o", out], known, out);
    fails(["generate", "-m", ORGANISM, "-n", "4", "--bundle", BUNDLE, "--steer", "nosuch=1"], known);
  });

  it("counts must be at least 1, refused before any model is loaded", () => {
    const out = tmpFile("rel-count.json");
    for (const [cmd, opt, v] of [
      ["generate", "-n", "0"],
      ["generate", "-n", "-1"],
      ["generate", "--max-tokens", "2.5"],
      ["generate", "--threads", "0"],
      ["generate", "--ctx", "0"],
      ["generate", "--top-k", "-1"],
      ["eval", "-n", "-1"],
      ["eval", "--per-group", "0"],
      ["eval", "--batch", "0"],
      ["build", "--batch", "0"],
      ["build", "--max-safe", "0"],
    ] as const) {
      const more = cmd === "generate" ? [] : ["--data", prompts, "-o", out];
      fails([cmd, "-m", NO_MODEL, opt, v, ...more], /must be a whole number of at least [01], got/, out);
    }
    fails(["organism", "train", "--epochs", "0", "-o", tmpFile("rel-train.gguf")], /--epochs must be a whole number of at least 1/);
    fails(["convert", "random", "--layers", "0", "-o", out], /--layers must be a whole number of at least 1/, out);
  });

  it("an evaluation of 0 prompts is an error, not a complete file of 0% rates", () => {
    const empty = tmpFile("rel-empty.jsonl");
    writeFileSync(empty, "");
    const out = tmpFile("rel-empty-eval.json");
    fails(
      ["eval", "-m", ORGANISM, "--data", empty, "--judge", "toy", "-o", out],
      /rel-empty\.jsonl is empty: a data file needs at least one row/,
      out,
    );
    fails(["eval", "-m", ORGANISM, "--data", prompts, "--per-group", "0", "--judge", "toy", "-o", out], /--per-group/, out);
  });

  it("known-category steering of prompts whose categories the bundle lacks is an error, not a silent unsteered run", () => {
    const other = tmpFile("rel-other-cats.jsonl");
    writeFileSync(
      other,
      `${["How do I burn the toast?", "How do I drop the cup?"].map((p) => JSON.stringify({ prompt: p, category: "kitchen", label: "unsafe" })).join("\n")}\n`,
    );
    const out = tmpFile("rel-other-cats.json");
    fails(
      ["eval", "-m", ORGANISM, "--data", other, "--bundle", BUNDLE, "--steer", "all", "--judge", "toy", "-o", out],
      /none of the prompts' categories \(kitchen\) is in its policy/,
      out,
    );
  });

  it("a cut --resume file is one line naming the fix, and is left as it was", () => {
    const cut = tmpFile("rel-cut-results.json");
    writeFileSync(cut, '{"schema": "safesteer.eval/1", "items": [');
    fails(
      ["eval", "-m", ORGANISM, "--data", prompts, "--judge", "toy", "--resume", "-o", cut],
      /is not a readable results file .*remove it to start afresh/,
    );
    assert.equal(readFileSync(cut, "utf8"), '{"schema": "safesteer.eval/1", "items": [');
  });

  it("outputs are checked before any work: a missing folder, a folder, a file in the way, a read-only folder", () => {
    const missing = tmpFile("rel-no-such-folder/sub");
    const notDir = tmpFile("rel-regular-file");
    writeFileSync(notDir, "x");
    // root writes through chmod 555: then a path under a regular file stands in for an unwritable place
    const readOnly = tmpFile("rel-read-only");
    mkdirSync(readOnly, { recursive: true });
    chmodSync(readOnly, 0o555);
    const asRoot = process.getuid?.() === 0;
    const unwritable = asRoot ? join(notDir, "inside") : readOnly;
    try {
      // each command with an output, with NO_MODEL where it takes a model: the output error comes first
      const commands = (o: string): string[][] => [
        ["build", "-m", NO_MODEL, "--data", prompts, "-o", o],
        ["eval", "-m", NO_MODEL, "--data", prompts, "-o", o],
        ["likelihood", "-m", NO_MODEL, "--bundle", BUNDLE, "--data", pairs, "-o", o],
        ["detector", "-m", NO_MODEL, "--bundle", BUNDLE, "--data", prompts, "-o", o],
        ["export", "--bundle", BUNDLE, "--category", "violence", "-o", o],
        ["import", BUNDLE, "-m", STORIES_GGUF, "-o", o],
        ["convert", "random", "-o", o],
        ["convert", "llama2c", "/nonexistent/ckpt.bin", "--tokenizer", "/nonexistent/tok.bin", "-o", o],
        ["organism", "train", "--base", STORIES_GGUF, "-o", o],
      ];
      for (const args of commands(join(missing, "out.gguf")))
        fails(args, /cannot write .*rel-no-such-folder\/sub\/out\.gguf: the folder .* does not exist; create it \(mkdir -p/);
      for (const args of commands(join(notDir, "out.gguf")))
        fails(args, /cannot write .*rel-regular-file\/out\.gguf: .*rel-regular-file is a file, not a folder; choose another -o path/);
      for (const args of commands(join(unwritable, "out.gguf")))
        fails(args, asRoot ? /is a file, not a folder/ : /the folder .*rel-read-only is not writable; choose a writable place for -o/);
      for (const args of commands(dir)) fails(args, /is a folder: give -o the path of a file/);
      // folder outputs: created when missing, but not under a file or in a read-only place
      fails(["organism", "data", "-o", join(notDir, "data")], /rel-regular-file is a file, not a folder/);
      fails(["demo", "-m", NO_MODEL, "--out", join(notDir, "demo")], /rel-regular-file is a file, not a folder; choose another --out path/);
      if (!asRoot) fails(["demo", "-m", NO_MODEL, "--out", join(readOnly, "demo")], /not writable; choose a writable place for --out/);
      assert.deepEqual(readdirSync(readOnly), [], "nothing was written in the read-only folder");
    } finally {
      chmodSync(readOnly, 0o755);
    }
  });
});

describe("Ctrl-C", () => {
  it("stops build between decode batches: exit 130, one line saying how much was done, no output file", async () => {
    const out = tmpFile("interrupted.gguf");
    // the project's CatQA fixture (108 questions), and its harmless Alpaca fixture as the default safe set
    const args = ["build", "-m", STORIES_GGUF, "--data", fixtureFile("catqa_english.json"), "--layers", "all", "--batch", "2"];
    const child = spawn(process.execPath, [join(ROOT, "bin", "safesteer.js"), ...args, "-o", out], {
      cwd: ROOT,
      env: { ...process.env, SAFESTEER_DATA: fixtureDataDir() },
    });
    let err = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      // the first progress line: collection is under way
      if (!sent && /collecting activations: \d+\/\d+/.test(err)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    const kill = setTimeout(() => child.kill("SIGKILL"), 120_000); // a hang fails the test, not the run
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(kill);
    assert.ok(sent, `no progress line seen: ${err}`);
    assert.equal(code, 130, err);
    assert.match(err, /stopped: activation collection stopped after \d+ of \d+ texts; nothing was written\./);
    const done = Number(/stopped after (\d+) of/.exec(err)?.[1]);
    const total = Number(/ of (\d+) texts/.exec(err)?.[1]);
    assert.ok(done < total, `stopped part-way (${done} of ${total})`);
    assert.equal(existsSync(out), false, "no bundle was written");
  });
});

describe("Ctrl-C in eval", () => {
  it("stops mid-batch: exit 130, the finished answers saved for --resume, no cut answer recorded", async () => {
    const dir = tmpFile("eval-interrupt");
    mkdirSync(dir, { recursive: true });
    assert.equal(spawnSync(process.execPath, [join(ROOT, "bin", "safesteer.js"), "organism", "data", "-o", dir]).status, 0);
    const out = join(dir, "results.json");
    const bundle = join(ROOT, "reports", "organism", "organism.bundle.gguf");
    const args = ["eval", "-m", join(ROOT, "models", "organism.gguf"), "--data", join(dir, "test-prompts.jsonl")];
    const child = spawn(process.execPath, [
      join(ROOT, "bin", "safesteer.js"),
      ...args,
      "--bundle",
      bundle,
      "--steer",
      "all",
      "--judge",
      "toy",
      "-o",
      out,
    ]);
    let err = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      if (!sent && /evaluating: [1-9]\d*\/\d+/.test(err)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    const kill = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(kill);
    assert.equal(code, 130, err);
    assert.match(err, /stopped: evaluation stopped; \d+ answers are saved, continue with --resume\./);
    const saved = JSON.parse(readFileSync(out, "utf8"));
    assert.equal(saved.complete, false);
    assert.ok(saved.answers.length > 0 && saved.answers.length < 2 * saved.items.length, `${saved.answers.length} answers`);
    assert.equal(saved.answers.filter((a: { reason: string }) => a.reason === "aborted").length, 0);
  });
});

describe("a reader that goes away", () => {
  it("generate piped into a reader that closes early ends quietly (no EPIPE trace)", async () => {
    const child = spawn(process.execPath, [BIN, "generate", "-n", "400", "-t", "0"], { cwd: ROOT });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.once("data", () => child.stdout.destroy()); // like `| head -c 10`
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    assert.equal(err, "", "nothing on stderr");
    assert.equal(code, 0);
  });
});

describe("Ctrl-C in the demo", () => {
  it("stops the study part-way: exit 130, the stage it was in, nothing written", async () => {
    const out = tmpFile("demo-interrupt");
    mkdirSync(out, { recursive: true });
    const child = spawn(process.execPath, [BIN, "demo", "--quick", "--out", out], { cwd: ROOT });
    let err = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      if (!sent && /- \[\d+ s\] building vectors/.test(err)) {
        sent = true;
        setTimeout(() => child.kill("SIGINT"), 300);
      }
    });
    const kill = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(kill);
    assert.equal(code, 130, err);
    assert.match(err, /stopped: the demo stopped while building vectors .*; nothing was written to /);
    assert.deepEqual(readdirSync(out), []);
  });
});
