// CLI messages that point the right way (issue 23): --version, --chat-template on generate, eval and
// serve, a bundle passed as --model, generate --chat on a model without a template, and detector's
// sample limits. Each runs the built CLI (bin/safesteer.js) as a user would.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fixtureDataDir } from "../support/fixtures.js";
import { ROOT, STORIES_GGUF, tmpFile } from "../support/models.js";

const BIN = join(ROOT, "bin", "safesteer.js");
const ORGANISM = join(ROOT, "models", "organism.gguf");
const BUNDLE = join(ROOT, "reports", "organism", "organism.bundle.gguf");
const ENV = { ...process.env, SAFESTEER_DATA: fixtureDataDir() };

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT, env: ENV });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A Jinja chat template with a long preamble: prompts rendered with it are visibly longer. */
const TEMPLATE = `{{ bos_token }}The following is a conversation between a curious child and a kind teacher who answers in short stories.
{% for m in messages %}{% if m.role == 'user' %}Q: {{ m.content }}
{% else %}A: {{ m.content }}{{ eos_token }}
{% endif %}{% endfor %}{% if add_generation_prompt %}A:{% endif %}`;

describe("CLI: messages that point the right way", () => {
  it("--version prints the package's version", () => {
    const r = run(["--version"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  });

  it("a SafeSteer bundle as --model is named as one, before llama.cpp logs anything", () => {
    for (const cmd of [["generate", "-p", "hi"], ["info"]]) {
      const args = cmd[0] === "info" ? ["info", BUNDLE] : [...cmd, "-m", BUNDLE];
      const r = run(args);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /^error: .*organism\.bundle\.gguf: this is a SafeSteer bundle: pass it as --bundle/);
      assert.doesNotMatch(r.err, /llama_model_load|unknown model architecture/);
      assert.equal(r.err.trim().split("\n").length, 1, "one line");
    }
  });

  it("generate --chat on a model without a template points at --chat-template; with one it renders", () => {
    const without = run(["generate", "-m", STORIES_GGUF, "--chat", "-p", "Who is Lily?", "--max-tokens", "8"]);
    assert.equal(without.code, 2);
    assert.match(without.err, /has no chat template .*pass one with --chat-template FILE/);
    const file = tmpFile("teacher.jinja");
    writeFileSync(file, TEMPLATE);
    const withIt = run([
      "generate",
      "-m",
      STORIES_GGUF,
      "--chat",
      "--chat-template",
      file,
      "-p",
      "Who is Lily?",
      "--max-tokens",
      "8",
      "--temperature",
      "0",
    ]);
    assert.equal(withIt.code, 0, withIt.err);
    assert.ok(withIt.out.trim().length > 0);
    const missing = run(["generate", "-m", STORIES_GGUF, "--chat", "--chat-template", tmpFile("nope.jinja"), "-p", "x"]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot read --chat-template .*nope\.jinja \(ENOENT\)/);
    for (const cmd of ["eval", "serve", "generate"]) assert.match(run([cmd, "--help"]).out, /--chat-template <file>/, cmd);
  });

  it("serve --chat-template renders chat requests with the file's template", async () => {
    const file = tmpFile("teacher-serve.jinja");
    writeFileSync(file, TEMPLATE);
    const promptTokens = async (extra: string[]) => {
      const child = spawn(process.execPath, [BIN, "serve", "-m", STORIES_GGUF, "--port", "0", "--ctx", "512", "--no-ui", ...extra], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d) => {
            out += d;
            const m = /serving \S+ on (http:\/\/\S+)/.exec(out);
            if (m) resolve(m[1] as string);
          });
          child.on("exit", (code) => reject(new Error(`serve exited ${code}`)));
        });
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ messages: [{ role: "user", content: "Who is Lily?" }], max_tokens: 2, seed: 1 }),
        });
        const j = (await res.json()) as { usage: { prompt_tokens: number } };
        return j.usage.prompt_tokens;
      } finally {
        child.kill("SIGKILL");
      }
    };
    const plain = await promptTokens([]);
    const templated = await promptTokens(["--chat-template", file]);
    assert.ok(templated > plain + 20, `the template's preamble is in the prompt: ${templated} tokens against ${plain}`);
  });

  it("detector --max-per-category and --max-safe sample the prompts it decodes", () => {
    const dir = tmpFile("organism-data-hardening");
    assert.equal(run(["organism", "data", "-o", dir]).code, 0);
    const out = tmpFile("organism-detector-sampled.gguf");
    const r = run([
      "detector",
      "-m",
      ORGANISM,
      "--bundle",
      BUNDLE,
      "--data",
      join(dir, "train-prompts.jsonl"),
      "--layers",
      "2",
      "--max-per-category",
      "6",
      "--max-safe",
      "20",
      "-o",
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    // the organism's five categories, 6 prompts each; 20 safe prompts
    assert.match(r.err, /sampled 30 unsafe and 20 safe prompts \(seed 1\)/);
    assert.match(r.out, /^detector: mean projection at layer 2/m);
  });
});
