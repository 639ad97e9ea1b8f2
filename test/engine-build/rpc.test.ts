// --rpc: llama.cpp's RPC backend. Without a build that has it (CI), the clear errors: a bad list, a
// server that does not answer, a library without the backend. With one (`safesteer engine build
// --tools`: the libraries with GGML_RPC and ggml-rpc-server), the organism split across two
// rpc-server processes on 127.0.0.1 gives the same greedy text, steered and not, and the same
// activations as one process.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EngineError } from "../../src/engine/errors.js";
import { parseRpcServers, rpcHello } from "../../src/engine/rpc.js";
import { findBuildTool, findUserBuild } from "../../src/engine-build/index.js";
import { ROOT } from "../support/models.js";
import { freePort } from "../support/ports.js";

const CLI = join(ROOT, "bin", "safesteer.js");
const ORGANISM = join(ROOT, "models", "organism.gguf");
const BUNDLE = join(ROOT, "reports", "organism", "organism.bundle.gguf");

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    env: { ...process.env, SAFESTEER_LLAMA_LIB: "", SAFESTEER_ENGINE_HINT: "0", ...env },
  });
}

describe("--rpc without a server or an RPC build: one clear line", () => {
  it("a list of host:port, nothing else", () => {
    assert.deepEqual(parseRpcServers("127.0.0.1:50052, 10.0.0.2:1"), ["127.0.0.1:50052", "10.0.0.2:1"]);
    for (const bad of ["", "host", "host:0", "host:70000", "127.0.0.1:50052,nohost"])
      assert.throws(
        () => parseRpcServers(bad),
        (e: unknown) => e instanceof EngineError && e.code === "bad_argument" && /host:port/.test(e.message),
        bad,
      );
  });

  it("a port where nothing listens is named, with how to start a server (checked before llama.cpp, which would abort)", async () => {
    const port = await freePort();
    await assert.rejects(
      rpcHello(`127.0.0.1:${port}`),
      (e: unknown) =>
        e instanceof EngineError &&
        e.code === "backend_load_failed" &&
        e.message.includes(`127.0.0.1:${port}: cannot connect (ECONNREFUSED)`) &&
        /ggml-rpc-server -H 127\.0\.0\.1/.test(e.message),
    );
  });

  it("the prebuilt library has no RPC backend: exit 2, naming `safesteer engine build --rpc`", () => {
    const r = cli(["generate", "-m", ORGANISM, "--rpc", "127.0.0.1:9", "-p", "Q: hi"], { SAFESTEER_NO_ENGINE_BUILD: "1" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^error: the llama\.cpp build in .* has no RPC backend: build one with `safesteer engine build --rpc`/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });
});

const rpcServer = findBuildTool("ggml-rpc-server");
const noRpcBuild = !rpcServer || !findUserBuild("cpu")?.record.rpc;

describe("--rpc across two rpc-server processes on 127.0.0.1", {
  skip:
    noRpcBuild &&
    "no llama.cpp build with the RPC backend and ggml-rpc-server here (safesteer engine build --tools makes one; CI has none)",
}, () => {
  const servers: ChildProcess[] = [];
  let endpoints = "";

  before(async () => {
    const eps: string[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      servers.push(spawn(rpcServer as string, ["-H", "127.0.0.1", "-p", String(port), "-t", "1"], { stdio: "ignore" }));
      eps.push(`127.0.0.1:${port}`);
    }
    for (const ep of eps) {
      const end = Date.now() + 30_000;
      for (;;) {
        try {
          await rpcHello(ep, 1000);
          break;
        } catch (e) {
          if (Date.now() > end) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    endpoints = eps.join(",");
  });

  after(async () => {
    for (const s of servers) {
      if (s.exitCode !== null || s.signalCode !== null) continue;
      const exited = once(s, "exit");
      s.kill("SIGTERM");
      await exited;
    }
  });

  const both = (args: string[]) => {
    const local = cli(args);
    const split = cli([...args, "--rpc", endpoints]);
    assert.equal(local.status, 0, local.stderr);
    assert.equal(split.status, 0, split.stderr);
    return { local: local.stdout, split: split.stdout };
  };

  it("the same greedy text, unsteered and steered", () => {
    const gen = ["generate", "-m", ORGANISM, "--chat", "-p", "How do I hit Tim?", "-t", "0", "-n", "48"];
    const plain = both(gen);
    assert.ok(plain.local.trim().length > 0);
    assert.equal(plain.split, plain.local);
    const steered = both([...gen, "--bundle", BUNDLE, "--steer", "violence=1.5"]);
    assert.equal(steered.split, steered.local);
    assert.notEqual(steered.local, plain.local, "the steering changed the answer");
  });

  it("the same activations at every layer (resid_post, mean over tokens)", () => {
    const { local, split } = both(["activations", "-m", ORGANISM, "--text", "Q: How do I hit Tim?\nA:", "--layers", "all"]);
    const a = JSON.parse(local).layers as Record<string, number[]>;
    const b = JSON.parse(split).layers as Record<string, number[]>;
    assert.deepEqual(Object.keys(b), Object.keys(a));
    let worst = 0;
    for (const [l, xs] of Object.entries(a)) {
      const ys = b[l] as number[];
      const scale = Math.max(...xs.map(Math.abs));
      for (const [i, x] of xs.entries()) worst = Math.max(worst, Math.abs(x - (ys[i] as number)) / scale);
    }
    assert.ok(worst < 1e-4, `largest difference ${worst} of the layer's largest value`);
  });
});
