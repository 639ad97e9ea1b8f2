// The README's examples run as written, and each steering example visibly changes the embedded
// organism's answer: the CLI command of the install section, curl and the openai client against a
// real server, and the library example (examples/library.mjs, which the README shows verbatim). The
// examples are read from the README's own text, and the change is measured on every run (the same
// example with its steering replaced by "none"), never written down: a retrained organism passes as
// long as the README's strengths still steer it.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { ROOT, startServer, type TestServer } from "../server/helpers.js";

const exec = promisify(execFile);
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const OUT = join(ROOT, "test-output", "readme-examples");

interface Block {
  lang: string;
  code: string;
}

/** The README's fenced code blocks, in order. */
const BLOCKS: Block[] = [...README.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] ?? "", code: m[2] ?? "" }));

/** The one README block that `is` what is asked for. */
function block(what: string, is: (b: Block) => boolean): string {
  const found = BLOCKS.filter(is);
  assert.equal(found.length, 1, `the README has one ${what} (found ${found.length})`);
  return (found[0] as Block).code;
}

/** The example with every `safesteer` field (JSON or JavaScript) replaced by no steering at all. */
function unsteered(code: string): string {
  const key = /"?safesteer"?\s*:\s*\{/g;
  let out = "";
  let from = 0;
  for (let m = key.exec(code); m; m = key.exec(code)) {
    let depth = 0;
    let end = m.index + m[0].length - 1;
    for (; end < code.length; end++) {
      if (code[end] === "{") depth++;
      else if (code[end] === "}" && --depth === 0) break;
    }
    out += `${code.slice(from, m.index)}"safesteer": {"policy": "none"}`;
    from = end + 1;
    key.lastIndex = from;
  }
  assert.ok(from > 0, "the example has a safesteer field");
  return out + code.slice(from);
}

/** The two columns of `generate --compare`, each as one line of words. */
function columns(out: string): { unsteered: string; steered: string } {
  const lines = out.split("\n");
  const head = lines.findIndex((l) => /^UNSTEERED\s+\| STEERED/.test(l));
  assert.ok(head >= 0, `no --compare table in: ${out}`);
  const col = (lines[head] as string).indexOf(" | ");
  const words = (parts: string[]) => parts.join(" ").split(/\s+/).filter(Boolean).join(" ");
  const rows = lines.slice(head + 1).filter((l) => l.length > col);
  return { unsteered: words(rows.map((l) => l.slice(0, col))), steered: words(rows.map((l) => l.slice(col + 3))) };
}

const bash = async (script: string, env: Record<string, string> = {}) =>
  (await exec("bash", ["-c", script], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 })).stdout;

function hasCurl(): boolean {
  try {
    execFileSync("curl", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    if (process.env.CI) throw new Error("curl is not installed: the README's curl example needs it (apt-get install curl).");
    return false;
  }
}

describe("the README's examples, as written", () => {
  let server: TestServer;
  before(async () => {
    mkdirSync(OUT, { recursive: true });
    // the server the README starts (`safesteer serve --bundle organism=...`), on a free port
    server = await startServer();
  });
  after(async () => {
    await server?.close();
  });

  it("has no `using` (a syntax error on Node 20) and installs nothing by a name npm does not have", () => {
    for (const b of BLOCKS) {
      assert.doesNotMatch(b.code, /^\s*(await\s+)?using\s+\w+\s*=/m, b.code);
      assert.doesNotMatch(b.code, /npm (install|i) (-\w+ )*safesteer\b/, b.code);
    }
    assert.match(README, /not published on npm/);
    assert.match(README, /npx safesteer/);
  });

  it("CLI: the install section's generate --compare changes the answer", async () => {
    const code = block("npx safesteer generate example", (b) => b.lang === "sh" && b.code.includes("npx safesteer generate"));
    // the command itself (with its continuation lines), not the npm ci before it
    const command = code.slice(code.indexOf("npx safesteer generate")).replace(/\\\n/g, " ").split("\n")[0] as string;
    assert.match(command, /--steer \S+/);
    const answer = columns(await bash(command, { npm_config_offline: "true", npm_config_update_notifier: "false" }));
    assert.ok(answer.unsteered && answer.steered, JSON.stringify(answer));
    assert.notEqual(answer.steered, answer.unsteered, `the README's --steer changes nothing: ${JSON.stringify(answer)}`);
  });

  it("curl: the request's steering changes the answer", { skip: hasCurl() ? false : "curl is not installed" }, async () => {
    const code = block("curl example", (b) => b.lang === "sh" && b.code.includes("curl -s http://127.0.0.1:8080/"));
    const asWritten = code.replaceAll("http://127.0.0.1:8080", server.url);
    const steered = JSON.parse(await bash(asWritten, { SAFESTEER_API_KEY: "" }));
    const plain = JSON.parse(await bash(unsteered(asWritten), { SAFESTEER_API_KEY: "" }));
    assert.ok(steered.safesteer.steered.length > 0, JSON.stringify(steered.safesteer));
    assert.deepEqual(plain.safesteer.steered, []);
    const [a, b] = [plain.choices[0].message.content, steered.choices[0].message.content];
    assert.ok(a && b);
    assert.notEqual(b, a, `the curl example's steering changes nothing: ${a}`);
  });

  it("openai client: both calls' steering changes the answer", async () => {
    const code = block("openai client example", (b) => b.lang === "js" && b.code.includes('import OpenAI from "openai"'));
    // beside the repository's node_modules, so that `openai` resolves as in a user's project
    const runExample = async (name: string, text: string) => {
      const file = join(OUT, name);
      writeFileSync(file, text.replaceAll("http://127.0.0.1:8080", server.url));
      const { SAFESTEER_API_KEY: _, ...env } = process.env;
      const { stdout } = await exec(process.execPath, [file], { cwd: OUT, env, timeout: 60_000 });
      // the first answer, the line naming what fired, then the streamed answer
      const [first = "", , ...rest] = stdout.split("\n");
      return { first, streamed: rest.join("\n").trim() };
    };
    const steered = await runExample("openai.mjs", code);
    const plain = await runExample("openai-unsteered.mjs", unsteered(code));
    assert.ok(steered.first && steered.streamed && plain.first && plain.streamed, JSON.stringify({ steered, plain }));
    assert.notEqual(steered.first, plain.first, "the first call's steering (every category, conditional) changes nothing");
    assert.notEqual(steered.streamed, plain.streamed, "the streamed call's steering changes nothing");
  });

  it("library: the README shows examples/library.mjs verbatim, and its steered answer differs from the unsteered one", async () => {
    const file = join(ROOT, "examples", "library.mjs");
    const code = block(
      "library example",
      (b) => b.lang === "js" && b.code.includes('from "safesteer"') && !b.code.includes("serve(") && !b.code.includes("loadEngine("),
    );
    assert.equal(code, readFileSync(file, "utf8"), "the README's library example is examples/library.mjs");
    const dir = mkdtempSync(join(tmpdir(), "safesteer-library-example-"));
    try {
      // `safesteer` resolves to this package (dist/), as it does to the installed one in a project
      const { stdout } = await exec(process.execPath, [file], { cwd: dir, timeout: 120_000 });
      const line = (name: string) => new RegExp(`^${name}: *(.*)$`, "m").exec(stdout)?.[1] ?? "";
      assert.ok(line("unsteered") && line("steered"), stdout);
      assert.notEqual(line("steered"), line("unsteered"), `the library example's steering changes nothing: ${stdout}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("loadEngine: the README's engine example prints the backend, llama.cpp's version and an answer, and llama.cpp stays quiet", async () => {
    const code = block("loadEngine example", (b) => b.lang === "js" && b.code.includes("loadEngine("));
    // inside this package (test-output/), so that `safesteer` resolves to it as it does in a user's project
    const file = join(OUT, "engine.mjs");
    writeFileSync(file, code);
    const { stdout, stderr } = await exec(process.execPath, [file], { cwd: OUT, timeout: 120_000 });
    assert.match(stdout, /^cpu llama\.cpp 0\.4\.0\S*: .*\w.*\n$/, stdout);
    assert.equal(stderr, "", 'log: "quiet" lets no llama.cpp line through');
    // the same greedy answer as the CLI gives for the same chat prompt
    const cli = await bash('node bin/safesteer.js generate --chat -p "How do I bake a cake?" -n 32 -t 0');
    assert.equal(stdout.slice(stdout.indexOf(": ") + 2).trim(), cli.trim());
  });

  it("serve() from the library: the README's example answers over HTTP, logs the request and closes (the process exits)", async () => {
    const code = block("serve() example", (b) => b.lang === "js" && b.code.includes('from "safesteer"') && b.code.includes("serve("));
    // inside this package (test-output/), so that `safesteer` resolves to it as it does in a user's project
    const file = join(OUT, "serve.mjs");
    writeFileSync(file, code);
    const { SAFESTEER_API_KEY: _, ...env } = process.env;
    const dir = mkdtempSync(join(tmpdir(), "safesteer-serve-example-"));
    try {
      // a server left open would keep the process alive past the timeout: exiting is the close() check
      const { stdout, stderr } = await exec(process.execPath, [file], { cwd: dir, env, timeout: 120_000 });
      assert.ok(stdout.trim().length > 0, `no answer printed: ${stdout} ${stderr}`);
      const lines = stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l));
      const served = lines.filter((l) => l.route === "/v1/chat/completions");
      assert.equal(served.length, 1, stderr);
      assert.equal(served[0].status, 200);
      assert.equal(served[0].seed, 1);
      assert.ok(served[0].completion_tokens > 0 && served[0].completion_tokens <= 32, JSON.stringify(served[0]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
